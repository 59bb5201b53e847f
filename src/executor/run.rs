//! The executor: advances a run step by step (SPEC 5.1 to 5.6).
//!
//! Every step's outcome is committed to the state store before the next thing happens, and a
//! call that changes an environment is recorded as an intent before it is sent. Resuming after a
//! crash therefore finds each step as it was left; an intent without an answer is settled from
//! the environment's history, and when that cannot prove the call was made, the run waits for an
//! operator in `needs-attention`. A destructive call is never sent twice by the executor.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::event::{Event, EventKind, EventSink};
use crate::adapter::{Adapter, AdapterError, AdapterKind, DatabaseRequest, UploadTarget};
use crate::clock::Clock;
use crate::plan::time::format_utc;
use crate::plan::{
    Action, AssetSource, EnvironmentType, ManualTimeout, Occurrence, Plan, RunStep, UploadSource,
};
use crate::sim::ValidationStatus;
use crate::state::{
    Intent, RemoteIds, RunRecord, RunState, StateStore, StepRecord, StepState, StoreError,
};

/// Upload block size: 4 MiB, well under Azure's limits, so memory stays flat.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Blocks uploaded at once (as Azure's own tools do): 16 MiB of buffers at most.
const BLOCKS_IN_FLIGHT: usize = 4;

/// One block on its way, with its id.
type BlockUpload<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (String, Result<(), AdapterError>)> + 'a>>;

