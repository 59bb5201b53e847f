//! `runs`, `status`, `reschedule`, `cancel` and `approve`.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::apply::{Globals, notify_backoff, report_deliveries, runtime};
use super::check_settings;
use super::runtime::{checked_plan, open_store, open_store_read_only};
use crate::adapter::AdapterKind;
use crate::cli::{
    ApproveArgs, CancelArgs, CheckArgs, OperatorArgs, RescheduleArgs, RunsArgs, StatusArgs,
    TableFormat,
};
use crate::error::{Error, exit};
use crate::executor::{self, ApproveError, Operator};
use crate::notify::{Notifier, Outbox, Previous};
use crate::plan::time::{UtcText, format_duration, format_utc};
use crate::plan::{NotificationEvent, Plan, PointInTime};
use crate::report::preview::with_weekday;
use crate::say;
use crate::state::{
    Claim, EventRecord, LockOutcome, RemoteIds, RunRecord, RunRow, RunState, StateStore, StepState,
    StoreError, UNKNOWN_ADAPTER,
};

/// A run as `status --format json` shows it (SPEC 4). The fields of the views are in the order
/// of their names, as JSON objects have always printed them: `status` writes the view through a
/// `serde_json::Value` (whose objects sort their keys); `runs --format json` and the status
/// page's `/runs` write the same bytes by hand ([`write_views`]; a test compares the two).
#[derive(Serialize)]
struct RunView<'a> {
    /// The adapter that runs it (`unknown`: recorded before runs recorded their adapter).
    adapter: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    id: &'a str,
    /// The run's log, oldest first (`status` only; `runs` leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<Vec<LogView>>,
    plan: &'a str,
    point_in_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    state: &'static str,
    steps: Vec<StepView<'a>>,
    window: WindowView,
}

/// One entry of a run's log: what the executor, the scheduler or an operator recorded, in
/// words (`message`) and, for what an operator did, in fields (`by`, `reason`, `from`, `to`).
#[derive(Serialize)]
struct LogView {
    at: String,
    /// `at` with its weekday, for the table.
    #[serde(skip)]
    shown_at: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// A rescheduled run's window and run before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<MovedView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<MovedView>,
}

/// One side of a reschedule: the window and the run that has it.
#[derive(Serialize)]
struct MovedView {
    start: String,
    end: String,
    run: String,
}

impl MovedView {
    fn new(value: &serde_json::Value) -> Option<Self> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Some(Self {
            start: text("start")?,
            end: text("end")?,
            run: text("run")?,
        })
    }

    /// `2026-12-05T21:00:00Z (Sat) – 2026-12-06T00:00:00Z (Sun)`.
    fn window(&self) -> String {
        format!(
            "{} – {}",
            with_weekday(&self.start),
            with_weekday(&self.end)
        )
    }
}

impl LogView {
    fn new(event: &EventRecord) -> Self {
        let text = |key: &str| event.detail[key].as_str().map(str::to_owned);
        let by = text("by");
        let reason = text("reason");
        let from = MovedView::new(&event.detail["from"]);
        let to = MovedView::new(&event.detail["to"]);
        let message = Self::message(
            event,
            by.as_deref(),
            reason.as_deref(),
            from.as_ref(),
            to.as_ref(),
        );
        let at = format_utc(event.at);
        Self {
            shown_at: with_weekday(&at),
            at,
            kind: event.kind.clone(),
            step: text("step"),
            message,
            by,
            reason,
            from,
            to,
        }
    }

    /// The entry in words: every kind has its sentence, and an unknown one lists its fields, so
    /// no raw JSON reaches the table.
    fn message(
        event: &EventRecord,
        by: Option<&str>,
        reason: Option<&str>,
        from: Option<&MovedView>,
        to: Option<&MovedView>,
    ) -> String {
        let text = |key: &str| event.detail[key].as_str().map(str::to_owned);
        let by_whom = by.map(|by| format!(" by {by}")).unwrap_or_default();
        // What an operator gave as the reason; other reasons (a rejection's) are the sentence.
        let operator_reason = match (by, reason) {
            (Some(_), Some(reason)) => format!(": reason {reason}"),
            _ => String::new(),
        };
        match event.kind.as_str() {
            "notification-failed" => format!(
                "the {}notification to {} was not delivered: {}{}",
                text("event")
                    .map(|event| format!("{event} "))
                    .unwrap_or_default(),
                text("url").unwrap_or_default(),
                text("error").unwrap_or_default(),
                if event.detail["kept"] == true {
                    " (kept to be sent again at the next tick or daemon pass)"
                } else {
                    ""
                }
            ),
            "rescheduled" => {
                let moved = match (from, to) {
                    (Some(from), Some(to)) => {
                        let other = if to.run == event.run {
                            format!("was run `{}`", from.run)
                        } else {
                            format!("as run `{}`", to.run)
                        };
                        format!(": from {} to {} ({other})", from.window(), to.window())
                    }
                    _ => String::new(),
                };
                format!("rescheduled{by_whom}{moved}{operator_reason}")
            }
            "emergency" => format!(
                "emergency: the lead time is waived: {}",
                reason.unwrap_or("no reason recorded")
            ),
            // Older entries have only the step: the call of a run that needed attention.
            "retry-step" => match text("message") {
                Some(message) => {
                    format!("{message} (`resume --retry-step`){by_whom}{operator_reason}")
                }
                None => "sent again on an operator's request (`resume --retry-step`)".into(),
            },
            "run-state" => {
                let state = text("message").unwrap_or_else(|| "changed".into());
                let approved = text("approved").map_or_else(
                    || by_whom.clone(),
                    |step| format!(": `{step}` approved{by_whom}"),
                );
                let note = text("note")
                    .map(|note| format!(": {note}"))
                    .unwrap_or_default();
                let reason = match (by, reason) {
                    (None, Some(reason)) => format!(": {reason}"),
                    _ => operator_reason,
                };
                format!("run {state}{approved}{note}{reason}")
            }
            kind => match text("message") {
                Some(message) => match (by, reason) {
                    (None, Some(reason)) => format!("{message}: {reason}"),
                    _ => format!("{message}{by_whom}{operator_reason}"),
                },
                None => describe_fields(kind, &event.detail),
            },
        }
    }
}

