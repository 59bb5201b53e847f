//! The emulator's HTTP surface: LCS's paths and JSON, the token endpoints, the blob endpoints
//! and the control endpoints, behind one gate that logs, injects faults and checks tokens.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::TimeDelta;
use serde::Serialize;

use super::blob::{BrokenBody, PaddingBody};
use super::blob_service;
use super::faults::{Fault, FaultRule};
use super::{Emulator, RequestRecord, lock};
use crate::lcs::{self, Envelope, EnvironmentDetail, FileAsset, OperationStatus, Page};
use crate::sim::{Lcs, SOFTWARE_DEPLOYABLE_PACKAGE, SimError, dotnet_time, same_id};

type Shared = State<Arc<Emulator>>;
type Params = Query<HashMap<String, String>>;

pub fn router(emulator: Arc<Emulator>) -> Router {
    let detail = "/environmentinfo/v1/detail/project/{project}";
    let history = "/environmentinfo/v1/history/project/{project}/environment/{environment}";
    Router::new()
        .route("/{tenant}/oauth2/token", post(token_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route(detail, get(environment_detail))
        .route(&format!("{detail}/"), get(environment_detail))
        .route(history, get(environment_history))
        .route(&format!("{history}/"), get(environment_history))
        .route(
            "/databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}",
            post(start_refresh),
        )
        .route(
            "/databasemovement/v1/fetchstatus/project/{project}/environment/{environment}/operationactivity/{activity}",
            get(database_status),
        )
        .route(
            "/databasemovement/v1/export/project/{project}/environment/{environment}/backupName/{backup}",
            post(start_export),
        )
        .route(
            "/databasemovement/v1/databases/project/{project}",
            get(database_backups),
        )
        .route(
            "/environment/v2/applyupdate/project/{project}/environment/{environment}/asset/{asset}",
            post(apply_update),
        )
        .route(
            "/environment/v2/fetchstatus/project/{project}/environment/{environment}/operationactivity/{activity}",
            get(deployment_status),
        )
        .route("/box/fileasset/GetSharedAssets", get(shared_assets))
        .route("/box/fileasset/GetAssets/{project}", get(project_assets))
        .route("/box/fileasset/GetFileAsset/{project}", get(file_asset))
        .route("/box/fileasset/CreateFileAsset/{project}", post(create_file_asset))
        .route("/box/fileasset/CommitFileAsset/{project}", post(commit_file_asset))
        .route(
            "/box/fileasset/GetFileAssetValidationStatus/{project}",
            get(validation_status),
        )
        .route(
            "/blob/{container}/{asset}",
            put(blob_service::put).get(blob_service::get),
        )
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/model", get(model))
        .route("/_emulator/faults", post(script_faults))
        .route("/_emulator/revoke-tokens", post(revoke_tokens))
        .layer(middleware::from_fn_with_state(emulator.clone(), gate))
        .with_state(emulator)
}

/// Logs every request, injects faults, and checks the bearer token on LCS's endpoints.
async fn gate(State(emulator): Shared, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = redact(request.uri().query().unwrap_or_default());
    let control = path.starts_with("/_emulator/");
    let fault = if control {
        None
    } else {
        let scripted = lock(&emulator.script)
            .iter_mut()
            .find_map(|rule| rule.take(&method, &path));
        scripted.or_else(|| emulator.config.rates.roll(&mut lock(&emulator.dice)))
    };
    let label = fault.as_ref().map(Fault::label);
    let response = match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (
                code,
                axum::Json(serde_json::json!({
                    "Message": format!("fault injected: HTTP {status}"),
                })),
            )
                .into_response();
            if status == 429 {
                let value = retry_after.unwrap_or_else(|| "1".into());
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            response
        }
        Some(Fault::Drop) => Response::new(Body::new(BrokenBody)),
        Some(Fault::Garbage) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "<html><body>Service Unavailable</body></html>",
        )
            .into_response(),
        Some(Fault::Json { body }) => axum::Json(body).into_response(),
        // Chunked, without a length: the client learns the size only by reading.
        Some(Fault::Huge { bytes }) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::new(PaddingBody::new(bytes)),
        )
            .into_response(),
        Some(Fault::Echo { status }) => echo(status, request).await,
        Some(Fault::ExpireToken) => {
            emulator.revoke_tokens();
            unauthorized()
        }
        Some(Fault::Slow { millis }) => {
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            pass(&emulator, &path, request, next).await
        }
        None => pass(&emulator, &path, request, next).await,
    };
    let mut log = lock(&emulator.log);
    let seq = log.len() as u64 + 1;
    if !control {
        log.push(RequestRecord {
            seq,
            method,
            path,
            query,
            status: response.status().as_u16(),
            fault: label,
        });
    }
    response
}

