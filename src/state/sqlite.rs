//! The embedded state store: one SQLite file (WAL), created on first use, migrated forward,
//! never rewritten when it belongs to something else or to a newer refreshctl.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::record::{EventRecord, OccurrenceRecord, RunRecord};
use super::{
    ACTIVE, ACTIVE_STATES, Claim, Claimed, FINISHED_STATES, Lease, LeaseOutcome, LockOutcome,
    MAX_IDS_PER_WINDOW, MarkRow, ModelRow, ModelRows, ModelSelect, PlanMark, RowForm, RunRow,
    RunSummary, StoreError, StoredRecord, WAITING_STATES, Write, adapter_column, compact,
    counts_for, decode_event, decode_packed_run, decode_run, earliest_due, encode_run, int,
    model_rows, occurrence_records, packed, parse_time, plan_marks, summaries, time,
};

impl rusqlite::ToSql for StoredRecord {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Text(text) => ValueRef::Text(text.as_bytes()),
            Self::Packed(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// Where a run's log ends within a transaction: what appending an entry needs.
struct LogEnd {
    /// The run's number, which its log rows are kept under.
    number: i64,
    fence: i64,
    /// Whether the run is finished: its log is packed as each entry is added.
    finished: bool,
    /// The next entry's sequence number.
    sequence: i64,
    /// The last entry's time (microseconds since the epoch).
    at: i64,
}

/// Whether an occurrence (plan ?1, window start ?2) is decided for adapter ?3, or before
/// occurrences had an adapter (''). Two probes of the key: `adapter IN (?3, '')` built a
/// temporary table of the two values on every run of the statement (twice the time).
const DECIDED: &str = "SELECT EXISTS (SELECT 1 FROM occurrences
     WHERE adapter = ?3 AND plan = ?1 AND window_start = ?2)
     OR EXISTS (SELECT 1 FROM occurrences WHERE adapter = '' AND plan = ?1 AND window_start = ?2)";

/// How many prepared statements a connection keeps: more than the store has.
const STATEMENTS: usize = 64;

/// How many pages the write-ahead log holds before a commit copies them into the database
/// (`PRAGMA wal_autocheckpoint`; SQLite's default is 1,000). A copy waits for two `fsync`s, of
/// the log and of the database, and copies a page once however often the log holds it: a
/// `tick` over 10,000 plans a week later writes 34,000 pages to the log, and with the default
/// it made 106 `fsync`s that took a quarter of its time on a virtual machine's disk. 40 MB of
/// log at most; SQLite deletes the log when its last connection closes. A crashed process
/// loses no commit; a power cut can take back the commits since the log was last synced, as
/// `synchronous = NORMAL` always allowed, now up to this many pages of them.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// `PRAGMA application_id`: "RFCT", so a state file is recognisable as one.
const APPLICATION_ID: i64 = 0x5246_4354;

/// The migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: runs as documents with indexed columns, events, locks, and keyed documents.
    "CREATE TABLE runs (
         id TEXT PRIMARY KEY,
         plan TEXT NOT NULL,
         target TEXT NOT NULL,
         state TEXT NOT NULL,
         window_start TEXT NOT NULL,
         version INTEGER NOT NULL,
         record TEXT NOT NULL
     );
     CREATE INDEX runs_by_window ON runs (window_start, id);
     CREATE INDEX runs_by_target ON runs (target, state);
     CREATE TABLE events (
         run TEXT NOT NULL REFERENCES runs (id),
         sequence INTEGER NOT NULL,
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
         version INTEGER NOT NULL
     );",
    // 2: the window's end as a column, so listing runs reads no records.
    "ALTER TABLE runs ADD COLUMN window_end TEXT;
     UPDATE runs SET window_end = json_extract(record, '$.window_end');",
    // 3: scheduling (SPEC 5.5, 8): leases with a fencing counter, when each run is next due,
    // each occurrence decided once, and when each plan was first seen.
    "ALTER TABLE runs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE runs ADD COLUMN lease_owner TEXT;
     ALTER TABLE runs ADD COLUMN lease_until TEXT;
     ALTER TABLE runs ADD COLUMN next_due TEXT;
     CREATE INDEX runs_due ON runs (state, next_due);
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
    // 4: the simulator's models in rows of their own (one per environment, operation, asset,
    // deployment and call), each change committed under a compare-and-swap on the model's
    // version, so processes sharing a model never lose each other's changes.
    "CREATE TABLE models (
         key TEXT PRIMARY KEY,
         version INTEGER NOT NULL,
         head TEXT NOT NULL
     );
     CREATE TABLE model_rows (
         model TEXT NOT NULL REFERENCES models (key),
         kind TEXT NOT NULL,
         position INTEGER NOT NULL,
         version INTEGER NOT NULL,
         body TEXT NOT NULL,
         PRIMARY KEY (model, kind, position)
     );
     CREATE INDEX model_rows_by_version ON model_rows (model, version);",
    // 5: every run records its adapter (null: recorded before), and each adapter keeps a
    // schedule of its own, so rehearsals never decide a real occurrence: occurrences and first
    // sightings by adapter (`''`: recorded before, counted for every adapter).
    "ALTER TABLE runs ADD COLUMN adapter TEXT;
     UPDATE runs SET adapter = json_extract(record, '$.adapter');
     CREATE TABLE occurrences_by_adapter (
         adapter TEXT NOT NULL,
         plan TEXT NOT NULL,
         window_start TEXT NOT NULL,
         run TEXT NOT NULL,
         skipped TEXT,
         decided TEXT NOT NULL,
         PRIMARY KEY (adapter, plan, window_start)
     );
     INSERT INTO occurrences_by_adapter
         SELECT '', plan, window_start, run, skipped, decided FROM occurrences;
     DROP TABLE occurrences;
     ALTER TABLE occurrences_by_adapter RENAME TO occurrences;
     CREATE INDEX occurrences_by_plan ON occurrences (plan, window_start);
     CREATE TABLE plans_by_adapter (
         adapter TEXT NOT NULL,
         name TEXT NOT NULL,
         first_seen TEXT NOT NULL,
         PRIMARY KEY (adapter, name)
     );
     INSERT INTO plans_by_adapter SELECT '', name, first_seen FROM plans;
     DROP TABLE plans;
     ALTER TABLE plans_by_adapter RENAME TO plans;",
    // 6: compact runs and events (issue 17: 13.5 KB per finished run before). Each run gets a
    // number, which its events name instead of its id; an event's kind is a code (text for a
    // kind without one), its time microseconds after the event before it (the first: since the
    // epoch), its detail compact (see `state::compact`; an old detail is kept as it was and
    // still reads). Events are keyed by run and sequence alone, without a rowid. Records are
    // written in the compact form on their next change; the old form still reads.
    "ALTER TABLE runs ADD COLUMN number INTEGER;
     UPDATE runs SET number = rowid;
     CREATE UNIQUE INDEX runs_by_number ON runs (number);
     CREATE TABLE compact_events (
         run INTEGER NOT NULL REFERENCES runs (number),
         sequence INTEGER NOT NULL,
         at INTEGER NOT NULL,
         kind NOT NULL,
         detail TEXT NOT NULL,
         PRIMARY KEY (run, sequence)
     ) WITHOUT ROWID;
     INSERT INTO compact_events (run, sequence, at, kind, detail)
         SELECT run, sequence, at - lag(at, 1, 0) OVER (PARTITION BY run ORDER BY sequence),
             kind, detail
         FROM (SELECT runs.number AS run, events.sequence AS sequence,
                   unixepoch(substr(events.at, 1, 19)) * 1000000
                       + CAST(substr(events.at, 21, 6) AS INTEGER) AS at,
                   CASE events.kind
                       WHEN 'run-state' THEN 1 WHEN 'step-started' THEN 2
                       WHEN 'step-succeeded' THEN 3 WHEN 'step-failed' THEN 4
                       WHEN 'step-skipped' THEN 5 WHEN 'waiting' THEN 6 WHEN 'log' THEN 7
                       WHEN 'delayed' THEN 8 WHEN 'reminder' THEN 9
                       WHEN 'notification-delivered' THEN 10
                       WHEN 'notification-failed' THEN 11 WHEN 'rescheduled' THEN 12
                       WHEN 'emergency' THEN 13 WHEN 'retry-step' THEN 14
                       ELSE events.kind END AS kind,
                   events.detail AS detail
               FROM events JOIN runs ON runs.id = events.run);
     DROP TABLE events;
     ALTER TABLE compact_events RENAME TO events;",
    // 7: finished runs packed (issue 17: 5.2 KB per finished run before). A finished run's
    // record is kept as bytes in `record` (see `state::packed`; text records still read), and
    // its log as one packed row of `archives` (keyed by the run's number: the sequence and time
    // of its last event, and the events). Events appended to a finished run join its archive;
    // those of a run that is not finished stay in `events`, after any archive it has. Runs
    // finished before keep their rows, which still read, until their next change. The index of
    // runs by target and state is dropped: no query reads runs by target (locks have their own
    // table), and it was 47 bytes a run.
    "CREATE TABLE archives (
         run INTEGER PRIMARY KEY REFERENCES runs (number),
         sequence INTEGER NOT NULL,
         at INTEGER NOT NULL,
         log BLOB NOT NULL
     );
     DROP INDEX IF EXISTS runs_by_target;",
];