/// An entry of a kind this version does not know, in words: `kind: key value, key value`.
fn describe_fields(kind: &str, detail: &serde_json::Value) -> String {
    let fields: Vec<String> = detail
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => format!("{key} {text}"),
            other => format!("{key} {other}"),
        })
        .collect();
    if fields.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", fields.join(", "))
    }
}

#[derive(Serialize)]
struct WindowView {
    end: String,
    start: String,
}

#[derive(Serialize)]
struct StepView<'a> {
    error: Option<&'a str>,
    finished: Option<UtcText>,
    id: &'a str,
    remote: &'a RemoteIds,
    started: Option<UtcText>,
    state: &'static str,
}

/// What a run's view says beside its state (`detail`), if anything.
fn run_detail(state: &RunState) -> Option<std::borrow::Cow<'_, str>> {
    match state {
        RunState::Failed { error } => Some(error.as_str().into()),
        RunState::Rejected { reason } | RunState::NeedsAttention { reason, .. } => {
            Some(reason.as_str().into())
        }
        RunState::AwaitingApproval { step } => Some(format!("waiting for `{step}`").into()),
        _ => None,
    }
}

/// A step's state as its view shows it: name, start, end, and error (or a skip's reason).
type StepParts<'a> = (
    &'static str,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<&'a str>,
);

fn step_parts(state: &StepState) -> StepParts<'_> {
    match state {
        StepState::Pending => ("pending", None, None, None),
        StepState::Running { started } => ("running", Some(*started), None, None),
        StepState::Succeeded { started, finished } => {
            ("succeeded", Some(*started), Some(*finished), None)
        }
        StepState::Failed {
            started,
            finished,
            error,
        } => (
            "failed",
            Some(*started),
            Some(*finished),
            Some(error.as_str()),
        ),
        StepState::Skipped { reason } => ("skipped", None, None, Some(reason.as_str())),
    }
}

fn view(run: &RunRecord) -> RunView<'_> {
    RunView {
        id: &run.id,
        plan: &run.plan,
        adapter: run.adapter_name(),
        state: run.state.name(),
        detail: run_detail(&run.state).map(std::borrow::Cow::into_owned),
        window: WindowView {
            start: format_utc(run.window_start),
            end: format_utc(run.window_end),
        },
        point_in_time: run
            .point_in_time
            .map_or_else(|| "latest".to_owned(), format_utc),
        reason: run.reason.as_deref(),
        steps: run
            .steps
            .iter()
            .map(|step| {
                let (state, started, finished, error) = step_parts(&step.state);
                StepView {
                    id: &step.id,
                    state,
                    started: started.map(UtcText::new),
                    finished: finished.map(UtcText::new),
                    remote: &step.remote,
                    error,
                }
            })
            .collect(),
        log: None,
    }
}

/// Writes every run as `runs --format json` shows it, a run at a time as it is read, so memory
/// stays flat however many runs there are. Decoding the records is most of the work, so both
/// threads do it: a thread reads the rows and passes them on as they are, and decodes a row
/// itself only when this one has a full queue of them still to decode and write. So each
/// takes what its other work leaves time for (10,001 finished runs, callgrind: a fixed share of
/// two in three left the reading thread 0.55 billion instructions and this one 0.47). The
/// JSON is written by hand, byte for byte as `serde_json::to_writer_pretty` writes the views (a
/// test below compares them): the pretty formatter and its escaping were half of the
/// instructions (10,000 runs: 1.42 billion, of which writing 53 %). A record that cannot be
/// read ends the output where it is, without the closing `]` (so it is never a whole JSON
/// document), and the command fails with the error.
fn write_runs_json(store: &StateStore, out: &mut dyn Write) -> Result<(), Error> {
    use std::sync::mpsc::TrySendError;
    let (sender, receiver) = std::sync::mpsc::sync_channel::<RunRow>(256);
    let (read, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut failed = None;
            store
                .each_run_row(&mut |row| {
                    let row = match sender.try_send(row) {
                        Ok(()) => return true,
                        Err(TrySendError::Disconnected(_)) => return false,
                        Err(TrySendError::Full(row)) => row,
                    };
                    match row.decode() {
                        Ok(run) => sender.send(RunRow::decoded(run)).is_ok(),
                        Err(error) => {
                            failed = Some(error);
                            false
                        }
                    }
                })
                .and(failed.map_or(Ok(()), Err))
        });
        let written = write_views(out, receiver.iter().map(RunRow::decode));
        drop(receiver);
        (reader.join(), written)
    });
    let read = match read {
        Ok(read) => read,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    // A record that cannot be read ends the runs early: its error, not the shorter output, is
    // what happened, and the array is left open. The writer stops at the first such record in
    // the order of the runs, and the reader sends nothing after the one it stopped at, so
    // whichever of the two failed first in that order is the error.
    let any = written?;
    read?;
    end_views(out, any)?;
    Ok(())
}

