//! The command line: clap structs only. Commands resolve these into their settings.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::adapter::AdapterKind;

#[derive(Debug, Parser)]
#[command(
    name = "refreshctl",
    version,
    about = "Database refreshes of Dynamics 365 Finance and Operations environments as checked-in YAML plans",
    after_help = "Exit codes: 0 success; 1 the checked thing is bad or the run failed; 2 usage or \
                  input error; 3 the environment failed; 4 (tick) a run waits for a person; \
                  130 and 143 a foreground run stopped by SIGINT or SIGTERM, left to resume."
)]
pub struct Cli {
    /// The adapter plans run through (default: the simulator, a rehearsal); with `validate` and
    /// `plan`, also check what it supports for plans that name no `service`. A real adapter
    /// other than a plan's `service` is an error.
    #[arg(long, global = true, value_enum, env = "REFRESHCTL_ADAPTER")]
    pub adapter: Option<AdapterKind>,

    /// When to colour human output (`NO_COLOR` is honoured).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Where runs are kept (default: `$XDG_STATE_HOME/refreshctl/state.db`, else
    /// `~/.local/state/refreshctl/state.db`; rehearsals on the simulator in `rehearsal.db` beside
    /// it). SQLite: `sqlite:PATH` or `sqlite://PATH`, or a path that contains a `/` or `\`, or
    /// ends in `.db`, `.sqlite` or `.sqlite3` (`./state.db`, `runs.sqlite`). PostgreSQL:
    /// `postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=…` (or `postgresql://…`; also with
    /// `sslrootcert=PATH` and `schema=NAME`), or libpq's key/value form, `host=… port=… user=… password=… dbname=…
    /// sslmode=… sslrootcert=… schema=…`, quoted as libpq quotes (`dbname='my db'`). Anything
    /// else is refused (a bare `state` is written `./state` or `sqlite:state`).
    #[arg(long, global = true, value_name = "URL", env = "REFRESHCTL_STATE")]
    pub state: Option<String>,

    /// Let a rehearsal (the simulator) write into a state store that a real adapter has used;
    /// without it such a store refuses rehearsals. Rehearsal runs never count for real runs'
    /// windows, locks or schedule.
    #[arg(long, global = true)]
    pub allow_rehearsal_in_real_store: bool,

