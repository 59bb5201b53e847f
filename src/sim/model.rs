//! The model of LCS: environments, database operations, asset libraries, update deployments.
//!
//! Time is a parameter of every call, never read from a clock here. An operation is recorded with
//! its start, its duration and its outcome, and its status is computed from the time asked about,
//! so the model is deterministic and a rehearsal interrupted at any moment resumes consistently
//! once the model is stored. Every call that changes something is appended to a call log, which
//! tests read to prove that nothing was done twice.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::status::{DatabaseStatus, DeploymentStatus, ValidationStatus};
use crate::plan::EnvironmentType;

/// LCS's limit: database operations that start on one environment within 24 hours.
pub const OPERATIONS_PER_DAY: usize = 3;

/// The asset type of software deployable packages.
pub const SOFTWARE_DEPLOYABLE_PACKAGE: u32 = 10;

/// How long things take in the model (realistic, per lcs-api.md and the LCS documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Before a database operation leaves `NotStarted`.
    pub queue: TimeDelta,
    pub refresh: TimeDelta,
    pub restore: TimeDelta,
    /// A database export to a bacpac (absent from models stored before exports existed).
    #[serde(default = "default_export")]
    pub export: TimeDelta,
    /// From commit until the asset's validation is `Done` (`Process` for the second half).
    pub validation: TimeDelta,
    /// `PreparingEnvironment`, then `InProgress` for the rest of `deployment`.
    pub preparation: TimeDelta,
    pub deployment: TimeDelta,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            queue: TimeDelta::minutes(2),
            refresh: TimeDelta::minutes(95),
            restore: TimeDelta::minutes(70),
            export: default_export(),
            validation: TimeDelta::minutes(4),
            preparation: TimeDelta::minutes(10),
            deployment: TimeDelta::minutes(50),
        }
    }
}

fn default_export() -> TimeDelta {
    TimeDelta::minutes(80)
}

/// Faults to rehearse (`--sim-fault`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Database operations end `Failed`.
    pub refresh_fails: bool,
    /// Deployments end `Failed`.
    pub deployment_fails: bool,
    /// Asset validation ends `Failed`.
    pub asset_rejected: bool,
    /// This many calls are answered "throttled" (HTTP 429 with `retry-after` in LCS) first.
    pub throttled_calls: u32,
}

/// A time as .NET writes it in LCS answers: no offset, seven fractional digits (100 ns ticks),
/// such as `2019-09-30T04:01:01.9999999`.
#[must_use]
pub fn dotnet_time(time: DateTime<Utc>) -> String {
    use chrono::Timelike as _;
    format!(
        "{}.{:07}",
        time.format("%Y-%m-%dT%H:%M:%S"),
        time.nanosecond() % 1_000_000_000 / 100
    )
}

/// An environment the model knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub project: u64,
    pub id: String,
    pub name: String,
    pub kind: EnvironmentType,
    /// The application release, as LCS names it (`CurrentApplicationReleaseName`).
    pub release: String,
    /// What the model reports as the type where that is not `kind`'s own name: an inventory may
    /// declare a type refreshctl does not know, or none, to rehearse the production guard.
    /// `kind` is then how the simulated LCS itself treats the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_type: Option<ReportedType>,
    /// Who runs it (metadata's `EnvironmentInfrastructure`): LCS requires an update name to
    /// apply a package only on self-service environments.
    #[serde(default)]
    pub infrastructure: Infrastructure,
}

/// `EnvironmentInfrastructure` (lcs-api.md 2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Infrastructure {
    /// Modern infrastructure (the default for environments deployed today).
    #[default]
    #[serde(alias = "SelfService")]
    SelfService,
    #[serde(alias = "MicrosoftManaged")]
    MicrosoftManaged,
}

impl Infrastructure {
    /// As LCS writes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SelfService => "SelfService",
            Self::MicrosoftManaged => "MicrosoftManaged",
        }
    }
}

