//! The `lcs` adapter: the Lifecycle Services REST API (SPEC 6, lcs-api.md), over reqwest with
//! rustls. Configured from `LCS_*` environment variables; see `LcsAdapter::from_env`.

mod auth;
mod http;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;

pub use auth::Credentials;
pub use http::RetryPolicy;
use http::{Http, Kind, Request, RequestBody};
/// Shared with the `power-platform` adapter: the same classification of transport failures,
/// the same reading of `Retry-After`, the same cap on answers.
pub(super) use http::{MAX_ANSWER, retry_after, transport_failure};

use super::contract::{
    Adapter, AdapterError, AssetInfo, BlockData, EnvironmentFacts, HistoryItem, LiveType,
    UploadTarget,
};
use super::{AdapterKind, Capabilities};
use crate::clock::Clock;
use crate::lcs::{self, Envelope, EnvironmentDetail, FileAsset, OperationStatus, Page, path};
use crate::sim::{DatabaseStatus, DeploymentStatus, SOFTWARE_DEPLOYABLE_PACKAGE, ValidationStatus};

/// The default API base (United States; lcs-api.md 1.3 lists the others).
pub const DEFAULT_API_URL: &str = "https://lcsapi.lcs.dynamics.com";
/// The default token endpoint: Entra's v1 endpoint, as d365fo.tools uses.
pub const DEFAULT_AUTH_URL: &str = "https://login.microsoftonline.com/common/oauth2/token";

/// Pages read at most from a paged answer (d365fo.tools stops at 99 too).
const MAX_PAGES: u32 = 99;

pub struct LcsAdapter {
    http: Http,
    /// Write locations of assets created by this process (never stored).
    locations: Mutex<HashMap<String, String>>,
    /// Status values already warned about.
    unknown: Mutex<HashSet<String>>,
}

