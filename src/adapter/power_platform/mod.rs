//! The `power-platform` adapter: copy and point-in-time restore of finance and operations
//! environments managed in the Power Platform admin center, through the Power Platform API
//! (power-platform-api.md), over the same reqwest client as the `lcs` adapter. Configured from
//! `PP_*` environment variables; see `PowerPlatformConfig::from_env`.
//!
//! Before a copy or restore is sent, every fact it depends on is read live and checked, failing
//! closed: nothing is sent on any refusal. The 202 hands the operation over in a way Microsoft
//! does not document, so every variant the facts list is accepted. The API has no call for
//! deployable packages, so uploads and deployments are unsupported.

mod http;
mod restore_point;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub use restore_point::{restore_point, retention_of};

use self::http::{Answer, Audience, Http, Kind, Principal, Request};
use super::contract::{
    Adapter, AdapterError, AssetInfo, BlockData, DatabaseRequest, EnvironmentFacts, HistoryItem,
    LiveType, UploadTarget,
};
use super::{AdapterKind, Capabilities, RetryPolicy};
use crate::clock::Clock;
use crate::plan::{EnvironmentType, PowerPlatformOptions};
use crate::power_platform::{
    self as wire, API_VERSION, BAP_API_VERSION, BAP_SCOPE, Candidate, DEFAULT_API_URL,
    DEFAULT_BAP_URL, EnvironmentList, EnvironmentResponse, OperationResult, Paged, path,
};
use crate::sim::{DatabaseStatus, DeploymentStatus, ValidationStatus};

/// The service as messages name it.
const SERVICE: &str = "Power Platform";

/// How much earlier than the submit time an operation found in the list may have started and
/// still be the one just submitted (clocks differ).
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// How the adapter is set up (from `PP_*`).
#[derive(Debug, Clone)]
pub struct PowerPlatformConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The token endpoint; default Entra's v2 endpoint for the tenant.
    pub auth_url: String,
    pub api_url: String,
    pub api_version: String,
    pub bap_url: String,
    pub policy: RetryPolicy,
}

impl PowerPlatformConfig {
    /// From `PP_TENANT_ID`, `PP_CLIENT_ID`, `PP_CLIENT_SECRET` (required), `PP_AUTH_URL`,
    /// `PP_API_URL`, `PP_API_VERSION`, `PP_BAP_URL` and `PP_RETRY_DEADLINE` (optional).
    pub fn from_env() -> Result<Self, AdapterError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let missing: Vec<&str> = ["PP_TENANT_ID", "PP_CLIENT_ID", "PP_CLIENT_SECRET"]
            .into_iter()
            .filter(|name| var(name).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(AdapterError::Unavailable(format!(
                "the power-platform adapter needs {}: the tenant, and the application (client) id and a client secret of a service principal registered as a Power Platform management application",
                missing.join(", ")
            )));
        }
        let tenant_id = var("PP_TENANT_ID").unwrap_or_default();
        let mut policy = RetryPolicy::default();
        if let Some(text) = var("PP_RETRY_DEADLINE") {
            policy.deadline = humantime::parse_duration(&text).map_err(|error| {
                AdapterError::Unavailable(format!("PP_RETRY_DEADLINE `{text}`: {error}"))
            })?;
        }
        Ok(Self {
            auth_url: var("PP_AUTH_URL").unwrap_or_else(|| {
                format!("https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token")
            }),
            tenant_id,
            client_id: var("PP_CLIENT_ID").unwrap_or_default(),
            client_secret: var("PP_CLIENT_SECRET").unwrap_or_default(),
            api_url: var("PP_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
            api_version: var("PP_API_VERSION").unwrap_or_else(|| API_VERSION.into()),
            bap_url: var("PP_BAP_URL").unwrap_or_else(|| DEFAULT_BAP_URL.into()),
            policy,
        })
    }
}

/// The scope of a token for `base`: `<scheme>://<host[:port]>/.default`.
fn scope_of(base: &reqwest::Url) -> String {
    let mut origin = format!(
        "{}://{}",
        base.scheme(),
        base.host_str().unwrap_or_default()
    );
    if let Some(port) = base.port() {
        origin = format!("{origin}:{port}");
    }
    format!("{origin}/.default")
}

