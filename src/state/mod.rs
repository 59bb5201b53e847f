//! The state store (SPEC 8): runs, steps, events, locks (one active run per target
//! environment) and the simulator's model, behind one contract that every store passes (the
//! conformance suite in `tests/`). SQLite is the embedded default; PostgreSQL lets several
//! `tick`/`daemon` replicas share the work, with leases and fencing (SPEC 8).

mod compact;
mod fixed;
mod packed;
mod postgres;
mod postgres_tls;
pub mod record;
mod sqlite;
mod url;

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

pub use postgres::PostgresStore;
pub use record::{
    EventRecord, Intent, OccurrenceRecord, RemoteIds, RunRecord, RunState, StepRecord, StepState,
    UNKNOWN_ADAPTER, counts_for,
};

use crate::adapter::AdapterKind;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use url::{ACCEPTED_FORMS, StateUrl, mask as mask_state};

/// The states of a run that a tick advances (the others are over or wait for an operator), as
/// an SQL list.
const ACTIVE_STATES: &str = "'submitted', 'accepted', 'running'";

/// The states in [`ACTIVE_STATES`], each alone.
const ACTIVE: [&str; 3] = ["submitted", "accepted", "running"];

/// The states of a finished run (see [`RunState::is_finished`]), as an SQL list: a finished
/// run's record and log are packed (see [`packed`]).
const FINISHED_STATES: &str = "'succeeded', 'failed', 'rejected', 'canceled'";

/// The states of a run that waits for a person, as stored.
const WAITING_STATES: &str = "'awaiting-approval', 'needs-attention'";

/// A replica's lease on a run: who holds it, and until when without a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: DateTime<Utc>,
}

/// A run claimed by a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The run, read with its new fence: writes with it succeed until someone else claims it.
    pub run: RunRecord,
    /// Another replica's lease that had run out and was taken over: that replica stopped or
    /// stalled in the middle of the run.
    pub taken_over: Option<Lease>,
}

/// The result of claiming a run's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Claimed(Box<Claimed>),
    /// Another owner's lease still runs.
    Held(Lease),
    NotFound,
}

/// One of the writes [`StateStore::write_all`] makes together: what [`StateStore::update_run`],
/// [`StateStore::append_fenced_event`] and [`StateStore::unlock`] each write on their own.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// `next` over the run read at version `read`, if it is still at that version and at
    /// `next`'s fence (the version `next` holds is `read + 1`).
    Run { next: Box<RunRecord>, read: u64 },
    /// An entry of run `run`'s log, if `fence` (when given) is still its fence.
    Event {
        run: String,
        fence: Option<u64>,
        kind: String,
        detail: serde_json::Value,
        at: DateTime<Utc>,
    },
    /// The release of `target`'s lock if `run` holds it.
    Unlock { target: String, run: String },
}

impl Write {
    /// The update of `run` to what it holds now, as [`StateStore::update_run`] makes it: `run`
    /// is left at its next version, as the store will hold it once the write is made.
    pub fn run(run: &mut RunRecord) -> Self {
        let read = run.version;
        run.version += 1;
        Self::Run {
            next: Box::new(run.clone()),
            read,
        }
    }
}

/// Where a plan's schedule stands: when it was first seen and its latest decided occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanMark {
    pub first_seen: DateTime<Utc>,
    pub latest_decided: Option<DateTime<Utc>>,
}

/// The earliest moment one of these runs can be worked on: each is due at its due time (none:
/// at once), but not before a lease on it ends. `None` when there are no runs.
fn earliest_due(
    runs: impl Iterator<Item = (Option<DateTime<Utc>>, Option<DateTime<Utc>>)>,
) -> Option<DateTime<Utc>> {
    runs.map(|(due, lease)| match (due, lease) {
        (Some(due), Some(lease)) => due.max(lease),
        (due, lease) => due.or(lease).unwrap_or(DateTime::<Utc>::MIN_UTC),
    })
    .min()
}

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
    /// `url` is masked: no password in it.
    #[error("`{url}` is not a state store: {reason}; use {ACCEPTED_FORMS}", ACCEPTED_FORMS = url::ACCEPTED_FORMS)]
    BadUrl { url: String, reason: String },
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
    /// The adapter that runs it (`None`: recorded before runs recorded it, or a name this
    /// build does not know).
    pub adapter: Option<AdapterKind>,
}

