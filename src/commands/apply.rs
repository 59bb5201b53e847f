//! `apply`, `submit` and `resume`: recording runs and running them.

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::check_settings;
use super::foreground;
use super::live::Live;
use super::runs::os_user;
use super::runtime::{
    Progress as Reporter, cache_dir, checked_plan, open_store, open_store_to_run,
    refuse_rehearsal_in_real_store, simulator,
};
use crate::adapter::{Adapter, AdapterKind};
use crate::cli::{ApplyArgs, LogFormat, ResumeArgs, RunOptions, SubmitArgs};
use crate::clock::Clock;
use crate::error::{Error, exit};
use crate::executor::{self, Answer, Drive, EventSink, Foreground, Progress, Settings, Start};
use crate::notify::{Delivery, Notifier, Outbox};
use crate::plan::NotificationEvent;
use crate::plan::time::{format_duration, format_utc};
use crate::plan::{Occurrence, Plan};
use crate::rules::CheckSettings;
use crate::say;
use crate::state::{RunRecord, RunState, StateStore, StepState};

/// Shared by the run commands.
pub struct Globals<'a> {
    pub adapter: AdapterKind,
    pub state: Option<&'a str>,
    pub log_format: LogFormat,
    pub color: bool,
    /// `--allow-rehearsal-in-real-store`.
    pub allow_rehearsal: bool,
}

pub fn submit(args: &SubmitArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let settings = check_settings(&args.check, Some(globals.adapter))?;
    let plan = checked_plan(&args.plan, &settings, globals.color)?;
    let store = open_store_to_run(globals.state, globals.adapter, globals.allow_rehearsal)?;
    let window = next_window(&plan, settings.now)?;
    let (run, new) = record(
        &store,
        &plan,
        window,
        settings.now,
        None,
        globals.adapter,
        globals.adapter.is_real(),
    )?;
    if new && !plan.notifications().is_empty() {
        let runtime = runtime()?;
        // `submit` only records; on the simulator it is a rehearsal and sends nothing.
        let mut notifier = if globals.adapter == AdapterKind::Simulator {
            Notifier::rendering_only(&plan, &run, globals.adapter)
        } else {
            // Kept in the outbox until delivered: the next pass sends what this one could not.
            Notifier::new(&plan, &run, globals.adapter, notify_backoff()).with_outbox(
                Outbox::for_command(store.clone(), globals.adapter, settings.now),
            )
        };
        runtime.block_on(async {
            notifier.send(NotificationEvent::Submitted);
            report_deliveries(&store, &run, notifier.finish().await);
        });
    }
    writeln!(out, "{}", run.id)?;
    Ok(exit::SUCCESS)
}

pub fn apply(args: &ApplyArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let settings = check_settings(&args.check, Some(globals.adapter))?;
    let plan = checked_plan(&args.plan, &settings, globals.color)?;
    let store = open_store_to_run(globals.state, globals.adapter, globals.allow_rehearsal)?;
    // A rehearsal starts now (or at `--now`), as the real thing would: the window and its lead
    // time are reckoned from there, never from where an earlier rehearsal left simulated time.
    let now = settings.now;
    let window = if args.start_now {
        Occurrence {
            start: now,
            end: crate::plan::time::add_in_range(now, plan.window().duration()).ok_or_else(
                || Error::Refused {
                    message: crate::plan::time::out_of_range(
                        "a window starting now with the plan's duration",
                    ),
                    hint: Some("give the window a shorter duration".into()),
                },
            )?,
        }
    } else {
        next_window(&plan, now)?
    };
    // One runtime for the whole command: the HTTP client's connections belong to it.
    let runtime = runtime()?;
    // With a real service: sign in and have the operator confirm before anything is recorded.
    let live = Live::from_env(globals.adapter, &Clock::wall())?;
    if let Some(adapter) = &live {
        runtime.block_on(adapter.sign_in())?;
        confirm(&plan, window, globals.adapter, args.run.yes)?;
    }
    let (run, new) = record(
        &store,
        &plan,
        window,
        now,
        args.reason.clone(),
        globals.adapter,
        globals.adapter.is_real() || args.run.notify,
    )?;
    if let Some(reason) = &args.reason {
        store.append_event(
            &run.id,
            "emergency",
            &serde_json::json!({ "reason": reason }),
            now,
        )?;
    }
    execute(
        &runtime,
        &plan,
        &store,
        run,
        &Start::Apply { new },
        &args.run,
        &settings,
        globals,
        live,
        out,
    )
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "used as a `map_err` function"
)]
pub fn unavailable(error: crate::adapter::AdapterError) -> Error {
    Error::Unavailable {
        message: error.to_string(),
    }
}

