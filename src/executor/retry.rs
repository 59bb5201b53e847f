//! `resume --retry-step`: a person asks for a step to be run again. A run that needs attention
//! gets the call it could not prove sent again (SPEC 5.6); a run that failed in a post step gets
//! that post step again from its start: a new upload, a new deployment, the command once more.
//! The refresh itself is never repeated, and nothing that succeeded is redone. Who asked and why
//! is kept in the run's log.

use chrono::Utc;
use serde_json::json;

use super::Operator;
use super::event::{Event, EventKind};
use super::run::{Executor, remote};
use crate::adapter::Adapter;
use crate::plan::{Action, RunStep};
use crate::state::{LockOutcome, RemoteIds, RunRecord, RunState, StepState, StoreError};

/// Why a step was not retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// The run has no step that may be run again; the message says why and the hint what to
    /// do instead.
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// The service could not say how the failed deployment stands, so nothing was changed.
    #[error("{0}")]
    Unreachable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a retry prepared: the step run again from (`from`), for the failed or unsettled `step`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried {
    pub from: String,
    pub step: String,
}

/// What to do next after a failed refresh or restore, for the run's error and for refusals:
/// refreshctl never repeats one, so the operator checks the target and asks for a new window.
#[must_use]
pub fn after_failed_refresh(target: &str, plan_file: &str) -> String {
    let plan_file = shown_path(plan_file);
    format!(
        "check `{target}` in LCS (its history shows the operation; the portal offers Rollback, which puts the database back as it was, after you download the runbook logs); refreshctl never repeats a refresh: once the target is usable, `refreshctl submit {plan_file}` asks for the next window, or `refreshctl apply {plan_file} --start-now --reason TEXT` runs one at once"
    )
}

