//! Plan notifications (SPEC 2 and 5.4): an HTTP POST with a JSON body for each run state a
//! notification asks for, retried, and never able to fail the run. A notifier is an event sink:
//! it sees the run's state changes like any reporter.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::adapter::AdapterKind;
use crate::clock::Clock;
use crate::executor::{Event, EventKind, EventSink, Operator, template_context};
use crate::plan::time::format_utc;
use crate::plan::{NotificationEvent, Plan};
use crate::report::preview::redact_url;
use crate::state::{RunRecord, RunState, StateStore};

/// How many times a notification is sent before it is given up.
pub const ATTEMPTS: u32 = 3;

/// What happened to one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Scheme and host only: the rest of a web hook URL is often a secret.
    pub url: String,
    pub event: NotificationEvent,
    pub outcome: Result<u16, String>,
    /// A failure was already warned about and logged when it happened (by the outbox).
    pub reported: bool,
}

impl Delivery {
    /// Writes a notification that was not delivered into the run's log (`notification-failed`),
    /// where people look later, unless that was done when it failed. Best effort: a run's log
    /// must not fail a run.
    pub fn log_if_failed(&self, store: &StateStore, run: &str, at: DateTime<Utc>) {
        if self.reported {
            return;
        }
        if let Err(error) = &self.outcome {
            let _ = store.append_event(
                run,
                "notification-failed",
                &json!({ "url": self.url, "event": event_name(self.event), "error": error }),
                at,
            );
        }
    }
}

pub struct Notifier {
    plan: Plan,
    run: RunRecord,
    /// `None` while rendering only: making a client reads the system's certificates.
    client: Option<reqwest::Client>,
    backoff: Duration,
    tasks: JoinSet<Delivery>,
    /// Render only (a rehearsal): what would have been sent, and nothing sent.
    rendered_only: Option<Vec<Delivery>>,
    /// Why the run is delayed, for the default body of a `delayed` notification.
    delay: Option<String>,
    /// The adapter the run recorded (the command's, for a run recorded before runs recorded
    /// their adapter).
    adapter: AdapterKind,
    /// Who canceled or rescheduled the run by hand, and why.
    operator: Option<Operator>,
    /// Where notifications wait until delivered, and failures are reported as they happen.
    outbox: Option<Outbox>,
    /// Where a rescheduled run was before.
    previous: Option<Previous>,
    /// Why, for the next event sent: a rejection's or failure's reason, what a run that needs
    /// attention needs, a reminder's words.
    detail: Option<String>,
    /// The step a waiting run waits at.
    step: Option<String>,
}

/// The window a rescheduled run had, and the id of the run it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub run: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Notifications sent (or rendered) and not yet waited for.
pub struct Pending {
    tasks: JoinSet<Delivery>,
    rendered_only: Option<Vec<Delivery>>,
}

impl Pending {
    /// Waits for every notification sent; returns what happened to each (status 0: rendered,
    /// not sent).
    pub async fn finish(mut self) -> Vec<Delivery> {
        let mut deliveries = self.rendered_only.take().unwrap_or_default();
        while let Some(result) = self.tasks.join_next().await {
            if let Ok(delivery) = result {
                deliveries.push(delivery);
            }
        }
        deliveries
    }
}

impl Notifier {
    /// A notifier that renders every body but sends nothing (a rehearsal).
    #[must_use]
    pub fn rendering_only(plan: &Plan, run: &RunRecord, adapter: AdapterKind) -> Self {
        Self {
            plan: plan.clone(),
            run: run.clone(),
            client: None,
            backoff: Duration::ZERO,
            tasks: JoinSet::new(),
            rendered_only: Some(Vec::new()),
            delay: None,
            adapter: run.adapter.unwrap_or(adapter),
            operator: None,
            outbox: None,
            previous: None,
            detail: None,
            step: None,
        }
    }

