//! The LCS REST API on the wire (lcs-api.md sections 1 to 3): paths, JSON shapes and time
//! formats, shared by the `lcs` adapter that sends them and the emulator that answers them, so
//! the two cannot drift apart silently. Field names are LCS's own (`PascalCase`); where LCS's
//! documentation spells a field two ways, both are accepted.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::EnvironmentType;

/// The header LCS's reference pages ask for; sent, never required by the emulator.
pub const API_VERSION: &str = "2017-09-15";

/// `VersionEOL` until an endpoint is deprecated: .NET's `DateTime.MaxValue`.
pub const VERSION_EOL: &str = "9999-12-31T23:59:59.9999999";

/// The envelope of every database movement and environment answer (lcs-api.md 1.5). Business
/// errors come back as HTTP 200 with `IsSuccess: false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    pub is_success: bool,
    #[serde(default)]
    pub operation_activity_id: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(rename = "VersionEOL", default)]
    pub version_eol: Option<String>,
}

impl Envelope {
    #[must_use]
    pub fn success(activity: Option<String>) -> Self {
        Self {
            is_success: true,
            operation_activity_id: activity,
            error_message: None,
            version_eol: Some(VERSION_EOL.into()),
        }
    }

    /// A refusal: LCS sends an activity id of its own with every answer, so each failure has
    /// a new one (support tells failures apart by it).
    #[must_use]
    pub fn failure(message: String) -> Self {
        Self {
            is_success: false,
            operation_activity_id: Some(random_guid()),
            error_message: Some(message),
            version_eol: Some(VERSION_EOL.into()),
        }
    }
}

/// A random GUID (version 4, RFC 9562), written as LCS writes activity ids.
#[must_use]
pub fn random_guid() -> String {
    let mut bytes = [0_u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // No system randomness: still unique within this process.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = u64::from(Utc::now().timestamp_subsec_nanos());
        bytes[..8].copy_from_slice(&count.to_be_bytes());
        bytes[8..].copy_from_slice(&(nanos ^ u64::from(std::process::id())).to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = bytes.iter().fold(String::new(), |mut hex, byte| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
        hex
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A page of `environmentinfo/v1/detail` or `environmentinfo/v1/history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(default)]
    pub result_page_current: u32,
    #[serde(default)]
    pub result_has_more_pages: bool,
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// One environment of `environmentinfo/v1/detail` (the fields refreshctl reads, plus the ones
/// the emulator fills in so its answers look like LCS's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentDetail {
    pub environment_id: String,
    pub environment_name: String,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub environment_infrastructure: Option<String>,
    /// `Production`, `Sandbox`, and so on.
    #[serde(default)]
    pub environment_type: Option<String>,
    #[serde(default)]
    pub environment_group: Option<String>,
    /// `Finished` when idle; `Servicing` while an operation runs.
    #[serde(default)]
    pub deployment_state: Option<String>,
    #[serde(default)]
    pub deployment_status_display: Option<String>,
    #[serde(default)]
    pub current_application_release_name: Option<String>,
    #[serde(default)]
    pub current_application_build_version: Option<String>,
    #[serde(default)]
    pub current_platform_release_name: Option<String>,
    #[serde(rename = "DeployedOnUTC", default)]
    pub deployed_on_utc: Option<String>,
}

/// One entry of `environmentinfo/v1/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "Type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub type_display: Option<String>,
    /// LCS's property table writes `StartDateTimeUtc`, its example `StartDateTimeUTC`.
    #[serde(rename = "StartDateTimeUTC", alias = "StartDateTimeUtc", default)]
    pub start_date_time_utc: Option<String>,
    #[serde(rename = "EndDateTimeUTC", alias = "EndDateTimeUtc", default)]
    pub end_date_time_utc: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub activity_id: Option<String>,
    #[serde(default)]
    pub environment_id: Option<String>,
}

/// `databasemovement/v1/fetchstatus` and `environment/v2/fetchstatus`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationStatus {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub environment_id: Option<String>,
    #[serde(default)]
    pub activity_id: Option<String>,
    #[serde(default)]
    pub completion_date: Option<String>,
    /// The status as LCS spells it; refreshctl treats a value it does not know as running.
    #[serde(default)]
    pub operation_status: Option<String>,
}

/// An asset of the asset library (`box/fileasset`). LCS documents no reference page for these;
/// the fields are the ones d365fo.tools and Microsoft's own tasks read, plus `SizeByte`, the
/// field `CreateFileAsset` takes, which refreshctl reads where present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FileAsset {
    #[serde(alias = "ID")]
    pub id: String,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub file_description: Option<String>,
    /// A SAS URL: write access after `CreateFileAsset`, read access from `GetFileAsset`. A secret.
    #[serde(default)]
    pub file_location: Option<String>,
    #[serde(default)]
    pub file_type: Option<u32>,
    #[serde(default)]
    pub size_byte: Option<u64>,
    #[serde(default)]
    pub modified_date: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// `databasemovement/v1/databases`: the project's database backups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseBackups {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(default)]
    pub database_assets: Vec<DatabaseAsset>,
}

/// One database backup (lcs-api.md 2.1). Dates have milliseconds and no offset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseAsset {
    #[serde(alias = "ID")]
    pub id: String,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub organization_id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub file_description: Option<String>,
    /// A read SAS URL. A secret.
    #[serde(default)]
    pub file_location: Option<String>,
    #[serde(default)]
    pub modified_date_time: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub created_by_name: Option<String>,
    #[serde(default)]
    pub modified_by_name: Option<String>,
}