/// Whether two ids name the same thing as LCS matches them: GUIDs without regard to case or
/// to the dashes of their `D` form (LCS shows both forms); any other id exactly.
#[must_use]
pub fn same_id(a: &str, b: &str) -> bool {
    match (guid_digits(a), guid_digits(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// A GUID's 32 hex digits in lower case, if `text` is a GUID (`N` or `D` form, braces allowed).
/// On the stack: the simulated LCS compares ids this way on every lookup, over every
/// environment and operation it knows.
fn guid_digits(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let text = text
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
        .unwrap_or(text);
    let bytes = text.as_bytes();
    let dashed = bytes.len() == 36 && [8, 13, 18, 23].iter().all(|&at| bytes[at] == b'-');
    if bytes.len() != 32 && !dashed {
        return None;
    }
    let mut digits = [0_u8; 32];
    let mut count = 0;
    for &byte in bytes.iter().filter(|&&byte| byte != b'-') {
        if count == 32 || !byte.is_ascii_hexdigit() {
            return None;
        }
        digits[count] = byte.to_ascii_lowercase();
        count += 1;
    }
    (count == 32).then_some(digits)
}

/// An id looked up among many: [`same_id`] with its own GUID digits worked out once.
struct Wanted<'a> {
    text: &'a str,
    digits: Option<[u8; 32]>,
}

impl<'a> Wanted<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            digits: guid_digits(text),
        }
    }

    /// `same_id(candidate, self.text)`. A lookup compares thousands of candidates, most of
    /// them ids issued one after another, which differ in their last digits: those are told
    /// apart before all 32 are worked out.
    fn is(&self, candidate: &str) -> bool {
        match &self.digits {
            Some(digits) => {
                could_be_guid(candidate, digits) && guid_digits(candidate).as_ref() == Some(digits)
            }
            None => candidate == self.text,
        }
    }
}

/// Whether `text` may be the GUID with these digits (lower case): false only when it cannot
/// be. A GUID's last twelve characters, before any closing brace and blanks, are its last
/// twelve digits in both its `N` and its `D` form.
fn could_be_guid(text: &str, digits: &[u8; 32]) -> bool {
    let text = text.trim().as_bytes();
    let text = match text {
        [b'{', inner @ .., b'}'] => inner,
        text => text,
    };
    // From the last: that is where ids issued one after another differ.
    text.len() >= 32
        && text[text.len() - 12..]
            .iter()
            .rev()
            .zip(digits[20..].iter().rev())
            .all(|(character, digit)| character.to_ascii_lowercase() == *digit)
}

/// A type field that is not the plain name of a known type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportedType {
    /// No type at all (LCS answers `null`).
    Missing,
    /// This text, verbatim.
    Text(String),
}

impl Environment {
    /// The `EnvironmentType` LCS would answer for this environment.
    #[must_use]
    pub fn type_text(&self) -> Option<&str> {
        match &self.reported_type {
            None => Some(crate::lcs::environment_type_name(self.kind)),
            Some(ReportedType::Missing) => None,
            Some(ReportedType::Text(text)) => Some(text),
        }
    }
}

/// What a database operation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationKind {
    Refresh {
        source: String,
    },
    PointInTimeRestore {
        point: Option<DateTime<Utc>>,
    },
    /// A bacpac of the environment's database to the project's asset library, as the asset
    /// `asset` (listed once the export completed).
    Export {
        backup: String,
        asset: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub activity: String,
    pub project: u64,
    /// The target environment's id (the source's, for an export).
    pub environment: String,
    pub kind: OperationKind,
    pub started: DateTime<Utc>,
    pub fails: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub id: String,
    /// `None` for a shared (Microsoft) asset.
    pub project: Option<u64>,
    pub name: String,
    pub file_name: String,
    pub file_type: u32,
    pub size: u64,
    /// `FileDescription`, as created.
    #[serde(default)]
    pub description: Option<String>,
    /// `Version`, as created.
    #[serde(default)]
    pub version: Option<String>,
    /// Uploaded blocks not yet in a block list: (block id, bytes).
    pub uploaded_blocks: Vec<(String, u64)>,
    /// The committed block list (Put Block List).
    pub blob_blocks: Option<Vec<String>>,
    pub committed: Option<DateTime<Utc>>,
    pub rejected: bool,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub activity: String,
    pub project: u64,
    pub environment: String,
    pub asset: String,
    pub update_name: String,
    pub started: DateTime<Utc>,
    pub fails: bool,
}

