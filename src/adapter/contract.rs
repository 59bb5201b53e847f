//! The adapter contract (SPEC 6): typed requests and results for every operation a run needs.
//! Every adapter answers the same way, which `tests/common/adapter_conformance.rs` checks.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::plan::{EnvironmentType, PowerPlatformOptions};
use crate::sim::{DatabaseStatus, DeploymentStatus, ValidationStatus};

/// An environment's live facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFacts {
    pub id: String,
    pub name: String,
    /// The type as the service reported it; see [`LiveType::guard`].
    pub kind: LiveType,
    /// The application release as LCS names it, such as `10.0.41`.
    pub release: Option<String>,
    /// Whether an operation or deployment runs on it now, where the adapter can tell.
    pub busy: Option<bool>,
}

/// An environment's type as the service reported it, kept verbatim so a refusal can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveType {
    /// The service gave no type (null, missing or blank).
    Missing,
    /// A type refreshctl recognises; `reported` is the service's own spelling.
    Known {
        kind: EnvironmentType,
        reported: String,
    },
    /// A type refreshctl does not recognise, as the service spelled it.
    Unrecognised(String),
}

/// Reported types longer than this are cut in messages (a hostile peer could send megabytes).
const REPORTED_TYPE_SHOWN: usize = 80;

impl LiveType {
    /// Reads a reported type with LCS's spellings (which include the plan's own words).
    #[must_use]
    pub fn reported(text: Option<&str>) -> Self {
        match text.map(str::trim).filter(|text| !text.is_empty()) {
            None => Self::Missing,
            Some(text) => match crate::lcs::parse_environment_type(text) {
                Some(kind) => Self::Known {
                    kind,
                    reported: text.to_owned(),
                },
                None => Self::Unrecognised(text.to_owned()),
            },
        }
    }

    /// A type the adapter knows for certain (the simulator's own model).
    #[must_use]
    pub fn known(kind: EnvironmentType) -> Self {
        Self::Known {
            kind,
            reported: crate::lcs::environment_type_name(kind).to_owned(),
        }
    }

    /// The type, where refreshctl recognises it.
    #[must_use]
    pub fn kind(&self) -> Option<EnvironmentType> {
        match self {
            Self::Known { kind, .. } => Some(*kind),
            Self::Missing | Self::Unrecognised(_) => None,
        }
    }

    /// The production guard (SPEC 5.6, 11): a destructive call may go to the environment
    /// `name` only when its type is positively known to be non-production. Production, a
    /// missing type and any type refreshctl does not recognise are refused, with the type as
    /// the service reported it.
    pub fn guard(&self, name: &str) -> Result<EnvironmentType, String> {
        self.guard_on("LCS", name)
    }

    /// [`LiveType::guard`], with the service that reported the type named in the refusal.
    pub fn guard_on(&self, service: &str, name: &str) -> Result<EnvironmentType, String> {
        match self {
            Self::Known {
                kind:
                    kind @ (EnvironmentType::Sandbox
                    | EnvironmentType::Development
                    | EnvironmentType::Build),
                ..
            } => Ok(*kind),
            Self::Known {
                kind: EnvironmentType::Production,
                reported,
            } => Err(format!(
                "the target `{name}` is a production environment ({service} reports its type as `{}`); refusing",
                shown(reported)
            )),
            Self::Unrecognised(reported) => Err(format!(
                "{service} reports the type of the target `{name}` as `{}`, which refreshctl does not know to be non-production; refusing",
                shown(reported)
            )),
            Self::Missing => Err(format!(
                "{service} reports no type for the target `{name}`, so refreshctl does not know it to be non-production; refusing"
            )),
        }
    }
}