/// The answer of an echo fault: the request's body and `Authorization` header in every
/// message field (`error_description`, `ErrorMessage`, `Message`), with `IsSuccess: false`.
async fn echo(status: u16, request: Request) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    let echoed = format!(
        "the request was {} with authorization {authorization}",
        String::from_utf8_lossy(&body)
    );
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        code,
        axum::Json(serde_json::json!({
            "error": "invalid_request",
            "error_description": echoed,
            "IsSuccess": false,
            "OperationActivityId": random_guid(),
            "VersionEOL": lcs::VERSION_EOL,
            "ErrorMessage": echoed,
            "Message": echoed,
        })),
    )
        .into_response()
}

async fn pass(emulator: &Emulator, path: &str, request: Request, next: Next) -> Response {
    let open =
        path.starts_with("/_emulator/") || path.starts_with("/blob/") || path.contains("/oauth2/");
    if !open && !authorized(emulator, request.headers()) {
        return unauthorized();
    }
    next.run(request).await
}

fn authorized(emulator: &Emulator, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let now = emulator.token_now();
    lock(&emulator.tokens)
        .access
        .get(token.trim())
        .is_some_and(|expiry| *expiry > now)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        axum::Json(
            serde_json::json!({ "Message": "Authorization has been denied for this request." }),
        ),
    )
        .into_response()
}

/// The query without secrets: `sig` values are replaced.
fn redact(query: &str) -> String {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            if part.starts_with("sig=") {
                "sig=REDACTED"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A random GUID (version 4), as LCS's activity ids are.
pub(super) fn random_guid() -> String {
    crate::lcs::random_guid()
}

fn random_token(prefix: &str) -> String {
    use std::fmt::Write as _;
    let mut bytes = [0_u8; 24];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().fold(prefix.to_owned(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn token_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "error": "invalid_grant",
            "error_description": description,
        })),
    )
        .into_response()
}

/// Checks a token request; returns the error to answer with, if any.
fn check_grant(
    emulator: &Emulator,
    form: &HashMap<String, String>,
    version_field: &str,
) -> Option<Response> {
    if form.get("client_id").is_none_or(String::is_empty) {
        return Some(token_error(
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        ));
    }
    match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            if form.get(version_field).is_none_or(String::is_empty) {
                return Some(token_error(&format!(
                    "AADSTS900144: The request body must contain the following parameter: '{version_field}'."
                )));
            }
            let user = form.get("username").is_some_and(|user| !user.is_empty());
            if !user || form.get("password") != Some(&emulator.config.password) {
                return Some(token_error(
                    "AADSTS50126: Error validating credentials due to invalid username or password.",
                ));
            }
            None
        }
        Some("refresh_token") => {
            let known = form
                .get("refresh_token")
                .is_some_and(|token| lock(&emulator.tokens).refresh.contains_key(token));
            (!known).then(|| token_error("AADSTS70000: The provided refresh token is not valid."))
        }
        _ => Some(token_error(
            "AADSTS70003: The app requested an unsupported grant type.",
        )),
    }
}

/// Issues an access token and a refresh token for `resource`; returns them with the lifetime
/// in seconds (on the token clock).
fn issue(emulator: &Emulator, resource: &str) -> (String, String, i64) {
    let access = random_token("emu-at-");
    let refresh = random_token("emu-rt-");
    let lifetime = emulator.config.token_lifetime;
    let mut tokens = lock(&emulator.tokens);
    tokens
        .access
        .insert(access.clone(), emulator.token_now() + lifetime);
    tokens.refresh.insert(refresh.clone(), resource.to_owned());
    (access, refresh, lifetime.num_seconds().max(1))
}