/// Writes `runs` as the elements of a pretty JSON array of their views, from its `[`; true if
/// there were any. [`end_views`] closes it. A run that cannot be read stops it there.
fn write_views(
    out: &mut dyn Write,
    runs: impl Iterator<Item = Result<RunRecord, StoreError>>,
) -> Result<bool, Error> {
    let mut text = Vec::with_capacity(8192);
    let mut any = false;
    for run in runs {
        let run = run?;
        text.clear();
        text.extend_from_slice(if any { b",\n" } else { b"[\n" });
        any = true;
        put_view(&mut text, &run);
        out.write_all(&text).map_err(Error::from)?;
    }
    Ok(any)
}

/// Closes the array [`write_views`] wrote, with a newline after it.
fn end_views(out: &mut dyn Write, any: bool) -> std::io::Result<()> {
    out.write_all(if any { b"\n]\n" } else { b"[]\n" })
}

/// One run's view as `to_writer_pretty` writes a [`RunView`] without its log, as an element
/// of the array (indented by one level).
fn put_view(text: &mut Vec<u8>, run: &RunRecord) {
    text.extend_from_slice(b"  {\n    \"adapter\": ");
    put_plain(text, run.adapter_name());
    if let Some(detail) = run_detail(&run.state) {
        text.extend_from_slice(b",\n    \"detail\": ");
        put_str(text, &detail);
    }
    text.extend_from_slice(b",\n    \"id\": ");
    put_str(text, &run.id);
    text.extend_from_slice(b",\n    \"plan\": ");
    put_str(text, &run.plan);
    text.extend_from_slice(b",\n    \"point_in_time\": ");
    match run.point_in_time {
        Some(at) => put_plain(text, UtcText::new(at).as_bytes()),
        None => text.extend_from_slice(b"\"latest\""),
    }
    if let Some(reason) = &run.reason {
        text.extend_from_slice(b",\n    \"reason\": ");
        put_str(text, reason);
    }
    text.extend_from_slice(b",\n    \"state\": ");
    put_plain(text, run.state.name());
    text.extend_from_slice(b",\n    \"steps\": [");
    for (index, step) in run.steps.iter().enumerate() {
        let (state, started, finished, error) = step_parts(&step.state);
        text.extend_from_slice(if index == 0 { b"\n" } else { b",\n" });
        text.extend_from_slice(b"      {\n        \"error\": ");
        put_optional(text, error);
        text.extend_from_slice(b",\n        \"finished\": ");
        put_time(text, finished);
        text.extend_from_slice(b",\n        \"id\": ");
        put_str(text, &step.id);
        text.extend_from_slice(b",\n        \"remote\": ");
        put_remote(text, &step.remote);
        text.extend_from_slice(b",\n        \"started\": ");
        put_time(text, started);
        text.extend_from_slice(b",\n        \"state\": ");
        put_plain(text, state);
        text.extend_from_slice(b"\n      }");
    }
    text.extend_from_slice(if run.steps.is_empty() {
        b"]"
    } else {
        b"\n    ]"
    });
    text.extend_from_slice(b",\n    \"window\": {\n      \"end\": ");
    put_plain(text, UtcText::new(run.window_end).as_bytes());
    text.extend_from_slice(b",\n      \"start\": ");
    put_plain(text, UtcText::new(run.window_start).as_bytes());
    text.extend_from_slice(b"\n    }\n  }");
}

/// A step's [`RemoteIds`] at the depth of a step's field.
fn put_remote(text: &mut Vec<u8>, remote: &RemoteIds) {
    let mut first = true;
    let mut key = |text: &mut Vec<u8>, key: &str| {
        text.extend_from_slice(if first { b"{\n" } else { b",\n" });
        first = false;
        text.extend_from_slice(b"          \"");
        text.extend_from_slice(key.as_bytes());
        text.extend_from_slice(b"\": ");
    };
    if let Some(activity) = &remote.activity {
        key(text, "activity");
        put_str(text, activity);
    }
    if let Some(asset) = &remote.asset {
        key(text, "asset");
        put_str(text, asset);
    }
    if !remote.blocks.is_empty() {
        key(text, "blocks");
        for (index, block) in remote.blocks.iter().enumerate() {
            text.extend_from_slice(if index == 0 { b"[\n" } else { b",\n" });
            text.extend_from_slice(b"            ");
            put_str(text, block);
        }
        text.extend_from_slice(b"\n          ]");
    }
    if let Some(file) = &remote.file {
        key(text, "file");
        put_str(text, file);
    }
    text.extend_from_slice(if first { b"{}" } else { b"\n        }" });
}

