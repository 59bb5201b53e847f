//! What the run commands share: the state store, checked plans, the simulator and its clock,
//! and the progress reporters.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::read_and_check;
use crate::adapter::{AdapterKind, MODEL_KEY, SimulatorAdapter, rehearsal_key};
use crate::cli::{LogFormat, SimFault};
use crate::clock::Clock;
use crate::error::Error;
use crate::executor::{Event, EventKind, EventSink};
use crate::input::{MAX_DATA_BYTES, read_text_capped};
use crate::plan::time::format_utc;
use crate::plan::{EnvironmentType, Plan};
use crate::report::human;
use crate::rules::{CheckSettings, Severity, check_set};
use crate::sim::{Durations, Faults, Lcs, ReportedType};
use crate::state::{RunRecord, StateStore, StateUrl, StepState};

/// Where the clock of the simulated world that `tick` and `daemon` share is kept.
const CLOCK_KEY: &str = "simulator/clock";

/// Opens the state store: `--state`, else the default. Rehearsals on the simulator default to
/// `rehearsal.db` beside `state.db`, so they never mix with real runs.
pub fn open_store(state: Option<&str>, adapter: AdapterKind) -> Result<Arc<StateStore>, Error> {
    Ok(Arc::new(StateStore::open(&store_url(state, adapter)?)?))
}

/// Opens the state store for a command that records or runs runs through `adapter` (`apply`,
/// `submit`, `tick`, `daemon`), refusing a rehearsal in a real store (see
/// [`refuse_rehearsal_in_real_store`]).
pub fn open_store_to_run(
    state: Option<&str>,
    adapter: AdapterKind,
    allow_rehearsal: bool,
) -> Result<Arc<StateStore>, Error> {
    let store = open_store(state, adapter)?;
    refuse_rehearsal_in_real_store(&store, state, adapter, allow_rehearsal)?;
    Ok(store)
}

/// A store that a real adapter has used refuses the simulator unless `allow_rehearsal`
/// (`--allow-rehearsal-in-real-store`): a rehearsal there is most likely a forgotten
/// `--adapter`, and its runs would sit beside the real ones.
pub fn refuse_rehearsal_in_real_store(
    store: &StateStore,
    state: Option<&str>,
    adapter: AdapterKind,
    allow_rehearsal: bool,
) -> Result<(), Error> {
    if adapter != AdapterKind::Simulator || allow_rehearsal {
        return Ok(());
    }
    let real = store.real_adapters()?;
    let Some(first) = real.first() else {
        return Ok(());
    };
    let names = real
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::Refused {
        message: format!(
            "the state store `{}` holds runs of the {names} adapter; a rehearsal (the \
             simulator) does not write into a store that real runs use",
            store_url(state, adapter)?.shown()
        ),
        hint: Some(format!(
            "for the real thing pass `--adapter {first}`; to rehearse, leave out `--state` and \
             `REFRESHCTL_STATE` (rehearsals keep their own `rehearsal.db`), or pass \
             `--allow-rehearsal-in-real-store` to rehearse in this store (rehearsals never count \
             for real runs' windows, locks or schedule)"
        )),
    })
}

/// Opens the state store as [`open_store`] does, to read it only: nothing is created, migrated
/// or written (`runs`, `status`), so a state file that cannot be written still reads.
pub fn open_store_read_only(
    state: Option<&str>,
    adapter: AdapterKind,
) -> Result<Arc<StateStore>, Error> {
    Ok(Arc::new(StateStore::open_read_only(&store_url(
        state, adapter,
    )?)?))
}

/// `--state`, else the default location (`rehearsal.db` for the simulator).
fn store_url(state: Option<&str>, adapter: AdapterKind) -> Result<StateUrl, Error> {
    Ok(match state {
        Some(url) => StateUrl::parse(url)?,
        None => match (StateUrl::default_location(), adapter) {
            (StateUrl::Sqlite(path), AdapterKind::Simulator) => {
                StateUrl::Sqlite(path.with_file_name("rehearsal.db"))
            }
            (url, _) => url,
        },
    })
}

