//! d365fo.tools against the emulator process, call for call: the cmdlets a team's refresh,
//! deploy and export script is made of, re-enacted in Rust (PowerShell is not on the build
//! machines) with the paths, headers, bodies and wait loops of d365fo.tools' public source
//! (github.com/d365collaborative/d365fo.tools, read at HEAD; each step names the function and
//! file it follows). Every step must succeed as it would against LCS.
//!
//! Time is the emulator's scaled test clock (`REFRESHCTL_TEST_CLOCK`): the cmdlets'
//! `Start-Sleep -Seconds 300` take a twelfth of a second of wall time. The script runs with the
//! emulator's own blob endpoint, and with Azurite's where `REFRESHCTL_TEST_AZURITE` is set.

#[path = "common/emulator_process.rs"]
#[expect(dead_code, reason = "this test scripts no faults in the emulator")]
mod emulator_process;
#[path = "common/skip.rs"]
mod skip;

use std::collections::HashMap;

use chrono::{TimeDelta, Utc};
use emulator_process::EmulatorProcess;
use refreshctl::clock::Clock;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

const PROJECT: u64 = 1_234_567;
const PROD: &str = "6a1c2a7e-0000-4000-8000-0000000000a1";
const UAT: &str = "6a1c2a7e-0000-4000-8000-0000000000b2";
const LEGACY: &str = "6a1c2a7e-0000-4000-8000-0000000000c3";
const CLIENT_ID: &str = "9b4f4503-b970-4ade-abc6-2c086e4c4929";
/// The model runs this many times faster than the wall clock.
const SPEED: f64 = 3600.0;

/// What `Set-D365LcsApiConfig` keeps (`functions/set-d365lcsapiconfig.ps1`): the parameters
/// bound by property name from a token answer (`access_token`, `expires_on`, `refresh_token`,
/// `resource` as `LcsApiUri`).
struct LcsApiConfig {
    bearer_token: String,
    refresh_token: String,
    lcs_api_uri: String,
    active_token_expires_on: i64,
}

struct Dft {
    http: Client,
    clock: Clock,
    auth: String,
    config: LcsApiConfig,
}

impl Dft {
    /// `Start-Sleep -Seconds N` on the model's clock.
    async fn sleep(&self, seconds: i64) {
        self.clock
            .sleep_until(self.clock.now() + TimeDelta::seconds(seconds))
            .await;
    }

    /// `Invoke-RequestHandler` (`internal/functions/invoke-requesthandler.ps1`): one
    /// `Invoke-RestMethod` with the headers `@{ "Authorization" = "$BearerToken" }` (nothing
    /// else: no `x-ms-version`), repeated after `Retry-After` seconds (10 when missing) for as
    /// long as the answer is 429; any other failure is thrown.
    async fn request(&self, method: Method, uri: &str, payload: Option<&Value>) -> Value {
        let mut attempts = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), uri)
                .header("Authorization", &self.config.bearer_token);
            if let Some(payload) = payload {
                // `$parms.ContentType = "application/json"`, `$parms.Body = $jsonPayload`.
                request = request
                    .header("Content-Type", "application/json")
                    .body(payload.to_string());
            }
            let response = request.send().await.expect("the emulator answers");
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = response
                    .headers()
                    .get("Retry-After")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse::<i64>().ok())
                    .filter(|wait| *wait > 0)
                    .unwrap_or(10);
                attempts += 1;
                assert!(attempts < 20, "{uri}: throttled {attempts} times");
                self.sleep(wait).await;
                continue;
            }
            let body = response.text().await.expect("a body");
            assert!(status.is_success(), "{method} {uri}: HTTP {status}: {body}");
            return serde_json::from_str(&body).unwrap_or(Value::Null);
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/{path}", self.config.lcs_api_uri)
    }

    /// `Get-LcsDatabaseOperationStatusV2` (`internal/functions/get-lcsdatabaseoperationstatusv2.ps1`).
    async fn database_operation_status(&self, environment: &str, activity: &str) -> Value {
        let uri = self.api(&format!(
            "databasemovement/v1/fetchstatus/project/{PROJECT}/environment/{environment}/operationactivity/{activity}"
        ));
        self.request(Method::GET, &uri, None).await
    }

    /// `Get-D365LcsDatabaseOperationStatus` (`functions/get-d365lcsdatabaseoperationstatus.ps1`):
    /// `do { Start-Sleep -Seconds $SleepInSeconds; … } while ((InProgress or NotStarted or
    /// RollbackInProgress) -and $WaitForCompletion)`.
    async fn wait_for_database_operation(
        &self,
        environment: &str,
        activity: &str,
        sleep: i64,
        wait: bool,
    ) -> Value {
        let mut polls = 0;
        loop {
            self.sleep(sleep).await;
            let status = self.database_operation_status(environment, activity).await;
            polls += 1;
            assert!(polls < 100, "still {status} after {polls} polls");
            let running = ["InProgress", "NotStarted", "RollbackInProgress"]
                .contains(&status["OperationStatus"].as_str().unwrap_or_default());
            if !(running && wait) {
                return status;
            }
        }
    }
}

