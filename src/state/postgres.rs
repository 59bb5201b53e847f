//! The shared state store: PostgreSQL, for several `tick`/`daemon` replicas on several machines.
//!
//! The same tables and columns as the SQLite store (times as fixed-width RFC 3339 text, run
//! records as JSON text), so one conformance suite holds both to one behaviour. Due runs are
//! claimed with `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other's claims; every
//! claim bumps the run's fencing counter and every write checks it, so a replica that stalled
//! past its lease cannot commit. Occurrences are decided once by their primary key.
//!
//! The client is the synchronous `postgres` crate on a thread of its own: the store's contract
//! is synchronous (as SQLite's is), and that crate must not block inside the async executor.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;

use chrono::{DateTime, TimeDelta, Utc};
use postgres::{Client, NoTls, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::postgres_tls::{SslMode, TlsSettings, connector};
use super::record::{EventRecord, OccurrenceRecord, RunRecord};
use super::url::{Param, conninfo, is_postgres_url, mask, quote};
use super::{
    ACTIVE_STATES, Claim, Claimed, FINISHED_STATES, Lease, LeaseOutcome, LockOutcome,
    MAX_IDS_PER_WINDOW, ModelRow, ModelRows, ModelSelect, PlanMark, RunSummary, StoreError,
    StoredRecord, WAITING_STATES, Write, adapter_column, compact, counts_for, decode_event,
    decode_stored_run, earliest_due, encode_run, int, model_rows, occurrence_records, packed,
    parse_time, plan_marks, summaries, time,
};

/// The migrations, in order; `refreshctl_schema.version` counts those applied. The first is
/// the whole of SQLite's migrations 1 to 3.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE runs (
         id TEXT PRIMARY KEY,
         plan TEXT NOT NULL,
         target TEXT NOT NULL,
         state TEXT NOT NULL,
         window_start TEXT NOT NULL,
         window_end TEXT NOT NULL,
         version BIGINT NOT NULL,
         record TEXT NOT NULL,
         fence BIGINT NOT NULL DEFAULT 0,
         lease_owner TEXT,
         lease_until TEXT,
         next_due TEXT
     );
     CREATE INDEX runs_by_window ON runs (window_start, id);
     CREATE INDEX runs_by_target ON runs (target, state);
     CREATE INDEX runs_due ON runs (state, next_due);
     CREATE TABLE events (
         run TEXT NOT NULL REFERENCES runs (id),
         sequence BIGINT NOT NULL,
         at TEXT NOT NULL,
         kind TEXT NOT NULL,
         detail TEXT NOT NULL,
         PRIMARY KEY (run, sequence)
     );
     CREATE TABLE locks (
         target TEXT PRIMARY KEY,
         run TEXT NOT NULL REFERENCES runs (id),
         acquired TEXT NOT NULL
     );
     CREATE TABLE documents (
         key TEXT PRIMARY KEY,
         body TEXT NOT NULL,
         version BIGINT NOT NULL
     );
     CREATE TABLE occurrences (
         plan TEXT NOT NULL,
         window_start TEXT NOT NULL,
         run TEXT NOT NULL,
         skipped TEXT,
         decided TEXT NOT NULL,
         PRIMARY KEY (plan, window_start)
     );
     CREATE TABLE plans (
         name TEXT PRIMARY KEY,
         first_seen TEXT NOT NULL
     );",
    // 2 (SQLite's 4): the simulator's models in rows of their own, each change committed under
    // a compare-and-swap on the model's version.
    "CREATE TABLE models (
         key TEXT PRIMARY KEY,
         version BIGINT NOT NULL,
         head TEXT NOT NULL
     );
     CREATE TABLE model_rows (
         model TEXT NOT NULL REFERENCES models (key),
         kind TEXT NOT NULL,
         position BIGINT NOT NULL,
         version BIGINT NOT NULL,
         body TEXT NOT NULL,
         PRIMARY KEY (model, kind, position)
     );
     CREATE INDEX model_rows_by_version ON model_rows (model, version);",
    // 3 (SQLite's 5): every run records its adapter (null: recorded before), and each adapter
    // keeps a schedule of its own: occurrences and first sightings by adapter (`''`: recorded
    // before, counted for every adapter).
    "ALTER TABLE runs ADD COLUMN adapter TEXT;
     UPDATE runs SET adapter = record::json ->> 'adapter';
     ALTER TABLE occurrences ADD COLUMN adapter TEXT NOT NULL DEFAULT '';
     ALTER TABLE occurrences DROP CONSTRAINT occurrences_pkey;
     ALTER TABLE occurrences ADD PRIMARY KEY (adapter, plan, window_start);
     CREATE INDEX occurrences_by_plan ON occurrences (plan, window_start);
     ALTER TABLE plans ADD COLUMN adapter TEXT NOT NULL DEFAULT '';
     ALTER TABLE plans DROP CONSTRAINT plans_pkey;
     ALTER TABLE plans ADD PRIMARY KEY (adapter, name);",
    // 4 (SQLite's 6): compact runs and events (issue 17). Each run gets a number, which its
    // events name instead of its id; an event's kind is a code (`kind_text` for a kind without
    // one), its time microseconds after the event before it (the first: since the epoch), its
    // detail compact (see `state::compact`; an old detail is kept as it was and still reads).
    // Records are written in the compact form on their next change; the old form still reads.
    "ALTER TABLE runs ADD COLUMN number BIGSERIAL;
     ALTER TABLE runs ADD CONSTRAINT runs_by_number UNIQUE (number);
     CREATE TABLE compact_events (
         run BIGINT NOT NULL REFERENCES runs (number),
         sequence BIGINT NOT NULL,
         at BIGINT NOT NULL,
         kind SMALLINT,
         kind_text TEXT,
         detail TEXT NOT NULL,
         PRIMARY KEY (run, sequence)
     );
     INSERT INTO compact_events (run, sequence, at, kind, kind_text, detail)
         SELECT run, sequence, at - lag(at, 1, 0::BIGINT) OVER (PARTITION BY run ORDER BY sequence),
             code, CASE WHEN code IS NULL THEN kind END, detail
         FROM (SELECT runs.number AS run, events.sequence AS sequence,
                   extract(epoch FROM (substr(events.at, 1, 19) || 'Z')::TIMESTAMPTZ)::BIGINT
                       * 1000000 + substr(events.at, 21, 6)::BIGINT AS at,
                   CASE events.kind
                       WHEN 'run-state' THEN 1 WHEN 'step-started' THEN 2
                       WHEN 'step-succeeded' THEN 3 WHEN 'step-failed' THEN 4
                       WHEN 'step-skipped' THEN 5 WHEN 'waiting' THEN 6 WHEN 'log' THEN 7
                       WHEN 'delayed' THEN 8 WHEN 'reminder' THEN 9
                       WHEN 'notification-delivered' THEN 10
                       WHEN 'notification-failed' THEN 11 WHEN 'rescheduled' THEN 12
                       WHEN 'emergency' THEN 13 WHEN 'retry-step' THEN 14
                   END::SMALLINT AS code,
                   events.kind AS kind, events.detail AS detail
               FROM events JOIN runs ON runs.id = events.run) AS old;
     DROP TABLE events;
     ALTER TABLE compact_events RENAME TO events;",
    // 5 (SQLite's 7): finished runs packed (issue 17). Records are kept as bytes: text records
    // as their UTF-8, a finished run's packed (see `state::packed`). A finished run's log is
    // one packed row of `archives` (keyed by the run's number: the sequence and time of its
    // last event, and the events); events appended to a finished run join it, those of a run
    // that is not finished stay in `events`, after any archive it has. The index of runs by
    // target and state is dropped: no query reads runs by target.
    "ALTER TABLE runs ALTER COLUMN record TYPE BYTEA USING convert_to(record, 'UTF8');
     CREATE TABLE archives (
         run BIGINT PRIMARY KEY REFERENCES runs (number),
         sequence BIGINT NOT NULL,
         at BIGINT NOT NULL,
         log BYTEA NOT NULL
     );
     DROP INDEX IF EXISTS runs_by_target;",
];