/// How many ids of one window [`StateStore::insert_run`] tries past runs that do not count
/// (rehearsals and other adapters' runs) before it gives up.
const MAX_IDS_PER_WINDOW: usize = 10_000;

/// The adapter's name as the stores keep it in their `adapter` columns (`''` in the schedule
/// tables: decided before they recorded it).
fn adapter_column(adapter: Option<AdapterKind>) -> &'static str {
    adapter.map_or("", AdapterKind::name)
}

/// The result of taking a target environment's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired,
    /// Another active run holds it.
    HeldBy(String),
}

pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Times are stored as RFC 3339 UTC with fixed width, so they sort as text. A time past the
/// year 9999 (a due time an hour after `tick --now 9999-12-31T23:30:00Z`) is stored as the last
/// moment of 9999: RFC 3339 has four-digit years, and a row that cannot be read back would stop
/// `runs` for the whole store.
#[must_use]
pub fn time(at: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let at = at.min(crate::plan::time::LATEST);
    let nanosecond = at.nanosecond();
    // Written without chrono's format string, which it reads again for each time (a busy pass
    // stores 20,000: 3,800 instructions a time, against 200): the seconds as `format_utc`
    // writes them, then the microseconds. A leap second, or a year `format_utc` leaves to
    // chrono, is written as chrono writes it.
    match crate::plan::time::UtcText::new(at) {
        crate::plan::time::UtcText::Short(seconds) if nanosecond < 1_000_000_000 => {
            let mut text = String::with_capacity(27);
            text.push_str(std::str::from_utf8(&seconds[..19]).unwrap_or_default());
            text.push('.');
            let mut micros = nanosecond / 1000;
            let mut fraction = [b'0'; 6];
            for digit in fraction.iter_mut().rev() {
                *digit = b'0' + u8::try_from(micros % 10).unwrap_or(0);
                micros /= 10;
            }
            text.push_str(std::str::from_utf8(&fraction).unwrap_or_default());
            text.push('Z');
            text
        }
        _ => at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    }
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.to_utc())
}

/// A run's summary row as both stores keep it: id, plan, state, window start and end, adapter.
type SummaryRow = (String, String, String, String, String, Option<String>);
/// An occurrence row: plan, window start, run, why skipped, when decided, adapter.
type OccurrenceRow = (String, String, String, Option<String>, String, String);
/// A plan row: name, first sighting, latest decided occurrence.
type MarkRow = (String, String, Option<String>);

/// A run record from its stored form (see [`compact`]) and fence column.
fn decode_run(location: &str, text: &str, fence: i64) -> Result<RunRecord, StoreError> {
    let mut run = compact::decode_run(text).map_err(|error| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("a run record cannot be read: {error}"),
    })?;
    run.fence = u64::try_from(fence).unwrap_or_default();
    Ok(run)
}

impl StoreError {
    /// The error of reading run `id`'s record, with the run named in it.
    #[must_use]
    pub(crate) fn of_run(self, id: &str) -> Self {
        match self {
            Self::Corrupt { location, message } => Self::Corrupt {
                location,
                message: format!("run `{id}`: {message}"),
            },
            other => other,
        }
    }
}

/// A run record as stored: text (the compact JSON form, or an older one) or, for a finished
/// run, bytes (see [`packed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredRecord {
    Text(String),
    Packed(Vec<u8>),
}

/// A run record in its stored form: packed once the run is finished (see [`packed`]), else
/// compact JSON (see [`compact`]), which a run that is still moving writes more cheaply.
fn encode_run(location: &str, run: &RunRecord) -> Result<StoredRecord, StoreError> {
    if run.state.is_finished() {
        return Ok(StoredRecord::Packed(packed::pack_run(run)));
    }
    compact::encode_run(run)
        .map(StoredRecord::Text)
        .map_err(|error| StoreError::Corrupt {
            location: location.to_owned(),
            message: error.to_string(),
        })
}