    /// The HTTP client notifications are sent with; one can be shared by many notifiers.
    #[must_use]
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default()
    }

    /// A notifier sending with `client` (see [`Self::client`]).
    #[must_use]
    pub fn with_client(
        plan: &Plan,
        run: &RunRecord,
        adapter: AdapterKind,
        client: reqwest::Client,
        backoff: Duration,
    ) -> Self {
        Self {
            plan: plan.clone(),
            run: run.clone(),
            client: Some(client),
            backoff,
            tasks: JoinSet::new(),
            rendered_only: None,
            delay: None,
            adapter: run.adapter.unwrap_or(adapter),
            operator: None,
            outbox: None,
            previous: None,
            detail: None,
            step: None,
        }
    }

    /// `backoff` is the wait before the second attempt; it doubles after that.
    #[must_use]
    pub fn new(plan: &Plan, run: &RunRecord, adapter: AdapterKind, backoff: Duration) -> Self {
        Self::with_client(plan, run, adapter, Self::client(), backoff)
    }

    /// Keeps every notification in `outbox` until it is delivered, and reports a failed delivery
    /// when it fails (a warning and the run's log).
    #[must_use]
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        if self.rendered_only.is_none() {
            self.outbox = Some(outbox);
        }
        self
    }

    /// The events sent from now on were caused by `operator` (a cancel, a reschedule).
    #[must_use]
    pub fn by(mut self, operator: Operator) -> Self {
        self.operator = Some(operator);
        self
    }

    /// The run was rescheduled from `previous`.
    #[must_use]
    pub fn rescheduled_from(mut self, previous: Previous) -> Self {
        self.previous = Some(previous);
        self
    }

    /// Sets what an `event` of this run says why, as an example (`notify-preview`): the step a
    /// waiting run waits at with its command, a rejection naming the run that holds the
    /// environment, a skip's reason.
    pub fn as_example(&mut self, event: NotificationEvent) {
        let steps = self.plan.run_steps();
        let manual = steps
            .iter()
            .find(|step| matches!(step.action, crate::plan::Action::Manual { .. }))
            .map_or_else(|| "manual".to_owned(), |step| step.id.clone());
        let run = &self.run;
        (self.step, self.detail) = match event {
            NotificationEvent::AwaitingApproval => (Some(manual), None),
            NotificationEvent::NeedsAttention => {
                let step = steps
                    .iter()
                    .find(|step| step.id.starts_with("start-"))
                    .map_or_else(|| "start-refresh".to_owned(), |step| step.id.clone());
                let detail = format!(
                    "`{step}` was about to be sent when the process stopped, and the environment's history does not show it; nothing is sent again automatically: check LCS, then `refreshctl resume {} --retry-step` or `refreshctl cancel {}`",
                    run.id, run.id
                );
                (Some(step), Some(detail))
            }
            NotificationEvent::Rejected => {
                let mut earlier = run.clone();
                let start = run.window_start - chrono::TimeDelta::days(7);
                earlier.id = RunRecord::id_for(self.plan.name(), start);
                for record in &mut earlier.steps {
                    if record.id == manual {
                        record.state = crate::state::StepState::Running {
                            started: start + chrono::TimeDelta::hours(2),
                        };
                    }
                }
                earlier.state = RunState::AwaitingApproval { step: manual };
                (
                    None,
                    Some(crate::executor::held_by(&earlier.id, Some(&earlier))),
                )
            }
            NotificationEvent::Skipped => (
                None,
                Some(format!(
                    "The occurrence is skipped: its submission was due at {} and 24 hours' notice before {} can no longer be given",
                    format_utc(run.window_start - self.plan.lead_time()),
                    format_utc(run.window_start)
                )),
            ),
            _ => (None, None),
        };
    }

    /// Sends the notifications of `event`, saying why (`detail`): a rejection's reason, say.
    pub fn send_because(&mut self, event: NotificationEvent, detail: &str) {
        self.detail = Some(detail.to_owned());
        self.send(event);
    }

    /// Sends the notifications of `event` (in the background: `finish` waits for them).
    pub fn send(&mut self, event: NotificationEvent) {
        for (index, notification) in self.plan.notifications().iter().enumerate() {
            if !notification.events().contains(&event) {
                continue;
            }
            let url = notification.url().to_owned();
            let body = self.body(index, event);
            let shown = redact_url(&url);
            if let Some(rendered) = &mut self.rendered_only {
                rendered.push(Delivery {
                    url: shown,
                    event,
                    outcome: body
                        .map(|_| 0)
                        .map_err(|error| format!("notification {index}: {error}")),
                    reported: false,
                });
                continue;
            }
            let client = self.client.clone().unwrap_or_default();
            let backoff = self.backoff;
            // Kept in the outbox before it is sent: a process that stops while it waits for
            // the answer (or between attempts) leaves it for the next pass.
            let kept = match (&self.outbox, &body) {
                (Some(outbox), Ok(body)) => outbox.keep(&Entry {
                    plan: self.plan.name().to_owned(),
                    run: self.run.id.clone(),
                    index,
                    event,
                    url: shown.clone(),
                    body: body.clone(),
                    attempts: 0,
                    first: outbox.clock.now(),
                    sender: this_process(),
                    sending_until: Utc::now() + sending_budget(backoff),
                }),
                _ => None,
            };
            let outbox = self.outbox.clone();
            let run = self.run.id.clone();
            self.tasks.spawn(async move {
                let outcome = match body {
                    Ok(body) => post(&client, &url, &body, backoff, ATTEMPTS).await,
                    Err(error) => Err(Failure::Permanent(format!("notification {index}: {error}"))),
                };
                let reported = outbox.is_some();
                if let Some(outbox) = &outbox {
                    outbox.settle(&run, kept.as_deref(), event, &shown, &outcome, ATTEMPTS);
                }
                Delivery {
                    url: shown,
                    event,
                    outcome: outcome.map_err(Failure::into_message),
                    reported,
                }
            });
        }
    }

    /// What is still to be delivered, without the plan and run the bodies were rendered from:
    /// a pass keeps this for each of its thousands of runs until the end.
    #[must_use]
    pub fn pending(self) -> Pending {
        Pending {
            tasks: self.tasks,
            rendered_only: self.rendered_only,
        }
    }

    /// Waits for every notification sent; returns what happened to each (status 0: rendered,
    /// not sent).
    pub async fn finish(self) -> Vec<Delivery> {
        self.pending().finish().await
    }

    /// The JSON body of the plan's notification `index` for `event`: its template rendered, or
    /// the default body.
    pub fn body(&self, index: usize, event: NotificationEvent) -> Result<Value, String> {
        let notification = self
            .plan
            .notifications()
            .get(index)
            .ok_or_else(|| format!("the plan has no notification {index}"))?;
        match notification.template() {
            Some(template) => self
                .plan
                .templates()
                .render(template, &self.context(event))
                .and_then(|text| {
                    serde_json::from_str::<Value>(&text)
                        .map_err(|error| format!("the body is not JSON: {error}"))
                }),
            None => Ok(self.default_body(event)),
        }
    }

    fn context(&self, event: NotificationEvent) -> Value {
        let mut context = template_context(
            &self.plan,
            &self.run,
            None,
            event_name(event),
            self.adapter.name(),
        );
        context["run"]["state"] = event_name(event).into();
        if let Some(operator) = &self.operator {
            context["operator"] = operator_value(operator);
        }
        if let Some(previous) = &self.previous {
            context["previous_window"] = previous_value(previous);
        }
        if let Some(detail) = &self.detail {
            context["detail"] = detail.as_str().into();
        }
        if let Some(step) = &self.step {
            context["step"] = json!({ "id": step, "state": event_name(event) });
        }
        context
    }

    fn default_body(&self, event: NotificationEvent) -> Value {
        let run = &self.run;
        let mut text = format!(
            "refreshctl: the refresh of {} ({}) is {} for the window {} to {}",
            self.plan.environment().name(),
            self.plan.name(),
            event_name(event),
            format_utc(run.window_start),
            format_utc(run.window_end)
        );
        let previous = self
            .previous
            .as_ref()
            .filter(|_| event == NotificationEvent::Rescheduled);
        if let Some(previous) = previous {
            let _ = write!(
                text,
                " (it was {} to {})",
                format_utc(previous.start),
                format_utc(previous.end)
            );
        }
        text.push('.');
        if let Some(operator) = &self.operator {
            let _ = write!(text, " By {}", operator.by);
            if let Some(reason) = &operator.reason {
                let _ = write!(text, ": {reason}");
            }
            text.push('.');
        }
        if let (NotificationEvent::Delayed, Some(delay)) = (event, &self.delay) {
            let _ = write!(text, " {delay}.");
        }
        let command = self.unblocking(event);
        match (&self.detail, &command) {
            (Some(detail), _) => {
                let _ = write!(text, " {}", sentence(detail));
            }
            (None, Some(command)) => {
                let _ = write!(text, " It waits for a person: {command}.");
            }
            (None, None) => {}
        }
        if let Some(reason) = &run.reason {
            let _ = write!(text, " Emergency refresh, lead time waived: {reason}");
        }
        if self.adapter == AdapterKind::Simulator {
            text.push_str(" A rehearsal on the simulator: nothing real is touched.");
        }
        let mut body = json!({
            "text": text,
            "plan": self.plan.name(),
            "run": run.id,
            "event": event_name(event),
            "adapter": self.adapter.name(),
            "environment": self.plan.environment().name(),
            "window": { "start": format_utc(run.window_start), "end": format_utc(run.window_end) },
            "reason": run.reason,
        });
        if let Some(operator) = &self.operator {
            body["operator"] = operator_value(operator);
        }
        if let Some(previous) = previous {
            body["previous_window"] = previous_value(previous);
        }
        if let Some(detail) = &self.detail {
            body["detail"] = detail.as_str().into();
        }
        if let Some(step) = &self.step {
            body["step"] = step.as_str().into();
        }
        if let Some(command) = command {
            body["command"] = command.into();
        }
        body
    }

    /// The command that lets a waiting run go on, for `awaiting-approval` and `needs-attention`.
    fn unblocking(&self, event: NotificationEvent) -> Option<String> {
        let step = self.step.clone()?;
        let mut run = self.run.clone();
        run.state = match event {
            NotificationEvent::AwaitingApproval => RunState::AwaitingApproval { step },
            NotificationEvent::NeedsAttention => RunState::NeedsAttention {
                step,
                reason: String::new(),
            },
            _ => return None,
        };
        crate::executor::unblocking_command(&run)
    }
}

