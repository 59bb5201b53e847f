//! `tick` and `daemon` (SPEC 5.5): the scheduler over a directory of plans, once or forever.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::apply::{Globals, unavailable};
use super::runtime::{
    add_inventory, cache_dir, read_inventory, save_clock, seed_all, sim_faults, simulator_error,
    stored_clock,
};
use super::validate::check_files;
use crate::adapter::{
    Adapter, AdapterKind, LcsAdapter, MODEL_KEY, PowerPlatformAdapter, SimulatorAdapter,
};
use crate::cli::{DaemonArgs, ListFormat, ScheduleArgs, TickArgs};
use crate::clock::Clock;
use crate::error::{Error, exit};
use crate::executor::{ApproveError, Event, EventKind, EventSink, Progress};
use crate::notify::Outbox;
use crate::plan::Plan;
use crate::plan::discover::{DiscoverError, discover};
use crate::plan::time::format_utc;
use crate::rules::{FileRecord, Severity, check_records};
use crate::say;
use crate::schedule::{NOTICE, Scheduler, TickReport, TickSettings, release_all};
use crate::sim::{Durations, Faults, Lcs};
use crate::state::{RunState, StateStore};

/// The plans a pass schedules, and what could not be scheduled.
pub(super) struct Loaded {
    pub(super) plans: Vec<Plan>,
    /// Files left out, with why.
    refused: Vec<(String, String)>,
    /// The plan directories' fingerprint when they were read, for a daemon that watches them
    /// (`None` for a single pass, which does not look at the files again).
    fingerprint: Option<u64>,
}

/// Reads and checks every plan; a plan with errors is left out (and said so). The `lead-time`
/// rule is the scheduler's own business: it decides each occurrence itself, and a fixed window
/// already submitted must stay schedulable as it comes near.
fn load_plans(args: &ScheduleArgs, adapter: AdapterKind, watch: Watch) -> Result<Loaded, Error> {
    load_plan_set(&args.plans, args.catalog.as_ref(), adapter, watch)
}

/// Whether the plan files are looked at again after they are loaded (a daemon's reload on
/// change): only then is their fingerprint taken, one `stat` per file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Watch {
    Once,
    ForChanges,
}