impl StoredRecord {
    /// The record as bytes, as PostgreSQL keeps it (text as UTF-8).
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Self::Text(text) => text.into_bytes(),
            Self::Packed(bytes) => bytes,
        }
    }
}

/// A run record from its bytes as PostgreSQL keeps it: packed (its first byte is
/// [`packed::RECORD`], which no JSON text starts with; the columns it leaves out come from
/// `columns`) or UTF-8 text.
fn decode_stored_run(
    location: &str,
    bytes: &[u8],
    fence: i64,
    columns: impl FnOnce() -> packed::Columns,
) -> Result<RunRecord, StoreError> {
    if bytes.first() == Some(&packed::RECORD) {
        return decode_packed_run(location, bytes, fence, columns());
    }
    let text = std::str::from_utf8(bytes).map_err(|error| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("a run record is not UTF-8: {error}"),
    })?;
    decode_run(location, text, fence)
}

/// A run's row as its store read it, decoded by [`RunRow::decode`] on whichever thread has time
/// for it: `runs --format json` reads on one thread and writes on another, and decoding is most
/// of the work, so both threads decode.
#[derive(Debug)]
pub struct RunRow {
    form: RowForm,
}

#[derive(Debug)]
enum RowForm {
    /// A store that decodes as it reads (PostgreSQL).
    Decoded(Box<RunRecord>),
    /// A finished run's packed record (see [`packed`]).
    Packed {
        location: String,
        bytes: Vec<u8>,
        fence: i64,
        columns: packed::Columns,
    },
    /// The compact JSON form (see [`compact`]) or an older one; `id` is the row's, to name it
    /// in an error.
    Text {
        location: String,
        bytes: Vec<u8>,
        fence: i64,
        id: Option<String>,
    },
}

impl RunRow {
    /// A row already decoded.
    #[must_use]
    pub fn decoded(run: RunRecord) -> Self {
        Self {
            form: RowForm::Decoded(Box::new(run)),
        }
    }

    /// The record, or why it cannot be read, with the run named.
    pub fn decode(self) -> Result<RunRecord, StoreError> {
        match self.form {
            RowForm::Decoded(run) => Ok(*run),
            RowForm::Packed {
                location,
                bytes,
                fence,
                columns,
            } => {
                let id = columns.id.clone();
                decode_packed_run(&location, &bytes, fence, columns)
                    .map_err(|error| error.of_run(&id))
            }
            RowForm::Text {
                location,
                bytes,
                fence,
                id,
            } => std::str::from_utf8(&bytes)
                .map_err(|error| StoreError::Corrupt {
                    location: location.clone(),
                    message: format!("a run record is not UTF-8: {error}"),
                })
                .and_then(|text| decode_run(&location, text, fence))
                .map_err(|error| match &id {
                    Some(id) => error.of_run(id),
                    None => error,
                }),
        }
    }
}

/// A run record from its packed form (see [`packed`]) and fence column.
fn decode_packed_run(
    location: &str,
    bytes: &[u8],
    fence: i64,
    columns: packed::Columns,
) -> Result<RunRecord, StoreError> {
    let mut run = packed::unpack_run(bytes, columns).map_err(|error| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("a run record cannot be read: {error}"),
    })?;
    run.fence = u64::try_from(fence).unwrap_or_default();
    Ok(run)
}

