//! Plan notifications (SPEC 2 and 5.4): an HTTP POST with a JSON body for each run state a
//! notification asks for, retried, and never able to fail the run. A notifier is an event sink:
//! it sees the run's state changes like any reporter.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::adapter::AdapterKind;
use crate::executor::{Event, EventKind, EventSink, Operator, template_context};
use crate::plan::time::format_utc;
use crate::plan::{NotificationEvent, Plan};
use crate::report::preview::redact_url;
use crate::state::{RunRecord, StateStore};

/// How many times a notification is sent before it is given up.
pub const ATTEMPTS: u32 = 3;

/// What happened to one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Scheme and host only: the rest of a web hook URL is often a secret.
    pub url: String,
    pub event: NotificationEvent,
    pub outcome: Result<u16, String>,
}

impl Delivery {
    /// Writes a notification that was not delivered into the run's log (`notification-failed`),
    /// where people look later. Best effort: a run's log must not fail a run.
    pub fn log_if_failed(&self, store: &StateStore, run: &str, at: DateTime<Utc>) {
        if let Err(error) = &self.outcome {
            let _ = store.append_event(
                run,
                "notification-failed",
                &json!({ "url": self.url, "error": error }),
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
    /// Where a rescheduled run was before.
    previous: Option<Previous>,
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
            previous: None,
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
            previous: None,
        }
    }

    /// `backoff` is the wait before the second attempt; it doubles after that.
    #[must_use]
    pub fn new(plan: &Plan, run: &RunRecord, adapter: AdapterKind, backoff: Duration) -> Self {
        Self::with_client(plan, run, adapter, Self::client(), backoff)
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
                });
                continue;
            }
            let client = self.client.clone().unwrap_or_default();
            let backoff = self.backoff;
            self.tasks.spawn(async move {
                let outcome = match body {
                    Ok(body) => post(&client, &url, &body, backoff).await,
                    Err(error) => Err(format!("notification {index}: {error}")),
                };
                Delivery {
                    url: shown,
                    event,
                    outcome,
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
        body
    }
}

impl EventSink for Notifier {
    fn event(&mut self, event: &Event) {
        match event.kind {
            EventKind::RunState => {
                if let Some(notification) = notification_event(&event.message) {
                    self.send(notification);
                }
            }
            EventKind::Delayed => {
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

/// POSTs `body`, retrying connection failures, timeouts, 429 and 5xx with a doubling wait.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    backoff: Duration,
) -> Result<u16, String> {
    let mut wait = backoff;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match client.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => {
                return Ok(response.status().as_u16());
            }
            Ok(response) => {
                let status = response.status();
                last = format!("HTTP {status}");
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(last);
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
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Err(format!("{last} after {ATTEMPTS} attempts"))
}

/// Sends events to two sinks.
pub struct Tee<'a>(pub &'a mut dyn EventSink, pub &'a mut dyn EventSink);

impl EventSink for Tee<'_> {
    fn event(&mut self, event: &Event) {
        self.0.event(event);
        self.1.event(event);
    }
}