impl<A: Adapter> Executor<'_, A> {
    /// Prepares `run` to run a step again at an operator's request: resets the steps from the
    /// one to run again up to the failed one (their remote ids and intents too, so every call
    /// is made afresh, each recorded as an intent before it is sent), takes the target's lock
    /// again and logs who asked and why. The caller then runs it as usual.
    pub async fn retry(
        &mut self,
        run: &mut RunRecord,
        operator: &Operator,
    ) -> Result<Retried, RetryError> {
        let steps = self.plan.run_steps();
        let (from, failed) = match &run.state {
            RunState::NeedsAttention { step, .. } => {
                let index = position(run, step)?;
                (index, index)
            }
            RunState::Failed { .. } => {
                let failed = run
                    .steps
                    .iter()
                    .position(|record| matches!(record.state, StepState::Failed { .. }))
                    .ok_or_else(|| RetryError::Refused {
                        message: format!("run `{}` failed, but no step of it did", run.id),
                        hint: None,
                    })?;
                let step = plan_step(&steps, &run.steps[failed].id)?;
                let from = self.restart_point(run, failed, step).await?;
                (from, failed)
            }
            other => {
                return Err(RetryError::Refused {
                    message: format!(
                        "run `{}` is {}; `--retry-step` is for a run that failed in a post step or needs attention",
                        run.id,
                        other.name()
                    ),
                    hint: (!other.is_finished())
                        .then(|| format!("`refreshctl resume {}` continues it", run.id)),
                });
            }
        };
        let now = self.clock.now();
        if let LockOutcome::HeldBy(holder) = self.store.lock(&run.lock_key(), &run.id, now)? {
            return Err(RetryError::Refused {
                message: format!(
                    "run `{holder}` is active on the same environment now; only one runs at a time"
                ),
                hint: Some(format!(
                    "wait for it to end, then `refreshctl resume {} --retry-step`",
                    run.id
                )),
            });
        }
        for record in &mut run.steps[from..=failed] {
            record.state = StepState::Pending;
            record.remote = RemoteIds::default();
            record.intent = None;
            record.polls = 0;
        }
        run.state = RunState::Running;
        run.updated = now;
        self.store.update_run(run)?;
        let retried = Retried {
            from: run.steps[from].id.clone(),
            step: run.steps[failed].id.clone(),
        };
        let message = if retried.from == retried.step {
            format!("`{}` is run again", retried.from)
        } else {
            format!("`{}` is run again from `{}`", retried.step, retried.from)
        };
        let mut detail =
            json!({ "step": retried.from, "failed": retried.step, "message": message });
        operator.add_to(&mut detail);
        // The log is best effort, as every entry the executor writes on its own is: the retry
        // itself is committed.
        let _ = self
            .store
            .append_event(&run.id, "retry-step", &detail, Utc::now());
        let by = match &operator.reason {
            Some(reason) => format!(" (asked by {}: {reason})", operator.by),
            None => format!(" (asked by {})", operator.by),
        };
        self.sink.event(&Event {
            run: run.id.clone(),
            at: now,
            kind: EventKind::Log,
            step: Some(retried.from.clone()),
            message: format!("{message}{by}"),
            until: None,
            operation: None,
            detail: None,
        });
        Ok(retried)
    }

    /// Where a post step that failed starts again: a deployment that ended badly is applied
    /// anew; one whose outcome is not known (the step's deadline passed, a status that could
    /// not be read) is watched again, never applied twice; any other step is run again itself.
    async fn restart_point(
        &self,
        run: &RunRecord,
        failed: usize,
        step: &RunStep,
    ) -> Result<usize, RetryError> {
        let id = &run.steps[failed].id;
        let target = self.plan.environment().name();
        match &step.action {
            Action::StartRefresh | Action::StartRestore => Err(RetryError::Refused {
                message: format!(
                    "run `{}` failed in `{id}`: LCS did not start the {}; refreshctl does not send it again within a failed run",
                    run.id,
                    what(step)
                ),
                hint: Some(after_failed_refresh(target, &run.file)),
            }),
            Action::MonitorRefresh | Action::MonitorRestore => Err(RetryError::Refused {
                message: format!(
                    "run `{}` failed in `{id}`: a {} is never repeated (a second one erases the target again, and LCS cannot be asked to redo one half done)",
                    run.id,
                    what(step)
                ),
                hint: Some(after_failed_refresh(target, &run.file)),
            }),
            Action::Preflight | Action::Submit | Action::WaitForWindow => {
                Err(RetryError::Refused {
                    message: format!(
                        "run `{}` failed in `{id}`, before anything was changed; its window cannot be retried",
                        run.id
                    ),
                    hint: Some(format!(
                        "`refreshctl submit {}` asks for the next window",
                        shown_path(&run.file)
                    )),
                })
            }
            Action::MonitorDeployment { apply_step } => {
                let activity = remote(run, apply_step).activity.clone();
                let apply = position(run, apply_step)?;
                let Some(activity) = activity else {
                    return Ok(apply);
                };
                let project = self.plan.project();
                let environment = run.target_id.clone().unwrap_or_default();
                match self
                    .adapter
                    .deployment_status(project, &environment, &activity)
                    .await
                {
                    Ok(status) if status.is_terminal() && !status.is_success() => Ok(apply),
                    Ok(_) => Ok(failed),
                    Err(error) => Err(RetryError::Unreachable(format!(
                        "cannot read how the deployment {activity} stands ({error}); nothing was changed, so it is not applied twice"
                    ))),
                }
            }
            _ => Ok(failed),
        }
    }
}

fn what(step: &RunStep) -> &'static str {
    match step.action {
        Action::StartRestore | Action::MonitorRestore => "restore",
        _ => "refresh",
    }
}

fn position(run: &RunRecord, step: &str) -> Result<usize, RetryError> {
    run.steps
        .iter()
        .position(|record| record.id == step)
        .ok_or_else(|| unknown(step))
}

fn plan_step<'s>(steps: &'s [RunStep], id: &str) -> Result<&'s RunStep, RetryError> {
    steps
        .iter()
        .find(|step| step.id == id)
        .ok_or_else(|| unknown(id))
}

fn unknown(step: &str) -> RetryError {
    RetryError::Refused {
        message: format!("step `{step}` is not part of the plan any more"),
        hint: Some("the plan file changed since the run was submitted".into()),
    }
}

/// A plan's path as a command to type would give it: relative to the current directory when
/// the plan is under it (runs keep the absolute path, so that they resume from anywhere).
#[must_use]
pub fn shown_path(file: &str) -> String {
    let path = std::path::Path::new(file);
    std::env::current_dir()
        .ok()
        .and_then(|here| {
            path.strip_prefix(here)
                .ok()
                .map(std::path::Path::to_path_buf)
        })
        .map_or_else(
            || file.to_owned(),
            |relative| relative.display().to_string(),
        )
}
