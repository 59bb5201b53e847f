//! Manual steps: the instructions said in the run's log, then a wait for `approve`; the
//! Financial reporting reset, a call where the adapter has one and a manual step where it has
//! not; and the timeout and reminders of a manual step that waits (SPEC 5).

use chrono::{DateTime, Utc};

use crate::adapter::Adapter;
use crate::executor::event::EventKind;
use crate::executor::run::{Executor, Outcome};
use crate::plan::{Action, ManualTimeout, Plan, RunStep};
use crate::state::{RunRecord, RunState, StepState};

impl<A: Adapter> Executor<'_, A> {
    /// A manual step: its instructions in the run's log, then a wait for `approve`.
    pub(in crate::executor) fn manual(
        &mut self,
        run: &RunRecord,
        step: &RunStep,
        instructions: &str,
        timeout: Option<ManualTimeout>,
    ) -> Outcome {
        let then = timeout.map_or_else(String::new, |timeout| format!(" ({})", timeout.describe()));
        self.emit(
            run,
            EventKind::Log,
            Some(&step.id),
            format!(
                "{instructions} Then: `refreshctl approve {} {}`{then}",
                run.id, step.id
            ),
            None,
        );
        Outcome::AwaitApproval
    }

    /// The Financial reporting reset: the adapter's call where it has one, else a manual step
    /// with the instructions.
    pub(in crate::executor) async fn reset_financial_reporting(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
    ) -> Outcome {
        let project = self.plan.project();
        if self.adapter.capabilities().reset_financial_reporting {
            let target = run.target_id.clone().unwrap_or_default();
            match self
                .adapter
                .reset_financial_reporting(project, &target)
                .await
            {
                Ok(()) => Outcome::Done,
                Err(error) => self.poll_error(run, index, error),
            }
        } else {
            self.emit(
                run,
                EventKind::Log,
                Some(&step.id),
                format!(
                    "{} Then: `refreshctl approve {} {}`",
                    crate::plan::reset_financial_reporting_instructions(
                        self.plan.environment().name()
                    ),
                    run.id,
                    step.id
                ),
                None,
            );
            Outcome::AwaitApproval
        }
    }
}

/// The manual step a run waits on, when it has a `timeout`.
pub(in crate::executor) struct ManualWait {
    pub(in crate::executor) index: usize,
    pub(in crate::executor) step: String,
    pub(in crate::executor) timeout: ManualTimeout,
    /// When the step began to wait.
    pub(in crate::executor) since: DateTime<Utc>,
    /// Reminders sent so far (kept in the step's `polls`).
    pub(in crate::executor) reminders: u32,
}

impl ManualWait {
    pub(in crate::executor) fn next_due(&self) -> Option<DateTime<Utc>> {
        self.timeout.next_due(self.since, self.reminders)
    }
}

pub(in crate::executor) fn waiting_manual_step(plan: &Plan, run: &RunRecord) -> Option<ManualWait> {
    let RunState::AwaitingApproval { step } = &run.state else {
        return None;
    };
    let timeout = plan
        .run_steps()
        .into_iter()
        .find(|candidate| &candidate.id == step)
        .and_then(|candidate| match candidate.action {
            Action::Manual { timeout, .. } => timeout,
            _ => None,
        })?;
    let index = run.steps.iter().position(|record| &record.id == step)?;
    let since = match run.steps[index].state {
        StepState::Running { started } => started,
        _ => run.updated,
    };
    Some(ManualWait {
        index,
        step: step.clone(),
        timeout,
        since,
        reminders: run.steps[index].polls,
    })
}

/// When a run that waits for an approval must be looked at again: its manual step's timeout,
/// or its next reminder (`None`: nothing is due, it waits for a person).
#[must_use]
pub fn wait_due(plan: &Plan, run: &RunRecord) -> Option<DateTime<Utc>> {
    waiting_manual_step(plan, run).and_then(|wait| wait.next_due())
}