/// The `resource` of a token request: the form's, or for a refresh token the one the token was
/// first issued for. Entra's v1 endpoint answers it either way, and d365fo.tools'
/// `Get-D365LcsApiConfig | Invoke-D365LcsApiRefreshToken | Set-D365LcsApiConfig` saves it as
/// the API address (`Set-D365LcsApiConfig` binds `resource` to `LcsApiUri`).
fn resource_of(emulator: &Emulator, form: &HashMap<String, String>) -> String {
    form.get("resource")
        .filter(|resource| !resource.is_empty())
        .cloned()
        .or_else(|| {
            let token = form.get("refresh_token")?;
            lock(&emulator.tokens).refresh.get(token).cloned()
        })
        .unwrap_or_default()
}

async fn token_v1(State(emulator): Shared, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(error) = check_grant(&emulator, &form, "resource") {
        return error;
    }
    let resource = resource_of(&emulator, &form);
    let (access, refresh, lifetime) = issue(&emulator, &resource);
    let expires_on = (emulator.token_now() + TimeDelta::seconds(lifetime)).timestamp();
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "scope": "user_impersonation",
        "expires_in": lifetime.to_string(),
        "ext_expires_in": lifetime.to_string(),
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "access_token": access,
        "refresh_token": refresh,
    }))
    .into_response()
}

async fn token_v2(State(emulator): Shared, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(error) = check_grant(&emulator, &form, "scope") {
        return error;
    }
    let (access, refresh, lifetime) = issue(&emulator, "");
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "scope": form.get("scope").cloned().unwrap_or_default(),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
        "refresh_token": refresh,
    }))
    .into_response()
}

fn json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// An envelope for a model call: business refusals are HTTP 200 with `IsSuccess: false`,
/// throttling is 429 with `retry-after`.
fn envelope(result: Result<Option<String>, SimError>) -> Response {
    match result {
        Ok(activity) => json(&Envelope::success(activity)),
        Err(error) => sim_error(error),
    }
}

fn sim_error(error: SimError) -> Response {
    match error {
        SimError::Throttled { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            "",
        )
            .into_response(),
        SimError::NotFound { what, id } => json(&Envelope::failure(format!(
            "The {what} {id} was not found or you do not have access to it."
        ))),
        SimError::Business(message) => json(&Envelope::failure(message)),
    }
}

/// The metadata API's limit: so many calls per project per minute (429 with `retry-after`).
fn metadata_limit(emulator: &Emulator, project: u64) -> Option<Response> {
    let limit = emulator.config.metadata_per_minute;
    if limit == 0 {
        return None;
    }
    let now = emulator.wall_now();
    let mut calls = lock(&emulator.metadata_calls);
    calls.retain(|(_, at)| now - *at < TimeDelta::minutes(1));
    let recent: Vec<_> = calls
        .iter()
        .filter(|(p, _)| *p == project)
        .map(|(_, at)| *at)
        .collect();
    if recent.len() >= limit {
        let oldest = recent.into_iter().min().unwrap_or(now);
        let wait = (oldest + TimeDelta::minutes(1) - now).num_seconds().max(1);
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, wait.to_string())],
                "",
            )
                .into_response(),
        );
    }
    calls.push((project, now));
    None
}

fn page_of<T: Clone>(
    items: &[T],
    params: &HashMap<String, String>,
    size: usize,
) -> (Vec<T>, u32, bool) {
    let page: u32 = params
        .get("page")
        .and_then(|page| page.parse().ok())
        .filter(|page| *page > 0)
        .unwrap_or(1);
    let start = (page as usize - 1) * size.max(1);
    let slice = items
        .iter()
        .skip(start)
        .take(size.max(1))
        .cloned()
        .collect();
    (slice, page, items.len() > start + size.max(1))
}

