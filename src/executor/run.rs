//! The executor's run loop: advances a run step by step (SPEC 5.1 to 5.6), dispatching each
//! step to the file of its kind in `steps/`, and keeps the run's state machine.
//!
//! Every step's outcome is committed to the state store before the next call to the service
//! (or a command, or the end of the pass), and a call that changes an environment is recorded
//! as an intent before it is sent. Resuming after a crash therefore finds each step as it was
//! left before its call; an intent without an answer is settled from the environment's
//! history, and when that cannot prove the call was made, the run waits for an operator in
//! `needs-attention`. A destructive call is never sent twice by the executor.
//!
//! What the executor writes between two such calls (a step's outcome, the next step's start,
//! their log entries, a lock released) is held and made in one transaction ([`Held`]): a crash
//! in between loses only what no call depended on, so the run resumes as if it had stopped at
//! the call before. Its events are shown once they are written.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::event::{Event, EventKind, EventSink};
use super::steps::waiting_manual_step;
use crate::adapter::{Adapter, AdapterError, AdapterKind};
use crate::clock::Clock;
use crate::plan::time::format_utc;
use crate::plan::{Action, EnvironmentType, ManualTimeout, Occurrence, Plan, RunStep};
use crate::state::{
    RemoteIds, RunRecord, RunState, StateStore, StepRecord, StepState, StoreError, Write,
};

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
pub(super) enum Outcome {
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
    /// What is written but not made yet (none outside [`Self::advance`]).
    pub held: Held,
}

/// The writes the executor holds while no call to a service stands between them, and the
/// events to show once they are made: made in one transaction where there would be one each
/// (a pass that takes a thousand runs a step further made some ten thousand).
#[derive(Debug, Default)]
pub struct Held {
    /// Whether writes are held now: while a run is advanced, outside the steps that call out.
    on: bool,
    writes: Vec<Write>,
    events: Vec<Event>,
}

/// Whether a step's work calls nothing outside refreshctl (the service, a command, a file
/// store, a person): what it writes can be held with what comes before and after it.
fn calls_nothing(action: &Action) -> bool {
    matches!(action, Action::Submit | Action::WaitForWindow)
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
    let mut run = unmade_run(plan, window, now, reason, adapter);
    run.steps = plan
        .run_steps()
        .into_iter()
        .map(|step| StepRecord {
            id: step.id,
            state: StepState::Pending,
            remote: RemoteIds::default(),
            intent: None,
            polls: 0,
        })
        .collect();
    run
}

/// The run an occurrence would have had, without its steps: what a skipped occurrence's
/// notification speaks of (a busy pass skips thousands, and listing a plan's steps is most of
/// the cost of a run record).
#[must_use]
pub fn unmade_run(
    plan: &Plan,
    window: Occurrence,
    now: DateTime<Utc>,
    reason: Option<String>,
    adapter: AdapterKind,
) -> RunRecord {
    RunRecord {
        id: RunRecord::id_for(plan.name(), window.start),
        plan: plan.name().to_owned(),
        file: absolute(plan.file()),
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
        steps: Vec::new(),
        created: now,
        updated: now,
        version: 0,
        fence: 0,
    }
}