    /// How run progress and logs are written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail on stderr: -v every retry and sign-in, -vv every HTTP attempt.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check plans: files or directories (searched for *.yaml and *.yml), default `plans/`.
    #[command(
        after_help = "Examples:\n  refreshctl validate plans/\n  refreshctl validate --format sarif --deny-warnings plans/ > refreshctl.sarif\n  refreshctl validate --adapter lcs --now 2026-12-01T12:00:00Z plans/uat.yaml\n  git show HEAD:plans/uat.yaml | refreshctl validate -    # a plan on stdin"
    )]
    Validate(ValidateArgs),
    /// Preview what applying a plan would do, without doing anything.
    #[command(
        after_help = "Examples:\n  refreshctl plan plans/contoso-uat-weekly.yaml\n  refreshctl plan --format markdown plans/contoso-uat-weekly.yaml > preview.md"
    )]
    Plan(PlanArgs),
    /// List every validation rule.
    #[command(after_help = "Examples:\n  refreshctl rules\n  refreshctl rules --format json")]
    Rules(RulesArgs),
    /// Explain one rule: what it checks, why, and a plan that fires it.
    #[command(after_help = "Example:\n  refreshctl explain lead-time")]
    Explain(ExplainArgs),
    /// Print the JSON Schema of the plan format (draft-07).
    #[command(after_help = "Example:\n  refreshctl schema > schemas/refresh-plan.schema.json")]
    Schema,
    /// Print the bodies a plan's notifications would carry, rendered for its next window;
    /// `--send` sends one real message to each.
    NotifyPreview(NotifyPreviewArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) of refreshctl or of one command: `refreshctl man | man -l -`.
    Man(ManArgs),
    /// Write a commented starter plan from a few flags (asked for on a terminal when missing).
    Init(InitArgs),
    /// Submit the plan's next window and run it to the end, with progress.
    #[command(
        after_help = "Examples:\n  refreshctl apply --yes plans/contoso-uat-weekly.yaml    # a rehearsal\n  refreshctl --adapter lcs apply plans/contoso-uat-weekly.yaml\n  refreshctl --adapter lcs apply --start-now --reason \"INC-4711 data fix\" plans/uat.yaml"
    )]
    Apply(ApplyArgs),
    /// Record the request for the plan's next window; prints the run id.
    #[command(
        after_help = "Example:\n  refreshctl --adapter lcs submit plans/contoso-uat-weekly.yaml"
    )]
    Submit(SubmitArgs),
    /// List runs.
    #[command(after_help = "Examples:\n  refreshctl runs\n  refreshctl runs --format json")]
    Runs(RunsArgs),
    /// Show one run with its steps.
    #[command(after_help = "Example:\n  refreshctl status contoso-uat-weekly@20261205T2100Z")]
    Status(StatusArgs),
    /// An iCalendar feed (RFC 5545) of every planned window, for the people who use the
    /// environments: subscribe to it in Outlook, Google Calendar or Thunderbird.
    #[command(
        after_help = "Examples:\n  refreshctl calendar --plans plans/ > downtime.ics\n  refreshctl --adapter lcs calendar --environment contoso-uat --days 90 > contoso-uat.ics"
    )]
    Calendar(CalendarArgs),
    /// Every finished run: when, how long the environment was offline, how long the refresh
    /// took, and the outcome.
    #[command(
        after_help = "Examples:\n  refreshctl --adapter lcs history\n  refreshctl --adapter lcs history --environment contoso-uat --format csv > uat.csv"
    )]
    History(HistoryArgs),
    /// Move a run that has not started to another window.
    #[command(
        after_help = "Example:\n  refreshctl reschedule contoso-uat-weekly@20261205T2100Z --start 2026-12-12T22:00:00+01:00 --duration 6h"
    )]
    Reschedule(RescheduleArgs),
    /// Cancel a run that has not started.
    #[command(
        after_help = "Example:\n  refreshctl cancel contoso-uat-weekly@20261205T2100Z --reason \"UAT sign-off moved\""
    )]
    Cancel(CancelArgs),
    /// Approve a manual step that is waiting.
    #[command(
        after_help = "Example:\n  refreshctl approve contoso-uat-weekly@20261205T2100Z manual --reason \"checked the portal\""
    )]
    Approve(ApproveArgs),
    /// Continue an interrupted run; with --retry-step, run its failed post step again or send
    /// the call it needs attention for.
    #[command(
        after_help = "Examples:\n  refreshctl resume contoso-uat-weekly@20261205T2100Z\n  refreshctl resume --retry-step --reason \"package fixed\" contoso-uat-weekly@20261205T2100Z"
    )]
    Resume(ResumeArgs),
    /// One reconcile pass over all plans and runs, then exit: submit what is due, advance
    /// runs, never wait (for cron, Kubernetes `CronJob`s, CI schedules).
    #[command(
        after_help = "Exit 4 when the pass went well and a run waits for a person (an approval, or a call to check in LCS): it holds its environment until someone acts.\n\nExamples:\n  refreshctl --adapter lcs tick --plans plans/    # from cron, every minute\n  refreshctl tick --yes --now 2026-12-01T10:00:00Z --until 2027-12-01T00:00:00Z"
    )]
    Tick(TickArgs),
    /// Tick forever, sleeping until the next thing is due; stops cleanly on SIGTERM/SIGINT and
    /// reloads plans on SIGHUP or when the directory changes.
    #[command(
        after_help = "Example:\n  refreshctl --adapter lcs --state postgres://refreshctl@db/refreshctl daemon --plans plans/"
    )]
    Daemon(DaemonArgs),
    /// Serve the emulator: LCS's API and the Power Platform's, token endpoints and blob storage,
    /// on the simulator's model, for trying the lcs and power-platform adapters without touching
    /// either service.
    #[command(
        after_help = "Examples:\n  refreshctl emulator --plans plans\n  refreshctl emulator --speed 600 --fault 429=0.1,5xx=0.05"
    )]
    Emulator(EmulatorArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  refreshctl completions bash > ~/.local/share/bash-completion/completions/refreshctl\n  \
                        refreshctl completions zsh > \"${fpath[1]}/_refreshctl\"\n  \
                        refreshctl completions fish > ~/.config/fish/completions/refreshctl.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  refreshctl man | man -l -\n  \
                        refreshctl man validate > /usr/local/share/man/man1/refreshctl-validate.1")]