async fn environment_detail(
    State(emulator): Shared,
    Path(project): Path<u64>,
    Query(params): Params,
) -> Response {
    if let Some(throttled) = metadata_limit(&emulator, project) {
        return throttled;
    }
    let now = emulator.model_now();
    let model = lock(&emulator.model);
    let wanted_id = params.get("environmentId");
    let wanted_name = params.get("environmentName");
    let all: Vec<EnvironmentDetail> = model
        .environments
        .iter()
        .filter(|environment| environment.project == project)
        .filter(|environment| wanted_id.is_none_or(|id| same_id(&environment.id, id)))
        .filter(|environment| {
            wanted_name.is_none_or(|name| environment.name.eq_ignore_ascii_case(name))
        })
        .map(|environment| {
            let busy = model.is_busy(&environment.id, now);
            EnvironmentDetail {
                environment_id: environment.id.clone(),
                environment_name: environment.name.clone(),
                project_id: Some(project),
                environment_infrastructure: Some(environment.infrastructure.as_str().into()),
                environment_type: environment.type_text().map(str::to_owned),
                environment_group: Some("Primary".into()),
                deployment_state: Some(if busy { "Servicing" } else { "Finished" }.into()),
                deployment_status_display: Some(if busy { "Servicing" } else { "Deployed" }.into()),
                current_application_release_name: Some(environment.release.clone()),
                current_application_build_version: None,
                current_platform_release_name: None,
                deployed_on_utc: Some(lcs::deployed_on(emulator.start)),
            }
        })
        .collect();
    let (data, page, more) = page_of(&all, &params, emulator.config.page_size);
    json(&Page {
        envelope: Envelope::success(Some(random_guid())),
        result_page_current: page,
        result_has_more_pages: more,
        data,
    })
}

async fn environment_history(
    State(emulator): Shared,
    Path((project, environment)): Path<(u64, String)>,
    Query(params): Params,
) -> Response {
    let model = lock(&emulator.model);
    if !model
        .environments
        .iter()
        .any(|known| known.project == project && same_id(&known.id, &environment))
    {
        return json(&Envelope::failure(format!(
            "The environment {environment} was not found or you do not have access to it."
        )));
    }
    let entries: Vec<lcs::HistoryEntry> = model
        .history(&environment)
        .into_iter()
        .map(|entry| lcs::HistoryEntry {
            kind: Some(
                if entry.name.contains("refresh")
                    || entry.name.contains("restore")
                    || entry.name.contains("export")
                {
                    "DatabaseMovement".into()
                } else {
                    "ApplicationHotfix".into()
                },
            ),
            type_display: None,
            start_date_time_utc: Some(dotnet_time(entry.started)),
            end_date_time_utc: None,
            status: None,
            activity_id: Some(entry.activity),
            environment_id: Some(environment.clone()),
            name: Some(entry.name),
        })
        .collect();
    let (data, page, more) = page_of(&entries, &params, emulator.config.page_size);
    json(&Page {
        envelope: Envelope::success(Some(random_guid())),
        result_page_current: page,
        result_has_more_pages: more,
        data,
    })
}

fn model_call<T>(
    emulator: &Emulator,
    call: impl FnOnce(&mut Lcs, chrono::DateTime<chrono::Utc>) -> Result<T, SimError>,
) -> Result<T, SimError> {
    let now = emulator.model_now();
    call(&mut lock(&emulator.model), now)
}

async fn start_refresh(
    State(emulator): Shared,
    Path((project, source, target)): Path<(u64, String, String)>,
) -> Response {
    envelope(model_call(&emulator, |model, now| {
        model
            .start_refresh(project, &source, &target, now)
            .map(Some)
    }))
}

async fn database_status(
    State(emulator): Shared,
    Path((project, environment, activity)): Path<(u64, String, String)>,
) -> Response {
    let status = model_call(&emulator, |model, now| {
        model.database_operation(&environment, &activity, now)
    });
    operation_status(
        project,
        environment,
        activity,
        status.map(|(status, ended)| (status.as_str(), ended)),
    )
}

/// The answer of both fetch status endpoints: `ActivityId` echoes the operation asked about,
/// `OperationActivityId` is this call's own (lcs-api.md 2.1), and `CompletionDate` is set
/// once the operation ended.
fn operation_status(
    project: u64,
    environment: String,
    activity: String,
    status: Result<(&str, Option<chrono::DateTime<chrono::Utc>>), SimError>,
) -> Response {
    match status {
        Ok((status, ended)) => json(&OperationStatus {
            envelope: Envelope::success(Some(random_guid())),
            project_id: Some(project),
            environment_id: Some(environment),
            activity_id: Some(activity),
            completion_date: ended.map(dotnet_time),
            operation_status: Some(status.into()),
        }),
        Err(error) => sim_error(error),
    }
}