/// A reported type for a message: control characters escaped, cut to a readable length.
fn shown(reported: &str) -> String {
    let mut text: String = reported
        .chars()
        .take(REPORTED_TYPE_SHOWN)
        .flat_map(|c| {
            if c.is_control() || c == '`' {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if reported.chars().count() > REPORTED_TYPE_SHOWN {
        text.push('…');
    }
    text
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

/// The bytes of one block of an upload.
#[derive(Debug, Clone)]
pub enum BlockData {
    /// In memory, shared, not copied: a retry sends the same bytes.
    Bytes(Bytes),
    /// A range of an open package, read as it is sent (and read again for a retry), so that a
    /// block in flight holds a buffer or two of the HTTP client rather than the whole block.
    File(FileRange),
}

/// `len` bytes of `file` from `offset`; `path` names it in messages.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Arc<File>,
    pub path: Arc<Path>,
    pub offset: u64,
    pub len: u64,
}

impl BlockData {
    /// The block's size in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::File(range) => range.len,
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for BlockData {
    fn from(bytes: Bytes) -> Self {
        Self::Bytes(bytes)
    }
}

impl From<Vec<u8>> for BlockData {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes.into())
    }
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
    /// The service said no (LCS: HTTP 200 with `IsSuccess: false`; the Power Platform: a 4xx
    /// with its `errorDetail`): permanent for this call. The message names the call.
    #[error("refused: {0}")]
    Refused(String),
    /// The operation ran and failed; the message says where (stage) and why.
    #[error("{0}")]
    OperationFailed(String),
    /// The 3-operations-per-24-hours limit, recognised from LCS's message.
    #[error("LCS refused: {0} (LCS allows 3 database operations per environment per 24 hours)")]
    OperationLimit(String),
    /// Throttled (HTTP 429): try again after the wait.
    #[error("throttled: LCS asked to retry after {}", shown_wait(*.0))]
    Throttled(Duration),
    /// An answer that cannot be used for this call (larger than refreshctl reads, say); sending
    /// the call again would not change it.
    #[error("{0}")]
    BadAnswer(String),
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
    /// Keeping the adapter's own state failed, or a local file it writes (a download) or reads
    /// (a package being uploaded).
    #[error("{0}")]
    State(String),
}

/// A wait as an operator reads it: `10d`, `1h 30m`, `5s`.
#[must_use]
pub fn shown_wait(wait: Duration) -> String {
    chrono::TimeDelta::from_std(wait).map_or_else(
        |_| format!("{}s", wait.as_secs()),
        crate::plan::time::format_duration,
    )
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

/// A database operation to start: a copy of `source` into `target` (as it is now, or as it was
/// at `point`), or, without a source, a restore of the target's own database to `point`.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseRequest<'a> {
    pub source: Option<&'a str>,
    pub target: &'a str,
    pub point: Option<DateTime<Utc>>,
    /// The earliest the call is sent (the window's start, at preflight): a restore point is
    /// judged against then, not against now.
    pub not_before: Option<DateTime<Utc>>,
    /// The plan's Power Platform options (other adapters ignore them).
    pub options: &'a PowerPlatformOptions,
}

/// The operations of SPEC 6. Calls that change an environment (start refresh, start restore,
/// start export, apply update) are sent once per call; everything else may be repeated.
#[allow(
    async_fn_in_trait,
    reason = "adapters are a closed set used within this crate"
)]
pub trait Adapter {
    fn name(&self) -> &'static str;

    /// Which of the closed set this is (notifications say which adapter ran the run).
    fn kind(&self) -> super::AdapterKind;

    fn capabilities(&self) -> super::Capabilities;