/// Checks a plan and returns it; a plan with errors is refused, its diagnostics on stderr.
pub fn checked_plan(path: &Path, settings: &CheckSettings, color: bool) -> Result<Plan, Error> {
    let shown = path.display().to_string();
    let (checked, bytes) = read_and_check(path, &shown, settings, false)?;
    let diagnostics = check_set(std::slice::from_ref(&checked));
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let renderer = if color {
        annotate_snippets::Renderer::styled()
    } else {
        annotate_snippets::Renderer::plain()
    };
    let text = String::from_utf8_lossy(&bytes);
    for diagnostic in &diagnostics {
        crate::logs::diagnostic(
            diagnostic,
            &human::render_one(&renderer, diagnostic, Some(&text)),
        );
    }
    match checked.plan {
        Some(plan) if errors == 0 => Ok(plan),
        _ => Err(Error::PlanInvalid {
            path: path.to_path_buf(),
            errors: errors.max(1),
        }),
    }
}

/// An environment of `--sim-inventory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryEntry {
    project: u64,
    name: String,
    /// Any text: a type refreshctl does not know (or none) is reported as it is, so the
    /// production guard can be rehearsed; the simulated LCS treats it as production.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    release: String,
    id: Option<String>,
    /// `self-service` (the default) or `microsoft-managed`: LCS requires an update name to
    /// apply a package only on self-service environments.
    #[serde(default)]
    infrastructure: Option<crate::sim::Infrastructure>,
}