/// `text` as a sentence: a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    let mut chars = text.chars();
    let mut sentence: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    sentence
}

impl EventSink for Notifier {
    fn event(&mut self, event: &Event) {
        match event.kind {
            EventKind::RunState => {
                if let Some(notification) = notification_event(&event.message) {
                    self.detail.clone_from(&event.detail);
                    self.step = match notification {
                        NotificationEvent::AwaitingApproval | NotificationEvent::NeedsAttention => {
                            event.step.clone()
                        }
                        _ => None,
                    };
                    self.send(notification);
                }
            }
            EventKind::Reminder => {
                self.detail = Some(event.message.clone());
                self.step.clone_from(&event.step);
                self.send(NotificationEvent::AwaitingApproval);
            }
            EventKind::Delayed => {
                (self.detail, self.step) = (None, None);
                self.delay = Some(event.message.clone());
                self.send(NotificationEvent::Delayed);
            }
            _ => {}
        }
    }
}

/// `operator` in a body and a template context: `by` and `reason` (null when none was given).
fn operator_value(operator: &Operator) -> Value {
    json!({ "by": operator.by, "reason": operator.reason })
}

/// `previous_window` in a body and a template context: `start`, `end` and the `run` it was.
fn previous_value(previous: &Previous) -> Value {
    json!({
        "start": format_utc(previous.start),
        "end": format_utc(previous.end),
        "run": previous.run,
    })
}

