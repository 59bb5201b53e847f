//! `daemon --listen`: a read-only status page and API beside the scheduler, for the people who
//! use the environments and the operator who looks after the runs.
//!
//! `/` is an HTML page (the preview's template engine, no JavaScript), `/runs` and `/runs/{id}`
//! the JSON of `runs` and `status`, `/calendar.ics` the downtime feed of `calendar`, `/metrics`
//! the Prometheus text format, `/healthz` and `/readyz` probes. Nothing here changes a run: the
//! router answers GET (and HEAD) only. Every answer is read from the state store when it is
//! asked for, on the blocking pool, so the page costs nothing while nobody looks.

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::calendar::feed;
use super::history::rows;
use super::runs::{runs_json, status_json};
use crate::clock::Clock;
use crate::error::Error;
use crate::metrics;
use crate::plan::Plan;
use crate::plan::time::{format_duration, format_utc};
use crate::report::ical::EventStatus;
use crate::report::preview::{render, with_weekday};
use crate::state::{RunRecord, RunState, StateStore, StepState};

const PAGE: &str = include_str!("../../templates/status.html.tera");

/// How far ahead the page and `/calendar.ics` look.
const AHEAD: TimeDelta = TimeDelta::days(60);
/// How many finished runs the page lists.
const RECENT: usize = 10;
/// How many upcoming windows it lists.
const UPCOMING: usize = 20;

/// What the daemon shares with its page: the store, the plans as last loaded, its clock.
pub struct Live {
    pub store: Arc<StateStore>,
    pub plans: RwLock<Arc<Vec<Plan>>>,
    pub clock: Clock,
    /// The daemon's adapter: what is due next is due to it.
    pub adapter: crate::adapter::AdapterKind,
    pub owner: String,
}

impl Live {
    fn plans(&self) -> Arc<Vec<Plan>> {
        self.plans
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The plans the daemon schedules from now on.
    pub fn reload(&self, plans: Vec<Plan>) {
        *self
            .plans
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(plans);
    }
}

/// The page's routes.
pub fn router(live: Arc<Live>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(one_run))
        .route("/calendar.ics", get(calendar))
        .route("/metrics", get(prometheus))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(live)
}

/// Serves the page on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, live: Arc<Live>) {
    if let Err(error) = axum::serve(listener, router(live)).await {
        tracing::warn!("the status page stopped: {error}");
    }
}

/// Runs `read` on the blocking pool: the store's clients block.
async fn read<T: Send + 'static>(
    live: &Arc<Live>,
    read: impl FnOnce(&Live) -> Result<T, Error> + Send + 'static,
) -> Result<T, Response> {
    let live = live.clone();
    match tokio::task::spawn_blocking(move || read(&live)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(unavailable(&error.to_string())),
        Err(_) => Err(unavailable("the request could not be answered")),
    }
}