/// A call that changed the model, for tests to count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    StartRefresh {
        source: String,
        target: String,
        activity: String,
    },
    StartRestore {
        environment: String,
        activity: String,
    },
    StartExport {
        environment: String,
        backup: String,
        activity: String,
    },
    CreateFileAsset {
        asset: String,
    },
    PutBlock {
        asset: String,
        block: String,
    },
    PutBlockList {
        asset: String,
    },
    CommitFileAsset {
        asset: String,
    },
    ApplyUpdate {
        environment: String,
        asset: String,
        activity: String,
    },
    ResetFinancialReporting {
        environment: String,
    },
}

impl Call {
    /// Whether the call changes an environment (the calls that must never be sent twice).
    #[must_use]
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Self::StartRefresh { .. }
                | Self::StartRestore { .. }
                | Self::StartExport { .. }
                | Self::ApplyUpdate { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub at: DateTime<Utc>,
    pub call: Call,
}

/// Why the model refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// LCS answers these as HTTP 200 with `IsSuccess: false` and this message.
    #[error("{0}")]
    Business(String),
    /// LCS answers these as HTTP 429 with `retry-after`.
    #[error("throttled; retry after {retry_after} s")]
    Throttled { retry_after: u32 },
}

/// The size of an exported bacpac in the model (the emulator serves that many bytes).
pub const BACKUP_SIZE: u64 = 1024 * 1024;

/// A database backup of the project's asset library (an export that completed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseBackup {
    pub id: String,
    pub name: String,
    pub file_name: String,
    /// The environment it was exported from.
    pub environment: String,
    pub created: DateTime<Utc>,
    pub size: u64,
}

/// An entry of an environment's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub activity: String,
    pub name: String,
    pub started: DateTime<Utc>,
}

/// The whole model, serializable so the simulator adapter can keep it in the state store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lcs {
    pub environments: Vec<Environment>,
    pub operations: Vec<Operation>,
    pub assets: Vec<Asset>,
    pub deployments: Vec<Deployment>,
    pub calls: Vec<CallRecord>,
    pub durations: Durations,
    pub faults: Faults,
    pub(super) next_id: u64,
}

impl Lcs {
    /// An empty model with the shared Environment reprovisioning tool in its shared library.
    #[must_use]
    pub fn new(durations: Durations, faults: Faults, now: DateTime<Utc>) -> Self {
        let mut model = Self {
            durations,
            faults,
            ..Self::default()
        };
        let id = model.new_id();
        model.assets.push(Asset {
            id,
            project: None,
            name: "Environment reprovisioning tool".into(),
            file_name: "RetailEnvironmentReprovisioningTool_10.0.41.zip".into(),
            file_type: SOFTWARE_DEPLOYABLE_PACKAGE,
            size: 3 * 1024 * 1024,
            description: Some("Retail environment reprovisioning tool".into()),
            version: Some("10.0.41".into()),
            uploaded_blocks: Vec::new(),
            blob_blocks: Some(Vec::new()),
            committed: Some(now - TimeDelta::days(30)),
            rejected: false,
            modified: now - TimeDelta::days(30),
        });
        model
    }