/// The advisory lock replicas take while migrating ("RFCT").
const MIGRATION_LOCK: i64 = 0x5246_4354;

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The connection's thread: connects (again, after a lost connection) on demand.
struct Worker {
    config: postgres::Config,
    /// `None`: `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    schema: Option<String>,
    client: Option<Client>,
}

impl Worker {
    fn client(&mut self) -> Result<&mut Client, postgres::Error> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let mut client = match &self.tls {
                Some(tls) => self.config.connect(tls.clone())?,
                None => self.config.connect(NoTls)?,
            };
            if let Some(schema) = &self.schema {
                // Replicas starting together would race to create the schema: one at a time.
                client.batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
                     CREATE SCHEMA IF NOT EXISTS \"{schema}\"; COMMIT;
                     SET search_path TO \"{schema}\""
                ))?;
            }
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected just above"))
    }
}

pub struct PostgresStore {
    /// The URL without its password, for messages.
    location: String,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which closes the connection.
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}

/// What refreshctl reads from a PostgreSQL URL or key/value string itself: the rest of it (for
/// tokio-postgres), its own `schema=NAME`, and `sslmode` and `sslrootcert` with libpq's meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    url: String,
    schema: Option<String>,
    tls: TlsSettings,
}

/// A schema name refreshctl accepts: lowercase letters, digits and `_` (it is put in SQL).
fn is_schema_name(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// Splits refreshctl's own parameters off a PostgreSQL URL or key/value string.
fn split_params(text: &str) -> Result<Parts, StoreError> {
    if is_postgres_url(text) {
        split_url_params(text)
    } else {
        split_keyword_params(text)
    }
}

fn bad(text: &str, reason: String) -> StoreError {
    StoreError::BadUrl {
        url: mask(text),
        reason,
    }
}

fn split_url_params(url: &str) -> Result<Parts, StoreError> {
    let mut parts = Parts {
        url: url.to_owned(),
        schema: None,
        tls: TlsSettings::default(),
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok(parts);
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "schema" if is_schema_name(value) => parts.schema = Some(value.to_owned()),
            "schema" => {
                return Err(bad(
                    url,
                    format!(
                        "`schema={value}` is not a schema name refreshctl accepts (lowercase letters, digits and `_`)"
                    ),
                ));
            }
            "sslmode" => {
                parts.tls.mode =
                    SslMode::parse(value).ok_or_else(|| bad(url, sslmode_reason(value)))?;
            }
            "sslrootcert" if !value.is_empty() => {
                let path = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| bad(url, "`sslrootcert` is not UTF-8 once decoded".into()))?;
                parts.tls.root_cert = Some(PathBuf::from(path.as_ref()));
            }
            "sslrootcert" => return Err(bad(url, "`sslrootcert` needs a file".into())),
            _ => kept.push(pair),
        }
    }
    parts.url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(parts)
}

fn split_keyword_params(text: &str) -> Result<Parts, StoreError> {
    let mut parts = Parts {
        url: String::new(),
        schema: None,
        tls: TlsSettings::default(),
    };
    let mut kept = Vec::new();
    for Param { keyword, value } in conninfo(text).map_err(|reason| bad(text, reason))? {
        match keyword.as_str() {
            "schema" if is_schema_name(&value) => parts.schema = Some(value),
            "schema" => {
                return Err(bad(
                    text,
                    format!(
                        "`schema={value}` is not a schema name refreshctl accepts (lowercase letters, digits and `_`)"
                    ),
                ));
            }
            "sslmode" => {
                parts.tls.mode =
                    SslMode::parse(&value).ok_or_else(|| bad(text, sslmode_reason(&value)))?;
            }
            "sslrootcert" if !value.is_empty() => {
                parts.tls.root_cert = Some(PathBuf::from(value));
            }
            "sslrootcert" => return Err(bad(text, "`sslrootcert` needs a file".into())),
            _ => kept.push(format!("{keyword}={}", quote(&value))),
        }
    }
    parts.url = kept.join(" ");
    Ok(parts)
}

fn sslmode_reason(value: &str) -> String {
    format!(
        "`sslmode={value}` is not one of libpq's modes (disable, allow, prefer, require, verify-ca, verify-full)"
    )
}

/// Reads a PostgreSQL URL or key/value string in full (refreshctl's parameters, then the
/// client's), so a mistake is a usage error before anything connects.
fn configure(text: &str) -> Result<(Parts, postgres::Config), StoreError> {
    let parts = split_params(text)?;
    let config: postgres::Config = parts.url.parse().map_err(|error: postgres::Error| {
        // The client's messages name the option, never its value.
        bad(text, error.to_string())
    })?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(bad(
            text,
            "it names no `host` (refreshctl does not read `PGHOST`)".into(),
        ));
    }
    Ok((parts, config))
}

/// Checks a PostgreSQL URL or key/value string without connecting.
pub fn check(text: &str) -> Result<(), StoreError> {
    configure(text).map(|_| ())
}