fn parse_base(text: &str, variable: &str) -> Result<reqwest::Url, AdapterError> {
    let url = reqwest::Url::parse(text.trim_end_matches('/'))
        .map_err(|error| AdapterError::Unavailable(format!("{variable} is not a URL: {error}")))?;
    if url.host_str().is_none() {
        return Err(AdapterError::Unavailable(format!(
            "{variable} `{text}` has no host"
        )));
    }
    Ok(url)
}

pub struct PowerPlatformAdapter {
    http: Http,
    api_url: reqwest::Url,
    bap_url: reqwest::Url,
    api_version: String,
    /// Operation URLs handed over by this process, by operation id (never needed after a crash:
    /// the environment-scoped operation path is built from the id).
    operations: Mutex<HashMap<String, reqwest::Url>>,
    /// Status values already warned about.
    unknown: Mutex<HashSet<String>>,
}

/// What a database request becomes once checked on the live facts.
struct Checked {
    target: EnvironmentResponse,
    source: EnvironmentResponse,
    /// The point a restore is sent with; none for a copy.
    point: Option<DateTime<Utc>>,
}

impl Checked {
    fn operation(&self) -> &'static str {
        if self.point.is_some() {
            "restore"
        } else {
            "copy"
        }
    }
}

/// A type as the Power Platform spells it (`Production`, `Sandbox`, `Developer`); anything
/// else (`Default`, `Trial`, `Teams`, …) is kept verbatim and refused by the guard.
#[must_use]
pub fn live_type(reported: Option<&str>) -> LiveType {
    match reported.map(str::trim).filter(|text| !text.is_empty()) {
        None => LiveType::Missing,
        Some(text) => {
            let kind = match text.to_ascii_lowercase().as_str() {
                "production" => Some(EnvironmentType::Production),
                "sandbox" => Some(EnvironmentType::Sandbox),
                "developer" => Some(EnvironmentType::Development),
                _ => None,
            };
            match kind {
                Some(kind) => LiveType::Known {
                    kind,
                    reported: text.to_owned(),
                },
                None => LiveType::Unrecognised(text.to_owned()),
            }
        }
    }
}

fn name_of(environment: &EnvironmentResponse) -> &str {
    environment
        .display_name
        .as_deref()
        .unwrap_or(&environment.id)
}

/// Whether an operation's status is final (UNSURE for `NoOperation` and `ValidationPassed`,
/// read as final so that they never block a target for ever).
fn is_final(status: &str) -> bool {
    matches!(
        status.to_ascii_lowercase().as_str(),
        "succeeded"
            | "failed"
            | "validationfailed"
            | "nooperation"
            | "validationpassed"
            | "canceled"
            | "cancelled"
    )
}

/// The operation id at the end of an operation URL's path.
fn operation_id_of(url: &reqwest::Url) -> Option<String> {
    url.path_segments()?
        .rev()
        .find(|segment| !segment.is_empty())
        .map(str::to_owned)
}

/// The stage that failed and why, from an operation's result.
fn failure_of(operation: &OperationResult, status: &str, what: &str) -> String {
    let stage = operation.stage_statuses.iter().find(|stage| {
        stage
            .status
            .as_deref()
            .is_some_and(|status| status.eq_ignore_ascii_case("failed"))
    });
    let detail = stage
        .and_then(|stage| stage.error_detail.as_ref())
        .or(operation.error_detail.as_ref())
        .map(wire::ErrorDetail::shown)
        .filter(|shown| !shown.is_empty());
    let mut message = format!(
        "the {what} operation {} ended {status}",
        operation.operation_id.as_deref().unwrap_or("(no id)")
    );
    if let Some(stage) = stage.and_then(|stage| stage.name.as_deref()) {
        let _ = write!(message, " in stage `{stage}`");
    }
    if let Some(detail) = detail {
        let _ = write!(message, ": {detail}");
    }
    message
        .push_str("; Microsoft advises waiting 30 minutes before trying again on the same target");
    message
}

