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
                  input error; 3 the environment failed."
)]
pub struct Cli {
    /// The adapter plans run through; with `validate` and `plan`, also check what it supports.
    #[arg(long, global = true, value_enum, env = "REFRESHCTL_ADAPTER")]
    pub adapter: Option<AdapterKind>,

    /// When to colour human output (`NO_COLOR` is honoured).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check plans: files or directories (searched for *.yaml and *.yml), default `plans/`.
    Validate(ValidateArgs),
    /// Preview what applying a plan would do, without doing anything.
    Plan(PlanArgs),
    /// List every validation rule.
    Rules(RulesArgs),
    /// Explain one rule: what it checks, why, and a plan that fires it.
    Explain(ExplainArgs),
    /// Print the JSON Schema of the plan format (draft-07).
    Schema,
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
    /// Plan files or directories.
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

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    crate::plan::time::parse_time(text).map(|time| time.with_timezone(&Utc))
}
