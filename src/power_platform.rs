//! The Power Platform API on the wire (power-platform-api.md sections 1, 2 and 7): paths, JSON
//! shapes and status values, shared by the `power-platform` adapter that sends them and the
//! emulator that answers them, so the two cannot drift apart silently. Field names are the
//! API's own (`camelCase`); fields the documentation leaves open are optional, and unknown
//! enum values are kept as text (the versioning policy adds members without notice).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The api-version sent by default (`PP_API_VERSION` overrides it; `2022-03-01-preview` works
/// too).
pub const API_VERSION: &str = "2024-10-01";

/// The API host, and the audience its tokens are for.
pub const DEFAULT_API_URL: &str = "https://api.powerplatform.com";

/// The legacy admin API, used only to switch administration mode off (§3, §7.9).
pub const DEFAULT_BAP_URL: &str = "https://api.bap.microsoft.com";

/// The BAP scope as Microsoft documents it, double slash included (§1.2).
pub const BAP_SCOPE: &str = "https://service.powerapps.com//.default";

/// The api-version of the BAP admin-mode call (§7.9).
pub const BAP_API_VERSION: &str = "2021-04-01";

/// Paths under the API base.
pub mod path {
    pub const ENVIRONMENTS: &str = "environmentmanagement/environments";

    #[must_use]
    pub fn environment(id: &str) -> String {
        format!("{ENVIRONMENTS}/{id}")
    }
    #[must_use]
    pub fn copy(target: &str) -> String {
        format!("{ENVIRONMENTS}/{target}/copy")
    }
    #[must_use]
    pub fn restore(target: &str) -> String {
        format!("{ENVIRONMENTS}/{target}/restore")
    }
    #[must_use]
    pub fn copy_candidates(source: &str) -> String {
        format!("{ENVIRONMENTS}/{source}/copyCandidates")
    }
    #[must_use]
    pub fn restore_candidates(source: &str) -> String {
        format!("{ENVIRONMENTS}/{source}/restoreCandidates")
    }
    #[must_use]
    pub fn backups(environment: &str) -> String {
        format!("{ENVIRONMENTS}/{environment}/backups")
    }
    #[must_use]
    pub fn operations(environment: &str) -> String {
        format!("{ENVIRONMENTS}/{environment}/operations")
    }
    #[must_use]
    pub fn environment_operation(environment: &str, operation: &str) -> String {
        format!("{ENVIRONMENTS}/{environment}/operations/{operation}")
    }
    #[must_use]
    pub fn operation(operation: &str) -> String {
        format!("environmentmanagement/operations/{operation}")
    }
    /// On the BAP host.
    #[must_use]
    pub fn bap_environment(id: &str) -> String {
        format!("providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{id}")
    }
}

/// `GET environments` (§2.9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentList {
    #[serde(default)]
    pub value: Vec<EnvironmentResponse>,
}

/// An `EnvironmentResponse`, with the fields refreshctl reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentResponse {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `Production`, `Sandbox`, `Developer`, … (the SKU).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub azure_region: Option<String>,
    #[serde(default)]
    pub geo: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// `Enabled` or `Disabled` (exact strings UNSURE).
    #[serde(default)]
    pub admin_mode: Option<String>,
    #[serde(default)]
    pub background_operations_state: Option<String>,
    /// Present when a finance and operations environment is linked.
    #[serde(default)]
    pub fin_ops_metadata: Option<FinOpsMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinOpsMetadata {
    #[serde(default)]
    pub id: Option<String>,
    /// `Internal` for a unified environment, `Linked` for one managed in LCS.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// `{collection, continuationToken}` (candidates, backups, operations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    #[serde(default = "Vec::new")]
    pub collection: Vec<T>,
    #[serde(default)]
    pub continuation_token: Option<String>,
}

/// An item of `copyCandidates` / `restoreCandidates`: a possible TARGET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub environment_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub dataverse_organization_url: Option<String>,
}

/// A backup (a labelled restore point; §2.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub backup_point_date_time: Option<String>,
    #[serde(default)]
    pub backup_expiry_date_time: Option<String>,
}

/// `POST …/copy` (§2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyRequest {
    pub source_environment_id: String,
    pub copy_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_options: Option<CopyOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_audit_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_advanced_copy_for_finance_and_operations: Option<bool>,
}