async fn start_export(
    State(emulator): Shared,
    Path((project, environment, backup)): Path<(u64, String, String)>,
) -> Response {
    envelope(model_call(&emulator, |model, now| {
        model
            .start_export(project, &environment, &backup, now)
            .map(Some)
    }))
}

/// A time as the backup list writes it: milliseconds, no offset (`2019-09-27T15:17:35.867`).
fn millisecond_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

async fn database_backups(State(emulator): Shared, Path(project): Path<u64>) -> Response {
    let now = emulator.model_now();
    let backups = lock(&emulator.model).database_backups(project, now);
    for backup in &backups {
        if lock(&emulator.published).contains(&backup.id) {
            continue;
        }
        if let Err(error) = emulator
            .blobs
            .publish_pattern(&backup.id, backup.size)
            .await
        {
            return (StatusCode::INTERNAL_SERVER_ERROR, error).into_response();
        }
        lock(&emulator.published).insert(backup.id.clone());
    }
    let assets: Vec<lcs::DatabaseAsset> = backups
        .into_iter()
        .map(|backup| lcs::DatabaseAsset {
            file_location: Some(location(&emulator, &backup.id, false)),
            project_id: Some(project),
            organization_id: None,
            name: Some(backup.name),
            file_name: Some(backup.file_name),
            file_description: Some(format!(
                "Database export of environment {}",
                backup.environment
            )),
            modified_date_time: Some(millisecond_time(backup.created)),
            created_date_time: Some(millisecond_time(backup.created)),
            created_by_name: Some(EMULATOR_USER.into()),
            modified_by_name: Some(EMULATOR_USER.into()),
            id: backup.id,
        })
        .collect();
    json(&lcs::DatabaseBackups {
        envelope: Envelope::success(Some(random_guid())),
        database_assets: assets,
    })
}

/// Who the backup list says created a backup (the emulator does not tell users apart).
const EMULATOR_USER: &str = "LCS emulator";

async fn apply_update(
    State(emulator): Shared,
    Path((project, environment, asset)): Path<(u64, String, String)>,
    Query(params): Params,
) -> Response {
    let update_name = params.get("updateName").cloned().unwrap_or_default();
    envelope(model_call(&emulator, |model, now| {
        model
            .apply_update(project, &environment, &asset, &update_name, now)
            .map(Some)
    }))
}

async fn deployment_status(
    State(emulator): Shared,
    Path((project, environment, activity)): Path<(u64, String, String)>,
) -> Response {
    let status = model_call(&emulator, |model, now| {
        model.deployment(&environment, &activity, now)
    });
    operation_status(
        project,
        environment,
        activity,
        status.map(|(status, ended)| (status.as_str(), ended)),
    )
}

fn asset_json(asset: &crate::sim::Asset, location: Option<String>) -> FileAsset {
    FileAsset {
        id: asset.id.clone(),
        project_id: asset.project,
        name: Some(asset.name.clone()),
        file_name: Some(asset.file_name.clone()),
        file_description: asset.description.clone(),
        file_location: location,
        file_type: Some(asset.file_type),
        size_byte: Some(asset.size),
        modified_date: Some(dotnet_time(asset.modified)),
        version: asset.version.clone(),
    }
}

fn file_type(params: &HashMap<String, String>) -> u32 {
    params
        .get("fileType")
        .and_then(|kind| kind.parse().ok())
        .unwrap_or(SOFTWARE_DEPLOYABLE_PACKAGE)
}

async fn shared_assets(State(emulator): Shared, Query(params): Params) -> Response {
    match model_call(&emulator, |model, _| {
        model.shared_assets(file_type(&params))
    }) {
        Ok(assets) => json(
            &assets
                .iter()
                .map(|asset| asset_json(asset, None))
                .collect::<Vec<_>>(),
        ),
        Err(error) => sim_error(error),
    }
}

async fn project_assets(
    State(emulator): Shared,
    Path(project): Path<u64>,
    Query(params): Params,
) -> Response {
    let kind = file_type(&params);
    let model = lock(&emulator.model);
    json(
        &model
            .assets
            .iter()
            .filter(|asset| asset.project == Some(project) && asset.file_type == kind)
            .map(|asset| asset_json(asset, None))
            .collect::<Vec<_>>(),
    )
}