impl PowerPlatformAdapter {
    pub fn new(config: &PowerPlatformConfig, clock: Clock) -> Result<Self, AdapterError> {
        let api_url = parse_base(&config.api_url, "PP_API_URL")?;
        let bap_url = parse_base(&config.bap_url, "PP_BAP_URL")?;
        parse_base(&config.auth_url, "PP_AUTH_URL")?;
        let bap_scope = if config.bap_url.trim_end_matches('/') == DEFAULT_BAP_URL {
            BAP_SCOPE.to_owned()
        } else {
            scope_of(&bap_url)
        };
        let principal = Principal {
            token_url: config.auth_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            api_scope: scope_of(&api_url),
            bap_scope,
        };
        Ok(Self {
            http: Http::new(principal, config.policy, clock)?,
            api_url,
            bap_url,
            api_version: config.api_version.clone(),
            operations: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashSet::new()),
        })
    }

    /// From the environment (see `PowerPlatformConfig::from_env`), on `clock`.
    pub fn from_env(clock: Clock) -> Result<Self, AdapterError> {
        Self::new(&PowerPlatformConfig::from_env()?, clock)
    }

    /// Signs in now, so bad credentials stop a command before anything is recorded.
    pub async fn sign_in(&self) -> Result<(), AdapterError> {
        self.http.bearer(Audience::Api, false).await.map(|_| ())
    }

    fn url(base: &reqwest::Url, path: &str, version: &str) -> reqwest::Url {
        let mut url = base.clone();
        let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.set_query(None);
        url.query_pairs_mut().append_pair("api-version", version);
        url
    }

    fn api(&self, path: &str) -> reqwest::Url {
        Self::url(&self.api_url, path, &self.api_version)
    }

    async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        what: &'static str,
        kind: Kind,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, AdapterError> {
        self.http
            .send(&Request {
                method,
                url,
                what,
                kind,
                audience: Audience::Api,
                body,
            })
            .await
    }

    /// A read: its JSON, or the refusal, classified.
    async fn get<T: DeserializeOwned>(
        &self,
        url: reqwest::Url,
        what: &'static str,
        id: &str,
    ) -> Result<T, AdapterError> {
        let answer = self
            .send(Method::GET, url, what, Kind::Repeatable, None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(AdapterError::NotFound {
                what: "environment or operation",
                id: id.to_owned(),
            });
        }
        if !answer.status.is_success() {
            return Err(refusal(what, &answer));
        }
        serde_json::from_slice(&answer.body).map_err(|_| {
            AdapterError::Transient(format!(
                "{what}: the Power Platform answered HTTP {} with a body that is not the expected JSON",
                answer.status
            ))
        })
    }

    async fn environments(&self) -> Result<Vec<EnvironmentResponse>, AdapterError> {
        let list: EnvironmentList = self
            .get(self.api(path::ENVIRONMENTS), "list environments", "")
            .await?;
        Ok(list.value)
    }

    /// The environment with this id, display name or URL (without case); two with one name are
    /// refused rather than guessed between.
    async fn find(&self, key: &str) -> Result<EnvironmentResponse, AdapterError> {
        let key = key.trim();
        let all = self.environments().await?;
        if let Some(found) = all
            .iter()
            .find(|environment| environment.id.eq_ignore_ascii_case(key))
        {
            return Ok(found.clone());
        }
        let named: Vec<&EnvironmentResponse> = all
            .iter()
            .filter(|environment| {
                environment
                    .display_name
                    .as_deref()
                    .is_some_and(|name| name.trim().eq_ignore_ascii_case(key))
                    || environment.url.as_deref().is_some_and(|url| {
                        url.trim_end_matches('/')
                            .eq_ignore_ascii_case(key.trim_end_matches('/'))
                    })
            })
            .collect();
        match named.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(AdapterError::NotFound {
                what: "environment",
                id: key.to_owned(),
            }),
            several => Err(AdapterError::Refused(format!(
                "{} environments are named `{key}` ({}); give the plan the environment's `id`",
                several.len(),
                several
                    .iter()
                    .map(|environment| environment.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    async fn operations_of(&self, environment: &str) -> Result<Vec<OperationResult>, AdapterError> {
        let page: Paged<OperationResult> = self
            .get(
                self.api(&path::operations(environment)),
                "list operations",
                environment,
            )
            .await?;
        Ok(page.collection)
    }

    async fn candidates(
        &self,
        source: &str,
        restore: bool,
    ) -> Result<Vec<Candidate>, AdapterError> {
        let (path, what) = if restore {
            (path::restore_candidates(source), "restore candidates")
        } else {
            (path::copy_candidates(source), "copy candidates")
        };
        let page: Paged<Candidate> = self.get(self.api(&path), what, source).await?;
        if page
            .continuation_token
            .as_deref()
            .is_some_and(|token| !token.is_empty())
        {
            // How to ask for the next page is undocumented (§2.2): never guess from a part.
            return Err(AdapterError::BadAnswer(format!(
                "{what}: the Power Platform answered with more than one page, which refreshctl cannot read (undocumented); check the candidates in the admin center"
            )));
        }
        Ok(page.collection)
    }

    /// Every check of power-platform-api.md 7.2 to 7.6 on the live facts, before a copy or
    /// restore; a refusal says which fact refused it.
    async fn check(&self, request: &DatabaseRequest<'_>) -> Result<Checked, AdapterError> {
        let target = self.find(request.target).await?;
        let target_name = name_of(&target).to_owned();
        let target_kind = live_type(target.kind.as_deref());
        target_kind
            .guard_on(SERVICE, &target_name)
            .map_err(AdapterError::Refused)?;
        let restore = request.source.is_none() || request.point.is_some();
        let source = match request.source {
            Some(source) => self.find(source).await?,
            None => target.clone(),
        };
        let source_name = name_of(&source).to_owned();
        let source_kind = live_type(source.kind.as_deref()).kind();
        for (role, environment) in [("target", &target), ("source", &source)] {
            if environment.fin_ops_metadata.is_none() {
                return Err(AdapterError::Refused(format!(
                    "the {role} `{}` has no finance and operations environment in the Power Platform (`finOpsMetadata` is null): a copy or restore would carry only Dataverse; an environment managed in LCS is refreshed with `--adapter lcs`",
                    name_of(environment)
                )));
            }
        }
        match (&source.azure_region, &target.azure_region) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {}
            (a, b) => {
                return Err(AdapterError::Refused(format!(
                    "the source `{source_name}` is in region {} and the target `{target_name}` in {}: copies and restores stay within one region",
                    a.as_deref().unwrap_or("(not reported)"),
                    b.as_deref().unwrap_or("(not reported)")
                )));
            }
        }
        if restore
            && target_kind.kind() == Some(EnvironmentType::Development)
            && source_kind != Some(EnvironmentType::Development)
        {
            return Err(AdapterError::Refused(format!(
                "the target `{target_name}` is a developer environment, which takes a restore only from a developer source; `{source_name}` is not one"
            )));
        }
        let candidates = self.candidates(&source.id, restore).await?;
        if !candidates
            .iter()
            .any(|candidate| candidate.environment_id.eq_ignore_ascii_case(&target.id))
        {
            return Err(AdapterError::Refused(format!(
                "the Power Platform does not list `{target_name}` among the {} candidates of `{source_name}`: check the pair (types, region, managed environments) in the admin center",
                if restore { "restore" } else { "copy" }
            )));
        }
        let now = self.http.clock.now();
        let sent = request
            .not_before
            .map_or(now, |not_before| not_before.max(now));
        let point = if restore {
            Some(
                restore_point(request.point, sent, source_kind, &source_name)
                    .map_err(AdapterError::Refused)?,
            )
        } else {
            None
        };
        let running: Vec<OperationResult> = self
            .operations_of(&target.id)
            .await?
            .into_iter()
            .filter(|operation| {
                operation
                    .status_text()
                    .is_none_or(|status| !is_final(&status))
            })
            .collect();
        if let Some(operation) = running.first() {
            return Err(AdapterError::Refused(format!(
                "the target `{target_name}` is busy: operation {} ({}) is {}",
                operation.operation_id.as_deref().unwrap_or("(no id)"),
                operation.name.as_deref().unwrap_or("unnamed"),
                operation
                    .status_text()
                    .unwrap_or_else(|| "in an unknown state".into())
            )));
        }
        Ok(Checked {
            target,
            source,
            point,
        })
    }

    /// Sends the copy or restore once and finds the operation it started.
    async fn submit(
        &self,
        checked: &Checked,
        options: &PowerPlatformOptions,
    ) -> Result<String, AdapterError> {
        let target = &checked.target.id;
        let (url, what, body) = match checked.point {
            None => {
                let copy_options = wire::CopyOptions {
                    skip_audit_data: options.skip_audit_data,
                    execute_advanced_copy_for_finance_and_operations: options
                        .transaction_less
                        .then_some(true),
                };
                let body = wire::CopyRequest {
                    source_environment_id: checked.source.id.clone(),
                    copy_type: options.copy_type.wire().to_owned(),
                    copy_options: (copy_options != wire::CopyOptions::default())
                        .then_some(copy_options),
                };
                (
                    self.api(&path::copy(target)),
                    "copy",
                    serde_json::to_value(body),
                )
            }
            Some(point) => {
                let body = wire::RestoreRequest {
                    source_environment_id: checked.source.id.clone(),
                    restore_point_date_time: wire::format_time(point),
                    restore_options: options.skip_audit_data.map(|skip| wire::RestoreOptions {
                        skip_audit_data: Some(skip),
                    }),
                };
                (
                    self.api(&path::restore(target)),
                    "restore",
                    serde_json::to_value(body),
                )
            }
        };
        let body = body.map_err(|error| AdapterError::State(error.to_string()))?;
        let submitted = self.http.clock.now();
        let answer = self
            .send(Method::POST, url, what, Kind::Once, Some(body))
            .await?;
        match answer.status {
            status if status.is_success() => {}
            StatusCode::CONFLICT => {
                return Err(AdapterError::Refused(format!(
                    "{what}: the Power Platform answered HTTP 409: an operation is already running on `{}`{}",
                    name_of(&checked.target),
                    detail_of(&answer.body)
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )));
            }
            _ => return Err(refusal(what, &answer)),
        }
        self.handover(&answer, &checked.target.id, checked.operation(), submitted)
            .await
    }

    /// The operation a 202 started: `Operation-Location`, `Location`, body `operationUrl`,
    /// body `operationId`, or the newest matching operation on the target since the submit
    /// (§2.7).
    async fn handover(
        &self,
        answer: &Answer,
        target: &str,
        operation: &str,
        submitted: DateTime<Utc>,
    ) -> Result<String, AdapterError> {
        let body: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
        let field = |name: &str| {
            body.as_ref()
                .and_then(|body| body.get(name))
                .and_then(|value| value.as_str())
                .map(str::to_owned)
        };
        let located = answer
            .operation_location
            .clone()
            .or_else(|| answer.location.clone())
            .or_else(|| field("operationUrl"))
            .and_then(|location| self.api_url.join(&location).ok());
        if let Some(url) = located
            && let Some(id) = operation_id_of(&url)
        {
            tracing::info!(target: "refreshctl::power_platform", operation = %id, "the {operation} started");
            self.operations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id.clone(), url);
            return Ok(id);
        }
        if let Some(id) = field("operationId") {
            return Ok(id);
        }
        let newest = self
            .operations_of(target)
            .await
            .map_err(|error| {
                AdapterError::Transient(format!(
                    "{operation}: accepted without naming its operation, and the operations list cannot be read ({error})"
                ))
            })?
            .into_iter()
            .filter(|item| {
                item.started().is_some_and(|started| started >= submitted - CLOCK_SKEW)
                    && item
                        .name
                        .as_deref()
                        .is_none_or(|name| name.to_ascii_lowercase().contains(operation))
            })
            .max_by_key(OperationResult::started);
        newest.and_then(|item| item.operation_id).ok_or_else(|| {
            AdapterError::Transient(format!(
                "{operation}: accepted without naming its operation, and none is listed on the target yet"
            ))
        })
    }

    fn warn_unknown(&self, value: &str) {
        let mut seen = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.insert(value.to_owned()) {
            tracing::warn!(target: "refreshctl::power_platform", status = value, "the Power Platform reported an operation status refreshctl does not know; treating it as still running until the step's deadline");
        }
    }

    /// An operation's result: from the URL handed over, else the environment-scoped path; a
    /// 404 looks in the target's operations list before giving up (§7.8).
    async fn operation(&self, target: &str, id: &str) -> Result<OperationResult, AdapterError> {
        let known = self
            .operations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned();
        let url = known.unwrap_or_else(|| self.api(&path::environment_operation(target, id)));
        match self
            .get::<OperationResult>(url, "operation status", id)
            .await
        {
            Err(AdapterError::NotFound { .. }) => self
                .operations_of(target)
                .await?
                .into_iter()
                .find(|item| item.operation_id.as_deref() == Some(id))
                .ok_or_else(|| AdapterError::NotFound {
                    what: "operation",
                    id: id.to_owned(),
                }),
            other => other,
        }
    }

    /// Switches administration mode off through BAP (§3, §7.9).
    async fn enable(&self, target: &str) -> Result<(), AdapterError> {
        let url = Self::url(
            &self.bap_url,
            &path::bap_environment(target),
            BAP_API_VERSION,
        );
        let answer = self
            .http
            .send(&Request {
                method: Method::PATCH,
                url,
                what: "switch administration mode off",
                kind: Kind::Repeatable,
                audience: Audience::Bap,
                body: Some(
                    serde_json::json!({"properties":{"states":{"runtime":{"id":"Enabled"}}}}),
                ),
            })
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refusal("switch administration mode off", &answer))
        }
    }
}