pub struct ManArgs {
    /// One command's page (`refreshctl-COMMAND(1)`); default: refreshctl's.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  refreshctl notify-preview plans/contoso-uat-weekly.yaml\n  \
                        refreshctl notify-preview --event failed --send plans/contoso-uat-weekly.yaml"
)]
pub struct NotifyPreviewArgs {
    /// The plan file.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Only this event (`submitted`, `started`, `failed`, …); default: every event each
    /// notification is sent on.
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,

    /// Also send one real message per notification (the `--event`, default `submitted`).
    #[arg(long)]
    pub send: bool,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  refreshctl init --name uat-weekly --project 1234567 \\\n    \
                        --environment contoso-uat --source contoso-prod --cron '0 22 * * SAT' \\\n    \
                        --timezone Europe/Amsterdam"
)]
pub struct InitArgs {
    /// Where to write the plan (`-`: standard output; default `plans/NAME.yaml`).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The plan's name: a-z, 0-9 and `-`, at most 63 characters.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The LCS project id.
    #[arg(long, value_name = "ID")]
    pub project: Option<String>,

    /// The target environment, whose database is replaced.
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,

    /// The environment whose database is copied into the target.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    /// Restore the target's own database to a point in time instead of copying a source.
    #[arg(long)]
    pub restore: bool,

    /// When each window starts, as a 5-field cron expression (default `0 22 * * SAT`).
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,

    /// The IANA time zone of the cron expression (default UTC).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,

    /// How long the target may be offline (default 6h).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// The address to listen on (port 0 picks a free one; the first line printed says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub listen: std::net::SocketAddr,

    /// How much faster than the wall clock the model's operations run (60: a 95-minute
    /// refresh takes 95 seconds).
    #[arg(long, value_name = "FACTOR", default_value_t = 60.0)]
    pub speed: f64,

    /// How long issued tokens live (wall time, or model time with `--token-clock model`).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub token_lifetime: chrono::TimeDelta,

    /// Which clock token lifetimes count on: `wall`, or `model` (sped up by `--speed`, so a
    /// token expires during a long wait as it would in LCS).
    #[arg(long, value_enum, value_name = "CLOCK", default_value_t = crate::emulator::TokenClock::Wall)]
    pub token_clock: crate::emulator::TokenClock,