/// Asks the operator to type the target's name before a real refresh (SPEC 4): `--yes` skips
/// it; without a terminal to ask on, `--yes` is required.
fn confirm(plan: &Plan, window: Occurrence, adapter: AdapterKind, yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    let target = plan.environment().name();
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refused {
            message: format!(
                "applying `{}` with the {adapter} adapter erases the database of `{target}`, and there is no terminal to confirm on",
                plan.name()
            ),
            hint: Some("pass --yes to confirm from a script".into()),
        });
    }
    let project = if plan.has_project() {
        format!(" (project {})", plan.project())
    } else {
        String::new()
    };
    say!(
        "refreshctl: this erases the database of `{target}`{project} in the window {} to {}.",
        format_utc(window.start),
        format_utc(window.end)
    );
    eprint!("refreshctl: type the target's name to go on: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() == target {
        Ok(())
    } else {
        Err(Error::Refused {
            message: format!("`{}` is not `{target}`; nothing was done", answer.trim()),
            hint: None,
        })
    }
}

pub fn resume(args: &ResumeArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let store = open_store(globals.state, globals.adapter)?;
    let run = store
        .run(&args.run)?
        .ok_or_else(|| Error::UnknownRun(args.run.clone()))?;
    may_resume(&store, &run, globals)?;
    let retry = if args.retry_step {
        Some(super::runs::operator(&args.operator))
    } else {
        if args.operator.by.is_some() || args.operator.reason.is_some() {
            return Err(Error::Usage {
                message: "`--by` and `--reason` say who asks for a retry and why: they go with `--retry-step`".into(),
            });
        }
        // A retry is a person's decision: a failed run is not resumed without one.
        if let RunState::Failed { error } = &run.state {
            return Err(Error::Refused {
                message: format!("run `{}` failed: {error}", run.id),
                hint: Some(format!(
                    "resuming never repeats a step by itself; `refreshctl resume {} --retry-step` runs a failed post step again (never the refresh)",
                    run.id
                )),
            });
        }
        None
    };
    let path = std::path::PathBuf::from(&run.file);
    let settings = check_settings(
        &crate::cli::CheckArgs {
            now: None,
            catalog: None,
        },
        Some(globals.adapter),
    )?;
    let plan = checked_plan(&path, &settings, globals.color)?;
    if plan.name() != run.plan {
        return Err(Error::Refused {
            message: format!(
                "`{}` now holds plan `{}`, not `{}`",
                run.file,
                plan.name(),
                run.plan
            ),
            hint: None,
        });
    }
    let live = Live::from_env(globals.adapter, &Clock::wall())?;
    execute(
        &runtime()?,
        &plan,
        &store,
        run,
        &Start::Resume { retry },
        &args.options,
        &settings,
        globals,
        live,
        out,
    )
}

/// Whether this command may go on with `run`: through the adapter it began with (that says
/// best what to do), and as a rehearsal only where a rehearsal may write.
fn may_resume(store: &StateStore, run: &RunRecord, globals: &Globals<'_>) -> Result<(), Error> {
    same_adapter(run, globals.adapter)?;
    refuse_rehearsal_in_real_store(
        store,
        globals.state,
        globals.adapter,
        globals.allow_rehearsal,
    )
}

/// A run goes on through the adapter it began with: a real run is never continued on the
/// simulator, nor a rehearsal through a real service.
fn same_adapter(run: &RunRecord, adapter: AdapterKind) -> Result<(), Error> {
    match run.adapter {
        Some(recorded) if recorded != adapter => Err(Error::Refused {
            message: format!(
                "run `{}` runs through the `{recorded}` adapter, not `{adapter}`",
                run.id
            ),
            hint: Some(format!(
                "`refreshctl {}resume {}`",
                super::runs::adapter_flag(recorded),
                run.id
            )),
        }),
        _ => Ok(()),
    }
}

