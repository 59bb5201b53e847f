//! What the state store keeps: runs with their steps, events, locks and the simulator's model.
//! States carry their data (SPEC 5.1 spells them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapter::AdapterKind;

/// A run's state (SPEC 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RunState {
    /// The request is recorded.
    Submitted,
    /// Preflight passed with the adapter's live facts.
    Accepted,
    /// The window opened.
    Running,
    /// A manual step waits for `approve`.
    AwaitingApproval {
        step: String,
    },
    /// A destructive call may or may not have been made; an operator decides.
    NeedsAttention {
        step: String,
        reason: String,
    },
    Succeeded,
    Failed {
        error: String,
    },
    /// Preflight failed.
    Rejected {
        reason: String,
    },
    Canceled,
}

impl RunState {
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Running => "running",
            Self::AwaitingApproval { .. } => "awaiting-approval",
            Self::NeedsAttention { .. } => "needs-attention",
            Self::Succeeded => "succeeded",
            Self::Failed { .. } => "failed",
            Self::Rejected { .. } => "rejected",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the run is over; an active run holds its target's lock.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed { .. } | Self::Rejected { .. } | Self::Canceled
        )
    }
}

/// A step's state, with its times and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    Running {
        started: DateTime<Utc>,
    },
    Succeeded {
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
    },
    Failed {
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        error: String,
    },
    Skipped {
        reason: String,
    },
}

/// What a step created remotely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteIds {
    /// The LCS operation activity id (refresh, restore, deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Blocks already uploaded, so a resumed upload skips them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<String>,
    /// A local file the step made (a downloaded package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A destructive call recorded before it is sent (SPEC 5.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub call: String,
    pub at: DateTime<Utc>,
    /// What came back instead of an answer, when the call was sent and its answer was lost (a
    /// 5xx, a cut connection); absent when the process stopped before it knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unanswered: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    #[serde(flatten)]
    pub state: StepState,
    #[serde(default)]
    pub remote: RemoteIds,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// Status polls so far; the wait between polls grows with them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub polls: u32,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// One run: a plan executed for one window. Its id is `<plan>@<window start, UTC>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub plan: String,
    pub file: String,
    /// The target environment, `<project>/<name>` in lowercase: the lock's key.
    pub target: String,
    /// Kept as its own object: flattened, its fields would mix with the run's own.
    pub state: RunState,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// `None` for latest.
    pub point_in_time: Option<DateTime<Utc>>,
    /// The environment ids preflight resolved (the target's, then the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The adapter that runs it; `None` for a run recorded before runs recorded their adapter
    /// (shown as `unknown`, and counted as every adapter's: see [`RunRecord::counts_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterKind>,
    /// Why an emergency run waived the lead time (`apply --start-now --reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: Vec<StepRecord>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Bumped by every write; a write that read an older version is refused.
    #[serde(default)]
    pub version: u64,
    /// The lease's fencing counter when this record was read: bumped by every claim, so a write
    /// from a replica whose lease was taken over is refused. Kept in its own column, not here.
    #[serde(skip)]
    pub fence: u64,
}

impl RunRecord {
    /// The target environment's name: the target is `<project>/<name>`.
    #[must_use]
    pub fn environment_name(&self) -> &str {
        self.target
            .rsplit_once('/')
            .map_or(self.target.as_str(), |(_, name)| name)
    }

    /// `contoso-uat-weekly@20261205T2100Z`.
    #[must_use]
    pub fn id_for(plan: &str, window_start: DateTime<Utc>) -> String {
        format!("{plan}@{}", window_start.format("%Y%m%dT%H%MZ"))
    }

    /// The adapter's name as `runs` and `status` show it (`unknown` for a run recorded before
    /// runs recorded their adapter).
    #[must_use]
    pub fn adapter_name(&self) -> &'static str {
        self.adapter.map_or(UNKNOWN_ADAPTER, AdapterKind::name)
    }

    /// Whether this run counts for `adapter`'s idempotence: a rehearsal never stands for a real
    /// run of its window, nor a real run for a rehearsal. A run that did not record its adapter
    /// counts for every adapter, as it did when it was recorded.
    #[must_use]
    pub fn counts_for(&self, adapter: Option<AdapterKind>) -> bool {
        counts_for(self.adapter.map(AdapterKind::name), adapter)
    }

    /// The key of the lock this run takes on its target. Locks are per adapter: a rehearsal
    /// holds its simulated environment, never the real one. `lcs` (and a run that did not
    /// record its adapter, which may have been one) locks the plain target, as runs always did.
    #[must_use]
    pub fn lock_key(&self) -> String {
        match self.adapter {
            Some(adapter) if adapter != AdapterKind::Lcs => format!("{adapter}:{}", self.target),
            _ => self.target.clone(),
        }
    }

    /// The next id to try for this window when `id` is taken by a run that does not count
    /// (another adapter's, or a finished rehearsal): `<plan>@<start>~2`, `~3`, ….
    #[must_use]
    pub fn next_id(id: &str) -> String {
        let (base, number) = match id.rsplit_once('~') {
            Some((base, number)) => match number.parse::<u32>() {
                Ok(number) => (base, number),
                Err(_) => (id, 1),
            },
            None => (id, 1),
        };
        format!("{base}~{}", number.saturating_add(1))
    }
}

/// How `runs` and `status` show the adapter of a run that did not record it.
pub const UNKNOWN_ADAPTER: &str = "unknown";

/// Whether a run recorded with the adapter named `recorded` counts for `adapter`: the same
/// adapter, or either is not known (a run recorded before runs recorded their adapter).
#[must_use]
pub fn counts_for(recorded: Option<&str>, adapter: Option<AdapterKind>) -> bool {
    match (recorded, adapter) {
        (Some(recorded), Some(adapter)) => recorded == adapter.name(),
        _ => true,
    }
}

/// What became of one occurrence of a plan's window: submitted as a run, or skipped because
/// 24 hours' notice could no longer be given. Each is decided once per adapter (unique adapter,
/// plan and start; one decided before occurrences recorded their adapter counts for all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccurrenceRecord {
    /// The adapter whose schedule decided it: each adapter decides its own occurrences.
    /// `None`: decided before occurrences recorded their adapter; it counts for every adapter.
    pub adapter: Option<AdapterKind>,
    pub plan: String,
    pub window_start: DateTime<Utc>,
    /// The run's id (for a skipped occurrence, the id it would have had).
    pub run: String,
    pub skipped: Option<String>,
    pub decided: DateTime<Utc>,
}

/// Something that happened to a run, kept in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub run: String,
    pub sequence: u64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: serde_json::Value,
}