    /// The service this adapter speaks for, as messages name it (`LCS`, `Power Platform`).
    fn service_name(&self) -> &'static str {
        self.kind().service_name()
    }

    /// Checks `request` on the service's live facts beyond what every preflight checks (the
    /// Power Platform's candidates, regions, retention); a refusal is `Refused`.
    async fn preflight(
        &self,
        _project: u64,
        _request: &DatabaseRequest<'_>,
    ) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Starts the database operation of `request` (sent once, like `start_refresh`).
    async fn start_database_operation(
        &self,
        project: u64,
        request: &DatabaseRequest<'_>,
    ) -> Result<String, AdapterError> {
        match request.source {
            Some(source) => self.start_refresh(project, source, request.target).await,
            None => {
                self.start_restore(project, request.target, request.point)
                    .await
            }
        }
    }

    /// After a database operation succeeded: how the target was left, as lines for the run's
    /// log, having done what the options ask (re-enabling it).
    async fn after_database_operation(
        &self,
        _project: u64,
        _request: &DatabaseRequest<'_>,
    ) -> Result<Vec<String>, AdapterError> {
        Ok(Vec::new())
    }

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

    /// Exports the environment's database to the project's asset library as the bacpac
    /// `backup` (no extension); returns the operation's activity id. Its status is a database
    /// operation's, keyed by the exported environment.
    async fn start_export(
        &self,
        project: u64,
        environment: &str,
        backup: &str,
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

    /// Puts one block; a retry sends the same bytes (a file's range is read again).
    async fn upload_block(
        &self,
        target: &UploadTarget,
        block: &str,
        data: BlockData,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_type_known_to_be_non_production_passes_the_guard() {
        // (what the service reported, the type refreshctl reads, whether the guard lets it by)
        let table: [(Option<&str>, Option<EnvironmentType>, bool); 20] = [
            (Some("Sandbox"), Some(EnvironmentType::Sandbox), true),
            (Some("sandbox"), Some(EnvironmentType::Sandbox), true),
            (Some(" Tier2 "), Some(EnvironmentType::Sandbox), true),
            (
                Some("StandardAcceptanceTest"),
                Some(EnvironmentType::Sandbox),
                true,
            ),
            (Some("DevTest"), Some(EnvironmentType::Development), true),
            (Some("DevTestDev"), Some(EnvironmentType::Development), true),
            (
                Some("Development"),
                Some(EnvironmentType::Development),
                true,
            ),
            (Some("DevTestBuild"), Some(EnvironmentType::Build), true),
            (Some("Build"), Some(EnvironmentType::Build), true),
            (Some("Production"), Some(EnvironmentType::Production), false),
            (Some("PROD"), Some(EnvironmentType::Production), false),
            (Some("Production (Self-service)"), None, false),
            (Some("ProductionEnvironment"), None, false),
            (Some("Live"), None, false),
            (Some("Sandbox (Production copy)"), None, false),
            (Some("Sand box"), None, false),
            (Some("Sandbox\u{0}"), None, false),
            (Some(""), None, false),
            (Some("   "), None, false),
            (None, None, false),
        ];
        for (reported, kind, allowed) in table {
            let live = LiveType::reported(reported);
            assert_eq!(live.kind(), kind, "{reported:?}");
            let verdict = live.guard("contoso-uat");
            assert_eq!(verdict.is_ok(), allowed, "{reported:?}: {verdict:?}");
            if let Err(message) = verdict {
                assert!(message.contains("`contoso-uat`"), "{message}");
                assert!(message.ends_with("refusing"), "{message}");
                match reported.map(str::trim).filter(|text| !text.is_empty()) {
                    Some(text) if !text.contains('\u{0}') => {
                        assert!(message.contains(&format!("`{text}`")), "{message}");
                    }
                    Some(_) => assert!(message.contains("\\u{0}"), "{message}"),
                    None => assert!(message.contains("reports no type"), "{message}"),
                }
            }
        }
    }

    #[test]
    fn a_reported_type_is_named_verbatim_but_bounded() {
        let message = LiveType::reported(Some("Production (Self-service)"))
            .guard("uat")
            .unwrap_err();
        assert_eq!(
            message,
            "LCS reports the type of the target `uat` as `Production (Self-service)`, which refreshctl does not know to be non-production; refusing"
        );
        let huge = "x".repeat(10_000);
        let message = LiveType::reported(Some(&huge)).guard("uat").unwrap_err();
        assert!(message.len() < 300, "{}", message.len());
        assert!(message.contains('…'));
        let sneaky = LiveType::reported(Some("Sandbox`\nProduction")).guard("uat");
        assert!(!sneaky.unwrap_err().contains('\n'));
        assert_eq!(
            LiveType::known(EnvironmentType::Build).guard("b"),
            Ok(EnvironmentType::Build)
        );
    }
}
