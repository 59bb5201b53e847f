//! `runs`, `status`, `reschedule`, `cancel` and `approve`.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::apply::Globals;
use super::check_settings;
use super::runtime::{checked_plan, open_store, open_store_read_only};
use crate::cli::{
    ApproveArgs, CheckArgs, RescheduleArgs, RunArg, RunsArgs, StatusArgs, TableFormat,
};
use crate::error::{Error, exit};
use crate::executor::{self, ApproveError};
use crate::plan::PointInTime;
use crate::plan::time::{format_duration, format_utc};
use crate::report::preview::with_weekday;
use crate::state::{
    Claim, EventRecord, LockOutcome, RemoteIds, RunRecord, RunState, StateStore, StepState,
};

/// A run as `status --format json` shows it (SPEC 4).
#[derive(Serialize)]
struct RunView<'a> {
    id: &'a str,
    plan: &'a str,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    window: WindowView,
    point_in_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    steps: Vec<StepView<'a>>,
    /// The run's log, oldest first (`status` only; `runs` leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<Vec<LogView>>,
}

/// One entry of a run's log: what the executor, the scheduler or an operator recorded.
#[derive(Serialize)]
struct LogView {
    at: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<String>,
    message: String,
}

impl LogView {
    fn new(event: &EventRecord) -> Self {
        let text = |key: &str| event.detail[key].as_str().map(str::to_owned);
        let message = match event.kind.as_str() {
            "notification-failed" => format!(
                "the notification to {} was not delivered: {}",
                text("url").unwrap_or_default(),
                text("error").unwrap_or_default()
            ),
            _ => match (text("message"), text("reason")) {
                (Some(message), Some(reason)) => format!("{message}: {reason}"),
                (Some(message), None) => message,
                (None, _) => event.detail.to_string(),
            },
        };
        let message = if event.kind == "run-state" {
            format!("run {message}")
        } else {
            message
        };
        Self {
            at: format_utc(event.at),
            kind: event.kind.clone(),
            step: text("step"),
            message,
        }
    }
}

#[derive(Serialize)]
struct WindowView {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct StepView<'a> {
    id: &'a str,
    state: &'static str,
    started: Option<String>,
    finished: Option<String>,
    remote: &'a RemoteIds,
    error: Option<&'a str>,
}

fn view(run: &RunRecord) -> RunView<'_> {
    RunView {
        id: &run.id,
        plan: &run.plan,
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
                    started: started.map(format_utc),
                    finished: finished.map(format_utc),
                    remote: &step.remote,
                    error,
                }
            })
            .collect(),
        log: None,
    }
}

pub fn runs(args: &RunsArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store_read_only(globals.state, globals.adapter)?;
    let mut out = std::io::BufWriter::new(out);
    match args.format {
        TableFormat::Json => {
            let runs = store.runs()?;
            let views: Vec<RunView<'_>> = runs.iter().map(view).collect();
            serde_json::to_writer_pretty(&mut out, &views).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        TableFormat::Table => {
            let runs = store.run_summaries()?;
            let width = runs
                .iter()
                .map(|run| run.id.len())
                .max()
                .unwrap_or(3)
                .max(3);
            writeln!(out, "{:<width$}  {:<17}  WINDOW (UTC)", "RUN", "STATE")?;
            for run in &runs {
                // A run does not record its plan's zone (the plan may have changed since), so the
                // table shows UTC, with the weekday so that a window is read at a glance.
                writeln!(
                    out,
                    "{:<width$}  {:<17}  {} to {}",
                    run.id,
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
            serde_json::to_writer_pretty(&mut *out, &view).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        TableFormat::Table => {
            writeln!(
                out,
                "run     {}\nplan    {} ({})\nstate   {}{}",
                run.id,
                run.plan,
                run.file,
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
                    step.started.as_deref().unwrap_or("-"),
                    step.finished.as_deref().unwrap_or("-")
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
                writeln!(out, "{}  {step}{}", entry.at, entry.message)?;
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

pub fn cancel(args: &RunArg, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store(globals.state, globals.adapter)?;
    let mut run = store
        .run(&args.run)?
        .ok_or_else(|| Error::UnknownRun(args.run.clone()))?;
    not_started(&run, "cancel")?;
    cancel_run(&store, &mut run, Utc::now(), None)?;
    writeln!(out, "{}", run.id)?;
    Ok(exit::SUCCESS)
}

fn cancel_run(
    store: &StateStore,
    run: &mut RunRecord,
    now: DateTime<Utc>,
    note: Option<&str>,
) -> Result<(), Error> {
    run.state = RunState::Canceled;
    run.updated = now;
    store.update_run(run)?;
    store.unlock(&run.target, &run.id)?;
    store.append_event(
        &run.id,
        "run-state",
        &serde_json::json!({ "message": "canceled", "note": note }),
        now,
    )?;
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
        &check_settings(
            &CheckArgs {
                now: Some(now),
                catalog: None,
            },
            Some(globals.adapter),
        )?,
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
    cancel_run(
        &store,
        &mut run,
        now,
        Some(&format!("rescheduled as {}", moved.id)),
    )?;
    if let LockOutcome::HeldBy(holder) = store.lock(&moved.target, &moved.id, now)? {
        return Err(Error::Refused {
            message: format!("run `{holder}` holds the environment"),
            hint: None,
        });
    }
    writeln!(out, "{}", moved.id)?;
    Ok(exit::SUCCESS)
}

pub fn approve(
    args: &ApproveArgs,
    globals: &Globals<'_>,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let store = open_store(globals.state, globals.adapter)?;
    executor::approve(&store, &args.run, &args.step, Utc::now()).map_err(|error| match error {
        ApproveError::UnknownRun(run) => Error::UnknownRun(run),
        ApproveError::Store(error) => Error::Store(error),
        refused => Error::Refused {
            message: refused.to_string(),
            hint: Some(format!(
                "`refreshctl status {}` shows what it waits for",
                args.run
            )),
        },
    })?;
    writeln!(
        out,
        "{} {}: approved; `refreshctl resume {}` continues the run",
        args.run, args.step, args.run
    )?;
    Ok(exit::SUCCESS)
}