/// `POST …/restore` (§2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    pub source_environment_id: String,
    /// RFC 3339 with an offset.
    pub restore_point_date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_options: Option<RestoreOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_audit_data: Option<bool>,
}

/// An `OperationExecutionResult` (§2.6). `status` is the documented field; `state` (text or
/// BAP's `{id}`) is read when it is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationResult {
    #[serde(default)]
    pub operation_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub stage_statuses: Vec<StageStatus>,
    #[serde(default)]
    pub error_detail: Option<ErrorDetail>,
}

impl OperationResult {
    /// The status: `status`, else `state` as text, else `state.id`.
    #[must_use]
    pub fn status_text(&self) -> Option<String> {
        self.status.clone().or_else(|| match &self.state {
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            Some(serde_json::Value::Object(map)) => {
                map.get("id").and_then(|id| id.as_str()).map(str::to_owned)
            }
            _ => None,
        })
    }

    #[must_use]
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.start_time.as_deref().and_then(parse_time)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub error_detail: Option<ErrorDetail>,
}

/// `{code, fieldErrors:{field:{errorMessages[], suggestedValue}}}`; `message` too, where a
/// service sends one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub field_errors: Option<std::collections::BTreeMap<String, FieldError>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    #[serde(default)]
    pub error_messages: Vec<String>,
    #[serde(default)]
    pub suggested_value: Option<String>,
}

/// A `ValidationResponse`: the body of a 400 or a 409.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResponse {
    #[serde(default)]
    pub error_detail: Option<ErrorDetail>,
}

/// The token answer of the client-credentials grant.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

impl ErrorDetail {
    /// One line: `code: message; field: message, …`, at most 500 characters.
    #[must_use]
    pub fn shown(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(code) = &self.code {
            parts.push(code.clone());
        }
        if let Some(message) = &self.message {
            parts.push(message.clone());
        }
        for (field, error) in self.field_errors.iter().flatten() {
            parts.push(format!("{field}: {}", error.error_messages.join(", ")));
        }
        let text = parts.join("; ").replace(['\n', '\r'], " ");
        let mut shown: String = text.chars().take(500).collect();
        if text.chars().count() > 500 {
            shown.push('…');
        }
        shown
    }
}

/// An RFC 3339 time (with an offset, or `Z`); the API also writes times without one, read as UTC.
#[must_use]
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.to_utc())
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|time| time.and_utc())
        })
}

/// A time as sent: RFC 3339 with an explicit offset (`+00:00`), whole seconds.
#[must_use]
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_falls_back_to_state_and_state_id() {
        let read = |json: &str| {
            serde_json::from_str::<OperationResult>(json)
                .unwrap()
                .status_text()
        };
        assert_eq!(read(r#"{"status":"Queued"}"#).as_deref(), Some("Queued"));
        assert_eq!(read(r#"{"state":"Running"}"#).as_deref(), Some("Running"));
        assert_eq!(
            read(r#"{"state":{"id":"Succeeded"}}"#).as_deref(),
            Some("Succeeded")
        );
        assert_eq!(read("{}"), None);
    }

    #[test]
    fn times_are_sent_with_an_offset_and_read_with_or_without_one() {
        let time = parse_time("2026-05-01T03:00:00Z").unwrap();
        assert_eq!(format_time(time), "2026-05-01T03:00:00+00:00");
        assert_eq!(parse_time("2026-05-01T05:00:00+02:00"), Some(time));
        assert_eq!(parse_time("2026-05-01T03:00:00.000"), Some(time));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn error_details_read_as_one_bounded_line() {
        let detail: ErrorDetail = serde_json::from_str(
            r#"{"code":"InvalidRestorePoint","fieldErrors":{"restorePointDateTime":{"errorMessages":["too old\nreally"]}}}"#,
        )
        .unwrap();
        assert_eq!(
            detail.shown(),
            "InvalidRestorePoint; restorePointDateTime: too old really"
        );
        let long = ErrorDetail {
            message: Some("x".repeat(2000)),
            ..ErrorDetail::default()
        };
        assert!(long.shown().chars().count() <= 501);
    }
}