fn put_time(text: &mut Vec<u8>, at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => put_plain(text, UtcText::new(at).as_bytes()),
        None => text.extend_from_slice(b"null"),
    }
}

fn put_optional(text: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => put_str(text, value),
        None => text.extend_from_slice(b"null"),
    }
}

/// A JSON string as `serde_json` escapes it: `"` and `\`, and control characters (`\n` and its
/// kin by letter, the others as `\u00XX`); everything else as it is. Eight bytes at a time
/// are checked at once, as almost none needs escaping (this was a fifth of the instructions of
/// `runs --format json` a byte at a time).
fn put_str(text: &mut Vec<u8>, value: &str) {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Whether any byte of `word` is below `below` (at most 128).
    let any_below =
        |word: u64, below: u8| word.wrapping_sub(ONES * u64::from(below)) & !word & HIGH != 0;
    text.push(b'"');
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if let Some(word) = bytes.get(index..index + 8) {
            let word = u64::from_ne_bytes(word.try_into().unwrap_or_default());
            if !(any_below(word, 0x20)
                || any_below(word ^ (ONES * u64::from(b'"')), 1)
                || any_below(word ^ (ONES * u64::from(b'\\')), 1))
            {
                index += 8;
                continue;
            }
        }
        index += 1;
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        text.extend_from_slice(bytes.get(start..index - 1).unwrap_or_default());
        start = index;
        match byte {
            b'"' => text.extend_from_slice(b"\\\""),
            b'\\' => text.extend_from_slice(b"\\\\"),
            b'\n' => text.extend_from_slice(b"\\n"),
            b'\r' => text.extend_from_slice(b"\\r"),
            b'\t' => text.extend_from_slice(b"\\t"),
            0x08 => text.extend_from_slice(b"\\b"),
            0x0c => text.extend_from_slice(b"\\f"),
            other => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                text.extend_from_slice(b"\\u00");
                text.push(HEX[usize::from(other >> 4)]);
                text.push(HEX[usize::from(other & 0xf)]);
            }
        }
    }
    text.extend_from_slice(bytes.get(start..).unwrap_or_default());
    text.push(b'"');
}

/// A JSON string known to need no escaping (a time, a state's or an adapter's name).
fn put_plain(text: &mut Vec<u8>, value: &(impl AsRef<[u8]> + ?Sized)) {
    text.push(b'"');
    text.extend_from_slice(value.as_ref());
    text.push(b'"');
}

/// Every run as `runs --format json` prints it (the daemon's `/runs`), made as `runs` makes it.
pub(super) fn runs_json(store: &StateStore) -> Result<Vec<u8>, Error> {
    let mut text = Vec::new();
    write_runs_json(store, &mut text)?;
    Ok(text)
}

/// One run as `status --format json` shows it, with its log (the daemon's `/runs/{id}`).
pub(super) fn status_json(store: &StateStore, run: &RunRecord) -> Result<serde_json::Value, Error> {
    let mut view = view(run);
    view.log = Some(store.events(&run.id)?.iter().map(LogView::new).collect());
    Ok(serde_json::to_value(&view).map_err(std::io::Error::from)?)
}

/// How much of `runs`' output is gathered before it is written.
const OUTPUT_BUFFER: usize = 256 * 1024;