    /// A GUID-shaped id, deterministic in the order of creation.
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "5f1c2a7e-{:04x}-4000-8000-{:012x}",
            self.next_id >> 48,
            self.next_id
        )
    }

    /// Adds an environment; returns its id.
    pub fn add_environment(
        &mut self,
        project: u64,
        name: &str,
        kind: EnvironmentType,
        release: &str,
        id: Option<&str>,
    ) -> String {
        let id = id.map_or_else(|| self.new_id(), str::to_owned);
        self.environments.push(Environment {
            project,
            id: id.clone(),
            name: name.to_owned(),
            kind,
            release: release.to_owned(),
            reported_type: None,
            infrastructure: Infrastructure::default(),
        });
        id
    }

    /// Consumes one throttled answer, if any are left.
    fn throttle(&mut self) -> Result<(), SimError> {
        if self.faults.throttled_calls > 0 {
            self.faults.throttled_calls -= 1;
            return Err(SimError::Throttled { retry_after: 5 });
        }
        Ok(())
    }

    fn log(&mut self, at: DateTime<Utc>, call: Call) {
        self.calls.push(CallRecord { at, call });
    }

    /// Looks up an environment by id or (without case) by name, within a project.
    pub fn environment(&mut self, project: u64, key: &str) -> Result<Environment, SimError> {
        self.throttle()?;
        self.find_environment(project, key).cloned()
    }

    fn find_environment(&self, project: u64, key: &str) -> Result<&Environment, SimError> {
        self.environments
            .iter()
            .find(|environment| {
                environment.project == project
                    && (environment.id.eq_ignore_ascii_case(key)
                        || environment.name.eq_ignore_ascii_case(key))
            })
            .ok_or_else(|| SimError::NotFound {
                what: "environment",
                id: key.to_owned(),
            })
    }

    /// The environment an API call names by id, as LCS matches ids: never by name.
    fn environment_by_id(&self, project: u64, id: &str) -> Result<&Environment, SimError> {
        let wanted = Wanted::new(id);
        self.environments
            .iter()
            .find(|environment| environment.project == project && wanted.is(&environment.id))
            .ok_or_else(|| SimError::NotFound {
                what: "environment",
                id: id.to_owned(),
            })
    }

    /// Whether something runs on the environment at `now`.
    #[must_use]
    pub fn is_busy(&self, environment: &str, now: DateTime<Utc>) -> bool {
        let operation_running = self.operations.iter().any(|operation| {
            operation.environment == environment
                && !self.operation_status(operation, now).is_terminal()
        });
        let deployment_running = self.deployments.iter().any(|deployment| {
            deployment.environment == environment
                && !self.deployment_status(deployment, now).is_terminal()
        });
        operation_running || deployment_running
    }

    /// How many more database operations may start on the environment at `now`.
    #[must_use]
    pub fn operations_left(&self, environment: &str, now: DateTime<Utc>) -> usize {
        let recent = self
            .operations
            .iter()
            .filter(|operation| {
                operation.environment == environment
                    && now - operation.started < TimeDelta::hours(24)
            })
            .count();
        OPERATIONS_PER_DAY.saturating_sub(recent)
    }

    fn check_can_start(&self, target: &Environment, now: DateTime<Utc>) -> Result<(), SimError> {
        if target.kind == EnvironmentType::Production {
            return Err(SimError::Business(format!(
                "Environment {} is a production environment; it cannot be the target of a database operation.",
                target.name
            )));
        }
        if self.is_busy(&target.id, now) {
            return Err(SimError::Business(format!(
                "Environment {} is busy with another operation.",
                target.name
            )));
        }
        self.check_limit(target, now)
    }

    /// LCS's 3 database operations per environment per 24 hours, counted from their starts.
    fn check_limit(&self, target: &Environment, now: DateTime<Utc>) -> Result<(), SimError> {
        if self.operations_left(&target.id, now) == 0 {
            let oldest = self
                .operations
                .iter()
                .filter(|operation| operation.environment == target.id)
                .map(|operation| operation.started)
                .filter(|started| now - *started < TimeDelta::hours(24))
                .min()
                .unwrap_or(now);
            return Err(SimError::Business(format!(
                "Maximum allowed API operations are {OPERATIONS_PER_DAY} from {}",
                dotnet_time(oldest)
            )));
        }
        Ok(())
    }

    /// `databasemovement/v1/refresh`: copies the source's database into the target.
    pub fn start_refresh(
        &mut self,
        project: u64,
        source: &str,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<String, SimError> {
        self.throttle()?;
        let source = self.environment_by_id(project, source)?.clone();
        let target = self.environment_by_id(project, target)?.clone();
        if source.id == target.id {
            return Err(SimError::Business(
                "The source and target environments are the same.".into(),
            ));
        }
        if source.release != target.release {
            return Err(SimError::Business(format!(
                "The source ({}) and target ({}) must be on the same application release.",
                source.release, target.release
            )));
        }
        self.check_can_start(&target, now)?;
        let activity = self.new_id();
        self.operations.push(Operation {
            activity: activity.clone(),
            project,
            environment: target.id.clone(),
            kind: OperationKind::Refresh {
                source: source.id.clone(),
            },
            started: now,
            fails: self.faults.refresh_fails,
        });
        self.log(
            now,
            Call::StartRefresh {
                source: source.id,
                target: target.id,
                activity: activity.clone(),
            },
        );
        Ok(activity)
    }

    /// Point-in-time restore of an environment's own database (the portal can; the API cannot).
    pub fn start_restore(
        &mut self,
        project: u64,
        environment: &str,
        point: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<String, SimError> {
        self.throttle()?;
        let target = self.environment_by_id(project, environment)?.clone();
        if point.is_some_and(|point| point > now) {
            return Err(SimError::Business(
                "The point in time is in the future.".into(),
            ));
        }
        self.check_can_start(&target, now)?;
        let activity = self.new_id();
        self.operations.push(Operation {
            activity: activity.clone(),
            project,
            environment: target.id.clone(),
            kind: OperationKind::PointInTimeRestore { point },
            started: now,
            fails: self.faults.refresh_fails,
        });
        self.log(
            now,
            Call::StartRestore {
                environment: target.id,
                activity: activity.clone(),
            },
        );
        Ok(activity)
    }

    fn operation_status(&self, operation: &Operation, now: DateTime<Utc>) -> DatabaseStatus {
        let elapsed = now - operation.started;
        if elapsed < self.durations.queue {
            DatabaseStatus::NotStarted
        } else if now < self.operation_end(operation) {
            DatabaseStatus::InProgress
        } else if operation.fails {
            DatabaseStatus::Failed
        } else {
            DatabaseStatus::Completed
        }
    }

    /// When the operation ends (its `CompletionDate`).
    fn operation_end(&self, operation: &Operation) -> DateTime<Utc> {
        let duration = match operation.kind {
            OperationKind::Refresh { .. } => self.durations.refresh,
            OperationKind::PointInTimeRestore { .. } => self.durations.restore,
            OperationKind::Export { .. } => self.durations.export,
        };
        operation.started + self.durations.queue + duration
    }

    /// `databasemovement/v1/fetchstatus`, keyed by the target environment (the source, for an
    /// export).
    pub fn database_status(
        &mut self,
        environment: &str,
        activity: &str,
        now: DateTime<Utc>,
    ) -> Result<DatabaseStatus, SimError> {
        self.database_operation(environment, activity, now)
            .map(|(status, _)| status)
    }

    /// The status of a database operation and, once it ended, when (`CompletionDate`). Ids
    /// match as LCS matches them ([`same_id`]).
    pub fn database_operation(
        &mut self,
        environment: &str,
        activity: &str,
        now: DateTime<Utc>,
    ) -> Result<(DatabaseStatus, Option<DateTime<Utc>>), SimError> {
        self.throttle()?;
        let (wanted_activity, wanted_environment) =
            (Wanted::new(activity), Wanted::new(environment));
        let operation = self
            .operations
            .iter()
            .find(|operation| {
                wanted_activity.is(&operation.activity)
                    && wanted_environment.is(&operation.environment)
            })
            .ok_or_else(|| SimError::NotFound {
                what: "operation",
                id: activity.to_owned(),
            })?;
        let status = self.operation_status(operation, now);
        Ok((
            status,
            status.is_terminal().then(|| self.operation_end(operation)),
        ))
    }

    /// `databasemovement/v1/export`: a bacpac of a sandbox's database to the project's asset
    /// library, named `backup`. The export counts toward the 3 operations per 24 hours, and the
    /// environment is busy (unavailable) until it ends (lcs-api.md 2.1, 6 item 12).
    pub fn start_export(
        &mut self,
        project: u64,
        environment: &str,
        backup: &str,
        now: DateTime<Utc>,
    ) -> Result<String, SimError> {
        self.throttle()?;
        let source = self.environment_by_id(project, environment)?.clone();
        if source.kind != EnvironmentType::Sandbox {
            return Err(SimError::Business(format!(
                "Environment {} is not a sandbox; only sandbox databases can be exported.",
                source.name
            )));
        }
        let backup = backup.trim();
        if backup.is_empty() {
            return Err(SimError::Business("A backup name is required.".into()));
        }
        if self.is_busy(&source.id, now) {
            return Err(SimError::Business(format!(
                "Environment {} is busy with another operation.",
                source.name
            )));
        }
        self.check_limit(&source, now)?;
        let activity = self.new_id();
        let asset = self.new_id();
        self.operations.push(Operation {
            activity: activity.clone(),
            project,
            environment: source.id.clone(),
            kind: OperationKind::Export {
                backup: backup.to_owned(),
                asset,
            },
            started: now,
            fails: self.faults.refresh_fails,
        });
        self.log(
            now,
            Call::StartExport {
                environment: source.id,
                backup: backup.to_owned(),
                activity: activity.clone(),
            },
        );
        Ok(activity)
    }

    /// `databasemovement/v1/databases`: the project's database backups, one per export that
    /// completed by `now`, oldest first.
    #[must_use]
    pub fn database_backups(&self, project: u64, now: DateTime<Utc>) -> Vec<DatabaseBackup> {
        self.operations
            .iter()
            .filter(|operation| operation.project == project)
            .filter_map(|operation| {
                let OperationKind::Export { backup, asset } = &operation.kind else {
                    return None;
                };
                let status = self.operation_status(operation, now);
                status.is_success().then(|| DatabaseBackup {
                    id: asset.clone(),
                    name: backup.clone(),
                    file_name: format!("{backup}.bacpac"),
                    environment: operation.environment.clone(),
                    created: self.operation_end(operation),
                    size: BACKUP_SIZE,
                })
            })
            .collect()
    }

    /// The environment's history, newest first: database operations and deployments.
    #[must_use]
    pub fn history(&self, environment: &str) -> Vec<HistoryEntry> {
        let mut entries: Vec<HistoryEntry> = self
            .operations
            .iter()
            .filter(|operation| same_id(&operation.environment, environment))
            .map(|operation| HistoryEntry {
                activity: operation.activity.clone(),
                name: match operation.kind {
                    OperationKind::Refresh { .. } => "Database refresh".into(),
                    OperationKind::PointInTimeRestore { .. } => "Point-in-time restore".into(),
                    OperationKind::Export { .. } => "Database export".into(),
                },
                started: operation.started,
            })
            .chain(
                self.deployments
                    .iter()
                    .filter(|deployment| same_id(&deployment.environment, environment))
                    .map(|deployment| HistoryEntry {
                        activity: deployment.activity.clone(),
                        name: deployment.update_name.clone(),
                        started: deployment.started,
                    }),
            )
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.started));
        entries
    }

    /// `GetSharedAssets?fileType=…`: shared assets of a type, newest first.
    pub fn shared_assets(&mut self, file_type: u32) -> Result<Vec<Asset>, SimError> {
        self.throttle()?;
        let mut assets: Vec<Asset> = self
            .assets
            .iter()
            .filter(|asset| asset.project.is_none() && asset.file_type == file_type)
            .cloned()
            .collect();
        assets.sort_by_key(|asset| std::cmp::Reverse(asset.modified));
        Ok(assets)
    }

    fn asset_mut(&mut self, id: &str) -> Result<&mut Asset, SimError> {
        self.assets
            .iter_mut()
            .find(|asset| same_id(&asset.id, id))
            .ok_or_else(|| SimError::NotFound {
                what: "asset",
                id: id.to_owned(),
            })
    }

    /// `CreateFileAsset`: a new, empty project asset; returns its id.
    pub fn create_file_asset(
        &mut self,
        project: u64,
        name: &str,
        file_name: &str,
        file_type: u32,
        now: DateTime<Utc>,
    ) -> Result<String, SimError> {
        self.throttle()?;
        let id = self.new_id();
        self.assets.push(Asset {
            id: id.clone(),
            project: Some(project),
            name: name.to_owned(),
            file_name: file_name.to_owned(),
            file_type,
            size: 0,
            description: None,
            version: None,
            uploaded_blocks: Vec::new(),
            blob_blocks: None,
            committed: None,
            rejected: false,
            modified: now,
        });
        self.log(now, Call::CreateFileAsset { asset: id.clone() });
        Ok(id)
    }

    /// Put Block on the asset's blob.
    pub fn put_block(
        &mut self,
        asset: &str,
        block: &str,
        bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<(), SimError> {
        let record = self.asset_mut(asset)?;
        if record.committed.is_some() {
            return Err(SimError::Business("The asset is already committed.".into()));
        }
        record.uploaded_blocks.retain(|(id, _)| id != block);
        record.uploaded_blocks.push((block.to_owned(), bytes));
        self.log(
            now,
            Call::PutBlock {
                asset: asset.to_owned(),
                block: block.to_owned(),
            },
        );
        Ok(())
    }

    /// Put Block List: the blob becomes these blocks, in this order.
    pub fn put_block_list(
        &mut self,
        asset: &str,
        blocks: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), SimError> {
        let record = self.asset_mut(asset)?;
        let mut size = 0;
        for block in blocks {
            let (_, bytes) = record
                .uploaded_blocks
                .iter()
                .find(|(id, _)| id == block)
                .ok_or_else(|| {
                    SimError::Business(format!("The block {block} was not uploaded."))
                })?;
            size += bytes;
        }
        record.size = size;
        record.blob_blocks = Some(blocks.to_vec());
        self.log(
            now,
            Call::PutBlockList {
                asset: asset.to_owned(),
            },
        );
        Ok(())
    }

    /// `CommitFileAsset`: validation starts.
    pub fn commit_file_asset(&mut self, asset: &str, now: DateTime<Utc>) -> Result<(), SimError> {
        self.throttle()?;
        let rejected = self.faults.asset_rejected;
        let record = self.asset_mut(asset)?;
        if record.blob_blocks.is_none() {
            return Err(SimError::Business(
                "Nothing was uploaded to the asset's location.".into(),
            ));
        }
        if record.committed.is_none() {
            record.committed = Some(now);
            record.rejected = rejected;
            record.modified = now;
        }
        self.log(
            now,
            Call::CommitFileAsset {
                asset: asset.to_owned(),
            },
        );
        Ok(())
    }

    /// lcs-api.md 3.3: `Unknown` until the asset is committed (validation has not started),
    /// then `Process` until it is validated, then `Done` (or a failure). A client that waits
    /// while the status is `Process`, as d365fo.tools' `Get-D365LcsAssetValidationStatus`
    /// does, so never stops waiting before the asset is settled.
    fn validation(&self, asset: &Asset, now: DateTime<Utc>) -> ValidationStatus {
        let Some(committed) = asset.committed else {
            return ValidationStatus::Unknown;
        };
        if now - committed < self.durations.validation {
            ValidationStatus::Process
        } else if asset.rejected {
            ValidationStatus::Failed
        } else {
            ValidationStatus::Done
        }
    }

    /// `GetFileAssetValidationStatus`.
    pub fn validation_status(
        &mut self,
        asset: &str,
        now: DateTime<Utc>,
    ) -> Result<ValidationStatus, SimError> {
        self.throttle()?;
        let record = self.asset_mut(asset)?.clone();
        Ok(self.validation(&record, now))
    }

    /// `environment/v2/applyupdate`: deploys a validated asset to an environment.
    pub fn apply_update(
        &mut self,
        project: u64,
        environment: &str,
        asset: &str,
        update_name: &str,
        now: DateTime<Utc>,
    ) -> Result<String, SimError> {
        self.throttle()?;
        let target = self.environment_by_id(project, environment)?.clone();
        // LCS requires the name only on self-service environments (lcs-api.md 2.4).
        if update_name.trim().is_empty() && target.infrastructure == Infrastructure::SelfService {
            return Err(SimError::Business(format!(
                "An update name is required for the self-service environment {}.",
                target.name
            )));
        }
        if matches!(
            target.kind,
            EnvironmentType::Production | EnvironmentType::Build
        ) {
            return Err(SimError::Business(format!(
                "Deployments to {} environments cannot be automated.",
                target.kind.as_str()
            )));
        }
        let record = self.asset_mut(asset)?.clone();
        if self.validation(&record, now) != ValidationStatus::Done {
            return Err(SimError::Business(format!(
                "The asset {asset} is not validated."
            )));
        }
        if self.is_busy(&target.id, now) {
            return Err(SimError::Business(format!(
                "Environment {} is busy with another operation.",
                target.name
            )));
        }
        let activity = self.new_id();
        self.deployments.push(Deployment {
            activity: activity.clone(),
            project,
            environment: target.id.clone(),
            asset: asset.to_owned(),
            update_name: update_name.to_owned(),
            started: now,
            fails: self.faults.deployment_fails,
        });
        self.log(
            now,
            Call::ApplyUpdate {
                environment: target.id,
                asset: asset.to_owned(),
                activity: activity.clone(),
            },
        );
        Ok(activity)
    }

    fn deployment_status(&self, deployment: &Deployment, now: DateTime<Utc>) -> DeploymentStatus {
        let elapsed = now - deployment.started;
        if elapsed < self.durations.queue {
            DeploymentStatus::NotStarted
        } else if elapsed < self.durations.queue + self.durations.preparation {
            DeploymentStatus::PreparingEnvironment
        } else if elapsed < self.durations.queue + self.durations.deployment {
            DeploymentStatus::InProgress
        } else if deployment.fails {
            DeploymentStatus::Failed
        } else {
            DeploymentStatus::Completed
        }
    }

    /// `environment/v2/fetchstatus`.
    pub fn deployment_status_of(
        &mut self,
        environment: &str,
        activity: &str,
        now: DateTime<Utc>,
    ) -> Result<DeploymentStatus, SimError> {
        self.deployment(environment, activity, now)
            .map(|(status, _)| status)
    }

    /// A deployment's status and, once it ended, when (`CompletionDate`).
    pub fn deployment(
        &mut self,
        environment: &str,
        activity: &str,
        now: DateTime<Utc>,
    ) -> Result<(DeploymentStatus, Option<DateTime<Utc>>), SimError> {
        self.throttle()?;
        let (wanted_activity, wanted_environment) =
            (Wanted::new(activity), Wanted::new(environment));
        let deployment = self
            .deployments
            .iter()
            .find(|deployment| {
                wanted_activity.is(&deployment.activity)
                    && wanted_environment.is(&deployment.environment)
            })
            .ok_or_else(|| SimError::NotFound {
                what: "deployment",
                id: activity.to_owned(),
            })?;
        let status = self.deployment_status(deployment, now);
        Ok((
            status,
            status
                .is_terminal()
                .then(|| deployment.started + self.durations.queue + self.durations.deployment),
        ))
    }

    /// Resets the environment's Financial reporting database (the portal can; the API cannot).
    pub fn reset_financial_reporting(
        &mut self,
        project: u64,
        environment: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SimError> {
        self.throttle()?;
        let target = self.environment_by_id(project, environment)?.clone();
        if self.is_busy(&target.id, now) {
            return Err(SimError::Business(format!(
                "Environment {} is busy with another operation.",
                target.name
            )));
        }
        self.log(
            now,
            Call::ResetFinancialReporting {
                environment: target.id,
            },
        );
        Ok(())
    }

    /// The calls that changed an environment, in order.
    pub fn destructive_calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls
            .iter()
            .filter(|record| record.call.is_destructive())
    }
}

