//! How both stores keep runs and events compactly (issue 17: 13.5 KB per finished run before).
//!
//! - A run record is JSON with one-letter keys, without the fields that are at their defaults,
//!   and with its times as nanoseconds, each after the first as the difference from the one
//!   before it (most of a run's times are equal to the one before, so most are `0`). It starts
//!   with `[`; a record of the previous form (a whole [`RunRecord`] as JSON) starts with `{` and
//!   still reads, and is written in the new form on its next change.
//! - An event's kind is a small integer code for the kinds this version writes (a kind it does
//!   not know is kept as text), its time is microseconds since the epoch (stored times were
//!   always whole microseconds), and its detail in the executor's shape (`message`, `step`,
//!   `until`) is a JSON array without the keys, without the message of a step's start or end
//!   (`<step> started`), and without trailing nulls. Any other detail is kept as its JSON.
//!
//! Reading either back gives exactly what was written; the tests below and the store
//! conformance suite check it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::{Intent, RemoteIds, RunRecord, RunState, StepRecord, StepState};
use crate::adapter::AdapterKind;

/// The event kinds kept as codes: a kind's code is its place here plus one. Append only.
pub(crate) const KINDS: &[&str] = &[
    "run-state",
    "step-started",
    "step-succeeded",
    "step-failed",
    "step-skipped",
    "waiting",
    "log",
    "delayed",
    "reminder",
    "notification-delivered",
    "notification-failed",
    "rescheduled",
    "emergency",
    "retry-step",
];

/// An event kind as stored: its code, or its text when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredKind {
    Code(i64),
    Text(String),
}

pub(crate) fn kind_code(kind: &str) -> StoredKind {
    KINDS
        .iter()
        .position(|known| *known == kind)
        .and_then(|index| i64::try_from(index + 1).ok())
        .map_or_else(|| StoredKind::Text(kind.to_owned()), StoredKind::Code)
}

/// The kind a code stands for (`None`: a code this version does not know, from a newer one).
pub(crate) fn kind_name(code: i64) -> Option<&'static str> {
    usize::try_from(code)
        .ok()
        .and_then(|code| code.checked_sub(1))
        .and_then(|index| KINDS.get(index).copied())
}

/// An event time as stored: microseconds since the epoch (of the time as [`super::time`] keeps
/// it: at most the last moment of 9999, whole microseconds).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.min(crate::plan::time::LATEST).timestamp_micros()
}

pub(crate) fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

/// The message a step's event has when nothing else is said: `<step> started`.
fn step_message(kind: &str, step: &str) -> Option<String> {
    let verb = kind.strip_prefix("step-")?;
    Some(format!("{step} {verb}"))
}

/// An event's detail as stored (see the module's documentation).
pub(crate) fn encode_detail(kind: &str, detail: &Value) -> String {
    let executor_shape = detail.as_object().and_then(|object| {
        let message = object.get("message")?.as_str()?;
        let step = object.get("step")?;
        let until = object.get("until")?;
        (object.len() == 3
            && (step.is_null() || step.is_string())
            && (until.is_null() || until.is_string()))
        .then_some((message, step, until))
    });
    if let Some((message, step, until)) = executor_shape {
        let derived = step
            .as_str()
            .and_then(|step| step_message(kind, step))
            .is_some_and(|derived| derived == message);
        let message = if derived {
            Value::from(0)
        } else {
            Value::from(message)
        };
        let mut fields = vec![message, step.clone(), until.clone()];
        while fields.len() > 1 && fields.last().is_some_and(Value::is_null) {
            fields.pop();
        }
        return Value::Array(fields).to_string();
    }
    let text = detail.to_string();
    // An array of another shape is set apart from the compact form by a leading space.
    if text.starts_with('[') {
        format!(" {text}")
    } else {
        text
    }
}

/// An event's detail from its stored form (an unreadable one reads as null, as it always did).
pub(crate) fn decode_detail(kind: &str, stored: &str) -> Value {
    if !stored.starts_with('[') {
        return serde_json::from_str(stored).unwrap_or(Value::Null);
    }
    let Ok(Value::Array(mut fields)) = serde_json::from_str(stored) else {
        return Value::Null;
    };
    fields.resize(3, Value::Null);
    let until = fields.pop().unwrap_or_default();
    let step = fields.pop().unwrap_or_default();
    let message = match fields.pop().unwrap_or_default() {
        Value::String(message) => message,
        _ => step
            .as_str()
            .and_then(|step| step_message(kind, step))
            .unwrap_or_default(),
    };
    serde_json::json!({ "message": message, "step": step, "until": until })
}

