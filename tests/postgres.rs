//! The state store on PostgreSQL: the conformance suite, migrations and bad URLs. Needs
//! `REFRESHCTL_TEST_POSTGRES` (`.ci/run` sets it); each test works in a schema of its own.

mod common;

#[path = "common/store_conformance.rs"]
mod store_conformance;

#[path = "common/postgres.rs"]
mod postgres_server;

use postgres_server::{fresh_schema, with_params};
use refreshctl::state::{StateStore, StateUrl, StoreError};

#[test]
fn postgres_passes_the_conformance_suite() {
    let Some(url) = fresh_schema("conformance") else {
        return;
    };
    let parsed = StateUrl::parse(&url).expect("url");
    store_conformance::run_all(&|| StateStore::open(&parsed).expect("opens"));
}

#[test]
fn replicas_opening_together_migrate_once() {
    let Some(url) = fresh_schema("migrate") else {
        return;
    };
    let parsed = StateUrl::parse(&url).expect("url");
    let opened: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| StateStore::open(&parsed).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    assert_eq!(opened, [true; 4]);
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("server");
    let schema = format!("migrate_{}", std::process::id());
    let version: i64 = client
        .query_one(
            &format!("SELECT version FROM {schema}.refreshctl_schema"),
            &[],
        )
        .expect("version")
        .get(0);
    assert_eq!(version, 5, "every migration, once");
    client
        .batch_execute(&format!(
            "UPDATE {schema}.refreshctl_schema SET version = 99"
        ))
        .expect("from the future");
    match StateStore::open(&parsed) {
        Err(StoreError::NewerSchema { found: 99, .. }) => {}
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let url = "postgres://refresh:s3cret@127.0.0.1:1/state?connect_timeout=2";
    let error = match StateStore::open(&StateUrl::parse(url).expect("url")) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(error.contains("cannot open the state store"), "{error}");
    assert!(
        error.contains("postgres://refresh:***@127.0.0.1:1/state"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");
}

/// The server's certificate file, when it has TLS on (Debian's PostgreSQL does, with a
/// self-signed "snakeoil" certificate for `localhost`).
fn server_certificate(client: &mut postgres::Client) -> Option<String> {
    let show = |client: &mut postgres::Client, what: &str| -> String {
        client
            .query_one(&format!("SHOW {what}"), &[])
            .expect("show")
            .get(0)
    };
    if show(client, "ssl") != "on" {
        return None;
    }
    let file = show(client, "ssl_cert_file");
    std::fs::metadata(&file).is_ok().then_some(file)
}

/// Opens the store with `extra` parameters; says whether its session uses TLS, or why it could
/// not open.
fn opens_with_tls(
    client: &mut postgres::Client,
    url: &str,
    case: usize,
    extra: &str,
) -> Result<bool, String> {
    let name = format!("refreshctl_tls_{}_{case}", std::process::id());
    let url = with_params(url, &format!("application_name={name}&{extra}"));
    let store = StateStore::open(&StateUrl::parse(&url).map_err(|error| error.to_string())?)
        .map_err(|error| error.to_string())?;
    let ssl: bool = client
        .query_one(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = $1",
            &[&name],
        )
        .expect("the store's session")
        .get(0);
    drop(store);
    Ok(ssl)
}

#[test]
fn tls_follows_libpqs_sslmode() {
    let Some(url) = fresh_schema("tls") else {
        return;
    };
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("server");
    let Some(certificate) = server_certificate(&mut client) else {
        postgres_server::skip::skip("the test server has TLS off");
        return;
    };
    let mut case = 0;
    let mut open = |extra: &str| {
        case += 1;
        opens_with_tls(&mut client, &url, case, extra)
    };
    assert_eq!(open("sslmode=disable"), Ok(false));
    assert_eq!(open("sslmode=require"), Ok(true), "encrypted, not checked");
    assert_eq!(open("sslmode=prefer"), Ok(true), "the default, as libpq's");
    // With the system's roots the self-signed certificate is refused: for its issuer, or (where
    // the system trusts it, as Debian's certificate directory does) for its name.
    let system = open("sslmode=verify-full").expect_err("127.0.0.1 with a self-signed certificate");
    assert!(system.contains("invalid peer certificate"), "{system}");
    let bundle = "/etc/ssl/certs/ca-certificates.crt";
    if std::fs::metadata(bundle).is_ok() {
        let unknown = open(&format!("sslmode=verify-ca&sslrootcert={bundle}"))
            .expect_err("not issued by a public authority");
        assert!(unknown.contains("UnknownIssuer"), "{unknown}");
    }
    // The server's own certificate as the only root: it names `localhost`, not 127.0.0.1.
    let root = format!("sslrootcert={certificate}");
    assert_eq!(open(&format!("sslmode=verify-ca&{root}")), Ok(true));
    let other_name = open(&format!("sslmode=verify-full&{root}")).expect_err("127.0.0.1");
    assert!(
        other_name.contains("certificate not valid for name \"127.0.0.1\""),
        "{other_name}"
    );
    let missing = open("sslmode=verify-ca&sslrootcert=/no/such/root.pem").expect_err("missing");
    assert!(
        missing.contains("sslrootcert `/no/such/root.pem` cannot be read"),
        "{missing}"
    );
}

/// `REFRESHCTL_TEST_POSTGRES` in libpq's key/value form, with a fresh schema.
fn key_value_form(name: &str) -> Option<(String, String)> {
    let url = fresh_schema(name)?;
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let config: postgres::Config = base.parse().expect("the test server's URL");
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("a TCP host, not {other:?}"),
    };
    let schema = url.rsplit("schema=").next().expect("a schema").to_owned();
    let password = config.get_password().map_or_else(String::new, |password| {
        format!(
            " password='{}'",
            String::from_utf8_lossy(password)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
        )
    });
    let text = format!(
        "host={host} port={} dbname='{}' user = '{}' schema={schema}{password}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_dbname().unwrap_or("postgres"),
        config.get_user().unwrap_or("postgres"),
    );
    Some((text, schema))
}

#[test]
fn the_binary_takes_libpqs_key_value_form_for_postgresql_and_makes_no_file() {
    let Some((state, schema)) = key_value_form("keyvalue") else {
        return;
    };
    let cwd = tempfile::tempdir().expect("temp");
    let plan =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/contoso-uat-weekly.yaml");
    let refreshctl = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("refreshctl")
            .expect("binary")
            .current_dir(cwd.path())
            .env_remove("REFRESHCTL_ADAPTER")
            .env("NO_COLOR", "1")
            .env("REFRESHCTL_STATE", &state)
            .args(args)
            .timeout(std::time::Duration::from_mins(1))
            .output()
            .expect("runs")
    };
    let submitted = refreshctl(&["submit", plan.to_str().expect("utf-8")]);
    assert_eq!(
        submitted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let run = String::from_utf8_lossy(&submitted.stdout).trim().to_owned();
    assert!(run.starts_with("contoso-uat-weekly@"), "{run}");
    let listed = refreshctl(&["runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(runs[0]["id"], run.as_str());

    // The run is in PostgreSQL, in the schema the key/value form named.
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("server");
    let stored: String = client
        .query_one(&format!("SELECT id FROM {schema}.runs"), &[])
        .expect("the run's row")
        .get(0);
    assert_eq!(stored, run);
    let files: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("cwd")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(
        files.is_empty(),
        "nothing in the current directory: {files:?}"
    );
}

/// Copies the runs and events of `tests/fixtures/state-v6/state.sql` into the store `client`
/// is connected to, in the columns of schema version 4 (SQLite's 6).
fn copy_state_v6(client: &mut postgres::Client) {
    let sqlite = rusqlite::Connection::open_in_memory().expect("sqlite");
    sqlite
        .execute_batch(
            &std::fs::read_to_string(common::state_v6_fixtures().join("state.sql")).expect("dump"),
        )
        .expect("the fixture");
    let mut runs = sqlite
        .prepare(
            "SELECT id, plan, target, state, window_start, window_end, version, record, fence,
             lease_owner, lease_until, next_due, adapter, number FROM runs",
        )
        .expect("runs");
    let mut rows = runs.query([]).expect("rows");
    while let Some(row) = rows.next().expect("a row") {
        let text = |index: usize| row.get::<_, Option<String>>(index).expect("text");
        let number = |index: usize| row.get::<_, i64>(index).expect("number");
        client
            .execute(
                "INSERT INTO runs (id, plan, target, state, window_start, window_end, version,
                 record, fence, lease_owner, lease_until, next_due, adapter, number)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &text(0),
                    &text(1),
                    &text(2),
                    &text(3),
                    &text(4),
                    &text(5),
                    &number(6),
                    &text(7),
                    &number(8),
                    &text(9),
                    &text(10),
                    &text(11),
                    &text(12),
                    &number(13),
                ],
            )
            .expect("a run of version 4");
    }
    let mut events = sqlite
        .prepare("SELECT run, sequence, at, kind, detail FROM events")
        .expect("events");
    let mut rows = events.query([]).expect("rows");
    while let Some(row) = rows.next().expect("a row") {
        let (code, kind_text) = match row.get::<_, rusqlite::types::Value>(3).expect("kind") {
            rusqlite::types::Value::Integer(code) => {
                (Some(i16::try_from(code).expect("a code")), None)
            }
            rusqlite::types::Value::Text(text) => (None, Some(text)),
            other => panic!("a kind of {other:?}"),
        };
        client
            .execute(
                "INSERT INTO events (run, sequence, at, kind, kind_text, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &row.get::<_, i64>(0).expect("run"),
                    &row.get::<_, i64>(1).expect("sequence"),
                    &row.get::<_, i64>(2).expect("at"),
                    &code,
                    &kind_text,
                    &row.get::<_, String>(4).expect("detail"),
                ],
            )
            .expect("an event of version 4");
    }
}

/// A store of schema version 4 (compact runs and events, before finished runs were packed),
/// holding the runs and events of `tests/fixtures/state-v6/state.sql` as version 4 stored them
/// (the same columns as SQLite's version 6), reads the same after migration: `runs`, `status`
/// and `history` print byte for byte what the previous version printed; an event appended to
/// each finished run then packs its log, which reads the same with the new event after it.
#[test]
fn a_store_of_version_4_reads_back_identically_after_migration() {
    let Some(url) = fresh_schema("packed") else {
        return;
    };
    let parsed = StateUrl::parse(&url).expect("url");
    drop(StateStore::open(&parsed).expect("creates"));
    let schema = url.rsplit("schema=").next().expect("a schema").to_owned();
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("server");
    client
        .batch_execute(&format!(
            "SET search_path TO {schema};
             DROP TABLE archives;
             ALTER TABLE runs ALTER COLUMN record TYPE TEXT USING convert_from(record, 'UTF8');
             CREATE INDEX runs_by_target ON runs (target, state);
             UPDATE refreshctl_schema SET version = 4;"
        ))
        .expect("a version-4 store");
    copy_state_v6(&mut client);
    common::assert_reads_as_version_6(&url, "migrated on open");
    let version: i64 = client
        .query_one("SELECT version FROM refreshctl_schema", &[])
        .expect("version")
        .get(0);
    assert_eq!(version, 5, "migrated on open");
    let store = StateStore::open(&parsed).expect("opens");
    let detail = serde_json::json!({"message": "later", "step": null, "until": null});
    let runs = store.runs().expect("runs");
    for run in &runs {
        let before = store.events(&run.id).expect("events");
        let at = before.last().expect("a log").at;
        let appended = store
            .append_event(&run.id, "log", &detail, at)
            .expect("appended");
        let after = store.events(&run.id).expect("events");
        assert_eq!(after[..before.len()], before[..], "{}", run.id);
        assert_eq!(after.last(), Some(&appended));
    }
    let count = |client: &mut postgres::Client, table: &str| -> i64 {
        client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .expect("a count")
            .get(0)
    };
    assert_eq!(
        count(&mut client, "events"),
        0,
        "every run here is finished"
    );
    assert_eq!(
        count(&mut client, "archives"),
        i64::try_from(runs.len()).expect("few")
    );
}

/// A store of schema version 3 (before runs and events were stored compactly), holding the
/// runs and events of `tests/fixtures/state-v5/state.sql` as version 3 stored them (the same
/// columns as SQLite's version 5), reads the same after migration: `runs` and `status` print
/// byte for byte what the previous version printed.
#[test]
fn a_store_of_version_3_reads_back_identically_after_migration() {
    let Some(url) = fresh_schema("compact") else {
        return;
    };
    let parsed = StateUrl::parse(&url).expect("url");
    drop(StateStore::open(&parsed).expect("creates"));
    let schema = url.rsplit("schema=").next().expect("a schema").to_owned();
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("server");
    client
        .batch_execute(&format!(
            "SET search_path TO {schema};
             DROP TABLE archives; DROP TABLE events; ALTER TABLE runs DROP COLUMN number;
             ALTER TABLE runs ALTER COLUMN record TYPE TEXT USING convert_from(record, 'UTF8');
             CREATE TABLE events (
                 run TEXT NOT NULL REFERENCES runs (id),
                 sequence BIGINT NOT NULL,
                 at TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 detail TEXT NOT NULL,
                 PRIMARY KEY (run, sequence)
             );
             UPDATE refreshctl_schema SET version = 3;"
        ))
        .expect("a version-3 store");
    let fixtures = common::state_v5_fixtures();
    let sqlite = rusqlite::Connection::open_in_memory().expect("sqlite");
    sqlite
        .execute_batch(&std::fs::read_to_string(fixtures.join("state.sql")).expect("dump"))
        .expect("the fixture");
    let mut runs = sqlite
        .prepare(
            "SELECT id, plan, target, state, window_start, window_end, version, record, fence,
             lease_owner, lease_until, next_due, adapter FROM runs",
        )
        .expect("runs");
    let mut rows = runs.query([]).expect("rows");
    while let Some(row) = rows.next().expect("a row") {
        let text = |index: usize| row.get::<_, Option<String>>(index).expect("text");
        let number = |index: usize| row.get::<_, i64>(index).expect("number");
        client
            .execute(
                "INSERT INTO runs (id, plan, target, state, window_start, window_end, version,
                 record, fence, lease_owner, lease_until, next_due, adapter)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &text(0),
                    &text(1),
                    &text(2),
                    &text(3),
                    &text(4),
                    &text(5),
                    &number(6),
                    &text(7),
                    &number(8),
                    &text(9),
                    &text(10),
                    &text(11),
                    &text(12),
                ],
            )
            .expect("an old run");
    }
    let mut events = sqlite
        .prepare("SELECT run, sequence, at, kind, detail FROM events")
        .expect("events");
    let mut rows = events.query([]).expect("rows");
    while let Some(row) = rows.next().expect("a row") {
        let text = |index: usize| row.get::<_, String>(index).expect("text");
        client
            .execute(
                "INSERT INTO events (run, sequence, at, kind, detail) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &text(0),
                    &row.get::<_, i64>(1).expect("sequence"),
                    &text(2),
                    &text(3),
                    &text(4),
                ],
            )
            .expect("an old event");
    }
    common::assert_reads_as_version_5(&url, "migrated on open");
    let version: i64 = client
        .query_one("SELECT version FROM refreshctl_schema", &[])
        .expect("version")
        .get(0);
    assert_eq!(version, 5, "migrated on open");
}