/// The body of `CreateFileAsset`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFileAsset {
    pub name: String,
    pub file_name: String,
    #[serde(default)]
    pub file_description: Option<String>,
    #[serde(default)]
    pub size_byte: u64,
    pub file_type: u32,
    /// Not in d365fo.tools' body; kept and returned where a client sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `GetFileAssetValidationStatus`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationStatus {
    #[serde(alias = "ID", default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_status: Option<String>,
}

/// The answer of a token endpoint (v1 or v2). v1 sends numbers as strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub expires_on: Option<u64>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(deserializer)? {
        Some(Either::Number(number)) => Some(number),
        Some(Either::Text(text)) => text.trim().parse().ok(),
        None => None,
    })
}

/// The paths of the API, relative to the API base URL.
pub mod path {
    #[must_use]
    pub fn environment_detail(project: u64) -> String {
        format!("environmentinfo/v1/detail/project/{project}/")
    }

    #[must_use]
    pub fn environment_history(project: u64, environment: &str) -> String {
        format!("environmentinfo/v1/history/project/{project}/environment/{environment}/")
    }

    #[must_use]
    pub fn refresh(project: u64, source: &str, target: &str) -> String {
        format!("databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}")
    }

    #[must_use]
    pub fn database_status(project: u64, environment: &str, activity: &str) -> String {
        format!(
            "databasemovement/v1/fetchstatus/project/{project}/environment/{environment}/operationactivity/{activity}"
        )
    }

    #[must_use]
    pub fn export(project: u64, environment: &str, backup: &str) -> String {
        format!(
            "databasemovement/v1/export/project/{project}/environment/{environment}/backupName/{backup}"
        )
    }

    #[must_use]
    pub fn database_backups(project: u64) -> String {
        format!("databasemovement/v1/databases/project/{project}")
    }

    #[must_use]
    pub fn apply_update(project: u64, environment: &str, asset: &str) -> String {
        format!(
            "environment/v2/applyupdate/project/{project}/environment/{environment}/asset/{asset}"
        )
    }

    #[must_use]
    pub fn deployment_status(project: u64, environment: &str, activity: &str) -> String {
        format!(
            "environment/v2/fetchstatus/project/{project}/environment/{environment}/operationactivity/{activity}"
        )
    }

    pub const SHARED_ASSETS: &str = "box/fileasset/GetSharedAssets";

    #[must_use]
    pub fn assets(project: u64) -> String {
        format!("box/fileasset/GetAssets/{project}")
    }

    #[must_use]
    pub fn file_asset(project: u64) -> String {
        format!("box/fileasset/GetFileAsset/{project}")
    }