pub fn runs(args: &RunsArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store_read_only(globals.state, globals.adapter)?;
    // Stdout is line-buffered: with std's 8 KiB buffer in front of it, 10,001 runs as JSON
    // (41 MB) took 20,001 `write` calls; with this one, 317.
    let mut out = std::io::BufWriter::with_capacity(OUTPUT_BUFFER, out);
    match args.format {
        TableFormat::Json => {
            write_runs_json(&store, &mut out)?;
        }
        TableFormat::Table => {
            let runs = store.run_summaries()?;
            let width = runs
                .iter()
                .map(|run| run.id.len())
                .max()
                .unwrap_or(3)
                .max(3);
            writeln!(
                out,
                "{:<width$}  {:<9}  {:<17}  WINDOW (UTC)",
                "RUN", "ADAPTER", "STATE"
            )?;
            for run in &runs {
                // A run does not record its plan's zone (the plan may have changed since), so the
                // table shows UTC, with the weekday so that a window is read at a glance.
                writeln!(
                    out,
                    "{:<width$}  {:<9}  {:<17}  {} to {}",
                    run.id,
                    run.adapter.map_or(UNKNOWN_ADAPTER, AdapterKind::name),
                    run.state,
                    with_weekday(&format_utc(run.window_start)),
                    with_weekday(&format_utc(run.window_end))
                )?;
            }
        }
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}

pub fn status(args: &StatusArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store_read_only(globals.state, globals.adapter)?;
    let run = store
        .run(&args.run)?
        .ok_or_else(|| Error::UnknownRun(args.run.clone()))?;
    let mut view = view(&run);
    view.log = Some(store.events(&run.id)?.iter().map(LogView::new).collect());
    match args.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &status_json(&store, &run)?)
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        TableFormat::Table => {
            writeln!(
                out,
                "run     {}\nplan    {} ({})\nadapter {}{}\nstate   {}{}",
                run.id,
                run.plan,
                run.file,
                view.adapter,
                if run.adapter == Some(AdapterKind::Simulator) {
                    " (a rehearsal: nothing real was touched)"
                } else {
                    ""
                },
                view.state,
                view.detail
                    .as_ref()
                    .map(|detail| format!(": {detail}"))
                    .unwrap_or_default()
            )?;
            writeln!(
                out,
                "window  {} to {}\npoint   {}",
                view.window.start, view.window.end, view.point_in_time
            )?;
            if let Some(reason) = &run.reason {
                writeln!(out, "reason  {reason} (emergency: lead time waived)")?;
            }
            let width = run
                .steps
                .iter()
                .map(|step| step.id.len())
                .max()
                .unwrap_or(4)
                .max(4);
            writeln!(
                out,
                "\n{:<width$}  {:<9}  {:<20}  {:<20}  DETAIL",
                "STEP", "STATE", "STARTED", "FINISHED"
            )?;
            for step in &view.steps {
                let remote = [
                    step.remote
                        .activity
                        .as_deref()
                        .map(|a| format!("operation {a}")),
                    step.remote.asset.as_deref().map(|a| format!("asset {a}")),
                ]
                .into_iter()
                .flatten()
                .chain(step.error.map(str::to_owned))
                .collect::<Vec<_>>()
                .join("; ");
                writeln!(
                    out,
                    "{:<width$}  {:<9}  {:<20}  {:<20}  {remote}",
                    step.id,
                    step.state,
                    step.started.as_ref().map_or("-", UtcText::as_str),
                    step.finished.as_ref().map_or("-", UtcText::as_str)
                )?;
            }
            let log = view.log.as_deref().unwrap_or_default();
            if !log.is_empty() {
                writeln!(out, "\nLOG")?;
            }
            for entry in log {
                // "preflight started" names its step already.
                let step = entry
                    .step
                    .as_deref()
                    .filter(|step| !entry.message.starts_with(step))
                    .map(|step| format!("{step}: "))
                    .unwrap_or_default();
                writeln!(out, "{}  {step}{}", entry.shown_at, entry.message)?;
            }
        }
    }
    Ok(exit::SUCCESS)
}

/// A run can be moved or canceled only before its window opened.
fn not_started(run: &RunRecord, doing: &str) -> Result<(), Error> {
    if matches!(run.state, RunState::Submitted | RunState::Accepted) {
        return Ok(());
    }
    let why = if run.state.is_finished() {
        format!("it already ended {}", run.state.name())
    } else {
        "its window has opened; a started refresh cannot be canceled or moved (LCS cannot)"
            .to_owned()
    };
    Err(Error::Refused {
        message: format!("cannot {doing} run `{}`: {why}", run.id),
        hint: None,
    })
}

