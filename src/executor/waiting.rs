//! Runs that wait for a person: what each waits for and the command that lets it go on. A run in
//! `awaiting-approval` or `needs-attention` holds its target's lock, so every later run of that
//! environment is rejected until someone acts; these words name that run wherever it blocks.

use crate::plan::time::format_utc;
use crate::state::{RunRecord, RunState, StepState};

/// The command that lets a waiting run go on (or ends it), for messages and `tick`'s output.
#[must_use]
pub fn unblocking_command(run: &RunRecord) -> Option<String> {
    match &run.state {
        RunState::AwaitingApproval { step } => Some(format!(
            "refreshctl approve {} {step} (or refreshctl cancel {})",
            run.id, run.id
        )),
        RunState::NeedsAttention { .. } => Some(format!(
            "check LCS, then refreshctl resume {} --retry-step (or refreshctl cancel {})",
            run.id, run.id
        )),
        _ => None,
    }
}

/// Since when a waiting run has waited: when its waiting step started.
#[must_use]
pub fn waiting_since(run: &RunRecord) -> Option<chrono::DateTime<chrono::Utc>> {
    let (RunState::AwaitingApproval { step } | RunState::NeedsAttention { step, .. }) = &run.state
    else {
        return None;
    };
    run.steps
        .iter()
        .find(|record| &record.id == step)
        .map(|record| match record.state {
            StepState::Running { started } => started,
            _ => run.updated,
        })
}

/// Why a new run of an environment is rejected while `holder` (the run holding the lock, if it
/// can still be read) is active: which run, in what state, and what lets it go.
#[must_use]
pub fn held_by(holder_id: &str, holder: Option<&RunRecord>) -> String {
    let Some(holder) = holder else {
        return format!(
            "run `{holder_id}` is active on the same environment; only one runs at a time"
        );
    };
    let state = holder.state.name();
    match (&holder.state, unblocking_command(holder)) {
        (
            RunState::AwaitingApproval { step } | RunState::NeedsAttention { step, .. },
            Some(command),
        ) => {
            let since = waiting_since(holder)
                .map(|since| format!(" since {}", format_utc(since)))
                .unwrap_or_default();
            format!(
                "run `{holder_id}` is active on the same environment ({state} at `{step}`{since}); only one runs at a time: {command}"
            )
        }
        _ => format!(
            "run `{holder_id}` is active on the same environment ({state}); only one runs at a time"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{RemoteIds, StepRecord};

    fn run(state: RunState) -> RunRecord {
        let start = "2026-12-05T21:00:00Z".parse().expect("time");
        let since = "2026-12-06T01:00:00Z".parse().expect("time");
        RunRecord {
            id: "uat@20261205T2100Z".into(),
            plan: "uat".into(),
            file: "plans/uat.yaml".into(),
            target: "1/contoso-uat".into(),
            adapter: None,
            state,
            window_start: start,
            window_end: start,
            point_in_time: None,
            target_id: None,
            source_id: None,
            reason: None,
            steps: ["manual", "start-refresh"]
                .into_iter()
                .map(|id| StepRecord {
                    id: id.into(),
                    state: StepState::Running { started: since },
                    remote: RemoteIds::default(),
                    intent: None,
                    polls: 0,
                })
                .collect(),
            created: start,
            updated: start,
            version: 0,
            fence: 0,
        }
    }

    #[test]
    fn a_rejection_names_the_holder_its_state_and_what_lets_it_go() {
        let id = "uat@20261205T2100Z";
        let cases = [
            (
                Some(run(RunState::AwaitingApproval {
                    step: "manual".into(),
                })),
                "run `uat@20261205T2100Z` is active on the same environment (awaiting-approval at `manual` since 2026-12-06T01:00:00Z); only one runs at a time: refreshctl approve uat@20261205T2100Z manual (or refreshctl cancel uat@20261205T2100Z)",
            ),
            (
                Some(run(RunState::NeedsAttention {
                    step: "start-refresh".into(),
                    reason: "lost".into(),
                })),
                "run `uat@20261205T2100Z` is active on the same environment (needs-attention at `start-refresh` since 2026-12-06T01:00:00Z); only one runs at a time: check LCS, then refreshctl resume uat@20261205T2100Z --retry-step (or refreshctl cancel uat@20261205T2100Z)",
            ),
            (
                Some(run(RunState::Running)),
                "run `uat@20261205T2100Z` is active on the same environment (running); only one runs at a time",
            ),
            (
                None,
                "run `uat@20261205T2100Z` is active on the same environment; only one runs at a time",
            ),
        ];
        for (holder, expected) in cases {
            assert_eq!(held_by(id, holder.as_ref()), expected);
        }
    }
}