/// The `errorDetail` of a `ValidationResponse`, shown.
fn detail_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<wire::ValidationResponse>(body)
        .ok()?
        .error_detail
        .map(|detail| detail.shown())
        .filter(|shown| !shown.is_empty())
}

/// A refused call: its status, the service's `errorDetail`, and for 403 what is missing.
fn refusal(what: &str, answer: &Answer) -> AdapterError {
    let detail = detail_of(&answer.body)
        .map(|detail| format!(": {detail}"))
        .unwrap_or_default();
    let hint = if answer.status == StatusCode::FORBIDDEN {
        " (the service principal needs the Power Platform Contributor role at tenant scope, and an application user with System Administrator in both the source and the target)"
    } else {
        ""
    };
    AdapterError::Refused(format!(
        "{what}: the Power Platform answered HTTP {}{detail}{hint}",
        answer.status
    ))
}

fn facts(environment: &EnvironmentResponse) -> EnvironmentFacts {
    EnvironmentFacts {
        id: environment.id.clone(),
        name: name_of(environment).to_owned(),
        kind: live_type(environment.kind.as_deref()),
        // The F&O version is not exposed by this API (§5).
        release: None,
        // Whether an operation runs is read from the operations list before each call.
        busy: None,
    }
}

fn unsupported(operation: &'static str) -> AdapterError {
    AdapterError::Unsupported {
        adapter: "power-platform",
        operation,
    }
}