#[cfg(test)]
mod wanted_tests {
    use super::{Wanted, same_id};

    #[test]
    fn a_wanted_id_is_what_same_id_says() {
        let id = "5f1c2a7e-0000-4000-8000-00000000002a";
        let mut candidates = vec![
            id.to_owned(),
            id.to_ascii_uppercase(),
            id.replace('-', ""),
            format!("{{{id}}}"),
            format!("  {{{}}} ", id.to_ascii_uppercase()),
            format!("{{{id}"),
            "{}".to_owned(),
            String::new(),
            "contoso-uat".to_owned(),
            id.replace('-', "_"),
            format!("{id}0"),
            format!("0{id}"),
        ];
        // Ids one after another, as the simulator issues them, differing anywhere.
        for at in 0..id.len() {
            let mut other = id.as_bytes().to_vec();
            other[at] = if other[at] == b'f' { b'e' } else { b'f' };
            candidates.push(String::from_utf8(other).expect("ASCII"));
        }
        for wanted in [id.to_owned(), id.replace('-', ""), "contoso-uat".to_owned()] {
            let lookup = Wanted::new(&wanted);
            for candidate in &candidates {
                assert_eq!(
                    lookup.is(candidate),
                    same_id(candidate, &wanted),
                    "{candidate:?} against {wanted:?}"
                );
            }
        }
    }
}
