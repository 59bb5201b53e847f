//! A run in the foreground (`apply`, `resume`): recording it and taking its target's lock, then
//! driving it through the executor until it ends, waits for an operator, or is stopped, with
//! its notifications. What is shown (the live view, the prompt at a manual step, the signals
//! that stop it) belongs to the command and comes in through [`Foreground`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedReceiver;

use super::event::{Collect, Event, EventSink};
use super::operator::Operator;
use super::retry::RetryError;
use super::run::{ExecError, Executor, Held, Progress, Settings, Stoppable, new_run};
use crate::adapter::{Adapter, AdapterKind};
use crate::clock::Clock;
use crate::notify::{Notifier, Outbox, Tee};
use crate::plan::NotificationEvent;
use crate::plan::{Occurrence, Plan};
use crate::state::{Claim, LockOutcome, RunRecord, RunState, StateStore, StoreError, Write};

/// How a command takes up a run: a new or existing one from `apply`, or `resume`, perhaps
/// with a retry a person asked for.
pub enum Start {
    Apply { new: bool },
    Resume { retry: Option<Operator> },
}

/// Why a run could not be recorded or driven.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not allowed now; the hint says what to do instead.
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// The run lost its target's lock to another and ended rejected (its record says so); its
    /// notifications are still to go out.
    #[error("{message}")]
    Rejected {
        run: Box<RunRecord>,
        message: String,
        hint: Option<String>,
    },
    #[error(transparent)]
    Retry(#[from] RetryError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("no run `{0}`")]
    UnknownRun(String),
}

/// What a person said at a manual step's prompt.
pub enum Answer<S> {
    /// The step is done.
    Approve,
    /// The step stays waiting.
    Later,
    /// A signal came while asking.
    Stopped(S),
}

/// The edge that shows a run in the foreground: where its events go, and a person's word at a
/// manual step.
pub trait Foreground {
    /// What stops a run (a signal, in the commands).
    type Signal;
    /// Where the run's events go.
    fn events(&mut self) -> &mut dyn EventSink;
    /// Whether a person can be asked at a manual step now.
    fn can_ask(&self) -> bool;
    /// Asks whether the waiting step `step` of `run` is done.
    fn ask(
        &mut self,
        run: &str,
        step: &str,
        signals: &mut UnboundedReceiver<Self::Signal>,
    ) -> Answer<Self::Signal>;
    /// `step` was approved at the prompt by `by`, at `at`.
    fn approved(&mut self, step: &str, by: &str, at: DateTime<Utc>);
    /// `step` was approved by a rehearsal with `--yes`.
    fn approved_in_rehearsal(&mut self, step: &str);
}

/// Records the run (idempotently) and takes its target's lock. A run that loses the lock to
/// another ends rejected ([`DriveError::Rejected`]).
pub fn record(
    store: &StateStore,
    plan: &Plan,
    window: Occurrence,
    now: DateTime<Utc>,
    reason: Option<String>,
    adapter: AdapterKind,
) -> Result<(RunRecord, bool), DriveError> {
    let mut fresh = new_run(plan, window, now, reason, adapter);
    let (run, new) = loop {
        match store.insert_run(&fresh)? {
            Claim::Inserted(run) => break (run, true),
            Claim::Existing(existing) if !existing.state.is_finished() => break (existing, false),
            // A window runs once; a rehearsal of it may be repeated, as `<id>~2`, `~3`, ….
            // (The store passes over other adapters' runs: a rehearsal never stands for a real
            // run of its window, nor a real run for a rehearsal.)
            Claim::Existing(existing) if adapter == AdapterKind::Simulator => {
                fresh.id = RunRecord::next_id(&existing.id);
            }
            Claim::Existing(existing) => {
                return Err(DriveError::Refused {
                    message: format!(
                        "run `{}` for this window already ended {}",
                        existing.id,
                        existing.state.name()
                    ),
                    hint: Some(
                        "`refreshctl status` shows it; the next window gets a new run".into(),
                    ),
                });
            }
        }
    };
    match store.lock(&run.lock_key(), &run.id, now)? {
        LockOutcome::Acquired => {
            if new {
                store.append_event(
                    &run.id,
                    "run-state",
                    &serde_json::json!({ "message": "submitted" }),
                    now,
                )?;
            }
            Ok((run, new))
        }
        LockOutcome::HeldBy(holder) => {
            let reason = super::held_by(&holder, store.run(&holder)?.as_ref());
            let hint = Some(format!(
                "wait for it, or `refreshctl cancel {holder}` if it has not started"
            ));
            // A run that lost the target to another never starts: it ends rejected, and says so
            // to whoever listens, instead of waiting in `submitted` for ever.
            if run.state == RunState::Submitted {
                let rejected = reject(store, &run, &reason, now)?;
                Err(DriveError::Rejected {
                    run: Box::new(rejected),
                    message: format!("{reason}; run `{}` is rejected", run.id),
                    hint,
                })
            } else {
                Err(DriveError::Refused {
                    message: reason,
                    hint,
                })
            }
        }
    }
}

