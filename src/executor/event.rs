//! What the executor reports. It never prints: reporters (terminal, JSON lines, notifications)
//! receive these events, and every event is also kept in the state store as the run's log.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The run entered a state (`submitted`, `accepted`, `running`, …).
    RunState,
    StepStarted,
    StepSucceeded,
    StepFailed,
    StepSkipped,
    /// The executor waits until `until` (a window, a poll).
    Waiting,
    /// A line of a command's output, or another note about a step.
    Log,
    /// The service could not be reached, so the run is delayed (logged and notified once per
    /// outage); `until` is the next attempt.
    Delayed,
    /// A manual step is still not approved past its `timeout` (`on_timeout: remind`): sent as
    /// an `awaiting-approval` notification; `until` is the next reminder.
    Reminder,
    /// A status poll was answered and the step waits on: `message` is the remote status as the
    /// service spells it (`InProgress`), `operation` what was polled, `until` the next poll.
    /// Shown live, not kept in the run's log (there would be one per poll).
    Polled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub run: String,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The run state for `run-state`, else a sentence.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// For `run-state`: why, where the state has a reason (a failure's error, a rejection's or
    /// a needs-attention's reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The remote operation (or asset) a `polled` event is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// Receives the events of a run as they happen.
pub trait EventSink {
    fn event(&mut self, event: &Event);
}

/// Keeps every event, for tests and for callers that render afterwards.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl EventSink for Collect {
    fn event(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}
