//! Every validation rule: its stable id, severity, what it checks, why, and a plan that fires it.
//!
//! The examples are real plans: a test validates each one (at [`EXAMPLE_NOW`]) and asserts the
//! rule fires, so `refreshctl explain` never shows an example that does not do what it says.

use std::fmt;

use serde::Serialize;

/// The `--now` the examples are written for.
pub const EXAMPLE_NOW: &str = "2026-11-24T12:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a rule looks at one plan or at the plans validated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Plan,
    PlanSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Syntax,
    Schema,
    LeadTime,
    WindowPassed,
    WindowTooShort,
    Acknowledgements,
    UnsupportedDatabase,
    ProductionTarget,
    SameSourceTarget,
    ReleaseMismatch,
    PointInTime,
    MissingHotfix,
    UnknownRelease,
    ChannelNames,
    ReprovisionRecommended,
    FinancialReportingReset,
    CronDayFields,
    MissingFile,
    SchedulerSlack,
    DuplicateName,
    WindowOverlap,
    SourceInUse,
    OperationLimit,
    InconsistentFacts,
    AdapterUnsupported,
}

/// What `explain` says about a rule.
pub struct Explanation {
    pub fires_when: &'static str,
    pub why: &'static str,
    /// Plans (one file each) that, validated together at [`EXAMPLE_NOW`], fire the rule.
    pub example: &'static [&'static str],
    /// Flags the example needs besides `--now`.
    pub example_flags: &'static [&'static str],
}

