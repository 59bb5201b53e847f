//! The emulator process behaves as LCS does where clients notice (issue 14): tokens that
//! expire on the model's sped-up clock during a long wait, ids matched as LCS matches them,
//! a new activity id for every answer, and the fields clients read kept and returned.

#[path = "common/emulator_process.rs"]
#[expect(dead_code, reason = "this test scripts no faults in the emulator")]
mod emulator_process;

use chrono::{TimeDelta, Utc};
use emulator_process::EmulatorProcess;
use refreshctl::adapter::{Adapter, Credentials, LcsAdapter, RetryPolicy};
use refreshctl::clock::Clock;
use refreshctl::sim::DatabaseStatus;
use serde_json::Value;

const PROJECT: u64 = 1_234_567;
const PROD: &str = "6a1c2a7e-0000-4000-8000-0000000000a1";
const UAT: &str = "6a1c2a7e-0000-4000-8000-0000000000b2";

fn inventory(directory: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "- {{project: {PROJECT}, name: contoso-prod, type: production, release: \"10.0.41\", id: {PROD}}}\n\
         - {{project: {PROJECT}, name: contoso-uat, type: sandbox, release: \"10.0.41\", id: {UAT}}}\n"
    );
    let path = directory.join("inventory.yaml");
    std::fs::write(&path, text).expect("inventory");
    path
}

fn credentials(emulator: &EmulatorProcess) -> Credentials {
    Credentials {
        auth_url: format!("{}/common/oauth2/token", emulator.url),
        client_id: Some("00000000-0000-0000-0000-00000000c11e".into()),
        username: Some("ops@contoso.com".into()),
        password: Some("emulator".into()),
        access_token: None,
        refresh_token: None,
        client_secret: None,
    }
}

