//! Scheduling (SPEC 5.5): which occurrences of each plan's window are due for submission, and
//! one reconcile pass (`tick`) over plans and runs.
//!
//! Each occurrence is submitted exactly `lead_time` before it starts. One whose submission was
//! missed is still submitted while 24 hours' notice can be given (the slack between the lead
//! time and 24 hours); later than that it is skipped, logged and notified, never run late. A
//! plan's schedule starts when it is first seen, so adding a plan never dredges up the past,
//! and every occurrence is decided once in the state store (unique plan and window start),
//! however many replicas tick at once.
//!
//! A pass then claims the runs that are due with a lease, advances each as far as it goes
//! without waiting, and releases it saying when it is next due. A pass never waits on LCS:
//! `daemon` sleeps between passes, until the earliest due time.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use chrono::{DateTime, TimeDelta, Utc};

use crate::adapter::Adapter;
use crate::clock::Clock;
use crate::executor::{self, Event, EventSink, ExecError, Executor, Held, Progress, Settings};
use crate::notify::{Delivery, Notifier, Outbox, Pending, Redelivery, Tee};
use crate::plan::time::format_utc;
use crate::plan::{NotificationEvent, Occurrence, Plan, Window};
use crate::state::{
    Claimed, Lease, LeaseOutcome, LockOutcome, OccurrenceRecord, PlanMark, RunRecord, RunState,
    StateStore, StoreError,
};

/// The notice LCS users must always get: a request at least 24 hours before the downtime.
pub const NOTICE: TimeDelta = TimeDelta::hours(24);

/// How late a submission may come and still count as on time, whatever notice is left: cron
/// ticks once a minute and its jobs start seconds late, so with the default lead time of exactly
/// 24 hours any lateness at all would otherwise skip every occurrence.
pub const ON_TIME: TimeDelta = TimeDelta::minutes(5);

/// Occurrences one plan may decide in one pass (a minutely cron unseen for a year would
/// otherwise decide half a million at once); the rest are decided by the next passes.
const DECISIONS_PER_PASS: usize = 1000;

/// Runs claimed (and advanced side by side) at a time.
const BATCH: usize = 8;

/// What to do with one occurrence whose submit time has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Submit(Occurrence),
    /// Too late for 24 hours' notice.
    Skip(Occurrence),
}

/// The occurrences of a plan due now, and when its next submit time comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub decisions: Vec<Decision>,
    pub next_submit: Option<DateTime<Utc>>,
}

/// Which occurrences of `window` are due at `now`: those after the plan's latest decided
/// occurrence (or from when it was first seen) whose submit time, `lead_time` before the start,
/// has come. Each is submitted, unless it is more than [`ON_TIME`] late and 24 hours' notice
/// can no longer be given: then it is skipped.
#[must_use]
pub fn due(window: &Window, lead_time: TimeDelta, mark: PlanMark, now: DateTime<Utc>) -> Due {
    let from = mark.latest_decided.map_or(mark.first_seen, |latest| {
        latest
            .checked_add_signed(TimeDelta::seconds(1))
            .unwrap_or(latest)
    });
    let mut decisions = Vec::new();
    let mut next_submit = None;
    for occurrence in window.occurrences_from(from) {
        // A submit time further back than can be held is long past (a checked plan's lead
        // time is at most 100 years, so this never saturates in practice).
        let submit_at = occurrence
            .start
            .checked_sub_signed(lead_time)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if submit_at > now {
            next_submit = Some(submit_at);
            break;
        }
        if decisions.len() == DECISIONS_PER_PASS {
            next_submit = Some(now);
            break;
        }
        decisions.push(
            if occurrence.start - now >= NOTICE || now - submit_at <= ON_TIME {
                Decision::Submit(occurrence)
            } else {
                Decision::Skip(occurrence)
            },
        );
    }
    Due {
        decisions,
        next_submit,
    }
}

/// Plans whose due occurrences are worked out together, on every core, before they are
/// recorded in order. Working out one parses the plan's cron expression (plans kept for a pass
/// do not hold it) and walks it: together most of a pass's own work, which the store does not
/// need. Bounded, because a plan may have up to [`DECISIONS_PER_PASS`] decisions.
const DUE_AT_ONCE: usize = 512;

/// Fewer plans than this are worked out on the pass's own thread.
const DUE_PER_WORKER: usize = 64;

/// [`due`] of each plan that has a mark (in `marks`), in the order of `plans`, on this thread.
fn due_of_each(
    plans: &[Plan],
    marks: &HashMap<String, PlanMark>,
    now: DateTime<Utc>,
) -> Vec<Option<Due>> {
    plans
        .iter()
        .map(|plan| {
            marks
                .get(plan.name())
                .map(|mark| due(plan.window(), plan.lead_time(), *mark, now))
        })
        .collect()
}

