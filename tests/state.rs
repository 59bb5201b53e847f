//! The state store: the conformance suite on SQLite, and what SQLite files can go wrong.

mod common;
#[path = "common/old_state.rs"]
mod old_state;

#[path = "common/store_conformance.rs"]
mod store_conformance;

use std::time::Duration;

use refreshctl::state::{SCHEMA_VERSION, SqliteStore, StateStore, StateUrl, StoreError};

#[test]
fn sqlite_passes_the_conformance_suite() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("nested/dir/state.db");
    store_conformance::run_all(&|| {
        StateStore::open(&StateUrl::Sqlite(path.clone())).expect("opens")
    });
    assert!(path.exists(), "created on first use, with its directories");
}

#[test]
fn state_urls() {
    assert_eq!(
        StateUrl::parse("sqlite:/var/lib/refreshctl/state.db").expect("url"),
        StateUrl::Sqlite("/var/lib/refreshctl/state.db".into())
    );
    assert_eq!(
        StateUrl::parse("sqlite://relative.db").expect("url"),
        StateUrl::Sqlite("relative.db".into())
    );
    assert_eq!(
        StateUrl::parse("state.db").expect("path"),
        StateUrl::Sqlite("state.db".into())
    );
    assert!(matches!(
        StateUrl::parse("sqlite:"),
        Err(StoreError::BadUrl { .. })
    ));
    assert!(matches!(
        StateUrl::parse("mysql://x"),
        Err(StoreError::BadUrl { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    let garbage = b"this is not SQLite at all, but somebody's notes\n".repeat(200);
    std::fs::write(&path, &garbage).expect("write");
    let error = SqliteStore::open(&path).err().expect("refused");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "says where: {error}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        garbage,
        "nothing is lost"
    );
}

#[test]
fn another_applications_database_is_refused() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("other.db");
    let other = rusqlite_open(&path);
    other
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY);")
        .expect("other schema");
    drop(other);
    let error = SqliteStore::open(&path).err().expect("refused");
    assert!(
        error.to_string().contains("not a refreshctl state file"),
        "{error}"
    );
}

#[test]
fn a_state_file_from_a_newer_refreshctl_is_refused() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    drop(SqliteStore::open(&path).expect("create"));
    let connection = rusqlite_open(&path);
    connection
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(connection);
    let error = SqliteStore::open(&path).err().expect("refused");
    assert!(
        matches!(error, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{error}"
    );
    let read_only = SqliteStore::open_read_only(&path)
        .err()
        .expect("refused to read, too");
    assert!(
        matches!(read_only, StoreError::NewerSchema { .. }),
        "{read_only}"
    );
    assert!(
        error
            .to_string()
            .contains("this refreshctl understands up to"),
        "{error}"
    );
}

#[test]
fn a_state_file_held_by_another_process_is_reported_busy() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    drop(SqliteStore::open(&path).expect("create"));
    let holder = rusqlite_open(&path);
    holder
        .execute_batch("BEGIN EXCLUSIVE;")
        .expect("hold the file");
    let store = SqliteStore::open_with(&path, Duration::ZERO);
    let error = match store {
        Err(error) => error,
        Ok(store) => store
            .save_document("k", "v")
            .expect_err("a write while another process holds the file fails"),
    };
    assert!(matches!(error, StoreError::Busy { .. }), "{error}");
    holder.execute_batch("ROLLBACK;").expect("release");
}

fn rusqlite_open(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open with rusqlite")
}