/// The simulator of a foreground rehearsal of `run` (`apply`, `resume`). A run continues in
/// the simulated world it began in: one that `tick` or `daemon` began goes on in their shared
/// world; any other has a world of its own (made from the plan's facts and `--sim-inventory`
/// on first use, kept in the store for `resume`), so every rehearsal behaves as the first did,
/// whatever was rehearsed before. The simulated clock starts at `now` (the real now, or
/// `--now`), or where the run already stands if that is later: a resumed run never goes back
/// in time. The shared world's clock is not touched.
pub fn simulator(
    store: &Arc<StateStore>,
    plan: &Plan,
    run: &RunRecord,
    faults: &[SimFault],
    inventory: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<(SimulatorAdapter, Clock), Error> {
    let own = rehearsal_key(&run.id);
    let begun = run
        .steps
        .iter()
        .any(|step| !matches!(step.state, StepState::Pending));
    // Asking for the rows after the last possible version reads only whether the model exists.
    let key = if begun && store.load_model(&own, Some(i64::MAX))?.is_none() {
        MODEL_KEY.to_owned()
    } else {
        own
    };
    let inventory = inventory.map(read_inventory).transpose()?;
    // Where the run stands: its last write, or the latest time a step started or finished (an
    // approval is written at the real time, which may lie before the rehearsal's simulated one;
    // status polls are not calls, so the world's last call may lie before it too).
    let stands = run
        .steps
        .iter()
        .filter_map(|step| match &step.state {
            StepState::Running { started } => Some(*started),
            StepState::Succeeded { finished, .. } | StepState::Failed { finished, .. } => {
                Some(*finished)
            }
            StepState::Pending | StepState::Skipped { .. } => None,
        })
        .fold(run.updated, DateTime::max);
    let clock = Clock::simulated(now.max(stands));
    let adapter = SimulatorAdapter::open(
        store.clone(),
        &key,
        clock.clone(),
        sim_faults(faults),
        || Lcs::new(Durations::default(), Faults::default(), now),
    )
    .and_then(|adapter| {
        adapter.update(|model| {
            if let Some(entries) = &inventory {
                add_inventory(model, entries);
            }
            seed(model, plan);
        })?;
        Ok(adapter)
    })
    .map_err(simulator_error)?;
    // A resumed rehearsal goes on from its own world's last call if that is later still.
    if key != MODEL_KEY
        && let Some(last) = adapter.model().calls.last().map(|record| record.at)
    {
        clock.advance_to(last);
    }
    Ok((adapter, clock))
}

/// A simulator that cannot be set up: unavailable (exit 3) when its state store is, else
/// refused.
pub fn simulator_error(error: crate::adapter::AdapterError) -> Error {
    match error {
        crate::adapter::AdapterError::Transient(message) => Error::Unavailable { message },
        other => Error::Refused {
            message: other.to_string(),
            hint: None,
        },
    }
}

/// The model's faults for `--sim-fault`.
#[must_use]
pub fn sim_faults(faults: &[SimFault]) -> Faults {
    Faults {
        refresh_fails: faults.contains(&SimFault::RefreshFails),
        deployment_fails: faults.contains(&SimFault::DeploymentFails),
        asset_rejected: faults.contains(&SimFault::AssetRejected),
        throttled_calls: if faults.contains(&SimFault::Throttle) {
            3
        } else {
            0
        },
    }
}

/// Adds the environments of an inventory file (a YAML list of `project`, `name`, `type`,
/// `release` and optionally `id`; `type` may be any text, or absent).
pub fn load_inventory(model: &mut Lcs, path: &Path) -> Result<(), Error> {
    add_inventory(model, &read_inventory(path)?);
    Ok(())
}

/// Reads an inventory file's environments.
pub fn read_inventory(path: &Path) -> Result<Vec<InventoryEntry>, Error> {
    let text = read_text_capped(path, MAX_DATA_BYTES, "simulator inventory")?;
    serde_saphyr::from_str(&text).map_err(|error| Error::Inventory {
        path: path.to_path_buf(),
        message: error.without_snippet().to_string(),
    })
}

/// Adds the inventory's environments the model does not know yet.
pub fn add_inventory(model: &mut Lcs, entries: &[InventoryEntry]) {
    let mut environments = Known::of(model);
    for entry in entries {
        let reported = entry.kind.as_deref().map(str::trim);
        let known = reported.and_then(crate::lcs::parse_environment_type);
        ensure_environment(
            model,
            &mut environments,
            entry.project,
            &entry.name,
            known.unwrap_or(EnvironmentType::Production),
            &entry.release,
            entry.id.as_deref(),
        );
        if let Some(infrastructure) = entry.infrastructure
            && let Some(environment) = model.environments.iter_mut().find(|environment| {
                environment.project == entry.project
                    && environment.name.eq_ignore_ascii_case(&entry.name)
            })
        {
            environment.infrastructure = infrastructure;
        }
        if known.is_none()
            && let Some(environment) = model.environments.iter_mut().find(|environment| {
                environment.project == entry.project
                    && environment.name.eq_ignore_ascii_case(&entry.name)
            })
        {
            environment.reported_type = Some(match reported.filter(|text| !text.is_empty()) {
                Some(text) => ReportedType::Text(text.to_owned()),
                None => ReportedType::Missing,
            });
        }
    }
}

/// Adds the plan's environments, from its facts, where the model does not know them yet.
pub fn seed(model: &mut Lcs, plan: &Plan) {
    seed_all(model, [plan]);
}

/// [`seed`] for many plans: the environments known are looked up in a set made once, not by a
/// walk over every environment for each plan (10,000 plans took half a billion instructions).
pub fn seed_all<'p>(model: &mut Lcs, plans: impl IntoIterator<Item = &'p Plan>) {
    // LCS reports one name per release: "1611" and "7.1" are both `7.1` there.
    let canonical = |release: &crate::plan::Release| {
        release
            .known
            .as_ref()
            .map_or_else(|| release.text.clone(), |known| known.version.to_string())
    };
    let mut known = Known::of(model);
    for plan in plans {
        let target = plan.environment();
        let release = target
            .release()
            .map(canonical)
            .or_else(|| {
                plan.source()
                    .and_then(|source| source.release().map(canonical))
            })
            .unwrap_or_else(|| "10.0.41".into());
        ensure_environment(
            model,
            &mut known,
            plan.project(),
            target.name(),
            target.kind().unwrap_or(EnvironmentType::Sandbox),
            &release,
            target.id(),
        );
        if let Some(source) = plan.source() {
            let source_release = source.release().map_or_else(|| release.clone(), canonical);
            ensure_environment(
                model,
                &mut known,
                plan.project(),
                source.name(),
                source.kind().unwrap_or(EnvironmentType::Production),
                &source_release,
                source.id(),
            );
        }
    }
}

/// The environments a model knows, by project and name without case (as the model matches
/// names).
struct Known(std::collections::HashSet<(u64, String)>);

impl Known {
    fn of(model: &Lcs) -> Self {
        Self(
            model
                .environments
                .iter()
                .map(|environment| (environment.project, environment.name.to_ascii_lowercase()))
                .collect(),
        )
    }
}

fn ensure_environment(
    model: &mut Lcs,
    known: &mut Known,
    project: u64,
    name: &str,
    kind: EnvironmentType,
    release: &str,
    id: Option<&str>,
) {
    if known.0.insert((project, name.to_ascii_lowercase())) {
        model.add_environment(project, name, kind, release, id);
    }
}