/// [`due_of_each`], the plans shared out among the cores, a run of them to each.
fn due_on_every_core(
    plans: &[Plan],
    marks: &HashMap<String, PlanMark>,
    now: DateTime<Utc>,
) -> Vec<Option<Due>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(plans.len() / DUE_PER_WORKER)
        .max(1);
    if workers == 1 {
        return due_of_each(plans, marks, now);
    }
    let share = plans.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let shares: Vec<_> = plans
            .chunks(share)
            .map(|plans| scope.spawn(move || due_of_each(plans, marks, now)))
            .collect();
        shares
            .into_iter()
            .flat_map(|share| {
                share
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Hands `record` the [`due`] of each plan in `plans` (as [`due_on_every_core`] works them out),
/// [`DUE_AT_ONCE`] plans at a time, in order, and works out the next plans while `record` takes
/// the ones before: recording is the pass's own thread's work with the store, and working out is
/// the other cores' (over 10,000 plans, a week later, 0.75 G instructions of it beside 0.8 G of
/// recording). The first error of `record` stops it and is returned.
fn with_due_ahead<'p, E>(
    plans: &'p [Plan],
    marks: &HashMap<String, PlanMark>,
    now: DateTime<Utc>,
    mut record: impl FnMut(&'p [Plan], Vec<Option<Due>>) -> Result<(), E>,
) -> Result<(), E> {
    if plans.len() <= DUE_AT_ONCE {
        return record(plans, due_on_every_core(plans, marks, now));
    }
    std::thread::scope(|scope| {
        // One share waits while the next is worked out: at most two ahead of `record`.
        let (sender, received) = std::sync::mpsc::sync_channel(1);
        let ahead = scope.spawn(move || {
            for plans in plans.chunks(DUE_AT_ONCE) {
                if sender.send(due_on_every_core(plans, marks, now)).is_err() {
                    return;
                }
            }
        });
        let recorded = plans
            .chunks(DUE_AT_ONCE)
            .zip(received.iter())
            .try_for_each(|(plans, due)| record(plans, due));
        // On an error the working out stops at its next share.
        drop(received);
        if let Err(panic) = ahead.join() {
            std::panic::resume_unwind(panic);
        }
        recorded
    })
}

/// Skips decided at one time are recorded this many to a transaction.
const SKIPS_PER_TRANSACTION: usize = 500;

/// An occurrence a pass skips, before it is recorded.
struct Skip<'p> {
    plan: &'p Plan,
    run: RunRecord,
    reason: String,
    record: OccurrenceRecord,
    /// Where its notification goes among the pass's notifications (as it would have gone had
    /// the skip been recorded at once), not counting the skips recorded with it.
    notifier_at: usize,
}

/// The skips a pass has decided and not recorded yet: one transaction for many, where one
/// each was most of a busy pass's store work (a pass a week late skips 9,000 occurrences).
#[derive(Default)]
struct Skips<'p> {
    pending: Vec<Skip<'p>>,
}

impl<'p> Skips<'p> {
    fn add(&mut self, mut skip: Skip<'p>, notifier_at: usize) {
        skip.notifier_at = notifier_at;
        self.pending.push(skip);
    }

    /// Whether a skip of `plan` waits to be recorded.
    fn holds(&self, plan: &Plan) -> bool {
        self.pending
            .last()
            .is_some_and(|skip| std::ptr::eq(skip.plan, plan))
    }

    fn full(&self) -> bool {
        self.pending.len() >= SKIPS_PER_TRANSACTION
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub submitted: Vec<String>,
    /// Run ids that would have been, with why not.
    pub skipped: Vec<(String, String)>,
    /// Submitted, then rejected at once because another run holds the target.
    pub rejected: Vec<(String, String)>,
    /// Runs whose lease this pass took over from another replica (its lease had run out: it
    /// stopped or stalled mid-run).
    pub taken_over: Vec<(String, Lease)>,
    /// Runs advanced, with where each stands.
    pub advanced: Vec<Advanced>,
    /// Runs that could not be advanced (a lease taken over, a plan no longer loaded, a store
    /// error), with why.
    pub problems: Vec<(String, String)>,
    pub deliveries: Vec<(String, Delivery)>,
    /// Notifications left undelivered by an earlier pass (or a stopped process), sent again.
    pub redelivered: Vec<Redelivery>,
    /// Reminders sent for manual steps still not approved past their timeout, with the words.
    pub reminded: Vec<(String, String)>,
    /// Every run that waits for a person at the end of the pass (`awaiting-approval`,
    /// `needs-attention`): each holds its environment until someone acts.
    pub waiting: Vec<Waiting>,
    /// When the next thing is due: a submit time or a run (`None`: nothing is scheduled).
    pub next_due: Option<DateTime<Utc>>,
}

/// A run that waits for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub run: String,
    /// `awaiting-approval` or `needs-attention`.
    pub state: &'static str,
    pub step: String,
    /// Why it needs attention (`needs-attention` only).
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// What lets it go on.
    pub command: String,
    /// When its manual step times out or reminds next.
    pub next_look: Option<DateTime<Utc>>,
}

/// One run a pass advanced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advanced {
    pub run: String,
    /// Its state's name before the pass and after it.
    pub before: &'static str,
    pub after: &'static str,
    pub progress: Progress,
}

/// How a pass works: who it is, how long its leases last, how runs are executed.
#[derive(Debug, Clone)]
pub struct TickSettings {
    /// This replica's name in leases (`host:pid` by default).
    pub owner: String,
    pub lease: TimeDelta,
    pub poll_interval: TimeDelta,
    pub step_deadline: TimeDelta,
    pub cache_dir: PathBuf,
    /// Send notifications (false: a rehearsal renders them and sends nothing).
    pub send_notifications: bool,
    pub notify_backoff: std::time::Duration,
}