fn asset_id(params: &HashMap<String, String>) -> String {
    params.get("assetId").cloned().unwrap_or_default()
}

async fn file_asset(
    State(emulator): Shared,
    Path(project): Path<u64>,
    Query(params): Params,
) -> Response {
    let id = asset_id(&params);
    let found = lock(&emulator.model)
        .assets
        .iter()
        .find(|asset| same_id(&asset.id, &id) && asset.project.is_none_or(|owner| owner == project))
        .cloned();
    match found {
        Some(asset) => {
            // An asset of the project not committed yet can still be written: a resumed upload
            // asks for its location again (the first one is never stored). LCS documents no way
            // to get a write location again; this is the emulator's assumption, and the lcs
            // adapter fails the upload clearly (HTTP 403) where LCS does not allow it.
            let writable = asset.project == Some(project) && asset.committed.is_none();
            let location = location(&emulator, &asset.id, writable);
            json(&asset_json(&asset, Some(location)))
        }
        None => json(&Envelope::failure(format!("The asset {id} was not found."))),
    }
}

fn location(emulator: &Emulator, asset: &str, write: bool) -> String {
    let base = lock(&emulator.base).clone();
    emulator
        .blobs
        .location(&base, &emulator.key, asset, write, emulator.wall_now())
}

async fn create_file_asset(
    State(emulator): Shared,
    Path(project): Path<u64>,
    body: Bytes,
) -> Response {
    let request: lcs::CreateFileAsset = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    serde_json::json!({ "Message": format!("The request is invalid: {error}") }),
                ),
            )
                .into_response();
        }
    };
    let created = model_call(&emulator, |model, now| {
        let id = model.create_file_asset(
            project,
            &request.name,
            &request.file_name,
            request.file_type,
            now,
        )?;
        let asset = model.assets.iter_mut().find(|asset| asset.id == id);
        Ok(asset.map(|asset| {
            asset.description.clone_from(&request.file_description);
            asset.version.clone_from(&request.version);
            asset.clone()
        }))
    });
    match created {
        Ok(Some(asset)) => {
            let location = location(&emulator, &asset.id, true);
            json(&asset_json(&asset, Some(location)))
        }
        Ok(None) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(error) => sim_error(error),
    }
}

async fn commit_file_asset(
    State(emulator): Shared,
    Path(_project): Path<u64>,
    Query(params): Params,
) -> Response {
    let id = asset_id(&params);
    // With Azurite the emulator does not see the blocks: it reads the committed blob back.
    if emulator.blobs.local_dir().is_none() {
        match emulator.blobs.committed(&id).await {
            Ok(Some((size, blocks))) => {
                let mut model = lock(&emulator.model);
                if let Some(asset) = model
                    .assets
                    .iter_mut()
                    .find(|asset| same_id(&asset.id, &id))
                {
                    asset.size = size;
                    asset.blob_blocks = Some(blocks);
                }
            }
            Ok(None) => {}
            Err(error) => return (StatusCode::BAD_GATEWAY, error).into_response(),
        }
    }
    envelope(model_call(&emulator, |model, now| {
        model.commit_file_asset(&id, now).map(|()| None)
    }))
}

async fn validation_status(
    State(emulator): Shared,
    Path(_project): Path<u64>,
    Query(params): Params,
) -> Response {
    let id = asset_id(&params);
    match model_call(&emulator, |model, now| model.validation_status(&id, now)) {
        Ok(status) => json(&lcs::ValidationStatus {
            id: Some(id),
            display_status: Some(status.as_str().into()),
        }),
        Err(error) => sim_error(error),
    }
}

async fn requests(State(emulator): Shared) -> Response {
    json(&emulator.requests())
}

async fn model(State(emulator): Shared) -> Response {
    json(&emulator.model())
}

async fn script_faults(State(emulator): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<Vec<FaultRule>>(&body) {
        Ok(rules) => {
            emulator.script(rules);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

async fn revoke_tokens(State(emulator): Shared) -> Response {
    emulator.revoke_tokens();
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_and_queries() {
        assert_eq!(redact("sv=1&sig=secret%2B&sp=r"), "sv=1&sig=REDACTED&sp=r");
    }
}
