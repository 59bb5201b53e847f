//! The Power Platform endpoints of the emulator (power-platform-api.md section 8): the
//! environments, copy and restore candidates, backups, copy, restore and operations of the
//! `environmentmanagement` namespace, and BAP's administration-mode call, on the same `sim/`
//! model as the LCS endpoints, behind the same gate (request log, faults, tokens).
//!
//! The model holds what LCS and the Power Platform share (environments, types, operations and
//! their times); what only the Power Platform has (regions, the finance and operations link,
//! administration mode, manual backups, how a 202 hands over its operation) is kept here,
//! seeded with defaults and changed by tests through `POST /_emulator/power-platform`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{Emulator, lock};
use crate::plan::EnvironmentType;
use crate::power_platform::{
    self as wire, Backup, Candidate, EnvironmentList, EnvironmentResponse, ErrorDetail,
    FinOpsMetadata, OperationResult, Paged, StageStatus, ValidationResponse, format_time,
};
use crate::sim::{DatabaseStatus, Environment, Operation, OperationKind, SimError};

type Shared = State<Arc<Emulator>>;
type Params = Query<std::collections::HashMap<String, String>>;

/// How a 202 names its operation (UNDOCUMENTED: every variant an adapter must accept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handover {
    /// `Operation-Location` and `Location` both.
    #[default]
    Both,
    OperationLocation,
    Location,
    /// Body `operationUrl` only.
    BodyUrl,
    /// Body `operationId` only.
    BodyId,
    /// Nothing: the client must find it in the target's operations list.
    None,
}

/// How a database operation ends, beyond the model's own faults (`--sim-fault refresh-fails`
/// ends it `Failed` in stage `Run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    ValidationFailed,
}

/// What only the Power Platform knows of an environment; unset fields keep the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSettings {
    /// Default `westeurope`.
    #[serde(default)]
    pub azure_region: Option<String>,
    /// Whether a finance and operations environment is linked (default true).
    #[serde(default)]
    pub fin_ops: Option<bool>,
    /// The `type` reported instead of the model's (`"Trial"`, or `""` for none).
    #[serde(default)]
    pub reported_type: Option<String>,
}

/// The knobs of `POST /_emulator/power-platform` (each replaces the one before when given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// By environment id or name.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSettings>,
    #[serde(default)]
    pub handover: Option<Handover>,
    /// A status value reported instead of `InProgress` while an operation runs.
    #[serde(default)]
    pub running_status: Option<String>,
    /// Report BAP's `state: {id}` instead of `status`.
    #[serde(default)]
    pub bap_state: Option<bool>,
    /// How the next operations end.
    #[serde(default)]
    pub ending: Option<Ending>,
}

/// The Power Platform's own state in the emulator.
#[derive(Debug, Default)]
pub struct PowerPlatformState {
    settings: Settings,
    /// Operations started through this API: id → (source id, how it ends).
    operations: BTreeMap<String, (String, Option<Ending>)>,
    /// When administration mode was last switched off, by environment id.
    enabled: BTreeMap<String, DateTime<Utc>>,
    /// Manual backups, by environment id.
    backups: BTreeMap<String, Vec<Backup>>,
}

impl PowerPlatformState {
    fn merge(&mut self, settings: Settings) {
        self.settings.environments.extend(settings.environments);
        if settings.handover.is_some() {
            self.settings.handover = settings.handover;
        }
        if settings.running_status.is_some() {
            self.settings.running_status = settings.running_status.filter(|s| !s.is_empty());
        }
        if settings.bap_state.is_some() {
            self.settings.bap_state = settings.bap_state;
        }
        if settings.ending.is_some() {
            self.settings.ending = settings.ending;
        }
    }

    fn of(&self, environment: &Environment) -> EnvironmentSettings {
        let by_id = self.settings.environments.get(&environment.id);
        let by_name = self
            .settings
            .environments
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(&environment.name))
            .map(|(_, value)| value);
        by_id.or(by_name).cloned().unwrap_or_default()
    }
}