impl Rule {
    pub const ALL: [Self; 25] = [
        Self::Syntax,
        Self::Schema,
        Self::LeadTime,
        Self::WindowPassed,
        Self::WindowTooShort,
        Self::Acknowledgements,
        Self::UnsupportedDatabase,
        Self::ProductionTarget,
        Self::SameSourceTarget,
        Self::ReleaseMismatch,
        Self::PointInTime,
        Self::MissingHotfix,
        Self::UnknownRelease,
        Self::ChannelNames,
        Self::ReprovisionRecommended,
        Self::FinancialReportingReset,
        Self::CronDayFields,
        Self::MissingFile,
        Self::SchedulerSlack,
        Self::DuplicateName,
        Self::WindowOverlap,
        Self::SourceInUse,
        Self::OperationLimit,
        Self::InconsistentFacts,
        Self::AdapterUnsupported,
    ];

    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::Schema => "schema",
            Self::LeadTime => "lead-time",
            Self::WindowPassed => "window-passed",
            Self::WindowTooShort => "window-too-short",
            Self::Acknowledgements => "acknowledgements",
            Self::UnsupportedDatabase => "unsupported-database",
            Self::ProductionTarget => "production-target",
            Self::SameSourceTarget => "same-source-target",
            Self::ReleaseMismatch => "release-mismatch",
            Self::PointInTime => "point-in-time",
            Self::MissingHotfix => "missing-hotfix",
            Self::UnknownRelease => "unknown-release",
            Self::ChannelNames => "channel-names",
            Self::ReprovisionRecommended => "reprovision-recommended",
            Self::FinancialReportingReset => "financial-reporting-reset",
            Self::CronDayFields => "cron-day-fields",
            Self::MissingFile => "missing-file",
            Self::SchedulerSlack => "scheduler-slack",
            Self::DuplicateName => "duplicate-name",
            Self::WindowOverlap => "window-overlap",
            Self::SourceInUse => "source-in-use",
            Self::OperationLimit => "operation-limit",
            Self::InconsistentFacts => "inconsistent-facts",
            Self::AdapterUnsupported => "adapter-unsupported",
        }
    }

    #[must_use]
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.id() == id)
    }

    #[must_use]
    pub const fn severity(self) -> Severity {
        match self {
            Self::WindowPassed
            | Self::WindowTooShort
            | Self::UnknownRelease
            | Self::ReprovisionRecommended
            | Self::FinancialReportingReset
            | Self::CronDayFields
            | Self::SchedulerSlack
            | Self::SourceInUse => Severity::Warning,
            _ => Severity::Error,
        }
    }

    #[must_use]
    pub const fn scope(self) -> Scope {
        match self {
            Self::DuplicateName
            | Self::WindowOverlap
            | Self::SourceInUse
            | Self::OperationLimit
            | Self::InconsistentFacts
            | Self::AdapterUnsupported => Scope::PlanSet,
            _ => Scope::Plan,
        }
    }

    /// One line: what the rule checks.
    #[must_use]
    pub const fn summary(self) -> &'static str {
        match self {
            Self::Syntax => "the file is well-formed YAML, UTF-8, not empty and at most 1 MiB",
            Self::Schema => {
                "keys, types, names, times, durations, cron, zones and templates are valid"
            }
            Self::LeadTime => {
                "the request is made at least `lead_time` (and 24h) before the window"
            }
            Self::WindowPassed => "a fixed window has not already ended",
            Self::WindowTooShort => "the window covers the expected downtime of about 2 hours",
            Self::Acknowledgements => "the operator accepted that the target is erased and offline",
            Self::UnsupportedDatabase => "the database is one LCS can refresh (the F&O database)",
            Self::ProductionTarget => "the target is not a production environment",
            Self::SameSourceTarget => "the source and the target are different environments",
            Self::ReleaseMismatch => "source and target run the same application release",
            Self::PointInTime => "the point in time lies within backup retention before the window",
            Self::MissingHotfix => "the target has the KBs the reprovisioning tool needs",
            Self::UnknownRelease => "the release is a spelling the prerequisite catalog knows",
            Self::ChannelNames => "the default channel database and data group are named `Default`",
            Self::ReprovisionRecommended => "the plan runs the Environment reprovisioning tool",
            Self::FinancialReportingReset => "the plan resets Financial reporting afterwards",
            Self::CronDayFields => {
                "a cron expression does not restrict both the day of the month and of the week"
            }
            Self::MissingFile => "the local files the steps name exist (packages, programs)",
            Self::SchedulerSlack => {
                "a recurring plan's lead time leaves an hour for a scheduler that starts late"
            }
            Self::DuplicateName => "plan names are unique in a plan set",
            Self::WindowOverlap => "no two plans refresh one environment in overlapping windows",
            Self::SourceInUse => "no plan copies from an environment while another refreshes it",
            Self::OperationLimit => "at most 3 database operations start on an environment in 24h",
            Self::InconsistentFacts => "plans agree on the facts of an environment they share",
            Self::AdapterUnsupported => {
                "the plan's service (or the chosen adapter) can do what the plan asks"
            }
        }
    }

    #[must_use]
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per rule, each a small table row"
    )]
    pub fn explanation(self) -> Explanation {
        let none: &'static [&'static str] = &[];
        let (fires_when, why, example, example_flags): (&str, &str, &[&str], &[&str]) = match self {
            Self::Syntax => (
                "the file is not well-formed YAML, not UTF-8, empty, larger than 1 MiB, or exceeds \
                 the parser's budgets (aliases, nesting depth, node count).",
                "Nothing else can be checked in a file that cannot be read; the budgets stop alias \
                 bombs and pathological nesting before they cost memory or time.",
                &["version: 1\nname: [unclosed\n"],
                none,
            ),
            Self::Schema => (
                "a key is unknown, a value has the wrong type, a required key is missing, or a \
                 name, time, duration, cron expression, zone, URL or template is invalid; also \
                 both or neither of `duration`/`end` and of `start`/`cron`, an `end` not after \
                 `start`, a `version` other than 1, and a manual step's `on_timeout` without a \
                 `timeout`, `remind_every` without `on_timeout: remind`, a `timeout` under 1m or \
                 a `remind_every` under 15m.",
                "A plan that does not mean exactly one thing must not run; every such problem is \
                 reported with its place, and unknown keys get a \"did you mean\" hint.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00+01:00, duraton: 3h}\nacknowledge: [target-database-erased, target-unavailable]\n",
                ],
                none,
            ),
            Self::LeadTime => (
                "a fixed window starts less than `lead_time` after now (and has not started yet), \
                 or `lead_time` is under 24h.",
                "Users of the target must get notice: LCS asks for requests at least 24 hours \
                 before the downtime window, and a team may promise more.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-11-25T08:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::WindowPassed => (
                "a fixed window ended at or before now.",
                "A plan for a window in the past can never run; it is usually a plan that was \
                 applied and should be removed or moved to its next date.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-11-01T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::WindowTooShort => (
                "the window is shorter than the expected downtime, 2 hours.",
                "A refresh keeps the target offline for about 2 hours; a shorter window promises \
                 users an environment that will not be back in time.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 45m}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::Acknowledgements => (
                "`target-database-erased` or `target-unavailable` is missing from `acknowledge` \
                 (one diagnostic per missing statement).",
                "The LCS portal makes the operator tick these statements; a plan records that \
                 someone accepted them in review.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::UnsupportedDatabase => (
                "`database` is `entity-store` or `financial-reporting`.",
                "Only the F&O database is copied or restored; the Entity store and the Financial \
                 reporting database cannot be refreshed this way.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\ndatabase: entity-store\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::ProductionTarget => (
                "`environment.type` is `production`.",
                "The target's database is erased; production is never a refresh target (LCS \
                 supports production to sandbox and sandbox to sandbox only).",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-prod, type: production}\nsource: {name: contoso-uat, type: sandbox}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::SameSourceTarget => (
                "`source` names the same environment as `environment` (same name or same id).",
                "Copying an environment onto itself erases the data it would copy.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-uat, type: sandbox}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::ReleaseMismatch => (
                "both releases are given and differ.",
                "LCS copies a database only between environments on the same application release; \
                 the refresh would fail at the start of the window.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox, release: \"10.0.40\"}\nsource: {name: contoso-prod, type: production, release: \"10.0.41\"}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::PointInTime => (
                "an absolute or relative point in time falls after the window start, or earlier \
                 than backup retention before it: 28 days when the database comes from a \
                 production environment, 7 days otherwise (the source's type, else the target's; \
                 unknown: 7 days).",
                "A point that is not yet in the past when the window opens, or no longer in the \
                 backups, cannot be restored.",
                &[
                    "version: 1\nname: uat-restore\nproject: 1234567\nenvironment: {name: contoso-test, type: sandbox}\npoint_in_time: -10d\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::MissingHotfix => (
                "the plan reprovisions and the target's release needs KBs (see the prerequisite \
                 catalog) that `hotfixes` does not list; one diagnostic names every missing KB.",
                "The Environment reprovisioning tool fails on older releases without these \
                 hotfixes, after the database was already replaced.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox, release: \"7.3\", hotfixes: [KB4035399]}\nsource: {name: contoso-prod, type: production, release: \"7.3\"}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::UnknownRelease => (
                "a `release` is given but is not a spelling the prerequisite catalog knows.",
                "Prerequisites cannot be checked for a release the catalog does not know; it is \
                 often a typo (\"10.41\" for \"10.0.41\").",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox, release: \"10.41\"}\nsource: {name: contoso-prod, type: production, release: \"10.41\"}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::ChannelNames => (
                "the plan reprovisions and `channel_database` or `channel_data_group` is given and \
                 is not exactly `Default`.",
                "The reprovisioning tool looks for the default channel database and data group by \
                 the name `Default`; renamed ones must be renamed back first.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox, channel_database: Contoso}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::ReprovisionRecommended => (
                "`post_steps` has no `reprovision` step.",
                "Microsoft recommends running the Environment reprovisioning tool after every \
                 database movement, whether or not Retail is used.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::FinancialReportingReset => (
                "`post_steps` has no `reset-financial-reporting` step.",
                "The Financial reporting database is not copied with the F&O database and must \
                 be reset afterwards, or reports show the old data.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision]\n",
                ],
                none,
            ),
            Self::CronDayFields => (
                "a recurring window's cron expression restricts both the day of the month and the \
                 day of the week (neither is `*`).",
                "Cron starts a window on a day that matches either field, not both: `0 1 1-7 * \
                 SUN` means days 1 to 7 and every Sunday, about ten refreshes a month, not the \
                 first Sunday. `SUN#1` (the first Sunday), `SUN#2` and `SUNL` (the last) say \
                 what such a plan usually means.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {cron: \"0 1 1-7 * SUN\", duration: 4h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::MissingFile => (
                "a `deploy` or `reprovision` step names a local `file` that does not exist or is \
                 not a regular file, or a `command` step's program is a path (with a `/`) to a \
                 file that does not exist or is not executable; paths are relative to the plan's \
                 directory.",
                "These steps run after the refresh: a missing package or script would fail the \
                 run when the target's database has already been replaced. Preflight checks \
                 again before anything is sent.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting, {deploy: {file: packages/not-there.zip, name: Customizations}}]\n",
                ],
                none,
            ),
            Self::SchedulerSlack => (
                "a recurring window's `lead_time` (24h when not given) is less than 25h: less \
                 than an hour above the 24 hours' notice.",
                "Each occurrence is submitted `lead_time` before its window by whatever runs \
                 `tick` (cron, a Kubernetes CronJob, a CI schedule, the daemon). Schedulers start \
                 late, GitHub's scheduled workflows by up to an hour, and a submission too late \
                 for 24 hours' notice is skipped (after five minutes' grace), never made late: \
                 with `lead_time: 24h` a late pass loses the week's refresh.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {cron: \"0 22 * * SAT\", duration: 6h}\nlead_time: 24h\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::DuplicateName => (
                "two plans validated together share a `name`.",
                "Run ids are built from the plan name; two plans with one name would share runs.",
                &[
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-test, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-12T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::WindowOverlap => (
                "two plans target the same environment (same project and name) with overlapping \
                 windows; recurring windows are expanded over the next 35 days.",
                "Only one database operation can run on an environment at a time; the second \
                 would fail or erase the first one's result.",
                &[
                    "version: 1\nname: uat-weekly\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {cron: \"0 22 * * SAT\", timezone: UTC, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                    "version: 1\nname: uat-once\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T23:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::SourceInUse => (
                "a plan copies from an environment that another plan refreshes in an overlapping \
                 window.",
                "The copy would take a database that is being replaced, or fail because the source \
                 is busy.",
                &[
                    "version: 1\nname: test-refresh\nproject: 1234567\nenvironment: {name: contoso-test, type: sandbox}\nsource: {name: contoso-uat, type: sandbox}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                    "version: 1\nname: uat-refresh\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T21:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::OperationLimit => (
                "more than 3 database operations start on one environment within any 24 hours \
                 (a refresh or restore, and each `export` step, before or after it).",
                "LCS allows 3 database operations per environment per 24 hours, exports \
                 included; the fourth call is refused.",
                &[
                    "version: 1\nname: uat-hourly\nproject: 1234567\nenvironment: {name: contoso-dev, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {cron: \"0 */4 * * *\", duration: 2h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                    "version: 1\nname: uat-copies\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox}\nsource: {name: contoso-prod, type: production}\nwindow: {start: 2026-12-05T22:00:00Z, duration: 6h}\nacknowledge: [target-database-erased, target-unavailable]\npre_steps: [export, export]\npost_steps: [reprovision, reset-financial-reporting, export]\n",
                ],
                none,
            ),
            Self::InconsistentFacts => (
                "two plans declare different facts of the same environment (the same project \
                 and name, in any case), as target or as source: its `type`, `release`, `id`, \
                 `channel_database` or `channel_data_group`. Both places are errors.",
                "An environment has one release and one type: one of the plans is wrong, and the \
                 safety, prerequisite and release checks of that plan are made against facts \
                 that are not true; its run would be refused at preflight, or worse, go ahead.",
                &[
                    "version: 1\nname: uat-weekly\nproject: 1234567\nenvironment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}\nsource: {name: contoso-prod, type: production, release: \"10.0.41\"}\nwindow: {cron: \"0 22 * * SAT\", timezone: UTC, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                    "version: 1\nname: test-weekly\nproject: 1234567\nenvironment: {name: contoso-test, type: sandbox, release: \"10.0.40\"}\nsource: {name: contoso-prod, type: production, release: \"10.0.40\"}\nwindow: {cron: \"0 22 * * SUN\", timezone: UTC, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
            Self::AdapterUnsupported => (
                "the adapter the plan runs through cannot do what the plan asks: the plan's \
                 `service` (`lcs` or `power-platform`), else `--adapter NAME`. The LCS API has no \
                 point-in-time restore, so a plan without a `source`, or with a `point_in_time` \
                 other than `latest`, fails for `lcs`; the Power Platform API has no deployable \
                 packages and no bacpac export, so `reprovision`, `deploy` and `export` fail for \
                 `power-platform`. A real `--adapter` other than the plan's `service` fires it \
                 too, at `service` (so `apply` and `tick` refuse such a run).",
                "Better to learn in CI that a plan can only be done in the portal than at the \
                 start of its window; `service` makes CI check it without a flag.",
                &[
                    "version: 1\nname: uat-restore\nservice: lcs\nproject: 1234567\nenvironment: {name: contoso-test, type: sandbox}\npoint_in_time: -6h\nwindow: {start: 2026-12-05T22:00:00Z, duration: 3h}\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                ],
                none,
            ),
        };
        Explanation {
            fires_when,
            why,
            example,
            example_flags,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
            assert!(seen.insert(rule.id()), "duplicate id {rule}");
        }
        assert_eq!(Rule::from_id("no-such-rule"), None);
    }

    #[test]
    fn every_rule_has_an_example() {
        for rule in Rule::ALL {
            assert!(
                !rule.explanation().example.is_empty(),
                "{rule} has no example"
            );
        }
    }
}