/// A state file that refreshctl wrote before runs and events were stored compactly (schema
/// version 5; `tests/fixtures/state-v5/state.sql`, made by `apply --yes` of three example
/// plans, a `submit`, a `reschedule --by` and a `cancel --by --reason`, without the simulator's
/// model) reads the same after migration: `runs` and `status` print byte for byte what that
/// version printed (the files beside it), both through the copy in memory that a read-only
/// open migrates and from the file once it is migrated.
#[test]
fn a_state_file_of_version_5_reads_back_identically_after_migration() {
    let fixtures = common::state_v5_fixtures();
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    {
        let connection = rusqlite_open(&path);
        connection
            .execute_batch(&std::fs::read_to_string(fixtures.join("state.sql")).expect("dump"))
            .expect("the version-5 file");
        connection
            .execute_batch("PRAGMA user_version = 5; PRAGMA application_id = 1380336468;")
            .expect("its header");
    }
    let state = path.display().to_string();
    let check = |when: &str| common::assert_reads_as_version_5(&state, when);
    check("read through a migrated copy");
    let version = |path: &std::path::Path| -> i64 {
        rusqlite_open(path)
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version")
    };
    assert_eq!(version(&path), 5, "reading did not migrate the file");
    let store = SqliteStore::open(&path).expect("migrates");
    assert_eq!(version(&path), SCHEMA_VERSION);
    check("migrated");
    // A migrated run's log goes on where it was, in the compact form.
    let id = "contoso-uat-weekly@20261205T2100Z";
    let before = store.events(id).expect("events");
    let at = before.last().expect("a log").at + chrono::TimeDelta::minutes(5);
    let detail = serde_json::json!({"message": "later", "step": null, "until": null});
    let appended = store
        .append_event(id, None, "log", &detail, at)
        .expect("appended");
    let after = store.events(id).expect("events");
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last(), Some(&appended));
    assert_eq!(
        appended.sequence,
        u64::try_from(before.len() + 1).expect("few")
    );
}

/// A state file of schema version 6 (`tests/fixtures/state-v6/state.sql`: records in the forms
/// of versions 5 and 6, compact events, the simulator's model) reads the same after migration to
/// packed finished runs: `runs`, `status` and `history` print byte for byte what version 6
/// printed, through the copy in memory that a read-only open migrates and from the file once
/// it is migrated; a change packs a finished run, which then reads the same again.
#[test]
fn a_state_file_of_version_6_reads_back_identically_after_migration() {
    let fixtures = common::state_v6_fixtures();
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    {
        let connection = rusqlite_open(&path);
        connection
            .execute_batch(&std::fs::read_to_string(fixtures.join("state.sql")).expect("dump"))
            .expect("the version-6 file");
        connection
            .execute_batch("PRAGMA user_version = 6; PRAGMA application_id = 1380336468;")
            .expect("its header");
    }
    let state = path.display().to_string();
    let check = |when: &str| common::assert_reads_as_version_6(&state, when);
    check("read through a migrated copy");
    let version = |path: &std::path::Path| -> i64 {
        rusqlite_open(path)
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version")
    };
    assert_eq!(version(&path), 6, "reading did not migrate the file");
    let store = SqliteStore::open(&path).expect("migrates");
    assert_eq!(version(&path), SCHEMA_VERSION);
    check("migrated");
    // An event appended to a finished run of either form packs its record's log: every run's
    // log then is one archive row, no loose events, and everything reads as before.
    let runs = store.runs().expect("runs");
    let mut logs = Vec::new();
    for run in &runs {
        let before = store.events(&run.id).expect("events");
        let at = before.last().expect("a log").at;
        let detail = serde_json::json!({"message": "later", "step": null, "until": null});
        let appended = store
            .append_event(&run.id, None, "log", &detail, at)
            .expect("appended");
        let after = store.events(&run.id).expect("events");
        assert_eq!(after[..before.len()], before[..], "{}", run.id);
        assert_eq!(after.last(), Some(&appended));
        assert_eq!(
            appended.sequence,
            before.last().expect("a log").sequence + 1
        );
        logs.push(after);
    }
    let connection = rusqlite_open(&path);
    let count = |sql: &str| -> i64 {
        connection
            .query_row(sql, [], |row| row.get(0))
            .expect("a count")
    };
    assert_eq!(
        count("SELECT count(*) FROM events"),
        0,
        "every run here is finished"
    );
    assert_eq!(
        count("SELECT count(*) FROM archives"),
        i64::try_from(runs.len()).expect("few")
    );
    // A finished run's record is packed on its next change and reads back the same.
    for run in &runs {
        let mut changed = store.run(&run.id).expect("read").expect("there");
        changed.reason = Some("read again".into());
        store.update_run(&mut changed).expect("updated");
        assert_eq!(store.run(&run.id).expect("read"), Some(changed));
    }
    assert_eq!(
        count("SELECT count(*) FROM runs WHERE typeof(record) = 'blob'"),
        i64::try_from(runs.len()).expect("few")
    );
    for (run, log) in runs.iter().zip(&logs) {
        assert_eq!(&store.events(&run.id).expect("events"), log);
    }
}