fn next_window(plan: &Plan, now: DateTime<Utc>) -> Result<Occurrence, Error> {
    let window = plan.next_window(now).ok_or_else(|| Error::Refused {
        message: format!("plan `{}` has no upcoming window", plan.name()),
        hint: None,
    })?;
    let notice = window.start - now;
    if notice < plan.lead_time() {
        return Err(Error::Refused {
            message: format!(
                "the window starts at {}, {} from now, inside the {} lead time",
                format_utc(window.start),
                format_duration(notice.max(chrono::TimeDelta::zero())),
                format_duration(plan.lead_time())
            ),
            hint: Some(
                "choose a later window, or for an emergency `apply --start-now --reason TEXT`"
                    .into(),
            ),
        });
    }
    Ok(window)
}

/// Records the run (idempotently) and takes its target's lock. A run that loses the lock to
/// another ends rejected (notified: sent when `send`, else rendered).
fn record(
    store: &Arc<StateStore>,
    plan: &Plan,
    window: Occurrence,
    now: DateTime<Utc>,
    reason: Option<String>,
    adapter: AdapterKind,
    send: bool,
) -> Result<(RunRecord, bool), Error> {
    executor::record(store, plan, window, now, reason, adapter).map_err(|error| match error {
        executor::DriveError::Rejected { run, message, hint } => {
            notify_rejected(store, plan, &run, adapter, send);
            Error::Refused { message, hint }
        }
        error => drive_error(error),
    })
}

/// Sends (or, in a rehearsal, renders) a rejected run's notifications and waits for them, kept
/// in the outbox until delivered.
fn notify_rejected(
    store: &Arc<StateStore>,
    plan: &Plan,
    run: &RunRecord,
    adapter: AdapterKind,
    send: bool,
) {
    if plan.notifications().is_empty() {
        return;
    }
    let Ok(runtime) = runtime() else {
        return;
    };
    runtime.block_on(async {
        let mut notifier =
            if send {
                Notifier::new(plan, run, adapter, notify_backoff())
                    .with_outbox(Outbox::for_command(store.clone(), adapter, run.updated))
            } else {
                Notifier::rendering_only(plan, run, adapter)
            };
        match &run.state {
            RunState::Rejected { reason } => {
                notifier.send_because(NotificationEvent::Rejected, reason);
            }
            _ => notifier.send(NotificationEvent::Rejected),
        }
        report_deliveries(store, run, notifier.finish().await);
    });
}

#[expect(
    clippy::too_many_arguments,
    reason = "a command's settings, resolved once, passed on"
)]
fn execute(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    store: &Arc<StateStore>,
    run: RunRecord,
    start: &Start,
    options: &RunOptions,
    settings: &CheckSettings,
    globals: &Globals<'_>,
    live: Option<Live>,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let wall = Clock::wall();
    match live {
        Some(Live::Lcs(adapter)) => {
            return drive(
                runtime, plan, store, run, start, options, globals, &adapter, &wall, out,
            );
        }
        Some(Live::PowerPlatform(adapter)) => {
            return drive(
                runtime, plan, store, run, start, options, globals, &adapter, &wall, out,
            );
        }
        None => {}
    }
    let (adapter, clock) = simulator(
        store,
        plan,
        &run,
        &options.sim_fault,
        options.sim_inventory.as_deref(),
        settings.now,
    )?;
    say!("refreshctl: rehearsing on the simulator (simulated time; nothing real is touched)");
    drive(
        runtime, plan, store, run, start, options, globals, &adapter, &clock, out,
    )
}