pub fn routes() -> Router<Arc<Emulator>> {
    let environment = "/environmentmanagement/environments/{id}";
    Router::new()
        .route("/environmentmanagement/environments", get(list))
        .route(environment, get(one))
        .route(
            &format!("{environment}/copyCandidates"),
            get(copy_candidates),
        )
        .route(
            &format!("{environment}/restoreCandidates"),
            get(restore_candidates),
        )
        .route(
            &format!("{environment}/backups"),
            get(backups).post(create_backup),
        )
        .route(&format!("{environment}/copy"), post(copy))
        .route(&format!("{environment}/restore"), post(restore))
        .route(&format!("{environment}/operations"), get(operations))
        .route(
            &format!("{environment}/operations/{{operation}}"),
            get(environment_operation),
        )
        .route(
            "/environmentmanagement/operations/{operation}",
            get(operation_by_id),
        )
        .route(
            "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{id}",
            patch(bap_patch),
        )
        .route("/_emulator/power-platform", post(configure))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(ValidationResponse {
            error_detail: Some(ErrorDetail {
                code: Some(code.into()),
                message: Some(message.into()),
                field_errors: None,
            }),
        }),
    )
        .into_response()
}

fn field_error(field: &str, message: &str) -> Response {
    let mut fields = BTreeMap::new();
    fields.insert(
        field.to_owned(),
        wire::FieldError {
            error_messages: vec![message.to_owned()],
            suggested_value: None,
        },
    );
    (
        StatusCode::BAD_REQUEST,
        axum::Json(ValidationResponse {
            error_detail: Some(ErrorDetail {
                code: Some("InvalidRequest".into()),
                message: None,
                field_errors: Some(fields),
            }),
        }),
    )
        .into_response()
}

/// Every call needs `api-version`.
fn versioned(params: &std::collections::HashMap<String, String>) -> Option<Response> {
    params
        .get("api-version")
        .is_none_or(String::is_empty)
        .then(|| {
            error(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        })
}

fn type_of(environment: &Environment, settings: &EnvironmentSettings) -> Option<String> {
    match &settings.reported_type {
        Some(text) if text.is_empty() => None,
        Some(text) => Some(text.clone()),
        None => Some(
            match environment.kind {
                EnvironmentType::Production => "Production",
                EnvironmentType::Sandbox => "Sandbox",
                EnvironmentType::Development | EnvironmentType::Build => "Developer",
            }
            .into(),
        ),
    }
}

fn region_of(settings: &EnvironmentSettings) -> String {
    settings
        .azure_region
        .clone()
        .unwrap_or_else(|| "westeurope".into())
}

/// When an operation of the model ends (queue, then its duration).
fn end_of(emulator: &Emulator, operation: &Operation) -> DateTime<Utc> {
    let model = lock(&emulator.model);
    let duration = match operation.kind {
        OperationKind::Refresh { .. } => model.durations.refresh,
        OperationKind::PointInTimeRestore { .. } => model.durations.restore,
        OperationKind::Export { .. } => model.durations.export,
    };
    operation.started + model.durations.queue + duration
}

fn response_of(emulator: &Emulator, environment: &Environment) -> EnvironmentResponse {
    let now = emulator.model_now();
    let state = lock(&emulator.power_platform);
    let settings = state.of(environment);
    let operations: Vec<Operation> = lock(&emulator.model)
        .operations
        .iter()
        .filter(|operation| operation.environment == environment.id && !operation.fails)
        .cloned()
        .collect();
    let succeeded: Vec<DateTime<Utc>> = operations
        .iter()
        .map(|operation| end_of(emulator, operation))
        .filter(|end| *end <= now)
        .collect();
    let busy = lock(&emulator.model).is_busy(&environment.id, now);
    let enabled = state.enabled.get(&environment.id).copied();
    let admin = succeeded
        .iter()
        .any(|end| enabled.is_none_or(|enabled| *end > enabled));
    let slug = environment.name.to_lowercase().replace(' ', "-");
    EnvironmentResponse {
        id: environment.id.clone(),
        display_name: Some(environment.name.clone()),
        kind: type_of(environment, &settings),
        state: Some(if busy { "NotReady" } else { "Ready" }.into()),
        azure_region: Some(region_of(&settings)),
        geo: Some("europe".into()),
        url: Some(format!("https://{slug}.crm4.dynamics.com/")),
        admin_mode: Some(if admin { "Enabled" } else { "Disabled" }.into()),
        // BAP's runtime call does not switch background operations back on (§7.9).
        background_operations_state: Some(
            if succeeded.is_empty() {
                "Enabled"
            } else {
                "Disabled"
            }
            .into(),
        ),
        fin_ops_metadata: settings
            .fin_ops
            .is_none_or(|linked| linked)
            .then(|| FinOpsMetadata {
                id: Some(environment.id.clone()),
                kind: Some("Internal".into()),
                url: Some(format!("https://{slug}.operations.eu.dynamics.com/")),
            }),
    }
}

fn find(emulator: &Emulator, id: &str) -> Option<Environment> {
    lock(&emulator.model)
        .environments
        .iter()
        .find(|environment| environment.id.eq_ignore_ascii_case(id))
        .cloned()
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "EnvironmentNotFound",
        &format!("The environment {id} was not found."),
    )
}