/// [`load_plans`] for any command that reads the scheduled plans (`calendar`).
pub(super) fn load_plan_set(
    paths: &[PathBuf],
    catalog: Option<&PathBuf>,
    adapter: AdapterKind,
    watch: Watch,
) -> Result<Loaded, Error> {
    let settings = super::check_settings(
        &crate::cli::CheckArgs {
            now: None,
            catalog: catalog.cloned(),
        },
        Some(adapter),
    )?;
    let files = discover(paths).map_err(|error| match error {
        DiscoverError::NotFound(path) => Error::NotFound { path },
        DiscoverError::Read(path, source) => Error::Read { path, source },
    })?;
    // Taken before the files are read: an edit made while they are read changes it.
    let fingerprint = (watch == Watch::ForChanges).then(|| fingerprint_of(&files));
    // Each worker keeps what validation keeps of a file (its summary for the rules across
    // plans, and its diagnostics) and the plan without its parsed cron expression, so that the
    // checked files are never all held whole at once. The plans then stay in the buffer the
    // workers put them in: the checked files become the plans, and the plans the scheduled
    // ones, in place (std collects a `map` or `filter_map` over a vector's own items into that
    // vector's buffer). A box per plan and a new vector for the scheduled ones held every plan
    // twice: 6.3 MB of a peak of 30.5 MB over 10,000 plans (heaptrack).
    let checked = check_files(&files, &settings, |mut checked| {
        let plan = checked.plan.take().map(Plan::without_parsed_cron);
        (FileRecord::from(checked), plan)
    })?;
    let mut records = Vec::with_capacity(checked.len());
    let plans: Vec<Option<Plan>> = checked
        .into_iter()
        .map(|(record, plan)| {
            records.push(record);
            plan
        })
        .collect();
    let diagnostics = check_records(&mut records);
    // Per file: how many errors, and the first (named when a file could not be read at all).
    let mut errors: std::collections::HashMap<&str, (usize, &crate::rules::Diagnostic)> =
        std::collections::HashMap::new();
    for diagnostic in &diagnostics {
        if diagnostic.severity == Severity::Error && diagnostic.rule != crate::rules::Rule::LeadTime
        {
            errors
                .entry(diagnostic.file.as_str())
                .or_insert((0, diagnostic))
                .0 += 1;
        }
    }
    let mut refused = Vec::new();
    let scheduling: Vec<bool> = records
        .iter()
        .zip(&plans)
        .map(|(record, plan)| {
            let file = record.file();
            let (count, first) = errors
                .get(file)
                .map_or((0, None), |(count, first)| (*count, Some(*first)));
            let why = match plan {
                Some(plan) if count == 0 && plan.lead_time() >= NOTICE => return true,
                Some(_) if count == 0 => "its lead time is under 24 hours".to_owned(),
                _ => match first {
                    Some(first) if record.plan_name().is_none() => format!(
                        "{} ({} error(s); `refreshctl validate` shows them)",
                        first.message,
                        count.max(1)
                    ),
                    // Where and what: the first error, located, so a contradicted `service`
                    // (or any other error) is named in the pass's own output.
                    Some(first) => format!(
                        "{} error(s), the first at {}{}: [{}] {}; `refreshctl validate` shows them",
                        count.max(1),
                        first.file,
                        first
                            .place()
                            .map(|place| format!(":{}:{}", place.line, place.column))
                            .unwrap_or_default(),
                        first.rule,
                        first.message
                    ),
                    None => format!(
                        "{} error(s); `refreshctl validate` shows them",
                        count.max(1)
                    ),
                },
            };
            refused.push((file.to_owned(), why));
            false
        })
        .collect();
    drop(records);
    let mut scheduled: Vec<Plan> = plans
        .into_iter()
        .enumerate()
        .filter_map(|(index, plan)| plan.filter(|_| scheduling[index]))
        .collect();
    scheduled.shrink_to_fit();
    for (file, why) in &refused {
        say!(
            warning,
            "refreshctl: warning: `{file}` is not scheduled: {why}"
        );
    }
    Ok(Loaded {
        plans: scheduled,
        refused,
        fingerprint,
    })
}

/// A cheap fingerprint of the plan directories: every file's name, size and modification time.
/// It changes when a plan is added, removed, renamed or edited.
fn fingerprint(paths: &[PathBuf]) -> u64 {
    discover(paths).map_or(0, |files| fingerprint_of(&files))
}