/// A time in a record: nanoseconds after the time before it (the first: since the epoch), or
/// RFC 3339 text for a time nanoseconds since the epoch cannot hold (past 2262).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum StoredTime {
    Delta(i64),
    Text(DateTime<Utc>),
}

/// By hand rather than `untagged`, which buffers every value before it tries the variants
/// (`runs --format json` reads some thirty times of each run).
impl<'de> Deserialize<'de> for StoredTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = StoredTime;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("nanoseconds after the time before, or an RFC 3339 time")
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<StoredTime, E> {
                Ok(StoredTime::Delta(value))
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<StoredTime, E> {
                i64::try_from(value)
                    .map(StoredTime::Delta)
                    .map_err(|_| E::custom("a time difference out of range"))
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<StoredTime, E> {
                // As chrono's own `Deserialize` reads what its `Serialize` wrote.
                value
                    .parse::<DateTime<Utc>>()
                    .map(StoredTime::Text)
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Turns a record's times into [`StoredTime`]s, in the order they are met.
struct TimeWriter {
    previous: i64,
}

impl TimeWriter {
    fn put(&mut self, at: DateTime<Utc>) -> StoredTime {
        match at.timestamp_nanos_opt() {
            Some(nanos) => {
                let delta = nanos.wrapping_sub(self.previous);
                self.previous = nanos;
                StoredTime::Delta(delta)
            }
            None => StoredTime::Text(at),
        }
    }
}

/// Reads [`StoredTime`]s back, in the order [`TimeWriter`] met them.
struct TimeReader {
    previous: i64,
}

impl TimeReader {
    fn get(&mut self, stored: &StoredTime) -> DateTime<Utc> {
        match stored {
            StoredTime::Delta(delta) => {
                self.previous = self.previous.wrapping_add(*delta);
                DateTime::from_timestamp_nanos(self.previous)
            }
            StoredTime::Text(at) => *at,
        }
    }
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// What a step created remotely, as stored: [`RemoteIds`] with one-letter keys.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredRemote {
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    activity: Option<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    asset: Option<String>,
    #[serde(rename = "b", default, skip_serializing_if = "Vec::is_empty")]
    blocks: Vec<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

impl StoredRemote {
    fn is_empty(&self) -> bool {
        self.activity.is_none()
            && self.asset.is_none()
            && self.blocks.is_empty()
            && self.file.is_none()
    }
}

impl From<&RemoteIds> for StoredRemote {
    fn from(remote: &RemoteIds) -> Self {
        Self {
            activity: remote.activity.clone(),
            asset: remote.asset.clone(),
            blocks: remote.blocks.clone(),
            file: remote.file.clone(),
        }
    }
}

impl From<StoredRemote> for RemoteIds {
    fn from(remote: StoredRemote) -> Self {
        Self {
            activity: remote.activity,
            asset: remote.asset,
            blocks: remote.blocks,
            file: remote.file,
        }
    }
}

/// A run record as stored (see the module's documentation).
#[derive(Debug, Serialize, Deserialize)]
struct StoredRun {
    #[serde(rename = "i")]
    id: String,
    #[serde(rename = "p")]
    plan: String,
    #[serde(rename = "f")]
    file: String,
    #[serde(rename = "t")]
    target: String,
    #[serde(rename = "s")]
    state: RunState,
    #[serde(rename = "c")]
    created: StoredTime,
    #[serde(rename = "u")]
    updated: StoredTime,
    #[serde(rename = "ws")]
    window_start: StoredTime,
    #[serde(rename = "we")]
    window_end: StoredTime,
    #[serde(rename = "pt", default, skip_serializing_if = "Option::is_none")]
    point_in_time: Option<StoredTime>,
    #[serde(rename = "ti", default, skip_serializing_if = "Option::is_none")]
    target_id: Option<String>,
    #[serde(rename = "si", default, skip_serializing_if = "Option::is_none")]
    source_id: Option<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    adapter: Option<AdapterKind>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(rename = "v")]
    version: u64,
    #[serde(rename = "st")]
    steps: Vec<StoredStep>,
}

/// A step as stored: its state as a code (0 pending, 1 running, 2 succeeded, 3 failed, 4
/// skipped) with the times and the text (a failure's error, a skip's reason) it has.
#[derive(Debug, Serialize, Deserialize)]
struct StoredStep {
    #[serde(rename = "i")]
    id: String,
    #[serde(rename = "s")]
    state: u8,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    started: Option<StoredTime>,
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    finished: Option<StoredTime>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "StoredRemote::is_empty")]
    remote: StoredRemote,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    intent: Option<StoredIntent>,
    #[serde(rename = "p", default, skip_serializing_if = "is_zero")]
    polls: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredIntent {
    #[serde(rename = "c")]
    call: String,
    #[serde(rename = "t")]
    at: StoredTime,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    unanswered: Option<String>,
}

/// The compact form starts with `[` (a version number, then the record), the old with `{`.
const FORM: u8 = 1;

/// A run record as stored.
pub(crate) fn encode_run(run: &RunRecord) -> Result<String, serde_json::Error> {
    let mut times = TimeWriter { previous: 0 };
    let created = times.put(run.created);
    let updated = times.put(run.updated);
    let window_start = times.put(run.window_start);
    let window_end = times.put(run.window_end);
    let point_in_time = run.point_in_time.map(|at| times.put(at));
    let steps = run
        .steps
        .iter()
        .map(|step| {
            let (state, started, finished, text) = match &step.state {
                StepState::Pending => (0, None, None, None),
                StepState::Running { started } => (1, Some(*started), None, None),
                StepState::Succeeded { started, finished } => {
                    (2, Some(*started), Some(*finished), None)
                }
                StepState::Failed {
                    started,
                    finished,
                    error,
                } => (3, Some(*started), Some(*finished), Some(error.clone())),
                StepState::Skipped { reason } => (4, None, None, Some(reason.clone())),
            };
            // In the order they usually come: the intent is recorded as the step starts.
            let started = started.map(|at| times.put(at));
            let intent = step.intent.as_ref().map(|intent| StoredIntent {
                call: intent.call.clone(),
                at: times.put(intent.at),
                unanswered: intent.unanswered.clone(),
            });
            StoredStep {
                id: step.id.clone(),
                state,
                started,
                finished: finished.map(|at| times.put(at)),
                text,
                remote: StoredRemote::from(&step.remote),
                intent,
                polls: step.polls,
            }
        })
        .collect();
    let stored = StoredRun {
        id: run.id.clone(),
        plan: run.plan.clone(),
        file: run.file.clone(),
        target: run.target.clone(),
        state: run.state.clone(),
        created,
        updated,
        window_start,
        window_end,
        point_in_time,
        target_id: run.target_id.clone(),
        source_id: run.source_id.clone(),
        adapter: run.adapter,
        reason: run.reason.clone(),
        version: run.version,
        steps,
    };
    serde_json::to_string(&(FORM, stored))
}

/// A run record from its stored form, compact or old (its fence is not in it: see
/// [`super::decode_run`]).
pub(crate) fn decode_run(text: &str) -> Result<RunRecord, String> {
    if !text.starts_with('[') {
        return serde_json::from_str(text).map_err(|error| error.to_string());
    }
    let (form, stored): (u8, StoredRun) =
        serde_json::from_str(text).map_err(|error| error.to_string())?;
    if form != FORM {
        return Err(format!(
            "the record's form {form} is not known to this version"
        ));
    }
    let mut times = TimeReader { previous: 0 };
    let created = times.get(&stored.created);
    let updated = times.get(&stored.updated);
    let window_start = times.get(&stored.window_start);
    let window_end = times.get(&stored.window_end);
    let point_in_time = stored.point_in_time.as_ref().map(|at| times.get(at));
    let steps = stored
        .steps
        .into_iter()
        .map(|step| {
            let started = step.started.as_ref().map(|at| times.get(at));
            let intent = step.intent.map(|intent| Intent {
                at: times.get(&intent.at),
                call: intent.call,
                unanswered: intent.unanswered,
            });
            let finished = step.finished.as_ref().map(|at| times.get(at));
            let missing = || format!("step `{}` lacks a time its state has", step.id);
            let state = match step.state {
                0 => StepState::Pending,
                1 => StepState::Running {
                    started: started.ok_or_else(missing)?,
                },
                2 => StepState::Succeeded {
                    started: started.ok_or_else(missing)?,
                    finished: finished.ok_or_else(missing)?,
                },
                3 => StepState::Failed {
                    started: started.ok_or_else(missing)?,
                    finished: finished.ok_or_else(missing)?,
                    error: step.text.clone().unwrap_or_default(),
                },
                4 => StepState::Skipped {
                    reason: step.text.clone().unwrap_or_default(),
                },
                other => return Err(format!("step `{}` has an unknown state {other}", step.id)),
            };
            Ok(StepRecord {
                intent,
                id: step.id,
                state,
                remote: step.remote.into(),
                polls: step.polls,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(RunRecord {
        id: stored.id,
        plan: stored.plan,
        file: stored.file,
        target: stored.target,
        state: stored.state,
        window_start,
        window_end,
        point_in_time,
        target_id: stored.target_id,
        source_id: stored.source_id,
        adapter: stored.adapter,
        reason: stored.reason,
        steps,
        created,
        updated,
        version: stored.version,
        fence: 0,
    })
}

/// Runs of every shape (every run and step state, times out of nanoseconds' range, optional
/// fields there and not), for the tests of both stored forms.
#[cfg(test)]
pub(crate) fn sample_runs() -> Vec<RunRecord> {
    let first = sample_run();
    let mut runs = vec![first.clone()];
    for state in [
        RunState::Submitted,
        RunState::Accepted,
        RunState::Running,
        RunState::AwaitingApproval {
            step: "manual".into(),
        },
        RunState::Succeeded,
        RunState::Failed {
            error: "it broke: «here»".into(),
        },
        RunState::Rejected {
            reason: String::new(),
        },
        RunState::Canceled,
    ] {
        let mut run = first.clone();
        run.state = state;
        runs.push(run);
    }
    let mut plain = first;
    plain.state = RunState::Succeeded;
    plain.point_in_time = None;
    plain.target_id = None;
    plain.adapter = None;
    plain.reason = None;
    plain.steps.clear();
    plain.version = u64::MAX;
    runs.push(plain);
    runs
}

#[cfg(test)]
fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("a time").to_utc()
}

#[cfg(test)]
fn sample_run() -> RunRecord {
    let created = at("2026-12-01T14:42:23.379538069Z");
    let start = at("2026-12-05T21:00:00Z");
    RunRecord {
        id: "contoso-uat-weekly@20261205T2100Z".into(),
        plan: "contoso-uat-weekly".into(),
        file: "plans/contoso-uat-weekly.yaml".into(),
        target: "1234567/contoso-uat".into(),
        state: RunState::NeedsAttention {
            step: "start-refresh".into(),
            reason: "the answer was lost".into(),
        },
        window_start: start,
        window_end: start + chrono::TimeDelta::hours(6),
        point_in_time: Some(start - chrono::TimeDelta::hours(1)),
        target_id: Some("5f1c2a7e-0000-4000-8000-000000000002".into()),
        source_id: None,
        adapter: Some(AdapterKind::Simulator),
        reason: Some("an emergency".into()),
        steps: vec![
            StepRecord {
                id: "preflight".into(),
                state: StepState::Succeeded {
                    started: created,
                    finished: created,
                },
                remote: RemoteIds::default(),
                intent: None,
                polls: 0,
            },
            StepRecord {
                id: "start-refresh".into(),
                state: StepState::Failed {
                    started: start,
                    finished: start + chrono::TimeDelta::nanoseconds(1),
                    error: "boom".into(),
                },
                remote: RemoteIds {
                    activity: Some("a".into()),
                    asset: None,
                    blocks: vec!["MDAw".into()],
                    file: Some("/tmp/x.zip".into()),
                },
                intent: Some(Intent {
                    call: "start-refresh".into(),
                    at: start,
                    unanswered: Some("502".into()),
                }),
                polls: 3,
            },
            StepRecord {
                id: "monitor".into(),
                state: StepState::Running {
                    started: DateTime::<Utc>::MAX_UTC,
                },
                remote: RemoteIds::default(),
                intent: None,
                polls: 0,
            },
            StepRecord {
                id: "skip".into(),
                state: StepState::Skipped {
                    reason: "not needed".into(),
                },
                remote: RemoteIds::default(),
                intent: None,
                polls: 0,
            },
            StepRecord {
                id: "later".into(),
                state: StepState::Pending,
                remote: RemoteIds::default(),
                intent: None,
                polls: 0,
            },
        ],
        created,
        updated: DateTime::<Utc>::MIN_UTC,
        version: 84,
        fence: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_reads_back_exactly() {
        let run = sample_runs().remove(0);
        let stored = encode_run(&run).expect("encoded");
        assert_eq!(decode_run(&stored), Ok(run.clone()));
        let mut plain = run;
        plain.state = RunState::Succeeded;
        plain.point_in_time = None;
        plain.adapter = None;
        plain.reason = None;
        plain.steps.clear();
        let stored = encode_run(&plain).expect("encoded");
        assert_eq!(decode_run(&stored), Ok(plain));
    }

    #[test]
    fn a_record_of_the_old_form_still_reads() {
        let run = sample_runs().remove(0);
        let old = serde_json::to_string(&run).expect("encoded");
        assert_eq!(decode_run(&old), Ok(run));
    }

    #[test]
    fn a_record_is_smaller_than_its_json() {
        let run = sample_runs().remove(0);
        let old = serde_json::to_string(&run).expect("encoded").len();
        let new = encode_run(&run).expect("encoded").len();
        assert!(new * 3 < old * 2, "{new} bytes against {old}");
    }

    #[test]
    fn every_detail_reads_back_exactly() {
        let details = [
            (
                "step-started",
                json!({"message": "preflight started", "step": "preflight", "until": null}),
            ),
            (
                "step-succeeded",
                json!({"message": "other words", "step": "preflight", "until": null}),
            ),
            (
                "run-state",
                json!({"message": "accepted", "step": null, "until": null}),
            ),
            (
                "waiting",
                json!({"message": "waiting", "step": null, "until": "2026-12-05T21:00:00Z"}),
            ),
            (
                "log",
                json!({"message": "a line", "step": "command", "until": null}),
            ),
            ("run-state", json!({"message": "submitted"})),
            (
                "run-state",
                json!({"approved": "manual", "by": "me", "message": "running"}),
            ),
            (
                "step-started",
                json!({"message": 0, "step": "preflight", "until": null}),
            ),
            (
                "step-started",
                json!({"message": "x", "step": 3, "until": null}),
            ),
            (
                "step-started",
                json!({"message": "x", "step": null, "until": null, "more": 1}),
            ),
            ("unknown-kind", json!([1, 2, 3])),
            ("unknown-kind", json!(["a"])),
            ("unknown-kind", json!(null)),
            ("unknown-kind", json!("text")),
            ("unknown-kind", json!({})),
        ];
        for (kind, detail) in details {
            let stored = encode_detail(kind, &detail);
            assert_eq!(decode_detail(kind, &stored), detail, "{kind} {stored}");
        }
        let stored = encode_detail(
            "step-started",
            &json!({"message": "preflight started", "step": "preflight", "until": null}),
        );
        assert_eq!(stored, r#"[0,"preflight"]"#);
    }

    #[test]
    fn every_kind_has_its_code_and_others_their_text() {
        for kind in KINDS {
            let StoredKind::Code(code) = kind_code(kind) else {
                panic!("{kind} has no code");
            };
            assert_eq!(kind_name(code), Some(*kind));
        }
        assert_eq!(kind_code("new-kind"), StoredKind::Text("new-kind".into()));
        assert_eq!(kind_name(0), None);
        assert_eq!(kind_name(99), None);
    }

    #[test]
    fn event_times_read_back_as_stored() {
        for text in [
            "2026-12-01T14:42:23.379538Z",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let time = at(text);
            assert_eq!(from_micros(micros(time)), Some(time));
        }
    }
}