/// The OS user who runs the command (`USER`, else `LOGNAME`), else `unknown`: who acted, when
/// `--by` does not say.
#[must_use]
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Who acts and why, from `--by` (else the OS user) and `--reason`.
pub(super) fn operator(args: &OperatorArgs) -> Operator {
    let given = |text: &Option<String>| {
        text.as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    Operator {
        by: given(&args.by).unwrap_or_else(os_user),
        reason: given(&args.reason),
    }
}

pub fn cancel(args: &CancelArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store(globals.state, globals.adapter)?;
    let mut run = store
        .run(&args.run)?
        .ok_or_else(|| Error::UnknownRun(args.run.clone()))?;
    not_started(&run, "cancel")?;
    let operator = operator(&args.operator);
    // A rehearsal's runs live on the simulated clock: canceled then, not at the wall clock's
    // time (which may be weeks before the run was submitted).
    let now = if globals.adapter == AdapterKind::Simulator {
        super::runtime::stored_clock(&store)?
            .map_or_else(Utc::now, |stored| stored.max(run.updated))
    } else {
        Utc::now()
    };
    let mut detail = serde_json::json!({ "message": "canceled" });
    operator.add_to(&mut detail);
    cancel_run(&store, &mut run, now, &detail)?;
    // The run is canceled whatever happens to its notifications: a plan that moved or no longer
    // validates only costs the message, and says so.
    let sent = sends_notifications(&run, globals, args.notify);
    match checked_plan(
        std::path::Path::new(&run.file),
        &plan_settings(now, globals)?,
        globals.color,
    ) {
        Ok(plan) if plan.name() == run.plan => notify(
            &store,
            &plan,
            &run,
            run_adapter(&run, globals),
            sent,
            now,
            |notifier| notifier.by(operator),
            NotificationEvent::Canceled,
        ),
        Ok(plan) => say!(
            warning,
            "refreshctl: warning: the `canceled` notifications of `{}` were not sent: `{}` now \
             holds plan `{}`, not `{}`",
            run.id,
            run.file,
            plan.name(),
            run.plan
        ),
        Err(error) => say!(
            warning,
            "refreshctl: warning: the `canceled` notifications of `{}` were not sent: {error}",
            run.id
        ),
    }
    writeln!(out, "{}", run.id)?;
    Ok(exit::SUCCESS)
}

/// Notifications are sent for real for a run of a real adapter (the command's, for a run that
/// did not record its adapter) or with `--notify`; a rehearsal on the simulator renders them
/// and sends none (as `apply` and `tick` do).
fn sends_notifications(run: &RunRecord, globals: &Globals<'_>, notify: bool) -> bool {
    run_adapter(run, globals).is_real() || notify
}

/// `--adapter NAME ` for a command that goes on with a run of `adapter` (nothing for the
/// simulator, the default).
#[must_use]
pub fn adapter_flag(adapter: AdapterKind) -> String {
    if adapter == AdapterKind::Simulator {
        String::new()
    } else {
        format!("--adapter {adapter} ")
    }
}

/// The adapter a run recorded; the command's for a run recorded before runs recorded theirs.
fn run_adapter(run: &RunRecord, globals: &Globals<'_>) -> AdapterKind {
    run.adapter.unwrap_or(globals.adapter)
}

/// Checks the run's plan as of `now` with the command's adapter.
fn plan_settings(
    now: DateTime<Utc>,
    globals: &Globals<'_>,
) -> Result<crate::rules::CheckSettings, Error> {
    check_settings(
        &CheckArgs {
            now: Some(now),
            catalog: None,
        },
        Some(globals.adapter),
    )
}

/// Sends (or renders) `event`'s notifications of `run` at `now` and waits for them; a failed one
/// is a warning and an entry in the run's log, never a failed command. Each is kept in the
/// store's outbox until it is delivered, so one this process could not deliver (or was killed
/// while sending) is sent by the next `tick` or `daemon` pass, as a run's own are.
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one notification, each named"
)]
fn notify(
    store: &Arc<StateStore>,
    plan: &Plan,
    run: &RunRecord,
    adapter: AdapterKind,
    send: bool,
    now: DateTime<Utc>,
    with: impl FnOnce(Notifier) -> Notifier,
    event: NotificationEvent,
) {
    if plan.notifications().is_empty() {
        return;
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            say!(
                warning,
                "refreshctl: warning: the notifications of `{}` were not sent: {error}",
                run.id
            );
            return;
        }
    };
    let notifier = if send {
        Notifier::new(plan, run, adapter, notify_backoff()).with_outbox(Outbox::for_command(
            store.clone(),
            adapter,
            now,
        ))
    } else {
        Notifier::rendering_only(plan, run, adapter)
    };
    let mut notifier = with(notifier);
    runtime.block_on(async {
        notifier.send(event);
        report_deliveries(store, run, notifier.finish().await);
    });
}

/// Ends a run that has not started as canceled; `detail` is its log entry (`message`
/// `canceled`, and who and why).
fn cancel_run(
    store: &StateStore,
    run: &mut RunRecord,
    now: DateTime<Utc>,
    detail: &serde_json::Value,
) -> Result<(), Error> {
    run.state = RunState::Canceled;
    run.updated = now;
    store.update_run(run)?;
    store.unlock(&run.lock_key(), &run.id)?;
    store.append_event(&run.id, "run-state", detail, now)?;
    Ok(())
}

pub fn reschedule(
    args: &RescheduleArgs,
    globals: &Globals<'_>,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let store = open_store(globals.state, globals.adapter)?;
    let mut run = store
        .run(&args.run)?
        .ok_or_else(|| Error::UnknownRun(args.run.clone()))?;
    not_started(&run, "reschedule")?;
    let now = args.now.unwrap_or_else(Utc::now);
    let plan = checked_plan(
        std::path::Path::new(&run.file),
        &plan_settings(now, globals)?,
        globals.color,
    )?;
    let start = args.start;
    let end = match args.end {
        Some(end) => end,
        None => crate::plan::time::add_in_range(
            start,
            args.duration.unwrap_or(run.window_end - run.window_start),
        )
        .ok_or_else(|| Error::Refused {
            message: crate::plan::time::out_of_range("the new window's end"),
            hint: Some("give a shorter --duration or an --end".into()),
        })?,
    };
    if end <= start {
        return Err(Error::Refused {
            message: "the new window ends before it starts".into(),
            hint: None,
        });
    }
    if start - now < plan.lead_time() {
        return Err(Error::Refused {
            message: format!(
                "the new window starts at {}, inside the {} lead time",
                format_utc(start),
                format_duration(plan.lead_time())
            ),
            hint: Some(format!(
                "start at {} or later",
                now.checked_add_signed(plan.lead_time())
                    .map_or_else(|| "a later time".to_owned(), format_utc)
            )),
        });
    }
    let point = match &args.point_in_time {
        Some(text) => PointInTime::parse(text)
            .map_err(|message| Error::Refused {
                message,
                hint: None,
            })?
            .resolve(start),
        None => run.point_in_time,
    };
    let mut moved = run.clone();
    moved.id = RunRecord::id_for(&run.plan, start);
    moved.window_start = start;
    moved.window_end = end;
    moved.point_in_time = point;
    moved.state = RunState::Submitted;
    moved.created = now;
    moved.updated = now;
    moved.version = 0;
    let Claim::Inserted(moved) = store.insert_run(&moved)? else {
        return Err(Error::Refused {
            message: format!("run `{}` already exists", moved.id),
            hint: None,
        });
    };
    let operator = operator(&args.operator);
    record_reschedule(&store, &mut run, &moved, &operator, now)?;
    if let LockOutcome::HeldBy(holder) = store.lock(&moved.lock_key(), &moved.id, now)? {
        return Err(Error::Refused {
            message: format!("run `{holder}` holds the environment"),
            hint: None,
        });
    }
    let previous = Previous {
        run: run.id.clone(),
        start: run.window_start,
        end: run.window_end,
    };
    notify(
        &store,
        &plan,
        &moved,
        run_adapter(&moved, globals),
        sends_notifications(&moved, globals, args.notify),
        now,
        |notifier| notifier.by(operator).rescheduled_from(previous),
        NotificationEvent::Rescheduled,
    );
    writeln!(out, "{}", moved.id)?;
    Ok(exit::SUCCESS)
}