/// Waits for the first of the uploads in flight to finish; removes it and returns its result.
async fn next_done(in_flight: &mut Vec<BlockUpload<'_>>) -> (String, Result<(), AdapterError>) {
    std::future::poll_fn(|context| {
        for position in 0..in_flight.len() {
            if let std::task::Poll::Ready(done) = in_flight[position].as_mut().poll(context) {
                drop(in_flight.swap_remove(position));
                return std::task::Poll::Ready(done);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Fills `buffer` from `file` as far as the file goes; returns how much was read.
fn read_block(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

/// How the executor waits and where it keeps files.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The first wait between status polls; later waits grow to ten times this.
    pub poll_interval: TimeDelta,
    /// Where downloaded packages are kept.
    pub cache_dir: PathBuf,
    /// The plan file's directory: relative files and commands start there.
    pub plan_dir: PathBuf,
    /// How long a step may wait on LCS (polls, retries, a status refreshctl does not know)
    /// before it fails; the wait for the window is not counted.
    pub step_deadline: TimeDelta,
}

/// Why the executor stopped without a run state to show for it.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("step `{0}` is not part of this run")]
    UnknownStep(String),
}

/// Where a run stands after `advance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The run ended (succeeded, failed, rejected or canceled).
    Finished(RunState),
    /// Nothing to do before this time.
    Waiting(DateTime<Utc>),
    /// An operator must act: `approve` or `resume --retry-step`.
    Blocked(RunState),
    /// The service could not be reached, so the run stays where it was (`submitted`) and is
    /// tried again at `until`, backing off; a foreground command stops here (exit 3).
    Delayed { until: DateTime<Utc>, error: String },
}

/// What [`Executor::run_to_end_unless`] came to: where the run stands, or what stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stoppable<T> {
    Progress(Progress),
    Stopped(T),
}

/// The first wait after preflight could not reach the service; it doubles with each attempt.
pub const OUTAGE_FIRST_WAIT: TimeDelta = TimeDelta::minutes(1);

/// The longest wait between preflight attempts during an outage.
pub const OUTAGE_LONGEST_WAIT: TimeDelta = TimeDelta::minutes(30);

/// The wait before the next preflight attempt after `failed` attempts in a row could not reach
/// the service: one minute, doubling, at most thirty.
#[must_use]
pub fn outage_wait(failed: u32) -> TimeDelta {
    let mut wait = OUTAGE_FIRST_WAIT;
    for _ in 1..failed.min(16) {
        wait = wait * 2;
    }
    wait.min(OUTAGE_LONGEST_WAIT)
}

/// What one step came to.
enum Outcome {
    Done,
    Wait(DateTime<Utc>),
    /// LCS asked to be called again after `asked`: a wait until `until` (the end of time when
    /// that is past it), unless that is past the step's deadline.
    Throttled {
        until: DateTime<Utc>,
        asked: std::time::Duration,
    },
    Fail(String),
    Reject(String),
    /// The service could not be reached (an outage, not an answer): try again later.
    Unreachable(String),
    NeedsAttention(String),
    AwaitApproval,
}

pub struct Executor<'a, A: Adapter> {
    pub plan: &'a Plan,
    pub adapter: &'a A,
    pub store: &'a StateStore,
    pub clock: &'a Clock,
    pub sink: &'a mut dyn EventSink,
    pub settings: Settings,
}

/// A new run of `plan` for `window` through `adapter`, every step pending. The run keeps the
/// plan file's absolute path, so `resume`, `approve` and `status` find it from any directory.
#[must_use]
pub fn new_run(
    plan: &Plan,
    window: Occurrence,
    now: DateTime<Utc>,
    reason: Option<String>,
    adapter: AdapterKind,
) -> RunRecord {
    RunRecord {
        id: RunRecord::id_for(plan.name(), window.start),
        plan: plan.name().to_owned(),
        file: std::path::absolute(plan.file()).map_or_else(
            |_| plan.file().to_owned(),
            |path| path.display().to_string(),
        ),
        adapter: Some(adapter),
        target: target_key(plan),
        state: RunState::Submitted,
        window_start: window.start,
        window_end: window.end,
        point_in_time: plan.point_in_time().resolve(window.start),
        target_id: plan.environment().id().map(str::to_owned),
        source_id: plan
            .source()
            .and_then(|source| source.id().map(str::to_owned)),
        reason,
        steps: plan
            .run_steps()
            .into_iter()
            .map(|step| StepRecord {
                id: step.id,
                state: StepState::Pending,
                remote: RemoteIds::default(),
                intent: None,
                polls: 0,
            })
            .collect(),
        created: now,
        updated: now,
        version: 0,
        fence: 0,
    }
}

/// The lock key of a plan's target: `<project>/<name>` in lowercase.
#[must_use]
pub fn target_key(plan: &Plan) -> String {
    format!(
        "{}/{}",
        plan.project(),
        plan.environment().name().to_lowercase()
    )
}

impl<A: Adapter> Executor<'_, A> {
    /// Runs until the run ends or needs an operator, waiting (really or in simulated time) when
    /// there is nothing to do.
    pub async fn run_to_end(&mut self, run: &mut RunRecord) -> Result<Progress, ExecError> {
        loop {
            match self.advance(run).await? {
                Progress::Waiting(until) => {
                    self.emit(
                        run,
                        EventKind::Waiting,
                        None,
                        format!("waiting until {}", format_utc(until)),
                        Some(until),
                    );
                    self.clock.sleep_until(until).await;
                }
                done => return Ok(done),
            }
        }
    }

    /// Runs as [`Self::run_to_end`] does, and stops at the first safe point once `stop` says
    /// so (a signal, in the foreground commands): a wait ends at once; a step under way first
    /// finishes what it is doing, so its outcome is committed, unless `stop` says so again,
    /// when it stops at once (as a crash would, which every step survives). Returns what
    /// stopped it.
    pub async fn run_to_end_unless<T>(
        &mut self,
        run: &mut RunRecord,
        stop: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    ) -> Result<Stoppable<T>, ExecError> {
        loop {
            let (advanced, stopped) = {
                let advance = self.advance(run);
                tokio::pin!(advance);
                tokio::select! {
                    advanced = &mut advance => (advanced, None),
                    Some(first) = stop.recv() => {
                        tokio::select! {
                            advanced = &mut advance => (advanced, Some(first)),
                            Some(again) = stop.recv() => return Ok(Stoppable::Stopped(again)),
                        }
                    }
                }
            };
            let progress = advanced?;
            if let Some(signal) = stopped {
                return Ok(Stoppable::Stopped(signal));
            }
            match progress {
                Progress::Waiting(until) => {
                    self.emit(
                        run,
                        EventKind::Waiting,
                        None,
                        format!("waiting until {}", format_utc(until)),
                        Some(until),
                    );
                    tokio::select! {
                        () = self.clock.sleep_until(until) => {}
                        Some(signal) = stop.recv() => return Ok(Stoppable::Stopped(signal)),
                    }
                }
                done => return Ok(Stoppable::Progress(done)),
            }
        }
    }

    /// Does everything that can be done now; returns what the run waits for.
    pub async fn advance(&mut self, run: &mut RunRecord) -> Result<Progress, ExecError> {
        let steps = self.plan.run_steps();
        loop {
            if run.state.is_finished() {
                return Ok(Progress::Finished(run.state.clone()));
            }
            if matches!(
                run.state,
                RunState::AwaitingApproval { .. } | RunState::NeedsAttention { .. }
            ) {
                return Ok(Progress::Blocked(run.state.clone()));
            }
            let Some(index) = run.steps.iter().position(|step| {
                !matches!(
                    step.state,
                    StepState::Succeeded { .. } | StepState::Skipped { .. }
                )
            }) else {
                self.finish(run, RunState::Succeeded)?;
                continue;
            };
            let step = steps
                .iter()
                .find(|step| step.id == run.steps[index].id)
                .ok_or_else(|| ExecError::UnknownStep(run.steps[index].id.clone()))?
                .clone();
            let started = self.start_step(run, index)?;
            let outcome = self.perform(run, index, &step).await?;
            let outcome = self.within_deadline(&step, started, outcome);
            if let Some(progress) = self.apply_outcome(run, index, &step, started, outcome)? {
                return Ok(progress);
            }
        }
    }

    /// Looks at a run that waits for an approval whose manual step has a `timeout` (each `tick`
    /// and `daemon` pass does): once the timeout has passed, the run fails and releases the
    /// environment (`on_timeout: fail`), or a reminder goes out, once for every `remind_every`
    /// that passed (`on_timeout: remind`). Returns where the run stands.
    pub fn look_at_wait(&mut self, run: &mut RunRecord) -> Result<Progress, ExecError> {
        let now = self.clock.now();
        let Some(wait) = waiting_manual_step(self.plan, run) else {
            return Ok(progress_of(run));
        };
        match wait.next_due() {
            Some(due) if due <= now => {}
            _ => return Ok(progress_of(run)),
        }
        let since = format_utc(wait.since);
        let step = wait.step;
        match wait.timeout {
            ManualTimeout::Fail { after } => {
                let error = format!(
                    "not approved within {} (waiting since {since}); the run failed and `{}` is released for later runs",
                    crate::plan::time::format_duration(after),
                    self.plan.environment().name()
                );
                run.steps[wait.index].state = StepState::Failed {
                    started: wait.since,
                    finished: now,
                    error: error.clone(),
                };
                self.emit(run, EventKind::StepFailed, Some(&step), error.clone(), None);
                self.finish(
                    run,
                    RunState::Failed {
                        error: format!("{step}: {error}"),
                    },
                )?;
            }
            ManualTimeout::Remind { after, every } => {
                // One reminder however many intervals passed since the last look (a pass that
                // comes late does not send a burst), numbered by the intervals passed.
                let overdue = (now - wait.since - after).num_seconds() / every.num_seconds().max(1);
                let reminder = u32::try_from(overdue.saturating_add(1)).unwrap_or(u32::MAX);
                run.steps[wait.index].polls = reminder;
                self.commit(run)?;
                let next = wait.timeout.next_due(wait.since, reminder);
                self.emit(
                    run,
                    EventKind::Reminder,
                    Some(&step),
                    format!(
                        "reminder {reminder}: `{step}` still waits for an approval (since {since}): `refreshctl approve {} {step}`{}",
                        run.id,
                        next.map_or_else(String::new, |next| format!("; the next reminder at {}", format_utc(next)))
                    ),
                    next,
                );
            }
        }
        Ok(progress_of(run))
    }

    /// A wait that would end past the step's deadline fails the step instead.
    fn within_deadline(&self, step: &RunStep, started: DateTime<Utc>, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Throttled { until, asked } => match until {
                until if until - started <= self.settings.step_deadline => Outcome::Wait(until),
                _ => Outcome::Fail(format!(
                    "{} asked to retry after {}, past the step's deadline of {}; nothing was waited for",
                    self.adapter.service_name(),
                    crate::adapter::shown_wait(asked),
                    crate::plan::time::format_duration(self.settings.step_deadline)
                )),
            },
            Outcome::Wait(until)
                if step.action != Action::WaitForWindow
                    && until - started > self.settings.step_deadline =>
            {
                Outcome::Fail(format!(
                    "no result within the step's deadline of {}; {service} may still be working on it: check the environment in {service}",
                    crate::plan::time::format_duration(self.settings.step_deadline),
                    service = self.adapter.service_name()
                ))
            }
            other => other,
        }
    }

    /// Marks a pending step running (committed, with an event); returns when it started.
    fn start_step(
        &mut self,
        run: &mut RunRecord,
        index: usize,
    ) -> Result<DateTime<Utc>, ExecError> {
        if let StepState::Running { started } = run.steps[index].state {
            return Ok(started);
        }
        let now = self.clock.now();
        run.steps[index].state = StepState::Running { started: now };
        self.commit(run)?;
        let id = run.steps[index].id.clone();
        self.emit(
            run,
            EventKind::StepStarted,
            Some(&id),
            format!("{id} started"),
            None,
        );
        Ok(now)
    }

    /// Records what a step came to; returns where the run stands if it cannot go on now.
    fn apply_outcome(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
        started: DateTime<Utc>,
        outcome: Outcome,
    ) -> Result<Option<Progress>, ExecError> {
        let now = self.clock.now();
        let id = step.id.as_str();
        match outcome {
            Outcome::Done => {
                if step.action == Action::Preflight {
                    self.note_recovery(run, index);
                }
                run.steps[index].state = StepState::Succeeded {
                    started,
                    finished: now,
                };
                let entered = match step.action {
                    Action::Preflight => Some(RunState::Accepted),
                    Action::WaitForWindow => Some(RunState::Running),
                    _ => None,
                };
                if let Some(state) = &entered {
                    run.state = state.clone();
                }
                self.commit(run)?;
                crate::executor::failpoint::hit(&format!("after-step:{id}"));
                self.emit(
                    run,
                    EventKind::StepSucceeded,
                    Some(id),
                    format!("{id} succeeded"),
                    None,
                );
                if let Some(state) = entered {
                    self.emit(
                        run,
                        EventKind::RunState,
                        None,
                        state.name().to_owned(),
                        None,
                    );
                }
            }
            Outcome::Wait(until) | Outcome::Throttled { until, .. } => {
                self.commit(run)?;
                crate::executor::failpoint::hit(&format!("waiting:{id}"));
                return Ok(Some(Progress::Waiting(until)));
            }
            Outcome::Unreachable(error) => return self.delay(run, index, step, started, error),
            Outcome::Fail(error) => {
                run.steps[index].state = StepState::Failed {
                    started,
                    finished: now,
                    error: error.clone(),
                };
                self.emit(run, EventKind::StepFailed, Some(id), error.clone(), None);
                self.finish(
                    run,
                    RunState::Failed {
                        error: format!("{id}: {error}"),
                    },
                )?;
            }
            Outcome::Reject(reason) => {
                run.steps[index].state = StepState::Failed {
                    started,
                    finished: now,
                    error: reason.clone(),
                };
                self.emit(run, EventKind::StepFailed, Some(id), reason.clone(), None);
                self.finish(run, RunState::Rejected { reason })?;
            }
            Outcome::NeedsAttention(reason) => {
                run.state = RunState::NeedsAttention {
                    step: id.to_owned(),
                    reason,
                };
                self.commit(run)?;
                self.emit(
                    run,
                    EventKind::RunState,
                    Some(id),
                    run.state.name().to_owned(),
                    None,
                );
            }
            Outcome::AwaitApproval => {
                run.state = RunState::AwaitingApproval {
                    step: id.to_owned(),
                };
                self.commit(run)?;
                self.emit(
                    run,
                    EventKind::RunState,
                    Some(id),
                    run.state.name().to_owned(),
                    None,
                );
            }
        }
        Ok(None)
    }

    /// Says in the run's log that preflight got through after attempts that could not reach the
    /// service (the end of what `delay` logged).
    fn note_recovery(&mut self, run: &RunRecord, index: usize) {
        let failed = run.steps[index].polls;
        if failed > 0 {
            let id = run.steps[index].id.clone();
            self.emit(
                run,
                EventKind::Log,
                Some(&id),
                format!(
                    "the service answered again after {failed} attempt(s) that could not reach it"
                ),
                None,
            );
        }
    }

    /// The service could not be reached: the run stays where it was and is due again after a
    /// wait that doubles with each attempt (kept in the step's `polls`, so it survives the
    /// process), logged and notified on the first attempt of the outage only. When the next
    /// attempt would come after the window ends, the window cannot be kept: the run fails.
    fn delay(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
        started: DateTime<Utc>,
        error: String,
    ) -> Result<Option<Progress>, ExecError> {
        let now = self.clock.now();
        let id = step.id.as_str();
        let failed = run.steps[index].polls.saturating_add(1);
        let until = now + outage_wait(failed);
        if until >= run.window_end {
            let error = format!(
                "the service could not be reached since {} ({failed} attempt(s); the last: {error}), and the window ends at {}, before another attempt: the run cannot be kept and nothing was changed",
                format_utc(started),
                format_utc(run.window_end)
            );
            return self.apply_outcome(run, index, step, started, Outcome::Fail(error));
        }
        run.steps[index].polls = failed;
        self.commit(run)?;
        if failed == 1 {
            self.emit(
                run,
                EventKind::Delayed,
                Some(id),
                format!(
                    "{error}; the run stays {} and {id} is tried again at {}, then with growing waits (at most {}) until the window ends at {}",
                    run.state.name(),
                    format_utc(until),
                    crate::plan::time::format_duration(OUTAGE_LONGEST_WAIT),
                    format_utc(run.window_end)
                ),
                Some(until),
            );
        }
        Ok(Some(Progress::Delayed { until, error }))
    }

    fn commit(&self, run: &mut RunRecord) -> Result<(), ExecError> {
        run.updated = self.clock.now();
        self.store.update_run(run)?;
        Ok(())
    }

    fn finish(&mut self, run: &mut RunRecord, state: RunState) -> Result<(), ExecError> {
        run.state = state;
        self.commit(run)?;
        self.store.unlock(&run.lock_key(), &run.id)?;
        self.emit(
            run,
            EventKind::RunState,
            None,
            run.state.name().to_owned(),
            None,
        );
        Ok(())
    }

    fn emit(
        &mut self,
        run: &RunRecord,
        kind: EventKind,
        step: Option<&str>,
        message: String,
        until: Option<DateTime<Utc>>,
    ) {
        // A state change says why where its state does: what a person or a rule must know.
        let detail = (kind == EventKind::RunState)
            .then(|| match &run.state {
                RunState::Failed { error } => Some(error.clone()),
                RunState::Rejected { reason } | RunState::NeedsAttention { reason, .. } => {
                    Some(reason.clone())
                }
                _ => None,
            })
            .flatten();
        let event = Event {
            run: run.id.clone(),
            at: self.clock.now(),
            kind,
            step: step.map(str::to_owned),
            message,
            until,
            detail,
            operation: None,
        };
        // The stored log keeps what a reader needs later; the wait before each status poll is
        // shown live but not kept (it would be most of the log). The log is best effort: a run
        // must not fail because its log could not be written.
        let poll_wait = event.kind == EventKind::Waiting
            && event
                .until
                .is_some_and(|until| until - event.at < TimeDelta::hours(1));
        let _ = (!poll_wait).then(|| {
            self.store.append_fenced_event(
                run,
                &serde_json::to_value(&event.kind)
                    .ok()
                    .and_then(|kind| kind.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                &json!({ "step": event.step, "message": event.message, "until": event.until }),
                event.at,
            )
        });
        self.sink.event(&event);
    }

    /// Says how a remote operation stands while its step waits on it (shown live, not kept).
    fn polled(
        &mut self,
        run: &RunRecord,
        step: &str,
        status: &str,
        operation: &str,
        until: DateTime<Utc>,
    ) {
        self.sink.event(&Event {
            run: run.id.clone(),
            at: self.clock.now(),
            kind: EventKind::Polled,
            step: Some(step.to_owned()),
            message: status.to_owned(),
            until: Some(until),
            operation: Some(operation.to_owned()),
            detail: None,
        });
    }

    /// The wait before the next poll: the interval, growing by half each poll, at most ten times.
    fn next_poll(&self, run: &mut RunRecord, index: usize) -> DateTime<Utc> {
        let polls = run.steps[index].polls;
        run.steps[index].polls = polls.saturating_add(1);
        let base = self.settings.poll_interval;
        let mut wait = base;
        for _ in 0..polls.min(16) {
            wait = wait * 3 / 2;
        }
        self.clock.now() + wait.min(base * 10)
    }

    async fn perform(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        step: &RunStep,
    ) -> Result<Outcome, ExecError> {
        let project = self.plan.project();
        Ok(match &step.action {
            Action::Preflight => self.preflight(run).await,
            Action::Submit => {
                let notice = format!(
                    "notice given: `{}` is offline from {} to {}",
                    self.plan.environment().name(),
                    format_utc(run.window_start),
                    format_utc(run.window_end)
                );
                self.emit(run, EventKind::Log, Some("submit"), notice, None);
                Outcome::Done
            }
            Action::WaitForWindow => {
                let now = self.clock.now();
                if now < run.window_start {
                    Outcome::Wait(run.window_start)
                } else {
                    Outcome::Done
                }
            }
            Action::StartRefresh
            | Action::StartRestore
            | Action::StartExport { .. }
            | Action::ApplyUpdate { .. } => self.destructive(run, index, step).await?,
            Action::MonitorRefresh
            | Action::MonitorRestore
            | Action::MonitorExport { .. }
            | Action::MonitorDeployment { .. } => self.monitor(run, index, step).await,
            Action::DownloadShared { package } => self.download(run, index, package).await,
            Action::Upload { file, name } => self.upload(run, index, file, name).await?,
            Action::ResetFinancialReporting => {
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
            Action::Command {
                index: post_step,
                arguments,
                timeout,
            } => {
                self.command(run, &step.id, *post_step, *arguments, *timeout)
                    .await
            }
            Action::Manual {
                instructions,
                timeout,
            } => {
                let then = timeout
                    .map_or_else(String::new, |timeout| format!(" ({})", timeout.describe()));
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
        })
    }

    /// Polls the operation a start or apply step began.
    async fn monitor(&mut self, run: &mut RunRecord, index: usize, step: &RunStep) -> Outcome {
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
                super::retry::after_failed_refresh(self.plan.environment().name(), &run.file)
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
    async fn report_target(&mut self, run: &mut RunRecord, step: &str) {
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

    /// The wait the service asked for, as an outcome.
    fn throttled(&self, wait: std::time::Duration) -> Outcome {
        let now = self.clock.now();
        Outcome::Throttled {
            until: TimeDelta::from_std(wait)
                .ok()
                .and_then(|wait| now.checked_add_signed(wait))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            asked: wait,
        }
    }

    /// A failed status or lookup call: wait and try again when that can help, else fail.
    fn poll_error(&self, run: &mut RunRecord, index: usize, error: AdapterError) -> Outcome {
        match error {
            AdapterError::Throttled(wait) => self.throttled(wait),
            AdapterError::Transient(_) => Outcome::Wait(self.next_poll(run, index)),
            error => Outcome::Fail(error.to_string()),
        }
    }

    /// What the `missing-file` rule would say now about the files the post steps need, as one
    /// message, or `None` when they are all there.
    fn missing_files(&self) -> Option<String> {
        let missing = crate::rules::missing_files(self.plan, &self.settings.plan_dir);
        let directory = self.settings.plan_dir.display().to_string();
        (!missing.is_empty()).then(|| {
            format!(
                "{}, relative to the plan's directory `{}`; nothing was changed",
                missing.join("; "),
                if directory.is_empty() {
                    "."
                } else {
                    &directory
                }
            )
        })
    }

    async fn preflight(&mut self, run: &mut RunRecord) -> Outcome {
        let project = self.plan.project();
        let now = self.clock.now();
        if now >= run.window_end {
            return Outcome::Fail(format!(
                "the window ended at {} before preflight could pass; nothing was changed",
                format_utc(run.window_end)
            ));
        }
        // The files the steps need are checked again before anything is asked of the service:
        // one deleted since `validate` stops the run here, not after the database was erased.
        if let Some(missing) = self.missing_files() {
            return Outcome::Reject(missing);
        }
        let target_key = self
            .plan
            .environment()
            .id()
            .unwrap_or(self.plan.environment().name())
            .to_owned();
        let target = match self.adapter.environment(project, &target_key).await {
            Ok(target) => target,
            Err(AdapterError::Throttled(wait)) => return self.throttled(wait),
            Err(error) if error.is_outage() => {
                return Outcome::Unreachable(format!("the target `{target_key}`: {error}"));
            }
            Err(error) => return Outcome::Reject(format!("the target `{target_key}`: {error}")),
        };
        // The production guard fails closed: only a type known to be non-production passes.
        if let Err(refusal) = target
            .kind
            .guard_on(self.adapter.service_name(), &target.name)
        {
            return Outcome::Reject(refusal);
        }
        if let Some(stale) = stale_facts(
            self.plan.environment(),
            &target,
            self.adapter.service_name(),
        ) {
            return Outcome::Reject(stale);
        }
        if let Some(missing) = self.missing_hotfixes(&target) {
            return Outcome::Reject(missing);
        }
        if target.busy == Some(true) {
            return Outcome::Reject(format!(
                "the target `{}` is busy with another operation",
                target.name
            ));
        }
        if let Some(source) = self.plan.source() {
            let source_key = source.id().unwrap_or(source.name()).to_owned();
            match self.adapter.environment(project, &source_key).await {
                Ok(facts) => {
                    if let Some(stale) = stale_facts(source, &facts, self.adapter.service_name()) {
                        return Outcome::Reject(stale);
                    }
                    if let Some(kind @ (EnvironmentType::Development | EnvironmentType::Build)) =
                        facts.kind.kind()
                    {
                        return Outcome::Reject(format!(
                            "the source `{}` is a {} environment; {} copies databases only from production or a sandbox",
                            facts.name,
                            kind.as_str(),
                            self.adapter.service_name()
                        ));
                    }
                    if let (Some(a), Some(b)) = (&facts.release, &target.release)
                        && a != b
                    {
                        return Outcome::Reject(format!(
                            "the source is on release {a} and the target on {b}; a copy needs the same release"
                        ));
                    }
                    run.source_id = Some(facts.id);
                }
                Err(AdapterError::Throttled(wait)) => {
                    return Outcome::Wait(
                        self.clock.now()
                            + TimeDelta::from_std(wait).unwrap_or(self.settings.poll_interval),
                    );
                }
                Err(error) if error.is_outage() => {
                    return Outcome::Unreachable(format!("the source `{source_key}`: {error}"));
                }
                Err(error) => {
                    return Outcome::Reject(format!("the source `{source_key}`: {error}"));
                }
            }
        }
        run.target_id = Some(target.id);
        // What only the adapter's service can tell (the Power Platform's candidates, region,
        // retention, running operations); nothing is sent.
        let mut request = self.database_request(run);
        request.not_before = Some(run.window_start);
        match self.adapter.preflight(project, &request).await {
            Ok(()) => Outcome::Done,
            Err(AdapterError::Throttled(wait)) => self.throttled(wait),
            Err(error) if error.is_outage() => Outcome::Unreachable(error.to_string()),
            Err(error) => Outcome::Reject(error.to_string()),
        }
    }

    /// The database operation of this run, as the adapter is asked for it.
    fn database_request<'r>(&'r self, run: &'r RunRecord) -> DatabaseRequest<'r> {
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

    /// The prerequisite rule on the live release, where the plan did not declare one (so
    /// `validate` could not check it): the reprovisioning tool needs the release's hotfixes.
    fn missing_hotfixes(&self, target: &crate::adapter::EnvironmentFacts) -> Option<String> {
        let declared = self.plan.environment();
        let reprovisions = self
            .plan
            .run_steps()
            .iter()
            .any(|step| step.id.starts_with("reprovision."));
        if declared.release().is_some() || !reprovisions {
            return None;
        }
        let catalog = crate::rules::Catalog::embedded();
        let known = catalog.lookup(target.release.as_deref()?)?;
        let missing: Vec<&str> = catalog
            .requirements(&known)
            .iter()
            .filter(|kb| !declared.hotfixes().contains(kb))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{} says `{}` is on release {}, which needs {} before the reprovisioning tool, and the plan's `hotfixes` does not list them: apply them, declare the release and hotfixes in the plan, and validate it again",
                self.adapter.service_name(),
                target.name,
                target.release.as_deref().unwrap_or_default(),
                missing.join(", ")
            )
        })
    }

    /// Start refresh, start restore, apply update: recorded as an intent before being sent,
    /// settled from history if the answer was lost, never sent twice.
    async fn destructive(
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
    async fn settle(
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

    /// The backup name of an export step, said in the run's log before the call.
    fn announced_backup(
        &mut self,
        run: &mut RunRecord,
        step: &str,
        template: Option<&str>,
    ) -> Result<String, String> {
        let backup = self.backup_name(run, step, template)?;
        self.emit(
            run,
            EventKind::Log,
            Some(step),
            format!(
                "exporting the database of `{}` to the project's asset library as `{backup}.bacpac`",
                self.plan.environment().name()
            ),
            None,
        );
        Ok(backup)
    }

    /// The backup name of an export step: its template rendered for this run, or the default.
    fn backup_name(
        &self,
        run: &RunRecord,
        step: &str,
        template: Option<&str>,
    ) -> Result<String, String> {
        let name = match template {
            None => crate::plan::default_backup_name(
                self.plan.environment().name(),
                run.window_start,
                step,
            ),
            Some(template) => {
                let context =
                    template_context(self.plan, run, Some(step), "started", self.adapter.name());
                self.plan
                    .templates()
                    .render(template, &context)
                    .map_err(|error| format!("the backup name: {error}"))?
                    .trim()
                    .to_owned()
            }
        };
        crate::plan::check_backup_name(&name)?;
        Ok(name)
    }

    async fn download(&mut self, run: &mut RunRecord, index: usize, package: &str) -> Outcome {
        let project = self.plan.project();
        let shared = match self.adapter.find_shared_asset(package).await {
            Ok(Some(shared)) => shared,
            Ok(None) => {
                return Outcome::Fail(format!("the shared asset library has no \"{package}\""));
            }
            Err(error) => return self.poll_error(run, index, error),
        };
        let directory = self.settings.cache_dir.join(&shared.id);
        let file = directory.join(&shared.file_name);
        run.steps[index].remote.asset = Some(shared.id.clone());
        run.steps[index].remote.file = Some(file.display().to_string());
        let cached = std::fs::metadata(&file).map(|metadata| metadata.len()).ok();
        if cached.is_some() && cached == shared.size {
            return Outcome::Done;
        }
        if let Err(error) = std::fs::create_dir_all(&directory) {
            return Outcome::Fail(format!("cannot create `{}`: {error}", directory.display()));
        }
        let partial = directory.join(format!("{}.part", shared.file_name));
        match self
            .adapter
            .download_asset(project, &shared.id, &partial)
            .await
        {
            Ok(size) if shared.size.is_none_or(|expected| expected == size) => {
                match std::fs::rename(&partial, &file) {
                    Ok(()) => Outcome::Done,
                    Err(error) => Outcome::Fail(format!(
                        "cannot move the download into `{}`: {error}",
                        file.display()
                    )),
                }
            }
            Ok(size) => Outcome::Fail(format!(
                "downloaded {size} bytes; the asset has {}",
                shared.size.unwrap_or_default()
            )),
            Err(error) => self.poll_error(run, index, error),
        }
    }

    async fn upload(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        file: &UploadSource,
        name: &str,
    ) -> Result<Outcome, ExecError> {
        let project = self.plan.project();
        let path = match file {
            UploadSource::Local(file) => self.settings.plan_dir.join(file),
            UploadSource::Downloaded(step) => {
                PathBuf::from(remote(run, step).file.clone().unwrap_or_default())
            }
        };
        let file_name = path.file_name().map_or_else(
            || "package.zip".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        // An asset created by this run is reused; its blocks are not sent again. Creating one
        // is recorded as an intent first, and the asset's name carries the run, the step and
        // the intent's time, so an asset whose id a crash lost is found again by that exact
        // name, never confused with another (an older upload of the same package, say).
        let step_id = run.steps[index].id.clone();
        if run.steps[index].remote.asset.is_none()
            && let Some(intent) = run.steps[index].intent.clone()
        {
            let wanted = asset_name(name, &run.id, &step_id, intent.at);
            match self.adapter.project_assets(project).await {
                Ok(assets) => {
                    let mut created: Vec<_> = assets
                        .into_iter()
                        .filter(|asset| asset.name == wanted)
                        .collect();
                    match created.len() {
                        0 => {}
                        1 => {
                            let asset = created.remove(0);
                            self.emit(
                                run,
                                EventKind::Log,
                                Some(&step_id),
                                format!(
                                    "the asset `{wanted}` was created before the process stopped: asset {}",
                                    asset.id
                                ),
                                None,
                            );
                            run.steps[index].remote.asset = Some(asset.id);
                            self.commit(run)?;
                        }
                        count => {
                            return Ok(Outcome::Fail(format!(
                                "the project's asset library holds {count} assets named `{wanted}`, so refreshctl cannot tell which one this run created: delete the extra ones in LCS, then `refreshctl resume {} --retry-step`",
                                run.id
                            )));
                        }
                    }
                }
                Err(error) => return Ok(self.poll_error(run, index, error)),
            }
        }
        let target = if let Some(asset) = run.steps[index].remote.asset.clone() {
            self.adapter.upload_target(project, &asset).await
        } else {
            let at = self.clock.now();
            run.steps[index].intent = Some(Intent {
                call: "create-asset".into(),
                at,
                unanswered: None,
            });
            self.commit(run)?;
            let created = self
                .adapter
                .create_asset(
                    project,
                    &asset_name(name, &run.id, &step_id, at),
                    &file_name,
                )
                .await;
            crate::executor::failpoint::hit(&format!("after-create:{step_id}"));
            if let Ok(target) = &created {
                run.steps[index].remote.asset = Some(target.asset.clone());
                self.commit(run)?;
            }
            created
        };
        let target = match target {
            Ok(target) => target,
            Err(error) => return Ok(self.poll_error(run, index, error)),
        };
        // Blocks go before the first validation poll; later polls only ask for validation.
        if run.steps[index].polls == 0
            && let Some(outcome) = self.send_blocks(run, index, &target, &path).await?
        {
            return Ok(outcome);
        }
        match self.adapter.validation_status(project, &target.asset).await {
            Ok(ValidationStatus::Done) => Ok(Outcome::Done),
            Ok(ValidationStatus::Failed) => Ok(Outcome::Fail(format!(
                "LCS rejected the package `{file_name}` in validation; once the package is fixed, `refreshctl resume {} --retry-step` uploads it again",
                run.id
            ))),
            Ok(status) => {
                let until = self.next_poll(run, index);
                let shown = format!("validation {}", status.as_str());
                self.polled(run, &step_id, &shown, &target.asset, until);
                Ok(Outcome::Wait(until))
            }
            Err(error) => Ok(self.poll_error(run, index, error)),
        }
    }

    /// Sends the blocks not yet sent (up to `BLOCKS_IN_FLIGHT` at once, each recorded as it is
    /// acknowledged), then the block list, then commits the asset. Returns an outcome when the
    /// step cannot go on now.
    async fn send_blocks(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        target: &UploadTarget,
        path: &Path,
    ) -> Result<Option<Outcome>, ExecError> {
        let project = self.plan.project();
        // A package named by the plan: a FIFO or a device would block or never end.
        let mut file = match crate::input::open_regular(path) {
            Ok(file) => file,
            Err(error) => return Ok(Some(Outcome::Fail(error.to_string()))),
        };
        // The adapter outlives this borrow of `self`, so blocks in flight can hold it while
        // `self` commits the ones acknowledged.
        let adapter = self.adapter;
        let mut in_flight: Vec<BlockUpload<'_>> = Vec::new();
        let mut blocks = Vec::new();
        let mut read_all = false;
        let mut failure = None;
        loop {
            while !read_all && failure.is_none() && in_flight.len() < BLOCKS_IN_FLIGHT {
                let mut buffer = vec![0_u8; BLOCK_SIZE];
                let filled = match read_block(&mut file, &mut buffer) {
                    Ok(filled) => filled,
                    Err(error) => {
                        failure = Some(Outcome::Fail(format!(
                            "cannot read `{}`: {error}",
                            path.display()
                        )));
                        break;
                    }
                };
                // An empty file is one empty block; otherwise a short block is the last.
                if filled == 0 && !blocks.is_empty() {
                    read_all = true;
                    break;
                }
                read_all = filled < BLOCK_SIZE;
                buffer.truncate(filled);
                let block = base64::engine::general_purpose::STANDARD
                    .encode(format!("{:08}", blocks.len()));
                blocks.push(block.clone());
                if !run.steps[index].remote.blocks.contains(&block) {
                    let bytes = bytes::Bytes::from(buffer);
                    in_flight.push(Box::pin(async move {
                        let result = adapter.upload_block(target, &block, bytes).await;
                        (block, result)
                    }));
                }
            }
            if in_flight.is_empty() {
                break;
            }
            let (block, result) = next_done(&mut in_flight).await;
            match result {
                Ok(()) => {
                    run.steps[index].remote.blocks.push(block);
                    self.commit(run)?;
                    crate::executor::failpoint::hit(&format!(
                        "after-block:{}",
                        run.steps[index].id
                    ));
                }
                // The blocks in flight still land and are recorded; then the step waits.
                Err(error) if failure.is_none() => {
                    failure = Some(self.poll_error(run, index, error));
                }
                Err(_) => {}
            }
        }
        if let Some(outcome) = failure {
            return Ok(Some(outcome));
        }
        if let Err(error) = self.adapter.commit_blocks(target, &blocks).await {
            return Ok(Some(self.poll_error(run, index, error)));
        }
        if let Err(error) = self.adapter.commit_asset(project, &target.asset).await {
            return Ok(Some(self.poll_error(run, index, error)));
        }
        Ok(None)
    }

    async fn command(
        &mut self,
        run: &mut RunRecord,
        step: &str,
        post_step: usize,
        arguments: usize,
        timeout: TimeDelta,
    ) -> Outcome {
        let context = template_context(self.plan, run, Some(step), "started", self.adapter.name());
        let mut argv = Vec::with_capacity(arguments);
        for position in 0..arguments {
            match self.plan.templates().render(
                &format!("post_steps[{post_step}].run[{position}]"),
                &context,
            ) {
                Ok(argument) => argv.push(argument),
                Err(error) => return Outcome::Fail(format!("argument {position}: {error}")),
            }
        }
        let Some((program, rest)) = argv.split_first() else {
            return Outcome::Fail("the command is empty".into());
        };
        let child = tokio::process::Command::new(program)
            .args(rest)
            .current_dir(&self.settings.plan_dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let limit = timeout
            .to_std()
            .unwrap_or(std::time::Duration::from_mins(30));
        let output = match tokio::time::timeout(limit, child).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => return Outcome::Fail(format!("cannot run `{program}`: {error}")),
            Err(_) => {
                return Outcome::Fail(format!(
                    "`{program}` ran longer than its timeout and was stopped"
                ));
            }
        };
        for line in String::from_utf8_lossy(&output.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&output.stderr).lines())
        {
            self.emit(run, EventKind::Log, Some(step), line.to_owned(), None);
        }
        if output.status.success() {
            Outcome::Done
        } else {
            Outcome::Fail(format!(
                "`{program}` exited with {}; `refreshctl resume {} --retry-step` runs it again",
                output.status, run.id
            ))
        }
    }
}

/// The manual step a run waits on, when it has a `timeout`.
struct ManualWait {
    index: usize,
    step: String,
    timeout: ManualTimeout,
    /// When the step began to wait.
    since: DateTime<Utc>,
    /// Reminders sent so far (kept in the step's `polls`).
    reminders: u32,
}

impl ManualWait {
    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.timeout.next_due(self.since, self.reminders)
    }
}

fn waiting_manual_step(plan: &Plan, run: &RunRecord) -> Option<ManualWait> {
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

/// Where a run stands, from its state alone.
fn progress_of(run: &RunRecord) -> Progress {
    if run.state.is_finished() {
        Progress::Finished(run.state.clone())
    } else {
        Progress::Blocked(run.state.clone())
    }
}

/// The template context of SPEC 5.4 for a run of `plan`: `plan`, `environment`, `source`,
/// `window`, `point_in_time`, `run` (with the `adapter` that runs it), `step` and `event`, and for
/// notifications `operator` and `previous_window` (null here). Command arguments and
/// notification bodies render against it; `plan::templates::sample_context` has the same shape
/// for validation.
#[must_use]
pub fn template_context(
    plan: &Plan,
    run: &RunRecord,
    step: Option<&str>,
    event: &str,
    adapter: &str,
) -> serde_json::Value {
    let environment = |environment: &crate::plan::Environment, id: Option<&String>| {
        json!({
            "name": environment.name(),
            "id": id.cloned().or_else(|| environment.id().map(str::to_owned)),
            "type": environment.kind().map(EnvironmentType::as_str),
            "release": environment.release().map(|release| release.text.clone()),
        })
    };
    json!({
        "plan": { "name": plan.name(), "description": plan.description(), "project": plan.project(), "operation": plan.operation() },
        "environment": environment(plan.environment(), run.target_id.as_ref()),
        "source": plan.source().map(|source| environment(source, run.source_id.as_ref())),
        "window": { "start": format_utc(run.window_start), "end": format_utc(run.window_end), "zone": plan.window().zone().name() },
        "point_in_time": run.point_in_time.map_or_else(|| "latest".to_owned(), format_utc),
        "run": { "id": run.id, "state": run.state.name(), "reason": run.reason, "adapter": adapter },
        "step": step.map(|step| json!({ "id": step, "state": "running" })),
        "event": event,
        "operator": null,
        "previous_window": null,
        "detail": null,
    })
}

/// Where the plan's facts about an environment disagree with what the adapter reports: the
/// rules (prerequisites, production targets, same release) were checked against stale facts.
fn stale_facts(
    declared: &crate::plan::Environment,
    live: &crate::adapter::EnvironmentFacts,
    service: &str,
) -> Option<String> {
    let fix = "update the plan's facts and validate it again";
    if let (Some(declared), Some(live_kind)) = (declared.kind(), live.kind.kind())
        && declared != live_kind
    {
        return Some(format!(
            "the plan says `{}` is a {} environment; {service} says {}: {fix}",
            live.name,
            declared.as_str(),
            live_kind.as_str()
        ));
    }
    if let (Some(release), Some(live_release)) = (declared.release(), &live.release)
        && !same_release(release, live_release)
    {
        return Some(format!(
            "the plan says `{}` is on release {}; {service} says {live_release}: {fix}",
            live.name, release.text
        ));
    }
    None
}

/// Whether a declared release and the one LCS reports agree, at the precision both give
/// (`10.0` agrees with `10.0.41`; `1611` is `7.1` in LCS).
fn same_release(declared: &crate::plan::Release, live: &str) -> bool {
    let canonical = declared
        .known
        .as_ref()
        .map_or_else(|| declared.text.clone(), |known| known.version.to_string());
    let parts = |text: &str| -> Vec<String> {
        text.trim()
            .split('.')
            .map(|part| part.trim_start_matches('0').to_owned())
            .collect()
    };
    let (a, b) = (parts(&canonical), parts(live));
    let shared = a.len().min(b.len());
    shared > 0 && a[..shared] == b[..shared]
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

/// The name of the asset an upload step creates: the package's name, then the run, the step
/// and when the creation was recorded (to the microsecond; the intent keeps that), so that after
/// a crash only an asset of exactly this attempt is adopted, even when another state store ran
/// the same plan's same window a moment before.
fn asset_name(name: &str, run: &str, step: &str, at: DateTime<Utc>) -> String {
    format!("{name} ({run} {step} {})", at.format("%Y%m%dT%H%M%S%.6fZ"))
}

pub(super) fn remote<'r>(run: &'r RunRecord, step: &str) -> &'r RemoteIds {
    static NONE: std::sync::LazyLock<RemoteIds> = std::sync::LazyLock::new(RemoteIds::default);
    run.steps
        .iter()
        .find(|record| record.id == step)
        .map_or(&NONE, |record| &record.remote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_during_an_outage_double_from_a_minute_to_half_an_hour() {
        let minutes = |failed| outage_wait(failed).num_minutes();
        let cases = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (6, 30),
            (7, 30),
            (u32::MAX, 30),
        ];
        for (failed, expected) in cases {
            assert_eq!(
                minutes(failed),
                expected,
                "after {failed} failed attempt(s)"
            );
        }
    }

    #[test]
    fn asset_names_tell_every_attempt_apart() {
        let at = "2026-12-05T21:00:00.123456789Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let name = asset_name("Build 42", "uat@20261205T2100Z", "deploy.upload", at);
        assert_eq!(
            name,
            "Build 42 (uat@20261205T2100Z deploy.upload 20261205T210000.123456Z)"
        );
        // (another run, step or moment: another name, even within the same second)
        let others = [
            asset_name("Build 42", "uat@20261212T2100Z", "deploy.upload", at),
            asset_name("Build 42", "uat@20261205T2100Z", "deploy.upload#2", at),
            asset_name(
                "Build 42",
                "uat@20261205T2100Z",
                "deploy.upload",
                at + TimeDelta::microseconds(1),
            ),
            asset_name("Build 43", "uat@20261205T2100Z", "deploy.upload", at),
        ];
        for other in others {
            assert_ne!(other, name);
        }
    }
}