async fn list(State(emulator): Shared, Query(params): Params) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    let environments: Vec<Environment> = lock(&emulator.model).environments.clone();
    axum::Json(EnvironmentList {
        value: environments
            .iter()
            .map(|environment| response_of(&emulator, environment))
            .collect(),
    })
    .into_response()
}

async fn one(State(emulator): Shared, Path(id): Path<String>, Query(params): Params) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    match find(&emulator, &id) {
        Some(environment) => axum::Json(response_of(&emulator, &environment)).into_response(),
        None => not_found(&id),
    }
}

/// The targets a source may go to (§4.2, §4.4): same region, never production, both linked to
/// finance and operations; a restore only into a sandbox or developer environment, and a
/// sandbox may restore onto itself.
fn candidates(emulator: &Emulator, source: &Environment, restore: bool) -> Vec<Candidate> {
    let all: Vec<Environment> = lock(&emulator.model).environments.clone();
    let state = lock(&emulator.power_platform);
    let source_settings = state.of(source);
    all.iter()
        .filter(|target| {
            let settings = state.of(target);
            let kind = type_of(target, &settings).unwrap_or_default();
            let self_restore = target.id == source.id;
            region_of(&settings) == region_of(&source_settings)
                && kind != "Production"
                && (!restore || kind == "Sandbox" || kind == "Developer")
                && (!self_restore || (restore && kind == "Sandbox"))
        })
        .map(|target| Candidate {
            environment_id: target.id.clone(),
            display_name: Some(target.name.clone()),
            dataverse_organization_url: Some(format!(
                "https://{}.crm4.dynamics.com/",
                target.name.to_lowercase()
            )),
        })
        .collect()
}

fn candidates_answer(
    emulator: &Emulator,
    id: &str,
    restore: bool,
    params: &std::collections::HashMap<String, String>,
) -> Response {
    if let Some(missing) = versioned(params) {
        return missing;
    }
    match find(emulator, id) {
        Some(source) => axum::Json(Paged {
            collection: candidates(emulator, &source, restore),
            continuation_token: None,
        })
        .into_response(),
        None => not_found(id),
    }
}

async fn copy_candidates(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    candidates_answer(&emulator, &id, false, &params)
}

async fn restore_candidates(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    candidates_answer(&emulator, &id, true, &params)
}

async fn backups(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    if find(&emulator, &id).is_none() {
        return not_found(&id);
    }
    let collection = lock(&emulator.power_platform)
        .backups
        .get(&id)
        .cloned()
        .unwrap_or_default();
    axum::Json(Paged {
        collection,
        continuation_token: None,
    })
    .into_response()
}

fn retention(environment: &Environment) -> TimeDelta {
    if environment.kind == EnvironmentType::Production {
        TimeDelta::days(28)
    } else {
        TimeDelta::days(7)
    }
}

async fn create_backup(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    let Some(environment) = find(&emulator, &id) else {
        return not_found(&id);
    };
    let label = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|body| {
            body.get("label")
                .and_then(|l| l.as_str())
                .map(str::to_owned)
        })
        .filter(|label| !label.is_empty());
    let Some(label) = label else {
        return field_error("label", "The label is required.");
    };
    let now = emulator.model_now();
    let backup = Backup {
        id: Some(format!("backup-{}", now.timestamp_millis())),
        label: Some(label),
        backup_point_date_time: Some(format_time(now)),
        backup_expiry_date_time: Some(format_time(now + retention(&environment))),
    };
    lock(&emulator.power_platform)
        .backups
        .entry(id)
        .or_default()
        .push(backup.clone());
    (StatusCode::CREATED, axum::Json(backup)).into_response()
}