/// The notification event for a run state's name (`running` is `started`).
#[must_use]
pub fn notification_event(state: &str) -> Option<NotificationEvent> {
    Some(match state {
        "submitted" => NotificationEvent::Submitted,
        "accepted" => NotificationEvent::Accepted,
        "rejected" => NotificationEvent::Rejected,
        "running" => NotificationEvent::Started,
        "awaiting-approval" => NotificationEvent::AwaitingApproval,
        "needs-attention" => NotificationEvent::NeedsAttention,
        "succeeded" => NotificationEvent::Succeeded,
        "failed" => NotificationEvent::Failed,
        "canceled" => NotificationEvent::Canceled,
        _ => return None,
    })
}

#[must_use]
pub fn event_name(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::Submitted => "submitted",
        NotificationEvent::Accepted => "accepted",
        NotificationEvent::Rejected => "rejected",
        NotificationEvent::Started => "started",
        NotificationEvent::AwaitingApproval => "awaiting-approval",
        NotificationEvent::NeedsAttention => "needs-attention",
        NotificationEvent::Succeeded => "succeeded",
        NotificationEvent::Failed => "failed",
        NotificationEvent::Canceled => "canceled",
        NotificationEvent::Skipped => "skipped",
        NotificationEvent::Delayed => "delayed",
        NotificationEvent::Rescheduled => "rescheduled",
    }
}

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Sending it again cannot help (a 4xx other than 429, a body that does not render).
    Permanent(String),
    /// It may go through later (connection failures, timeouts, 429, 5xx).
    Transient(String),
}

