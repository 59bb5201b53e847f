//! `approve RUN STEP`: lets a waiting manual step go on.

use chrono::{DateTime, Utc};

use super::Operator;
use crate::state::{RunState, StateStore, StepState, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("no run `{0}`")]
    UnknownRun(String),
    #[error("run `{run}` is {state}, not waiting for an approval")]
    NotWaiting { run: String, state: &'static str },
    #[error("run `{run}` waits for step `{waiting}`, not `{step}`")]
    OtherStep {
        run: String,
        waiting: String,
        step: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Marks the waiting step as done and puts the run back to `running`; the run's log says who
/// approved it and why.
pub fn approve(
    store: &StateStore,
    run: &str,
    step: &str,
    operator: &Operator,
    now: DateTime<Utc>,
) -> Result<(), ApproveError> {
    let mut record = store
        .run(run)?
        .ok_or_else(|| ApproveError::UnknownRun(run.to_owned()))?;
    let RunState::AwaitingApproval { step: waiting } = &record.state else {
        return Err(ApproveError::NotWaiting {
            run: run.to_owned(),
            state: record.state.name(),
        });
    };
    if waiting != step {
        return Err(ApproveError::OtherStep {
            run: run.to_owned(),
            waiting: waiting.clone(),
            step: step.to_owned(),
        });
    }
    if let Some(record_step) = record
        .steps
        .iter_mut()
        .find(|candidate| candidate.id == step)
    {
        let started = match record_step.state {
            StepState::Running { started } => started,
            _ => now,
        };
        record_step.state = StepState::Succeeded {
            started,
            finished: now,
        };
    }
    record.state = RunState::Running;
    record.updated = now;
    store.update_run(&mut record)?;
    let mut detail = serde_json::json!({ "message": "running", "approved": step });
    operator.add_to(&mut detail);
    store.append_event(run, "run-state", &detail, now)?;
    Ok(())
}