/// A refusal of the model, as the Power Platform answers it.
fn sim_refusal(refused: SimError) -> Response {
    match refused {
        SimError::Throttled { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, retry_after.to_string())],
            "",
        )
            .into_response(),
        SimError::NotFound { id, .. } => not_found(&id),
        SimError::Business(message) if message.contains("busy") => {
            error(StatusCode::CONFLICT, "OperationInProgress", &message)
        }
        SimError::Business(message) => error(StatusCode::BAD_REQUEST, "BadRequest", &message),
    }
}

/// The checks common to copy and restore; the target when they pass.
#[expect(
    clippy::result_large_err,
    reason = "the error is the answer itself, made once per request"
)]
fn accept_target(emulator: &Emulator, id: &str) -> Result<Environment, Response> {
    let target = find(emulator, id).ok_or_else(|| not_found(id))?;
    if target.kind == EnvironmentType::Production {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidTargetEnvironment",
            "A production environment cannot be the target of a copy or restore.",
        ));
    }
    if lock(&emulator.model).is_busy(&target.id, emulator.model_now()) {
        return Err(error(
            StatusCode::CONFLICT,
            "OperationInProgress",
            &format!(
                "Another lifecycle operation is in progress on environment {}.",
                target.id
            ),
        ));
    }
    Ok(target)
}

/// The 202 of a copy or restore, handing the operation over as the settings say.
fn accepted(
    emulator: &Emulator,
    operation: &str,
    params: &std::collections::HashMap<String, String>,
) -> Response {
    let version = params.get("api-version").cloned().unwrap_or_default();
    let url = format!(
        "{}/environmentmanagement/operations/{operation}?api-version={version}",
        lock(&emulator.base)
    );
    let handover = lock(&emulator.power_platform)
        .settings
        .handover
        .unwrap_or_default();
    let body = match handover {
        Handover::BodyUrl => serde_json::json!({ "operationUrl": url }).to_string(),
        Handover::BodyId => serde_json::json!({ "operationId": operation }).to_string(),
        _ => String::new(),
    };
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    let headers = response.headers_mut();
    let value = HeaderValue::from_str(&url).unwrap_or(HeaderValue::from_static("/"));
    if matches!(handover, Handover::Both | Handover::OperationLocation) {
        headers.insert("operation-location", value.clone());
    }
    if matches!(handover, Handover::Both | Handover::Location) {
        headers.insert(axum::http::header::LOCATION, value);
    }
    if matches!(handover, Handover::BodyUrl | Handover::BodyId) {
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    } else {
        headers.remove(axum::http::header::CONTENT_TYPE);
    }
    response
}

fn validate_only(params: &std::collections::HashMap<String, String>) -> bool {
    params
        .get("ValidateOnly")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

async fn copy(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    let request: wire::CopyRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return field_error("body", &format!("The request is invalid: {error}")),
    };
    if !matches!(request.copy_type.as_str(), "Full" | "Minimal") {
        return field_error("copyType", "The copy type must be Full or Minimal.");
    }
    let target = match accept_target(&emulator, &id) {
        Ok(target) => target,
        Err(refusal) => return refusal,
    };
    let Some(source) = find(&emulator, &request.source_environment_id) else {
        return not_found(&request.source_environment_id);
    };
    if validate_only(&params) {
        return (StatusCode::ACCEPTED, "").into_response();
    }
    let now = emulator.model_now();
    let started = lock(&emulator.model).start_refresh(target.project, &source.id, &target.id, now);
    match started {
        Ok(operation) => {
            let mut state = lock(&emulator.power_platform);
            let ending = state.settings.ending;
            state
                .operations
                .insert(operation.clone(), (source.id, ending));
            drop(state);
            accepted(&emulator, &operation, &params)
        }
        Err(error) => sim_refusal(error),
    }
}

async fn restore(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    let request: wire::RestoreRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return field_error("body", &format!("The request is invalid: {error}")),
    };
    // RFC 3339 with an offset; a time without one is refused.
    let Ok(point) = DateTime::parse_from_rfc3339(&request.restore_point_date_time) else {
        return field_error(
            "restorePointDateTime",
            "The restore point must be an RFC 3339 time with an offset.",
        );
    };
    let point = point.to_utc();
    let Some(source) = find(&emulator, &request.source_environment_id) else {
        return not_found(&request.source_environment_id);
    };
    let now = emulator.model_now();
    if point > now || point < now - retention(&source) {
        return field_error(
            "restorePointDateTime",
            "The restore point is outside the backup retention of the source environment.",
        );
    }
    let target = match accept_target(&emulator, &id) {
        Ok(target) => target,
        Err(refusal) => return refusal,
    };
    if validate_only(&params) {
        return (StatusCode::ACCEPTED, "").into_response();
    }
    let started = lock(&emulator.model).start_restore(target.project, &target.id, Some(point), now);
    match started {
        Ok(operation) => {
            let mut state = lock(&emulator.power_platform);
            let ending = state.settings.ending;
            state
                .operations
                .insert(operation.clone(), (source.id, ending));
            drop(state);
            accepted(&emulator, &operation, &params)
        }
        Err(error) => sim_refusal(error),
    }
}