/// A state file written by schema version 1 is migrated forward, its runs kept and listed.
#[test]
fn an_older_state_file_is_migrated_and_keeps_its_runs() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    let store = SqliteStore::open(&path).expect("create");
    let run = store_conformance::run("kept", "2026-12-05T21:00:00Z");
    store.insert_run(&run).expect("insert");
    drop(store);
    // Make it a version-1 file: drop what migrations 2 to 6 added and set the version back.
    old_state::undo_compact_form(&path);
    let connection = rusqlite_open(&path);
    connection
        .execute_batch(
            "DROP TABLE model_rows; DROP TABLE models;
             DROP INDEX runs_due; DROP TABLE occurrences; DROP TABLE plans;
             ALTER TABLE runs DROP COLUMN fence; ALTER TABLE runs DROP COLUMN lease_owner;
             ALTER TABLE runs DROP COLUMN lease_until; ALTER TABLE runs DROP COLUMN next_due;
             ALTER TABLE runs DROP COLUMN window_end; ALTER TABLE runs DROP COLUMN adapter;
             PRAGMA user_version = 1;",
        )
        .expect("downgrade");
    drop(connection);
    let store = SqliteStore::open(&path).expect("migrates");
    let summaries = store.run_summaries().expect("summaries");
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        summaries[0].window_end, run.window_end,
        "filled in from the records"
    );
    assert_eq!(
        summaries[0].adapter,
        Some(refreshctl::adapter::AdapterKind::Lcs),
        "the adapter column is filled in from the records too"
    );
    let version: i64 = rusqlite_open(&path)
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let due = store
        .claim_due(
            "replica",
            "lcs",
            run.window_start,
            chrono::TimeDelta::minutes(1),
            10,
        )
        .expect("claim after migration");
    assert_eq!(due.len(), 1, "a migrated run is due and can be claimed");
}

#[test]
fn a_store_opened_to_read_refuses_writes_at_every_schema_version() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    let store = SqliteStore::open(&path).expect("create");
    let run = store_conformance::run("kept", "2026-12-05T21:00:00Z");
    store.insert_run(&run).expect("insert");
    drop(store);
    let current = SqliteStore::open_read_only(&path).expect("opens to read");
    assert_eq!(current.runs().expect("runs").len(), 1);
    assert!(current.save_document("k", "v").is_err(), "read only");
    drop(current);
    old_state::undo_compact_form(&path);
    rusqlite_open(&path)
        .execute_batch(
            "DROP TABLE model_rows; DROP TABLE models;
             DROP INDEX runs_due; DROP TABLE occurrences; DROP TABLE plans;
             ALTER TABLE runs DROP COLUMN fence; ALTER TABLE runs DROP COLUMN lease_owner;
             ALTER TABLE runs DROP COLUMN lease_until; ALTER TABLE runs DROP COLUMN next_due;
             ALTER TABLE runs DROP COLUMN adapter; PRAGMA user_version = 2;",
        )
        .expect("a version-2 file");
    let older = SqliteStore::open_read_only(&path).expect("opens to read");
    assert_eq!(
        older.run(&run.id).expect("read"),
        Some(run.clone()).map(|mut kept| {
            kept.version = 1;
            kept
        })
    );
    assert!(
        older.save_document("k", "v").is_err(),
        "read only, in memory too"
    );
    let other = SqliteStore::open_read_only(&directory.path().join("missing.db")).expect("empty");
    assert!(other.runs().expect("runs").is_empty());
    assert!(!directory.path().join("missing.db").exists());
}

/// Two processes that open a new state file at the same moment (two `tick`s from cron, say)
/// both get it: the one that finds the other creating or migrating it waits, neither `busy` nor
/// taking the half-made file for another application's database.
#[test]
fn two_stores_opening_a_new_file_at_once_both_open_it() {
    let directory = tempfile::tempdir().expect("temp");
    for attempt in 0..100 {
        let path = directory.path().join(format!("state-{attempt}.db"));
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let opens: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        SqliteStore::open(&path).map(drop)
                    })
                })
                .collect();
            for open in opens {
                let opened = open.join().expect("no panic");
                assert!(opened.is_ok(), "attempt {attempt}: {opened:?}");
            }
        });
    }
}
