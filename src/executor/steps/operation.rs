//! The calls that change an environment, and their operations: start refresh, start restore,
//! start export and apply update are each recorded as an intent before they are sent, settled
//! from the environment's history when the answer was lost (after a crash or a dropped
//! connection), never sent twice; then the operation or deployment they began is polled to its
//! end (SPEC 5.2, 5.3).

use crate::adapter::{Adapter, AdapterError, DatabaseRequest};
use crate::executor::event::EventKind;
use crate::executor::run::{ExecError, Executor, Outcome, remote};
use crate::plan::{Action, AssetSource, RunStep};
use crate::state::{Intent, RunRecord};

impl<A: Adapter> Executor<'_, A> {
    /// Polls the operation a start or apply step began.
    pub(in crate::executor) async fn monitor(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
    ) -> Outcome {
        let project = self.plan.project();
        let target = run.target_id.clone().unwrap_or_default();
        let started_by = match &step.action {
            Action::MonitorRefresh => "start-refresh",
            Action::MonitorRestore => "start-restore",
            Action::MonitorDeployment { apply_step } => apply_step.as_str(),
            Action::MonitorExport { start_step } => start_step.as_str(),
            _ => unreachable!("only monitor actions come here"),
        };
        let activity = remote(run, started_by).activity.clone().unwrap_or_default();
        let status = if let Action::MonitorDeployment { .. } = step.action {
            self.adapter
                .deployment_status(project, &target, &activity)
                .await
                .map(|status| {
                    (
                        status.is_terminal(),
                        status.is_success(),
                        "deployment",
                        status.as_str(),
                    )
                })
        } else {
            self.adapter
                .database_status(project, &target, &activity)
                .await
                .map(|status| {
                    (
                        status.is_terminal(),
                        status.is_success(),
                        "operation",
                        status.as_str(),
                    )
                })
        };
        match status {
            Ok((_, true, _, _)) if !matches!(step.action, Action::MonitorDeployment { .. }) => {
                self.report_target(run, &step.id).await;
                Outcome::Done
            }
            Ok((_, true, _, _)) => Outcome::Done,
            Ok((true, false, "operation", status)) => Outcome::Fail(format!(
                "the operation ended {status}. The target's database may be partly replaced: {}",
                crate::executor::retry::after_failed_refresh(
                    self.plan.environment().name(),
                    &run.file
                )
            )),
            Ok((true, false, what, status)) => Outcome::Fail(format!(
                "the {what} ended {status}; `refreshctl resume {} --retry-step` applies the package again",
                run.id
            )),
            Ok((_, _, _, status)) => {
                let until = self.next_poll(run, index);
                self.polled(run, &step.id, status, &activity, until);
                Outcome::Wait(until)
            }
            Err(error) => self.poll_error(run, index, error),
        }
    }

    /// After a database operation: the target's state as the adapter reports it (and what it
    /// did about it), in the run's log; a failure to read it is logged, never fatal.
    pub(in crate::executor) async fn report_target(&mut self, run: &mut RunRecord, step: &str) {
        let request = self.database_request(run);
        let lines = match self
            .adapter
            .after_database_operation(self.plan.project(), &request)
            .await
        {
            Ok(lines) => lines,
            Err(error) => vec![format!(
                "the operation succeeded, but the target's state afterwards cannot be read or changed: {error}"
            )],
        };
        for line in lines {
            self.emit(run, EventKind::Log, Some(step), line, None);
        }
    }

    /// The database operation of this run, as the adapter is asked for it.
    pub(in crate::executor) fn database_request<'r>(
        &'r self,
        run: &'r RunRecord,
    ) -> DatabaseRequest<'r> {
        DatabaseRequest {
            source: run
                .source_id
                .as_deref()
                .filter(|_| self.plan.source().is_some()),
            target: run.target_id.as_deref().unwrap_or_default(),
            point: run.point_in_time,
            not_before: None,
            options: self.plan.power_platform(),
        }
    }

    /// Start refresh, start restore, apply update: recorded as an intent before being sent,
    /// settled from history if the answer was lost, never sent twice.
    pub(in crate::executor) async fn destructive(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
    ) -> Result<Outcome, ExecError> {
        if run.steps[index].remote.activity.is_some() {
            return Ok(Outcome::Done);
        }
        let project = self.plan.project();
        let target = run.target_id.clone().unwrap_or_default();
        if let Some(intent) = run.steps[index].intent.clone() {
            return Ok(self.settle(run, index, step, &intent).await);
        }
        // The files the post steps need, once more before the database is replaced: the window
        // may have opened days after preflight.
        if matches!(step.action, Action::StartRefresh | Action::StartRestore)
            && let Some(missing) = self.missing_files()
        {
            return Ok(Outcome::Fail(missing));
        }
        // The target's type is checked live right before a destructive call, failing closed.
        match self.adapter.environment(project, &target).await {
            Ok(facts) => {
                if let Err(refusal) = facts
                    .kind
                    .guard_on(self.adapter.service_name(), &facts.name)
                {
                    return Ok(Outcome::Fail(refusal));
                }
            }
            Err(error) => return Ok(self.poll_error(run, index, error)),
        }
        let asset = match &step.action {
            Action::ApplyUpdate {
                asset: AssetSource::Uploaded(upload),
                ..
            } => remote(run, upload).asset.clone().unwrap_or_default(),
            Action::ApplyUpdate {
                asset: AssetSource::Existing(asset),
                ..
            } => asset.clone(),
            _ => String::new(),
        };
        let backup = match &step.action {
            Action::StartExport { template } => {
                match self.announced_backup(run, &step.id, template.as_deref()) {
                    Ok(backup) => backup,
                    Err(message) => return Ok(Outcome::Fail(message)),
                }
            }
            _ => String::new(),
        };
        run.steps[index].intent = Some(Intent {
            call: step.id.clone(),
            at: self.clock.now(),
            unanswered: None,
        });
        self.commit(run)?;
        crate::executor::failpoint::hit(&format!("after-intent:{}", step.id));
        let result = match &step.action {
            Action::StartRefresh | Action::StartRestore => {
                let request = self.database_request(run);
                self.adapter
                    .start_database_operation(project, &request)
                    .await
            }
            Action::ApplyUpdate { update_name, .. } => {
                self.adapter
                    .apply_update(project, &target, &asset, update_name)
                    .await
            }
            Action::StartExport { .. } => {
                self.adapter.start_export(project, &target, &backup).await
            }
            _ => unreachable!("only destructive actions come here"),
        };
        crate::executor::failpoint::hit(&format!("after-call:{}", step.id));
        Ok(match result {
            Ok(activity) => {
                run.steps[index].remote.activity = Some(activity);
                Outcome::Done
            }
            // A throttled call was not made: the intent is cleared and the call waits.
            Err(AdapterError::Throttled(wait)) => {
                run.steps[index].intent = None;
                self.throttled(wait)
            }
            // The answer is lost: whether the call was made is settled from history next time,
            // and what came back instead is kept for the operator, should history not tell.
            Err(AdapterError::Transient(message)) => {
                if let Some(intent) = &mut run.steps[index].intent {
                    intent.unanswered = Some(message.clone());
                }
                self.emit(
                    run,
                    EventKind::Log,
                    Some(&step.id),
                    format!(
                        "no answer to the call ({message}); checking the environment's history"
                    ),
                    None,
                );
                Outcome::Wait(self.clock.now())
            }
            Err(error) => {
                run.steps[index].intent = None;
                Outcome::Fail(error.to_string())
            }
        })
    }

    /// An intent without an answer: adopt the operation if history shows it, else ask an
    /// operator.
    pub(in crate::executor) async fn settle(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
        intent: &Intent,
    ) -> Outcome {
        let project = self.plan.project();
        let target = run.target_id.clone().unwrap_or_default();
        let history = match self.adapter.history(project, &target).await {
            Ok(history) => history,
            Err(error) => {
                return Outcome::NeedsAttention(format!(
                    "{}, and the environment's history cannot be read ({error}); check {}, then `refreshctl resume {} --retry-step` or `refreshctl cancel {}`",
                    what_happened(&step.id, intent, self.adapter.service_name()),
                    self.adapter.service_name(),
                    run.id,
                    run.id
                ));
            }
        };
        let matches = |name: &str| match &step.action {
            Action::StartRefresh => name.to_lowercase().contains("refresh"),
            Action::StartRestore => name.to_lowercase().contains("restore"),
            Action::StartExport { .. } => name.to_lowercase().contains("export"),
            Action::ApplyUpdate { update_name, .. } => name == update_name,
            _ => false,
        };
        let found = history.into_iter().find(|item| {
            item.started.is_some_and(|started| started >= intent.at) && matches(&item.name)
        });
        if let Some(item) = found {
            self.emit(
                run,
                EventKind::Log,
                Some(&step.id),
                format!(
                    "the call was made before the process stopped: operation {}",
                    item.activity
                ),
                None,
            );
            run.steps[index].remote.activity = Some(item.activity);
            return Outcome::Done;
        }
        Outcome::NeedsAttention(format!(
            "{}, and the environment's history does not show it; nothing is sent again automatically: check {}, then `refreshctl resume {} --retry-step` or `refreshctl cancel {}`",
            what_happened(&step.id, intent, self.adapter.service_name()),
            self.adapter.service_name(),
            run.id,
            run.id
        ))
    }
}

/// What is known of a destructive call whose answer is missing, for a needs-attention message.
fn what_happened(step: &str, intent: &Intent, service: &str) -> String {
    match &intent.unanswered {
        Some(instead) => format!(
            "`{step}` was sent and its answer was lost ({instead}), so it cannot be proven whether {service} received it"
        ),
        None => format!("`{step}` was about to be sent when the process stopped"),
    }
}