const NO_PACKAGES: &str = "handle deployable packages (the Power Platform API has no call for them: use `pac package deploy`)";
const NO_EXPORT: &str =
    "export a database (the Power Platform API has no bacpac export: use LCS or the admin center)";

impl Adapter for PowerPlatformAdapter {
    fn name(&self) -> &'static str {
        AdapterKind::PowerPlatform.name()
    }

    fn kind(&self) -> AdapterKind {
        AdapterKind::PowerPlatform
    }

    fn capabilities(&self) -> Capabilities {
        AdapterKind::PowerPlatform.capabilities()
    }

    async fn environment(
        &self,
        _project: u64,
        key: &str,
    ) -> Result<EnvironmentFacts, AdapterError> {
        self.find(key).await.map(|environment| facts(&environment))
    }

    async fn start_refresh(
        &self,
        project: u64,
        source: &str,
        target: &str,
    ) -> Result<String, AdapterError> {
        let options = PowerPlatformOptions::default();
        self.start_database_operation(
            project,
            &DatabaseRequest {
                source: Some(source),
                target,
                point: None,
                not_before: None,
                options: &options,
            },
        )
        .await
    }

    async fn start_restore(
        &self,
        project: u64,
        target: &str,
        point: Option<DateTime<Utc>>,
    ) -> Result<String, AdapterError> {
        let options = PowerPlatformOptions::default();
        self.start_database_operation(
            project,
            &DatabaseRequest {
                source: None,
                target,
                point,
                not_before: None,
                options: &options,
            },
        )
        .await
    }

    async fn preflight(
        &self,
        _project: u64,
        request: &DatabaseRequest<'_>,
    ) -> Result<(), AdapterError> {
        self.check(request).await.map(|_| ())
    }

    async fn start_database_operation(
        &self,
        _project: u64,
        request: &DatabaseRequest<'_>,
    ) -> Result<String, AdapterError> {
        // Checked again right before the call: facts change between preflight and the window.
        let checked = self.check(request).await?;
        self.submit(&checked, request.options).await
    }

    async fn after_database_operation(
        &self,
        _project: u64,
        request: &DatabaseRequest<'_>,
    ) -> Result<Vec<String>, AdapterError> {
        let read = |environment: &EnvironmentResponse| {
            (
                environment
                    .admin_mode
                    .clone()
                    .unwrap_or_else(|| "not reported".into()),
                environment
                    .background_operations_state
                    .clone()
                    .unwrap_or_else(|| "not reported".into()),
            )
        };
        let url = self.api(&path::environment(request.target));
        let mut target: EnvironmentResponse = self
            .get(url.clone(), "read environment", request.target)
            .await?;
        let name = name_of(&target).to_owned();
        let (admin, background) = read(&target);
        let mut lines = vec![format!(
            "`{name}` after the operation: state {}, administration mode {admin}, background operations {background}",
            target.state.as_deref().unwrap_or("not reported")
        )];
        let admin_on = |admin: &str| !admin.eq_ignore_ascii_case("disabled");
        if request.options.enable_after {
            if admin_on(&admin) {
                self.enable(&target.id).await?;
                target = self.get(url, "read environment", request.target).await?;
                let (admin, background) = read(&target);
                lines.push(format!(
                    "administration mode switched off as the plan asks: now {admin}, background operations {background}"
                ));
                if background.eq_ignore_ascii_case("disabled") {
                    lines.push(format!(
                        "background operations are still disabled (the admin API's call does not switch them): `pac admin set-runtime-state --environment {} --runtime-state Enabled --background-operations Enabled`",
                        target.id
                    ));
                }
            }
        } else if admin_on(&admin) {
            lines.push(
                "only System Administrators can sign in until administration mode is switched off (in the admin center, or with `power_platform: enable_after: true`)".into(),
            );
        }
        Ok(lines)
    }

    async fn database_status(
        &self,
        _project: u64,
        target: &str,
        activity: &str,
    ) -> Result<DatabaseStatus, AdapterError> {
        let operation = self.operation(target, activity).await?;
        let Some(status) = operation.status_text() else {
            self.warn_unknown("(none)");
            return Ok(DatabaseStatus::Unrecognized);
        };
        let what = operation.name.as_deref().map_or("database", |name| {
            if name.to_ascii_lowercase().contains("restore") {
                "restore"
            } else {
                "copy"
            }
        });
        Ok(match status.to_ascii_lowercase().as_str() {
            "queued" | "notstarted" => DatabaseStatus::NotStarted,
            "inprogress" | "running" | "validationpassed" => DatabaseStatus::InProgress,
            "succeeded" => DatabaseStatus::Completed,
            "failed" | "validationfailed" | "nooperation" | "canceled" | "cancelled" => {
                return Err(AdapterError::OperationFailed(failure_of(
                    &operation, &status, what,
                )));
            }
            _ => {
                self.warn_unknown(&status);
                DatabaseStatus::Unrecognized
            }
        })
    }

    async fn history(
        &self,
        _project: u64,
        environment: &str,
    ) -> Result<Vec<HistoryItem>, AdapterError> {
        let mut items: Vec<HistoryItem> = self
            .operations_of(environment)
            .await?
            .into_iter()
            .filter_map(|operation| {
                let started = operation.started();
                let reported = operation.name.clone().unwrap_or_default();
                let lower = reported.to_ascii_lowercase();
                // The executor recognises its call by the words `refresh` and `restore`; the
                // service's names are undocumented, so they are classified here: a restore is
                // also the refresh of a plan with a source and a point in time.
                let name = if lower.contains("restore") {
                    format!("restore (a refresh to a point in time): {reported}")
                } else if lower.contains("copy") {
                    format!("refresh (copy): {reported}")
                } else {
                    reported
                };
                Some(HistoryItem {
                    activity: operation.operation_id?,
                    name,
                    started,
                })
            })
            .collect();
        items.sort_by_key(|item| std::cmp::Reverse(item.started));
        Ok(items)
    }

    async fn find_shared_asset(&self, _name: &str) -> Result<Option<AssetInfo>, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn download_asset(
        &self,
        _project: u64,
        _asset: &str,
        _destination: &std::path::Path,
    ) -> Result<u64, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn project_assets(&self, _project: u64) -> Result<Vec<AssetInfo>, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn create_asset(
        &self,
        _project: u64,
        _name: &str,
        _file_name: &str,
    ) -> Result<UploadTarget, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn upload_target(
        &self,
        _project: u64,
        _asset: &str,
    ) -> Result<UploadTarget, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn upload_block(
        &self,
        _target: &UploadTarget,
        _block: &str,
        _data: BlockData,
    ) -> Result<(), AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn commit_blocks(
        &self,
        _target: &UploadTarget,
        _blocks: &[String],
    ) -> Result<(), AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn commit_asset(&self, _project: u64, _asset: &str) -> Result<(), AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn validation_status(
        &self,
        _project: u64,
        _asset: &str,
    ) -> Result<ValidationStatus, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn apply_update(
        &self,
        _project: u64,
        _environment: &str,
        _asset: &str,
        _update_name: &str,
    ) -> Result<String, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn start_export(
        &self,
        _project: u64,
        _environment: &str,
        _backup: &str,
    ) -> Result<String, AdapterError> {
        Err(unsupported(NO_EXPORT))
    }

    async fn deployment_status(
        &self,
        _project: u64,
        _environment: &str,
        _activity: &str,
    ) -> Result<DeploymentStatus, AdapterError> {
        Err(unsupported(NO_PACKAGES))
    }

    async fn reset_financial_reporting(
        &self,
        _project: u64,
        _environment: &str,
    ) -> Result<(), AdapterError> {
        Err(unsupported(
            "reset Financial reporting (the Power Platform API has no such call)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_platform_types_pass_the_guard_only_when_non_production() {
        let table = [
            (Some("Sandbox"), true),
            (Some("Developer"), true),
            (Some("Production"), false),
            (Some("Default"), false),
            (Some("Trial"), false),
            (Some("Teams"), false),
            (Some(""), false),
            (None, false),
        ];
        for (reported, allowed) in table {
            let verdict = live_type(reported).guard_on(SERVICE, "uat");
            assert_eq!(verdict.is_ok(), allowed, "{reported:?}: {verdict:?}");
            if let Err(message) = verdict {
                assert!(message.contains("Power Platform"), "{message}");
                assert!(!message.contains("LCS"), "{message}");
            }
        }
    }

    #[test]
    fn scopes_and_operation_ids() {
        let base = reqwest::Url::parse("https://api.powerplatform.com").unwrap();
        assert_eq!(scope_of(&base), "https://api.powerplatform.com/.default");
        let local = reqwest::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(scope_of(&local), "http://127.0.0.1:8080/.default");
        let url = reqwest::Url::parse(
            "https://api.powerplatform.com/environmentmanagement/operations/abc-123?api-version=2024-10-01",
        )
        .unwrap();
        assert_eq!(operation_id_of(&url).as_deref(), Some("abc-123"));
        assert!(is_final("Succeeded") && is_final("validationFailed"));
        assert!(!is_final("Queued") && !is_final("Mystery"));
    }

    #[test]
    fn a_failure_names_its_stage_and_detail() {
        let operation: OperationResult = serde_json::from_str(
            r#"{"operationId":"op-1","status":"Failed","stageStatuses":[{"name":"Validate","status":"Succeeded"},{"name":"Run","status":"Failed","errorDetail":{"code":"CapacityExceeded","message":"1 GB needed"}}]}"#,
        )
        .unwrap();
        let message = failure_of(&operation, "Failed", "copy");
        assert!(
            message.starts_with(
                "the copy operation op-1 ended Failed in stage `Run`: CapacityExceeded; 1 GB needed"
            ),
            "{message}"
        );
    }
}