/// An event from its stored columns: sequence, time (microseconds since the epoch: the stores
/// keep each as the difference from the event before it, and add them up), kind (a code or
/// text) and detail (see [`compact`]).
fn decode_event(
    location: &str,
    run: &str,
    sequence: i64,
    at: i64,
    kind: compact::StoredKind,
    detail: &str,
) -> Result<EventRecord, StoreError> {
    let kind = match kind {
        compact::StoredKind::Code(code) => compact::kind_name(code)
            .ok_or_else(|| StoreError::Corrupt {
                location: location.to_owned(),
                message: format!("an event of `{run}` has the unknown kind {code}"),
            })?
            .to_owned(),
        compact::StoredKind::Text(text) => text,
    };
    Ok(EventRecord {
        run: run.to_owned(),
        sequence: u64::try_from(sequence).unwrap_or_default(),
        at: compact::from_micros(at).ok_or_else(|| StoreError::Corrupt {
            location: location.to_owned(),
            message: format!("an event time of `{run}` cannot be read"),
        })?,
        detail: compact::decode_detail(&kind, detail),
        kind,
    })
}

fn summaries(location: &str, rows: Vec<SummaryRow>) -> Result<Vec<RunSummary>, StoreError> {
    rows.into_iter()
        .map(|(id, plan, state, start, end, adapter)| {
            let corrupt = || StoreError::Corrupt {
                location: location.to_owned(),
                message: format!("run `{id}` has an unreadable window"),
            };
            Ok(RunSummary {
                window_start: parse_time(&start).ok_or_else(corrupt)?,
                window_end: parse_time(&end).ok_or_else(corrupt)?,
                adapter: adapter.as_deref().and_then(AdapterKind::from_name),
                id,
                plan,
                state,
            })
        })
        .collect()
}

fn occurrence_records(
    location: &str,
    rows: Vec<OccurrenceRow>,
) -> Result<Vec<OccurrenceRecord>, StoreError> {
    rows.into_iter()
        .map(|(plan, start, run, skipped, decided, adapter)| {
            let corrupt = || StoreError::Corrupt {
                location: location.to_owned(),
                message: format!("occurrence `{run}` has an unreadable time"),
            };
            Ok(OccurrenceRecord {
                window_start: parse_time(&start).ok_or_else(corrupt)?,
                decided: parse_time(&decided).ok_or_else(corrupt)?,
                adapter: AdapterKind::from_name(&adapter),
                plan,
                run,
                skipped,
            })
        })
        .collect()
}

fn plan_marks(rows: Vec<MarkRow>) -> HashMap<String, PlanMark> {
    rows.into_iter()
        .filter_map(|(name, first, latest)| {
            Some((
                name,
                PlanMark {
                    first_seen: parse_time(&first)?,
                    latest_decided: latest.as_deref().and_then(parse_time),
                },
            ))
        })
        .collect()
}

/// A row of a stored simulator model: one entity (`kind` names its collection, `position` its
/// place in it) as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub kind: String,
    pub position: i64,
    pub body: String,
}

/// A stored simulator model, or what changed in it: its version, its head (the model's own
/// scalars, JSON) and the rows asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRows {
    pub version: i64,
    pub head: String,
    pub rows: Vec<ModelRow>,
}

/// One row of the query both stores read a model with: the model's version and head, joined
/// with each row changed after the version asked about (none: the row's columns are null).
/// The query has no `ORDER BY`, so the planner finds the changed rows by the version index
/// instead of walking every row of the model; they are put in order here.
pub(crate) struct ModelSelect {
    version: i64,
    head: String,
    kind: Option<String>,
    position: Option<i64>,
    body: Option<String>,
}

impl ModelSelect {
    pub(crate) const SQLITE: &str = "SELECT m.version, m.head, r.kind, r.position, r.body
         FROM models m LEFT JOIN model_rows r ON r.model = m.key AND r.version > ?2
         WHERE m.key = ?1";
    pub(crate) const POSTGRES: &str = "SELECT m.version, m.head, r.kind, r.position, r.body
         FROM models m LEFT JOIN model_rows r ON r.model = m.key AND r.version > $2
         WHERE m.key = $1";
}