impl Failure {
    fn into_message(self) -> String {
        match self {
            Self::Permanent(message) | Self::Transient(message) => message,
        }
    }
}

/// POSTs `body`, retrying connection failures, timeouts, 429 and 5xx with a doubling wait, up
/// to `attempts` times.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    backoff: Duration,
    attempts: u32,
) -> Result<u16, Failure> {
    let mut wait = backoff;
    let mut last = String::new();
    for attempt in 1..=attempts {
        match client.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => {
                return Ok(response.status().as_u16());
            }
            Ok(response) => {
                let status = response.status();
                last = format!("HTTP {status}");
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(Failure::Permanent(last));
                }
            }
            // reqwest's errors can carry the URL; only its kind is kept.
            Err(error) => {
                last = if error.is_timeout() {
                    "timed out".to_owned()
                } else if error.is_connect() {
                    "cannot connect".to_owned()
                } else {
                    "the request failed".to_owned()
                };
            }
        }
        if attempt < attempts {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Err(Failure::Transient(if attempts == 1 {
        last
    } else {
        format!("{last} after {attempts} attempts")
    }))
}

/// `HOST:PID`: unique among replicas, and says where a lease holder or a sender runs.
#[must_use]
pub fn this_process() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether the process `HOST:PID` may still be sending: on another host it is assumed to be
/// (until its entry's time runs out); on this one, while the process exists.
fn may_be_sending(sender: &str) -> bool {
    let Some((host, pid)) = sender.rsplit_once(':') else {
        return false;
    };
    if host != host_name() {
        return true;
    }
    pid.parse::<u32>().is_ok_and(|pid| {
        pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// How long a sender may take over its attempts (waits that double from `backoff`, and each
/// attempt's connect and answer timeouts), after which its entry counts as left behind.
fn sending_budget(backoff: Duration) -> chrono::TimeDelta {
    let waits = backoff.saturating_mul((1 << (ATTEMPTS - 1)) - 1);
    let attempts = Duration::from_secs(45).saturating_mul(ATTEMPTS);
    chrono::TimeDelta::from_std(waits.saturating_add(attempts)).unwrap_or(chrono::TimeDelta::MAX)
}

/// Entries kept by this process, so two of one instant get different keys.
static KEPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The prefix of the outbox's documents in the state store.
const OUTBOX: &str = "outbox/";

/// How long a notification is tried again, pass after pass, before it is given up.
pub const OUTBOX_GIVE_UP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Notifications not yet delivered, kept in the state store (documents under `outbox/`) from
/// before they are sent until they are delivered: a process that stops while it waits for the
/// answer leaves them for the next `tick` or `daemon` pass, which sends them again. Delivery is
/// therefore at least once. No URL is kept (a web hook URL often carries a secret): an entry
/// names its plan and notification, and the URL is read from the plan when it is sent again.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<StateStore>,
    clock: Clock,
}

/// One notification in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    plan: String,
    run: String,
    /// Which of the plan's notifications.
    index: usize,
    event: NotificationEvent,
    /// Scheme and host, to check that the plan's notification is still the same.
    url: String,
    body: Value,
    attempts: u32,
    /// When it was first sent.
    first: DateTime<Utc>,
    /// The process sending it now (`HOST:PID`), and until when (the real clock) it may take:
    /// a pass leaves it to that process meanwhile, unless that process is gone.
    sender: String,
    sending_until: DateTime<Utc>,
}

/// What the outbox did with one entry in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    pub run: String,
    pub event: NotificationEvent,
    pub url: String,
    pub outcome: Result<u16, String>,
    /// Kept to be tried again at the next pass.
    pub kept: bool,
}

