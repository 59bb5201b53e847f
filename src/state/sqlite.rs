//! The embedded state store: one SQLite file (WAL), created on first use, migrated forward,
//! never rewritten when it belongs to something else or to a newer refreshctl.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::record::{EventRecord, RunRecord};
use super::{Claim, LockOutcome, RunSummary, StoreError};

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
];

/// The schema version this build writes.
#[expect(
    clippy::cast_possible_wrap,
    reason = "there are a handful of migrations, not 2^63"
)]
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
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
        let store = Self {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
        };
        store.migrate()?;
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

    fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let pragma = |connection: &Connection, name: &str| -> Result<i64, StoreError> {
            connection
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .map_err(|error| self.error(&error))
        };
        let application = pragma(&connection, "application_id")?;
        let version = pragma(&connection, "user_version")?;
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
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
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| connection.pragma_update(None, "foreign_keys", "ON"))
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
        if let Some(existing) =
            Self::read_run(&transaction, &run.id).map_err(|error| self.error(&error))?
        {
            return Ok(Claim::Existing(self.decode(&existing)?));
        }
        let mut stored = run.clone();
        stored.version = 1;
        transaction
            .execute(
                "INSERT INTO runs (id, plan, target, state, window_start, window_end, version, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    stored.id,
                    stored.plan,
                    stored.target,
                    stored.state.name(),
                    time(stored.window_start),
                    time(stored.window_end),
                    1,
                    self.encode(&stored)?
                ],
            )
            .map_err(|error| self.error(&error))?;
        transaction.commit().map_err(|error| self.error(&error))?;
        Ok(Claim::Inserted(stored))
    }

    fn read_run(connection: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
        connection
            .query_row("SELECT record FROM runs WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
    }

    fn encode(&self, run: &RunRecord) -> Result<String, StoreError> {
        serde_json::to_string(run).map_err(|error| StoreError::Corrupt {
            location: self.location(),
            message: error.to_string(),
        })
    }

    fn decode(&self, text: &str) -> Result<RunRecord, StoreError> {
        serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
            location: self.location(),
            message: format!("a run record cannot be read: {error}"),
        })
    }

    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let connection = self.connection();
        Self::read_run(&connection, id)
            .map_err(|error| self.error(&error))?
            .map(|text| self.decode(&text))
            .transpose()
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached("SELECT record FROM runs ORDER BY window_start, id")
            .map_err(|error| self.error(&error))?;
        let texts = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|error| self.error(&error))?;
        texts.iter().map(|text| self.decode(text)).collect()
    }

    /// Every run's id, plan, state and window, by window start, without reading whole records.
    pub fn run_summaries(&self) -> Result<Vec<RunSummary>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, plan, state, window_start, window_end FROM runs ORDER BY window_start, id",
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
                ))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))?;
        rows.into_iter()
            .map(|(id, plan, state, start, end)| {
                let corrupt = || StoreError::Corrupt {
                    location: self.location(),
                    message: format!("run `{id}` has an unreadable window"),
                };
                Ok(RunSummary {
                    window_start: parse_time(&start).ok_or_else(corrupt)?,
                    window_end: parse_time(&end).ok_or_else(corrupt)?,
                    id,
                    plan,
                    state,
                })
            })
            .collect()
    }

    /// Writes `run` if the stored version is the one it was read at; bumps its version.
    pub fn update_run(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        let mut next = run.clone();
        next.version = run.version + 1;
        let connection = self.connection();
        let changed = connection
            .execute(
                "UPDATE runs SET state = ?1, window_start = ?2, window_end = ?7, version = ?3,
                 record = ?4 WHERE id = ?5 AND version = ?6",
                params![
                    next.state.name(),
                    time(next.window_start),
                    i64::try_from(next.version).unwrap_or(i64::MAX),
                    self.encode(&next)?,
                    next.id,
                    i64::try_from(run.version).unwrap_or(i64::MAX),
                    time(next.window_end)
                ],
            )
            .map_err(|error| self.error(&error))?;
        if changed == 0 {
            return Err(StoreError::Conflict {
                run: run.id.clone(),
            });
        }
        *run = next;
        Ok(())
    }

    pub fn append_event(
        &self,
        run: &str,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.error(&error))?;
        let sequence: i64 = transaction
            .query_row(
                "SELECT coalesce(max(sequence), 0) + 1 FROM events WHERE run = ?1",
                [run],
                |row| row.get(0),
            )
            .map_err(|error| self.error(&error))?;
        transaction
            .execute(
                "INSERT INTO events (run, sequence, at, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run, sequence, time(at), kind, detail.to_string()],
            )
            .map_err(|error| self.error(&error))?;
        transaction.commit().map_err(|error| self.error(&error))?;
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
        let mut statement = connection
            .prepare_cached(
                "SELECT sequence, at, kind, detail FROM events WHERE run = ?1 ORDER BY sequence",
            )
            .map_err(|error| self.error(&error))?;
        let rows = statement
            .query_map([run], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(|error| self.error(&error))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|error| self.error(&error))?;
        rows.into_iter()
            .map(|(sequence, at, kind, detail)| {
                Ok(EventRecord {
                    run: run.to_owned(),
                    sequence: u64::try_from(sequence).unwrap_or_default(),
                    at: parse_time(&at).ok_or_else(|| StoreError::Corrupt {
                        location: self.location(),
                        message: format!("an event time `{at}` cannot be read"),
                    })?,
                    kind,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
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
            .query_row("SELECT run FROM locks WHERE target = ?1", [target], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| self.error(&error))?;
        let outcome = match holder {
            Some(holder) if holder != run => LockOutcome::HeldBy(holder),
            Some(_) => LockOutcome::Acquired,
            None => {
                transaction
                    .execute(
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
        self.connection()
            .execute(
                "DELETE FROM locks WHERE target = ?1 AND run = ?2",
                params![target, run],
            )
            .map_err(|error| self.error(&error))?;
        Ok(())
    }

    pub fn load_document(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.connection()
            .query_row("SELECT body FROM documents WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| self.error(&error))
    }

    pub fn save_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT INTO documents (key, body, version) VALUES (?1, ?2, 1)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body, version = version + 1",
                params![key, body],
            )
            .map_err(|error| self.error(&error))?;
        Ok(())
    }
}

/// Times are stored as RFC 3339 UTC with fixed width, so they sort as text.
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.to_utc())
}