/// Where the last `tick` left the shared simulated world's time, if one did.
pub fn stored_clock(store: &StateStore) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(store
        .load_document(CLOCK_KEY)?
        .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        .map(|stored| stored.to_utc()))
}

/// Keeps the shared simulated world's time, so the next `tick` starts no earlier; a tick side
/// by side that ended earlier never moves it back.
pub fn save_clock(store: &StateStore, clock: &Clock) -> Result<(), Error> {
    if clock.is_simulated() {
        store.raise_document(CLOCK_KEY, &crate::state::time(clock.now()))?;
    }
    Ok(())
}

/// Where downloaded packages are kept: `$XDG_CACHE_HOME/refreshctl`, else `~/.cache/refreshctl`.
#[must_use]
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("refreshctl")
}

/// Writes run progress to stderr: plain lines, or JSON lines; on a terminal the same lines with
/// a live bar below them. The bar says which step runs, for how long, and, while a step waits
/// on a remote operation, the operation's status as last polled, its id and when the next poll
/// is due. It is cleared when the run stops; the last line says how the run ended, once.
pub struct Progress {
    format: LogFormat,
    /// Simulated time is shown as such, so nobody mistakes a rehearsal for the real thing.
    simulated: bool,
    bar: Option<indicatif::ProgressBar>,
    /// What the bar says about the current step, shared with its drawing.
    live: Arc<std::sync::Mutex<Live>>,
    steps: usize,
    done: usize,
    /// Set while a prompt has the bar out of the way: lines printed meanwhile go straight to
    /// stderr (the bar is held by the prompt, and printing through it would wait for ever).
    prompting: Arc<std::sync::atomic::AtomicBool>,
}

/// The current step as the bar shows it.
#[derive(Debug, Default)]
struct Live {
    step: Option<String>,
    started: Option<DateTime<Utc>>,
    /// The remote status last polled, the operation and the next poll.
    polled: Option<(String, String, DateTime<Utc>)>,
    /// The end of a wait that is not a poll (the window).
    until: Option<DateTime<Utc>>,
    /// The time of the last event, and when it came in (for the elapsed time on a wall clock
    /// between events).
    last: Option<(DateTime<Utc>, std::time::Instant)>,
    simulated: bool,
}

impl Live {
    /// The bar's three lines after the counts, each short enough for an 80-column terminal:
    /// the step; the remote status and the operation (or how long the step has run); how long
    /// and the next poll (or the end of the wait).
    fn lines(&self) -> [String; 3] {
        let Some(step) = &self.step else {
            return [String::new(), String::new(), String::new()];
        };
        let elapsed = match (self.started, self.last) {
            (Some(started), Some((at, received))) => {
                let mut now = at;
                if !self.simulated {
                    now += chrono::TimeDelta::from_std(received.elapsed()).unwrap_or_default();
                }
                let seconds = (now - started).num_seconds().max(0);
                format!(
                    "{} elapsed",
                    crate::plan::time::format_duration(chrono::TimeDelta::seconds(seconds))
                )
            }
            _ => String::new(),
        };
        match (&self.polled, self.until) {
            (Some((status, operation, next)), _) => [
                step.clone(),
                format!("  {status}, operation {operation}"),
                format!("  {elapsed}, next poll at {}", format_utc(*next)),
            ],
            (None, Some(until)) => [
                step.clone(),
                format!("  {elapsed}"),
                format!("  waiting until {}", format_utc(until)),
            ],
            (None, None) => [step.clone(), format!("  {elapsed}"), String::new()],
        }
    }
}