/// Runs `run` through `adapter` until it ends or waits for an operator, with progress,
/// notifications and (on a terminal) the manual steps' prompts.
#[expect(
    clippy::too_many_arguments,
    reason = "the pieces of one execution, passed through once"
)]
fn drive<A: Adapter>(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    store: &Arc<StateStore>,
    mut run: RunRecord,
    start: &Start,
    options: &RunOptions,
    globals: &Globals<'_>,
    adapter: &A,
    clock: &Clock,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    // Notifications are sent as tasks of this runtime from the first event on.
    let _entered = runtime.enter();
    let core = Drive {
        runtime,
        plan,
        store,
        adapter,
        clock,
        settings: Settings {
            poll_interval: options.poll_interval,
            cache_dir: cache_dir(),
            plan_dir: crate::plan::discover::directory_of(std::path::Path::new(plan.file())),
            step_deadline: options.step_deadline,
        },
        yes: options.yes,
        notify: options.notify,
        notify_backoff: notify_backoff(),
        operator: os_user(),
    };
    let (mut notifier, before) = core.begin(&mut run, start).map_err(drive_error)?;
    let done = run
        .steps
        .iter()
        .filter(|step| {
            matches!(
                step.state,
                StepState::Succeeded { .. } | StepState::Skipped { .. }
            )
        })
        .count();
    let mut reporter = Reporter::new(
        globals.log_format,
        clock.is_simulated(),
        run.steps.len(),
        done,
    );
    for event in &before {
        reporter.event(event);
    }
    // From here on a signal stops the run at a safe point, and says how it stands.
    let mut stop = foreground::listen(reporter.printer())?;
    let mut terminal = Terminal {
        reporter: &mut reporter,
        runtime,
        simulated: clock.is_simulated(),
    };
    let progress = match core
        .until_stopped(&mut run, &mut notifier, &mut terminal, &mut stop)
        .map_err(drive_error)?
    {
        executor::Stoppable::Progress(progress) => progress,
        executor::Stoppable::Stopped(signal) => {
            return stopped(
                runtime, store, run, notifier, &reporter, signal, globals, options, out,
            );
        }
    };
    reporter.clear();
    let deliveries = runtime.block_on(notifier.finish());
    report_deliveries(store, &run, deliveries);
    writeln!(out, "{}", run.id)?;
    Ok(exit_code(&run, progress))
}

/// A run in the foreground as the terminal shows it: the live view, and the prompt at a manual
/// step while both stdin and stderr are terminals.
struct Terminal<'r> {
    reporter: &'r mut Reporter,
    runtime: &'r tokio::runtime::Runtime,
    simulated: bool,
}

impl Foreground for Terminal<'_> {
    type Signal = foreground::Signal;

    fn events(&mut self) -> &mut dyn EventSink {
        self.reporter
    }

    fn can_ask(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn ask(
        &mut self,
        run: &str,
        step: &str,
        signals: &mut tokio::sync::mpsc::UnboundedReceiver<foreground::Signal>,
    ) -> Answer<foreground::Signal> {
        let runtime = self.runtime;
        match self
            .reporter
            .suspend(|| runtime.block_on(foreground::ask(run, step, signals)))
        {
            foreground::Answer::Approve => Answer::Approve,
            foreground::Answer::Later => Answer::Later,
            foreground::Answer::Stopped(signal) => Answer::Stopped(signal),
        }
    }

    /// The operator answered `yes` at the prompt: the live view counts it.
    fn approved(&mut self, step: &str, by: &str, at: DateTime<Utc>) {
        self.reporter.approved(&format!(
            "[{}{}] `{step}` approved by {by}",
            if self.simulated { "simulated " } else { "" },
            format_utc(at),
        ));
    }

    fn approved_in_rehearsal(&mut self, step: &str) {
        self.reporter
            .approved(&format!("refreshctl: rehearsal: `{step}` approved (--yes)"));
    }
}

/// A run stopped by a signal: its notifications still go out, the bar goes, and stderr says
/// how the run stands and how to go on with it.
#[expect(
    clippy::too_many_arguments,
    reason = "the pieces of one execution, passed through once"
)]
fn stopped(
    runtime: &tokio::runtime::Runtime,
    store: &StateStore,
    run: RunRecord,
    notifier: Notifier,
    reporter: &Reporter,
    signal: foreground::Signal,
    globals: &Globals<'_>,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    reporter.clear();
    let deliveries = runtime.block_on(notifier.finish());
    report_deliveries(store, &run, deliveries);
    // The run as it was last committed (a step under way may have moved it on).
    let run = store.run(&run.id)?.unwrap_or(run);
    let code = foreground::stopped(&run, signal, globals, options);
    // As at every other end: the run's id on stdout, for scripts.
    writeln!(out, "{}", run.id)?;
    Ok(code)
}

