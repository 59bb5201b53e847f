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
use crate::clock::Clock;
use crate::error::{Error, exit};
use crate::executor::{self, ApproveError, Operator};
use crate::notify::{Notifier, Outbox, Previous};
use crate::plan::time::{UtcText, format_duration, format_utc};
use crate::plan::{NotificationEvent, Plan, PointInTime};
use crate::report::preview::with_weekday;
use crate::say;
use crate::state::{
    Claim, EventRecord, LockOutcome, RemoteIds, RunRecord, RunState, StateStore, StepState,
    UNKNOWN_ADAPTER,
};

/// A run as `status --format json` shows it (SPEC 4). The fields of the views are in the order
/// of their names, as JSON objects have always printed them: `runs --format json` writes the
/// views directly, the status page through a `serde_json::Value` (whose objects sort their keys).
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

fn view(run: &RunRecord) -> RunView<'_> {
    RunView {
        id: &run.id,
        plan: &run.plan,
        adapter: run.adapter_name(),
        state: run.state.name(),
        detail: match &run.state {
            RunState::Failed { error } => Some(error.clone()),
            RunState::Rejected { reason } | RunState::NeedsAttention { reason, .. } => {
                Some(reason.clone())
            }
            RunState::AwaitingApproval { step } => Some(format!("waiting for `{step}`")),
            _ => None,
        },
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
                let (state, started, finished, error) = match &step.state {
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
                };
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

/// Writes every run as `runs --format json` shows it. Reading and decoding the records is about
/// half the work and writing them the other half, so a thread reads while this one writes, a
/// run at a time (10,000 runs: 1.47 billion instructions, of which decoding 43 %). The output is
/// made in memory and written once it is whole, so a record that cannot be read prints nothing.
fn write_runs_json(store: &StateStore, out: &mut dyn Write) -> Result<(), Error> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<RunRecord>(256);
    let mut text = Vec::new();
    let (read, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || store.each_run(&mut |run| sender.send(run).is_ok()));
        let written = serde_json::to_writer_pretty(
            &mut text,
            &Views(std::cell::RefCell::new(receiver.iter())),
        );
        drop(receiver);
        (reader.join(), written)
    });
    match read {
        Ok(read) => read?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    written.map_err(std::io::Error::from)?;
    out.write_all(&text)?;
    writeln!(out)?;
    Ok(())
}

/// Runs as `runs --format json` shows them, each made as it is written.
struct Views<I>(std::cell::RefCell<I>);

impl<I: Iterator<Item = RunRecord>> Serialize for Views<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut sequence = serializer.serialize_seq(None)?;
        for run in &mut *self.0.borrow_mut() {
            sequence.serialize_element(&view(&run))?;
        }
        sequence.end()
    }
}

/// Every run as `runs --format json` shows it (the daemon's `/runs`).
pub(super) fn runs_json(runs: &[RunRecord]) -> serde_json::Value {
    serde_json::Value::Array(
        runs.iter()
            .map(|run| serde_json::to_value(view(run)).unwrap_or_default())
            .collect(),
    )
}

/// One run as `status --format json` shows it, with its log (the daemon's `/runs/{id}`).
pub(super) fn status_json(store: &StateStore, run: &RunRecord) -> Result<serde_json::Value, Error> {
    let mut view = view(run);
    view.log = Some(store.events(&run.id)?.iter().map(LogView::new).collect());
    Ok(serde_json::to_value(&view).map_err(std::io::Error::from)?)
}

pub fn runs(args: &RunsArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store_read_only(globals.state, globals.adapter)?;
    let mut out = std::io::BufWriter::new(out);
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
        // A rehearsal's outbox entries are dated on its simulated clock, as its runs are.
        let clock = if adapter.is_real() {
            Clock::wall()
        } else {
            Clock::simulated(now)
        };
        Notifier::new(plan, run, adapter, notify_backoff())
            .with_outbox(Outbox::new(store.clone(), clock))
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
