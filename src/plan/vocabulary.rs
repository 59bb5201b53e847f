//! The closed sets of words a plan uses: environment types, databases, acknowledgements, step
//! kinds and notification events. Each is spelled in YAML exactly as `as_str` returns.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The type of an F&O environment, as LCS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvironmentType {
    Production,
    Sandbox,
    Development,
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
    #[default]
    FinanceOperations,
    EntityStore,
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
}

impl StepKind {
    pub const ALL: [Self; 5] = [
        Self::Reprovision,
        Self::ResetFinancialReporting,
        Self::Deploy,
        Self::Command,
        Self::Manual,
    ];
    pub const NAMES: [&'static str; 5] = [
        "reprovision",
        "reset-financial-reporting",
        "deploy",
        "command",
        "manual",
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reprovision => "reprovision",
            Self::ResetFinancialReporting => "reset-financial-reporting",
            Self::Deploy => "deploy",
            Self::Command => "command",
            Self::Manual => "manual",
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

/// The moments a notification can be sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationEvent {
    Submitted,
    Accepted,
    Rejected,
    Started,
    AwaitingApproval,
    NeedsAttention,
    Succeeded,
    Failed,
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