    #[must_use]
    pub fn create_file_asset(project: u64) -> String {
        format!("box/fileasset/CreateFileAsset/{project}")
    }

    #[must_use]
    pub fn commit_file_asset(project: u64) -> String {
        format!("box/fileasset/CommitFileAsset/{project}")
    }

    #[must_use]
    pub fn validation_status(project: u64) -> String {
        format!("box/fileasset/GetFileAssetValidationStatus/{project}")
    }
}

/// Reads a time as LCS writes it: RFC 3339, .NET's round-trip format without an offset (taken
/// as UTC, up to seven fractional digits), or `DeployedOnUTC`'s `8/5/2021 11:00 PM`.
#[must_use]
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%m/%d/%Y %I:%M %p",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| naive.and_utc())
}

/// `EnvironmentType` as LCS writes it.
#[must_use]
pub const fn environment_type_name(kind: EnvironmentType) -> &'static str {
    match kind {
        EnvironmentType::Production => "Production",
        EnvironmentType::Sandbox => "Sandbox",
        EnvironmentType::Development => "Development",
        EnvironmentType::Build => "Build",
    }
}

/// Reads `EnvironmentType`, without case; LCS's older names for development and build
/// environments (`DevTest`, `DevTestDev`, `DevTestBuild`) included.
#[must_use]
pub fn parse_environment_type(text: &str) -> Option<EnvironmentType> {
    let text = text.trim().to_ascii_lowercase();
    Some(match text.as_str() {
        "production" | "prod" => EnvironmentType::Production,
        "sandbox" | "tier2" | "standardacceptancetest" => EnvironmentType::Sandbox,
        "devtestbuild" | "build" => EnvironmentType::Build,
        "development" | "devtest" | "devtestdev" | "dev" => EnvironmentType::Development,
        _ => return None,
    })
}

/// Writes `DeployedOnUTC` as LCS does: `M/d/yyyy h:mm tt`.
#[must_use]
pub fn deployed_on(time: DateTime<Utc>) -> String {
    time.format("%-m/%-d/%Y %-I:%M %p").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_format_lcs_writes() {
        let expected = "2019-09-30T04:01:01Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(parse_time("2019-09-30T04:01:01.0000000"), Some(expected));
        assert_eq!(parse_time("2019-09-30T04:01:01Z"), Some(expected));
        assert_eq!(parse_time("2019-09-30T06:01:01+02:00"), Some(expected));
        assert_eq!(
            parse_time("9/30/2019 4:01 AM"),
            Some(expected - chrono::TimeDelta::seconds(1))
        );
        assert_eq!(
            parse_time(VERSION_EOL).map(|t| t.format("%Y").to_string()),
            Some("9999".into())
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(deployed_on(expected), "9/30/2019 4:01 AM");
    }

    #[test]
    fn envelopes_and_tokens_read_both_spellings() {
        let status: OperationStatus = serde_json::from_str(
            r#"{"IsSuccess":true,"OperationActivityId":"x","ErrorMessage":null,"VersionEOL":"9999-12-31T23:59:59.9999999","ActivityId":"a","OperationStatus":"InProgress","CompletionDate":null}"#,
        )
        .unwrap();
        assert!(status.envelope.is_success);
        assert_eq!(status.operation_status.as_deref(), Some("InProgress"));
        let entry: HistoryEntry =
            serde_json::from_str(r#"{"Name":"n","StartDateTimeUtc":"2020-01-01T00:00:00"}"#)
                .unwrap();
        assert_eq!(
            entry.start_date_time_utc.as_deref(),
            Some("2020-01-01T00:00:00")
        );
        let v1: TokenAnswer = serde_json::from_str(
            r#"{"access_token":"t","expires_in":"3599","expires_on":"1700000000"}"#,
        )
        .unwrap();
        assert_eq!(
            (v1.expires_in, v1.expires_on),
            (Some(3599), Some(1_700_000_000))
        );
        let v2: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"t","expires_in":4228}"#).unwrap();
        assert_eq!(v2.expires_in, Some(4228));
        let asset: FileAsset = serde_json::from_str(r#"{"ID":"a"}"#).unwrap();
        assert_eq!(asset.id, "a");
    }
}
