//! The state store (SPEC 8): runs, steps, events, locks (one active run per target
//! environment) and the simulator's model, behind one contract that every store passes (the
//! conformance suite in `tests/`). SQLite is the embedded default; PostgreSQL comes later.

pub mod record;
mod sqlite;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

pub use record::{EventRecord, Intent, RemoteIds, RunRecord, RunState, StepRecord, StepState};
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

/// Why the store could not do what was asked. Every variant says where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state store `{location}`: {message}")]
    Open { location: String, message: String },
    #[error("the state store `{location}` is busy: another refreshctl holds it")]
    Busy { location: String },
    #[error("the state store `{location}` cannot be read: {message}")]
    Corrupt { location: String, message: String },
    #[error(
        "the state store `{location}` has schema version {found}; this refreshctl understands up \
         to {supported}"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },
    #[error("the state store `{location}` failed: {message}")]
    Io { location: String, message: String },
    #[error("run `{run}` was changed by another process since it was read")]
    Conflict { run: String },
    #[error("`{url}` is not a state store URL")]
    BadUrl { url: String },
}

/// The result of inserting a run: submitting the same window twice never makes two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Inserted(RunRecord),
    Existing(RunRecord),
}

/// A run in a list: what `runs` shows without reading whole records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub id: String,
    pub plan: String,
    /// The state's name, as SPEC 5.1 spells it.
    pub state: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

/// The result of taking a target environment's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired,
    /// Another active run holds it.
    HeldBy(String),
}

/// Where the state lives: `sqlite:PATH`, or a bare path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateUrl {
    Sqlite(PathBuf),
}

impl StateUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::BadUrl {
                    url: url.to_owned(),
                });
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(StoreError::BadUrl {
                url: url.to_owned(),
            });
        }
        Ok(Self::Sqlite(PathBuf::from(url)))
    }

    /// `$XDG_STATE_HOME/refreshctl/state.db`, else `~/.local/state/refreshctl/state.db`.
    #[must_use]
    pub fn default_location() -> Self {
        let base = std::env::var_os("XDG_STATE_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        Self::Sqlite(base.join("refreshctl/state.db"))
    }
}

/// The stores, chosen by URL.
pub enum StateStore {
    Sqlite(SqliteStore),
}

impl StateStore {
    pub fn open(url: &StateUrl) -> Result<Self, StoreError> {
        match url {
            StateUrl::Sqlite(path) => SqliteStore::open(path).map(Self::Sqlite),
        }
    }

    /// Records a run unless one with its id exists.
    pub fn insert_run(&self, run: &RunRecord) -> Result<Claim, StoreError> {
        match self {
            Self::Sqlite(store) => store.insert_run(run),
        }
    }

    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.run(id),
        }
    }

    /// Every run, by window start.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.runs(),
        }
    }

    /// Every run's id, plan, state and window, by window start.
    pub fn run_summaries(&self) -> Result<Vec<RunSummary>, StoreError> {
        match self {
            Self::Sqlite(store) => store.run_summaries(),
        }
    }

    /// Writes a run read at `run.version`; refused with `Conflict` if it changed since.
    pub fn update_run(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.update_run(run),
        }
    }

    pub fn append_event(
        &self,
        run: &str,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        match self {
            Self::Sqlite(store) => store.append_event(run, kind, detail, at),
        }
    }

    pub fn events(&self, run: &str) -> Result<Vec<EventRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.events(run),
        }
    }

    pub fn lock(
        &self,
        target: &str,
        run: &str,
        at: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        match self {
            Self::Sqlite(store) => store.lock(target, run, at),
        }
    }

    pub fn unlock(&self, target: &str, run: &str) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.unlock(target, run),
        }
    }

    pub fn load_document(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            Self::Sqlite(store) => store.load_document(key),
        }
    }

    pub fn save_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.save_document(key, body),
        }
    }
}