/// An operation's result at the model's now, with its stages (Validate, Prepare, Run,
/// Finalize).
fn result_of(emulator: &Emulator, operation: &Operation) -> OperationResult {
    let now = emulator.model_now();
    let status = {
        let mut model = lock(&emulator.model);
        let faults = model.faults;
        // A status read must not consume the model's throttling faults.
        model.faults.throttled_calls = 0;
        let status = model
            .database_status(&operation.environment, &operation.activity, now)
            .unwrap_or(DatabaseStatus::InProgress);
        model.faults = faults;
        status
    };
    let state = lock(&emulator.power_platform);
    let (source, ending) = state
        .operations
        .get(&operation.activity)
        .cloned()
        .unwrap_or_default();
    let end = end_of(emulator, operation);
    let started = operation.started;
    let total = (end - started).max(TimeDelta::seconds(4));
    let failed_stage = match (status, ending) {
        (DatabaseStatus::Failed, _) => Some(2),
        (DatabaseStatus::Completed, Some(Ending::ValidationFailed)) => Some(0),
        _ => None,
    };
    let (text, error_detail) = match (status, failed_stage) {
        (_, Some(0)) => (
            "ValidationFailed".to_owned(),
            Some(ErrorDetail {
                code: Some("ValidationFailed".into()),
                message: Some("The source and target are not compatible (fault injected).".into()),
                field_errors: None,
            }),
        ),
        (_, Some(_)) => (
            "Failed".to_owned(),
            Some(ErrorDetail {
                code: Some("InternalServerError".into()),
                message: Some("The database operation failed (fault injected).".into()),
                field_errors: None,
            }),
        ),
        (DatabaseStatus::NotStarted, None) => ("Queued".to_owned(), None),
        (DatabaseStatus::Completed, None) => ("Succeeded".to_owned(), None),
        _ => (
            state
                .settings
                .running_status
                .clone()
                .unwrap_or_else(|| "InProgress".into()),
            None,
        ),
    };
    let stages = stages_of(started, total, now, failed_stage, error_detail.as_ref());
    let terminal = matches!(text.as_str(), "Succeeded" | "Failed" | "ValidationFailed");
    let (status, bap) = if state.settings.bap_state == Some(true) {
        (None, Some(serde_json::json!({ "id": text })))
    } else {
        (Some(text), None)
    };
    let _ = source;
    OperationResult {
        operation_id: Some(operation.activity.clone()),
        name: Some(
            match operation.kind {
                OperationKind::Refresh { .. } => "Copy",
                OperationKind::PointInTimeRestore { .. } => "Restore",
                // An LCS export of the same environment, seen through this API's list.
                OperationKind::Export { .. } => "Export",
            }
            .into(),
        ),
        status,
        state: bap,
        // To the millisecond: a client compares them with when it sent its request.
        start_time: Some(started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        end_time: terminal.then(|| {
            end.min(now)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }),
        stage_statuses: stages,
        error_detail,
    }
}

/// The four stages of an operation (Validate, Prepare, Run, Finalize), each a quarter of it,
/// as they stand at `now`; the failed one carries the error.
fn stages_of(
    started: DateTime<Utc>,
    total: TimeDelta,
    now: DateTime<Utc>,
    failed_stage: Option<usize>,
    error_detail: Option<&ErrorDetail>,
) -> Vec<StageStatus> {
    let stage_names = ["Validate", "Prepare", "Run", "Finalize"];
    let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> = (0..4)
        .map(|index: i32| {
            (
                started + total * index / 4,
                started + total * (index + 1) / 4,
            )
        })
        .collect();
    stage_names
        .iter()
        .zip(&bounds)
        .enumerate()
        .map(|(index, (name, (from, to)))| {
            let stage_status = match failed_stage {
                Some(failed) if index == failed => "Failed",
                Some(failed) if index > failed => "NotStarted",
                _ if now >= *to => "Succeeded",
                _ if now >= *from => "InProgress",
                _ => "NotStarted",
            };
            StageStatus {
                name: Some((*name).into()),
                status: Some(stage_status.into()),
                start_time: (now >= *from).then(|| format_time(*from)),
                end_time: (now >= *to).then(|| format_time(*to)),
                error_detail: (failed_stage == Some(index))
                    .then(|| error_detail.cloned())
                    .flatten(),
            }
        })
        .collect()
}

fn operation_of(emulator: &Emulator, environment: Option<&str>, id: &str) -> Option<Operation> {
    lock(&emulator.model)
        .operations
        .iter()
        .find(|operation| {
            operation.activity == id
                && environment.is_none_or(|environment| {
                    operation.environment.eq_ignore_ascii_case(environment)
                })
        })
        .cloned()
}

fn operation_answer(
    emulator: &Emulator,
    environment: Option<&str>,
    id: &str,
    params: &std::collections::HashMap<String, String>,
) -> Response {
    if let Some(missing) = versioned(params) {
        return missing;
    }
    match operation_of(emulator, environment, id) {
        Some(operation) => axum::Json(result_of(emulator, &operation)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            &format!("The operation {id} was not found."),
        ),
    }
}

async fn environment_operation(
    State(emulator): Shared,
    Path((environment, id)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    operation_answer(&emulator, Some(&environment), &id, &params)
}

async fn operation_by_id(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    operation_answer(&emulator, None, &id, &params)
}

async fn operations(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    if find(&emulator, &id).is_none() {
        return not_found(&id);
    }
    let mut mine: Vec<Operation> = lock(&emulator.model)
        .operations
        .iter()
        .filter(|operation| operation.environment.eq_ignore_ascii_case(&id))
        .cloned()
        .collect();
    mine.sort_by_key(|operation| std::cmp::Reverse(operation.started));
    axum::Json(Paged {
        collection: mine
            .iter()
            .map(|operation| result_of(&emulator, operation))
            .collect(),
        continuation_token: None,
    })
    .into_response()
}

/// BAP's `PATCH …/environments/{id}` with `properties.states.runtime.id` = `Enabled` switches
/// administration mode off (`AdminMode` switches it on again: not modelled).
async fn bap_patch(
    State(emulator): Shared,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    if let Some(missing) = versioned(&params) {
        return missing;
    }
    if find(&emulator, &id).is_none() {
        return not_found(&id);
    }
    let runtime = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|body| {
            body.pointer("/properties/states/runtime/id")
                .and_then(|id| id.as_str())
                .map(str::to_owned)
        });
    match runtime.as_deref() {
        Some("Enabled") => {
            let now = emulator.model_now();
            lock(&emulator.power_platform).enabled.insert(id, now);
            StatusCode::ACCEPTED.into_response()
        }
        Some("AdminMode") => StatusCode::ACCEPTED.into_response(),
        _ => field_error(
            "properties.states.runtime.id",
            "The runtime state must be Enabled or AdminMode.",
        ),
    }
}

async fn configure(State(emulator): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<Settings>(&body) {
        Ok(settings) => {
            lock(&emulator.power_platform).merge(settings);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

/// The tenant the emulator's Power Platform endpoints are reached with.
pub const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";

impl super::Running {
    /// A configuration of the `power-platform` adapter that signs in to this emulator.
    #[must_use]
    pub fn power_platform_config(&self) -> crate::adapter::PowerPlatformConfig {
        crate::adapter::PowerPlatformConfig {
            tenant_id: TENANT.into(),
            client_id: "00000000-0000-0000-0000-0000000000bb".into(),
            client_secret: self.emulator.config.password.clone(),
            auth_url: format!("{}/{TENANT}/oauth2/v2.0/token", self.url()),
            api_url: self.url(),
            api_version: crate::power_platform::API_VERSION.into(),
            bap_url: self.url(),
            policy: crate::adapter::RetryPolicy::default(),
        }
    }

    /// Sets the Power Platform's own facts and knobs (as `POST /_emulator/power-platform`).
    pub fn configure_power_platform(&self, settings: Settings) {
        lock(&self.emulator.power_platform).merge(settings);
    }
}
