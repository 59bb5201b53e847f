//! `history`: every finished run with the figures a change board asks for: when it ran, how
//! long the environment was offline, how long the refresh itself took, and the outcome.

use std::io::Write;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::apply::Globals;
use super::runtime::open_store_read_only;
use crate::cli::{HistoryArgs, HistoryFormat};
use crate::error::{Error, exit};
use crate::plan::time::{format_duration, format_utc};
use crate::report::preview::with_weekday;
use crate::state::{RunRecord, RunState, StepRecord, StepState};

/// One finished run (`history --format json`).
#[derive(Debug, Serialize)]
pub(super) struct Row {
    pub(super) run: String,
    plan: String,
    environment: String,
    pub(super) window_start: String,
    window_end: String,
    /// When the run was submitted.
    submitted: String,
    /// When the first step in the window started (none for a run that never got there).
    pub(super) started: Option<String>,
    pub(super) finished: String,
    /// Window start to the end of the last step that took the environment down (the refresh or
    /// restore, a deployment); none when no such step ran.
    pub(super) offline_seconds: Option<i64>,
    /// The refresh or restore operation, from its request to its end.
    pub(super) refresh_seconds: Option<i64>,
    pub(super) outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) detail: Option<String>,
}

/// Every finished run of `runs` (of one environment, or all), oldest window first.
pub(super) fn rows(runs: &[RunRecord], environment_named: Option<&str>) -> Vec<Row> {
    let mut rows: Vec<Row> = runs
        .iter()
        .filter(|run| run.state.is_finished())
        .filter(|run| {
            environment_named
                .is_none_or(|wanted| wanted.eq_ignore_ascii_case(run.environment_name()))
        })
        .map(row)
        .collect();
    rows.sort_by(|a, b| (&a.window_start, &a.run).cmp(&(&b.window_start, &b.run)));
    rows
}

pub fn run(args: &HistoryArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store_read_only(globals.state, globals.adapter)?;
    let rows = rows(&store.runs()?, args.environment.as_deref());
    let mut out = std::io::BufWriter::new(out);
    match args.format {
        HistoryFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        HistoryFormat::Csv => {
            // RFC 4180 ends every record, the header too, with CRLF.
            write!(
                out,
                "run,plan,environment,window_start,window_end,submitted,started,finished,\
                 offline_seconds,refresh_seconds,outcome,detail\r\n"
            )?;
            for row in &rows {
                let fields = [
                    row.run.clone(),
                    row.plan.clone(),
                    row.environment.clone(),
                    row.window_start.clone(),
                    row.window_end.clone(),
                    row.submitted.clone(),
                    row.started.clone().unwrap_or_default(),
                    row.finished.clone(),
                    row.offline_seconds
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    row.refresh_seconds
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    row.outcome.to_owned(),
                    row.detail.clone().unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
                write!(out, "{}\r\n", line.join(","))?;
            }
        }
        HistoryFormat::Table => {
            let width = rows
                .iter()
                .map(|row| row.run.len())
                .max()
                .unwrap_or(3)
                .max(3);
            writeln!(
                out,
                "{:<width$}  {:<26}  {:>10}  {:>10}  OUTCOME",
                "RUN", "STARTED (UTC)", "OFFLINE", "REFRESH"
            )?;
            let shown = |seconds: Option<i64>| {
                seconds.map_or_else(
                    || "-".to_owned(),
                    |s| format_duration(TimeDelta::seconds(s)),
                )
            };
            for row in &rows {
                let started = row
                    .started
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), with_weekday);
                writeln!(
                    out,
                    "{:<width$}  {:<26}  {:>10}  {:>10}  {}{}",
                    row.run,
                    started,
                    shown(row.offline_seconds),
                    shown(row.refresh_seconds),
                    row.outcome,
                    row.detail
                        .as_deref()
                        .map(|detail| format!(": {}", one_line(detail)))
                        .unwrap_or_default()
                )?;
            }
            if rows.is_empty() {
                writeln!(out, "(no finished runs)")?;
            }
        }
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}

fn row(run: &RunRecord) -> Row {
    // Preflight and submission happen a lead time before; the run starts with the window.
    let started = run
        .steps
        .iter()
        .filter(|step| !matches!(step.id.as_str(), "preflight" | "submit" | "wait-for-window"))
        .filter_map(started_at)
        .min();
    let destructive_end = run
        .steps
        .iter()
        .filter(|step| takes_environment_down(&step.id))
        .filter_map(finished_at)
        .max();
    let offline = destructive_end.map(|end| (end - run.window_start).num_seconds().max(0));
    let refresh_start = run
        .steps
        .iter()
        .find(|step| step.id == "start-refresh" || step.id == "start-restore")
        .and_then(started_at);
    let refresh_end = run
        .steps
        .iter()
        .find(|step| step.id == "monitor-refresh" || step.id == "monitor-restore")
        .and_then(finished_at);
    let refresh = match (refresh_start, refresh_end) {
        (Some(start), Some(end)) => Some((end - start).num_seconds().max(0)),
        _ => None,
    };
    let detail = match &run.state {
        RunState::Failed { error } => Some(error.clone()),
        RunState::Rejected { reason } => Some(reason.clone()),
        _ => None,
    };
    Row {
        run: run.id.clone(),
        plan: run.plan.clone(),
        environment: run.environment_name().to_owned(),
        window_start: format_utc(run.window_start),
        window_end: format_utc(run.window_end),
        submitted: format_utc(run.created),
        started: started.map(format_utc),
        finished: format_utc(run.updated),
        offline_seconds: offline,
        refresh_seconds: refresh,
        outcome: run.state.name(),
        detail,
    }
}

/// The refresh or restore and a deployment's apply and monitor take the environment down;
/// preflight, uploads, commands and manual steps do not.
fn takes_environment_down(step: &str) -> bool {
    matches!(
        step,
        "start-refresh" | "monitor-refresh" | "start-restore" | "monitor-restore"
    ) || step
        .rsplit_once('.')
        .is_some_and(|(_, part)| matches!(part, "apply" | "monitor"))
}

fn started_at(step: &StepRecord) -> Option<DateTime<Utc>> {
    match step.state {
        StepState::Running { started }
        | StepState::Succeeded { started, .. }
        | StepState::Failed { started, .. } => Some(started),
        StepState::Pending | StepState::Skipped { .. } => None,
    }
}

fn finished_at(step: &StepRecord) -> Option<DateTime<Utc>> {
    match step.state {
        StepState::Succeeded { finished, .. } | StepState::Failed { finished, .. } => {
            Some(finished)
        }
        _ => None,
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled.
/// A field that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is prefixed
/// with `'`, so an error message cannot become a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn only_steps_that_take_the_environment_down_count_as_offline() {
        for step in [
            "start-refresh",
            "monitor-restore",
            "deploy.apply",
            "reprovision#2.monitor",
        ] {
            assert!(takes_environment_down(step), "{step}");
        }
        for step in [
            "preflight",
            "deploy.upload",
            "command",
            "manual",
            "reset-financial-reporting",
        ] {
            assert!(!takes_environment_down(step), "{step}");
        }
    }
}