/// Ends a run that never started as rejected, with why, in its record and its log (one
/// transaction); returns the run as it now stands.
pub fn reject(
    store: &StateStore,
    run: &RunRecord,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RunRecord, StoreError> {
    let mut rejected = run.clone();
    rejected.state = RunState::Rejected {
        reason: reason.to_owned(),
    };
    rejected.updated = now;
    store.write_all(&[
        Write::run(&mut rejected),
        Write::Event {
            run: run.id.clone(),
            fence: None,
            kind: "run-state".into(),
            detail: serde_json::json!({ "message": "rejected", "reason": reason }),
            at: now,
        },
    ])?;
    Ok(rejected)
}

/// One run driven in the foreground: what it runs through and how, as the command resolved it.
pub struct Drive<'a, A: Adapter> {
    pub runtime: &'a tokio::runtime::Runtime,
    pub plan: &'a Plan,
    pub store: &'a Arc<StateStore>,
    pub adapter: &'a A,
    pub clock: &'a Clock,
    pub settings: Settings,
    /// `--yes`: a rehearsal approves its manual steps itself.
    pub yes: bool,
    /// `--notify`: a rehearsal sends its notifications rather than rendering them.
    pub notify: bool,
    /// The first wait before a notification is sent again.
    pub notify_backoff: std::time::Duration,
    /// Who approves a step at the prompt (the OS user).
    pub operator: String,
}

impl<A: Adapter> Drive<'_, A> {
    /// The run's notifier (sending, or in a rehearsal without `--notify` only rendering), with
    /// `submitted` sent for a new run, and the retry a person asked for done; returns the
    /// retry's events, to be shown before the run goes on. Call it inside the runtime (the
    /// notifications are its tasks).
    pub fn begin(
        &self,
        run: &mut RunRecord,
        start: &Start,
    ) -> Result<(Notifier, Vec<Event>), DriveError> {
        let mut notifier = if self.clock.is_simulated() && !self.notify {
            Notifier::rendering_only(self.plan, run, self.adapter.kind())
        } else {
            Notifier::new(self.plan, run, self.adapter.kind(), self.notify_backoff)
                .with_outbox(Outbox::new(self.store.clone(), self.clock.clone()))
        };
        if matches!(start, Start::Apply { new: true }) {
            notifier.send(NotificationEvent::Submitted);
        }
        let mut before = Collect::default();
        if let Start::Resume {
            retry: Some(operator),
        } = start
        {
            let mut executor = self.executor(&mut before);
            self.runtime.block_on(executor.retry(run, operator))?;
        }
        Ok((notifier, before.0))
    }

    /// Runs `run` until it ends, waits for an operator or `stop` stops it; a manual step is
    /// approved by a rehearsal with `--yes`, or asked about where a person can answer.
    pub fn until_stopped<F: Foreground>(
        &self,
        run: &mut RunRecord,
        notifier: &mut Notifier,
        foreground: &mut F,
        stop: &mut UnboundedReceiver<F::Signal>,
    ) -> Result<Stoppable<F::Signal>, DriveError> {
        loop {
            let outcome = self.runtime.block_on(async {
                let mut sink = Tee(foreground.events(), notifier);
                let mut executor = self.executor(&mut sink);
                executor.run_to_end_unless(run, stop).await
            });
            let progress = match outcome? {
                Stoppable::Progress(progress) => progress,
                Stoppable::Stopped(signal) => return Ok(Stoppable::Stopped(signal)),
            };
            match &progress {
                Progress::Blocked(RunState::AwaitingApproval { step })
                    if self.yes && self.clock.is_simulated() =>
                {
                    let operator = Operator {
                        by: self.operator.clone(),
                        reason: Some("a rehearsal with --yes".into()),
                    };
                    *run = self.approve_and_reload(&run.id, step, &operator)?;
                    foreground.approved_in_rehearsal(step);
                }
                Progress::Blocked(RunState::AwaitingApproval { step }) if foreground.can_ask() => {
                    match foreground.ask(&run.id, step, stop) {
                        Answer::Approve => {
                            let operator = Operator {
                                by: self.operator.clone(),
                                reason: None,
                            };
                            *run = self.approve_and_reload(&run.id, step, &operator)?;
                            foreground.approved(step, &operator.by, self.clock.now());
                        }
                        Answer::Later => return Ok(Stoppable::Progress(progress)),
                        Answer::Stopped(signal) => return Ok(Stoppable::Stopped(signal)),
                    }
                }
                _ => return Ok(Stoppable::Progress(progress)),
            }
        }
    }

    fn executor<'b>(&'b self, sink: &'b mut dyn EventSink) -> Executor<'b, A> {
        Executor {
            held: Held::default(),
            plan: self.plan,
            adapter: self.adapter,
            store: self.store,
            clock: self.clock,
            sink,
            settings: self.settings.clone(),
        }
    }

    /// Approves a waiting step and reads the run back.
    fn approve_and_reload(
        &self,
        run: &str,
        step: &str,
        operator: &Operator,
    ) -> Result<RunRecord, DriveError> {
        super::approve(self.store, run, step, operator, self.clock.now()).map_err(|error| {
            DriveError::Refused {
                message: error.to_string(),
                hint: None,
            }
        })?;
        self.store
            .run(run)?
            .ok_or_else(|| DriveError::UnknownRun(run.to_owned()))
    }
}