    /// The password every user signs in with.
    #[arg(
        long,
        value_name = "TEXT",
        env = "REFRESHCTL_EMULATOR_PASSWORD",
        default_value = crate::commands::DEFAULT_EMULATOR_PASSWORD,
        hide_env_values = true
    )]
    pub password: String,

    /// Environments to know, from a YAML list (as for `--sim-inventory`).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// Plan files or directories whose environments to know (from their facts).
    #[arg(long, value_name = "PATH")]
    pub plans: Vec<PathBuf>,

    /// Faults by rate: KIND=RATE,… with kinds 429, 5xx, drop, slow, garbage.
    #[arg(long, value_name = "RATES")]
    pub fault: Option<String>,

    /// The seed of the fault dice.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Operations end badly in the model (repeatable).
    #[arg(long, value_enum, value_name = "FAULT")]
    pub sim_fault: Vec<SimFault>,

    /// Hand out SAS locations on this Azure Blob service (Azurite:
    /// `http://127.0.0.1:10000/devstoreaccount1`) instead of the emulator's own.
    #[arg(long, value_name = "URL")]
    pub blob_endpoint: Option<String>,

    /// The blob account's key (default: Azurite's well-known key).
    #[arg(
        long,
        value_name = "KEY",
        env = "REFRESHCTL_EMULATOR_BLOB_KEY",
        hide_env_values = true
    )]
    pub blob_key: Option<String>,

    /// Environment metadata calls allowed per project per minute, as LCS (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub metadata_per_minute: usize,

    /// Where uploaded blobs are kept (default: a temporary directory, removed on exit).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// What `tick` and `daemon` share.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Where the plans are: directories (searched for *.yaml and *.yml) or files.
    #[arg(long, value_name = "DIR", default_value = "plans")]
    pub plans: Vec<PathBuf>,

    /// This replica's name in run leases (default: HOST:PID).
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,

    /// How long a claim on a run lasts without a heartbeat (another replica takes the run
    /// over after that).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub lease: chrono::TimeDelta,

    /// What each pass did, on stdout.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,

    /// Use this prerequisite catalog instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct TickArgs {
    #[command(flatten)]
    pub schedule: ScheduleArgs,

    /// Simulator only: tick as if it were this time (simulated time never goes back).
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Simulator only: tick again at every due time until this time, to rehearse a season of
    /// the schedule in seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub schedule: ScheduleArgs,

    /// Between due times, how often to look whether plans changed or a run became due
    /// (approved, submitted by hand, left by a stopped replica).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub recheck: chrono::TimeDelta,

    /// Serve a read-only status page, JSON, a calendar and Prometheus metrics: on loopback port
    /// 9477 when given alone, or on `PORT` (loopback) or `IP:PORT` (`0.0.0.0:9477` for every
    /// interface). Off by default.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "9477", value_parser = parse_listen)]
    pub listen: Option<std::net::SocketAddr>,
}

/// `--listen`'s value: `PORT` (on loopback), or an IP address and port.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<std::net::SocketAddr>().map_err(|_| {
        format!(
            "`{text}` is not an address to listen on: give a port (`9477`, on loopback) or an IP \
             address and port (`127.0.0.1:9477`, `[::1]:9477`, `0.0.0.0:9477` for every interface)"
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How a run is executed.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Do not ask for confirmation; on the simulator, also approve manual steps (a rehearsal).
    #[arg(long)]
    pub yes: bool,

    /// The first wait between status polls (later waits back off to ten times this).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub poll_interval: chrono::TimeDelta,

    /// How long one step may wait on LCS before it fails (LCS says operations can take 24 h).
    #[arg(long, value_name = "DURATION", default_value = "30h", value_parser = parse_duration)]
    pub step_deadline: chrono::TimeDelta,

    /// Simulator: send the plan's notifications for real (a rehearsal renders them, sends none).
    #[arg(long)]
    pub notify: bool,

    /// Simulator: inject a fault (repeatable).
    #[arg(long, value_enum, value_name = "FAULT")]
    pub sim_fault: Vec<SimFault>,

    /// Simulator: environments to know, from a YAML file (default: from the plan's facts).
    #[arg(long, value_name = "FILE")]
    pub sim_inventory: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimFault {
    /// Database operations (refresh, restore, export) end `Failed`.
    RefreshFails,
    /// Deployments end `Failed`.
    DeploymentFails,
    /// Uploaded packages fail validation.
    AssetRejected,
    /// The first calls are throttled (429 with retry-after).
    Throttle,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Emergency: waive the lead time and start at once (needs --reason; audited).
    #[arg(long, requires = "reason")]
    pub start_now: bool,

    /// Why the lead time is waived; kept in the run and sent with every notification.
    #[arg(long, value_name = "TEXT", requires = "start_now")]
    pub reason: Option<String>,

    #[command(flatten)]
    pub run: RunOptions,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// Where the plans are: directories (searched for *.yaml and *.yml) or files.
    #[arg(long, value_name = "DIR", default_value = "plans")]
    pub plans: Vec<PathBuf>,

    /// The feed's first moment (default: now); windows still open then are included.
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub from: Option<DateTime<Utc>>,

    /// How many days from `--from` the feed covers.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u16).range(1..=3660))]
    pub days: u16,

    /// Only this target environment's windows (its name, any case).
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,

    /// Use this prerequisite catalog instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this target environment's runs (its name, any case).
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,

    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(value_name = "RUN")]
    pub run: String,

    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
}