/// The model the joined rows describe (`None` when there were none: no such model).
fn model_rows(selected: Vec<ModelSelect>) -> Option<ModelRows> {
    let first = selected.first()?;
    let (version, head) = (first.version, first.head.clone());
    let mut rows: Vec<ModelRow> = selected
        .into_iter()
        .filter_map(|row| {
            Some(ModelRow {
                kind: row.kind?,
                position: row.position?,
                body: row.body?,
            })
        })
        .collect();
    rows.sort_unstable_by(|a, b| (&a.kind, a.position).cmp(&(&b.kind, b.position)));
    Some(ModelRows {
        version,
        head,
        rows,
    })
}

/// The stores, chosen by URL.
pub enum StateStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Calls the same method on whichever store this is.
macro_rules! each {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Self::Sqlite($store) => $call,
            Self::Postgres($store) => $call,
        }
    };
}

impl StateStore {
    pub fn open(url: &StateUrl) -> Result<Self, StoreError> {
        match url {
            StateUrl::Sqlite(path) => SqliteStore::open(path).map(Self::Sqlite),
            StateUrl::Postgres(url) => PostgresStore::open(url).map(Self::Postgres),
        }
    }

    /// Opens the store to read it only (`runs`, `status`): an SQLite file is neither created,
    /// migrated nor written, so one that cannot be written still reads (see
    /// [`SqliteStore::open_read_only`]). PostgreSQL is opened as usual.
    pub fn open_read_only(url: &StateUrl) -> Result<Self, StoreError> {
        match url {
            StateUrl::Sqlite(path) => SqliteStore::open_read_only(path).map(Self::Sqlite),
            StateUrl::Postgres(url) => PostgresStore::open(url).map(Self::Postgres),
        }
    }