fn unavailable(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// An answer with its type; never cached, never sniffed, no scripts.
fn answer(content_type: &'static str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

fn json_answer(value: &Value) -> Response {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    answer("application/json", text)
}

async fn runs(State(live): State<Arc<Live>>) -> Response {
    match read(&live, |live| runs_json(&live.store)).await {
        Ok(text) => answer(
            "application/json",
            String::from_utf8(text).unwrap_or_default(),
        ),
        Err(response) => response,
    }
}

async fn one_run(State(live): State<Arc<Live>>, Path(id): Path<String>) -> Response {
    let found = read(&live, move |live| match live.store.run(&id)? {
        Some(run) => Ok(Some(status_json(&live.store, &run)?)),
        None => Ok(None),
    })
    .await;
    match found {
        Ok(Some(value)) => json_answer(&value),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"error\":\"no such run\"}\n",
        )
            .into_response(),
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
struct CalendarQuery {
    environment: Option<String>,
}

async fn calendar(State(live): State<Arc<Live>>, Query(query): Query<CalendarQuery>) -> Response {
    let text = read(&live, move |live| {
        let now = live.clock.now();
        let from = now - TimeDelta::days(1);
        let calendar = feed(
            &live.plans(),
            &live.store,
            &live.store.runs()?,
            (from, now + AHEAD),
            query.environment.as_deref(),
            now,
        )?;
        Ok(calendar.render())
    })
    .await;
    match text {
        Ok(text) => answer("text/calendar; charset=utf-8", text),
        Err(response) => response,
    }
}

async fn healthz() -> Response {
    answer("text/plain; charset=utf-8", "ok\n".to_owned())
}

/// Ready when the state store answers.
async fn readyz(State(live): State<Arc<Live>>) -> Response {
    match read(&live, |live| Ok(live.store.next_due(live.adapter)?)).await {
        Ok(_) => answer("text/plain; charset=utf-8", "ready\n".to_owned()),
        Err(response) => response,
    }
}

async fn page(State(live): State<Arc<Live>>) -> Response {
    let html = read(&live, |live| {
        let context = page_context(live)?;
        render("status.html", PAGE, &context).map_err(|message| Error::Refused {
            message,
            hint: None,
        })
    })
    .await;
    match html {
        Ok(html) => answer("text/html; charset=utf-8", html),
        Err(response) => response,
    }
}

/// Everything the page shows, read now.
fn page_context(live: &Live) -> Result<Value, Error> {
    let now = live.clock.now();
    let runs = live.store.runs()?;
    let calendar = feed(
        &live.plans(),
        &live.store,
        &runs,
        (now, now + AHEAD),
        None,
        now,
    )?;
    let upcoming: Vec<Value> = calendar
        .events
        .iter()
        .filter(|event| event.status != EventStatus::Cancelled && event.start > now)
        .take(UPCOMING)
        .map(|event| {
            // A submitted window shows its run's state; one not submitted yet is planned.
            let state = runs
                .iter()
                .find(|run| run.id == event.uid)
                .map_or("planned", |run| run.state.name());
            json!({
                "run": event.uid,
                "start": with_weekday(&format_utc(event.start)),
                "end": with_weekday(&format_utc(event.end)),
                "summary": event.summary,
                "state": state,
            })
        })
        .collect();
    let in_progress: Vec<Value> = runs
        .iter()
        .filter(|run| matches!(run.state, RunState::Running))
        .map(|run| progress(run, now))
        .collect();
    let attention: Vec<Value> = runs.iter().filter_map(needs_a_person).collect();
    let mut recent = rows(&runs, None);
    recent.sort_by(|a, b| b.finished.cmp(&a.finished));
    let recent: Vec<Value> = recent
        .iter()
        .take(RECENT)
        .map(|row| {
            let shown = |seconds: Option<i64>| {
                seconds.map_or_else(
                    || "–".to_owned(),
                    |seconds| format_duration(TimeDelta::seconds(seconds)),
                )
            };
            json!({
                "run": row.run,
                "outcome": row.outcome,
                "started": row.started.as_deref().map_or_else(|| with_weekday(&row.window_start), with_weekday),
                "offline": shown(row.offline_seconds),
                "refresh": shown(row.refresh_seconds),
                "detail": row.detail,
            })
        })
        .collect();
    let next_due = live.store.next_due(live.adapter)?;
    Ok(json!({
        "now": with_weekday(&format_utc(now)),
        "owner": live.owner,
        "next_due": next_due.map(|due| with_weekday(&format_utc(due))),
        "upcoming": upcoming,
        "in_progress": in_progress,
        "attention": attention,
        "recent": recent,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// A running run: its current step and how long it and the run have taken.
fn progress(run: &RunRecord, now: DateTime<Utc>) -> Value {
    let current = run.steps.iter().find_map(|step| match step.state {
        StepState::Running { started } => Some((step.id.as_str(), started)),
        _ => None,
    });
    let done = run
        .steps
        .iter()
        .filter(|step| matches!(step.state, StepState::Succeeded { .. }))
        .count();
    json!({
        "run": run.id,
        "plan": run.plan,
        "step": current.map(|(id, _)| id),
        "step_elapsed": current.map(|(_, started)| format_duration(now - started)),
        "elapsed": format_duration(now - run.window_start),
        "done": done,
        "steps": run.steps.len(),
    })
}

/// A run waiting for a person, with the command that lets it go on.
fn needs_a_person(run: &RunRecord) -> Option<Value> {
    // The same words as `tick` and the notifications use.
    let command = crate::executor::unblocking_command(run)?;
    let what = match &run.state {
        RunState::AwaitingApproval { step } => format!("waiting for approval of step {step}"),
        RunState::NeedsAttention { step, reason } => {
            format!("needs attention at step {step}: {reason}")
        }
        _ => return None,
    };
    Some(
        json!({ "run": run.id, "plan": run.plan, "state": run.state.name(), "what": what, "command": command }),
    )
}

/// Step durations are observed into these buckets (seconds): a minute to a day.
const BUCKETS: [f64; 10] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 57_600.0, 86_400.0,
];

async fn prometheus(State(live): State<Arc<Live>>) -> Response {
    match read(&live, metrics_text).await {
        Ok(text) => answer("text/plain; version=0.0.4; charset=utf-8", text),
        Err(response) => response,
    }
}

/// A label value in the text format: backslash, quote and line feed escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A step's id without the `#2` of a repeated step: one series per kind of step.
fn step_kind(id: &str) -> String {
    match id.split_once('#') {
        Some((kind, rest)) => {
            let after = rest.split_once('.').map_or("", |(_, part)| part);
            if after.is_empty() {
                kind.to_owned()
            } else {
                format!("{kind}.{after}")
            }
        }
        None => id.to_owned(),
    }
}

fn seconds(time: DateTime<Utc>) -> f64 {
    // Milliseconds are enough; an f64 holds them exactly for these dates.
    #[expect(
        clippy::cast_precision_loss,
        reason = "timestamps in ms fit f64's 53 bits"
    )]
    let shown = time.timestamp_millis() as f64 / 1000.0;
    shown
}

/// Writes a metric family's `HELP` and `TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The Prometheus text exposition format (0.0.4).
fn metrics_text(live: &Live) -> Result<String, Error> {
    let runs = live.store.runs()?;
    let mut out = String::new();
    family(
        &mut out,
        "refreshctl_runs",
        "gauge",
        "Runs in the state store, by state.",
    );
    for state in [
        "submitted",
        "accepted",
        "running",
        "awaiting-approval",
        "needs-attention",
        "succeeded",
        "failed",
        "rejected",
        "canceled",
    ] {
        let count = runs.iter().filter(|run| run.state.name() == state).count();
        let _ = writeln!(out, "refreshctl_runs{{state=\"{state}\"}} {count}");
    }
    step_histograms(&mut out, &runs);
    counters(&mut out, &metrics::snapshot());
    if let Some(due) = live.store.next_due(live.adapter)? {
        family(
            &mut out,
            "refreshctl_next_due_timestamp_seconds",
            "gauge",
            "When the next submission or run step is due.",
        );
        let _ = writeln!(
            out,
            "refreshctl_next_due_timestamp_seconds {}",
            seconds(due)
        );
    }
    Ok(out)
}

/// Finished steps by kind, into cumulative buckets.
fn step_histograms(out: &mut String, runs: &[RunRecord]) {
    let mut steps: std::collections::BTreeMap<String, (Vec<u64>, f64, u64)> =
        std::collections::BTreeMap::new();
    for run in runs {
        for step in &run.steps {
            let (StepState::Succeeded { started, finished }
            | StepState::Failed {
                started, finished, ..
            }) = step.state
            else {
                continue;
            };
            #[expect(
                clippy::cast_precision_loss,
                reason = "step durations in ms fit f64's 53 bits"
            )]
            let took = (finished - started).num_milliseconds().max(0) as f64 / 1000.0;
            let entry = steps
                .entry(step_kind(&step.id))
                .or_insert_with(|| (vec![0; BUCKETS.len()], 0.0, 0));
            for (bucket, bound) in entry.0.iter_mut().zip(BUCKETS) {
                if took <= bound {
                    *bucket += 1;
                }
            }
            entry.1 += took;
            entry.2 += 1;
        }
    }
    family(
        out,
        "refreshctl_step_duration_seconds",
        "histogram",
        "How long finished steps took, by step.",
    );
    for (step, (buckets, sum, count)) in &steps {
        let step = label(step);
        let series = "refreshctl_step_duration_seconds";
        for (bucket, bound) in buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "{series}_bucket{{step=\"{step}\",le=\"{bound}\"}} {bucket}"
            );
        }
        let _ = writeln!(
            out,
            "{series}_bucket{{step=\"{step}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "{series}_sum{{step=\"{step}\"}} {sum}");
        let _ = writeln!(out, "{series}_count{{step=\"{step}\"}} {count}");
    }
}

/// What this process counted: calls, retries, passes, takeovers, the last pass.
fn counters(out: &mut String, counters: &metrics::Counters) {
    family(
        out,
        "refreshctl_adapter_calls_total",
        "counter",
        "Calls to the service's API by this process, by outcome.",
    );
    for ((service, call, outcome), count) in &counters.calls {
        let call = label(call);
        let _ = writeln!(
            out,
            "refreshctl_adapter_calls_total{{service=\"{service}\",call=\"{call}\",outcome=\"{outcome}\"}} {count}"
        );
    }
    family(
        out,
        "refreshctl_adapter_retries_total",
        "counter",
        "Calls tried again by this process, by reason.",
    );
    for ((service, call, reason), count) in &counters.retries {
        let call = label(call);
        let _ = writeln!(
            out,
            "refreshctl_adapter_retries_total{{service=\"{service}\",call=\"{call}\",reason=\"{reason}\"}} {count}"
        );
    }
    family(
        out,
        "refreshctl_passes_total",
        "counter",
        "Scheduler passes of this daemon.",
    );
    let _ = writeln!(out, "refreshctl_passes_total {}", counters.passes);
    family(
        out,
        "refreshctl_lease_takeovers_total",
        "counter",
        "Runs this daemon took over from a replica whose lease ran out.",
    );
    let _ = writeln!(
        out,
        "refreshctl_lease_takeovers_total {}",
        counters.lease_takeovers
    );
    if let Some(pass) = counters.last_pass {
        family(
            out,
            "refreshctl_last_pass_timestamp_seconds",
            "gauge",
            "When the last scheduler pass started (the daemon's clock).",
        );
        let _ = writeln!(
            out,
            "refreshctl_last_pass_timestamp_seconds {}",
            seconds(pass.started)
        );
        family(
            out,
            "refreshctl_last_pass_duration_seconds",
            "gauge",
            "How long the last scheduler pass took (wall time).",
        );
        let _ = writeln!(
            out,
            "refreshctl_last_pass_duration_seconds {}",
            pass.seconds
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_steps_share_one_series() {
        assert_eq!(step_kind("deploy#2.apply"), "deploy.apply");
        assert_eq!(step_kind("command#3"), "command");
        assert_eq!(step_kind("monitor-refresh"), "monitor-refresh");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