impl LcsAdapter {
    pub fn new(
        api_url: &str,
        credentials: Credentials,
        policy: RetryPolicy,
        clock: Clock,
    ) -> Result<Self, AdapterError> {
        Ok(Self {
            http: Http::new(api_url, credentials, policy, clock)?,
            locations: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashSet::new()),
        })
    }

    /// From the environment: `LCS_API_URL`, `LCS_AUTH_URL`, `LCS_CLIENT_ID`, `LCS_USERNAME`,
    /// `LCS_PASSWORD` (and `LCS_CLIENT_SECRET` for an app that needs one), or
    /// `LCS_ACCESS_TOKEN` (+ `LCS_REFRESH_TOKEN`); `LCS_RETRY_DEADLINE` (a
    /// duration, default 10m) bounds how long one call is retried.
    pub fn from_env(clock: Clock) -> Result<Self, AdapterError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        let credentials = Credentials {
            auth_url: var("LCS_AUTH_URL").unwrap_or_else(|| DEFAULT_AUTH_URL.into()),
            client_id: var("LCS_CLIENT_ID"),
            username: var("LCS_USERNAME"),
            password: var("LCS_PASSWORD"),
            access_token: var("LCS_ACCESS_TOKEN"),
            refresh_token: var("LCS_REFRESH_TOKEN"),
            client_secret: var("LCS_CLIENT_SECRET"),
        };
        if credentials.access_token.is_none()
            && (credentials.username.is_none() || credentials.password.is_none())
        {
            return Err(AdapterError::Unavailable(
                "the lcs adapter needs LCS_ACCESS_TOKEN, or LCS_USERNAME and LCS_PASSWORD (with LCS_CLIENT_ID)".into(),
            ));
        }
        if credentials.access_token.is_none() && credentials.client_id.is_none() {
            return Err(AdapterError::Unavailable(
                "LCS_CLIENT_ID is not set: the password grant needs the application (client) id of an app registration with the Dynamics Lifecycle services user_impersonation permission".into(),
            ));
        }
        let mut policy = RetryPolicy::default();
        if let Some(text) = var("LCS_RETRY_DEADLINE") {
            policy.deadline = humantime::parse_duration(&text).map_err(|error| {
                AdapterError::Unavailable(format!("LCS_RETRY_DEADLINE `{text}`: {error}"))
            })?;
        }
        Self::new(
            &var("LCS_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
            credentials,
            policy,
            clock,
        )
    }

    /// Signs in now, so bad credentials stop a command before anything is recorded.
    pub async fn sign_in(&self) -> Result<(), AdapterError> {
        self.http.bearer(false).await.map(|_| ())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: reqwest::Url,
        what: &'static str,
        kind: Kind,
        body: Option<RequestBody>,
    ) -> Result<T, AdapterError> {
        let answer = self
            .http
            .send(&Request {
                method,
                url,
                what,
                kind,
                bearer: true,
                body,
            })
            .await?;
        if !answer.status.is_success() {
            return Err(AdapterError::Refused(format!(
                "{what}: HTTP {}{}",
                answer.status,
                message_of(&answer.body)
                    .map(|message| format!(": {message}"))
                    .unwrap_or_default()
            )));
        }
        serde_json::from_slice(&answer.body).map_err(|_| {
            // A garbage answer to a call that changes an environment is a lost answer.
            AdapterError::Transient(format!(
                "{what}: LCS answered HTTP {} with a body that is not the expected JSON",
                answer.status
            ))
        })
    }

    /// Like `call`, for an answer with the envelope: `IsSuccess: false` is LCS refusing.
    async fn enveloped<T: DeserializeOwned + HasEnvelope>(
        &self,
        method: Method,
        url: reqwest::Url,
        what: &'static str,
        kind: Kind,
    ) -> Result<T, AdapterError> {
        let answer: T = self.call(method, url, what, kind, None).await?;
        let envelope = answer.envelope();
        if envelope.is_success {
            return Ok(answer);
        }
        let message = envelope
            .error_message
            .clone()
            .unwrap_or_else(|| "no message".into());
        Err(if message.starts_with("Maximum allowed API operations") {
            AdapterError::OperationLimit(message)
        } else {
            AdapterError::Refused(format!("{what}: {message}"))
        })
    }

    fn warn_unknown(&self, what: &str, value: &str) {
        let mut seen = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.insert(format!("{what}/{value}")) {
            tracing::warn!(target: "refreshctl::lcs", status = value, "LCS reported a {what} status refreshctl does not know; treating it as still running until the step's deadline");
        }
    }

    async fn blob(
        &self,
        url: reqwest::Url,
        what: &'static str,
        body: RequestBody,
    ) -> Result<(), AdapterError> {
        let answer = self
            .http
            .send(&Request {
                method: Method::PUT,
                url,
                what,
                kind: Kind::Repeatable,
                bearer: false,
                body: Some(body),
            })
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(AdapterError::Refused(format!(
                "{what}: the blob service answered HTTP {}{}",
                answer.status,
                blob_error_code(&answer.body)
                    .map(|code| format!(" ({code})"))
                    .unwrap_or_default()
            )))
        }
    }

    async fn file_asset(&self, project: u64, asset: &str) -> Result<FileAsset, AdapterError> {
        let mut url = self.http.api(&path::file_asset(project))?;
        url.query_pairs_mut().append_pair("assetId", asset);
        let value: serde_json::Value = self
            .call(Method::GET, url, "get file asset", Kind::Repeatable, None)
            .await?;
        if value.get("IsSuccess") == Some(&serde_json::Value::Bool(false)) {
            return Err(AdapterError::NotFound {
                what: "asset",
                id: asset.to_owned(),
            });
        }
        let asset: FileAsset = serde_json::from_value(value).map_err(|_| {
            AdapterError::Transient("get file asset: the answer has no asset".into())
        })?;
        if let Some(location) = &asset.file_location {
            self.learn_location(location);
        }
        Ok(asset)
    }

    /// A SAS location is a secret: its signature (and the whole URL) is redacted from then on.
    fn learn_location(&self, location: &str) {
        self.http.redactor.learn(location);
        if let Ok(url) = reqwest::Url::parse(location) {
            for (key, value) in url.query_pairs() {
                if key == "sig" {
                    self.http.redactor.learn(&value);
                }
            }
        }
    }
}