/// `file` as [`std::path::absolute`] makes it, the working directory read once a process
/// (refreshctl never changes it) rather than once a run record (a system call each).
fn absolute(file: &str) -> String {
    static WORKING: std::sync::LazyLock<Option<PathBuf>> =
        std::sync::LazyLock::new(|| std::env::current_dir().ok());
    let path = match WORKING.as_ref() {
        Some(working) if !file.is_empty() => working.join(file),
        _ => PathBuf::from(file),
    };
    std::path::absolute(path).map_or_else(|_| file.to_owned(), |path| path.display().to_string())
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

    /// Does everything that can be done now; returns what the run waits for. Everything it
    /// wrote is made before it returns, even when it stops on an error.
    pub async fn advance(&mut self, run: &mut RunRecord) -> Result<Progress, ExecError> {
        self.held.on = true;
        let progress = self.advance_holding(run).await;
        let made = self.make_held();
        let progress = progress?;
        made?;
        Ok(progress)
    }

    async fn advance_holding(&mut self, run: &mut RunRecord) -> Result<Progress, ExecError> {
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
            // What was held is made before a step calls out, and the step's own writes are made
            // as it goes (an intent before its call); the holding starts again after it.
            if !calls_nothing(&step.action) {
                self.make_held()?;
            }
            let outcome = self.perform(run, index, &step).await;
            self.held.on = true;
            let outcome = self.within_deadline(&step, started, outcome?);
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
        self.held.on = true;
        let progress = self.look_at_wait_holding(run);
        let made = self.make_held();
        let progress = progress?;
        made?;
        Ok(progress)
    }

    fn look_at_wait_holding(&mut self, run: &mut RunRecord) -> Result<Progress, ExecError> {
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
                self.failpoint(&format!("after-step:{id}"))?;
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
                self.failpoint(&format!("waiting:{id}"))?;
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

    /// Writes the run as it is now: held while writes are (see [`Held`]), else made at once.
    pub(super) fn commit(&mut self, run: &mut RunRecord) -> Result<(), ExecError> {
        run.updated = self.clock.now();
        if self.held.on {
            self.held.writes.push(Write::run(run));
        } else {
            self.store.update_run(run)?;
        }
        Ok(())
    }

    /// Makes what is held in one transaction, then shows its events, and holds nothing more
    /// until [`Self::advance`] says so again.
    fn make_held(&mut self) -> Result<(), ExecError> {
        self.held.on = false;
        let writes = std::mem::take(&mut self.held.writes);
        let events = std::mem::take(&mut self.held.events);
        self.store.write_all(&writes)?;
        for event in &events {
            self.sink.event(event);
        }
        Ok(())
    }

    /// A failpoint (see [`crate::executor::failpoint`]): what is held is made first, so a crash
    /// there finds what its name says is committed.
    fn failpoint(&mut self, name: &str) -> Result<(), ExecError> {
        if crate::executor::failpoint::wanted(name) {
            self.make_held()?;
            crate::executor::failpoint::hit(name);
        }
        Ok(())
    }

    fn finish(&mut self, run: &mut RunRecord, state: RunState) -> Result<(), ExecError> {
        run.state = state;
        self.commit(run)?;
        if self.held.on {
            self.held.writes.push(Write::Unlock {
                target: run.lock_key(),
                run: run.id.clone(),
            });
        } else {
            self.store.unlock(&run.lock_key(), &run.id)?;
        }
        self.emit(
            run,
            EventKind::RunState,
            None,
            run.state.name().to_owned(),
            None,
        );
        Ok(())
    }

    pub(super) fn emit(
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
        // shown live but not kept (it would be most of the log). Written on its own (during a
        // step that calls out), an entry is best effort: a run must not fail because its log
        // could not be written. Held, it is made with the run's writes, all or none; the only
        // ways an entry fails there (another fence, no such run) refuse the run's writes too.
        let poll_wait = event.kind == EventKind::Waiting
            && event
                .until
                .is_some_and(|until| until - event.at < TimeDelta::hours(1));
        if !poll_wait {
            let kind = serde_json::to_value(&event.kind)
                .ok()
                .and_then(|kind| kind.as_str().map(str::to_owned))
                .unwrap_or_default();
            let detail =
                json!({ "step": event.step, "message": event.message, "until": event.until });
            if self.held.on {
                self.held.writes.push(Write::Event {
                    run: run.id.clone(),
                    fence: Some(run.fence),
                    kind,
                    detail,
                    at: event.at,
                });
            } else {
                let _ = self
                    .store
                    .append_fenced_event(run, &kind, &detail, event.at);
            }
        }
        self.show(event);
    }

    /// Shows an event: once what is held is made, when writes are held.
    fn show(&mut self, event: Event) {
        if self.held.on {
            self.held.events.push(event);
        } else {
            self.sink.event(&event);
        }
    }

    /// Says how a remote operation stands while its step waits on it (shown live, not kept).
    pub(super) fn polled(
        &mut self,
        run: &RunRecord,
        step: &str,
        status: &str,
        operation: &str,
        until: DateTime<Utc>,
    ) {
        self.show(Event {
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
    pub(super) fn next_poll(&self, run: &mut RunRecord, index: usize) -> DateTime<Utc> {
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
        let _project = self.plan.project();
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
                self.reset_financial_reporting(run, index, step).await
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
            } => self.manual(run, step, instructions, *timeout),
        })
    }

    /// The wait the service asked for, as an outcome.
    pub(super) fn throttled(&self, wait: std::time::Duration) -> Outcome {
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
    pub(super) fn poll_error(
        &self,
        run: &mut RunRecord,
        index: usize,
        error: AdapterError,
    ) -> Outcome {
        match error {
            AdapterError::Throttled(wait) => self.throttled(wait),
            AdapterError::Transient(_) => Outcome::Wait(self.next_poll(run, index)),
            error => Outcome::Fail(error.to_string()),
        }
    }
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
    fn a_plan_files_path_is_made_absolute_as_the_standard_library_makes_it() {
        for file in [
            "plans/weekly.yaml",
            "./plans/../plans/./weekly.yaml",
            "/etc/refreshctl/plans/weekly.yaml",
            "weekly.yaml",
            "",
        ] {
            let standard = std::path::absolute(file)
                .map_or_else(|_| file.to_owned(), |path| path.display().to_string());
            assert_eq!(absolute(file), standard, "{file:?}");
        }
    }

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
}