fn fingerprint_of(files: &[crate::plan::discover::PlanFile]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.path.hash(&mut hasher);
        if let Ok(metadata) = std::fs::metadata(&file.path) {
            metadata.len().hash(&mut hasher);
            metadata.modified().ok().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The adapter a schedule runs through, with its clock.
enum World {
    Simulator(SimulatorAdapter, Clock),
    Lcs(LcsAdapter, Clock),
    PowerPlatform(PowerPlatformAdapter, Clock),
}

impl World {
    fn clock(&self) -> &Clock {
        match self {
            Self::Simulator(_, clock) | Self::Lcs(_, clock) | Self::PowerPlatform(_, clock) => {
                clock
            }
        }
    }

    fn kind(&self) -> AdapterKind {
        match self {
            Self::Simulator(..) => AdapterKind::Simulator,
            Self::Lcs(..) => AdapterKind::Lcs,
            Self::PowerPlatform(..) => AdapterKind::PowerPlatform,
        }
    }

    /// The simulated LCS that every `tick` and `daemon` on the store shares, knowing every
    /// plan's environments, at `start`. Each change to it is committed as it is made, on the
    /// freshest model (see the simulator adapter), so ticks side by side and a killed tick lose
    /// nothing.
    fn simulator(
        store: &Arc<StateStore>,
        plans: &[Plan],
        args: &ScheduleArgs,
        start: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let inventory = args
            .run
            .sim_inventory
            .as_deref()
            .map(read_inventory)
            .transpose()?;
        let clock = Clock::simulated(start);
        let adapter = SimulatorAdapter::open(
            store.clone(),
            MODEL_KEY,
            clock.clone(),
            sim_faults(&args.run.sim_fault),
            || Lcs::new(Durations::default(), Faults::default(), start),
        )
        .and_then(|adapter| {
            adapter.update(|model| {
                if let Some(entries) = &inventory {
                    add_inventory(model, entries);
                }
                seed_all(model, plans);
            })?;
            Ok(adapter)
        })
        .map_err(simulator_error)?;
        Ok(Self::Simulator(adapter, clock))
    }

    fn reseed(&self, plans: &[Plan]) -> Result<(), Error> {
        if let Self::Simulator(adapter, _) = self {
            adapter
                .update(|model| seed_all(model, plans))
                .map_err(simulator_error)?;
        }
        Ok(())
    }

    /// Keeps the simulated clock for the next pass (the model is kept as it changes).
    fn save(&self, store: &StateStore) -> Result<(), Error> {
        if let Self::Simulator(_, clock) = self {
            save_clock(store, clock)?;
        }
        Ok(())
    }
}

/// Sets up the store, the adapter and the settings of a schedule.
fn prepare(
    args: &ScheduleArgs,
    globals: &Globals<'_>,
    now: Option<DateTime<Utc>>,
    runtime: &tokio::runtime::Runtime,
    watch: Watch,
) -> Result<(Arc<StateStore>, Loaded, World, TickSettings), Error> {
    let loaded = load_plans(args, globals.adapter, watch)?;
    let store =
        super::runtime::open_store_to_run(globals.state, globals.adapter, globals.allow_rehearsal)?;
    let world = match globals.adapter {
        AdapterKind::Simulator => {
            let stored = stored_clock(&store)?;
            let start = match (now, stored) {
                (Some(now), Some(stored)) if now < stored => {
                    return Err(Error::Refused {
                        message: format!(
                            "the rehearsal's simulated time is already {}; --now cannot go back to {}",
                            format_utc(stored),
                            format_utc(now)
                        ),
                        hint: Some(
                            "use a later --now, or a fresh --state for a new rehearsal".into(),
                        ),
                    });
                }
                (Some(now), _) => now,
                (None, stored) => stored.map_or_else(Utc::now, |stored| stored.max(Utc::now())),
            };
            World::simulator(&store, &loaded.plans, args, start)?
        }
        AdapterKind::Lcs => {
            let clock = Clock::wall();
            let adapter = LcsAdapter::from_env(clock.clone()).map_err(unavailable)?;
            runtime.block_on(adapter.sign_in()).map_err(unavailable)?;
            World::Lcs(adapter, clock)
        }
        AdapterKind::PowerPlatform => {
            let clock = Clock::wall();
            let adapter = PowerPlatformAdapter::from_env(clock.clone()).map_err(unavailable)?;
            runtime.block_on(adapter.sign_in()).map_err(unavailable)?;
            World::PowerPlatform(adapter, clock)
        }
    };
    let settings = TickSettings {
        owner: args
            .owner
            .clone()
            .unwrap_or_else(crate::notify::this_process),
        lease: args.lease.max(TimeDelta::seconds(1)),
        poll_interval: args.run.poll_interval,
        step_deadline: args.run.step_deadline,
        cache_dir: cache_dir(),
        send_notifications: globals.adapter.is_real() || args.run.notify,
        notify_backoff: super::apply::notify_backoff(),
    };
    Ok((store, loaded, world, settings))
}

/// Executor events as log records: `-v` shows them (`--log-format json` as JSON lines, with the
/// simulated time of a rehearsal as `sim_time`).
struct LogSink {
    simulated: bool,
}

impl EventSink for LogSink {
    fn event(&mut self, event: &Event) {
        if matches!(event.kind, EventKind::Waiting | EventKind::Polled) {
            return;
        }
        crate::logs::pass_event(event, self.simulated);
    }
}

/// One pass.
async fn pass(
    world: &World,
    plans: &[Plan],
    store: &Arc<StateStore>,
    settings: &TickSettings,
    claimed: &RefCell<Vec<crate::state::RunRecord>>,
) -> Result<TickReport, Error> {
    let sink = RefCell::new(LogSink {
        simulated: matches!(world, World::Simulator(..)),
    });
    match world {
        World::Simulator(adapter, clock) => {
            run_pass(adapter, clock, plans, store, settings, &sink, claimed).await
        }
        World::Lcs(adapter, clock) => {
            run_pass(adapter, clock, plans, store, settings, &sink, claimed).await
        }
        World::PowerPlatform(adapter, clock) => {
            run_pass(adapter, clock, plans, store, settings, &sink, claimed).await
        }
    }
}

async fn run_pass<A: Adapter>(
    adapter: &A,
    clock: &Clock,
    plans: &[Plan],
    store: &Arc<StateStore>,
    settings: &TickSettings,
    sink: &RefCell<dyn EventSink>,
    claimed: &RefCell<Vec<crate::state::RunRecord>>,
) -> Result<TickReport, Error> {
    let scheduler = Scheduler {
        plans,
        adapter,
        store,
        clock,
        settings,
        sink,
        claimed,
        client: std::cell::OnceCell::new(),
        outbox: settings
            .send_notifications
            .then(|| Outbox::new(store.clone(), clock.clone())),
    };
    Ok(scheduler.tick().await?)
}

pub fn tick(args: &TickArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    if globals.adapter.is_real() && (args.now.is_some() || args.until.is_some()) {
        return Err(Error::Usage {
            message: format!(
                "--now and --until rehearse on the simulator; with the {} adapter a tick is always now",
                globals.adapter
            ),
        });
    }
    let runtime = super::apply::runtime()?;
    let (store, loaded, world, settings) =
        prepare(&args.schedule, globals, args.now, &runtime, Watch::Once)?;
    let claimed = RefCell::new(Vec::new());
    let _entered = runtime.enter();
    let mut problems = 0;
    let mut delayed = 0;
    let mut needs_person;
    loop {
        let report = runtime.block_on(pass(&world, &loaded.plans, &store, &settings, &claimed));
        release_all(&store, &claimed);
        let report = report?;
        let now = world.clock().now();
        problems += report.problems.len();
        delayed += report
            .advanced
            .iter()
            .filter(|advanced| matches!(advanced.progress, Progress::Delayed { .. }))
            .count();
        print_report(out, args.schedule.format, now, &report)?;
        let approved = approve_rehearsal(&store, &args.schedule, &world, &report)?;
        // Where the runs stand when the command ends: a run approved by `--yes` waits no more.
        needs_person = report
            .waiting
            .iter()
            .any(|waiting| !approved.contains(&waiting.run));
        let approved = !approved.is_empty();
        let Some(until) = args.until else { break };
        let next = match report.next_due {
            Some(next) if approved => next.min(now),
            Some(next) => next,
            None if approved => now,
            None => break,
        };
        if next > until {
            break;
        }
        // Simulated time jumps to what is due next (at least a minute on, so a run that is
        // due again at once cannot hold the rehearsal in place).
        let at = if next <= now && !approved {
            now + TimeDelta::minutes(1)
        } else {
            next
        };
        runtime.block_on(world.clock().sleep_until(at));
    }
    if let Some(until) = args.until {
        runtime.block_on(world.clock().sleep_until(until));
    }
    world.save(&store)?;
    // A run the service could not be reached for is the environment failing (SPEC 4); the run
    // itself is kept and tried again.
    // A run that waits for a person holds its environment: the pass went well, and still
    // someone must act (exit 4, after the codes of things that went wrong).
    Ok(if delayed > 0 {
        exit::ENVIRONMENT
    } else if !loaded.refused.is_empty() || problems > 0 {
        exit::FAILURE
    } else if needs_person {
        exit::NEEDS_PERSON
    } else {
        exit::SUCCESS
    })
}

/// On the simulator with `--yes`, manual steps are approved (a rehearsal); returns the runs
/// approved.
fn approve_rehearsal(
    store: &StateStore,
    args: &ScheduleArgs,
    world: &World,
    report: &TickReport,
) -> Result<Vec<String>, Error> {
    let mut approved = Vec::new();
    if !args.run.yes || !matches!(world, World::Simulator(..)) {
        return Ok(approved);
    }
    // What this pass stopped at, and what waits from before (a tick beside this one may have
    // stopped there): every manual step of the rehearsal goes on.
    let mut waiting: Vec<(&str, &str)> = report
        .advanced
        .iter()
        .filter_map(|advanced| match &advanced.progress {
            Progress::Blocked(RunState::AwaitingApproval { step }) => {
                Some((advanced.run.as_str(), step.as_str()))
            }
            _ => None,
        })
        .collect();
    for run in &report.waiting {
        if run.state == "awaiting-approval" && !waiting.iter().any(|(id, _)| *id == run.run) {
            waiting.push((run.run.as_str(), run.step.as_str()));
        }
    }
    for (run, step) in waiting {
        let operator = crate::executor::Operator {
            by: super::runs::os_user(),
            reason: Some("a rehearsal with --yes".into()),
        };
        // A tick beside this one may approve it first, or write it as this one reads it.
        let mut tries = 0;
        loop {
            tries += 1;
            match crate::executor::approve(store, run, step, &operator, world.clock().now()) {
                Ok(()) => say!("refreshctl: rehearsal: `{step}` of `{run}` approved (--yes)"),
                Err(ApproveError::NotWaiting { .. } | ApproveError::OtherStep { .. }) => {}
                Err(ApproveError::Store(crate::state::StoreError::Conflict { .. }))
                    if tries < 5 =>
                {
                    continue;
                }
                Err(error) => {
                    return Err(Error::Refused {
                        message: error.to_string(),
                        hint: None,
                    });
                }
            }
            break;
        }
        approved.push(run.to_owned());
    }
    Ok(approved)
}

/// Prints a pass's report in a few large writes, not one per line: a busy pass over 10,000
/// plans reports 10,000 lines, and standard output is flushed at every line otherwise.
fn print_report(
    out: &mut dyn Write,
    format: ListFormat,
    now: DateTime<Utc>,
    report: &TickReport,
) -> Result<(), Error> {
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    write_report(&mut buffered, format, now, report)?;
    buffered.flush()?;
    Ok(())
}

fn write_report(
    out: &mut dyn Write,
    format: ListFormat,
    now: DateTime<Utc>,
    report: &TickReport,
) -> Result<(), Error> {
    for (run, delivery) in report
        .deliveries
        .iter()
        .filter(|(_, delivery)| !delivery.reported)
    {
        if let Err(error) = &delivery.outcome {
            say!(
                warning,
                "refreshctl: warning: the {:?} notification of `{run}` to {} was not delivered: {error}",
                delivery.event,
                delivery.url
            );
        }
    }
    if format == ListFormat::Json {
        return print_json(out, now, report);
    }
    let at = format_utc(now);
    for run in &report.submitted {
        writeln!(out, "{at} submitted {run}")?;
    }
    for (run, reason) in &report.skipped {
        writeln!(out, "{at} skipped {run}: {reason}")?;
    }
    for (run, reason) in &report.rejected {
        writeln!(out, "{at} rejected {run}: {reason}")?;
    }
    for (run, lease) in &report.taken_over {
        writeln!(
            out,
            "{at} took {run} over from `{}` (its lease ran out at {})",
            lease.owner,
            format_utc(lease.until)
        )?;
    }
    // Text shows what changed, and runs the service could not be reached for; a run still
    // waiting (a poll, the window) is quiet.
    for advanced in report.advanced.iter().filter(|advanced| {
        advanced.before != advanced.after || matches!(advanced.progress, Progress::Delayed { .. })
    }) {
        let outcome = Outcome::of(&advanced.progress);
        let mut line = format!("{at} {}: {}", advanced.run, advanced.after);
        if let Some(step) = outcome.step {
            let _ = write!(line, " at `{step}`");
        }
        if let Some(error) = outcome.error {
            let _ = write!(line, ": {error}");
        }
        if let Some(until) = outcome.until {
            let _ = write!(line, ", next at {}", format_utc(until));
        }
        writeln!(out, "{line}")?;
    }
    for (run, message) in &report.reminded {
        writeln!(out, "{at} {run}: {message}")?;
    }
    for redelivery in &report.redelivered {
        let outcome = match &redelivery.outcome {
            Ok(status) => format!("delivered (HTTP {status})"),
            Err(error) if redelivery.kept => format!("still not delivered: {error}; kept"),
            Err(error) => format!("not delivered: {error}; given up"),
        };
        writeln!(
            out,
            "{at} {}: the {} notification left undelivered to {} was sent again: {outcome}",
            redelivery.run,
            crate::notify::event_name(redelivery.event),
            redelivery.url
        )?;
    }
    for (run, error) in &report.problems {
        writeln!(out, "{at} problem with {run}: {error}")?;
    }
    print_waiting(out, &at, &report.waiting)
}

/// Every run that waits for a person, each pass: a run that holds its environment is never
/// silent.
fn print_waiting(
    out: &mut dyn Write,
    at: &str,
    waiting: &[crate::schedule::Waiting],
) -> Result<(), Error> {
    for waiting in waiting {
        let since = waiting
            .since
            .map(|since| format!(" since {}", format_utc(since)))
            .unwrap_or_default();
        let reason = waiting
            .reason
            .as_deref()
            .map(|reason| format!(" ({reason})"))
            .unwrap_or_default();
        writeln!(
            out,
            "{at} needs a person: {} is {} at `{}`{since}{reason}, holding its environment: {}",
            waiting.run, waiting.state, waiting.step, waiting.command
        )?;
    }
    Ok(())
}

/// One pass as one JSON object.
fn print_json(out: &mut dyn Write, now: DateTime<Utc>, report: &TickReport) -> Result<(), Error> {
    let pairs = |items: &[(String, String)], key: &str| -> Vec<serde_json::Value> {
        items
            .iter()
            .map(|(run, text)| json!({ "run": run, key: text }))
            .collect()
    };
    let advanced: Vec<serde_json::Value> = report
        .advanced
        .iter()
        .map(|advanced| {
            let outcome = Outcome::of(&advanced.progress);
            let mut entry = json!({
                "run": advanced.run,
                "before": advanced.before,
                "state": advanced.after,
                "waiting_until": outcome.until.map(format_utc),
            });
            if let Some(step) = outcome.step {
                entry["step"] = step.into();
            }
            if let Some(error) = outcome.error {
                entry["error"] = error.into();
            }
            entry
        })
        .collect();
    let line = json!({
        "now": format_utc(now),
        "submitted": report.submitted,
        "skipped": pairs(&report.skipped, "reason"),
        "rejected": pairs(&report.rejected, "reason"),
        "taken_over": report
            .taken_over
            .iter()
            .map(|(run, lease)| json!({ "run": run, "from": lease.owner, "lease_ran_out": format_utc(lease.until) }))
            .collect::<Vec<_>>(),
        "advanced": advanced,
        "reminded": pairs(&report.reminded, "message"),
        "redelivered": report.redelivered.iter().map(redelivery_json).collect::<Vec<_>>(),
        "problems": pairs(&report.problems, "error"),
        "needs_person": !report.waiting.is_empty(),
        "waiting": report.waiting.iter().map(waiting_json).collect::<Vec<_>>(),
        "next_due": report.next_due.map(format_utc),
    });
    writeln!(out, "{line}")?;
    Ok(())
}

/// A notification sent again from the outbox, in `tick --format json`.
fn redelivery_json(redelivery: &crate::notify::Redelivery) -> serde_json::Value {
    json!({
        "run": redelivery.run,
        "event": crate::notify::event_name(redelivery.event),
        "url": redelivery.url,
        "status": redelivery.outcome.as_ref().ok(),
        "error": redelivery.outcome.as_ref().err(),
        "kept": redelivery.kept,
    })
}

/// A run that waits for a person, in `tick --format json`.
fn waiting_json(waiting: &crate::schedule::Waiting) -> serde_json::Value {
    json!({
        "run": waiting.run,
        "state": waiting.state,
        "step": waiting.step,
        "reason": waiting.reason,
        "since": waiting.since.map(format_utc),
        "command": waiting.command,
        "next_look": waiting.next_look.map(format_utc),
    })
}

/// What a pass's output says about a run besides its state (SPEC 5.1 names only): the step it
/// stopped at, its error or reason, and when it is next due.
struct Outcome<'a> {
    step: Option<&'a str>,
    error: Option<&'a str>,
    until: Option<DateTime<Utc>>,
}

impl<'a> Outcome<'a> {
    fn of(progress: &'a Progress) -> Self {
        let (step, error, until) = match progress {
            Progress::Finished(RunState::Failed { error }) => (None, Some(error.as_str()), None),
            Progress::Finished(RunState::Rejected { reason }) => {
                (None, Some(reason.as_str()), None)
            }
            Progress::Blocked(RunState::AwaitingApproval { step }) => {
                (Some(step.as_str()), None, None)
            }
            Progress::Blocked(RunState::NeedsAttention { step, reason }) => {
                (Some(step.as_str()), Some(reason.as_str()), None)
            }
            Progress::Finished(_) | Progress::Blocked(_) => (None, None, None),
            Progress::Waiting(until) => (None, None, Some(*until)),
            Progress::Delayed { until, error } => (None, Some(error.as_str()), Some(*until)),
        };
        Self { step, error, until }
    }
}

pub fn daemon(args: &DaemonArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = super::apply::runtime()?;
    let (store, mut loaded, world, settings) =
        prepare(&args.schedule, globals, None, &runtime, Watch::ForChanges)?;
    let _entered = runtime.enter();
    let signals = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let (Ok(mut hangup), Ok(mut terminate), Ok(mut interrupt)) = signals else {
        return Err(Error::Usage {
            message: "cannot listen for signals".into(),
        });
    };
    say!(
        "refreshctl: daemon `{}` scheduling {} plan(s) from {}",
        settings.owner,
        loaded.plans.len(),
        args.schedule
            .plans
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let live = match args.listen {
        Some(address) => Some(listen(
            address, &store, &loaded, &world, &settings, &runtime,
        )?),
        None => None,
    };
    let claimed = RefCell::new(Vec::new());
    let recheck = args
        .recheck
        .to_std()
        .unwrap_or(std::time::Duration::from_mins(1))
        .max(std::time::Duration::from_millis(100));
    loop {
        if let World::Simulator(_, clock) = &world {
            // A daemon on the simulator lives in real time.
            runtime.block_on(clock.sleep_until(Utc::now()));
        }
        let started = (world.clock().now(), std::time::Instant::now());
        let report = runtime.block_on(async {
            tokio::select! {
                report = pass(&world, &loaded.plans, &store, &settings, &claimed) => Some(report),
                _ = terminate.recv() => None,
                _ = interrupt.recv() => None,
            }
        });
        release_all(&store, &claimed);
        let Some(report) = report else {
            say!("refreshctl: stopped during a pass; every run is left to resume");
            return Ok(exit::SUCCESS);
        };
        match report {
            Ok(report) => {
                record_pass(started, &report);
                print_report(out, args.schedule.format, world.clock().now(), &report)?;
                out.flush()?;
                world.save(&store)?;
                let wake = runtime.block_on(sleep(
                    &world,
                    &store,
                    report.next_due,
                    recheck,
                    loaded.fingerprint,
                    &args.schedule.plans,
                    (&mut hangup, &mut terminate, &mut interrupt),
                ));
                match wake {
                    Wake::Stop => {
                        say!("refreshctl: stopped; every run is left to resume");
                        return Ok(exit::SUCCESS);
                    }
                    Wake::Reload => reload(args, globals, &world, live.as_deref(), &mut loaded),
                    Wake::Due => {}
                }
            }
            Err(error) => {
                // A store that is down for a moment must not end a daemon: try again later.
                say!(
                    warning,
                    "refreshctl: the pass failed: {error}; trying again in {recheck:?}"
                );
                let stop = runtime.block_on(async {
                    tokio::select! {
                        () = tokio::time::sleep(recheck) => false,
                        _ = terminate.recv() => true,
                        _ = interrupt.recv() => true,
                    }
                });
                if stop {
                    return Ok(exit::SUCCESS);
                }
            }
        }
    }
}

/// Loads the plans again (SIGHUP, or the directory changed); the old ones stay when the new
/// ones cannot be read.
fn reload(
    args: &DaemonArgs,
    globals: &Globals<'_>,
    world: &World,
    live: Option<&super::status_page::Live>,
    loaded: &mut Loaded,
) {
    match load_plans(&args.schedule, globals.adapter, Watch::ForChanges) {
        Ok(fresh) => {
            say!("refreshctl: reloaded {} plan(s)", fresh.plans.len());
            if let Err(error) = world.reseed(&fresh.plans) {
                say!(warning, "refreshctl: warning: {error}");
            }
            if let Some(live) = live {
                live.reload(fresh.plans.clone());
            }
            *loaded = fresh;
        }
        Err(error) => {
            say!(warning, "refreshctl: the plans were not reloaded: {error}");
            loaded.fingerprint = Some(fingerprint(&args.schedule.plans));
        }
    }
}

/// What the page's metrics say of the last pass.
fn record_pass(started: (DateTime<Utc>, std::time::Instant), report: &TickReport) {
    crate::metrics::pass(
        crate::metrics::Pass {
            started: started.0,
            seconds: started.1.elapsed().as_secs_f64(),
            next_due: report.next_due,
        },
        report.taken_over.len(),
    );
}

/// Starts the status page beside the scheduler (`daemon --listen`); says where it is.
fn listen(
    address: std::net::SocketAddr,
    store: &Arc<StateStore>,
    loaded: &Loaded,
    world: &World,
    settings: &TickSettings,
    runtime: &tokio::runtime::Runtime,
) -> Result<Arc<super::status_page::Live>, Error> {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(|error| Error::Unavailable {
            message: format!(
                "the status page cannot listen on {address}: {error} (choose another with --listen)"
            ),
        })?;
    let bound = listener.local_addr().unwrap_or(address);
    let live = Arc::new(super::status_page::Live {
        store: store.clone(),
        plans: std::sync::RwLock::new(Arc::new(loaded.plans.clone())),
        clock: world.clock().clone(),
        adapter: world.kind(),
        owner: settings.owner.clone(),
    });
    runtime.spawn(super::status_page::serve(listener, live.clone()));
    say!("refreshctl: status page at http://{bound}/ (metrics at /metrics)");
    Ok(live)
}

/// Why the daemon woke up.
enum Wake {
    Due,
    Reload,
    Stop,
}

type Signals<'a> = (
    &'a mut tokio::signal::unix::Signal,
    &'a mut tokio::signal::unix::Signal,
    &'a mut tokio::signal::unix::Signal,
);

/// Sleeps until `next_due`, looking every `recheck` whether the plans changed or a run became
/// due; a signal ends the sleep at once. No work is done while nothing is due.
async fn sleep(
    world: &World,
    store: &StateStore,
    next_due: Option<DateTime<Utc>>,
    recheck: std::time::Duration,
    fingerprint: Option<u64>,
    plans: &[PathBuf],
    (hangup, terminate, interrupt): Signals<'_>,
) -> Wake {
    let clock = world.clock();
    loop {
        let until_due = next_due.map_or(recheck, |next| match clock {
            Clock::Simulated(_) => (next - Utc::now()).to_std().unwrap_or_default(),
            other => other.wall_wait(next),
        });
        let due = until_due <= recheck;
        tokio::select! {
            () = tokio::time::sleep(until_due.min(recheck)) => {}
            _ = hangup.recv() => return Wake::Reload,
            _ = terminate.recv() => return Wake::Stop,
            _ = interrupt.recv() => return Wake::Stop,
        }
        if due {
            return Wake::Due;
        }
        if fingerprint.is_some_and(|taken| self::fingerprint(plans) != taken) {
            return Wake::Reload;
        }
        let now = match clock {
            Clock::Simulated(_) => Utc::now(),
            other => other.now(),
        };
        if store
            .next_due(world.kind())
            .ok()
            .flatten()
            .is_some_and(|due| due <= now)
        {
            return Wake::Due;
        }
    }
}