trait HasEnvelope {
    fn envelope(&self) -> &Envelope;
}

impl HasEnvelope for Envelope {
    fn envelope(&self) -> &Envelope {
        self
    }
}

impl<T> HasEnvelope for Page<T> {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

impl HasEnvelope for OperationStatus {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

/// LCS's message in an error body (`ErrorMessage` or `Message`), first line only.
fn message_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["ErrorMessage", "Message", "message"]
        .iter()
        .find_map(|key| value.get(key).and_then(|text| text.as_str()))
        .map(|text| {
            text.lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect()
        })
}

/// The `<Code>` of an Azure Storage error body.
fn blob_error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

/// Whether a key looks like an environment id (a GUID, with or without dashes).
fn is_guid(key: &str) -> bool {
    let hex: String = key.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn facts(detail: EnvironmentDetail) -> EnvironmentFacts {
    let busy = detail.deployment_state.as_deref().and_then(|state| {
        match state.to_ascii_lowercase().as_str() {
            "finished" | "deployed" => Some(false),
            "servicing" | "preservicing" | "postservicing" | "queued" | "deploying"
            | "inprogress" => Some(true),
            _ => None,
        }
    });
    EnvironmentFacts {
        id: detail.environment_id,
        name: detail.environment_name,
        kind: LiveType::reported(detail.environment_type.as_deref()),
        release: detail.current_application_release_name,
        busy,
    }
}

fn asset_info(asset: FileAsset) -> AssetInfo {
    AssetInfo {
        name: asset.name.unwrap_or_default(),
        file_name: asset.file_name.unwrap_or_default(),
        size: asset.size_byte,
        modified: asset.modified_date.as_deref().and_then(lcs::parse_time),
        id: asset.id,
    }
}

fn block_list(blocks: &[String]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for block in blocks {
        xml.push_str("<Latest>");
        xml.push_str(block);
        xml.push_str("</Latest>");
    }
    xml.push_str("</BlockList>");
    xml
}

impl Adapter for LcsAdapter {
    fn name(&self) -> &'static str {
        AdapterKind::Lcs.name()
    }

    fn kind(&self) -> AdapterKind {
        AdapterKind::Lcs
    }

    fn capabilities(&self) -> Capabilities {
        AdapterKind::Lcs.capabilities()
    }

    async fn environment(&self, project: u64, key: &str) -> Result<EnvironmentFacts, AdapterError> {
        for page in 1..=MAX_PAGES {
            let mut url = self.http.api(&path::environment_detail(project))?;
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair(
                    if is_guid(key) {
                        "environmentId"
                    } else {
                        "environmentName"
                    },
                    key,
                );
            let answer: Page<EnvironmentDetail> = self
                .enveloped(Method::GET, url, "environment metadata", Kind::Repeatable)
                .await?;
            let found = answer.data.into_iter().find(|detail| {
                detail.environment_id.eq_ignore_ascii_case(key)
                    || detail.environment_name.eq_ignore_ascii_case(key)
            });
            if let Some(detail) = found {
                return Ok(facts(detail));
            }
            if !answer.result_has_more_pages {
                break;
            }
        }
        Err(AdapterError::NotFound {
            what: "environment",
            id: key.to_owned(),
        })
    }

    async fn start_refresh(
        &self,
        project: u64,
        source: &str,
        target: &str,
    ) -> Result<String, AdapterError> {
        let url = self.http.api(&path::refresh(project, source, target))?;
        let answer: Envelope = self
            .enveloped(Method::POST, url, "start refresh", Kind::Once)
            .await?;
        answer.operation_activity_id.ok_or_else(|| {
            AdapterError::Transient("start refresh: the answer has no OperationActivityId".into())
        })
    }

    async fn start_export(
        &self,
        project: u64,
        environment: &str,
        backup: &str,
    ) -> Result<String, AdapterError> {
        let url = self.http.api(&path::export(project, environment, backup))?;
        let answer: Envelope = self
            .enveloped(Method::POST, url, "start export", Kind::Once)
            .await?;
        answer.operation_activity_id.ok_or_else(|| {
            AdapterError::Transient("start export: the answer has no OperationActivityId".into())
        })
    }

    async fn start_restore(
        &self,
        _project: u64,
        _target: &str,
        _point: Option<DateTime<Utc>>,
    ) -> Result<String, AdapterError> {
        Err(AdapterError::Unsupported {
            adapter: "lcs",
            operation: "restore to a point in time (the LCS API has no such call; use the portal)",
        })
    }

    async fn database_status(
        &self,
        project: u64,
        target: &str,
        activity: &str,
    ) -> Result<DatabaseStatus, AdapterError> {
        let url = self
            .http
            .api(&path::database_status(project, target, activity))?;
        let answer: OperationStatus = self
            .enveloped(Method::GET, url, "operation status", Kind::Repeatable)
            .await?;
        let status = answer.operation_status.unwrap_or_default();
        Ok(match status.as_str() {
            "NotStarted" => DatabaseStatus::NotStarted,
            "InProgress" => DatabaseStatus::InProgress,
            "Completed" => DatabaseStatus::Completed,
            "Failed" => DatabaseStatus::Failed,
            "SignedOff" => DatabaseStatus::SignedOff,
            "Aborted" => DatabaseStatus::Aborted,
            "RollbackInProgress" => DatabaseStatus::RollbackInProgress,
            "RollbackFailed" => DatabaseStatus::RollbackFailed,
            "RollbackCompleted" => DatabaseStatus::RollbackCompleted,
            other => {
                self.warn_unknown("database operation", other);
                DatabaseStatus::Unrecognized
            }
        })
    }

    async fn history(
        &self,
        project: u64,
        environment: &str,
    ) -> Result<Vec<HistoryItem>, AdapterError> {
        let mut items = Vec::new();
        // The newest entries come first; a few pages hold anything a crash could have left.
        for page in 1..=5 {
            let mut url = self
                .http
                .api(&path::environment_history(project, environment))?;
            url.query_pairs_mut().append_pair("page", &page.to_string());
            let answer: Page<lcs::HistoryEntry> = self
                .enveloped(Method::GET, url, "environment history", Kind::Repeatable)
                .await?;
            items.extend(answer.data.into_iter().filter_map(|entry| {
                Some(HistoryItem {
                    activity: entry.activity_id?,
                    name: entry.name.unwrap_or_default(),
                    started: entry
                        .start_date_time_utc
                        .as_deref()
                        .and_then(lcs::parse_time),
                })
            }));
            if !answer.result_has_more_pages {
                break;
            }
        }
        items.sort_by_key(|item| std::cmp::Reverse(item.started));
        Ok(items)
    }

    async fn find_shared_asset(&self, name: &str) -> Result<Option<AssetInfo>, AdapterError> {
        let mut url = self.http.api(path::SHARED_ASSETS)?;
        url.query_pairs_mut()
            .append_pair("fileType", &SOFTWARE_DEPLOYABLE_PACKAGE.to_string());
        let assets: Vec<FileAsset> = self
            .call(Method::GET, url, "shared assets", Kind::Repeatable, None)
            .await?;
        Ok(assets
            .into_iter()
            .map(asset_info)
            .filter(|asset| asset.name == name)
            .max_by_key(|asset| asset.modified))
    }

    async fn download_asset(
        &self,
        project: u64,
        asset: &str,
        destination: &Path,
    ) -> Result<u64, AdapterError> {
        let location = self
            .file_asset(project, asset)
            .await?
            .file_location
            .ok_or_else(|| {
                AdapterError::Refused(format!("LCS gave no download location for asset {asset}"))
            })?;
        let url = reqwest::Url::parse(&location).map_err(|_| {
            AdapterError::Refused(format!(
                "the download location of asset {asset} is not a URL"
            ))
        })?;
        let write_error = |error: std::io::Error| {
            AdapterError::State(format!("cannot write `{}`: {error}", destination.display()))
        };
        let shown = crate::adapter::redact::shown_url(&url);
        let mut response = self.http.client.get(url).send().await.map_err(|error| {
            AdapterError::Transient(self.http.redactor.text(&format!(
                "download from {shown}: {}",
                http::transport_failure(&error).1
            )))
        })?;
        if !response.status().is_success() {
            return Err(AdapterError::Transient(format!(
                "download: the blob service answered HTTP {}",
                response.status()
            )));
        }
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(destination).map_err(write_error)?);
        let mut size = 0_u64;
        // Streamed chunk by chunk: memory does not grow with the file.
        while let Some(chunk) = response.chunk().await.map_err(|error| {
            AdapterError::Transient(self.http.redactor.text(&format!(
                "download from {shown} cut off: {}",
                http::transport_failure(&error).1
            )))
        })? {
            file.write_all(&chunk).map_err(write_error)?;
            size += chunk.len() as u64;
        }
        file.flush().map_err(write_error)?;
        tracing::debug!(target: "refreshctl::lcs", asset, size, "downloaded");
        Ok(size)
    }