    /// Records a run unless one of its window that counts for its adapter exists: a run of
    /// another adapter under its id is passed over, and the run is recorded as the next id of
    /// its window (`~2`, `~3`, …), so a rehearsal never stands for a real run nor a real run
    /// for a rehearsal.
    pub fn insert_run(&self, run: &RunRecord) -> Result<Claim, StoreError> {
        each!(self, store => store.insert_run(run))
    }

    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        each!(self, store => store.run(id))
    }

    /// Every run, by window start.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        each!(self, store => store.runs())
    }

    /// Every run, by window start, handed to `each` as it is read (until it returns false):
    /// `runs --format json` shows each while the next is read, without holding them all.
    pub fn each_run(&self, each: &mut dyn FnMut(RunRecord) -> bool) -> Result<(), StoreError> {
        each!(self, store => store.each_run(each))
    }

    /// [`Self::each_run`], with each row handed over before it is decoded (see [`RunRow`]).
    pub fn each_run_row(&self, each: &mut dyn FnMut(RunRow) -> bool) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.each_run_row(each),
            Self::Postgres(store) => store.each_run(&mut |run| each(RunRow::decoded(run))),
        }
    }

    /// The runs that wait for a person (`awaiting-approval`, `needs-attention`), by window
    /// start. They hold their targets' locks, so `tick` reports them on every pass.
    pub fn waiting_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        each!(self, store => store.waiting_runs())
    }

    /// Every run's id, plan, state and window, by window start.
    pub fn run_summaries(&self) -> Result<Vec<RunSummary>, StoreError> {
        each!(self, store => store.run_summaries())
    }

    /// Writes a run read at `run.version` and `run.fence`; refused with `Conflict` if it changed
    /// or was claimed since. The run becomes due at once until its lease is released.
    pub fn update_run(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        each!(self, store => store.update_run(run))
    }

    /// Appends to a run's log, whoever holds its lease.
    pub fn append_event(
        &self,
        run: &str,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        each!(self, store => store.append_event(run, None, kind, detail, at))
    }

    /// Appends to a run's log if `run`'s fence is still the current one (`Conflict` if not).
    pub fn append_fenced_event(
        &self,
        run: &RunRecord,
        kind: &str,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<EventRecord, StoreError> {
        each!(self, store => store.append_event(&run.id, Some(run.fence), kind, detail, at))
    }

    /// Makes `writes`, in order, in one transaction: all of them, or none when one is refused
    /// (`Conflict`: the run changed or was claimed since it was read) or fails. Where no call
    /// to a service stands between them, the executor makes its writes so, in place of a
    /// transaction each.
    pub fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        each!(self, store => store.write_all(writes))
    }

    pub fn events(&self, run: &str) -> Result<Vec<EventRecord>, StoreError> {
        each!(self, store => store.events(run))
    }

    pub fn lock(
        &self,
        target: &str,
        run: &str,
        at: DateTime<Utc>,
    ) -> Result<LockOutcome, StoreError> {
        each!(self, store => store.lock(target, run, at))
    }

    pub fn unlock(&self, target: &str, run: &str) -> Result<(), StoreError> {
        each!(self, store => store.unlock(target, run))
    }

    pub fn load_document(&self, key: &str) -> Result<Option<String>, StoreError> {
        each!(self, store => store.load_document(key))
    }

    pub fn save_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        each!(self, store => store.save_document(key, body))
    }

    /// Every document whose key starts with `prefix` (key and body), by key.
    pub fn documents(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        each!(self, store => store.documents(prefix))
    }

    pub fn delete_document(&self, key: &str) -> Result<(), StoreError> {
        each!(self, store => store.delete_document(key))
    }

    /// Saves `body` under `key` unless the stored body is greater (text order: for fixed-width
    /// times, later), in one statement, so processes side by side never move it back.
    pub fn raise_document(&self, key: &str, body: &str) -> Result<(), StoreError> {
        each!(self, store => store.raise_document(key, body))
    }

    /// The simulator model under `key` (`None`: none is stored), with its rows changed after
    /// version `since` (all of them without it), as of one moment.
    pub fn load_model(
        &self,
        key: &str,
        since: Option<i64>,
    ) -> Result<Option<ModelRows>, StoreError> {
        each!(self, store => store.load_model(key, since))
    }

    /// Commits a change of the model under `key` (its new head and the rows it changed) in one
    /// transaction if the model is still at version `expected` (`None`: not stored yet), a
    /// compare-and-swap: returns the new version, or `None` when another process changed the
    /// model first, and then nothing was written (load it again and redo the change).
    pub fn commit_model(
        &self,
        key: &str,
        expected: Option<i64>,
        head: &str,
        rows: &[ModelRow],
    ) -> Result<Option<i64>, StoreError> {
        each!(self, store => store.commit_model(key, expected, head, rows))
    }

    /// Claims up to `limit` due runs of `adapter` that no one else holds, for `owner` until
    /// `now + lease`. A real adapter also claims runs that did not record their adapter (a real
    /// store from before runs recorded it goes on); the simulator never does: a rehearsal
    /// never advances what may be a real run.
    pub fn claim_due(
        &self,
        owner: &str,
        adapter: AdapterKind,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        each!(self, store => store.claim_due(owner, adapter.name(), now, lease, limit))
    }

    /// Claims one run for `owner`, unless another owner's lease on it still runs.
    pub fn claim_run(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<LeaseOutcome, StoreError> {
        each!(self, store => store.claim_run(id, owner, now, lease))
    }

    /// Extends a claimed run's lease; false when someone else has claimed it since.
    pub fn heartbeat(
        &self,
        run: &RunRecord,
        owner: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<bool, StoreError> {
        each!(self, store => store.heartbeat(run, owner, now, lease))
    }

    /// Gives a claimed run's lease up, saying when it is next due.
    pub fn release(
        &self,
        run: &RunRecord,
        next_due: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.release_all(&[(run, next_due)])
    }

    /// Gives several claimed runs' leases up in one transaction (all or none), each saying
    /// when it is next due: a pass releases each batch of runs it advanced at once.
    pub fn release_all(
        &self,
        releases: &[(&RunRecord, Option<DateTime<Utc>>)],
    ) -> Result<(), StoreError> {
        each!(self, store => store.release(releases))
    }

    /// When the earliest active run that [`Self::claim_due`] would claim for `adapter` can
    /// next be worked on (`None`: there are none).
    pub fn next_due(&self, adapter: AdapterKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        each!(self, store => store.next_due(adapter.name()))
    }

    /// The adapters other than the simulator that have recorded runs here, by name: a store
    /// a real adapter has used refuses rehearsals unless asked.
    pub fn real_adapters(&self) -> Result<Vec<String>, StoreError> {
        each!(self, store => store.real_adapters())
    }

    /// Decides an occurrence once for its adapter (unique adapter, plan and window start; one
    /// decided before occurrences recorded their adapter counts for all), inserting its run if
    /// it is submitted (as [`Self::insert_run`] would: past another adapter's run of that id).
    /// Returns the run's id when this call decided it.
    pub fn decide_occurrence(
        &self,
        occurrence: &OccurrenceRecord,
        run: Option<&RunRecord>,
    ) -> Result<Option<String>, StoreError> {
        each!(self, store => store.decide_occurrence(occurrence, run))
    }

    /// Decides skipped occurrences (no run to insert) as [`Self::decide_occurrence`] would one
    /// by one, in fewer transactions: each occurrence is decided at most once, and a crash
    /// leaves every one of them decided or not, never half-recorded. Returns, in order, whether
    /// this call decided each.
    pub fn decide_skipped(
        &self,
        occurrences: &[OccurrenceRecord],
    ) -> Result<Vec<bool>, StoreError> {
        each!(self, store => store.decide_skipped(occurrences))
    }

    /// Every decided occurrence, by plan and start.
    pub fn occurrences(&self) -> Result<Vec<OccurrenceRecord>, StoreError> {
        each!(self, store => store.occurrences())
    }

    /// Notes plans as seen by `adapter`'s schedule (first sightings are kept; each adapter has
    /// its own, and one noted before sightings recorded their adapter counts for all) and
    /// returns where each plan's schedule stands for `adapter`.
    pub fn see_plans(
        &self,
        adapter: AdapterKind,
        names: &[&str],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, PlanMark>, StoreError> {
        each!(self, store => store.see_plans(adapter.name(), names, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finished_states_are_those_a_run_ends_in() {
        for run in compact::sample_runs() {
            let listed = FINISHED_STATES.contains(&format!("'{}'", run.state.name()));
            assert_eq!(listed, run.state.is_finished(), "{}", run.state.name());
        }
        assert_eq!(FINISHED_STATES.matches('\'').count(), 8);
    }

    #[test]
    fn the_active_states_are_listed_alike_in_both_forms() {
        let quoted: Vec<String> = ACTIVE.iter().map(|state| format!("'{state}'")).collect();
        assert_eq!(quoted.join(", "), ACTIVE_STATES);
    }

    #[test]
    fn stored_times_are_written_as_chrono_writes_them() {
        let chrono_text = |at: DateTime<Utc>| {
            at.min(crate::plan::time::LATEST)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string()
        };
        let mut at = DateTime::<Utc>::UNIX_EPOCH;
        // Steps of a prime number of nanoseconds and seconds reach every field's digits.
        for _ in 0..20_000 {
            assert_eq!(time(at), chrono_text(at), "{at:?}");
            at += TimeDelta::seconds(1_000_003) + TimeDelta::nanoseconds(7_919_017);
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|day| day.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("a leap second")
            .and_utc();
        for at in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            leap,
            chrono::NaiveDate::from_ymd_opt(0, 1, 1)
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .expect("year 0")
                .and_utc(),
            chrono::NaiveDate::from_ymd_opt(999, 3, 4)
                .and_then(|day| day.and_hms_micro_opt(5, 6, 7, 89))
                .expect("year 999")
                .and_utc(),
        ] {
            assert_eq!(time(at), chrono_text(at), "{at:?}");
        }
    }

    #[test]
    fn every_stored_time_reads_back() {
        let last = crate::plan::time::LATEST;
        for at in [
            DateTime::<Utc>::UNIX_EPOCH,
            last,
            last + TimeDelta::hours(1),
            DateTime::<Utc>::MAX_UTC,
        ] {
            let stored = time(at);
            assert_eq!(parse_time(&stored), Some(at.min(last)), "{stored}");
        }
    }
}