/// Who acts on a run by hand, and why: kept in the run's log and shown by `status`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Who does this (default: the OS user, from `USER` or `LOGNAME`).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,

    /// Why; kept in the run's log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(value_name = "RUN")]
    pub run: String,

    #[command(flatten)]
    pub operator: OperatorArgs,

    /// Simulator: send the plan's notifications for real (a rehearsal renders them, sends none).
    #[arg(long)]
    pub notify: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[arg(value_name = "RUN")]
    pub run: String,

    #[arg(value_name = "STEP")]
    pub step: String,

    #[command(flatten)]
    pub operator: OperatorArgs,
}

#[derive(Debug, Args)]
pub struct RescheduleArgs {
    #[arg(value_name = "RUN")]
    pub run: String,

    /// The new window start (RFC 3339 with an offset).
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub start: DateTime<Utc>,

    /// The new window length (default: the old one's).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "end")]
    pub duration: Option<chrono::TimeDelta>,

    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub end: Option<DateTime<Utc>>,

    /// `latest`, a time, or a duration before the window such as -6h.
    #[arg(long, value_name = "POINT")]
    pub point_in_time: Option<String>,

    /// Check the lead time as if it were this time (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    #[command(flatten)]
    pub operator: OperatorArgs,

    /// Simulator: send the plan's notifications for real (a rehearsal renders them, sends none).
    #[arg(long)]
    pub notify: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[arg(value_name = "RUN")]
    pub run: String,

    /// Run a step again: the failed post step from its start (a new upload or deployment, the
    /// command again), or the call of the step the run needs attention for (after checking
    /// LCS). Never the refresh itself.
    #[arg(long)]
    pub retry_step: bool,

    /// Who asks for the retry, and why (`--by`, `--reason`); kept in the run's log.
    #[command(flatten)]
    pub operator: OperatorArgs,

    #[command(flatten)]
    pub options: RunOptions,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check as if it were this time (RFC 3339 with an offset); default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Use this prerequisite catalog instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Plan files or directories; `-` reads one plan from standard input, named `<stdin>` in
    /// diagnostics, with relative paths (templates, packages, scripts) from the current
    /// directory. Default: `plans/`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = ValidateFormat::Human)]
    pub format: ValidateFormat,

    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Source excerpts pointing at the line and column, and a summary.
    Human,
    /// One JSON object (SPEC 4).
    Json,
    /// GitHub Actions workflow annotations (and a step summary when `GITHUB_STEP_SUMMARY` is set).
    Github,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// `JUnit` XML: one test case per plan and rule.
    Junit,
    /// Azure Pipelines logging commands.
    Azure,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The plan file.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    #[arg(long, value_enum, default_value_t = PreviewFormat::Text)]
    pub format: PreviewFormat,

    /// Render the preview with this tera template instead (the context is the JSON preview).
    #[arg(long, value_name = "FILE", conflicts_with = "format")]
    pub template: Option<PathBuf>,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreviewFormat {
    Text,
    /// Fit for a pull-request comment.
    Markdown,
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The rule id, such as `lead-time`.
    #[arg(value_name = "RULE")]
    pub rule: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn parse_duration(text: &str) -> Result<chrono::TimeDelta, String> {
    crate::plan::time::parse_duration(text)
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    crate::plan::time::parse_time(text).map(|time| time.with_timezone(&Utc))
}
