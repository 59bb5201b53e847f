//! Adapters: the closed set of back ends a plan runs through, what each can do, and the contract
//! they all keep (`contract`). The planner uses the capabilities for `adapter-unsupported`.

mod backoff;
mod contract;
mod lcs;
mod power_platform;
pub mod redact;
mod simulator;

use std::fmt;

pub use bytes::Bytes;
pub use contract::{
    Adapter, AdapterError, AssetInfo, BlockData, DatabaseRequest, EnvironmentFacts, FileRange,
    HistoryItem, LiveType, UploadTarget, shown_wait,
};
pub use lcs::{Credentials, DEFAULT_API_URL, DEFAULT_AUTH_URL, LcsAdapter, RetryPolicy};
pub use power_platform::{PowerPlatformAdapter, PowerPlatformConfig, restore_point, retention_of};
pub use simulator::{MODEL_KEY, SimulatorAdapter, rehearsal_key};

/// The adapters, chosen by `--adapter` or `REFRESHCTL_ADAPTER`, and recorded in every run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AdapterKind {
    /// An in-process model of LCS on simulated time: a rehearsal, nothing real is touched.
    Simulator,
    /// The real Lifecycle Services REST API.
    Lcs,
    /// The Power Platform API: copy and point-in-time restore of unified F&O environments.
    PowerPlatform,
}

/// What an adapter can do beyond the operations every adapter has.
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent yes-or-no capabilities, read by name"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Restore the target's own database to a point in time (the LCS API has no such call).
    pub point_in_time_restore: bool,
    /// Restore a copy to a point other than `latest`.
    pub refresh_to_point_in_time: bool,
    /// Reset Financial reporting; without it the step becomes a manual one.
    pub reset_financial_reporting: bool,
    /// Upload and apply software deployable packages (`reprovision`, `deploy`).
    pub deployable_packages: bool,
    /// Export a database to the project's asset library (`export`).
    pub database_export: bool,
    /// How many database operations the service starts on one environment within a span of
    /// time (`operation-limit`); `None`: the service declares no such limit.
    pub operation_limit: Option<OperationLimit>,
    /// The reprovisioning tool needs the hotfixes of the target's release, from the
    /// prerequisite catalog (`missing-hotfix`, and preflight on the live release).
    pub release_prerequisites: bool,
}

/// A limit on the database operations that start on one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationLimit {
    /// The operations allowed within `hours`.
    pub operations: usize,
    /// The span of time, in hours, that the limit counts within.
    pub hours: i64,
}

/// LCS's limit: 3 database operations per environment per 24 hours.
pub const LCS_OPERATION_LIMIT: OperationLimit = OperationLimit {
    operations: 3,
    hours: 24,
};

impl AdapterKind {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Simulator => "simulator",
            Self::Lcs => "lcs",
            Self::PowerPlatform => "power-platform",
        }
    }

    /// The service the adapter speaks for, as messages name it.
    #[must_use]
    pub const fn service_name(self) -> &'static str {
        match self {
            // The simulator is a model of LCS, and says so.
            Self::Simulator | Self::Lcs => "LCS",
            Self::PowerPlatform => "Power Platform",
        }
    }

    /// The adapter of this name, as runs record it (`None`: not one this build knows).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
    }

    /// Whether runs through this adapter touch real environments (everything but the
    /// simulator): a store such an adapter has used refuses rehearsals unless asked.
    #[must_use]
    pub const fn is_real(self) -> bool {
        !matches!(self, Self::Simulator)
    }

    #[must_use]
    pub const fn capabilities(self) -> Capabilities {
        match self {
            // The simulator rehearses what LCS does: Financial reporting is reset by hand there
            // too (LCS has no call for it), so a rehearsal shows the manual step a real run has.
            Self::Simulator => Capabilities {
                point_in_time_restore: true,
                refresh_to_point_in_time: true,
                reset_financial_reporting: false,
                deployable_packages: true,
                database_export: true,
                operation_limit: Some(LCS_OPERATION_LIMIT),
                release_prerequisites: true,
            },
            Self::Lcs => Capabilities {
                point_in_time_restore: false,
                refresh_to_point_in_time: false,
                reset_financial_reporting: false,
                deployable_packages: true,
                database_export: true,
                operation_limit: Some(LCS_OPERATION_LIMIT),
                release_prerequisites: true,
            },
            Self::PowerPlatform => Capabilities {
                point_in_time_restore: true,
                refresh_to_point_in_time: true,
                reset_financial_reporting: false,
                deployable_packages: false,
                database_export: false,
                operation_limit: None,
                release_prerequisites: false,
            },
        }
    }
}

impl fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
