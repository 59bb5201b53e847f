//! The `lcs` adapter against the emulator over real HTTP on loopback, on one simulated clock
//! that the adapter, the emulator's model and its tokens share: long waits take no time, and
//! every retry, poll and token expiry happens in a repeatable order.

#[path = "common/adapter_conformance.rs"]
mod adapter_conformance;
mod common;
#[path = "common/http_server.rs"]
mod http_server;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{
    Adapter, AdapterError, AdapterKind, BlockData, Credentials, FileRange, LcsAdapter, RetryPolicy,
    UploadTarget,
};
use refreshctl::clock::Clock;
use refreshctl::emulator::{self, Config, Fault, FaultRule, RequestRecord, Running, Time};
use refreshctl::executor::{self, Collect, Executor, Held, Progress, Settings};
use refreshctl::plan::{EnvironmentType, Plan};
use refreshctl::rules::{Catalog, CheckSettings, check_file};
use refreshctl::sim::{Call, DatabaseStatus, Durations, Faults, Lcs};
use refreshctl::state::{Claim, RunState, StateStore, StateUrl};

const PROJECT: u64 = 1_234_567;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T21:00:00Z")
        .expect("time")
        .to_utc()
}

struct Lab {
    clock: Clock,
    running: Running,
    adapter: LcsAdapter,
}

fn model() -> Lcs {
    let mut model = Lcs::new(
        Durations::default(),
        Faults::default(),
        start() - TimeDelta::days(1),
    );
    model.add_environment(
        PROJECT,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        None,
    );
    model.add_environment(
        PROJECT,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        None,
    );
    model.add_environment(
        PROJECT,
        "legacy-prod",
        EnvironmentType::Production,
        "7.2",
        None,
    );
    model.add_environment(PROJECT, "legacy-uat", EnvironmentType::Sandbox, "7.2", None);
    model
}

fn credentials(running: &Running, v2: bool) -> Credentials {
    let mut credentials = running.credentials();
    if v2 {
        credentials.auth_url = format!("{}/organizations/oauth2/v2.0/token", running.url());
    }
    credentials
}

async fn lab_with(edit: impl FnOnce(&mut Config), v2: bool) -> Lab {
    let clock = Clock::simulated(start());
    let mut config = Config {
        time: Time::Shared(clock.clone()),
        ..Config::default()
    };
    edit(&mut config);
    let running = emulator::start(model(), config).await.expect("emulator");
    let adapter = LcsAdapter::new(
        &running.url(),
        credentials(&running, v2),
        RetryPolicy::default(),
        clock.clone(),
    )
    .expect("adapter");
    Lab {
        clock,
        running,
        adapter,
    }
}

async fn lab() -> Lab {
    lab_with(|_| {}, false).await
}

impl Lab {
    fn requests(&self) -> Vec<RequestRecord> {
        self.running.emulator.requests()
    }

    fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.method == method && request.path.contains(path))
            .count()
    }

    fn script(&self, path: &str, times: u32, fault: Fault) {
        self.running.emulator.script(vec![FaultRule {
            path: path.into(),
            method: None,
            skip: 0,
            times,
            fault,
        }]);
    }

    async fn ids(&self) -> (String, String) {
        let source = self
            .adapter
            .environment(PROJECT, "contoso-prod")
            .await
            .expect("source");
        let target = self
            .adapter
            .environment(PROJECT, "contoso-uat")
            .await
            .expect("target");
        (source.id, target.id)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_lcs_adapter_passes_the_conformance_suite_against_the_emulator() {
    // One item per page, so every paged answer is read across pages.
    let lab = lab_with(|config| config.page_size = 1, false).await;
    adapter_conformance::run_all(&adapter_conformance::World {
        adapter: &lab.adapter,
        clock: &lab.clock,
        project: PROJECT,
        source: "contoso-prod",
        target: "contoso-uat",
        poll: TimeDelta::minutes(1),
    })
    .await;
    let (_, target) = lab.ids().await;
    let history = lab
        .adapter
        .history(PROJECT, &target)
        .await
        .expect("history");
    assert_eq!(
        history.len(),
        4,
        "the refresh, the deployment and two exports, from four pages"
    );
    assert!(history[0].started >= history[1].started, "newest first");
    let model = lab.running.emulator.model();
    let destructive: Vec<_> = model
        .destructive_calls()
        .map(|record| &record.call)
        .collect();
    assert_eq!(
        destructive.len(),
        4,
        "one refresh, one deployment, two exports: {destructive:?}"
    );
    assert_eq!(
        lab.count("POST", "/databasemovement/v1/export/"),
        5,
        "production refused, one made, one busy, one more made, one over the limit"
    );
    assert_eq!(
        lab.count("POST", "/databasemovement/v1/refresh/"),
        3,
        "one refused, one made, one busy"
    );
    assert_eq!(
        lab.count("POST", "/environment/v2/applyupdate/"),
        2,
        "one without a name, one made"
    );
    // The block upload went to the emulator's blob endpoint, not to LCS.
    assert_eq!(lab.count("PUT", "/blob/packages/"), 4);
    assert!(
        lab.requests().iter().all(
            |request| !request.query.contains("sig=") || request.query.contains("sig=REDACTED")
        ),
        "the log never keeps a SAS signature"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_v2_endpoint_signs_in_with_a_scope_and_bad_credentials_are_unavailable() {
    let lab = lab_with(|_| {}, true).await;
    lab.adapter.sign_in().await.expect("v2 password grant");
    assert_eq!(lab.count("POST", "/organizations/oauth2/v2.0/token"), 1);

    let mut wrong = credentials(&lab.running, false);
    wrong.password = Some("hunter2-not-it".into());
    let adapter = LcsAdapter::new(
        &lab.running.url(),
        wrong,
        RetryPolicy::default(),
        lab.clock.clone(),
    )
    .expect("adapter");
    let error = adapter.sign_in().await.expect_err("refused");
    let message = error.to_string();
    assert!(matches!(error, AdapterError::Unavailable(_)), "{error:?}");
    assert!(message.contains("AADSTS50126"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "no secret in errors: {message}"
    );

    // A given token that LCS refuses, with nothing to renew it: a clear error, no loop.
    let given = Credentials {
        access_token: Some("emu-at-made-up".into()),
        username: None,
        password: None,
        ..credentials(&lab.running, false)
    };
    let adapter = LcsAdapter::new(
        &lab.running.url(),
        given,
        RetryPolicy::default(),
        lab.clock.clone(),
    )
    .expect("adapter");
    let error = adapter
        .environment(PROJECT, "contoso-uat")
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("no refresh token or password"),
        "{error}"
    );
    assert!(!error.to_string().contains("emu-at-made-up"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_expiring_during_a_long_wait_is_renewed_before_it_expires() {
    let lab = lab().await;
    let (source, target) = lab.ids().await;
    let activity = lab
        .adapter
        .start_refresh(PROJECT, &source, &target)
        .await
        .expect("start");
    // Five simulated hours of polls every ten minutes on one-hour tokens.
    for _ in 0..30 {
        lab.clock
            .sleep_until(lab.clock.now() + TimeDelta::minutes(10))
            .await;
        lab.adapter
            .database_status(PROJECT, &target, &activity)
            .await
            .expect("every poll succeeds");
    }
    let tokens = lab.count("POST", "/oauth2/token");
    assert!((5..=7).contains(&tokens), "renewed about hourly: {tokens}");
    assert!(
        lab.requests().iter().all(|request| request.status != 401),
        "renewed before expiry, never refused"
    );

    // A token revoked early (as when LCS expires it sooner): one 401, renewed, and on.
    lab.running.emulator.revoke_tokens();
    let status = lab
        .adapter
        .database_status(PROJECT, &target, &activity)
        .await
        .expect("renewed");
    assert_eq!(status, DatabaseStatus::Completed);
    assert_eq!(
        lab.requests()
            .iter()
            .filter(|request| request.status == 401)
            .count(),
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_429_storm_waits_for_each_retry_after_in_seconds_or_as_a_date() {
    let lab = lab().await;
    let (_, target) = lab.ids().await;
    lab.script(
        "/environmentinfo/v1/history/",
        4,
        Fault::Status {
            status: 429,
            retry_after: Some("30".into()),
        },
    );
    let before = lab.clock.now();
    lab.adapter
        .history(PROJECT, &target)
        .await
        .expect("history after the storm");
    assert_eq!(
        lab.clock.now() - before,
        TimeDelta::seconds(120),
        "4 waits of 30 s"
    );

    let at = (lab.clock.now() + TimeDelta::seconds(90))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    lab.script(
        "/environmentinfo/v1/history/",
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(at),
        },
    );
    let before = lab.clock.now();
    lab.adapter
        .history(PROJECT, &target)
        .await
        .expect("history");
    assert_eq!(lab.clock.now() - before, TimeDelta::seconds(90));

    // Throttled past the call's deadline: the executor gets the wait, not an endless loop.
    lab.script(
        "/environmentinfo/v1/history/",
        1,
        Fault::Status {
            status: 429,
            retry_after: Some("3600".into()),
        },
    );
    let error = lab
        .adapter
        .history(PROJECT, &target)
        .await
        .expect_err("too long");
    assert_eq!(
        error,
        AdapterError::Throttled(std::time::Duration::from_hours(1))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn server_errors_are_retried_with_capped_backoff_until_the_deadline() {
    let lab = lab().await;
    let (_, target) = lab.ids().await;
    lab.script(
        "/environmentinfo/v1/history/",
        3,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    let before = lab.clock.now();
    lab.adapter
        .history(PROJECT, &target)
        .await
        .expect("after a burst of 503s");
    let waited = lab.clock.now() - before;
    // 1 s, 2 s and 4 s, each less up to half by jitter.
    assert!(
        waited >= TimeDelta::milliseconds(3500) && waited <= TimeDelta::seconds(7),
        "{waited}"
    );

    lab.script(
        "/environmentinfo/v1/history/",
        10_000,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    let before = lab.clock.now();
    let error = lab
        .adapter
        .history(PROJECT, &target)
        .await
        .expect_err("gives up");
    assert!(
        matches!(&error, AdapterError::Transient(message) if message.contains("attempts")),
        "{error:?}"
    );
    let waited = lab.clock.now() - before;
    assert!(
        waited <= TimeDelta::minutes(10),
        "bounded by the deadline: {waited}"
    );
    let attempts = lab
        .requests()
        .iter()
        .filter(|request| request.fault.as_deref() == Some("500"))
        .count();
    assert!(
        (8..=30).contains(&attempts),
        "backoff, not a hot loop: {attempts}"
    );

    // A permanent error (404) is not retried.
    let before = lab.count("GET", "/box/fileasset/GetFileAsset/");
    lab.script(
        "/box/fileasset/GetFileAsset/",
        1,
        Fault::Status {
            status: 404,
            retry_after: None,
        },
    );
    let error = lab
        .adapter
        .upload_target(PROJECT, "nope")
        .await
        .expect_err("404");
    assert!(matches!(error, AdapterError::Refused(_)), "{error:?}");
    assert_eq!(lab.count("GET", "/box/fileasset/GetFileAsset/") - before, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_that_changes_an_environment_is_never_sent_twice() {
    let lab = lab().await;
    let (source, target) = lab.ids().await;

    // IsSuccess false: LCS's message, no retry.
    lab.script(
        "/databasemovement/v1/refresh/",
        1,
        Fault::Json {
            body: serde_json::json!({
                "IsSuccess": false, "OperationActivityId": "x", "VersionEOL": "9999-12-31T23:59:59.9999999",
                "ErrorMessage": "Refresh is not allowed: the target is locked by a package deployment."
            }),
        },
    );
    let error = lab
        .adapter
        .start_refresh(PROJECT, &source, &target)
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, AdapterError::Refused(message) if message.contains("locked by a package deployment")),
        "{error:?}"
    );
    assert_eq!(lab.count("POST", "/databasemovement/v1/refresh/"), 1);

    // A lost answer (dropped connection, 5xx, garbage): handed back, not resent.
    for fault in [
        Fault::Drop,
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        Fault::Garbage,
    ] {
        let sent = lab.count("POST", "/databasemovement/v1/refresh/");
        lab.script("/databasemovement/v1/refresh/", 1, fault.clone());
        let error = lab
            .adapter
            .start_refresh(PROJECT, &source, &target)
            .await
            .expect_err("lost");
        assert!(
            matches!(error, AdapterError::Transient(_)),
            "{fault:?}: {error:?}"
        );
        assert_eq!(
            lab.count("POST", "/databasemovement/v1/refresh/"),
            sent + 1,
            "{fault:?}"
        );
    }
    // A 429 proves the call was not taken: that one is retried.
    lab.script(
        "/databasemovement/v1/refresh/",
        1,
        Fault::Status {
            status: 429,
            retry_after: Some("5".into()),
        },
    );
    lab.adapter
        .start_refresh(PROJECT, &source, &target)
        .await
        .expect("started after the wait");
    assert_eq!(lab.running.emulator.model().destructive_calls().count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_operation_limit_is_recognised_from_lcs_message() {
    let lab = lab().await;
    let (source, target) = lab.ids().await;
    for _ in 0..3 {
        lab.adapter
            .start_refresh(PROJECT, &source, &target)
            .await
            .expect("start");
        lab.clock
            .sleep_until(lab.clock.now() + TimeDelta::hours(2))
            .await;
    }
    let error = lab
        .adapter
        .start_refresh(PROJECT, &source, &target)
        .await
        .expect_err("limit");
    assert!(
        matches!(&error, AdapterError::OperationLimit(message) if message.starts_with("Maximum allowed API operations are 3 from ")),
        "{error:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_answers_to_reads_are_retried() {
    let lab = lab().await;
    let (_, target) = lab.ids().await;
    lab.script("/environmentinfo/v1/history/", 2, Fault::Garbage);
    lab.adapter
        .history(PROJECT, &target)
        .await
        .expect("after two garbage bodies");
    assert_eq!(lab.count("GET", "/environmentinfo/v1/history/"), 3);
}

// The executor over the lcs adapter: whole runs on simulated time.

const PLAN: &str = "version: 1
name: uat-refresh
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {start: 2026-12-05T22:00:00+01:00, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - reprovision
  - deploy: {file: packages/build.zip, name: Build 42}
";

struct Run {
    _directory: tempfile::TempDir,
    plan: Plan,
    plan_dir: PathBuf,
    store: Arc<StateStore>,
}

fn prepared() -> Run {
    prepared_with(PLAN)
}

fn prepared_with(text: &str) -> Run {
    let directory = tempfile::tempdir().expect("temp");
    let plan_dir = directory.path().to_path_buf();
    std::fs::create_dir_all(plan_dir.join("packages")).expect("mkdir");
    // 9 MiB: three blocks.
    std::fs::write(
        plan_dir.join("packages/build.zip"),
        vec![7_u8; 9 * 1024 * 1024],
    )
    .expect("package");
    let path = plan_dir.join("plan.yaml");
    std::fs::write(&path, text).expect("plan");
    let settings = CheckSettings {
        now: start() - TimeDelta::days(2),
        catalog: Catalog::embedded(),
        adapter: None,
    };
    let plan = check_file("plan.yaml", &path, text.as_bytes(), &settings)
        .plan
        .expect("plan");
    let store =
        Arc::new(StateStore::open(&StateUrl::Sqlite(plan_dir.join("state.db"))).expect("store"));
    Run {
        _directory: directory,
        plan,
        plan_dir,
        store,
    }
}

async fn execute(
    lab: &Lab,
    prepared: &Run,
    deadline: TimeDelta,
) -> (Progress, refreshctl::state::RunRecord) {
    let window = prepared.plan.next_window(lab.clock.now()).expect("window");
    let Claim::Inserted(mut run) = prepared
        .store
        .insert_run(&executor::new_run(
            &prepared.plan,
            window,
            lab.clock.now(),
            None,
            AdapterKind::Lcs,
        ))
        .expect("insert")
    else {
        panic!("a new run");
    };
    let mut events = Collect::default();
    let mut executor = Executor {
        held: Held::default(),
        plan: &prepared.plan,
        adapter: &lab.adapter,
        store: &prepared.store,
        clock: &lab.clock,
        sink: &mut events,
        settings: Settings {
            poll_interval: TimeDelta::seconds(60),
            cache_dir: prepared.plan_dir.join("cache"),
            plan_dir: prepared.plan_dir.clone(),
            step_deadline: deadline,
        },
    };
    let progress = executor
        .run_to_end(&mut run)
        .await
        .expect("no store failure");
    (progress, run)
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_connection_mid_upload_resends_only_that_block() {
    let lab = lab().await;
    let prepared = prepared();
    // The second block of the build package is cut off once.
    lab.running.emulator.script(vec![FaultRule {
        path: "/blob/packages/".into(),
        method: Some("PUT".into()),
        skip: 2,
        times: 1,
        fault: Fault::Drop,
    }]);
    let (progress, run) = execute(&lab, &prepared, TimeDelta::hours(30)).await;
    assert_eq!(
        progress,
        Progress::Finished(RunState::Succeeded),
        "{run:#?}"
    );
    let model = lab.running.emulator.model();
    let puts = |wanted: fn(&Call) -> bool| {
        model
            .calls
            .iter()
            .filter(|record| wanted(&record.call))
            .count()
    };
    // The reprovisioning tool is one block, the build three; each reached the blob store once.
    assert_eq!(puts(|call| matches!(call, Call::PutBlock { .. })), 4);
    assert_eq!(puts(|call| matches!(call, Call::CreateFileAsset { .. })), 2);
    let block_requests = lab
        .requests()
        .iter()
        .filter(|request| request.method == "PUT" && request.query.contains("comp=block&"))
        .count();
    assert_eq!(block_requests, 5, "the dropped block was sent again, alone");
    let upload = run
        .steps
        .iter()
        .find(|step| step.id == "deploy.upload")
        .expect("step");
    assert_eq!(upload.remote.blocks.len(), 3);
    assert_eq!(
        model.destructive_calls().count(),
        3,
        "one refresh, two deployments"
    );
}

/// A block that is a range of a package on disk: `len` bytes of `path` from `offset`.
fn file_block(path: &std::path::Path, offset: u64, len: u64) -> BlockData {
    BlockData::File(FileRange {
        file: Arc::new(std::fs::File::open(path).expect("open")),
        path: Arc::from(path),
        offset,
        len,
    })
}

#[tokio::test(flavor = "current_thread")]
async fn a_block_read_from_the_package_is_sent_with_its_length_and_read_again_for_a_retry() {
    let lab = lab().await;
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("build.zip");
    // Letters, so the recording server's text is the bytes; more than two of the body's reads.
    let content: Vec<u8> = (0..700_000_u32)
        .map(|n| b'a' + u8::try_from(n % 26).expect("small"))
        .collect();
    std::fs::write(&path, &content).expect("package");
    // The server reads a body by its Content-Length (a chunked one would come out empty) and
    // answers the first request with 500, so the block is sent twice.
    let server = http_server::Server::start(1);
    let target = UploadTarget {
        asset: "asset".into(),
        location: format!(
            "{}/blob/packages/asset?sv=2019-02-02&sig=secret",
            server.url
        ),
    };
    lab.adapter
        .upload_block(&target, "MDAwMDAwMDE=", file_block(&path, 100_000, 550_000))
        .await
        .expect("block");
    let requests = server.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "sent, refused with 500, sent again");
    let wanted = std::str::from_utf8(&content[100_000..650_000]).expect("letters");
    for (path, body) in &requests {
        assert!(path.contains("comp=block&blockid=MDAwMDAwMDE%3D"), "{path}");
        assert!(body == wanted, "{} bytes, not the range", body.len());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_package_that_became_shorter_during_its_upload_fails_the_block_without_retrying() {
    let lab = lab().await;
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("build.zip");
    std::fs::write(&path, vec![7_u8; 300_000]).expect("package");
    let target = lab
        .adapter
        .create_asset(PROJECT, "Build 42", "build.zip")
        .await
        .expect("create");
    // The block was planned when the file was 600,000 bytes long.
    let error = lab
        .adapter
        .upload_block(&target, "MDAwMDAwMDA=", file_block(&path, 0, 600_000))
        .await
        .expect_err("the file is too short");
    let AdapterError::State(message) = &error else {
        panic!("not a local failure: {error:?}");
    };
    assert!(
        message.starts_with(&format!(
            "cannot read `{}`: it became shorter",
            path.display()
        )),
        "{message}"
    );
    let sent = lab
        .requests()
        .iter()
        .filter(|request| request.method == "PUT" && request.query.contains("comp=block&"))
        .count();
    assert!(
        sent <= 1,
        "sent {sent} times: a file that cannot be read is not retried"
    );
}

/// Captures the adapter's warnings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_deployment_status_counts_as_running_with_one_warning_until_the_deadline() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let unknown = || Fault::Json {
        body: serde_json::json!({
            "IsSuccess": true, "OperationActivityId": "x", "VersionEOL": "9999-12-31T23:59:59.9999999",
            "OperationStatus": "Rollbacked", "ActivityId": "y"
        }),
    };

    // A few unknown answers, then LCS's own: the run goes on and succeeds.
    let recovering = lab().await;
    recovering.script("/environment/v2/fetchstatus/", 4, unknown());
    let (progress, _) = execute(&recovering, &prepared(), TimeDelta::hours(30)).await;
    assert_eq!(progress, Progress::Finished(RunState::Succeeded));
    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert_eq!(
        text.matches("does not know").count(),
        1,
        "one warning: {text}"
    );
    assert!(text.contains("Rollbacked"), "{text}");

    // Only unknown answers: the step fails at its deadline, not never.
    let stuck = lab().await;
    stuck.script("/environment/v2/fetchstatus/", 100_000, unknown());
    let (progress, run) = execute(&stuck, &prepared(), TimeDelta::hours(3)).await;
    let Progress::Finished(RunState::Failed { error }) = progress else {
        panic!("{progress:?}");
    };
    assert!(
        error.starts_with("reprovision.monitor: no result within the step's deadline of 3h"),
        "{error}"
    );
    assert!(run.state.is_finished());
}

#[tokio::test(flavor = "current_thread")]
async fn preflight_rejects_a_plan_whose_facts_lcs_contradicts() {
    let lab = lab().await;
    let stale = PLAN
        .replace(
            "environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}",
            "environment: {name: contoso-uat, type: sandbox, release: \"10.0.40\"}",
        )
        .replace(
            "source: {name: contoso-prod, type: production, release: \"10.0.41\"}",
            "source: {name: contoso-prod, type: production, release: \"10.0.40\"}",
        );
    let (progress, run) = execute(&lab, &prepared_with(&stale), TimeDelta::hours(30)).await;
    let Progress::Finished(RunState::Rejected { reason }) = progress else {
        panic!("{progress:?}");
    };
    assert_eq!(
        reason,
        "the plan says `contoso-uat` is on release 10.0.40; LCS says 10.0.41: update the plan's facts and validate it again"
    );
    assert_eq!(run.steps[0].id, "preflight");
    assert_eq!(lab.running.emulator.model().destructive_calls().count(), 0);

    // `10.0` says less than `10.0.41`: it agrees.
    let vague = PLAN.replace("release: \"10.0.41\"", "release: \"10.0\"");
    let (progress, _) = execute(&lab, &prepared_with(&vague), TimeDelta::hours(30)).await;
    assert_eq!(progress, Progress::Finished(RunState::Succeeded));
}

#[tokio::test(flavor = "current_thread")]
async fn preflight_checks_prerequisites_on_the_live_release_the_plan_did_not_declare() {
    let lab = lab().await;
    let undeclared = "version: 1
name: legacy-refresh
project: 1234567
environment: {name: legacy-uat}
source: {name: legacy-prod}
window: {start: 2026-12-05T22:00:00+01:00, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - reprovision
";
    let (progress, _) = execute(&lab, &prepared_with(undeclared), TimeDelta::hours(30)).await;
    let Progress::Finished(RunState::Rejected { reason }) = progress else {
        panic!("{progress:?}");
    };
    assert!(
        reason.starts_with("LCS says `legacy-uat` is on release 7.2, which needs KB4035399"),
        "{reason}"
    );
    assert_eq!(lab.running.emulator.model().destructive_calls().count(), 0);
}

// The scheduler over the lcs adapter during an outage: a blip is not a rejection.

/// A plan due for submission at once (its window is two days after `start()`), notifying the
/// test's server of every event.
fn outage_plan(hooks: &str) -> String {
    format!(
        "version: 1
name: uat-outage
project: 1234567
environment: {{name: contoso-uat, type: sandbox, release: \"10.0.41\"}}
source: {{name: contoso-prod, type: production, release: \"10.0.41\"}}
window: {{start: 2026-12-07T22:00:00Z, duration: 6h}}
lead_time: 72h
acknowledge: [target-database-erased, target-unavailable]
notifications:
  - url: {hooks}/hooks/refresh
"
    )
}

/// One scheduler pass over `plan` at the lab's simulated time; `client` sends the
/// notifications (one for every pass: making one reads the system's certificates).
async fn tick(
    adapter: &LcsAdapter,
    clock: &Clock,
    prepared: &Run,
    client: &reqwest::Client,
) -> refreshctl::schedule::TickReport {
    let settings = refreshctl::schedule::TickSettings {
        owner: "test".into(),
        lease: TimeDelta::minutes(2),
        poll_interval: TimeDelta::seconds(60),
        step_deadline: TimeDelta::hours(30),
        cache_dir: prepared.plan_dir.join("cache"),
        send_notifications: true,
        notify_backoff: std::time::Duration::from_millis(1),
    };
    let sink = std::cell::RefCell::new(Collect::default());
    let claimed = std::cell::RefCell::new(Vec::new());
    let scheduler = refreshctl::schedule::Scheduler {
        plans: std::slice::from_ref(&prepared.plan),
        adapter,
        store: &prepared.store,
        clock,
        settings: &settings,
        sink: &sink,
        claimed: &claimed,
        client: std::cell::OnceCell::from(client.clone()),
        outbox: None,
    };
    scheduler.tick().await.expect("a pass")
}

/// An adapter that gives up on a call at its first failure, so each pass makes one attempt.
fn impatient(lab: &Lab) -> LcsAdapter {
    LcsAdapter::new(
        &lab.running.url(),
        credentials(&lab.running, false),
        RetryPolicy {
            deadline: std::time::Duration::ZERO,
            ..RetryPolicy::default()
        },
        lab.clock.clone(),
    )
    .expect("adapter")
}

/// The events a run's notifications were sent for, in order.
fn notified(server: &http_server::Server) -> Vec<String> {
    server
        .bodies()
        .iter()
        .map(|body| body["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn log_kinds(store: &StateStore, run: &str) -> Vec<String> {
    store
        .events(run)
        .expect("events")
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn an_outage_during_preflight_delays_the_run_with_backoff_and_one_log_entry_and_notification()
{
    let lab = lab().await;
    let adapter = impatient(&lab);
    let client = refreshctl::notify::Notifier::client();
    let server = http_server::Server::start(0);
    let prepared = prepared_with(&outage_plan(&server.url));
    // Two looks at the target fail: a 503, then an answer that is not JSON.
    let detail = "/environmentinfo/v1/detail/";
    lab.script(
        detail,
        1,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    lab.script(detail, 1, Fault::Garbage);
    let run = "uat-outage@20261207T2200Z";

    let first = tick(&adapter, &lab.clock, &prepared, &client).await;
    assert_eq!(first.submitted, [run]);
    let [advanced] = first.advanced.as_slice() else {
        panic!("{:?}", first.advanced);
    };
    let Progress::Delayed { until, error } = &advanced.progress else {
        panic!("{:?}", advanced.progress);
    };
    assert_eq!(
        (advanced.before, advanced.after),
        ("submitted", "submitted")
    );
    assert!(error.contains("HTTP 503"), "{error}");
    assert_eq!(*until - lab.clock.now(), TimeDelta::minutes(1));
    assert_eq!(
        prepared.store.next_due(AdapterKind::Lcs).expect("due"),
        Some(*until),
        "the backoff is kept in the store"
    );
    let stored = prepared.store.run(run).expect("read").expect("run");
    assert_eq!(stored.state, RunState::Submitted);
    assert_eq!(
        log_kinds(&prepared.store, run),
        ["run-state", "step-started", "delayed"]
    );
    assert_eq!(notified(&server), ["submitted", "delayed"]);
    let body = &server.bodies()[1];
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|text| text.contains("is delayed") && text.contains("HTTP 503")),
        "{body}"
    );

    // Before the wait is over, nothing is tried.
    let early = tick(&adapter, &lab.clock, &prepared, &client).await;
    assert!(early.advanced.is_empty(), "{:?}", early.advanced);
    assert_eq!(lab.count("GET", detail), 1);

    // Still down at the next attempt: the wait doubles, and nothing more is logged or sent.
    lab.clock.sleep_until(*until).await;
    let second = tick(&adapter, &lab.clock, &prepared, &client).await;
    let Progress::Delayed { until, error } = &second.advanced[0].progress else {
        panic!("{:?}", second.advanced);
    };
    assert!(
        error.contains("not the expected JSON") || error.contains("not JSON"),
        "{error}"
    );
    assert_eq!(*until - lab.clock.now(), TimeDelta::minutes(2));
    assert_eq!(
        log_kinds(&prepared.store, run),
        ["run-state", "step-started", "delayed"]
    );
    assert_eq!(notified(&server), ["submitted", "delayed"]);

    // LCS answers again: the run is accepted and waits for its window.
    lab.clock.sleep_until(*until).await;
    let third = tick(&adapter, &lab.clock, &prepared, &client).await;
    assert_eq!(third.advanced[0].after, "accepted", "{:?}", third.advanced);
    assert!(matches!(third.advanced[0].progress, Progress::Waiting(_)));
    let log = prepared.store.events(run).expect("events");
    assert_eq!(
        log.iter().filter(|event| event.kind == "delayed").count(),
        1
    );
    assert!(
        log.iter().any(|event| event.detail["message"]
            .as_str()
            .is_some_and(|text| text.contains("answered again after 2 attempt(s)"))),
        "{log:?}"
    );
    assert_eq!(notified(&server), ["submitted", "delayed", "accepted"]);
    assert_eq!(lab.running.emulator.model().destructive_calls().count(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn an_outage_that_outlasts_the_window_fails_the_run_once_it_cannot_be_kept() {
    let lab = lab().await;
    let adapter = impatient(&lab);
    let client = refreshctl::notify::Notifier::client();
    let server = http_server::Server::start(0);
    let prepared = prepared_with(&outage_plan(&server.url));
    lab.script("/environmentinfo/v1/detail/", 100_000, Fault::Drop);
    let run = "uat-outage@20261207T2200Z";
    let mut passes = 0;
    let mut waits = Vec::new();
    loop {
        passes += 1;
        assert!(
            passes < 200,
            "the outage must end the run in bounded passes"
        );
        let report = tick(&adapter, &lab.clock, &prepared, &client).await;
        match report.advanced.first().map(|advanced| &advanced.progress) {
            Some(Progress::Delayed { until, .. }) => {
                waits.push((*until - lab.clock.now()).num_minutes());
                lab.clock.sleep_until(*until).await;
            }
            Some(Progress::Finished(RunState::Failed { error })) => {
                assert!(
                    error.starts_with(
                        "preflight: the service could not be reached since 2026-12-05T21:00:00Z"
                    ),
                    "{error}"
                );
                assert!(
                    error.contains("and the window ends at 2026-12-08T04:00:00Z, before another attempt: the run cannot be kept and nothing was changed"),
                    "{error}"
                );
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&waits[..7], [1, 2, 4, 8, 16, 30, 30]);
    assert!(waits.iter().all(|wait| *wait <= 30));
    assert!(
        lab.clock.now() < start() + TimeDelta::hours(55),
        "given up before the window ends"
    );
    let log = log_kinds(&prepared.store, run);
    assert_eq!(
        log.iter().filter(|kind| *kind == "delayed").count(),
        1,
        "{log:?}"
    );
    assert_eq!(notified(&server), ["submitted", "delayed", "failed"]);
    let stored = prepared.store.run(run).expect("read").expect("run");
    assert!(
        matches!(stored.state, RunState::Failed { .. }),
        "{stored:?}"
    );
}

/// The metadata answer LCS would give for `contoso-uat`, with this `EnvironmentType`.
fn detail_with_type(id: &str, kind: &serde_json::Value) -> Fault {
    Fault::Json {
        body: serde_json::json!({
            "IsSuccess": true, "OperationActivityId": "x", "VersionEOL": "9999-12-31T23:59:59.9999999",
            "ResultPageCurrent": 1, "ResultHasMorePages": false,
            "Data": [{
                "EnvironmentId": id, "EnvironmentName": "contoso-uat", "ProjectId": PROJECT,
                "EnvironmentType": kind, "DeploymentState": "Finished",
                "CurrentApplicationReleaseName": "10.0.41"
            }]
        }),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_live_check_before_each_destructive_call_fails_closed_on_an_unknown_type() {
    let kinds = [
        serde_json::json!("Production (Self-service)"),
        serde_json::json!("ProductionEnvironment"),
        serde_json::json!("Live"),
        serde_json::json!("Production"),
        serde_json::json!(""),
        serde_json::Value::Null,
    ];
    for kind in kinds {
        // Preflight reads the target and the source as LCS has them; the target's type then
        // changes before the refresh is sent.
        let lab = lab().await;
        let (_, target) = lab.ids().await;
        lab.running.emulator.script(vec![FaultRule {
            path: "/environmentinfo/v1/detail/".into(),
            method: None,
            skip: 2,
            times: 100,
            fault: detail_with_type(&target, &kind),
        }]);
        let (progress, run) = execute(&lab, &prepared(), TimeDelta::hours(30)).await;
        let Progress::Finished(RunState::Failed { error }) = progress else {
            panic!("{kind}: {progress:?}");
        };
        assert!(
            error.starts_with("start-refresh: ") && error.ends_with("refusing"),
            "{kind}: {error}"
        );
        match kind.as_str().filter(|text| !text.is_empty()) {
            Some(text) => assert!(error.contains(&format!("`{text}`")), "{error}"),
            None => assert!(error.contains("reports no type"), "{error}"),
        }
        assert!(run.steps.iter().all(|step| step.intent.is_none()));
        assert_eq!(
            lab.count("POST", "/databasemovement/v1/refresh/"),
            0,
            "{kind}"
        );

        // The same before an update is applied: the refresh went out, the update does not.
        let lab = lab_with(|_| {}, false).await;
        let (_, target) = lab.ids().await;
        lab.running.emulator.script(vec![FaultRule {
            path: "/environmentinfo/v1/detail/".into(),
            method: None,
            skip: 3,
            times: 100,
            fault: detail_with_type(&target, &kind),
        }]);
        let (progress, _) = execute(&lab, &prepared(), TimeDelta::hours(30)).await;
        let Progress::Finished(RunState::Failed { error }) = progress else {
            panic!("{kind}: {progress:?}");
        };
        assert!(error.starts_with("reprovision.apply: "), "{kind}: {error}");
        assert_eq!(lab.count("POST", "/databasemovement/v1/refresh/"), 1);
        assert_eq!(
            lab.count("POST", "/environment/v2/applyupdate/"),
            0,
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_lost_answer_to_a_destructive_call_says_what_happened_not_that_the_process_stopped() {
    let faults = [
        (
            Fault::Status {
                status: 500,
                retry_after: None,
            },
            "HTTP 500",
        ),
        (
            Fault::Status {
                status: 503,
                retry_after: None,
            },
            "HTTP 503",
        ),
        (Fault::Garbage, "not JSON"),
        (Fault::Drop, "start refresh: "),
    ];
    for (fault, said) in faults {
        let lab = lab().await;
        lab.script("/databasemovement/v1/refresh/", 1, fault.clone());
        let (progress, run) = execute(&lab, &prepared(), TimeDelta::hours(30)).await;
        let Progress::Blocked(RunState::NeedsAttention { step, reason }) = progress else {
            panic!("{fault:?}: {progress:?}");
        };
        assert_eq!(step, "start-refresh");
        assert!(
            reason.starts_with("`start-refresh` was sent and its answer was lost ("),
            "{fault:?}: {reason}"
        );
        assert!(reason.contains(said), "{fault:?}: {reason}");
        assert!(
            reason.contains("cannot be proven whether LCS received it"),
            "{reason}"
        );
        assert!(!reason.contains("process stopped"), "{fault:?}: {reason}");
        assert!(
            reason.contains(&format!("refreshctl resume {} --retry-step", run.id)),
            "{reason}"
        );
        assert_eq!(lab.count("POST", "/databasemovement/v1/refresh/"), 1);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_huge_retry_after_says_what_lcs_asked_and_is_never_waited_for() {
    let adapter_lab = lab().await;
    let (_, target) = adapter_lab.ids().await;
    for (value, asked) in [
        ("864000", "10d"),
        ("99999999999999999999", "18446744073709551615s"),
    ] {
        adapter_lab.script(
            "/environmentinfo/v1/history/",
            1,
            Fault::Status {
                status: 429,
                retry_after: Some(value.into()),
            },
        );
        let before = adapter_lab.clock.now();
        let error = adapter_lab
            .adapter
            .history(PROJECT, &target)
            .await
            .expect_err("past the deadline");
        assert!(matches!(error, AdapterError::Throttled(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!("throttled: LCS asked to retry after {asked}")
        );
        assert_eq!(
            adapter_lab.clock.now(),
            before,
            "{value}: nothing was waited for"
        );
    }

    // In a run: the status poll of the refresh, and the refresh itself (a 429 proves it was not
    // received, so its intent is cleared). The step fails at once, saying what LCS asked.
    for (path, step) in [
        ("/databasemovement/v1/fetchstatus/", "monitor-refresh"),
        ("/databasemovement/v1/refresh/", "start-refresh"),
    ] {
        let lab = lab().await;
        lab.script(
            path,
            1,
            Fault::Status {
                status: 429,
                retry_after: Some("864000".into()),
            },
        );
        let before = lab.clock.now();
        let (progress, run) = execute(&lab, &prepared(), TimeDelta::hours(30)).await;
        let Progress::Finished(RunState::Failed { error }) = progress else {
            panic!("{path}: {progress:?}");
        };
        assert_eq!(
            error,
            format!(
                "{step}: LCS asked to retry after 10d, past the step's deadline of 30h; nothing was waited for"
            )
        );
        assert!(
            lab.clock.now() - before < TimeDelta::hours(30),
            "{path}: waited until {}",
            lab.clock.now()
        );
        let failed = run
            .steps
            .iter()
            .find(|record| record.id == step)
            .expect("step");
        assert!(failed.intent.is_none(), "{failed:?}");
        assert_eq!(
            lab.running.emulator.model().destructive_calls().count(),
            usize::from(step != "start-refresh")
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_hung_attempt_never_outlasts_the_call_deadline_and_says_it_timed_out() {
    // A clock 600 times faster than the wall: the 10-minute deadline is a second of wall time.
    let clock = Clock::Scaled {
        origin: Utc::now(),
        speed: 600.0,
    };
    let running = emulator::start(
        model(),
        Config {
            time: Time::Shared(clock.clone()),
            metadata_per_minute: 0,
            ..Config::default()
        },
    )
    .await
    .expect("emulator");
    let adapter = LcsAdapter::new(
        &running.url(),
        credentials(&running, false),
        RetryPolicy {
            min_attempt: std::time::Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        clock.clone(),
    )
    .expect("adapter");
    adapter.sign_in().await.expect("signed in");
    // Every answer hangs for ten minutes of wall time (the client's read timeout is two).
    running.emulator.script(vec![FaultRule {
        path: "/environmentinfo/v1/detail/".into(),
        method: None,
        skip: 0,
        times: 1000,
        fault: Fault::Slow { millis: 600_000 },
    }]);
    let wall = std::time::Instant::now();
    let before = clock.now();
    let error = adapter
        .environment(PROJECT, "contoso-uat")
        .await
        .expect_err("gives up");
    let waited = clock.now() - before;
    assert!(
        wall.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        wall.elapsed()
    );
    assert!(waited <= TimeDelta::minutes(11), "{waited}");
    let message = error.to_string();
    assert!(matches!(error, AdapterError::Transient(_)), "{error:?}");
    assert!(
        message.contains("timed out waiting for the answer"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "GET {}/environmentinfo/v1/detail/project/{PROJECT}/?page=***&environmentName=***",
            running.url()
        )),
        "{message}"
    );
    assert!(
        !message.contains("contoso-uat"),
        "query values hidden: {message}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn transport_failures_say_what_happened() {
    let clock = Clock::simulated(start());
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let lab = lab().await;
    let https = lab.running.url().replace("http://", "https://");
    let short = RetryPolicy {
        deadline: std::time::Duration::from_secs(3),
        ..RetryPolicy::default()
    };
    let table = [
        (format!("http://127.0.0.1:{closed}"), "connection refused"),
        (
            "http://refreshctl-test.invalid".to_owned(),
            "DNS failure: the host name could not be resolved",
        ),
        (https, "TLS failure: "),
    ];
    for (url, said) in table {
        let adapter = LcsAdapter::new(
            &url,
            Credentials {
                access_token: Some("given".into()),
                ..credentials(&lab.running, false)
            },
            short,
            clock.clone(),
        )
        .expect("adapter");
        let error = adapter
            .environment(PROJECT, "contoso-uat")
            .await
            .expect_err("no answer");
        let message = error.to_string();
        assert!(message.contains(said), "{url}: {message}");
        assert!(!message.contains("error sending request"), "{message}");
        assert!(message.contains("attempts"), "retried: {message}");
    }

    // A connection dropped before the answer was complete.
    let (_, target) = lab.ids().await;
    lab.script("/environmentinfo/v1/history/", 1000, Fault::Drop);
    let error = lab
        .adapter
        .history(PROJECT, &target)
        .await
        .expect_err("cut off");
    assert!(
        error
            .to_string()
            .contains("the connection closed before the answer was complete"),
        "{error}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_larger_than_the_cap_is_an_error_that_says_so() {
    let lab = lab().await;
    let (source, target) = lab.ids().await;
    lab.script(
        "/environmentinfo/v1/history/",
        1,
        Fault::Huge {
            bytes: 50 * 1024 * 1024,
        },
    );
    let error = lab
        .adapter
        .history(PROJECT, &target)
        .await
        .expect_err("too large");
    assert_eq!(
        error,
        AdapterError::BadAnswer(
            "environment history: LCS answered HTTP 200 OK with a body larger than 16 MiB, which refreshctl does not read".into()
        )
    );
    assert_eq!(
        lab.count("GET", "/environmentinfo/v1/history/"),
        1,
        "not read again"
    );
    // Just under the cap is read (and found not to be LCS's answer).
    lab.script(
        "/environmentinfo/v1/history/",
        1,
        Fault::Huge {
            bytes: 16 * 1024 * 1024 - 1,
        },
    );
    let error = lab
        .adapter
        .history(PROJECT, &target)
        .await
        .expect_err("not a page");
    assert!(
        error.to_string().contains("not the expected JSON"),
        "{error}"
    );
    // To a call that changes an environment, a huge answer is a lost one: settled from history.
    lab.script(
        "/databasemovement/v1/refresh/",
        1,
        Fault::Huge {
            bytes: 50 * 1024 * 1024,
        },
    );
    let error = lab
        .adapter
        .start_refresh(PROJECT, &source, &target)
        .await
        .expect_err("lost");
    assert!(
        matches!(&error, AdapterError::Transient(message) if message.contains("larger than 16 MiB")),
        "{error:?}"
    );
    assert_eq!(lab.count("POST", "/databasemovement/v1/refresh/"), 1);
}