    async fn project_assets(&self, project: u64) -> Result<Vec<AssetInfo>, AdapterError> {
        let mut url = self.http.api(&path::assets(project))?;
        url.query_pairs_mut()
            .append_pair("fileType", &SOFTWARE_DEPLOYABLE_PACKAGE.to_string());
        let assets: Vec<FileAsset> = self
            .call(Method::GET, url, "project assets", Kind::Repeatable, None)
            .await?;
        Ok(assets.into_iter().map(asset_info).collect())
    }

    async fn create_asset(
        &self,
        project: u64,
        name: &str,
        file_name: &str,
    ) -> Result<UploadTarget, AdapterError> {
        let url = self.http.api(&path::create_file_asset(project))?;
        let body = serde_json::to_value(lcs::CreateFileAsset {
            name: name.to_owned(),
            file_name: file_name.to_owned(),
            file_description: None,
            size_byte: 0,
            file_type: SOFTWARE_DEPLOYABLE_PACKAGE,
            version: None,
        })
        .map_err(|error| AdapterError::State(error.to_string()))?;
        let asset: FileAsset = self
            .call(
                Method::POST,
                url,
                "create file asset",
                Kind::Once,
                Some(RequestBody::Json(body)),
            )
            .await?;
        let location = asset.file_location.ok_or_else(|| {
            AdapterError::Refused("create file asset: LCS gave no upload location".into())
        })?;
        self.learn_location(&location);
        self.locations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(asset.id.clone(), location.clone());
        Ok(UploadTarget {
            asset: asset.id,
            location,
        })
    }