/// One reconcile pass over `plans` and the runs in `store`.
pub struct Scheduler<'a, A: Adapter> {
    pub plans: &'a [Plan],
    pub adapter: &'a A,
    pub store: &'a StateStore,
    pub clock: &'a Clock,
    pub settings: &'a TickSettings,
    /// Receives the events of every run advanced.
    pub sink: &'a RefCell<dyn EventSink + 'a>,
    /// Runs claimed and not yet released, so a stopped pass can give their leases back.
    pub claimed: &'a RefCell<Vec<RunRecord>>,
    /// The notifications' HTTP client, made on first use and shared.
    pub client: std::cell::OnceCell<reqwest::Client>,
    /// Where notifications wait until delivered (`None`: a rehearsal, which sends nothing).
    pub outbox: Option<Outbox>,
}

/// Events from several runs at once into one sink (futures of one thread take turns, and none
/// holds the sink across an await).
struct Shared<'a, 'b>(&'a RefCell<dyn EventSink + 'b>);

impl EventSink for Shared<'_, '_> {
    fn event(&mut self, event: &Event) {
        self.0.borrow_mut().event(event);
    }
}

/// A run advanced once: the run, its state's name before and where it stands (or why it
/// could not be advanced), and its notifications.
type Advancement = (
    RunRecord,
    Result<(&'static str, Progress), ExecError>,
    Notifier,
);

/// A run being advanced: it comes back with where it stands and its notifications.
type RunFuture<'a> = Pin<Box<dyn Future<Output = Advancement> + 'a>>;

impl<A: Adapter> Scheduler<'_, A> {
    /// Submits what is due, then advances every due run once; never waits on a long wait.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        if let Some(outbox) = &self.outbox {
            let client = self.client.get_or_init(Notifier::client).clone();
            report.redelivered = outbox.redeliver(self.plans, &client).await;
        }
        let mut notifiers = Vec::new();
        let next_submit = self.submit_due(now, &mut report, &mut notifiers)?;
        let by_name: HashMap<&str, &Plan> =
            self.plans.iter().map(|plan| (plan.name(), plan)).collect();
        let mut seen = HashSet::new();
        loop {
            let batch = self.store.claim_due(
                &self.settings.owner,
                self.adapter.kind(),
                now,
                self.settings.lease,
                BATCH,
            )?;
            if batch.is_empty() {
                break;
            }
            self.claimed
                .borrow_mut()
                .extend(batch.iter().map(|claim| claim.run.clone()));
            let mut work: Vec<RunFuture<'_>> = Vec::new();
            for Claimed { run, taken_over } in batch {
                if let Some(lease) = taken_over {
                    self.note_takeover(&run, lease, now, &mut report);
                }
                let plan = by_name.get(run.plan.as_str()).copied();
                match plan {
                    // Each run is advanced once a pass: a run due again at once (a lost
                    // answer to settle) waits for the next pass.
                    Some(plan) if seen.insert(run.id.clone()) => {
                        let mut notifier = self.notifier(plan, &run);
                        work.push(Box::pin(async move {
                            let mut run = run;
                            let before = run.state.name();
                            let result = self.advance(plan, &mut run, &mut notifier).await;
                            (run, result.map(|progress| (before, progress)), notifier)
                        }));
                    }
                    Some(_) => self.release(&run, Some(now + TimeDelta::seconds(1)), &mut report),
                    None => {
                        report.problems.push((
                            run.id.clone(),
                            format!(
                                "plan `{}` is not among the plans loaded; the run is left alone for an hour",
                                run.plan
                            ),
                        ));
                        self.release(&run, Some(now + TimeDelta::hours(1)), &mut report);
                    }
                }
            }
            let advanced = self.with_heartbeat(work).await;
            self.settle(advanced, now, &mut report, &mut notifiers);
        }
        // One look at the runs that wait: their timeouts, then what the pass reports of them.
        let (next_look, still_waiting) =
            self.look_at_waits(now, &by_name, &mut report, &mut notifiers)?;
        for (run, notifier) in std::mem::take(&mut notifiers) {
            for delivery in notifier.finish().await {
                delivery.log_if_failed(self.store, &run, self.clock.now());
                report.deliveries.push((run.clone(), delivery));
            }
        }
        report.waiting = waiting(still_waiting, &by_name);
        let runs_due = self.store.next_due(self.adapter.kind())?;
        report.next_due = [next_submit, runs_due, next_look]
            .into_iter()
            .flatten()
            .min();
        Ok(report)
    }

    /// Looks at every run that waits for an approval at a manual step with a `timeout`: one
    /// whose timeout (or next reminder) has come is claimed, failed or reminded, and released.
    /// Returns when the next such look is due, and the runs that still wait.
    fn look_at_waits(
        &self,
        now: DateTime<Utc>,
        by_name: &HashMap<&str, &Plan>,
        report: &mut TickReport,
        notifiers: &mut Vec<(String, Pending)>,
    ) -> Result<(Option<DateTime<Utc>>, Vec<RunRecord>), StoreError> {
        let mut next: Option<DateTime<Utc>> = None;
        let mut later = |due: DateTime<Utc>| next = Some(next.map_or(due, |next| next.min(due)));
        let mut still = Vec::new();
        for run in self.store.waiting_runs()? {
            let Some(plan) = by_name.get(run.plan.as_str()).copied() else {
                still.push(run);
                continue;
            };
            match executor::wait_due(plan, &run) {
                Some(due) if due <= now => {}
                Some(due) => {
                    later(due);
                    still.push(run);
                    continue;
                }
                None => {
                    still.push(run);
                    continue;
                }
            }
            let claim = match self.store.claim_run(
                &run.id,
                &self.settings.owner,
                now,
                self.settings.lease,
            )? {
                LeaseOutcome::Claimed(claim) => *claim,
                // Another replica looks at it now.
                LeaseOutcome::Held(_) => {
                    still.push(run);
                    continue;
                }
                LeaseOutcome::NotFound => continue,
            };
            if let Some(lease) = claim.taken_over {
                self.note_takeover(&claim.run, lease, now, report);
            }
            let mut run = claim.run;
            let before = run.state.name();
            let reminders = |run: &RunRecord| {
                run.steps
                    .iter()
                    .find(|step| matches!(&run.state, RunState::AwaitingApproval { step: waiting } if *waiting == step.id))
                    .map(|step| (step.id.clone(), step.polls))
            };
            let reminded_before = reminders(&run);
            let mut notifier = self.notifier(plan, &run);
            let result = {
                let mut shared = Shared(self.sink);
                let mut sink = Tee(&mut shared, &mut notifier);
                self.executor(plan, &mut sink).look_at_wait(&mut run)
            };
            self.release(&run, None, report);
            notifiers.push((run.id.clone(), notifier.pending()));
            match result {
                Ok(progress) => {
                    if let Some(due) = executor::wait_due(plan, &run) {
                        later(due);
                    }
                    if let Some((step, count)) = reminders(&run)
                        && reminded_before
                            .as_ref()
                            .is_some_and(|(_, before)| *before != count)
                    {
                        report.reminded.push((
                            run.id.clone(),
                            format!("reminder {count} sent: `{step}` still waits for an approval"),
                        ));
                    }
                    report.advanced.push(Advanced {
                        run: run.id.clone(),
                        before,
                        after: run.state.name(),
                        progress,
                    });
                }
                Err(error) => report.problems.push((run.id.clone(), error.to_string())),
            }
            if !run.state.is_finished() {
                still.push(run);
            }
        }
        Ok((next, still))
    }

    /// Says in the run's log (and the report) that this replica took the run over from one whose
    /// lease ran out. The log is best effort, as the executor's is.
    fn note_takeover(
        &self,
        run: &RunRecord,
        lease: Lease,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) {
        let message = format!(
            "`{}` took the run over: the lease of `{}` ran out at {} (that replica stopped or stalled)",
            self.settings.owner,
            lease.owner,
            format_utc(lease.until)
        );
        tracing::warn!(run = %run.id, "{message}");
        let _ = self.store.append_fenced_event(
            run,
            "log",
            &serde_json::json!({ "step": null, "message": message, "until": null }),
            now,
        );
        report.taken_over.push((run.id.clone(), lease));
    }

    /// Decides every occurrence whose submit time has come; returns the next submit time.
    /// Skips are recorded in batches (see [`Skips`]); a plan's skips are recorded before any
    /// later occurrence of it is submitted, so a crash never leaves a skip behind a submission
    /// (the plan's schedule goes on from its latest decided occurrence).
    fn submit_due(
        &self,
        now: DateTime<Utc>,
        report: &mut TickReport,
        notifiers: &mut Vec<(String, Pending)>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let names: Vec<&str> = self.plans.iter().map(Plan::name).collect();
        let marks = self.store.see_plans(self.adapter.kind(), &names, now)?;
        drop(names);
        let mut next_submit: Option<DateTime<Utc>> = None;
        let mut skips = Skips::default();
        with_due_ahead(self.plans, &marks, now, |plans, due| {
            for (plan, due) in plans.iter().zip(due) {
                let Some(due) = due else {
                    continue;
                };
                next_submit = match (next_submit, due.next_submit) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                for decision in due.decisions {
                    match decision {
                        Decision::Submit(occurrence) => {
                            if skips.holds(plan) {
                                self.record_skips(&mut skips, report, notifiers)?;
                            }
                            self.submit(plan, occurrence, now, report, notifiers)?;
                        }
                        Decision::Skip(occurrence) => {
                            skips.add(self.skipped(plan, occurrence, now), notifiers.len());
                            if skips.full() {
                                self.record_skips(&mut skips, report, notifiers)?;
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.record_skips(&mut skips, report, notifiers)?;
        Ok(next_submit)
    }

    fn submit(
        &self,
        plan: &Plan,
        occurrence: Occurrence,
        now: DateTime<Utc>,
        report: &mut TickReport,
        notifiers: &mut Vec<(String, Pending)>,
    ) -> Result<(), StoreError> {
        let mut run = executor::new_run(plan, occurrence, now, None, self.adapter.kind());
        let record = OccurrenceRecord {
            adapter: Some(self.adapter.kind()),
            plan: plan.name().to_owned(),
            window_start: occurrence.start,
            run: run.id.clone(),
            skipped: None,
            decided: now,
        };
        // A rehearsal's run of this window may hold its id: the run is the next id then.
        let Some(id) = self.store.decide_occurrence(&record, Some(&run))? else {
            return Ok(());
        };
        run.id = id;
        let mut notifier = self.notifier(plan, &run);
        match self.store.lock(&run.lock_key(), &run.id, now)? {
            LockOutcome::Acquired => {
                self.store.append_event(
                    &run.id,
                    "run-state",
                    &serde_json::json!({ "message": "submitted" }),
                    now,
                )?;
                notifier.send(NotificationEvent::Submitted);
                report.submitted.push(run.id.clone());
            }
            LockOutcome::HeldBy(holder) => {
                let reason = executor::held_by(&holder, self.store.run(&holder)?.as_ref());
                if let Some(stored) = self.store.run(&run.id)? {
                    executor::reject(self.store, &stored, &reason, now)?;
                }
                notifier.send_because(NotificationEvent::Rejected, &reason);
                report.rejected.push((run.id.clone(), reason));
            }
        }
        notifiers.push((run.id, notifier.pending()));
        Ok(())
    }

    /// An occurrence to skip, with why, not recorded yet.
    fn skipped<'p>(&self, plan: &'p Plan, occurrence: Occurrence, now: DateTime<Utc>) -> Skip<'p> {
        let run = executor::unmade_run(plan, occurrence, now, None, self.adapter.kind());
        let reason = format!(
            "its submission was due at {} and 24 hours' notice before {} can no longer be given",
            occurrence
                .start
                .checked_sub_signed(plan.lead_time())
                .map_or_else(|| "long before".to_owned(), format_utc),
            format_utc(occurrence.start)
        );
        let record = OccurrenceRecord {
            adapter: Some(self.adapter.kind()),
            plan: plan.name().to_owned(),
            window_start: occurrence.start,
            run: run.id.clone(),
            skipped: Some(reason.clone()),
            decided: now,
        };
        Skip {
            plan,
            run,
            reason,
            record,
            notifier_at: 0,
        }
    }

    /// Records the skips gathered in one transaction; then logs, notifies and reports each this
    /// pass decided, its notification in the place it would have had one skip at a time.
    fn record_skips(
        &self,
        skips: &mut Skips<'_>,
        report: &mut TickReport,
        notifiers: &mut Vec<(String, Pending)>,
    ) -> Result<(), StoreError> {
        if skips.pending.is_empty() {
            return Ok(());
        }
        let records: Vec<OccurrenceRecord> = skips
            .pending
            .iter()
            .map(|skip| skip.record.clone())
            .collect();
        let decided = self.store.decide_skipped(&records)?;
        let mut inserted = 0;
        for (skip, decided) in skips.pending.drain(..).zip(decided) {
            if !decided {
                continue;
            }
            let Skip {
                plan,
                run,
                reason,
                notifier_at,
                ..
            } = skip;
            tracing::warn!(run = %run.id, "occurrence skipped: {reason}");
            let mut notifier = self.notifier(plan, &run);
            notifier.send_because(
                NotificationEvent::Skipped,
                &format!("The occurrence is skipped: {reason}"),
            );
            notifiers.insert(notifier_at + inserted, (run.id.clone(), notifier.pending()));
            inserted += 1;
            report.skipped.push((run.id, reason));
        }
        Ok(())
    }

    fn notifier(&self, plan: &Plan, run: &RunRecord) -> Notifier {
        if self.settings.send_notifications {
            let client = self.client.get_or_init(Notifier::client).clone();
            let notifier = Notifier::with_client(
                plan,
                run,
                self.adapter.kind(),
                client,
                self.settings.notify_backoff,
            );
            match &self.outbox {
                Some(outbox) => notifier.with_outbox(outbox.clone()),
                None => notifier,
            }
        } else {
            Notifier::rendering_only(plan, run, self.adapter.kind())
        }
    }

    /// Advances one claimed run as far as it goes now.
    async fn advance(
        &self,
        plan: &Plan,
        run: &mut RunRecord,
        notifier: &mut Notifier,
    ) -> Result<Progress, ExecError> {
        let mut shared = Shared(self.sink);
        let mut sink = Tee(&mut shared, notifier);
        self.executor(plan, &mut sink).advance(run).await
    }

    /// The executor of a run of `plan`, reporting to `sink`.
    fn executor<'e>(&'e self, plan: &'e Plan, sink: &'e mut dyn EventSink) -> Executor<'e, A> {
        Executor {
            held: Held::default(),
            plan,
            adapter: self.adapter,
            store: self.store,
            clock: self.clock,
            sink,
            settings: Settings {
                poll_interval: self.settings.poll_interval,
                cache_dir: self.settings.cache_dir.clone(),
                plan_dir: crate::plan::discover::directory_of(std::path::Path::new(plan.file())),
                step_deadline: self.settings.step_deadline,
            },
        }
    }

    /// Runs `work` side by side while extending the leases of the runs claimed, every third of
    /// a lease (wall time: a rehearsal's simulated time does not pass while it works).
    async fn with_heartbeat(
        &self,
        work: Vec<RunFuture<'_>>,
    ) -> Vec<(
        RunRecord,
        Result<(&'static str, Progress), ExecError>,
        Notifier,
    )> {
        // A third of the lease in wall time: on a sped-up test clock a lease passes faster than
        // its length in seconds, and a beat that late would let every lease run out.
        let third = self.settings.lease / 3;
        let beat = match self.clock {
            Clock::Simulated(_) => third.to_std().unwrap_or(std::time::Duration::from_secs(1)),
            clock => clock.wall_wait(clock.now() + third),
        }
        .max(std::time::Duration::from_millis(100));
        let heartbeat = async {
            loop {
                tokio::time::sleep(beat).await;
                let claimed = self.claimed.borrow().clone();
                for run in claimed {
                    let kept = self.store.heartbeat(
                        &run,
                        &self.settings.owner,
                        self.clock.now(),
                        self.settings.lease,
                    );
                    if !matches!(kept, Ok(true)) {
                        tracing::warn!(run = %run.id, "the lease on the run was lost; its writes will be refused");
                    }
                }
            }
        };
        tokio::select! {
            done = join_all(work) => done,
            () = heartbeat => unreachable!("the heartbeat never ends"),
        }
    }

    /// Reports each run of a batch as it was advanced, then releases them all at once, each
    /// due again when it next has something to do.
    fn settle(
        &self,
        advanced: Vec<Advancement>,
        now: DateTime<Utc>,
        report: &mut TickReport,
        notifiers: &mut Vec<(String, Pending)>,
    ) {
        let mut releases = Vec::with_capacity(BATCH);
        for (run, result, notifier) in advanced {
            notifiers.push((run.id.clone(), notifier.pending()));
            match result {
                Ok((before, progress)) => {
                    let after = run.state.name();
                    let next = match &progress {
                        Progress::Waiting(until) | Progress::Delayed { until, .. } => {
                            Some((*until).max(now + TimeDelta::seconds(1)))
                        }
                        Progress::Finished(_) | Progress::Blocked(_) => None,
                    };
                    report.advanced.push(Advanced {
                        run: run.id.clone(),
                        before,
                        after,
                        progress,
                    });
                    releases.push((run, next));
                }
                Err(error) => {
                    report.problems.push((run.id.clone(), error.to_string()));
                    releases.push((run, Some(now + TimeDelta::minutes(1))));
                }
            }
        }
        let releases: Vec<(&RunRecord, Option<DateTime<Utc>>)> =
            releases.iter().map(|(run, next)| (run, *next)).collect();
        self.release_batch(&releases, report);
    }

    fn release(&self, run: &RunRecord, next: Option<DateTime<Utc>>, report: &mut TickReport) {
        self.release_batch(&[(run, next)], report);
    }

    /// Releases the runs of a batch in one transaction: a write each was an eighth of a busy
    /// pass's commits.
    fn release_batch(
        &self,
        releases: &[(&RunRecord, Option<DateTime<Utc>>)],
        report: &mut TickReport,
    ) {
        if releases.is_empty() {
            return;
        }
        self.claimed.borrow_mut().retain(|claimed| {
            releases
                .iter()
                .all(|(released, _)| released.id != claimed.id)
        });
        // The fence each run was claimed with: a write during the pass does not change it.
        if let Err(error) = self.store.release_all(releases) {
            for (run, _) in releases {
                report.problems.push((run.id.clone(), error.to_string()));
            }
        }
    }
}

/// Every run that waits for a person, with what lets it go on.
fn waiting(runs: Vec<RunRecord>, by_name: &HashMap<&str, &Plan>) -> Vec<Waiting> {
    runs.into_iter()
        .filter_map(|run| {
            let (step, reason) = match &run.state {
                RunState::AwaitingApproval { step } => (step.clone(), None),
                RunState::NeedsAttention { step, reason } => (step.clone(), Some(reason.clone())),
                _ => return None,
            };
            Some(Waiting {
                state: run.state.name(),
                step,
                reason,
                since: executor::waiting_since(&run),
                command: executor::unblocking_command(&run).unwrap_or_default(),
                next_look: by_name
                    .get(run.plan.as_str())
                    .and_then(|plan| executor::wait_due(plan, &run)),
                run: run.id,
            })
        })
        .collect()
}

/// Gives back every lease a stopped pass still held: the runs are due at once for whoever
/// ticks next.
pub fn release_all(store: &StateStore, claimed: &RefCell<Vec<RunRecord>>) {
    for run in claimed.borrow_mut().drain(..) {
        let _ = store.release(&run, None);
    }
}

type Work<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Polls every future to the end, side by side; results in the order given.
async fn join_all<T>(work: Vec<Work<'_, T>>) -> Vec<T> {
    let mut slots: Vec<(Work<'_, T>, Option<T>)> =
        work.into_iter().map(|future| (future, None)).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, slot) in &mut slots {
            if slot.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *slot = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots.into_iter().filter_map(|(_, slot)| slot).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{parse_cron, parse_zone};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").to_utc()
    }

    fn weekly(pattern: &str, zone: &str) -> Window {
        Window::Recurring {
            cron: Some(parse_cron(pattern).expect("cron")),
            pattern: pattern.to_owned(),
            zone: parse_zone(zone).expect("zone"),
            duration: TimeDelta::hours(6),
        }
    }

    fn mark(first_seen: &str, latest: Option<&str>) -> PlanMark {
        PlanMark {
            first_seen: utc(first_seen),
            latest_decided: latest.map(utc),
        }
    }

    fn submitted(due: &Due) -> Vec<String> {
        due.decisions
            .iter()
            .map(|decision| match decision {
                Decision::Submit(occurrence) => format!("submit {}", format_utc(occurrence.start)),
                Decision::Skip(occurrence) => format!("skip {}", format_utc(occurrence.start)),
            })
            .collect()
    }

    /// Walks a plan's schedule as a tick every `step` would, from `from` to `to`; returns each
    /// decision with the time it was made.
    fn walk(
        window: &Window,
        lead: TimeDelta,
        from: &str,
        to: &str,
        step: TimeDelta,
    ) -> Vec<String> {
        let mut mark = mark(from, None);
        let mut now = utc(from);
        let mut seen = Vec::new();
        while now <= utc(to) {
            let due = due(window, lead, mark, now);
            for decision in &due.decisions {
                let (Decision::Submit(occurrence) | Decision::Skip(occurrence)) = decision;
                mark.latest_decided = Some(occurrence.start);
            }
            seen.extend(
                submitted(&due)
                    .into_iter()
                    .map(|text| format!("{} {text}", format_utc(now))),
            );
            now = due
                .next_submit
                .unwrap_or(now + step)
                .max(now + TimeDelta::seconds(1))
                .min(now + step);
        }
        seen
    }

    #[test]
    fn submissions_keep_local_time_across_autumn_dst_in_amsterdam() {
        // Amsterdam leaves summer time on 2026-10-25: 22:00 is 20:00Z before, 21:00Z after,
        // and each submission is exactly 48 hours before its start.
        let window = weekly("0 22 * * SAT", "Europe/Amsterdam");
        let seen = walk(
            &window,
            TimeDelta::hours(48),
            "2026-10-10T00:00:00Z",
            "2026-11-01T00:00:00Z",
            TimeDelta::hours(1),
        );
        assert_eq!(
            seen,
            [
                // First seen that day: 24 hours' notice is impossible, so it is skipped.
                "2026-10-10T00:00:00Z skip 2026-10-10T20:00:00Z",
                "2026-10-15T20:00:00Z submit 2026-10-17T20:00:00Z",
                "2026-10-22T20:00:00Z submit 2026-10-24T20:00:00Z",
                "2026-10-29T21:00:00Z submit 2026-10-31T21:00:00Z",
            ]
        );
    }

    #[test]
    fn submissions_follow_the_spring_gap_in_new_york() {
        // New York skips 02:00-03:00 on 2027-03-14: a 02:30 start runs at 03:00 EDT (07:00Z);
        // with a 24 h lead it is submitted at 07:00Z the day before.
        let window = weekly("30 2 * * SUN", "America/New_York");
        let seen = walk(
            &window,
            TimeDelta::hours(24),
            "2027-03-01T00:00:00Z",
            "2027-03-22T00:00:00Z",
            TimeDelta::hours(1),
        );
        assert_eq!(
            seen,
            [
                "2027-03-06T07:30:00Z submit 2027-03-07T07:30:00Z",
                "2027-03-13T07:00:00Z submit 2027-03-14T07:00:00Z",
                "2027-03-20T06:30:00Z submit 2027-03-21T06:30:00Z",
            ]
        );
    }

    #[test]
    fn a_repeated_hour_runs_once_in_new_york() {
        // New York repeats 01:00-02:00 on 2026-11-01: 01:30 happens twice, runs once.
        let window = weekly("30 1 * * SUN", "America/New_York");
        let due = due(
            &window,
            TimeDelta::hours(24),
            mark("2026-10-26T00:00:00Z", None),
            utc("2026-10-31T05:30:00Z"),
        );
        assert_eq!(
            submitted(&due),
            ["submit 2026-11-01T05:30:00Z"],
            "the first pass only"
        );
        assert_eq!(
            due.next_submit,
            Some(utc("2026-11-07T06:30:00Z")),
            "then next week, in standard time"
        );
    }

    #[test]
    fn a_missed_submission_is_made_late_while_24_hours_notice_remains_else_skipped() {
        let window = weekly("0 22 * * SAT", "Europe/Amsterdam");
        let lead = TimeDelta::hours(72);
        let seen = mark("2026-11-01T00:00:00Z", None);
        // Submit time 2026-12-02T21:00Z; the window starts 2026-12-05T21:00Z.
        let on_time = due(&window, lead, seen, utc("2026-12-02T21:00:00Z"));
        assert_eq!(
            submitted(&on_time).last().map(String::as_str),
            Some("submit 2026-12-05T21:00:00Z")
        );
        let late = due(
            &window,
            lead,
            mark("2026-11-01T00:00:00Z", Some("2026-11-28T21:00:00Z")),
            utc("2026-12-04T21:00:00Z"),
        );
        assert_eq!(
            submitted(&late),
            ["submit 2026-12-05T21:00:00Z"],
            "exactly 24 h left"
        );
        let too_late = due(
            &window,
            lead,
            mark("2026-11-01T00:00:00Z", Some("2026-11-28T21:00:00Z")),
            utc("2026-12-04T21:00:01Z"),
        );
        assert_eq!(submitted(&too_late), ["skip 2026-12-05T21:00:00Z"]);
        assert_eq!(too_late.next_submit, Some(utc("2026-12-09T21:00:00Z")));
    }

    #[test]
    fn with_a_24_hour_lead_a_tick_a_few_minutes_late_still_submits() {
        let window = weekly("0 22 * * SAT", "UTC");
        let lead = TimeDelta::hours(24);
        let seen = || mark("2026-11-01T00:00:00Z", Some("2026-11-28T22:00:00Z"));
        // Submit time 2026-12-04T22:00Z: a cron tick seconds later, or a timer minutes late.
        for now in ["2026-12-04T22:00:07Z", "2026-12-04T22:05:00Z"] {
            assert_eq!(
                submitted(&due(&window, lead, seen(), utc(now))),
                ["submit 2026-12-05T22:00:00Z"],
                "{now}"
            );
        }
        assert_eq!(
            submitted(&due(&window, lead, seen(), utc("2026-12-04T22:05:01Z"))),
            ["skip 2026-12-05T22:00:00Z"]
        );
    }

    #[test]
    fn a_new_plan_starts_from_its_first_sighting() {
        let window = weekly("0 22 * * SAT", "UTC");
        let due = due(
            &window,
            TimeDelta::hours(48),
            mark("2026-11-24T12:00:00Z", None),
            utc("2026-11-24T12:00:00Z"),
        );
        assert!(due.decisions.is_empty(), "nothing from before it was seen");
        assert_eq!(due.next_submit, Some(utc("2026-11-26T22:00:00Z")));
    }

    /// Plans of the weekly example with `count` different cron patterns, as `tick` keeps them
    /// (without their parsed expression).
    fn weekly_plans(count: usize) -> Vec<Plan> {
        let text = include_str!("../plans/contoso-uat-weekly.yaml");
        let settings = crate::rules::CheckSettings {
            now: utc("2026-11-01T00:00:00Z"),
            catalog: crate::rules::Catalog::embedded(),
            adapter: None,
        };
        (0..count)
            .map(|index| {
                let text = text
                    .replace("name: contoso-uat-weekly", &format!("name: plan-{index}"))
                    .replace(
                        "cron: \"0 22 * * SAT\"",
                        &format!("cron: \"{} {} * * {}\"", index % 60, index % 24, index % 7),
                    );
                let path = std::path::Path::new("plans/plan.yaml");
                crate::rules::check_file("plan.yaml", path, text.as_bytes(), &settings)
                    .plan
                    .expect("the example checks")
                    .without_parsed_cron()
            })
            .collect()
    }

    /// Marks of the plans but every `unmarked`-th, first seen on 10 November; every
    /// `decided`-th of them has an occurrence decided on 14 November.
    fn some_marks(plans: &[Plan], unmarked: usize, decided: usize) -> HashMap<String, PlanMark> {
        plans
            .iter()
            .enumerate()
            .filter(|(index, _)| index % unmarked != 0)
            .map(|(index, plan)| {
                let latest = (index % decided == 0).then_some("2026-11-14T12:00:00Z");
                (plan.name().to_owned(), mark("2026-11-10T00:00:00Z", latest))
            })
            .collect()
    }

    #[test]
    fn due_on_every_core_is_due_of_each_plan_in_order() {
        let plans = weekly_plans(3 * DUE_PER_WORKER + 5);
        let now = utc("2026-11-20T12:00:00Z");
        let marks = some_marks(&plans, 5, 3);
        let one_by_one: Vec<Option<Due>> = plans
            .iter()
            .map(|plan| {
                marks
                    .get(plan.name())
                    .map(|mark| due(plan.window(), plan.lead_time(), *mark, now))
            })
            .collect();
        assert!(
            one_by_one
                .iter()
                .flatten()
                .any(|due| !due.decisions.is_empty()),
            "some plans have decisions"
        );
        assert!(one_by_one.iter().any(Option::is_none), "some have no mark");
        assert_eq!(due_on_every_core(&plans, &marks, now), one_by_one);
    }

    #[test]
    fn due_ahead_hands_over_every_plan_in_order_and_stops_at_an_error() {
        let plans = weekly_plans(2 * DUE_AT_ONCE + 7);
        let now = utc("2026-11-20T12:00:00Z");
        let marks = some_marks(&plans, 7, 2);
        let mut names = Vec::new();
        let mut handed = Vec::new();
        let done: Result<(), ()> = with_due_ahead(&plans, &marks, now, |share, due| {
            assert_eq!(share.len(), due.len(), "a due per plan");
            names.extend(share.iter().map(Plan::name));
            handed.extend(due);
            Ok(())
        });
        assert_eq!(done, Ok(()));
        assert_eq!(names, plans.iter().map(Plan::name).collect::<Vec<_>>());
        assert_eq!(handed, due_on_every_core(&plans, &marks, now));
        let mut shares = 0;
        let stopped = with_due_ahead(&plans, &marks, now, |_, _| {
            shares += 1;
            if shares == 2 {
                Err("the store failed")
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, shares), (Err("the store failed"), 2));
    }

    #[test]
    fn a_window_without_its_parsed_cron_has_the_same_occurrences() {
        let held = weekly("30 2 * * SUN", "America/New_York");
        let from = utc("2027-03-01T00:00:00Z");
        let expected: Vec<Occurrence> = held.occurrences_from(from).take(6).collect();
        let let_go = held.without_parsed_cron();
        assert!(matches!(let_go, Window::Recurring { cron: None, .. }));
        assert_eq!(
            let_go.occurrences_from(from).take(6).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn a_long_outage_is_decided_in_bounded_passes() {
        let window = Window::Recurring {
            cron: Some(parse_cron("* * * * *").expect("cron")),
            pattern: "* * * * *".into(),
            zone: parse_zone("UTC").expect("zone"),
            duration: TimeDelta::minutes(1),
        };
        let due = due(
            &window,
            TimeDelta::hours(24),
            mark("2026-01-01T00:00:00Z", None),
            utc("2026-06-01T00:00:00Z"),
        );
        assert_eq!(due.decisions.len(), DECISIONS_PER_PASS);
        assert_eq!(
            due.next_submit,
            Some(utc("2026-06-01T00:00:00Z")),
            "more next pass"
        );
    }
}