/// Cancels `run` for `moved`; both runs' logs say who moved the window, from where to where,
/// and why.
fn record_reschedule(
    store: &StateStore,
    run: &mut RunRecord,
    moved: &RunRecord,
    operator: &Operator,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let side = |record: &RunRecord| {
        serde_json::json!({
            "start": format_utc(record.window_start),
            "end": format_utc(record.window_end),
            "run": record.id,
        })
    };
    let mut rescheduled = serde_json::json!({ "from": side(run), "to": side(moved) });
    operator.add_to(&mut rescheduled);
    store.append_event(&run.id, "rescheduled", &rescheduled, now)?;
    let canceled = serde_json::json!({
        "message": "canceled",
        "note": format!("rescheduled as `{}`", moved.id),
        "by": operator.by,
    });
    cancel_run(store, run, now, &canceled)?;
    store.append_event(&moved.id, "rescheduled", &rescheduled, now)?;
    store.append_event(
        &moved.id,
        "run-state",
        &serde_json::json!({ "message": "submitted" }),
        now,
    )?;
    Ok(())
}

pub fn approve(
    args: &ApproveArgs,
    globals: &Globals<'_>,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let store = open_store(globals.state, globals.adapter)?;
    let operator = operator(&args.operator);
    executor::approve(&store, &args.run, &args.step, &operator, Utc::now()).map_err(|error| {
        match error {
            ApproveError::UnknownRun(run) => Error::UnknownRun(run),
            ApproveError::Store(error) => Error::Store(error),
            refused => Error::Refused {
                message: refused.to_string(),
                hint: Some(format!(
                    "`refreshctl status {}` shows what it waits for",
                    args.run
                )),
            },
        }
    })?;
    let adapter = store
        .run(&args.run)?
        .map_or(globals.adapter, |run| run_adapter(&run, globals));
    writeln!(
        out,
        "{} {}: approved; `refreshctl {}resume {}` continues the run",
        args.run,
        args.step,
        adapter_flag(adapter),
        args.run
    )?;
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(kind: &str, detail: serde_json::Value) -> String {
        let event = EventRecord {
            run: "uat@20261208T2000Z".into(),
            sequence: 1,
            at: DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
                .expect("time")
                .to_utc(),
            kind: kind.into(),
            detail,
        };
        LogView::new(&event).message
    }

    fn steps_of_every_kind(start: DateTime<Utc>) -> Vec<crate::state::StepRecord> {
        let step = |id: &str, state: StepState, remote: RemoteIds| crate::state::StepRecord {
            id: id.into(),
            state,
            remote,
            intent: None,
            polls: 0,
        };
        vec![
            step("pending", StepState::Pending, RemoteIds::default()),
            step(
                "running",
                StepState::Running { started: start },
                RemoteIds {
                    activity: Some("a".into()),
                    ..RemoteIds::default()
                },
            ),
            step(
                "succeeded",
                StepState::Succeeded {
                    started: start,
                    finished: start,
                },
                RemoteIds {
                    activity: Some("a".into()),
                    asset: Some("b".into()),
                    blocks: vec!["MDAw".into(), "MDAx".into()],
                    file: Some("/tmp/x \"y\".zip".into()),
                },
            ),
            step(
                "failed",
                StepState::Failed {
                    started: start,
                    finished: DateTime::<Utc>::MIN_UTC,
                    error: "502 \"Bad Gateway\"\n".into(),
                },
                RemoteIds {
                    blocks: vec!["MDAw".into()],
                    ..RemoteIds::default()
                },
            ),
            step(
                "skipped",
                StepState::Skipped {
                    reason: "not needed".into(),
                },
                RemoteIds {
                    file: Some("f".into()),
                    ..RemoteIds::default()
                },
            ),
        ]
    }

    /// Runs in every state, with every kind of step, text that needs escaping, remote ids of
    /// every kind and none, a time beyond four-digit years, and no steps at all.
    fn runs_of_every_shape() -> Vec<RunRecord> {
        use crate::state::StepRecord;
        let at = |text: &str| DateTime::parse_from_rfc3339(text).expect("time").to_utc();
        let start = at("2026-12-05T21:00:00Z");
        let run = |id: &str, state: RunState, steps: Vec<StepRecord>| RunRecord {
            id: id.into(),
            plan: "uat \"weekly\"\\\u{1}\u{1f}\u{7f}é".into(),
            file: "plans/uat.yaml".into(),
            target: "1234567/uat".into(),
            state,
            window_start: start,
            window_end: DateTime::<Utc>::MAX_UTC,
            point_in_time: Some(start),
            target_id: None,
            source_id: None,
            adapter: Some(AdapterKind::Simulator),
            reason: Some("an\nemergency\t\r\u{8}\u{c}".into()),
            steps,
            created: start,
            updated: start,
            version: 1,
            fence: 0,
        };
        let steps = steps_of_every_kind(start);
        let mut runs = vec![
            run("uat@1", RunState::Succeeded, steps.clone()),
            run(
                "uat@2",
                RunState::Failed {
                    error: "boom\u{0}".into(),
                },
                steps.clone(),
            ),
            run("uat@3", RunState::Submitted, Vec::new()),
            run(
                "uat@4",
                RunState::AwaitingApproval {
                    step: "manual".into(),
                },
                steps.clone(),
            ),
            run(
                "uat@5",
                RunState::NeedsAttention {
                    step: "running".into(),
                    reason: "lost".into(),
                },
                steps,
            ),
            run(
                "uat@6",
                RunState::Rejected {
                    reason: "no".into(),
                },
                Vec::new(),
            ),
        ];
        runs[2].adapter = None;
        runs[2].point_in_time = None;
        runs[2].reason = None;
        runs
    }

    #[test]
    fn runs_are_written_as_serde_json_writes_their_views() {
        for runs in [runs_of_every_shape(), Vec::new()] {
            let views: Vec<RunView<'_>> = runs.iter().map(view).collect();
            let mut expected = serde_json::to_string_pretty(&views).expect("json");
            expected.push('\n');
            let mut written = Vec::new();
            let any = write_views(&mut written, runs.clone().into_iter().map(Ok)).expect("written");
            end_views(&mut written, any).expect("written");
            assert_eq!(String::from_utf8(written).expect("utf-8"), expected);
        }
    }

    #[test]
    fn every_kind_of_entry_reads_as_words() {
        let window =
            |start: &str, end: &str, run: &str| json!({ "start": start, "end": end, "run": run });
        let cases = [
            (
                "run-state",
                json!({ "message": "submitted" }),
                "run submitted",
            ),
            (
                "run-state",
                json!({ "message": "rejected", "reason": "the target is busy" }),
                "run rejected: the target is busy",
            ),
            (
                "run-state",
                json!({ "message": "canceled", "by": "bob", "reason": "called off" }),
                "run canceled by bob: reason called off",
            ),
            (
                "run-state",
                json!({ "message": "canceled", "note": null }),
                "run canceled",
            ),
            (
                "run-state",
                json!({ "message": "running", "approved": "manual", "by": "carol" }),
                "run running: `manual` approved by carol",
            ),
            (
                "rescheduled",
                json!({
                    "by": "alice", "reason": "moved",
                    "from": window("2026-12-01T20:00:00Z", "2026-12-02T00:00:00Z", "uat@20261201T2000Z"),
                    "to": window("2026-12-08T20:00:00Z", "2026-12-09T00:00:00Z", "uat@20261208T2000Z"),
                }),
                "rescheduled by alice: from 2026-12-01T20:00:00Z (Tue) – 2026-12-02T00:00:00Z (Wed) \
                 to 2026-12-08T20:00:00Z (Tue) – 2026-12-09T00:00:00Z (Wed) \
                 (was run `uat@20261201T2000Z`): reason moved",
            ),
            (
                "emergency",
                json!({ "reason": "bad import" }),
                "emergency: the lead time is waived: bad import",
            ),
            (
                "retry-step",
                json!({ "step": "deploy.apply" }),
                "sent again on an operator's request (`resume --retry-step`)",
            ),
            (
                "retry-step",
                json!({
                    "step": "deploy.apply", "failed": "deploy.monitor",
                    "message": "`deploy.monitor` is run again from `deploy.apply`",
                    "by": "dave", "reason": "the deployment's SQL timeout was raised",
                }),
                "`deploy.monitor` is run again from `deploy.apply` (`resume --retry-step`) by dave: \
                 reason the deployment's SQL timeout was raised",
            ),
            (
                "notification-failed",
                json!({ "url": "https://hooks.example/…", "error": "HTTP 500" }),
                "the notification to https://hooks.example/… was not delivered: HTTP 500",
            ),
            (
                "step-started",
                json!({ "step": "preflight", "message": "preflight started", "until": null }),
                "preflight started",
            ),
            (
                "something-new",
                json!({ "count": 2, "name": "x", "gone": null }),
                "something-new: count 2, name x",
            ),
            ("something-new", json!({}), "something-new"),
        ];
        for (kind, detail, expected) in cases {
            assert_eq!(message(kind, detail.clone()), expected, "{kind} {detail}");
        }
    }

    #[test]
    fn times_show_their_weekday() {
        assert_eq!(
            with_weekday("2026-12-02T10:00:00Z"),
            "2026-12-02T10:00:00Z (Wed)"
        );
        assert_eq!(with_weekday("not a time"), "not a time");
    }
}