    async fn upload_target(&self, project: u64, asset: &str) -> Result<UploadTarget, AdapterError> {
        let known = self
            .locations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(asset)
            .cloned();
        let location = match known {
            Some(location) => location,
            None => self
                .file_asset(project, asset)
                .await?
                .file_location
                .ok_or_else(|| {
                    AdapterError::Refused(format!("LCS gave no location for asset {asset}"))
                })?,
        };
        Ok(UploadTarget {
            asset: asset.to_owned(),
            location,
        })
    }

    async fn upload_block(
        &self,
        target: &UploadTarget,
        block: &str,
        data: BlockData,
    ) -> Result<(), AdapterError> {
        let mut url = reqwest::Url::parse(&target.location)
            .map_err(|_| AdapterError::Refused("the upload location is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("comp", "block")
            .append_pair("blockid", block);
        self.blob(url, "put block", RequestBody::Block(data)).await
    }

    async fn commit_blocks(
        &self,
        target: &UploadTarget,
        blocks: &[String],
    ) -> Result<(), AdapterError> {
        let mut url = reqwest::Url::parse(&target.location)
            .map_err(|_| AdapterError::Refused("the upload location is not a URL".into()))?;
        url.query_pairs_mut().append_pair("comp", "blocklist");
        self.blob(url, "put block list", RequestBody::Text(block_list(blocks)))
            .await
    }

    async fn commit_asset(&self, project: u64, asset: &str) -> Result<(), AdapterError> {
        let mut url = self.http.api(&path::commit_file_asset(project))?;
        url.query_pairs_mut().append_pair("assetId", asset);
        let answer = self
            .http
            .send(&Request {
                method: Method::POST,
                url,
                what: "commit file asset",
                kind: Kind::Repeatable,
                bearer: true,
                body: None,
            })
            .await?;
        // Microsoft's task accepts 200 and 204; d365fo.tools reads `ErrorMessage`.
        if !answer.status.is_success() {
            return Err(AdapterError::Refused(format!(
                "commit file asset: HTTP {}",
                answer.status
            )));
        }
        match serde_json::from_slice::<Envelope>(&answer.body) {
            Ok(envelope) if !envelope.is_success => Err(AdapterError::Refused(format!(
                "commit file asset: {}",
                envelope.error_message.unwrap_or_default()
            ))),
            _ => Ok(()),
        }
    }

    async fn validation_status(
        &self,
        project: u64,
        asset: &str,
    ) -> Result<ValidationStatus, AdapterError> {
        let mut url = self.http.api(&path::validation_status(project))?;
        url.query_pairs_mut().append_pair("assetId", asset);
        let answer: lcs::ValidationStatus = self
            .call(
                Method::GET,
                url,
                "asset validation status",
                Kind::Repeatable,
                None,
            )
            .await?;
        Ok(match answer.display_status.as_deref() {
            Some("Done") => ValidationStatus::Done,
            Some("Process") => ValidationStatus::Process,
            Some("Unknown") | None => ValidationStatus::Unknown,
            // lcs-api.md 3.3: anything else is a failure.
            Some(_) => ValidationStatus::Failed,
        })
    }

    async fn apply_update(
        &self,
        project: u64,
        environment: &str,
        asset: &str,
        update_name: &str,
    ) -> Result<String, AdapterError> {
        let mut url = self
            .http
            .api(&path::apply_update(project, environment, asset))?;
        url.query_pairs_mut().append_pair("updateName", update_name);
        let answer: Envelope = self
            .enveloped(Method::POST, url, "apply update", Kind::Once)
            .await?;
        answer.operation_activity_id.ok_or_else(|| {
            AdapterError::Transient("apply update: the answer has no OperationActivityId".into())
        })
    }

    async fn deployment_status(
        &self,
        project: u64,
        environment: &str,
        activity: &str,
    ) -> Result<DeploymentStatus, AdapterError> {
        let url = self
            .http
            .api(&path::deployment_status(project, environment, activity))?;
        let answer: OperationStatus = self
            .enveloped(Method::GET, url, "deployment status", Kind::Repeatable)
            .await?;
        let Some(status) = answer.operation_status else {
            return Err(AdapterError::Transient(
                "deployment status: the answer has no OperationStatus".into(),
            ));
        };
        Ok(match status.as_str() {
            "NotStarted" => DeploymentStatus::NotStarted,
            "PreparingEnvironment" => DeploymentStatus::PreparingEnvironment,
            "InProgress" => DeploymentStatus::InProgress,
            "Completed" => DeploymentStatus::Completed,
            "SignedOff" => DeploymentStatus::SignedOff,
            "Failed" => DeploymentStatus::Failed,
            "PreparationFailed" => DeploymentStatus::PreparationFailed,
            other => {
                self.warn_unknown("deployment", other);
                DeploymentStatus::Unrecognized
            }
        })
    }

    async fn reset_financial_reporting(
        &self,
        _project: u64,
        _environment: &str,
    ) -> Result<(), AdapterError> {
        Err(AdapterError::Unsupported {
            adapter: "lcs",
            operation: "reset Financial reporting (the LCS API has no such call)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_with_or_without_dashes() {
        assert!(is_guid("5f1c2a7e-0000-4000-8000-000000000002"));
        assert!(is_guid("5f1c2a7e000040008000000000000002"));
        assert!(!is_guid("contoso-uat"));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            message_of(br#"{"ErrorMessage":"no\nmore"}"#).as_deref(),
            Some("no")
        );
        assert_eq!(
            blob_error_code(b"<Error><Code>AuthenticationFailed</Code></Error>").as_deref(),
            Some("AuthenticationFailed")
        );
        assert!(block_list(&["AA==".into()]).contains("<Latest>AA==</Latest>"));
    }
}