async fn password_grant(http: &reqwest::Client, emulator: &EmulatorProcess) -> String {
    let answer: Value = http
        .post(format!("{}/common/oauth2/token", emulator.url))
        .form(&[
            ("grant_type", "password"),
            ("resource", emulator.url.as_str()),
            ("client_id", "any"),
            ("username", "ops@contoso.com"),
            ("password", "emulator"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    answer["access_token"].as_str().expect("a token").to_owned()
}

/// At `--speed 60` with `--token-clock model`, a 5-minute token lives 5 wall seconds: the
/// `lcs` adapter, on a clock as fast as the model's, renews it during the wait on a refresh
/// before it expires, so no call is refused; a token nobody renews is refused once its
/// model lifetime is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_counted_on_the_model_clock_expire_mid_wait_and_the_lcs_adapter_renews_them() {
    let directory = tempfile::tempdir().expect("temp");
    let inventory = inventory(directory.path());
    let origin = Utc::now();
    let emulator = EmulatorProcess::start(&[
        "--speed",
        "60",
        "--token-clock",
        "model",
        "--token-lifetime",
        "5m",
        "--inventory",
        inventory.to_str().expect("utf-8"),
    ]);
    let http = reqwest::Client::new();
    let unrenewed = password_grant(&http, &emulator).await;
    let clock = Clock::Scaled {
        origin,
        speed: 60.0,
    };
    let adapter = LcsAdapter::new(
        &emulator.url,
        credentials(&emulator),
        RetryPolicy::default(),
        clock.clone(),
    )
    .expect("adapter");
    let activity = adapter
        .start_refresh(PROJECT, PROD, UAT)
        .await
        .expect("refresh starts");
    // The wait on the refresh: a poll every model minute for eight model minutes (eight wall
    // seconds), past the first token's five.
    let until = clock.now() + TimeDelta::minutes(8);
    let mut polls = 0;
    while clock.now() < until {
        let status = adapter
            .database_status(PROJECT, UAT, &activity)
            .await
            .expect("every poll is answered");
        assert!(
            matches!(
                status,
                DatabaseStatus::NotStarted | DatabaseStatus::InProgress
            ),
            "{status:?}"
        );
        polls += 1;
        clock.sleep_until(clock.now() + TimeDelta::minutes(1)).await;
    }
    assert!(polls >= 6, "{polls} polls");
    let log = emulator.requests();
    let lcs_calls: Vec<_> = log
        .iter()
        .filter(|request| request.path.starts_with("/databasemovement/"))
        .collect();
    assert!(
        lcs_calls.iter().all(|request| request.status == 200),
        "no call was refused: {lcs_calls:?}"
    );
    let token_calls = log
        .iter()
        .filter(|request| request.path.ends_with("/oauth2/token"))
        .count();
    // This test's own grant, the adapter's sign-in, and at least one renewal mid-wait.
    assert!(token_calls >= 3, "{token_calls} token calls: {log:?}");
    let refused = http
        .get(format!(
            "{}/databasemovement/v1/fetchstatus/project/{PROJECT}/environment/{UAT}/operationactivity/{activity}",
            emulator.url
        ))
        .header("Authorization", format!("Bearer {unrenewed}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        refused.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "a token nobody renewed expired after five model minutes, eight wall seconds in"
    );
}

/// Ids as LCS matches them on every endpoint: environment, activity and asset GUIDs in any
/// case; a name where LCS takes an id is not found. Each refusal has its own activity id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_matches_guids_without_case_and_never_takes_a_name_for_an_id() {
    let directory = tempfile::tempdir().expect("temp");
    let inventory = inventory(directory.path());
    let emulator = EmulatorProcess::start(&["--inventory", inventory.to_str().expect("utf-8")]);
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", password_grant(&http, &emulator).await);
    let call = |method: reqwest::Method, path: String| {
        let request = http
            .request(method, format!("{}/{path}", emulator.url))
            .header("Authorization", &bearer);
        async move {
            let response = request.send().await.expect("answer");
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.expect("json")
        }
    };
    let by_name = call(
        reqwest::Method::POST,
        format!(
            "databasemovement/v1/refresh/project/{PROJECT}/source/contoso-prod/target/contoso-uat"
        ),
    )
    .await;
    assert_eq!(by_name["IsSuccess"], Value::Bool(false), "{by_name}");
    let again = call(
        reqwest::Method::POST,
        format!(
            "databasemovement/v1/refresh/project/{PROJECT}/source/contoso-prod/target/contoso-uat"
        ),
    )
    .await;
    assert_ne!(
        by_name["OperationActivityId"], again["OperationActivityId"],
        "two failures, two activity ids"
    );
    let started = call(
        reqwest::Method::POST,
        format!(
            "databasemovement/v1/refresh/project/{PROJECT}/source/{}/target/{}",
            PROD.to_ascii_uppercase(),
            UAT.replace('-', "")
        ),
    )
    .await;
    assert_eq!(started["IsSuccess"], Value::Bool(true), "{started}");
    let activity = started["OperationActivityId"].as_str().expect("id");
    let status = call(
        reqwest::Method::GET,
        format!(
            "databasemovement/v1/fetchstatus/project/{PROJECT}/environment/{}/operationactivity/{}",
            UAT.to_ascii_uppercase(),
            activity.to_ascii_uppercase()
        ),
    )
    .await;
    assert_eq!(status["IsSuccess"], Value::Bool(true), "{status}");
    assert_eq!(status["OperationStatus"], "NotStarted");
    let by_name = call(
        reqwest::Method::GET,
        format!(
            "databasemovement/v1/fetchstatus/project/{PROJECT}/environment/contoso-uat/operationactivity/{activity}"
        ),
    )
    .await;
    assert_eq!(by_name["IsSuccess"], Value::Bool(false), "{by_name}");
    let history = call(
        reqwest::Method::GET,
        format!(
            "environmentinfo/v1/history/project/{PROJECT}/environment/{}/",
            UAT.to_ascii_uppercase()
        ),
    )
    .await;
    assert_eq!(history["Data"][0]["ActivityId"], activity, "{history}");
    let export_by_name = call(
        reqwest::Method::POST,
        format!(
            "databasemovement/v1/export/project/{PROJECT}/environment/contoso-uat/backupName/x"
        ),
    )
    .await;
    assert_eq!(export_by_name["IsSuccess"], Value::Bool(false));
}

/// An asset keeps `FileDescription` and `Version` and is found by its id in any case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_keeps_its_description_and_version_and_is_found_by_its_id_in_any_case() {
    let directory = tempfile::tempdir().expect("temp");
    let inventory = inventory(directory.path());
    let emulator = EmulatorProcess::start(&["--inventory", inventory.to_str().expect("utf-8")]);
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", password_grant(&http, &emulator).await);
    let call = |method: reqwest::Method, path: String| {
        let request = http
            .request(method, format!("{}/{path}", emulator.url))
            .header("Authorization", &bearer);
        async move {
            let response = request.send().await.expect("answer");
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.expect("json")
        }
    };
    let created: Value = http
        .post(format!(
            "{}/box/fileasset/CreateFileAsset/{PROJECT}",
            emulator.url
        ))
        .header("Authorization", &bearer)
        .json(&serde_json::json!({
            "Name": "pkg", "FileName": "pkg.zip", "FileDescription": "described",
            "Version": "1.2.3", "SizeByte": 0, "FileType": 10,
        }))
        .send()
        .await
        .expect("created")
        .json()
        .await
        .expect("json");
    let asset = created["Id"].as_str().expect("id").to_ascii_uppercase();
    let found = call(
        reqwest::Method::GET,
        format!("box/fileasset/GetFileAsset/{PROJECT}?assetId={asset}"),
    )
    .await;
    assert_eq!(found["FileDescription"], "described", "{found}");
    assert_eq!(found["Version"], "1.2.3", "{found}");
    let validation = call(
        reqwest::Method::GET,
        format!("box/fileasset/GetFileAssetValidationStatus/{PROJECT}?assetId={asset}"),
    )
    .await;
    assert_eq!(validation["DisplayStatus"], "Unknown", "not committed yet");
}
