//! The closed sets of words a plan uses: environment types, databases, acknowledgements, step
//! kinds and notification events. Each is spelled in YAML exactly as `as_str` returns.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The type of an F&O environment, as LCS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvironmentType {
    /// The live environment: never a refresh target (`production-target`), the usual source.
    Production,
    /// A Tier 2 or higher sandbox (UAT, test, training): the usual target.
    Sandbox,
    /// A development or test environment (Tier 1, cloud-hosted).
    Development,
    /// A build environment (Tier 1): not a source.
    Build,
}

impl EnvironmentType {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Sandbox => "sandbox",
            Self::Development => "development",
            Self::Build => "build",
        }
    }
}

/// The service a plan is meant for: which back end does its refresh for real. `validate` then
/// checks what that service's adapter supports without `--adapter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// Microsoft Dynamics Lifecycle Services (the `lcs` adapter).
    Lcs,
    /// The Power Platform admin center, for F&O environments managed there.
    PowerPlatform,
}

impl Service {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lcs => "lcs",
            Self::PowerPlatform => "power-platform",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The database a plan replaces. Only the F&O database can be refreshed or restored this way;
/// the other two are known so that `unsupported-database` can say why, instead of "unknown value".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Database {
    /// The Finance and Operations database: the one a refresh or restore replaces (the default).
    #[default]
    FinanceOperations,
    /// The Entity store: not restorable this way (`unsupported-database`).
    EntityStore,
    /// The Financial reporting database: not restorable this way (`unsupported-database`);
    /// reset it after a refresh with `reset-financial-reporting`.
    FinancialReporting,
}

impl Database {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FinanceOperations => "finance-operations",
            Self::EntityStore => "entity-store",
            Self::FinancialReporting => "financial-reporting",
        }
    }
}

/// A statement the operator accepts by listing it under `acknowledge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Acknowledgement {
    /// The target's database is erased and cannot be recovered.
    TargetDatabaseErased,
    /// The target is offline until the refresh has finished.
    TargetUnavailable,
}

impl Acknowledgement {
    pub const ALL: [Self; 2] = [Self::TargetDatabaseErased, Self::TargetUnavailable];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TargetDatabaseErased => "target-database-erased",
            Self::TargetUnavailable => "target-unavailable",
        }
    }

    #[must_use]
    pub const fn statement(self) -> &'static str {
        match self {
            Self::TargetDatabaseErased => "the target's database is erased and cannot be recovered",
            Self::TargetUnavailable => "the target is offline until the refresh has finished",
        }
    }
}

/// The kinds of post step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Reprovision,
    ResetFinancialReporting,
    Deploy,
    Command,
    Manual,
    Export,
}

impl StepKind {
    pub const ALL: [Self; 6] = [
        Self::Reprovision,
        Self::ResetFinancialReporting,
        Self::Deploy,
        Self::Command,
        Self::Manual,
        Self::Export,
    ];
    pub const NAMES: [&'static str; 6] = [
        "reprovision",
        "reset-financial-reporting",
        "deploy",
        "command",
        "manual",
        "export",
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reprovision => "reprovision",
            Self::ResetFinancialReporting => "reset-financial-reporting",
            Self::Deploy => "deploy",
            Self::Command => "command",
            Self::Manual => "manual",
            Self::Export => "export",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a manual step does when it is not approved within its `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnTimeout {
    /// Fail the run and release the environment (the default).
    Fail,
    /// Keep waiting, and send an `awaiting-approval` reminder then and every `remind_every`.
    Remind,
}

impl OnTimeout {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Remind => "remind",
        }
    }
}

/// The moments a notification can be sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationEvent {
    /// The request was recorded, `lead_time` before the window: the notice to the target's users.
    Submitted,
    /// Preflight passed with the adapter's live facts.
    Accepted,
    /// Preflight refused the run (a production or unknown target type, an environment not found,
    /// rules failing on live facts, a target held by another run).
    Rejected,
    /// The window opened and the run started: the target goes offline.
    Started,
    /// A manual step waits for `refreshctl approve`; sent again as a reminder when the step's
    /// `timeout` passes with `on_timeout: remind`.
    AwaitingApproval,
    /// A call's outcome could not be proven: an operator checks the service (LCS, the Power Platform), then `resume --retry-step`
    /// or `cancel`.
    NeedsAttention,
    /// The refresh and every post step succeeded.
    Succeeded,
    /// The refresh or a post step failed.
    Failed,
    /// The run was canceled before it started.
    Canceled,
    /// A recurring occurrence was skipped because 24 hours' notice could no longer be given.
    Skipped,
    /// The service could not be reached for the run's preflight: the run stays submitted and is
    /// tried again (sent once per outage, not on every attempt).
    Delayed,
    /// An operator moved the run to another window (`reschedule`); the body has both windows.
    Rescheduled,
}

impl NotificationEvent {
    pub const ALL: [Self; 12] = [
        Self::Submitted,
        Self::Accepted,
        Self::Rejected,
        Self::Started,
        Self::AwaitingApproval,
        Self::NeedsAttention,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
        Self::Skipped,
        Self::Delayed,
        Self::Rescheduled,
    ];
}