fn inventory(directory: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "- {{project: {PROJECT}, name: contoso-prod, type: production, release: \"10.0.41\", id: {PROD}}}\n\
         - {{project: {PROJECT}, name: contoso-uat, type: sandbox, release: \"10.0.41\", id: {UAT}, infrastructure: self-service}}\n\
         - {{project: {PROJECT}, name: legacy-uat, type: sandbox, release: \"10.0.41\", id: {LEGACY}, infrastructure: microsoft-managed}}\n"
    );
    let path = directory.join("inventory.yaml");
    std::fs::write(&path, text).expect("inventory");
    path
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(at, c)| {
            if [8, 13, 18, 23].contains(&at) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn assert_success(answer: &Value, what: &str) {
    assert_eq!(answer["IsSuccess"], Value::Bool(true), "{what}: {answer}");
    assert!(answer["ErrorMessage"].is_null(), "{what}: {answer}");
    let activity = answer["OperationActivityId"].as_str().unwrap_or_default();
    assert!(is_guid(activity), "{what}: activity id {activity:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_d365fo_tools_refresh_deploy_and_export_script_runs_unchanged() {
    script(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_script_runs_with_the_blobs_on_azurite() {
    let Ok(azurite) = std::env::var("REFRESHCTL_TEST_AZURITE") else {
        skip::skip("REFRESHCTL_TEST_AZURITE is not set (.ci/run starts Azurite and sets it)");
        return;
    };
    script(&["--blob-endpoint", &azurite]).await;
}

/// The script, against an emulator started with `extra` arguments.
#[expect(
    clippy::too_many_lines,
    reason = "one script, cmdlet after cmdlet, as a pipeline runs it"
)]
async fn script(extra: &[&str]) {
    let directory = tempfile::tempdir().expect("temp");
    let inventory = inventory(directory.path());
    let origin = Utc::now();
    let test_clock = format!("{},{SPEED}", origin.to_rfc3339());
    let mut args = vec![
        "--inventory",
        inventory.to_str().expect("utf-8"),
        // d365fo.tools never renews a token inside its waits (lcs-api.md 6 item 1): these
        // last the whole script.
        "--token-lifetime",
        "30d",
    ];
    args.extend_from_slice(extra);
    let emulator =
        EmulatorProcess::start_with_env(&args, &[("REFRESHCTL_TEST_CLOCK", &test_clock)]);
    let clock = Clock::Scaled {
        origin,
        speed: SPEED,
    };
    let http = Client::new();
    let auth = format!("{}/common/oauth2/token", emulator.url);
    let lcs_api_uri = emulator.url.clone();

    // Get-D365LcsApiToken (functions/get-d365lcsapitoken.ps1) calls PSOAuthHelper's
    // Invoke-PasswordGrant with Resource = $LcsApiUri, Scope = "openid", against
    // $Script:AADOAuthEndpoint (the v1 `…/common/oauth2/token`).
    let form: HashMap<&str, &str> = [
        ("grant_type", "password"),
        ("resource", lcs_api_uri.as_str()),
        ("client_id", CLIENT_ID),
        ("username", "ops@contoso.com"),
        ("password", "emulator"),
        ("scope", "openid"),
    ]
    .into();
    let token: Value = http
        .post(&auth)
        .form(&form)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(token["resource"], Value::String(lcs_api_uri.clone()));
    // Set-D365LcsApiConfig binds the answer by property name.
    let mut dft = Dft {
        http,
        clock,
        auth,
        config: LcsApiConfig {
            bearer_token: token["access_token"].as_str().expect("access").to_owned(),
            refresh_token: token["refresh_token"].as_str().expect("refresh").to_owned(),
            lcs_api_uri: token["resource"].as_str().expect("resource").to_owned(),
            active_token_expires_on: token["expires_on"]
                .as_str()
                .and_then(|on| on.parse().ok())
                .expect("expires_on"),
        },
    };

    // `Get-D365LcsApiConfig | Invoke-D365LcsApiRefreshToken | Set-D365LcsApiConfig`
    // (functions/invoke-d365lcsapirefreshtoken.ps1, the documented example): PSOAuthHelper's
    // Invoke-RefreshToken posts grant_type, client_id and refresh_token only, and the answer's
    // `resource` becomes the API address of every later call.
    let form: HashMap<&str, &str> = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("refresh_token", dft.config.refresh_token.as_str()),
    ]
    .into();
    let renewed: Value = dft
        .http
        .post(&dft.auth)
        .form(&form)
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    assert_eq!(
        renewed["resource"],
        Value::String(lcs_api_uri.clone()),
        "the refresh answer echoes the resource: {renewed}"
    );
    dft.config = LcsApiConfig {
        bearer_token: renewed["access_token"].as_str().expect("access").to_owned(),
        refresh_token: renewed["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        lcs_api_uri: renewed["resource"].as_str().expect("resource").to_owned(),
        active_token_expires_on: renewed["expires_on"]
            .as_str()
            .and_then(|on| on.parse().ok())
            .expect("expires_on"),
    };
    assert!(dft.config.active_token_expires_on > origin.timestamp());
    // Every Invoke-/Get-D365Lcs* cmdlet prefixes the token: `"Bearer $BearerToken"`.
    dft.config.bearer_token = format!("Bearer {}", dft.config.bearer_token);

    // Get-D365LcsEnvironmentMetadata (internal/functions/get-lcsenvironmentmetadata.ps1):
    // `…/detail/project/$ProjectId` + `/?environmentId=$EnvironmentId`, the id in any case.
    let uri = dft.api(&format!(
        "environmentinfo/v1/detail/project/{PROJECT}/?environmentId={}",
        LEGACY.to_ascii_uppercase()
    ));
    let metadata = dft.request(Method::GET, &uri, None).await;
    assert_eq!(metadata["Data"][0]["EnvironmentId"], LEGACY, "{metadata}");
    assert_eq!(
        metadata["Data"][0]["EnvironmentInfrastructure"],
        "MicrosoftManaged"
    );
    let uri = dft.api(&format!(
        "environmentinfo/v1/detail/project/{PROJECT}/?environmentName=contoso-uat"
    ));
    let metadata = dft.request(Method::GET, &uri, None).await;
    assert_eq!(
        metadata["Data"][0]["EnvironmentInfrastructure"],
        "SelfService"
    );

    // Invoke-D365LcsDatabaseRefresh (functions/invoke-d365lcsdatabaserefresh.ps1) →
    // Start-LcsDatabaseRefreshV2 (internal/functions/start-lcsdatabaserefreshv2.ps1): POST, no
    // body; then, without -SkipInitialStatusFetch, one status fetch of the TARGET after 60 s.
    let uri = dft.api(&format!(
        "databasemovement/v1/refresh/project/{PROJECT}/source/{PROD}/target/{UAT}"
    ));
    let refresh = dft.request(Method::POST, &uri, None).await;
    assert_success(&refresh, "refresh");
    let activity = refresh["OperationActivityId"]
        .as_str()
        .expect("id")
        .to_owned();
    let first = dft
        .wait_for_database_operation(UAT, &activity, 60, false)
        .await;
    assert_success(&first, "first refresh status");
    assert!(first["CompletionDate"].is_null(), "{first}");
    // Get-D365LcsDatabaseOperationStatus -WaitForCompletion (default -SleepInSeconds 300).
    let done = dft
        .wait_for_database_operation(UAT, &activity, 300, true)
        .await;
    assert_eq!(done["OperationStatus"], "Completed", "{done}");
    assert_eq!(done["ActivityId"], Value::String(activity.clone()));
    assert!(done["CompletionDate"].is_string(), "{done}");

    // Get-D365LcsSharedAssetFile -AssetName "Environment reprovisioning tool"
    // (functions/get-d365lcssharedassetfile.ps1): Get-LcsSharedAssetFile
    // (internal/functions/get-lcssharedassetfile.ps1) `GetSharedAssets?fileType=10`, then for
    // each asset matching by name Get-LcsFileAsset (internal/functions/get-lcsfileasset.ps1)
    // `GetFileAsset/$ProjectId?assetId=$Id` for a SAS; the bytes come from `FileLocation`.
    let shared = dft
        .request(
            Method::GET,
            &dft.api("box/fileasset/GetSharedAssets?fileType=10"),
            None,
        )
        .await;
    let tool = shared
        .as_array()
        .expect("a bare array")
        .iter()
        .find(|asset| asset["Name"] == "Environment reprovisioning tool")
        .expect("the shared tool")
        .clone();
    assert!(tool["Version"].is_string(), "Version is returned: {tool}");
    let uri = dft.api(&format!(
        "box/fileasset/GetFileAsset/{PROJECT}?assetId={}",
        tool["Id"].as_str().expect("id")
    ));
    let with_sas = dft.request(Method::GET, &uri, None).await;
    let location = with_sas["FileLocation"].as_str().expect("a SAS").to_owned();
    let blob_service = extra
        .windows(2)
        .find(|pair| pair[0] == "--blob-endpoint")
        .map_or(emulator.url.as_str(), |pair| pair[1]);
    assert!(
        location.starts_with(blob_service),
        "{blob_service}: {location}"
    );
    let package = dft
        .http
        .get(&location)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(Some(package.len() as u64), with_sas["SizeByte"].as_u64());

    // Invoke-D365LcsUpload (functions/invoke-d365lcsupload.ps1) → Start-LcsUploadV2
    // (internal/functions/start-lcsuploadv2.ps1): the ConvertTo-Json of
    // @{Name; FileName; FileDescription; SizeByte = 0; FileType = 10}.
    let created = dft
        .request(
            Method::POST,
            &dft.api(&format!("box/fileasset/CreateFileAsset/{PROJECT}")),
            Some(&serde_json::json!({
                "Name": "Environment reprovisioning tool",
                "FileName": "RetailEnvironmentReprovisioningTool.zip",
                "FileDescription": "Uploaded by the pipeline",
                "SizeByte": 0,
                "FileType": 10,
            })),
        )
        .await;
    let asset = created["Id"].as_str().expect("Id").to_owned();
    assert_eq!(created["FileDescription"], "Uploaded by the pipeline");
    // Copy-FileToLcsBlob (internal/functions/copy-filetolcsblob.ps1): CloudBlockBlob
    // .UploadFromFileAsync, which sends a file this small as one Put Blob.
    let put = dft
        .http
        .put(created["FileLocation"].as_str().expect("FileLocation"))
        .header("x-ms-blob-type", "BlockBlob")
        .body(package.clone())
        .send()
        .await
        .expect("put blob");
    assert_eq!(put.status(), StatusCode::CREATED);
    // Complete-LcsUploadV2 (internal/functions/complete-lcsuploadv2.ps1): POST, no body.
    let uri = dft.api(&format!(
        "box/fileasset/CommitFileAsset/{PROJECT}?assetId={asset}"
    ));
    dft.request(Method::POST, &uri, None).await;

    // Get-D365LcsAssetValidationStatus -WaitForValidation
    // (functions/get-d365lcsassetvalidationstatus.ps1) → Get-LcsAssetValidationStatusV2
    // (internal/functions/get-lcsassetvalidationstatusv2.ps1): `do { Start-Sleep 60; … }
    // while ($status.DisplayStatus -eq "Process")`. It stops on anything else, so it must
    // never see an unsettled asset as anything but `Process`.
    let uri = dft.api(&format!(
        "box/fileasset/GetFileAssetValidationStatus/{PROJECT}?assetId={asset}"
    ));
    let mut seen = Vec::new();
    let validation = loop {
        dft.sleep(60).await;
        let status = dft.request(Method::GET, &uri, None).await;
        seen.push(
            status["DisplayStatus"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        if status["DisplayStatus"] != "Process" {
            break status;
        }
    };
    assert_eq!(validation["DisplayStatus"], "Done", "seen: {seen:?}");
    assert_eq!(validation["Id"], Value::String(asset.clone()));
    assert!(seen.len() > 1, "it waited while validating: {seen:?}");
    let listed = dft
        .request(
            Method::GET,
            &dft.api(&format!("box/fileasset/GetAssets/{PROJECT}?fileType=10")),
            None,
        )
        .await;
    assert!(
        listed
            .as_array()
            .expect("array")
            .iter()
            .any(|listed| listed["Id"] == asset.as_str()
                && listed["FileDescription"] == "Uploaded by the pipeline"),
        "{listed}"
    );

    // Invoke-D365LcsDeployment (functions/invoke-d365lcsdeployment.ps1) → Start-LcsDeploymentV2
    // (internal/functions/start-lcsdeploymentv2.ps1): `…/asset/$AssetId?updateName=$UpdateName`,
    // an empty name when none is given. The self-service target needs one; the
    // Microsoft-managed one does not (lcs-api.md 2.4, both as their metadata says).
    let uri = dft.api(&format!(
        "environment/v2/applyupdate/project/{PROJECT}/environment/{UAT}/asset/{asset}?updateName="
    ));
    let refused = dft.request(Method::POST, &uri, None).await;
    assert_eq!(refused["IsSuccess"], Value::Bool(false), "{refused}");
    assert!(
        refused["ErrorMessage"]
            .as_str()
            .is_some_and(|message| message.contains("update name")),
        "{refused}"
    );
    let uri = dft.api(&format!(
        "environment/v2/applyupdate/project/{PROJECT}/environment/{LEGACY}/asset/{asset}?updateName="
    ));
    assert_success(
        &dft.request(Method::POST, &uri, None).await,
        "deployment without a name to a Microsoft-managed environment",
    );
    let uri = dft.api(&format!(
        "environment/v2/applyupdate/project/{PROJECT}/environment/{UAT}/asset/{asset}?updateName=ERP%2010.0.41"
    ));
    let deployment = dft.request(Method::POST, &uri, None).await;
    assert_success(&deployment, "deployment");
    assert_ne!(
        refused["OperationActivityId"], deployment["OperationActivityId"],
        "every answer has its own activity id"
    );
    let deployment = deployment["OperationActivityId"]
        .as_str()
        .expect("id")
        .to_owned();

    // Get-D365LcsDeploymentStatus -WaitForCompletion (functions/get-d365lcsdeploymentstatus.ps1)
    // → Get-LcsDeploymentStatusV2 (internal/functions/get-lcsdeploymentstatusv2.ps1): sleep
    // 300 s, then fetch, while InProgress, NotStarted or PreparingEnvironment.
    let uri = dft.api(&format!(
        "environment/v2/fetchstatus/project/{PROJECT}/environment/{UAT}/operationactivity/{deployment}"
    ));
    let mut statuses = Vec::new();
    let deployed = loop {
        dft.sleep(300).await;
        let status = dft.request(Method::GET, &uri, None).await;
        let value = status["OperationStatus"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        statuses.push(value.clone());
        assert!(statuses.len() < 100, "{statuses:?}");
        if !["InProgress", "NotStarted", "PreparingEnvironment"].contains(&value.as_str()) {
            break status;
        }
    };
    assert_eq!(deployed["OperationStatus"], "Completed", "{statuses:?}");
    assert!(deployed["CompletionDate"].is_string(), "{deployed}");

    // Invoke-D365LcsDatabaseExport (functions/invoke-d365lcsdatabaseexport.ps1) →
    // Start-LcsDatabaseExportV2 (internal/functions/start-lcsdatabaseexportv2.ps1):
    // `…/export/project/$ProjectId/environment/$SourceEnvironmentId/backupName/$BackupName`,
    // POST, no body; the status is fetched with the SOURCE environment.
    let uri = dft.api(&format!(
        "databasemovement/v1/export/project/{PROJECT}/environment/{UAT}/backupName/uat-after-deploy"
    ));
    let export = dft.request(Method::POST, &uri, None).await;
    assert_success(&export, "export");
    let activity = export["OperationActivityId"]
        .as_str()
        .expect("id")
        .to_owned();
    let first = dft
        .wait_for_database_operation(UAT, &activity, 60, false)
        .await;
    assert_success(&first, "first export status");
    let exported = dft
        .wait_for_database_operation(UAT, &activity, 300, true)
        .await;
    assert_eq!(exported["OperationStatus"], "Completed", "{exported}");
    assert!(exported["CompletionDate"].is_string(), "{exported}");

    // Get-D365LcsDatabaseBackups -Latest (functions/get-d365lcsdatabasebackups.ps1) →
    // Get-LcsDatabaseBackupsV2 (internal/functions/get-lcsdatabasebackupsv2.ps1):
    // `$backups.DatabaseAssets | Sort-Object -Property "CreatedDateTime" -Descending |
    // Select-Object -First 1`.
    let backups = dft
        .request(
            Method::GET,
            &dft.api(&format!("databasemovement/v1/databases/project/{PROJECT}")),
            None,
        )
        .await;
    assert_success(&backups, "database backups");
    let mut assets = backups["DatabaseAssets"]
        .as_array()
        .expect("assets")
        .clone();
    assets.sort_by(|a, b| {
        b["CreatedDateTime"]
            .as_str()
            .cmp(&a["CreatedDateTime"].as_str())
    });
    let latest = assets.first().expect("a backup");
    assert_eq!(latest["Name"], "uat-after-deploy");
    assert_eq!(latest["FileName"], "uat-after-deploy.bacpac");
    let created = latest["CreatedDateTime"].as_str().expect("a date");
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.3f").is_ok(),
        "{created}"
    );
    let bacpac = dft
        .http
        .get(latest["FileLocation"].as_str().expect("a read SAS"))
        .send()
        .await
        .expect("download");
    assert_eq!(bacpac.status(), StatusCode::OK);
    assert!(!bacpac.bytes().await.expect("bytes").is_empty());

    // The emulator served each of these, and never a 401: the one token lasted throughout.
    let log = emulator.requests();
    assert!(log.iter().all(|request| request.status != 401), "{log:?}");
    for path in [
        "/databasemovement/v1/refresh/",
        "/databasemovement/v1/export/",
        "/databasemovement/v1/databases/",
        "/environment/v2/applyupdate/",
        "/box/fileasset/CommitFileAsset/",
    ] {
        assert!(
            log.iter()
                .any(|request| request.path.starts_with(path) && request.status == 200),
            "{path}"
        );
    }
}