impl Progress {
    /// `done` of `steps` steps have succeeded already (a resumed run).
    #[must_use]
    pub fn new(format: LogFormat, simulated: bool, steps: usize, done: usize) -> Self {
        use std::io::IsTerminal as _;
        let live = Arc::new(std::sync::Mutex::new(Live {
            simulated,
            ..Live::default()
        }));
        let on_terminal = format == LogFormat::Text && std::io::stderr().is_terminal();
        let bar = on_terminal.then(|| {
            let bar = indicatif::ProgressBar::new(steps as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {bar:30} {pos}/{len} steps  {step}\n{detail}\n{timing}",
            ) {
                let key = |line: usize| {
                    let shown = live.clone();
                    move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        let text = shown
                            .lock()
                            .map(|live| live.lines()[line].clone())
                            .unwrap_or_default();
                        let _ = out.write_str(&text);
                    }
                };
                bar.set_style(
                    style
                        .progress_chars("=> ")
                        .with_key("step", key(0))
                        .with_key("detail", key(1))
                        .with_key("timing", key(2)),
                );
            }
            bar.set_position(done as u64);
            // The bar moves on its own (spinner, elapsed time) while a step waits.
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
            bar
        });
        Self {
            format,
            simulated,
            bar,
            live,
            steps,
            done,
            prompting: Arc::default(),
        }
    }

    /// Prints a line (above the bar on a terminal).
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => crate::logs::notice(crate::logs::Severity::Info, text),
        }
    }

    /// Prints lines (above the bar on a terminal) from wherever it is handed, as this does.
    pub fn printer(&self) -> impl Fn(&str) + Send + 'static {
        let bar = self.bar.clone();
        let prompting = self.prompting.clone();
        move |text: &str| match &bar {
            Some(bar) if !prompting.load(std::sync::atomic::Ordering::SeqCst) => bar.println(text),
            _ => crate::logs::notice(crate::logs::Severity::Info, text),
        }
    }

    /// Runs `ask` (a prompt) with the bar out of the way.
    pub fn suspend<R>(&self, ask: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => {
                use std::sync::atomic::Ordering;
                self.prompting.store(true, Ordering::SeqCst);
                let answer = bar.suspend(ask);
                self.prompting.store(false, Ordering::SeqCst);
                answer
            }
            None => ask(),
        }
    }

    /// A waiting step was approved outside the executor (`--yes`, the prompt): it counts as
    /// done, and `line` says so.
    pub fn approved(&mut self, line: &str) {
        self.done += 1;
        if let Ok(mut live) = self.live.lock() {
            live.step = None;
            live.polled = None;
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.line(line);
    }

    /// The run stopped without ending (a signal, a step that waits for a person): the bar goes.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn timestamp(&self, at: DateTime<Utc>) -> String {
        let clock = if self.simulated { "simulated " } else { "" };
        format!("[{clock}{}]", format_utc(at))
    }

    /// Keeps what the bar shows up to date with `event`.
    fn follow(&self, event: &Event) {
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        live.last = Some((event.at, std::time::Instant::now()));
        match event.kind {
            EventKind::StepStarted => {
                live.step.clone_from(&event.step);
                live.started = Some(event.at);
                live.polled = None;
                live.until = None;
            }
            EventKind::StepSucceeded | EventKind::StepFailed | EventKind::StepSkipped => {
                live.step = None;
                live.polled = None;
                live.until = None;
            }
            EventKind::Waiting if live.polled.is_none() => live.until = event.until,
            EventKind::Polled => {
                if live.step.is_none() {
                    live.step.clone_from(&event.step);
                    live.started = Some(event.at);
                }
                if let (Some(operation), Some(until)) = (&event.operation, event.until) {
                    live.polled = Some((event.message.clone(), operation.clone(), until));
                }
            }
            _ => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

impl EventSink for Progress {
    fn event(&mut self, event: &Event) {
        if self.format == LogFormat::Json {
            crate::logs::progress_event(event, self.simulated);
            return;
        }
        let at = self.timestamp(event.at);
        if let Some(bar) = &self.bar {
            self.follow(event);
            if matches!(
                event.kind,
                EventKind::StepSucceeded | EventKind::StepSkipped
            ) {
                bar.inc(1);
            }
            bar.tick();
        }
        if matches!(
            event.kind,
            EventKind::StepSucceeded | EventKind::StepSkipped
        ) {
            self.done += 1;
        }
        // Polls are quiet in lines: the bar shows them, and only waits of an hour or more (a
        // window) get a line.
        if event.kind == EventKind::Polled
            || event.kind == EventKind::Waiting
                && event
                    .until
                    .is_some_and(|until| until - event.at < chrono::TimeDelta::hours(1))
        {
            return;
        }
        let what = match event.kind {
            EventKind::RunState => format!("run {}", event.message),
            _ => event.message.clone(),
        };
        let ended = event.kind == EventKind::RunState
            && matches!(
                event.message.as_str(),
                "succeeded" | "failed" | "rejected" | "canceled"
            );
        match &self.bar {
            // The last line, once: how the run ended and how many steps it did; then the bar goes.
            Some(bar) if ended => {
                bar.println(format!("{at} {what} ({}/{} steps)", self.done, self.steps));
                bar.finish_and_clear();
            }
            _ => self.line(&format!("{at} {what}")),
        }
    }
}
