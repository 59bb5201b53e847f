//! The adapter contract (SPEC 6): typed requests and results for every operation a run needs.
//! Every adapter answers the same way, which `tests/common/adapter_conformance.rs` checks.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::plan::EnvironmentType;
use crate::sim::{DatabaseStatus, DeploymentStatus, ValidationStatus};

/// An environment's live facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFacts {
    pub id: String,
    pub name: String,
    pub kind: Option<EnvironmentType>,
    /// The application release as LCS names it, such as `10.0.41`.
    pub release: Option<String>,
    /// Whether an operation or deployment runs on it now, where the adapter can tell.
    pub busy: Option<bool>,
}

/// An asset in a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    pub id: String,
    pub name: String,
    pub file_name: String,
    pub size: Option<u64>,
    /// When it was created or last changed, where the library says.
    pub modified: Option<DateTime<Utc>>,
}

/// A new project asset and where its bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    pub asset: String,
    /// The blob location LCS hands out (a SAS URL); for the simulator, the asset id. A secret.
    pub location: String,
}

/// One entry of an environment's history, used to find out after a crash whether a call was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    pub activity: String,
    pub name: String,
    pub started: Option<DateTime<Utc>>,
}

/// Why an adapter call failed, classified for the executor: retry, wait, or stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// LCS said no (HTTP 200 with `IsSuccess: false`): permanent for this call.
    #[error("LCS refused: {0}")]
    Refused(String),
    /// The 3-operations-per-24-hours limit, recognised from LCS's message.
    #[error("LCS refused: {0} (LCS allows 3 database operations per environment per 24 hours)")]
    OperationLimit(String),
    /// Throttled (HTTP 429): try again after the wait.
    #[error("throttled by LCS; retry after {}s", .0.as_secs())]
    Throttled(Duration),
    /// Might work if tried again (a connection failure, a timeout, a 5xx).
    #[error("{0}")]
    Transient(String),
    #[error("the {adapter} adapter cannot {operation}")]
    Unsupported {
        adapter: &'static str,
        operation: &'static str,
    },
    /// The service cannot be used at all: signing in was refused, or it cannot be configured.
    #[error("{0}")]
    Unavailable(String),
    /// Keeping the adapter's own state failed.
    #[error("{0}")]
    State(String),
}

impl AdapterError {
    /// Whether the same call may be sent again. Never true for a destructive call whose answer
    /// was lost: that is decided from the environment's history, not by retrying.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled(_) | Self::Transient(_))
    }

    /// Whether the failure says nothing about the request, only that the service could not be
    /// used for now: unreachable, timed out, a 5xx, an answer that is not the expected JSON,
    /// throttled, sign-in failing, or the adapter's own state. A run is never rejected for one
    /// of these (SPEC 11); only for what the service answered.
    #[must_use]
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Throttled(_) | Self::Transient(_) | Self::Unavailable(_) | Self::State(_)
        )
    }
}

/// The operations of SPEC 6. Destructive calls (start refresh, start restore, apply update) are
/// sent once per call; everything else may be repeated.
#[allow(
    async_fn_in_trait,
    reason = "adapters are a closed set used within this crate"
)]
pub trait Adapter {
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> super::Capabilities;

    /// Looks up an environment by id or name.
    async fn environment(&self, project: u64, key: &str) -> Result<EnvironmentFacts, AdapterError>;

    async fn start_refresh(
        &self,
        project: u64,
        source: &str,
        target: &str,
    ) -> Result<String, AdapterError>;

    async fn start_restore(
        &self,
        project: u64,
        target: &str,
        point: Option<DateTime<Utc>>,
    ) -> Result<String, AdapterError>;

    /// The status of a database operation, keyed by the target environment.
    async fn database_status(
        &self,
        project: u64,
        target: &str,
        activity: &str,
    ) -> Result<DatabaseStatus, AdapterError>;

    /// The environment's history, newest first.
    async fn history(
        &self,
        project: u64,
        environment: &str,
    ) -> Result<Vec<HistoryItem>, AdapterError>;

    /// The newest shared asset of type software deployable package with this name.
    async fn find_shared_asset(&self, name: &str) -> Result<Option<AssetInfo>, AdapterError>;

    /// Streams an asset to `destination`; returns its size.
    async fn download_asset(
        &self,
        project: u64,
        asset: &str,
        destination: &std::path::Path,
    ) -> Result<u64, AdapterError>;

    /// The project's software deployable packages (to find an asset this run created before a
    /// crash lost its id).
    async fn project_assets(&self, project: u64) -> Result<Vec<AssetInfo>, AdapterError>;

    /// Creates a project asset of type software deployable package.
    async fn create_asset(
        &self,
        project: u64,
        name: &str,
        file_name: &str,
    ) -> Result<UploadTarget, AdapterError>;

    /// Where the bytes of an existing project asset go, again: the location is a secret and is
    /// never kept in the state store, so a resumed upload asks for it anew.
    async fn upload_target(&self, project: u64, asset: &str) -> Result<UploadTarget, AdapterError>;

    /// Puts one block (shared, not copied: retries resend the same bytes).
    async fn upload_block(
        &self,
        target: &UploadTarget,
        block: &str,
        bytes: Bytes,
    ) -> Result<(), AdapterError>;

    async fn commit_blocks(
        &self,
        target: &UploadTarget,
        blocks: &[String],
    ) -> Result<(), AdapterError>;

    async fn commit_asset(&self, project: u64, asset: &str) -> Result<(), AdapterError>;

    async fn validation_status(
        &self,
        project: u64,
        asset: &str,
    ) -> Result<ValidationStatus, AdapterError>;

    async fn apply_update(
        &self,
        project: u64,
        environment: &str,
        asset: &str,
        update_name: &str,
    ) -> Result<String, AdapterError>;

    async fn deployment_status(
        &self,
        project: u64,
        environment: &str,
        activity: &str,
    ) -> Result<DeploymentStatus, AdapterError>;

    /// Resets Financial reporting, where the adapter can (see `Capabilities`).
    async fn reset_financial_reporting(
        &self,
        project: u64,
        environment: &str,
    ) -> Result<(), AdapterError>;
}