/// What a path keeps literally in an SQLite URI; everything else is percent-encoded.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The schema version this build writes.
#[expect(
    clippy::cast_possible_wrap,
    reason = "there are a handful of migrations, not 2^63"
)]
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Statements run through the connection's statement cache: a tick runs the same few
/// statements thousands of times, and preparing each anew was a tenth of its instructions.
trait Cached {
    fn run_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn run_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, read)
    }
}

pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// The model this connection last read or committed, and the file's `data_version` then.
    seen: Mutex<Option<Seen>>,
}

/// A model as this connection last saw it. SQLite's `PRAGMA data_version` changes only when
/// another connection commits, so while it stands still the model is still at this version
/// and a reader's poll costs no query of the model's tables.
struct Seen {
    key: String,
    version: i64,
    head: String,
    data_version: i64,
}

impl SqliteStore {
    /// Opens (creating the file and its directory if needed) and migrates a state file; waits up
    /// to 5 s for another process that holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Duration::from_secs(5))
    }

    /// [`Self::open`] with how long to wait for another process that holds the file.
    pub fn open_with(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let fail = |message: String| StoreError::Open {
            location: path.display().to_string(),
            message,
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|error| fail(format!("cannot create `{}`: {error}", parent.display())))?;
        }
        let connection = Connection::open(path).map_err(|error| fail(error.to_string()))?;
        connection
            .busy_timeout(busy_timeout)
            .map_err(|error| fail(error.to_string()))?;
        // Every statement a pass runs stays prepared (rusqlite keeps 16 by default), and stays
        // as prepared: without the query planner stability guarantee, SQLite prepares a
        // statement again whenever a value bound to `version = ?` or `fence = ?` crosses 0 or 1
        // (a planner heuristic), which was every other `update_run` of a tick.
        connection.set_prepared_statement_cache_capacity(STATEMENTS);
        connection
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .map_err(|error| fail(error.to_string()))?;
        let store = Self {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            seen: Mutex::new(None),
        };
        // A file another process is creating or migrating at the same moment can answer busy
        // without SQLite's busy handler waiting (switching a new file to WAL needs it alone,
        // and a reader of the old journal cannot wait for that): try again until the wait is up.
        let deadline = std::time::Instant::now() + busy_timeout;
        loop {
            match store.migrate() {
                Err(StoreError::Busy { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                migrated => break migrated?,
            }
        }
        Ok(store)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn error(&self, error: &rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        let location = self.location();
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy { location }
            }
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                location,
                message: error.to_string(),
            },
            _ => StoreError::Io {
                location,
                message: error.to_string(),
            },
        }
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The schema version of a refreshctl state file (0: a new, empty file); refuses another
    /// application's database and a newer refreshctl's file.
    fn schema_version(&self, connection: &Connection) -> Result<i64, StoreError> {
        // One statement, so one snapshot: read apart, the three could straddle another
        // process's commit of a new file's first migration (no application id yet, then its
        // tables), which looked like another application's database.
        let (application, version, tables): (i64, i64, i64) = connection
            .query_row(
                "SELECT application_id, user_version, (SELECT count(*) FROM sqlite_master)
                 FROM pragma_application_id, pragma_user_version",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(|error| self.error(&error))?;
        if application != APPLICATION_ID && (application != 0 || tables > 0) {
            return Err(StoreError::Corrupt {
                location: self.location(),
                message: "the file is an SQLite database, but not a refreshctl state file".into(),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                location: self.location(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(version)
    }

    /// Opens a state file for reading only (`runs`, `status`): nothing is created, migrated or
    /// written, so a file that cannot be written (read-only, immutable, on a read-only mount, in
    /// a directory where the WAL's shared memory file cannot be made) still reads. A file at an
    /// older schema version is read through a migrated copy in memory; a missing file reads as
    /// an empty store. Writes through the store fail.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let fail = |message: String| StoreError::Open {
            location: path.display().to_string(),
            message,
        };
        let in_memory = |source: Option<&Connection>| -> Result<Self, StoreError> {
            let mut memory =
                Connection::open_in_memory().map_err(|error| fail(error.to_string()))?;
            if let Some(source) = source {
                let copied = rusqlite::backup::Backup::new(source, &mut memory)
                    .and_then(|backup| backup.step(-1));
                match copied {
                    Ok(rusqlite::backup::StepResult::Done) => {}
                    Ok(_) => {
                        return Err(StoreError::Busy {
                            location: path.display().to_string(),
                        });
                    }
                    Err(error) => return Err(fail(error.to_string())),
                }
            }
            let store = Self {
                path: path.to_path_buf(),
                connection: Mutex::new(memory),
                seen: Mutex::new(None),
            };
            store.migrate()?;
            store.query_only()?;
            Ok(store)
        };
        match std::fs::metadata(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return in_memory(None),
            Err(error) => return Err(fail(error.to_string())),
            Ok(_) => {}
        }
        let store = match Self::open_reading(path, false) {
            Ok(store) => store,
            // SQLite could not take its usual shared locks (the WAL's `-shm` file cannot be
            // made there, say): read the file as one that nothing can change, which it is.
            Err(StoreError::Io { .. } | StoreError::Open { .. }) => Self::open_reading(path, true)?,
            Err(other) => return Err(other),
        };
        let version = {
            let connection = store.connection();
            store.schema_version(&connection)?
        };
        if version < SCHEMA_VERSION {
            let connection = store.connection();
            return in_memory(Some(&connection));
        }
        Ok(store)
    }

    /// A read-only connection to an existing file, checked by reading its header;
    /// `immutable`: without locks, for a file in a place nothing can write.
    fn open_reading(path: &Path, immutable: bool) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let fail = |message: String| StoreError::Open {
            location: path.display().to_string(),
            message,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = if immutable {
            let absolute = std::path::absolute(path).map_err(|error| fail(error.to_string()))?;
            let text = absolute
                .to_str()
                .ok_or_else(|| fail("the path is not UTF-8".into()))?;
            let uri = format!(
                "file:{}?immutable=1",
                percent_encoding::utf8_percent_encode(text, URI_PATH)
            );
            Connection::open_with_flags(uri, flags)
        } else {
            Connection::open_with_flags(path, flags & !OpenFlags::SQLITE_OPEN_URI)
        }
        .map_err(|error| fail(error.to_string()))?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(|error| fail(error.to_string()))?;
        let store = Self {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            seen: Mutex::new(None),
        };
        {
            let connection = store.connection();
            connection
                .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(|error| store.error(&error))?;
        }
        Ok(store)
    }

    /// Refuses every write on this connection.
    fn query_only(&self) -> Result<(), StoreError> {
        self.connection()
            .pragma_update(None, "query_only", true)
            .map_err(|error| self.error(&error))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.connection();
        self.schema_version(&connection)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| connection.pragma_update(None, "foreign_keys", "ON"))
            .and_then(|()| {
                connection.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            })
            .map_err(|error| self.error(&error))?;
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        // Another process may have migrated between the check and the lock: read again.
        let version: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|error| self.error(&error))?;
        for (index, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            transaction
                .execute_batch(migration)
                .map_err(|error| self.error(&error))?;
            transaction
                .pragma_update(
                    None,
                    "user_version",
                    i64::try_from(index + 1).unwrap_or(i64::MAX),
                )
                .map_err(|error| self.error(&error))?;
        }
        transaction
            .pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|error| self.error(&error))?;
        transaction.commit().map_err(|error| self.error(&error))
    }

    pub fn insert_run(&self, run: &RunRecord) -> Result<Claim, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let claim = self.insert_past_others(&transaction, run)?;
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(claim)
    }

    /// Inserts `run` under the first id of its window that is free, unless a run that counts
    /// for its adapter holds one first (see [`super::StateStore::insert_run`]).
    fn insert_past_others(
        &self,
        connection: &Connection,
        run: &RunRecord,
    ) -> Result<Claim, StoreError> {
        let mut candidate = run.clone();
        for _ in 0..MAX_IDS_PER_WINDOW {
            let holder: Option<Option<String>> = connection
                .row_cached(
                    "SELECT adapter FROM runs WHERE id = ?1",
                    [&candidate.id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|error| self.error(&error))?;
            match holder {
                None => return self.insert_new(connection, &candidate).map(Claim::Inserted),
                Some(recorded) if counts_for(recorded.as_deref(), run.adapter) => {
                    return self
                        .read_run(connection, &candidate.id)?
                        .map(Claim::Existing)
                        .ok_or_else(|| StoreError::Conflict {
                            run: candidate.id.clone(),
                        });
                }
                Some(_) => candidate.id = RunRecord::next_id(&candidate.id),
            }
        }
        Err(StoreError::Io {
            location: self.location(),
            message: format!(
                "{MAX_IDS_PER_WINDOW} runs of other adapters hold the window of `{}`",
                run.id
            ),
        })
    }

    /// Inserts a run known to be new, at version 1 and fence 0, due at once.
    fn insert_new(
        &self,
        connection: &Connection,
        run: &RunRecord,
    ) -> Result<RunRecord, StoreError> {
        let mut stored = run.clone();
        stored.version = 1;
        stored.fence = 0;
        connection
            .run_cached(
                "INSERT INTO runs (id, plan, target, state, window_start, window_end, version, record,
                 adapter, number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                 (SELECT coalesce(max(number), 0) + 1 FROM runs))",
                params![
                    stored.id,
                    stored.plan,
                    stored.target,
                    stored.state.name(),
                    time(stored.window_start),
                    time(stored.window_end),
                    1,
                    self.encode(&stored)?,
                    stored.adapter.map(crate::adapter::AdapterKind::name)
                ],
            )
            .map_err(|error| self.error(&error))?;
        Ok(stored)
    }

    fn read_run(&self, connection: &Connection, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let mut statement = connection
            .prepare_cached("SELECT record, fence, id, plan, target FROM runs WHERE id = ?1")
            .map_err(|error| self.error(&error))?;
        let mut rows = statement.query([id]).map_err(|error| self.error(&error))?;
        let Some(row) = rows.next().map_err(|error| self.error(&error))? else {
            return Ok(None);
        };
        self.decode_row(row).map(Some)
    }

    fn encode(&self, run: &RunRecord) -> Result<StoredRecord, StoreError> {
        encode_run(&self.location(), run)
    }

    /// A run from a row whose columns are its record (text or packed bytes), fence, id, plan
    /// and target.
    fn decode_row(&self, row: &rusqlite::Row<'_>) -> Result<RunRecord, StoreError> {
        use rusqlite::types::ValueRef;
        let fence: i64 = row.get(1).map_err(|error| self.error(&error))?;
        match row.get_ref(0).map_err(|error| self.error(&error))? {
            ValueRef::Blob(bytes) => {
                let text = |index: usize| row.get::<_, String>(index);
                let columns = packed::Columns {
                    id: text(2).map_err(|error| self.error(&error))?,
                    plan: text(3).map_err(|error| self.error(&error))?,
                    target: text(4).map_err(|error| self.error(&error))?,
                };
                decode_packed_run(&self.location(), bytes, fence, columns)
            }
            ValueRef::Text(text) => {
                let text = std::str::from_utf8(text).map_err(|error| StoreError::Corrupt {
                    location: self.location(),
                    message: format!("a run record is not UTF-8: {error}"),
                })?;
                decode_run(&self.location(), text, fence)
            }
            other => Err(StoreError::Corrupt {
                location: self.location(),
                message: format!("a run record is {:?}, not text", other.data_type()),
            }),
        }
    }

    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let connection = self.connection();
        self.read_run(&connection, id)
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = Vec::new();
        self.each_run(&mut |run| {
            runs.push(run);
            true
        })?;
        Ok(runs)
    }

    /// Every run, by window start, handed to `each` as it is read (until it returns false). A
    /// record that cannot be read is named by its run, as `runs` may stop at it.
    pub fn each_run(&self, each: &mut dyn FnMut(RunRecord) -> bool) -> Result<(), StoreError> {
        let mut failed = None;
        self.each_run_row(&mut |row| match row.decode() {
            Ok(run) => each(run),
            Err(error) => {
                failed = Some(error);
                false
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Every run's row by window start, each handed over before it is decoded (see
    /// [`RunRow`]); each is read from SQLite's own copy of the row, not a copy of all of them.
    pub fn each_run_row(&self, each: &mut dyn FnMut(RunRow) -> bool) -> Result<(), StoreError> {
        use rusqlite::types::ValueRef;
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT record, fence, id, plan, target FROM runs ORDER BY window_start, id",
            )
            .map_err(|error| self.error(&error))?;
        let mut rows = statement.query([]).map_err(|error| self.error(&error))?;
        let location = self.location();
        while let Some(row) = rows.next().map_err(|error| self.error(&error))? {
            let id = match row.get_ref(2) {
                Ok(ValueRef::Text(id)) => Some(String::from_utf8_lossy(id).into_owned()),
                _ => None,
            };
            let named = |error: StoreError| match &id {
                Some(id) => error.of_run(id),
                None => error,
            };
            let fence: i64 = row.get(1).map_err(|error| named(self.error(&error)))?;
            let form = match row.get_ref(0).map_err(|error| named(self.error(&error)))? {
                ValueRef::Blob(bytes) => {
                    let text = |index: usize| {
                        row.get::<_, String>(index)
                            .map_err(|error| named(self.error(&error)))
                    };
                    RowForm::Packed {
                        location: location.clone(),
                        bytes: bytes.to_vec(),
                        fence,
                        columns: packed::Columns {
                            id: text(2)?,
                            plan: text(3)?,
                            target: text(4)?,
                        },
                    }
                }
                ValueRef::Text(text) => RowForm::Text {
                    location: location.clone(),
                    bytes: text.to_vec(),
                    fence,
                    id: id.clone(),
                },
                other => {
                    return Err(named(StoreError::Corrupt {
                        location,
                        message: format!("a run record is {:?}, not text", other.data_type()),
                    }));
                }
            };
            if !each(RunRow { form }) {
                break;
            }
        }
        Ok(())
    }

    /// The runs that wait for a person (`awaiting-approval`, `needs-attention`), by window start.
    pub fn waiting_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT record, fence, id, plan, target FROM runs WHERE state IN ({WAITING_STATES})
                 ORDER BY window_start, id"
            ))
            .map_err(|error| self.error(&error))?;
        let mut rows = statement.query([]).map_err(|error| self.error(&error))?;
        let mut runs = Vec::new();
        while let Some(row) = rows.next().map_err(|error| self.error(&error))? {
            runs.push(self.decode_row(row)?);
        }
        Ok(runs)
    }

    /// Every run's id, plan, state and window, by window start, without reading whole records.
    pub fn run_summaries(&self) -> Result<Vec<RunSummary>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, plan, state, window_start, window_end, adapter FROM runs
                 ORDER BY window_start, id",
            )
            .map_err(|error| self.error(&error))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))?;
        summaries(&self.location(), rows)
    }

    /// Writes `run` if the stored version and fence are the ones it was read at; bumps its
    /// version and makes it due (whoever holds its lease says when next, on release).
    pub fn update_run(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        let mut next = run.clone();
        next.version = run.version + 1;
        let mut connection = self.connection();
        if next.state.is_finished() {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|error| self.error(&error))?;
            self.write_run(&transaction, run.version, &next)?;
            transaction.commit().map_err(|error| self.error(&error))?;
        } else {
            self.write_run(&connection, run.version, &next)?;
        }
        *run = next;
        Ok(())
    }

    /// Makes `writes` in one transaction (see [`crate::state::StateStore::write_all`]).
    pub fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        // A run written again later in the same transaction (over the version this write
        // leaves) is written once, as it ends up: the later write takes this one's place and
        // the version it was read at. The writes between do not need the row this one would
        // leave: an event checks the fence, which no write of a record changes, and a log it
        // leaves unpacked is packed by the last write if the run ends. An advance wrote each
        // run twice in most of its transactions.
        let mut carried: Vec<Option<u64>> = vec![None; writes.len()];
        // Where each run's log ends, read once: the run's number, fence and whether it is
        // finished, and its last entry (a write of the run changes only the last).
        let mut ends: Vec<(&str, LogEnd)> = Vec::new();
        for (at, write) in writes.iter().enumerate() {
            match write {
                Write::Run { next, read } => {
                    let read = carried[at].unwrap_or(*read);
                    let again = writes[at + 1..].iter().position(|later| {
                        matches!(later, Write::Run { next: later, read }
                            if later.id == next.id && *read == next.version)
                    });
                    if let Some(offset) = again {
                        carried[at + 1 + offset] = Some(read);
                        continue;
                    }
                    self.write_run(&transaction, read, next)?;
                    if let Some((_, end)) = ends.iter_mut().find(|(run, _)| *run == next.id) {
                        end.finished = next.state.is_finished();
                    }
                }
                Write::Event {
                    run,
                    fence,
                    kind,
                    detail,
                    at,
                } => {
                    let index = if let Some(index) = ends.iter().position(|(known, _)| known == run)
                    {
                        index
                    } else {
                        ends.push((run, self.log_end(&transaction, run)?));
                        ends.len() - 1
                    };
                    let end = &mut ends[index].1;
                    self.append_after(&transaction, end, run, *fence, kind, detail, *at)?;
                }
                Write::Unlock { target, run } => self.unlock_in(&transaction, target, run)?,
            }
        }
        // Dropped without a commit on any error above: none of the writes is made.
        transaction.commit().map_err(|error| self.error(&error))
    }

    /// Writes `next` over the run if it is still at version `read` and `next`'s fence; a run
    /// that ends has its log packed with its record (`connection` is a transaction then).
    fn write_run(
        &self,
        connection: &Connection,
        read: u64,
        next: &RunRecord,
    ) -> Result<(), StoreError> {
        let params = params![
            next.state.name(),
            time(next.window_start),
            int(next.version),
            self.encode(next)?,
            next.id,
            int(read),
            time(next.window_end),
            int(next.fence),
            next.plan,
            next.target
        ];
        // SQLite rewrites an index's entry whenever its column is set, to the same value or
        // not. Most writes change neither the state nor the window (a step's intent, a poll)
        // and the window hardly ever changes, so each write is tried first setting none of
        // what the indexes hold, then only the state and due time, then everything: a busy
        // pass over 10,000 plans wrote 6,400 pages of `runs_by_window` before.
        let mut changed = 0;
        for update in [
            "UPDATE runs SET window_end = ?7, version = ?3, record = ?4, plan = ?9, target = ?10
             WHERE id = ?5 AND version = ?6 AND fence = ?8
             AND state = ?1 AND window_start = ?2 AND next_due IS NULL",
            "UPDATE runs SET state = ?1, window_end = ?7, version = ?3, record = ?4, plan = ?9,
             target = ?10, next_due = NULL
             WHERE id = ?5 AND version = ?6 AND fence = ?8 AND window_start = ?2",
            "UPDATE runs SET state = ?1, window_start = ?2, window_end = ?7, version = ?3,
             record = ?4, plan = ?9, target = ?10, next_due = NULL
             WHERE id = ?5 AND version = ?6 AND fence = ?8",
        ] {
            changed = connection
                .run_cached(update, params)
                .map_err(|error| self.error(&error))?;
            if changed > 0 {
                break;
            }
        }
        if changed == 0 {
            return Err(StoreError::Conflict {
                run: next.id.clone(),
            });
        }
        if next.state.is_finished() {
            let number: i64 = connection
                .row_cached("SELECT number FROM runs WHERE id = ?1", [&next.id], |row| {
                    row.get(0)
                })
                .map_err(|error| self.error(&error))?;
            self.archive(connection, number)?;
        }
        Ok(())
    }

    /// Packs run `number`'s events that are not packed yet into its archive (with those it
    /// holds), and deletes their rows: a finished run's log is one row.
    fn archive(&self, connection: &Connection, number: i64) -> Result<(), StoreError> {
        let loose = self.loose_events(connection, number)?;
        if loose.is_empty() {
            return Ok(());
        }
        let (events, last) = packed::join(self.archived_events(connection, number)?, loose);
        connection
            .run_cached(
                "INSERT INTO archives (run, sequence, at, log) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (run) DO UPDATE SET sequence = excluded.sequence, at = excluded.at,
                 log = excluded.log",
                params![number, last.0, last.1, packed::pack_events(&events)],
            )
            .map_err(|error| self.error(&error))?;
        connection
            .run_cached("DELETE FROM events WHERE run = ?1", [number])
            .map_err(|error| self.error(&error))?;
        Ok(())
    }

    /// Run `number`'s packed events, oldest first (none: it has no archive).
    fn archived_events(
        &self,
        connection: &Connection,
        number: i64,
    ) -> Result<Vec<packed::StoredEvent>, StoreError> {
        let log: Option<Vec<u8>> = connection
            .row_cached("SELECT log FROM archives WHERE run = ?1", [number], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| self.error(&error))?;
        log.map_or_else(
            || Ok(Vec::new()),
            |log| {
                packed::unpack_events(&log).map_err(|error| StoreError::Corrupt {
                    location: self.location(),
                    message: format!("the log of run number {number} cannot be read: {error}"),
                })
            },
        )
    }

    /// Run `number`'s events that are not packed: sequence, time after the event before,
    /// kind and detail as stored, in order.
    fn loose_events(
        &self,
        connection: &Connection,
        number: i64,
    ) -> Result<Vec<packed::LooseEvent>, StoreError> {
        let mut statement = connection
            .prepare_cached(
                "SELECT sequence, at, kind, detail FROM events WHERE run = ?1 ORDER BY sequence",
            )
            .map_err(|error| self.error(&error))?;
        statement
            .query_map([number], |row| {
                let kind = match row.get::<_, rusqlite::types::Value>(2)? {
                    rusqlite::types::Value::Integer(code) => compact::StoredKind::Code(code),
                    rusqlite::types::Value::Text(text) => compact::StoredKind::Text(text),
                    other => compact::StoredKind::Text(format!("{other:?}")),
                };
                Ok((row.get(0)?, row.get(1)?, kind, row.get(3)?))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))
    }

    /// Claims up to `limit` runs that are due and not leased by anyone else, for `owner` until
    /// `now + lease`; each claim bumps the run's fence.
    pub fn claim_due(
        &self,
        owner: &str,
        adapter: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        // One walk of the `runs_due` index per active state, each in its order and stopping at
        // `limit`, then merged: one query over all three states sorted every due run (2,000 in
        // a busy pass over 10,000 plans, 0.5 ms) again for each batch. SQLite sorts a missing
        // `next_due` first, as the order below does.
        let mut due: Vec<(Option<String>, String)> = Vec::with_capacity(limit * 3);
        {
            let mut statement = transaction
                .prepare_cached(
                    "SELECT next_due, id FROM runs WHERE state = ?4
                     AND (next_due IS NULL OR next_due <= ?1)
                     AND (lease_until IS NULL OR lease_until <= ?1)
                     AND (adapter = ?3 OR (adapter IS NULL AND ?3 <> 'simulator'))
                     ORDER BY next_due, id LIMIT ?2",
                )
                .map_err(|error| self.error(&error))?;
            let now = time(now);
            for state in ACTIVE {
                let rows = statement
                    .query_map(params![now, int(limit as u64), adapter, state], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .map_err(|error| self.error(&error))?;
                for row in rows {
                    due.push(row.map_err(|error| self.error(&error))?);
                }
            }
        }
        due.sort_unstable();
        due.truncate(limit);
        let ids = due.into_iter().map(|(_, id)| id);
        let mut claimed = Vec::with_capacity(limit);
        for id in ids {
            if let LeaseOutcome::Claimed(claim) =
                self.take_lease(&transaction, &id, owner, now, lease)?
            {
                claimed.push(*claim);
            }
        }
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(claimed)
    }

    /// Claims one run for `owner` unless another owner's lease on it is still running.
    pub fn claim_run(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let outcome = self.take_lease(&transaction, id, owner, now, lease)?;
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(outcome)
    }

    fn take_lease(
        &self,
        connection: &Connection,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<LeaseOutcome, StoreError> {
        let holder: Option<(Option<String>, Option<String>)> = connection
            .row_cached(
                "SELECT lease_owner, lease_until FROM runs WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|error| self.error(&error))?;
        let Some((holder, until)) = holder else {
            return Ok(LeaseOutcome::NotFound);
        };
        let previous = match (holder, until.as_deref().and_then(parse_time)) {
            (Some(holder), Some(until)) if holder != owner => Some(Lease {
                owner: holder,
                until,
            }),
            _ => None,
        };
        if let Some(held) = previous.as_ref().filter(|held| held.until > now) {
            return Ok(LeaseOutcome::Held(held.clone()));
        }
        connection
            .run_cached(
                "UPDATE runs SET lease_owner = ?2, lease_until = ?3, fence = fence + 1 WHERE id = ?1",
                params![id, owner, time(now + lease)],
            )
            .map_err(|error| self.error(&error))?;
        self.read_run(connection, id)?
            .map_or(Ok(LeaseOutcome::NotFound), |run| {
                Ok(LeaseOutcome::Claimed(Box::new(Claimed {
                    run,
                    taken_over: previous,
                })))
            })
    }

    /// Extends `run`'s lease; false when the lease was taken over (its fence moved on).
    pub fn heartbeat(
        &self,
        run: &RunRecord,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .run_cached(
                "UPDATE runs SET lease_until = ?3 WHERE id = ?1 AND fence = ?2 AND lease_owner = ?4",
                params![run.id, int(run.fence), time(now + lease), owner],
            )
            .map_err(|error| self.error(&error))?;
        Ok(changed == 1)
    }

    /// Gives `run`'s lease up, saying when it is next due (`None`: at once, or never for a
    /// run that is over or waits for an operator). Fenced: a lease taken over is not touched.
    pub fn release(
        &self,
        releases: &[(&RunRecord, Option<DateTime<Utc>>)],
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        for (run, next_due) in releases {
            transaction
                .run_cached(
                    "UPDATE runs SET lease_owner = NULL, lease_until = NULL, next_due = ?3
                     WHERE id = ?1 AND fence = ?2",
                    params![run.id, int(run.fence), next_due.map(time)],
                )
                .map_err(|error| self.error(&error))?;
        }
        transaction.commit().map_err(|error| self.error(&error))
    }

    /// When the next active run is due: the later of its due time and any lease on it.
    pub fn next_due(&self, adapter: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT next_due, lease_until FROM runs WHERE state IN ({ACTIVE_STATES})
                 AND (adapter = ?1 OR (adapter IS NULL AND ?1 <> 'simulator'))"
            ))
            .map_err(|error| self.error(&error))?;
        let rows = statement
            .query_map([adapter], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                ))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))?;
        Ok(earliest_due(rows.iter().map(|(due, lease)| {
            (
                due.as_deref().and_then(parse_time),
                lease.as_deref().and_then(parse_time),
            )
        })))
    }

    /// Decides an occurrence once: records it (and inserts its run, unless skipped) if no one
    /// decided it before. Returns whether this call decided it.
    pub fn decide_occurrence(
        &self,
        occurrence: &OccurrenceRecord,
        run: Option<&RunRecord>,
    ) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let adapter = adapter_column(occurrence.adapter);
        let decided: bool = transaction
            .row_cached(
                DECIDED,
                params![occurrence.plan, time(occurrence.window_start), adapter],
                |row| row.get(0),
            )
            .map_err(|error| self.error(&error))?;
        if decided {
            return Ok(None);
        }
        let id = match run {
            Some(run) => match self.insert_past_others(&transaction, run)? {
                Claim::Inserted(run) | Claim::Existing(run) => run.id,
            },
            None => occurrence.run.clone(),
        };
        transaction
            .run_cached(
                "INSERT INTO occurrences (adapter, plan, window_start, run, skipped, decided)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    adapter,
                    occurrence.plan,
                    time(occurrence.window_start),
                    id,
                    occurrence.skipped,
                    time(occurrence.decided)
                ],
            )
            .map_err(|error| self.error(&error))?;
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(Some(id))
    }

    /// Decides skipped occurrences in one transaction (see
    /// [`super::StateStore::decide_skipped`]): one commit for a pass's skips instead of one each.
    pub fn decide_skipped(
        &self,
        occurrences: &[OccurrenceRecord],
    ) -> Result<Vec<bool>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let mut decided = Vec::with_capacity(occurrences.len());
        {
            let mut earlier = transaction
                .prepare_cached(DECIDED)
                .map_err(|error| self.error(&error))?;
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO occurrences (adapter, plan, window_start, run, skipped, decided)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|error| self.error(&error))?;
            for occurrence in occurrences {
                let adapter = adapter_column(occurrence.adapter);
                let start = time(occurrence.window_start);
                let known: bool = earlier
                    .query_row(params![occurrence.plan, start, adapter], |row| row.get(0))
                    .map_err(|error| self.error(&error))?;
                if !known {
                    insert
                        .execute(params![
                            adapter,
                            occurrence.plan,
                            start,
                            occurrence.run,
                            occurrence.skipped,
                            time(occurrence.decided)
                        ])
                        .map_err(|error| self.error(&error))?;
                }
                decided.push(!known);
            }
        }
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(decided)
    }

    /// The adapters other than the simulator that recorded runs here.
    pub fn real_adapters(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT DISTINCT adapter FROM runs
                 WHERE adapter IS NOT NULL AND adapter <> 'simulator' ORDER BY adapter",
            )
            .map_err(|error| self.error(&error))?;
        statement
            .query_map([], |row| row.get(0))
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|error| self.error(&error))
    }

    /// The occurrences decided, by plan and start.
    pub fn occurrences(&self) -> Result<Vec<OccurrenceRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT plan, window_start, run, skipped, decided, adapter FROM occurrences
                 ORDER BY plan, window_start, adapter",
            )
            .map_err(|error| self.error(&error))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))?;
        occurrence_records(&self.location(), rows)
    }

    /// Records `names` as seen at `now` (those seen before keep their time), and returns every
    /// plan's first sighting and latest decided occurrence.
    pub fn see_plans(
        &self,
        adapter: &str,
        names: &[&str],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, PlanMark>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        // The marks first: after the first pass every plan has one, and an insert for a plan
        // that has one does nothing (most of a pass's store work when each was tried).
        let mut rows = self.plan_mark_rows(&transaction, adapter)?;
        let unseen: Vec<&str> = {
            let known: std::collections::HashSet<&str> =
                rows.iter().map(|(name, ..)| name.as_str()).collect();
            names
                .iter()
                .copied()
                .filter(|name| !known.contains(name))
                .collect()
        };
        if !unseen.is_empty() {
            {
                let mut insert = transaction
                    .prepare_cached(
                        "INSERT INTO plans (adapter, name, first_seen) SELECT ?3, ?1, ?2
                         WHERE NOT EXISTS (SELECT 1 FROM plans WHERE name = ?1 AND adapter = '')
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(|error| self.error(&error))?;
                let seen = time(now);
                for name in unseen {
                    insert
                        .execute(params![name, seen, adapter])
                        .map_err(|error| self.error(&error))?;
                }
            }
            rows = self.plan_mark_rows(&transaction, adapter)?;
        }
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(plan_marks(rows))
    }

    /// Every plan's first sighting and latest decided occurrence, as stored.
    fn plan_mark_rows(
        &self,
        connection: &Connection,
        adapter: &str,
    ) -> Result<Vec<MarkRow>, StoreError> {
        let mut statement = connection
            .prepare_cached(
                "SELECT name, first_seen, (SELECT max(window_start) FROM occurrences
                 WHERE occurrences.plan = plans.name AND occurrences.adapter IN (?1, ''))
                 FROM plans WHERE adapter IN (?1, '')",
            )
            .map_err(|error| self.error(&error))?;
        statement
            .query_map([adapter], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))
    }

    pub fn append_event(
        &self,
        run: &str,
        fence: Option<u64>,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let event = self.append_in(&transaction, run, fence, kind, detail, at)?;
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(event)
    }

    /// Appends to run `run`'s log in `transaction`, if `fence` (when given) is its fence.
    fn append_in(
        &self,
        transaction: &Connection,
        run: &str,
        fence: Option<u64>,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        let mut end = self.log_end(transaction, run)?;
        self.append_after(transaction, &mut end, run, fence, kind, detail, at)
    }

    /// Where run `run`'s log ends, as stored.
    fn log_end(&self, transaction: &Connection, run: &str) -> Result<LogEnd, StoreError> {
        let stored: Option<(i64, i64, bool)> = transaction
            .row_cached(
                &format!(
                    "SELECT number, fence, state IN ({FINISHED_STATES}) FROM runs WHERE id = ?1"
                ),
                [run],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(|error| self.error(&error))?;
        let Some((number, fence, finished)) = stored else {
            return Err(StoreError::Io {
                location: self.location(),
                message: format!("run `{run}` is not in the store"),
            });
        };
        // Times are kept as the difference from the event before: the sum of the run's, on
        // top of the time of the last packed event.
        let (sequence, at): (i64, i64) = transaction
            .prepare_cached(
                "SELECT coalesce(max(sequence), 0) + 1, coalesce(sum(at), 0) FROM
                 (SELECT sequence, at FROM archives WHERE run = ?1
                  UNION ALL SELECT sequence, at FROM events WHERE run = ?1)",
            )
            .and_then(|mut statement| {
                statement.query_row([number], |row| Ok((row.get(0)?, row.get(1)?)))
            })
            .map_err(|error| self.error(&error))?;
        Ok(LogEnd {
            number,
            fence,
            finished,
            sequence,
            at,
        })
    }

    /// Appends an entry to the log that ends at `end`, and moves `end` past it.
    #[allow(clippy::too_many_arguments)]
    fn append_after(
        &self,
        transaction: &Connection,
        end: &mut LogEnd,
        run: &str,
        fence: Option<u64>,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        if fence.is_some_and(|fence| end.fence != int(fence)) {
            return Err(StoreError::Conflict {
                run: run.to_owned(),
            });
        }
        let kind_column = match compact::kind_code(kind) {
            compact::StoredKind::Code(code) => rusqlite::types::Value::Integer(code),
            compact::StoredKind::Text(text) => rusqlite::types::Value::Text(text),
        };
        let micros = compact::micros(at);
        transaction
            .prepare_cached(
                "INSERT INTO events (run, sequence, at, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    end.number,
                    end.sequence,
                    micros.wrapping_sub(end.at),
                    kind_column,
                    compact::encode_detail(kind, detail)
                ])
            })
            .map_err(|error| self.error(&error))?;
        if end.finished {
            self.archive(transaction, end.number)?;
        }
        let sequence = end.sequence;
        end.sequence += 1;
        end.at = micros;
        Ok(EventRecord {
            run: run.to_owned(),
            sequence: u64::try_from(sequence).unwrap_or_default(),
            at,
            kind: kind.to_owned(),
            detail: detail.clone(),
        })
    }

    pub fn events(&self, run: &str) -> Result<Vec<EventRecord>, StoreError> {
        let connection = self.connection();
        let number: Option<i64> = connection
            .row_cached("SELECT number FROM runs WHERE id = ?1", [run], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| self.error(&error))?;
        let Some(number) = number else {
            return Ok(Vec::new());
        };
        let archived = self
            .archived_events(&connection, number)
            .map_err(|error| error.of_run(run))?;
        let loose = self.loose_events(&connection, number)?;
        let location = self.location();
        let (events, _) = packed::join(archived, loose);
        events
            .into_iter()
            .map(|event| {
                decode_event(
                    &location,
                    run,
                    event.sequence,
                    event.at,
                    event.kind,
                    &event.detail,
                )
            })
            .collect()
    }

    /// Takes the target's lock for `run`, unless another run holds it.
    pub fn lock(
        &self,
        target: &str,
        run: &str,
        at: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let holder: Option<String> = transaction
            .row_cached("SELECT run FROM locks WHERE target = ?1", [target], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| self.error(&error))?;
        let outcome = match holder {
            Some(holder) if holder != run => LockOutcome::HeldBy(holder),
            Some(_) => LockOutcome::Acquired,
            None => {
                transaction
                    .run_cached(
                        "INSERT INTO locks (target, run, acquired) VALUES (?1, ?2, ?3)",
                        params![target, run, time(at)],
                    )
                    .map_err(|error| self.error(&error))?;
                LockOutcome::Acquired
            }
        };
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(outcome)
    }

    /// Releases the target's lock if `run` holds it.
    pub fn unlock(&self, target: &str, run: &str) -> Result<(), StoreError> {
        self.unlock_in(&self.connection(), target, run)
    }

    fn unlock_in(
        &self,
        connection: &Connection,
        target: &str,
        run: &str,
    ) -> Result<(), StoreError> {
        connection
            .run_cached(
                "DELETE FROM locks WHERE target = ?1 AND run = ?2",
                params![target, run],
            )
            .map_err(|error| self.error(&error))?;
        Ok(())
    }

    pub fn raise_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        self.connection()
            .run_cached(
                "INSERT INTO documents (key, body, version) VALUES (?1, ?2, 1)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body, version = version + 1
                 WHERE excluded.body > documents.body",
                params![key, body],
            )
            .map_err(|error| self.error(&error))?;
        Ok(())
    }

    pub fn load_document(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.connection()
            .row_cached("SELECT body FROM documents WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| self.error(&error))
    }

    /// Every document whose key starts with `prefix`, by key.
    pub fn documents(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT key, body FROM documents WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )
            .map_err(|error| self.error(&error))?;
        statement
            .query_map([prefix], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))
    }

    pub fn delete_document(&self, key: &str) -> Result<(), StoreError> {
        self.connection()
            .run_cached("DELETE FROM documents WHERE key = ?1", [key])
            .map_err(|error| self.error(&error))?;
        Ok(())
    }

    pub fn save_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        self.connection()
            .run_cached(
                "INSERT INTO documents (key, body, version) VALUES (?1, ?2, 1)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body, version = version + 1",
                params![key, body],
            )
            .map_err(|error| self.error(&error))?;
        Ok(())
    }

    /// The model stored under `key` (`None`: none is), with the rows changed after version
    /// `since` (every row without it), read in one statement, so from one snapshot. A reader
    /// that is up to date, with no other connection having committed since, is told so without
    /// a query of the model's tables.
    pub fn load_model(
        &self,
        key: &str,
        since: Option<i64>,
    ) -> Result<Option<ModelRows>, StoreError> {
        let connection = self.connection();
        let data_version: i64 = connection
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|error| self.error(&error))?;
        let mut seen = self.seen();
        if let Some(seen) = seen.as_ref().filter(|seen| {
            seen.key == key && Some(seen.version) == since && seen.data_version == data_version
        }) {
            return Ok(Some(ModelRows {
                version: seen.version,
                head: seen.head.clone(),
                rows: Vec::new(),
            }));
        }
        let mut statement = connection
            .prepare_cached(ModelSelect::SQLITE)
            .map_err(|error| self.error(&error))?;
        let selected = statement
            .query_map(params![key, since.unwrap_or(0)], |row| {
                Ok(ModelSelect {
                    version: row.get(0)?,
                    head: row.get(1)?,
                    kind: row.get(2)?,
                    position: row.get(3)?,
                    body: row.get(4)?,
                })
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))?;
        let model = model_rows(selected);
        *seen = model.as_ref().map(|model| Seen {
            key: key.to_owned(),
            version: model.version,
            head: model.head.clone(),
            data_version,
        });
        Ok(model)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Option<Seen>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Commits `rows` (and `head`) as the next version of the model under `key` if it is still
    /// at version `expected` (`None`: not stored yet); returns the new version, or `None` when
    /// another process changed the model since (nothing is written then).
    pub fn commit_model(
        &self,
        key: &str,
        expected: Option<i64>,
        head: &str,
        rows: &[ModelRow],
    ) -> Result<Option<i64>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let current: Option<i64> = transaction
            .prepare_cached("SELECT version FROM models WHERE key = ?1")
            .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
            .map_err(|error| self.error(&error))?;
        if current != expected {
            return Ok(None);
        }
        let version = expected.unwrap_or(0) + 1;
        transaction
            .prepare_cached(
                "INSERT INTO models (key, version, head) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET version = excluded.version, head = excluded.head",
            )
            .and_then(|mut statement| statement.execute(params![key, version, head]))
            .map_err(|error| self.error(&error))?;
        {
            let mut upsert = transaction
                .prepare_cached(
                    "INSERT INTO model_rows (model, kind, position, version, body)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (model, kind, position)
                     DO UPDATE SET version = excluded.version, body = excluded.body",
                )
                .map_err(|error| self.error(&error))?;
            for row in rows {
                upsert
                    .execute(params![key, row.kind, row.position, version, row.body])
                    .map_err(|error| self.error(&error))?;
            }
        }
        // Read while this transaction holds the write lock (no one else can commit now); this
        // connection's own commit leaves `data_version` as it is.
        let data_version: i64 = transaction
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|error| self.error(&error))?;
        transaction.commit().map_err(|error| self.error(&error))?;
        *self.seen() = Some(Seen {
            key: key.to_owned(),
            version,
            head: head.to_owned(),
            data_version,
        });
        Ok(Some(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration to compact events (the 6th), by its place.
    const COMPACT_EVENTS: usize = 5;

    #[test]
    fn the_migration_to_compact_events_codes_every_kind_as_the_store_does() {
        let migration = MIGRATIONS[COMPACT_EVENTS];
        for (index, kind) in compact::KINDS.iter().enumerate() {
            let code = format!("WHEN '{kind}' THEN {}", index + 1);
            assert!(migration.contains(&code), "{code}");
        }
    }
}