impl PostgresStore {
    /// Connects and migrates (replicas starting together migrate once, under an advisory
    /// lock). `?schema=NAME` keeps refreshctl's tables in that schema, created if missing.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let location = mask(url);
        let (Parts { schema, tls, .. }, mut config) = configure(url)?;
        config.ssl_mode(tls.mode.for_client());
        let tls = connector(&tls).map_err(|message| StoreError::Open {
            location: location.clone(),
            message,
        })?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("refreshctl-postgres".into())
            .spawn(move || {
                let mut worker = Worker {
                    config,
                    tls,
                    schema,
                    client: None,
                };
                while let Ok(job) = receiver.recv() {
                    job(&mut worker);
                }
            })
            .map_err(|error| StoreError::Open {
                location: location.clone(),
                message: error.to_string(),
            })?;
        let store = Self {
            location,
            jobs: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        };
        store
            .with(|client| {
                client.client()?;
                Ok(())
            })
            .map_err(|error| match error {
                StoreError::Io { location, message } => StoreError::Open { location, message },
                other => other,
            })?;
        store.migrate()?;
        Ok(store)
    }

    /// Runs `job` on the connection's thread and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|jobs| {
                jobs.send(Box::new(move |worker: &mut Worker| {
                    let _ = reply.send(job(worker));
                }))
                .is_ok()
            });
        let gone = || StoreError::Io {
            location: self.location.clone(),
            message: "the connection's thread has stopped".into(),
        };
        if !sent {
            return Err(gone());
        }
        answer
            .recv()
            .map_err(|_| gone())?
            .map_err(|error| self.error(&error))
    }

    /// Runs `job` in one transaction (read committed; claims lock rows explicitly).
    fn transaction<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Transaction<'_>) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.with(move |worker| {
            let mut transaction = worker.client()?.transaction()?;
            let value = job(&mut transaction)?;
            transaction.commit()?;
            Ok(value)
        })
    }

    /// Runs `job` in one transaction, committed only when it answers `Ok(Ok(_))`: a write it
    /// refuses (`Ok(Err(_))`) leaves nothing of the transaction behind.
    fn transaction_unless<T: Send + 'static, E: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Transaction<'_>) -> Result<Result<T, E>, postgres::Error> + Send + 'static,
    ) -> Result<Result<T, E>, StoreError> {
        self.with(move |worker| {
            let mut transaction = worker.client()?.transaction()?;
            let value = job(&mut transaction)?;
            if value.is_ok() {
                transaction.commit()?;
            }
            Ok(value)
        })
    }

    fn error(&self, error: &postgres::Error) -> StoreError {
        // The server's own message (never the URL or password), else the client's with what
        // caused it (tokio-postgres leaves a TLS handshake's reason to its source).
        let message = error.as_db_error().map_or_else(
            || {
                let mut message = error.to_string();
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    let text = cause.to_string();
                    if !message.contains(&text) {
                        message = format!("{message}: {text}");
                    }
                    source = cause.source();
                }
                message
            },
            |db| db.message().to_owned(),
        );
        StoreError::Io {
            location: self.location.clone(),
            message,
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let version = self.transaction(|transaction| {
            transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            transaction.batch_execute(
                "CREATE TABLE IF NOT EXISTS refreshctl_schema (version BIGINT NOT NULL);
                 INSERT INTO refreshctl_schema (version)
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM refreshctl_schema)",
            )?;
            let version: i64 = transaction
                .query_one("SELECT version FROM refreshctl_schema", &[])?
                .get(0);
            let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
            if version > supported {
                return Ok(version);
            }
            for (index, migration) in MIGRATIONS
                .iter()
                .enumerate()
                .skip(usize::try_from(version).unwrap_or(0))
            {
                transaction.batch_execute(migration)?;
                let applied = i64::try_from(index + 1).unwrap_or(i64::MAX);
                transaction.execute("UPDATE refreshctl_schema SET version = $1", &[&applied])?;
            }
            Ok(version)
        })?;
        let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > supported {
            return Err(StoreError::NewerSchema {
                location: self.location.clone(),
                found: version,
                supported,
            });
        }
        Ok(())
    }

    fn encode(&self, run: &RunRecord) -> Result<Vec<u8>, StoreError> {
        encode_run(&self.location, run).map(StoredRecord::into_bytes)
    }

    fn decode(&self, stored: StoredRow) -> Result<RunRecord, StoreError> {
        let (bytes, fence, columns) = stored;
        decode_stored_run(&self.location, &bytes, fence, || columns)
    }

    fn unreadable_time(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            location: self.location.clone(),
            message: format!("{what} has an unreadable time"),
        }
    }

    pub fn insert_run(&self, run: &RunRecord) -> Result<Claim, StoreError> {
        let id = run.id.clone();
        let run = run.clone();
        let claimed = self.transaction(move |transaction| {
            // A run inserted side by side under the id found free: look again.
            for _ in 0..3 {
                match free_id(transaction, &run)? {
                    Slot::Free(id) => {
                        let (stored, text) = run_with_id(&run, id);
                        if insert_new(transaction, &stored, &text)? {
                            return Ok(Ok(stored));
                        }
                    }
                    Slot::Taken(stored) => return Ok(Err(Some(stored))),
                    Slot::Full => break,
                }
            }
            Ok(Err(None))
        })?;
        match claimed {
            Ok(run) => Ok(Claim::Inserted(run)),
            Err(Some(stored)) => Ok(Claim::Existing(self.decode(stored)?)),
            Err(None) => Err(full(&self.location, &id)),
        }
    }

    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let id = id.to_owned();
        self.with(move |worker| {
            Ok(worker
                .client()?
                .query_opt(
                    "SELECT record, fence, id, plan, target FROM runs WHERE id = $1",
                    &[&id],
                )?
                .map(|row| stored_row(&row, 0)))
        })?
        .map(|stored| self.decode(stored))
        .transpose()
    }

    /// The runs that wait for a person (`awaiting-approval`, `needs-attention`), by window start.
    pub fn waiting_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let rows = self.with(|worker| {
            Ok(worker
                .client()?
                .query(
                    &format!(
                        "SELECT record, fence, id, plan, target FROM runs
                         WHERE state IN ({WAITING_STATES}) ORDER BY window_start, id"
                    ),
                    &[],
                )?
                .into_iter()
                .map(|row| stored_row(&row, 0))
                .collect::<Vec<_>>())
        })?;
        rows.into_iter().map(|stored| self.decode(stored)).collect()
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let rows = self.with(|worker| {
            Ok(worker
                .client()?
                .query(
                    "SELECT record, fence, id, plan, target FROM runs ORDER BY window_start, id",
                    &[],
                )?
                .into_iter()
                .map(|row| stored_row(&row, 0))
                .collect::<Vec<_>>())
        })?;
        rows.into_iter().map(|stored| self.decode(stored)).collect()
    }

    /// Every run, by window start, handed to `each` (until it returns false); read at once.
    pub fn each_run(&self, each: &mut dyn FnMut(RunRecord) -> bool) -> Result<(), StoreError> {
        for run in self.runs()? {
            if !each(run) {
                break;
            }
        }
        Ok(())
    }

    pub fn run_summaries(&self) -> Result<Vec<RunSummary>, StoreError> {
        let rows = self.with(|worker| {
            Ok(worker
                .client()?
                .query(
                    "SELECT id, plan, state, window_start, window_end, adapter FROM runs
                     ORDER BY window_start, id",
                    &[],
                )?
                .into_iter()
                .map(|row| {
                    (
                        row.get::<_, String>(0),
                        row.get::<_, String>(1),
                        row.get::<_, String>(2),
                        row.get::<_, String>(3),
                        row.get::<_, String>(4),
                        row.get::<_, Option<String>>(5),
                    )
                })
                .collect::<Vec<_>>())
        })?;
        summaries(&self.location, rows)
    }

    pub fn update_run(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        let mut next = run.clone();
        next.version = run.version + 1;
        let prepared = self.prepare_run(run.version, &next)?;
        let made = self.transaction_unless(move |transaction| prepared.make(transaction))?;
        made.map_err(|refusal| self.refused(refusal))?;
        *run = next;
        Ok(())
    }

    pub fn append_event(
        &self,
        run: &str,
        fence: Option<u64>,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        let prepared = prepare_event(run, fence, kind, detail, at);
        let made = self.transaction_unless(move |transaction| prepared.make(transaction))?;
        let sequence = made.map_err(|refusal| self.refused(refusal))?;
        Ok(EventRecord {
            run: run.to_owned(),
            sequence: u64::try_from(sequence).unwrap_or_default(),
            at,
            kind: kind.to_owned(),
            detail: detail.clone(),
        })
    }

    /// Makes `writes` in one transaction (see [`crate::state::StateStore::write_all`]).
    pub fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        let prepared = writes
            .iter()
            .map(|write| match write {
                Write::Run { next, read } => self.prepare_run(*read, next),
                Write::Event {
                    run,
                    fence,
                    kind,
                    detail,
                    at,
                } => Ok(prepare_event(run, *fence, kind, detail, *at)),
                Write::Unlock { target, run } => Ok(Prepared::Unlock {
                    target: target.clone(),
                    run: run.clone(),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let made = self.transaction_unless(move |transaction| {
            for write in &prepared {
                if let Err(refusal) = write.make(transaction)? {
                    return Ok(Err(refusal));
                }
            }
            Ok(Ok(()))
        })?;
        made.map_err(|refusal| self.refused(refusal))
    }

    /// The update of a run read at version `read` to `next`, ready to send.
    fn prepare_run(&self, read: u64, next: &RunRecord) -> Result<Prepared, StoreError> {
        Ok(Prepared::Run {
            record: self.encode(next)?,
            id: next.id.clone(),
            state: next.state.name(),
            plan: next.plan.clone(),
            target: next.target.clone(),
            start: time(next.window_start),
            end: time(next.window_end),
            version: int(next.version),
            read: int(read),
            fence: int(next.fence),
            finished: next.state.is_finished(),
        })
    }

    fn refused(&self, refusal: Refusal) -> StoreError {
        match refusal {
            Refusal::Conflict(run) => StoreError::Conflict { run },
            Refusal::Missing(run) => StoreError::Io {
                location: self.location.clone(),
                message: format!("run `{run}` is not in the store"),
            },
            Refusal::UnreadableLog(run, error) => self.unreadable_log(&run, &error),
        }
    }

    pub fn events(&self, run: &str) -> Result<Vec<EventRecord>, StoreError> {
        let id = run.to_owned();
        let (log, rows) = self.with(move |worker| {
            let client = worker.client()?;
            let Some(number) = client
                .query_opt("SELECT number FROM runs WHERE id = $1", &[&id])?
                .map(|row| row.get::<_, i64>(0))
            else {
                return Ok((None, Vec::new()));
            };
            let log = client
                .query_opt("SELECT log FROM archives WHERE run = $1", &[&number])?
                .map(|row| row.get::<_, Vec<u8>>(0));
            Ok((log, loose_events(client, number)?))
        })?;
        let archived = match log {
            Some(log) => {
                packed::unpack_events(&log).map_err(|error| self.unreadable_log(run, &error))?
            }
            None => Vec::new(),
        };
        let (events, _) = packed::join(archived, rows);
        events
            .into_iter()
            .map(|event| {
                decode_event(
                    &self.location,
                    run,
                    event.sequence,
                    event.at,
                    event.kind,
                    &event.detail,
                )
            })
            .collect()
    }

    /// The error of a packed log that cannot be read.
    fn unreadable_log(&self, run: &str, error: &str) -> StoreError {
        StoreError::Corrupt {
            location: self.location.clone(),
            message: format!("run `{run}`: its log cannot be read: {error}"),
        }
    }

    pub fn lock(
        &self,
        target: &str,
        run: &str,
        at: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        let (target, id, at) = (target.to_owned(), run.to_owned(), time(at));
        let holder = self.transaction(move |transaction| {
            transaction.execute(
                "INSERT INTO locks (target, run, acquired) VALUES ($1, $2, $3)
                 ON CONFLICT (target) DO NOTHING",
                &[&target, &id, &at],
            )?;
            Ok(transaction
                .query_one("SELECT run FROM locks WHERE target = $1", &[&target])?
                .get::<_, String>(0))
        })?;
        Ok(if holder == run {
            LockOutcome::Acquired
        } else {
            LockOutcome::HeldBy(holder)
        })
    }

    pub fn unlock(&self, target: &str, run: &str) -> Result<(), StoreError> {
        let (target, id) = (target.to_owned(), run.to_owned());
        self.with(move |worker| {
            worker.client()?.execute(
                "DELETE FROM locks WHERE target = $1 AND run = $2",
                &[&target, &id],
            )
        })?;
        Ok(())
    }

    pub fn raise_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        let (key, body) = (key.to_owned(), body.to_owned());
        self.with(move |worker| {
            worker.client()?.execute(
                "INSERT INTO documents (key, body, version) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body,
                 version = documents.version + 1
                 WHERE excluded.body COLLATE \"C\" > documents.body COLLATE \"C\"",
                &[&key, &body],
            )
        })?;
        Ok(())
    }

    pub fn load_document(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.with(move |worker| {
            Ok(worker
                .client()?
                .query_opt("SELECT body FROM documents WHERE key = $1", &[&key])?
                .map(|row| row.get(0)))
        })
    }

    /// Every document whose key starts with `prefix`, by key.
    pub fn documents(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = prefix.to_owned();
        self.with(move |worker| {
            Ok(worker
                .client()?
                .query(
                    "SELECT key, body FROM documents WHERE left(key, length($1)) = $1 ORDER BY key",
                    &[&prefix],
                )?
                .into_iter()
                .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
                .collect())
        })
    }

    pub fn delete_document(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.with(move |worker| {
            worker
                .client()?
                .execute("DELETE FROM documents WHERE key = $1", &[&key])
        })?;
        Ok(())
    }

    pub fn save_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        let (key, body) = (key.to_owned(), body.to_owned());
        self.with(move |worker| {
            worker.client()?.execute(
                "INSERT INTO documents (key, body, version) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body,
                 version = documents.version + 1",
                &[&key, &body],
            )
        })?;
        Ok(())
    }

    /// The model under `key` with its rows changed after `since`, in one statement (one
    /// snapshot).
    pub fn load_model(
        &self,
        key: &str,
        since: Option<i64>,
    ) -> Result<Option<ModelRows>, StoreError> {
        let key = key.to_owned();
        let since = since.unwrap_or(0);
        let selected = self.with(move |worker| {
            Ok(worker
                .client()?
                .query(ModelSelect::POSTGRES, &[&key, &since])?
                .into_iter()
                .map(|row| ModelSelect {
                    version: row.get(0),
                    head: row.get(1),
                    kind: row.get(2),
                    position: row.get(3),
                    body: row.get(4),
                })
                .collect::<Vec<_>>())
        })?;
        Ok(model_rows(selected))
    }

    /// Commits a change of the model under `key` if it is still at version `expected`: the
    /// `UPDATE … WHERE version = expected` (or the insert of a new model) is the compare and
    /// swap, and the rows go in with it in one statement.
    pub fn commit_model(
        &self,
        key: &str,
        expected: Option<i64>,
        head: &str,
        rows: &[ModelRow],
    ) -> Result<Option<i64>, StoreError> {
        let (key, head) = (key.to_owned(), head.to_owned());
        let kinds: Vec<String> = rows.iter().map(|row| row.kind.clone()).collect();
        let positions: Vec<i64> = rows.iter().map(|row| row.position).collect();
        let bodies: Vec<String> = rows.iter().map(|row| row.body.clone()).collect();
        self.with(move |worker| {
            let mut transaction = worker.client()?.transaction()?;
            let version = expected.unwrap_or(0) + 1;
            let swapped = match expected {
                None => transaction.execute(
                    "INSERT INTO models (key, version, head) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO NOTHING",
                    &[&key, &version, &head],
                )?,
                Some(expected) => transaction.execute(
                    "UPDATE models SET version = $2, head = $3 WHERE key = $1 AND version = $4",
                    &[&key, &version, &head, &expected],
                )?,
            };
            if swapped == 0 {
                transaction.rollback()?;
                return Ok(None);
            }
            transaction.execute(
                "INSERT INTO model_rows (model, kind, position, version, body)
                 SELECT $1, kind, position, $2, body
                 FROM UNNEST($3::text[], $4::bigint[], $5::text[]) AS changed (kind, position, body)
                 ON CONFLICT (model, kind, position)
                 DO UPDATE SET version = excluded.version, body = excluded.body",
                &[&key, &version, &kinds, &positions, &bodies],
            )?;
            transaction.commit()?;
            Ok(Some(version))
        })
    }

    pub fn claim_due(
        &self,
        owner: &str,
        adapter: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let owner_name = owner;
        let (owner, now_text, until) = (owner.to_owned(), time(now), time(now + lease));
        let adapter = adapter.to_owned();
        let limit = int(limit as u64);
        let rows = self.transaction(move |transaction| {
            // Rows another replica is claiming right now are skipped, not waited for. The
            // lease each row had is returned with it: one that ran out was taken over.
            let rows = transaction.query(
                &format!(
                    "WITH due AS (
                         SELECT id, lease_owner, lease_until FROM runs
                         WHERE state IN ({ACTIVE_STATES})
                         AND (next_due IS NULL OR next_due <= $3)
                         AND (lease_until IS NULL OR lease_until <= $3)
                         AND (adapter = $5 OR (adapter IS NULL AND $5 <> 'simulator'))
                         ORDER BY next_due NULLS FIRST, id LIMIT $4
                         FOR UPDATE SKIP LOCKED)
                     UPDATE runs SET lease_owner = $1, lease_until = $2, fence = fence + 1
                     FROM due WHERE runs.id = due.id
                     RETURNING due.lease_owner, due.lease_until, runs.record, runs.fence, runs.id,
                         runs.plan, runs.target"
                ),
                &[&owner, &until, &now_text, &limit, &adapter],
            )?;
            Ok(rows
                .into_iter()
                .map(|row| {
                    let lease: (Option<String>, Option<String>) = (row.get(0), row.get(1));
                    (stored_row(&row, 2), lease)
                })
                .collect::<Vec<_>>())
        })?;
        let mut runs = rows
            .into_iter()
            .map(|(stored, (holder, held_until))| {
                Ok(Claimed {
                    run: self.decode(stored)?,
                    taken_over: self.previous_lease(
                        holder.as_deref(),
                        held_until.as_deref(),
                        owner_name,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        runs.sort_by(|a, b| a.run.id.cmp(&b.run.id));
        Ok(runs)
    }

    /// Another owner's lease that a claim replaced (it had run out).
    fn previous_lease(
        &self,
        holder: Option<&str>,
        until: Option<&str>,
        owner: &str,
    ) -> Result<Option<Lease>, StoreError> {
        match (holder, until) {
            (Some(holder), Some(until)) if holder != owner => Ok(Some(Lease {
                owner: holder.to_owned(),
                until: parse_time(until).ok_or_else(|| self.unreadable_time("a lease"))?,
            })),
            _ => Ok(None),
        }
    }

    pub fn claim_run(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<LeaseOutcome, StoreError> {
        let owner_name = owner;
        let (id, owner, now_text, until) = (
            id.to_owned(),
            owner.to_owned(),
            time(now),
            time(now + lease),
        );
        let answer = self.transaction(move |transaction| {
            let Some(row) = transaction.query_opt(
                "SELECT lease_owner, lease_until FROM runs WHERE id = $1 FOR UPDATE",
                &[&id],
            )?
            else {
                return Ok(None);
            };
            let (holder, held_until): (Option<String>, Option<String>) = (row.get(0), row.get(1));
            if let (Some(holder), Some(held_until)) = (&holder, &held_until)
                && *holder != owner
                && *held_until > now_text
            {
                return Ok(Some(Err((holder.clone(), held_until.clone()))));
            }
            let row = transaction.query_one(
                "UPDATE runs SET lease_owner = $2, lease_until = $3, fence = fence + 1
                 WHERE id = $1 RETURNING record, fence, id, plan, target",
                &[&id, &owner, &until],
            )?;
            Ok(Some(Ok((stored_row(&row, 0), (holder, held_until)))))
        })?;
        match answer {
            None => Ok(LeaseOutcome::NotFound),
            Some(Ok((stored, (holder, held_until)))) => {
                Ok(LeaseOutcome::Claimed(Box::new(Claimed {
                    run: self.decode(stored)?,
                    taken_over: self.previous_lease(
                        holder.as_deref(),
                        held_until.as_deref(),
                        owner_name,
                    )?,
                })))
            }
            Some(Err((owner, until))) => Ok(LeaseOutcome::Held(Lease {
                until: parse_time(&until).ok_or_else(|| self.unreadable_time("a lease"))?,
                owner,
            })),
        }
    }

    pub fn heartbeat(
        &self,
        run: &RunRecord,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<bool, StoreError> {
        let (id, fence, owner, until) = (
            run.id.clone(),
            int(run.fence),
            owner.to_owned(),
            time(now + lease),
        );
        let changed = self.with(move |worker| {
            worker.client()?.execute(
                "UPDATE runs SET lease_until = $3 WHERE id = $1 AND fence = $2 AND lease_owner = $4",
                &[&id, &fence, &until, &owner],
            )
        })?;
        Ok(changed == 1)
    }

    pub fn release(
        &self,
        releases: &[(&RunRecord, Option<DateTime<Utc>>)],
    ) -> Result<(), StoreError> {
        let releases: Vec<(String, i64, Option<String>)> = releases
            .iter()
            .map(|(run, next_due)| (run.id.clone(), int(run.fence), next_due.map(time)))
            .collect();
        self.transaction(move |transaction| {
            for (id, fence, due) in &releases {
                transaction.execute(
                    "UPDATE runs SET lease_owner = NULL, lease_until = NULL, next_due = $3
                     WHERE id = $1 AND fence = $2",
                    &[id, fence, due],
                )?;
            }
            Ok(())
        })
    }

    pub fn next_due(&self, adapter: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let adapter = adapter.to_owned();
        let rows = self.with(move |worker| {
            Ok(worker
                .client()?
                .query(
                    &format!(
                        "SELECT next_due, lease_until FROM runs WHERE state IN ({ACTIVE_STATES})
                         AND (adapter = $1 OR (adapter IS NULL AND $1 <> 'simulator'))"
                    ),
                    &[&adapter],
                )?
                .into_iter()
                .map(|row| {
                    (
                        row.get::<_, Option<String>>(0),
                        row.get::<_, Option<String>>(1),
                    )
                })
                .collect::<Vec<_>>())
        })?;
        Ok(earliest_due(rows.iter().map(|(due, lease)| {
            (
                due.as_deref().and_then(parse_time),
                lease.as_deref().and_then(parse_time),
            )
        })))
    }

    pub fn decide_occurrence(
        &self,
        occurrence: &OccurrenceRecord,
        run: Option<&RunRecord>,
    ) -> Result<Option<String>, StoreError> {
        let run = run.cloned();
        let (adapter, plan, start, skipped, decided) = (
            adapter_column(occurrence.adapter),
            occurrence.plan.clone(),
            time(occurrence.window_start),
            occurrence.skipped.clone(),
            time(occurrence.decided),
        );
        let mut id = occurrence.run.clone();
        let location = self.location.clone();
        let decided = self.transaction(move |transaction| {
            let earlier = transaction.query_opt(
                "SELECT 1 FROM occurrences WHERE plan = $1 AND window_start = $2
                 AND adapter IN ($3, '')",
                &[&plan, &start, &adapter],
            )?;
            if earlier.is_some() {
                return Ok(Decided::Earlier);
            }
            let mut new = None;
            if let Some(run) = run {
                match free_id(transaction, &run)? {
                    Slot::Free(free) => {
                        id.clone_from(&free);
                        new = Some(run_with_id(&run, free));
                    }
                    Slot::Taken((_, _, columns)) => id = columns.id,
                    Slot::Full => return Ok(Decided::Full(run.id)),
                }
            }
            // Replicas deciding side by side: the primary key lets one through, and only it
            // inserts the run.
            let inserted = transaction.execute(
                "INSERT INTO occurrences (adapter, plan, window_start, run, skipped, decided)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[&adapter, &plan, &start, &id, &skipped, &decided],
            )?;
            if inserted == 0 {
                return Ok(Decided::Earlier);
            }
            if let Some((run, text)) = new {
                insert_new(transaction, &run, &text)?;
            }
            Ok(Decided::Now(id))
        })?;
        match decided {
            Decided::Earlier => Ok(None),
            Decided::Now(id) => Ok(Some(id)),
            Decided::Full(id) => Err(full(&location, &id)),
        }
    }

    /// Decides skipped occurrences one by one, each in its own transaction: replicas decide
    /// side by side here, and one replica's batch must not hold the others' decisions back.
    pub fn decide_skipped(
        &self,
        occurrences: &[OccurrenceRecord],
    ) -> Result<Vec<bool>, StoreError> {
        occurrences
            .iter()
            .map(|occurrence| {
                self.decide_occurrence(occurrence, None)
                    .map(|decided| decided.is_some())
            })
            .collect()
    }

    pub fn real_adapters(&self) -> Result<Vec<String>, StoreError> {
        self.with(|worker| {
            Ok(worker
                .client()?
                .query(
                    "SELECT DISTINCT adapter FROM runs
                     WHERE adapter IS NOT NULL AND adapter <> 'simulator' ORDER BY adapter",
                    &[],
                )?
                .into_iter()
                .map(|row| row.get::<_, String>(0))
                .collect())
        })
    }

    pub fn occurrences(&self) -> Result<Vec<OccurrenceRecord>, StoreError> {
        let rows = self.with(|worker| {
            Ok(worker
                .client()?
                .query(
                    "SELECT plan, window_start, run, skipped, decided, adapter FROM occurrences
                     ORDER BY plan, window_start, adapter",
                    &[],
                )?
                .into_iter()
                .map(|row| {
                    (
                        row.get::<_, String>(0),
                        row.get::<_, String>(1),
                        row.get::<_, String>(2),
                        row.get::<_, Option<String>>(3),
                        row.get::<_, String>(4),
                        row.get::<_, String>(5),
                    )
                })
                .collect::<Vec<_>>())
        })?;
        occurrence_records(&self.location, rows)
    }

    pub fn see_plans(
        &self,
        adapter: &str,
        names: &[&str],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, PlanMark>, StoreError> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let seen = time(now);
        let adapter = adapter.to_owned();
        let rows = self.transaction(move |transaction| {
            transaction.execute(
                "INSERT INTO plans (adapter, name, first_seen)
                 SELECT $3, name, $2 FROM unnest($1::text[]) AS name
                 WHERE NOT EXISTS (SELECT 1 FROM plans WHERE plans.name = name AND adapter = '')
                 ON CONFLICT DO NOTHING",
                &[&names, &seen, &adapter],
            )?;
            Ok(transaction
                .query(
                    "SELECT name, first_seen, (SELECT max(window_start) FROM occurrences
                     WHERE occurrences.plan = plans.name AND occurrences.adapter IN ($1, ''))
                     FROM plans WHERE adapter IN ($1, '')",
                    &[&adapter],
                )?
                .into_iter()
                .map(|row| {
                    (
                        row.get::<_, String>(0),
                        row.get::<_, String>(1),
                        row.get::<_, Option<String>>(2),
                    )
                })
                .collect::<Vec<_>>())
        })?;
        Ok(plan_marks(rows))
    }
}

/// Where a new run of a window goes: the first id of the window that is free, unless a run
/// that counts for the new run's adapter holds one first.
enum Slot {
    Free(String),
    /// That run's record, fence and columns.
    Taken(StoredRow),
    /// Every id tried is another adapter's.
    Full,
}

/// What deciding an occurrence came to.
enum Decided {
    /// It was decided before (or by a replica side by side).
    Earlier,
    /// Decided now, with the run's id.
    Now(String),
    /// No id for its run (see [`Slot::Full`]).
    Full(String),
}

/// Run `number`'s events that are not packed: sequence, time after the event before, kind and
/// detail as stored, in order.
fn loose_events(
    client: &mut impl postgres::GenericClient,
    number: i64,
) -> Result<Vec<packed::LooseEvent>, postgres::Error> {
    Ok(client
        .query(
            "SELECT sequence, at, kind, kind_text, detail FROM events WHERE run = $1
             ORDER BY sequence",
            &[&number],
        )?
        .into_iter()
        .map(|row| {
            let kind = match (
                row.get::<_, Option<i16>>(2),
                row.get::<_, Option<String>>(3),
            ) {
                (Some(code), _) => compact::StoredKind::Code(i64::from(code)),
                (None, text) => compact::StoredKind::Text(text.unwrap_or_default()),
            };
            (row.get(0), row.get(1), kind, row.get(4))
        })
        .collect())
}

/// Why a write in a transaction was refused; nothing of the transaction is kept then.
enum Refusal {
    /// The run changed or was claimed since it was read.
    Conflict(String),
    /// No run has this id.
    Missing(String),
    /// The run's packed log cannot be read: its id and why.
    UnreadableLog(String, String),
}

/// A [`Write`] ready to send: its record encoded, its values as the columns take them.
enum Prepared {
    Run {
        record: Vec<u8>,
        id: String,
        state: &'static str,
        plan: String,
        target: String,
        start: String,
        end: String,
        version: i64,
        read: i64,
        fence: i64,
        finished: bool,
    },
    Event {
        run: String,
        fence: Option<i64>,
        code: Option<i16>,
        kind_text: Option<String>,
        detail: String,
        micros: i64,
    },
    Unlock {
        target: String,
        run: String,
    },
}

/// An entry of run `run`'s log (fenced when `fence` is given), ready to send.
fn prepare_event(
    run: &str,
    fence: Option<u64>,
    kind: &str,
    detail: &serde_json::Value,
    at: DateTime<Utc>,
) -> Prepared {
    let (code, kind_text) = match compact::kind_code(kind) {
        compact::StoredKind::Code(code) => (i16::try_from(code).ok(), None),
        compact::StoredKind::Text(text) => (None, Some(text)),
    };
    Prepared::Event {
        run: run.to_owned(),
        fence: fence.map(int),
        code,
        kind_text,
        detail: compact::encode_detail(kind, detail),
        micros: compact::micros(at),
    }
}

impl Prepared {
    /// Makes the write in `transaction`; an event answers its sequence number (0 otherwise).
    fn make(
        &self,
        transaction: &mut Transaction<'_>,
    ) -> Result<Result<i64, Refusal>, postgres::Error> {
        match self {
            Self::Run {
                record,
                id,
                state,
                plan,
                target,
                start,
                end,
                version,
                read,
                fence,
                finished,
            } => {
                let changed = transaction.query_opt(
                    "UPDATE runs SET state = $1, window_start = $2, window_end = $3, version = $4,
                     record = $5, plan = $9, target = $10, next_due = NULL
                     WHERE id = $6 AND version = $7 AND fence = $8 RETURNING number",
                    &[
                        state, start, end, version, record, id, read, fence, plan, target,
                    ],
                )?;
                // A run that ends has its log packed with its record, in the same transaction.
                Ok(match changed {
                    None => Err(Refusal::Conflict(id.clone())),
                    Some(row) if *finished => archive(transaction, row.get(0))?
                        .map(|()| 0)
                        .map_err(|error| Refusal::UnreadableLog(id.clone(), error)),
                    Some(_) => Ok(0),
                })
            }
            Self::Event {
                run,
                fence,
                code,
                kind_text,
                detail,
                micros,
            } => {
                // The run's row serialises appends to its log, and carries the fence.
                let Some((number, current, finished)) = transaction
                    .query_opt(
                        &format!(
                            "SELECT number, fence, state IN ({FINISHED_STATES}) FROM runs
                             WHERE id = $1 FOR UPDATE"
                        ),
                        &[run],
                    )?
                    .map(|row| {
                        (
                            row.get::<_, i64>(0),
                            row.get::<_, i64>(1),
                            row.get::<_, bool>(2),
                        )
                    })
                else {
                    return Ok(Err(Refusal::Missing(run.clone())));
                };
                if fence.is_some_and(|fence| current != fence) {
                    return Ok(Err(Refusal::Conflict(run.clone())));
                }
                // Times are kept as the difference from the event before: the sum of the
                // run's, on top of the time of the last packed event.
                let row = transaction.query_one(
                    "SELECT coalesce(max(sequence), 0) + 1, coalesce(sum(at), 0)::BIGINT FROM
                     (SELECT sequence, at FROM archives WHERE run = $1
                      UNION ALL SELECT sequence, at FROM events WHERE run = $1) AS log",
                    &[&number],
                )?;
                let (sequence, previous): (i64, i64) = (row.get(0), row.get(1));
                transaction.execute(
                    "INSERT INTO events (run, sequence, at, kind, kind_text, detail)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &number,
                        &sequence,
                        &micros.wrapping_sub(previous),
                        code,
                        kind_text,
                        detail,
                    ],
                )?;
                if finished && let Err(error) = archive(transaction, number)? {
                    return Ok(Err(Refusal::UnreadableLog(run.clone(), error)));
                }
                Ok(Ok(sequence))
            }
            Self::Unlock { target, run } => {
                transaction.execute(
                    "DELETE FROM locks WHERE target = $1 AND run = $2",
                    &[target, run],
                )?;
                Ok(Ok(0))
            }
        }
    }
}

/// Packs run `number`'s events that are not packed yet into its archive (with those it holds)
/// and deletes their rows: a finished run's log is one row. The inner error: the archive held
/// cannot be read (nothing is written then).
fn archive(
    transaction: &mut Transaction<'_>,
    number: i64,
) -> Result<Result<(), String>, postgres::Error> {
    let loose = loose_events(transaction, number)?;
    if loose.is_empty() {
        return Ok(Ok(()));
    }
    let held = transaction
        .query_opt("SELECT log FROM archives WHERE run = $1", &[&number])?
        .map(|row| row.get::<_, Vec<u8>>(0));
    let events = match held.as_deref().map(packed::unpack_events) {
        None => Vec::new(),
        Some(Ok(events)) => events,
        Some(Err(error)) => return Ok(Err(error)),
    };
    let (events, last) = packed::join(events, loose);
    transaction.execute(
        "INSERT INTO archives (run, sequence, at, log) VALUES ($1, $2, $3, $4)
         ON CONFLICT (run) DO UPDATE SET sequence = excluded.sequence, at = excluded.at,
         log = excluded.log",
        &[&number, &last.0, &last.1, &packed::pack_events(&events)],
    )?;
    transaction.execute("DELETE FROM events WHERE run = $1", &[&number])?;
    Ok(Ok(()))
}

/// A run's record as stored, its fence, and the columns a packed record leaves out.
type StoredRow = (Vec<u8>, i64, packed::Columns);

/// The record, fence, id, plan and target of a row, from column `first` on.
fn stored_row(row: &postgres::Row, first: usize) -> StoredRow {
    (
        row.get(first),
        row.get(first + 1),
        packed::Columns {
            id: row.get(first + 2),
            plan: row.get(first + 3),
            target: row.get(first + 4),
        },
    )
}

/// Walks the ids of `run`'s window past runs that do not count for its adapter.
fn free_id(transaction: &mut Transaction<'_>, run: &RunRecord) -> Result<Slot, postgres::Error> {
    let mut id = run.id.clone();
    for _ in 0..MAX_IDS_PER_WINDOW {
        let Some(row) = transaction.query_opt(
            "SELECT adapter, record, fence, id, plan, target FROM runs WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(Slot::Free(id));
        };
        let recorded: Option<String> = row.get(0);
        if counts_for(recorded.as_deref(), run.adapter) {
            return Ok(Slot::Taken(stored_row(&row, 1)));
        }
        id = RunRecord::next_id(&id);
    }
    Ok(Slot::Full)
}

/// `run` as stored new under `id` (version 1, fence 0), with its stored record.
fn run_with_id(run: &RunRecord, id: String) -> (RunRecord, Vec<u8>) {
    let mut stored = run.clone();
    stored.id = id;
    stored.version = 1;
    stored.fence = 0;
    // A run record always serializes: plain fields and string keys.
    let bytes = encode_run("", &stored)
        .map(StoredRecord::into_bytes)
        .unwrap_or_default();
    (stored, bytes)
}

fn full(location: &str, id: &str) -> StoreError {
    StoreError::Io {
        location: location.to_owned(),
        message: format!("{MAX_IDS_PER_WINDOW} runs of other adapters hold the window of `{id}`"),
    }
}

/// Inserts a run unless its id exists; returns whether it did.
fn insert_new(
    transaction: &mut Transaction<'_>,
    run: &RunRecord,
    text: &[u8],
) -> Result<bool, postgres::Error> {
    let inserted = transaction.execute(
        "INSERT INTO runs (id, plan, target, state, window_start, window_end, version, record,
         adapter) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8) ON CONFLICT (id) DO NOTHING",
        &[
            &run.id,
            &run.plan,
            &run.target,
            &run.state.name(),
            &time(run.window_start),
            &time(run.window_end),
            &text,
            &run.adapter.map(crate::adapter::AdapterKind::name),
        ],
    )?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration to compact events (the 4th), by its place.
    const COMPACT_EVENTS: usize = 3;

    #[test]
    fn the_migration_to_compact_events_codes_every_kind_as_the_store_does() {
        let migration = MIGRATIONS[COMPACT_EVENTS];
        for (index, kind) in compact::KINDS.iter().enumerate() {
            let code = format!("WHEN '{kind}' THEN {}", index + 1);
            assert!(migration.contains(&code), "{code}");
        }
    }

    #[test]
    fn passwords_are_redacted_from_locations() {
        assert_eq!(
            mask("postgres://refresh:s3cret@db.example.com:5432/state?sslmode=disable"),
            "postgres://refresh:***@db.example.com:5432/state?sslmode=disable"
        );
        assert_eq!(
            mask("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }

    #[test]
    fn schema_and_tls_parameters_are_read_by_refreshctl() {
        let parts = |url: &str| split_params(url).expect("url");
        assert_eq!(
            parts("postgres://h/db?schema=ops_1&application_name=x"),
            Parts {
                url: "postgres://h/db?application_name=x".into(),
                schema: Some("ops_1".into()),
                tls: TlsSettings::default(),
            }
        );
        assert_eq!(
            parts("postgres://h/db"),
            Parts {
                url: "postgres://h/db".into(),
                schema: None,
                tls: TlsSettings {
                    mode: SslMode::Prefer,
                    root_cert: None
                },
            }
        );
        assert_eq!(
            parts("postgres://h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20s.pem").tls,
            TlsSettings {
                mode: SslMode::VerifyFull,
                root_cert: Some("/etc/ca s.pem".into())
            }
        );
        assert_eq!(
            parts("postgres://h/db?sslmode=disable").url,
            "postgres://h/db"
        );
        assert!(split_params("postgres://h/db?schema=Robert'); DROP TABLE runs").is_err());
        assert!(split_params("host=h schema='Robert\"; DROP TABLE runs'").is_err());
        assert!(split_params("postgres://h/db?sslmode=always").is_err());
        assert!(split_params("postgres://h/db?sslrootcert=").is_err());
    }

    #[test]
    fn the_key_value_form_is_split_and_requoted_for_the_client() {
        let parts = split_params(
            "host=127.0.0.1 port = 5433 user=postgres password='it\\'s' dbname='my db' schema=ops_1 sslmode=verify-ca sslrootcert='/etc/my ca.pem'",
        )
        .expect("key/value");
        assert_eq!(
            parts,
            Parts {
                url:
                    "host='127.0.0.1' port='5433' user='postgres' password='it\\'s' dbname='my db'"
                        .into(),
                schema: Some("ops_1".into()),
                tls: TlsSettings {
                    mode: SslMode::VerifyCa,
                    root_cert: Some("/etc/my ca.pem".into()),
                },
            }
        );
        let (_, config) =
            configure("host=127.0.0.1 port=5433 user=postgres password='it\\'s' dbname='my db'")
                .expect("the client reads it");
        assert_eq!(config.get_dbname(), Some("my db"));
        assert_eq!(config.get_password(), Some("it's".as_bytes()));
        assert_eq!(config.get_ports(), [5433]);
    }
}