impl Outbox {
    #[must_use]
    pub fn new(store: Arc<StateStore>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The outbox of a command that notifies outside a run's drive (`submit`, `cancel`,
    /// `reschedule`, a rejection): a real adapter's entries are dated by the wall clock, a
    /// rehearsal's at `now` on its simulated clock, as its runs are.
    #[must_use]
    pub fn for_command(store: Arc<StateStore>, adapter: AdapterKind, now: DateTime<Utc>) -> Self {
        let clock = if adapter.is_real() {
            Clock::wall()
        } else {
            Clock::simulated(now)
        };
        Self::new(store, clock)
    }

    /// Records `entry`; returns its key (`None`: it could not be recorded, and is sent anyway).
    fn keep(&self, entry: &Entry) -> Option<String> {
        let at = self.clock.now();
        // Unique in the process too: a simulated clock stands still during a pass.
        let key = format!(
            "{OUTBOX}{}/{}/{}/{}-{}-{}",
            entry.run,
            event_name(entry.event),
            entry.index,
            at.format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id(),
            KEPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let body = serde_json::to_string(entry).ok()?;
        self.store.save_document(&key, &body).ok()?;
        Some(key)
    }

    /// After a delivery: delivered, it leaves the outbox; not delivered, it is warned about and
    /// logged at once, and kept for the next pass unless sending it again cannot help.
    fn settle(
        &self,
        run: &str,
        key: Option<&str>,
        event: NotificationEvent,
        url: &str,
        outcome: &Result<u16, Failure>,
        attempts: u32,
    ) {
        let Err(failure) = outcome else {
            if let Some(key) = key {
                let _ = self.store.delete_document(key);
            }
            return;
        };
        let kept = matches!(failure, Failure::Transient(_)) && key.is_some();
        if let (Some(key), false) = (key, kept) {
            let _ = self.store.delete_document(key);
        }
        if let (Some(key), true) = (key, kept)
            && let Some(mut entry) = self.entry(key)
        {
            entry.attempts = entry.attempts.saturating_add(attempts);
            // Nobody is sending it any more: the next pass may.
            entry.sending_until = Utc::now();
            if let Ok(body) = serde_json::to_string(&entry) {
                let _ = self.store.save_document(key, &body);
            }
        }
        self.report_failure(run, event, url, &failure.clone().into_message(), kept);
    }

    fn entry(&self, key: &str) -> Option<Entry> {
        let body = self.store.load_document(key).ok()??;
        serde_json::from_str(&body).ok()
    }

    /// A warning on stderr and an entry in the run's log, when the delivery fails.
    fn report_failure(
        &self,
        run: &str,
        event: NotificationEvent,
        url: &str,
        error: &str,
        kept: bool,
    ) {
        let then = if kept {
            "; kept to be sent again at the next pass"
        } else {
            ""
        };
        tracing::warn!(
            run = %run,
            "the {} notification of `{run}` to {url} was not delivered: {error}{then}",
            event_name(event)
        );
        let _ = self.store.append_event(
            run,
            "notification-failed",
            &json!({ "url": url, "event": event_name(event), "error": error, "kept": kept }),
            self.clock.now(),
        );
    }

    /// Sends again every notification in the outbox (one attempt each), reading each URL from
    /// `plans`. One delivered leaves the outbox (logged); one whose plan or notification is gone
    /// or changed, or that failed for good or for longer than [`OUTBOX_GIVE_UP`], is dropped
    /// (logged); the rest are kept for the next pass.
    pub async fn redeliver(&self, plans: &[Plan], client: &reqwest::Client) -> Vec<Redelivery> {
        let Ok(pending) = self.store.documents(OUTBOX) else {
            return Vec::new();
        };
        let mut done = Vec::new();
        for (key, body) in pending {
            let Ok(mut entry) = serde_json::from_str::<Entry>(&body) else {
                let _ = self.store.delete_document(&key);
                continue;
            };
            // Still being sent by a process that runs (a foreground `apply`, another replica).
            if Utc::now() < entry.sending_until && may_be_sending(&entry.sender) {
                continue;
            }
            let url = plans
                .iter()
                .find(|plan| plan.name() == entry.plan)
                .and_then(|plan| plan.notifications().get(entry.index))
                .filter(|notification| {
                    redact_url(notification.url()) == entry.url
                        && notification.events().contains(&entry.event)
                })
                .map(|notification| notification.url().to_owned());
            let Some(url) = url else {
                // The plan is not among these plans (another replica's, or removed): it stays
                // for a pass that has it, until it is too old.
                if self.clock.now() - entry.first > OUTBOX_GIVE_UP {
                    let _ = self.store.delete_document(&key);
                    self.report_failure(
                        &entry.run,
                        entry.event,
                        &entry.url,
                        "its plan or notification is no longer loaded; given up",
                        false,
                    );
                }
                continue;
            };
            // This pass sends it now: others leave it alone meanwhile.
            entry.sender = this_process();
            entry.sending_until = Utc::now() + sending_budget(Duration::ZERO);
            if let Ok(body) = serde_json::to_string(&entry) {
                let _ = self.store.save_document(&key, &body);
            }
            let outcome = post(client, &url, &entry.body, Duration::ZERO, 1).await;
            entry.attempts = entry.attempts.saturating_add(1);
            entry.sending_until = Utc::now();
            let now = self.clock.now();
            let kept = match &outcome {
                Ok(status) => {
                    let _ = self.store.delete_document(&key);
                    let _ = self.store.append_event(
                        &entry.run,
                        "notification-delivered",
                        &json!({
                            "url": entry.url,
                            "event": event_name(entry.event),
                            "status": status,
                            "message": format!(
                                "the {} notification to {} was delivered late, at attempt {} (first sent at {})",
                                event_name(entry.event), entry.url, entry.attempts, format_utc(entry.first)
                            ),
                        }),
                        now,
                    );
                    false
                }
                Err(Failure::Transient(error)) if now - entry.first <= OUTBOX_GIVE_UP => {
                    if let Ok(body) = serde_json::to_string(&entry) {
                        let _ = self.store.save_document(&key, &body);
                    }
                    tracing::warn!(run = %entry.run, "the {} notification of `{}` to {} is still not delivered: {error}; kept for the next pass", event_name(entry.event), entry.run, entry.url);
                    true
                }
                Err(failure) => {
                    let _ = self.store.delete_document(&key);
                    let error = format!(
                        "{}; given up after {} attempts since {}",
                        failure.clone().into_message(),
                        entry.attempts,
                        format_utc(entry.first)
                    );
                    self.report_failure(&entry.run, entry.event, &entry.url, &error, false);
                    false
                }
            };
            done.push(Redelivery {
                run: entry.run,
                event: entry.event,
                url: entry.url,
                outcome: outcome.map_err(Failure::into_message),
                kept,
            });
        }
        done
    }
}

/// Sends events to two sinks.
pub struct Tee<'a>(pub &'a mut dyn EventSink, pub &'a mut dyn EventSink);

impl EventSink for Tee<'_> {
    fn event(&mut self, event: &Event) {
        self.0.event(event);
        self.1.event(event);
    }
}