fn retry_error(error: executor::RetryError) -> Error {
    match error {
        executor::RetryError::Refused { message, hint } => Error::Refused { message, hint },
        executor::RetryError::Unreachable(message) => Error::Unavailable { message },
        executor::RetryError::Store(error) => Error::Store(error),
    }
}

fn drive_error(error: executor::DriveError) -> Error {
    match error {
        executor::DriveError::Store(error) => Error::Store(error),
        executor::DriveError::Refused { message, hint }
        | executor::DriveError::Rejected { message, hint, .. } => Error::Refused { message, hint },
        executor::DriveError::Retry(error) => retry_error(error),
        executor::DriveError::Exec(error) => exec_error(error),
        executor::DriveError::UnknownRun(run) => Error::UnknownRun(run),
    }
}

fn exec_error(error: executor::ExecError) -> Error {
    match error {
        executor::ExecError::Store(error) => Error::Store(error),
        unknown @ executor::ExecError::UnknownStep(_) => Error::Refused {
            message: unknown.to_string(),
            hint: Some("the plan file changed since the run was submitted".into()),
        },
    }
}

fn describe(state: &RunState) -> String {
    match state {
        RunState::Failed { error } => format!("failed: {error}"),
        RunState::Rejected { reason } => format!("rejected: {reason}"),
        other => other.name().to_owned(),
    }
}

/// The first wait before a notification is sent again: `REFRESHCTL_NOTIFY_RETRY_WAIT` (a
/// duration such as `500ms`), else 2 s; later waits double.
pub fn notify_backoff() -> std::time::Duration {
    std::env::var("REFRESHCTL_NOTIFY_RETRY_WAIT")
        .ok()
        .and_then(|text| humantime::parse_duration(&text).ok())
        .unwrap_or(std::time::Duration::from_secs(2))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Output)
}

/// Notifications never fail a run: a failed one is a warning and an entry in the run's log.
pub fn report_deliveries(store: &StateStore, run: &RunRecord, deliveries: Vec<Delivery>) {
    let rendered = deliveries
        .iter()
        .filter(|delivery| delivery.outcome == Ok(0))
        .count();
    if rendered > 0 {
        say!(
            "refreshctl: rehearsal: {rendered} notification(s) rendered, none sent (`--notify` sends them)"
        );
    }
    for delivery in deliveries.into_iter().filter(|delivery| !delivery.reported) {
        if let Err(error) = &delivery.outcome {
            say!(
                warning,
                "refreshctl: warning: the {:?} notification to {} was not delivered: {error}",
                delivery.event,
                delivery.url
            );
            delivery.log_if_failed(store, &run.id, Utc::now());
        }
    }
}

/// The exit code of a run that stopped, saying on stderr how it stands.
fn exit_code(run: &RunRecord, progress: Progress) -> u8 {
    match progress {
        Progress::Finished(RunState::Succeeded) => exit::SUCCESS,
        Progress::Blocked(RunState::AwaitingApproval { step }) => {
            say!(
                "refreshctl: run `{}` waits for `{step}`: `refreshctl approve {} {step}`, then `refreshctl resume {}`",
                run.id,
                run.id,
                run.id
            );
            exit::FAILURE
        }
        Progress::Blocked(RunState::NeedsAttention { reason, .. }) => {
            say!(
                warning,
                "refreshctl: run `{}` needs attention: {reason}",
                run.id
            );
            exit::FAILURE
        }
        Progress::Finished(state) | Progress::Blocked(state) => {
            say!(
                warning,
                "refreshctl: run `{}` ended {}",
                run.id,
                describe(&state)
            );
            exit::FAILURE
        }
        Progress::Delayed { error, .. } => {
            say!(
                warning,
                "refreshctl: run `{}` is delayed: {error}. It stays {}; `refreshctl resume {}` tries again (so does the next `tick`)",
                run.id,
                run.state.name(),
                run.id
            );
            exit::ENVIRONMENT
        }
        Progress::Waiting(_) => exit::FAILURE,
    }
}
