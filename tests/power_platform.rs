//! The `power-platform` adapter against the emulator over real HTTP on loopback, on one
//! simulated clock that the adapter, the emulator's model and its tokens share: waits of hours
//! take no time, and every retry, poll and token renewal happens in a repeatable order.

#[path = "common/adapter_conformance.rs"]
mod adapter_conformance;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{Adapter, AdapterError, DatabaseRequest, PowerPlatformAdapter};
use refreshctl::clock::Clock;
use refreshctl::emulator::power_platform::{Ending, EnvironmentSettings, Handover, Settings};
use refreshctl::emulator::{self, Config, Fault, FaultRule, RequestRecord, Running, Time};
use refreshctl::executor::{self, Collect, Executor, Held, Progress, Settings as RunSettings};
use refreshctl::plan::{EnvironmentType, Plan, PowerPlatformOptions};
use refreshctl::rules::{Catalog, CheckSettings, check_file};
use refreshctl::sim::{DatabaseStatus, Durations, Faults, Lcs};
use refreshctl::state::{Claim, RunState, StateStore, StateUrl};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T21:00:00Z")
        .expect("time")
        .to_utc()
}

struct Lab {
    clock: Clock,
    running: Running,
    adapter: PowerPlatformAdapter,
}

fn model(durations: Durations, faults: Faults) -> Lcs {
    let mut model = Lcs::new(durations, faults, start() - TimeDelta::days(1));
    for (name, kind) in [
        ("contoso-prod", EnvironmentType::Production),
        ("contoso-uat", EnvironmentType::Sandbox),
        ("contoso-test", EnvironmentType::Sandbox),
        ("contoso-dev", EnvironmentType::Development),
    ] {
        model.add_environment(0, name, kind, "10.0.41", None);
    }
    model
}

async fn lab_with(durations: Durations, faults: Faults, edit: impl FnOnce(&mut Config)) -> Lab {
    let clock = Clock::simulated(start());
    let mut config = Config {
        time: Time::Shared(clock.clone()),
        ..Config::default()
    };
    edit(&mut config);
    let running = emulator::start(model(durations, faults), config)
        .await
        .expect("emulator");
    let adapter = PowerPlatformAdapter::new(&running.power_platform_config(), clock.clone())
        .expect("adapter");
    Lab {
        clock,
        running,
        adapter,
    }
}

async fn lab() -> Lab {
    lab_with(Durations::default(), Faults::default(), |_| {}).await
}

async fn fresh_lab() -> Lab {
    lab().await
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

    /// The copies and restores sent.
    fn posts(&self) -> usize {
        self.requests()
            .iter()
            .filter(|request| {
                request.method == "POST"
                    && (request.path.ends_with("/copy") || request.path.ends_with("/restore"))
            })
            .count()
    }

    fn script(&self, path: &str, method: &str, times: u32, fault: Fault) {
        self.running.emulator.script(vec![FaultRule {
            path: path.into(),
            method: Some(method.into()),
            skip: 0,
            times,
            fault,
        }]);
    }

    fn configure(&self, settings: Settings) {
        self.running.configure_power_platform(settings);
    }

    fn environment(&self, name: &str, settings: EnvironmentSettings) {
        self.configure(Settings {
            environments: BTreeMap::from([(name.to_owned(), settings)]),
            ..Settings::default()
        });
    }

    async fn id(&self, name: &str) -> String {
        self.adapter
            .environment(0, name)
            .await
            .expect("environment")
            .id
    }

    /// Polls an operation until it ends; the statuses seen, in order.
    async fn poll(
        &self,
        target: &str,
        activity: &str,
        every: TimeDelta,
    ) -> Vec<Result<DatabaseStatus, AdapterError>> {
        let mut seen: Vec<Result<DatabaseStatus, AdapterError>> = Vec::new();
        for _ in 0..100_000 {
            let status = self.adapter.database_status(0, target, activity).await;
            let end = match &status {
                Ok(status) => status.is_terminal(),
                Err(_) => true,
            };
            if seen.last() != Some(&status) {
                seen.push(status);
            }
            if end {
                break;
            }
            self.clock.sleep_until(self.clock.now() + every).await;
        }
        seen
    }
}

fn copy<'a>(
    source: &'a str,
    target: &'a str,
    options: &'a PowerPlatformOptions,
) -> DatabaseRequest<'a> {
    DatabaseRequest {
        source: Some(source),
        target,
        point: None,
        not_before: None,
        options,
    }
}

fn restore<'a>(
    source: Option<&'a str>,
    target: &'a str,
    point: Option<DateTime<Utc>>,
    options: &'a PowerPlatformOptions,
) -> DatabaseRequest<'a> {
    DatabaseRequest {
        source,
        target,
        point,
        not_before: None,
        options,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_power_platform_adapter_passes_the_conformance_suite_against_the_emulator() {
    let lab = lab().await;
    adapter_conformance::run_all(&adapter_conformance::World {
        adapter: &lab.adapter,
        clock: &lab.clock,
        project: 0,
        source: "contoso-prod",
        target: "contoso-uat",
        poll: TimeDelta::minutes(1),
    })
    .await;
    // One copy refused before it was sent (production target), one busy refused before it was
    // sent, one copy and one restore made.
    assert_eq!(lab.count("POST", "/copy"), 1);
    assert_eq!(lab.count("POST", "/restore"), 1);
    let model = lab.running.emulator.model();
    assert_eq!(model.destructive_calls().count(), 2);
    assert!(
        lab.requests()
            .iter()
            .all(|request| request.query.contains("api-version=2024-10-01")
                || request.path.contains("/oauth2/")),
        "every API call names its api-version"
    );
}

/// A refusal: what is wrong, the facts changed for it, the request (source, target, restore
/// point from now), and what the refusal says.
struct Refusal {
    case: &'static str,
    facts: Option<(&'static str, EnvironmentSettings)>,
    source: Option<&'static str>,
    target: &'static str,
    point: Option<TimeDelta>,
    says: &'static str,
}

fn region(region: &str) -> EnvironmentSettings {
    EnvironmentSettings {
        azure_region: Some(region.into()),
        ..EnvironmentSettings::default()
    }
}

fn refusals() -> Vec<Refusal> {
    let linked = |linked| EnvironmentSettings {
        fin_ops: Some(linked),
        ..EnvironmentSettings::default()
    };
    let copy = |case, facts, source, target, says| Refusal {
        case,
        facts,
        source: Some(source),
        target,
        point: None,
        says,
    };
    let restore = |case, source, point: TimeDelta, says| Refusal {
        case,
        facts: None,
        source,
        target: "contoso-uat",
        point: Some(point),
        says,
    };
    vec![
        copy(
            "production target",
            None,
            "contoso-uat",
            "contoso-prod",
            "production environment",
        ),
        copy(
            "unknown target type",
            Some((
                "contoso-uat",
                EnvironmentSettings {
                    reported_type: Some("Trial".into()),
                    ..EnvironmentSettings::default()
                },
            )),
            "contoso-prod",
            "contoso-uat",
            "does not know to be non-production",
        ),
        copy(
            "target without F&O",
            Some(("contoso-uat", linked(false))),
            "contoso-prod",
            "contoso-uat",
            "the target `contoso-uat` has no finance and operations environment",
        ),
        copy(
            "source without F&O",
            Some(("contoso-prod", linked(false))),
            "contoso-prod",
            "contoso-uat",
            "the source `contoso-prod` has no finance and operations environment",
        ),
        copy(
            "another region",
            Some(("contoso-prod", region("eastus"))),
            "contoso-prod",
            "contoso-uat",
            "is in region eastus and the target `contoso-uat` in westeurope",
        ),
        copy(
            "not a candidate",
            None,
            "contoso-test",
            "contoso-test",
            "does not list `contoso-test` among the copy candidates",
        ),
        restore(
            "older than a sandbox's 7 days",
            Some("contoso-test"),
            TimeDelta::days(-8),
            "older than the 7 days",
        ),
        restore(
            "older than production's 28 days",
            Some("contoso-prod"),
            TimeDelta::days(-29),
            "older than the 28 days",
        ),
        restore(
            "in the future",
            None,
            TimeDelta::minutes(1),
            "in the future",
        ),
    ]
}

#[tokio::test(flavor = "current_thread")]
async fn every_preflight_refusal_sends_no_copy_or_restore() {
    let options = PowerPlatformOptions::default();
    for refusal in refusals() {
        let lab = lab().await;
        if let Some((name, facts)) = refusal.facts.clone() {
            lab.environment(name, facts);
        }
        let point = refusal.point.map(|offset| lab.clock.now() + offset);
        let request = restore(refusal.source, refusal.target, point, &options);
        let request = DatabaseRequest {
            // A copy has no point; a restore from the target itself has no source.
            point: if refusal.point.is_some() { point } else { None },
            ..request
        };
        let case = refusal.case;
        let says = refusal.says;
        let refused = lab.adapter.preflight(0, &request).await;
        assert!(
            matches!(&refused, Err(AdapterError::Refused(message)) if message.contains(says)),
            "{case}: {refused:?}"
        );
        let refused = lab.adapter.start_database_operation(0, &request).await;
        assert!(
            matches!(&refused, Err(AdapterError::Refused(message)) if message.contains(says)),
            "{case}: {refused:?}"
        );
        assert_eq!(lab.posts(), 0, "{case}: nothing was sent");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_running_operation_on_the_target_refuses_before_sending_and_a_409_is_refused() {
    let lab = lab().await;
    let options = PowerPlatformOptions::default();
    lab.adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await
        .expect("the first copy starts");
    let busy = lab
        .adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await;
    assert!(
        matches!(&busy, Err(AdapterError::Refused(message)) if message.contains("is busy: operation")),
        "{busy:?}"
    );
    assert_eq!(lab.posts(), 1, "the busy target got no second POST");
    // A 409 the list did not foresee (another client started one in between).
    lab.script(
        "/copy",
        "POST",
        1,
        Fault::Status {
            status: 409,
            retry_after: None,
        },
    );
    let conflict = lab
        .adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-test", &options))
        .await;
    assert!(
        matches!(&conflict, Err(AdapterError::Refused(message)) if message.contains("HTTP 409") && message.contains("already running")),
        "{conflict:?}"
    );
    assert_eq!(lab.posts(), 2, "a 409 is not sent again");
}

#[tokio::test(flavor = "current_thread")]
async fn every_way_a_202_hands_over_its_operation_is_followed_to_the_end() {
    let options = PowerPlatformOptions::default();
    for handover in [
        Handover::Both,
        Handover::OperationLocation,
        Handover::Location,
        Handover::BodyUrl,
        Handover::BodyId,
        Handover::None,
    ] {
        let lab = lab().await;
        lab.configure(Settings {
            handover: Some(handover),
            ..Settings::default()
        });
        let target = lab.id("contoso-uat").await;
        let activity = lab
            .adapter
            .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
            .await
            .unwrap_or_else(|error| panic!("{handover:?}: {error}"));
        let model = lab.running.emulator.model();
        assert_eq!(model.operations.len(), 1);
        assert_eq!(activity, model.operations[0].activity, "{handover:?}");
        let seen = lab.poll(&target, &activity, TimeDelta::minutes(1)).await;
        assert_eq!(
            seen.last(),
            Some(&Ok(DatabaseStatus::Completed)),
            "{handover:?}: {seen:?}"
        );
        assert!(
            seen.contains(&Ok(DatabaseStatus::NotStarted)),
            "{handover:?}: {seen:?}"
        );
        assert!(
            seen.contains(&Ok(DatabaseStatus::InProgress)),
            "{handover:?}: {seen:?}"
        );
        // The URL handed over is polled; without one, the environment-scoped path.
        let by_url = lab.count(
            "GET",
            &format!("/environmentmanagement/operations/{activity}"),
        );
        let scoped = lab.count(
            "GET",
            &format!("/environments/{target}/operations/{activity}"),
        );
        match handover {
            Handover::BodyId | Handover::None => assert!(by_url == 0 && scoped > 0, "{handover:?}"),
            _ => assert!(by_url > 0 && scoped == 0, "{handover:?}"),
        }
        assert_eq!(lab.posts(), 1, "{handover:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_429_waits_for_its_retry_after_and_the_copy_is_sent_once_more() {
    let lab = lab().await;
    let options = PowerPlatformOptions::default();
    lab.script(
        "/copy",
        "POST",
        1,
        Fault::Status {
            status: 429,
            retry_after: Some("120".into()),
        },
    );
    let before = lab.clock.now();
    lab.adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await
        .expect("the copy starts after the wait");
    assert!(lab.clock.now() - before >= TimeDelta::seconds(120));
    let posts: Vec<Option<String>> = lab
        .requests()
        .into_iter()
        .filter(|request| request.method == "POST" && request.path.ends_with("/copy"))
        .map(|request| request.fault)
        .collect();
    assert_eq!(
        posts,
        [Some("429".to_owned()), None],
        "throttled, then sent"
    );
    assert_eq!(lab.running.emulator.model().destructive_calls().count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_are_renewed_before_they_expire_during_an_eight_hour_copy_and_a_401_renews_once() {
    let durations = Durations {
        refresh: TimeDelta::hours(8),
        ..Durations::default()
    };
    let lab = lab_with(durations, Faults::default(), |config| {
        config.token_lifetime = TimeDelta::minutes(30);
    })
    .await;
    let options = PowerPlatformOptions::default();
    let target = lab.id("contoso-uat").await;
    let activity = lab
        .adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await
        .expect("starts");
    let seen = lab.poll(&target, &activity, TimeDelta::minutes(5)).await;
    assert_eq!(
        seen.last(),
        Some(&Ok(DatabaseStatus::Completed)),
        "{seen:?}"
    );
    let tokens = lab.count("POST", "/oauth2/v2.0/token");
    assert!(
        tokens >= 16,
        "a token every half hour or sooner over 8 h: {tokens}"
    );
    assert!(
        lab.requests().iter().all(|request| request.status != 401),
        "no call ever went out on an expired token"
    );
    // A token the service stops honouring: one 401, one renewal, the same call again.
    lab.script("/operations/", "GET", 1, Fault::ExpireToken);
    let before = lab.count("POST", "/oauth2/v2.0/token");
    let status = lab.adapter.database_status(0, &target, &activity).await;
    assert_eq!(status, Ok(DatabaseStatus::Completed));
    assert_eq!(lab.count("POST", "/oauth2/v2.0/token"), before + 1);
    // Twice refused is the end: unavailable, never a loop.
    lab.script("/operations/", "GET", 2, Fault::ExpireToken);
    let status = lab.adapter.database_status(0, &target, &activity).await;
    assert!(
        matches!(&status, Err(AdapterError::Unavailable(message)) if message.contains("HTTP 401")),
        "{status:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_operation_names_its_stage_and_error_detail() {
    let lab = lab_with(
        Durations::default(),
        Faults {
            refresh_fails: true,
            ..Faults::default()
        },
        |_| {},
    )
    .await;
    let options = PowerPlatformOptions::default();
    let target = lab.id("contoso-uat").await;
    let activity = lab
        .adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await
        .expect("starts");
    let seen = lab.poll(&target, &activity, TimeDelta::minutes(1)).await;
    let Some(Err(AdapterError::OperationFailed(message))) = seen.last() else {
        panic!("{seen:?}");
    };
    assert!(
        message.starts_with(&format!(
            "the copy operation {activity} ended Failed in stage `Run`: InternalServerError; The database operation failed"
        )),
        "{message}"
    );

    let lab = fresh_lab().await;
    lab.configure(Settings {
        ending: Some(Ending::ValidationFailed),
        ..Settings::default()
    });
    let activity = lab
        .adapter
        .start_database_operation(0, &restore(None, &target, None, &options))
        .await
        .expect("starts");
    let seen = lab.poll(&target, &activity, TimeDelta::minutes(1)).await;
    let Some(Err(AdapterError::OperationFailed(message))) = seen.last() else {
        panic!("{seen:?}");
    };
    assert!(
        message.contains("restore operation")
            && message.contains("ended ValidationFailed in stage `Validate`: ValidationFailed"),
        "{message}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_restore_sends_the_resolved_point_with_an_offset_from_the_source_or_the_target() {
    let lab = lab().await;
    let options = PowerPlatformOptions {
        skip_audit_data: Some(true),
        ..PowerPlatformOptions::default()
    };
    let point = lab.clock.now() - TimeDelta::hours(6);
    lab.adapter
        .start_database_operation(
            0,
            &restore(Some("contoso-prod"), "contoso-uat", Some(point), &options),
        )
        .await
        .expect("a restore from production");
    let model = lab.running.emulator.model();
    let refreshctl::sim::OperationKind::PointInTimeRestore { point: sent } =
        model.operations[0].kind
    else {
        panic!("{:?}", model.operations[0]);
    };
    assert_eq!(sent, Some(point));
    // `latest` without a source: the target's own database, 15 minutes back.
    let lab = fresh_lab().await;
    let now = lab.clock.now();
    lab.adapter
        .start_database_operation(0, &restore(None, "contoso-test", None, &options))
        .await
        .expect("a self-restore");
    let model = lab.running.emulator.model();
    let refreshctl::sim::OperationKind::PointInTimeRestore { point: sent } =
        model.operations[0].kind
    else {
        panic!("{:?}", model.operations[0]);
    };
    assert_eq!(sent, Some(now - TimeDelta::minutes(15)));
}

#[tokio::test(flavor = "current_thread")]
async fn after_the_operation_admin_mode_is_reported_and_switched_off_when_the_plan_asks() {
    for enable in [false, true] {
        let lab = lab().await;
        let options = PowerPlatformOptions {
            enable_after: enable,
            ..PowerPlatformOptions::default()
        };
        let target = lab.id("contoso-uat").await;
        let request = copy("contoso-prod", &target, &options);
        let activity = lab
            .adapter
            .start_database_operation(0, &request)
            .await
            .expect("starts");
        lab.poll(&target, &activity, TimeDelta::minutes(5)).await;
        let lines = lab
            .adapter
            .after_database_operation(0, &request)
            .await
            .expect("read");
        assert_eq!(
            lines[0],
            "`contoso-uat` after the operation: state Ready, administration mode Enabled, background operations Disabled"
        );
        let patched = lab.count(
            "PATCH",
            "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/",
        );
        if enable {
            assert_eq!(patched, 1);
            assert!(
                lines[1]
                    .starts_with("administration mode switched off as the plan asks: now Disabled"),
                "{lines:?}"
            );
            assert!(
                lines[2].contains("pac admin set-runtime-state"),
                "{lines:?}"
            );
        } else {
            assert_eq!(patched, 0);
            assert!(
                lines[1].starts_with("only System Administrators can sign in"),
                "{lines:?}"
            );
        }
    }
}

const COPY_PLAN: &str = r"version: 1
name: contoso-uat-copy
environment:
  name: contoso-uat
  type: sandbox
source:
  name: contoso-prod
  type: production
window:
  start: 2026-12-06T21:00:00Z
  duration: 12h
acknowledge: [target-database-erased, target-unavailable]
power_platform:
  transaction_less: true
  enable_after: true
";

const RESTORE_PLAN: &str = r"version: 1
name: contoso-uat-restore
environment:
  name: contoso-uat
  type: sandbox
point_in_time: -6h
window:
  start: 2026-12-06T21:00:00Z
  duration: 12h
acknowledge: [target-database-erased, target-unavailable]
power_platform:
  skip_audit_data: true
";

struct Prepared {
    _directory: tempfile::TempDir,
    plan: Plan,
    dir: std::path::PathBuf,
    store: Arc<StateStore>,
}

fn prepared(text: &str) -> Prepared {
    let directory = tempfile::tempdir().expect("temp");
    let dir = directory.path().to_path_buf();
    let path = dir.join("plan.yaml");
    std::fs::write(&path, text).expect("plan");
    let settings = CheckSettings {
        now: start(),
        catalog: Catalog::embedded(),
        adapter: Some(refreshctl::adapter::AdapterKind::PowerPlatform),
    };
    let checked = check_file("plan.yaml", &path, text.as_bytes(), &settings);
    assert!(
        checked
            .diagnostics
            .iter()
            .all(|d| d.severity != refreshctl::rules::Severity::Error),
        "{:?}",
        checked.diagnostics
    );
    let plan = checked.plan.expect("plan");
    let store = Arc::new(StateStore::open(&StateUrl::Sqlite(dir.join("state.db"))).expect("store"));
    Prepared {
        _directory: directory,
        plan,
        dir,
        store,
    }
}

/// Runs a plan to its end through the executor, with the default poll policy (60 s, backing
/// off to ten times that).
async fn execute(
    lab: &Lab,
    prepared: &Prepared,
) -> (Progress, refreshctl::state::RunRecord, Collect) {
    execute_until(lab, prepared, TimeDelta::hours(30)).await
}

/// Like `execute`, with this step deadline.
async fn execute_until(
    lab: &Lab,
    prepared: &Prepared,
    deadline: TimeDelta,
) -> (Progress, refreshctl::state::RunRecord, Collect) {
    let window = prepared.plan.next_window(lab.clock.now()).expect("window");
    let Claim::Inserted(mut run) = prepared
        .store
        .insert_run(&executor::new_run(
            &prepared.plan,
            window,
            lab.clock.now(),
            None,
            refreshctl::adapter::AdapterKind::PowerPlatform,
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
        settings: RunSettings {
            poll_interval: TimeDelta::seconds(60),
            cache_dir: prepared.dir.join("cache"),
            plan_dir: prepared.dir.clone(),
            step_deadline: deadline,
        },
    };
    let progress = executor
        .run_to_end(&mut run)
        .await
        .expect("no store failure");
    (progress, run, events)
}

#[tokio::test(flavor = "current_thread")]
async fn a_copy_plan_and_a_restore_plan_run_to_succeeded_through_the_executor() {
    for text in [COPY_PLAN, RESTORE_PLAN] {
        let lab = lab().await;
        let prepared = prepared(text);
        let (progress, run, events) = execute(&lab, &prepared).await;
        assert_eq!(
            progress,
            Progress::Finished(RunState::Succeeded),
            "{:?}",
            run.state
        );
        assert_eq!(lab.posts(), 1);
        let logs: Vec<&str> = events
            .0
            .iter()
            .map(|event| event.message.as_str())
            .collect();
        assert!(
            logs.iter().any(|line| line.contains("administration mode")),
            "{logs:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_preflight_refusal_rejects_the_run_and_sends_nothing() {
    let lab = lab().await;
    lab.environment(
        "contoso-prod",
        EnvironmentSettings {
            azure_region: Some("eastus".into()),
            ..EnvironmentSettings::default()
        },
    );
    let prepared = prepared(COPY_PLAN);
    let (progress, run, _) = execute(&lab, &prepared).await;
    let Progress::Finished(RunState::Rejected { reason }) = progress else {
        panic!("{progress:?} {:?}", run.state);
    };
    assert!(reason.contains("region eastus"), "{reason}");
    assert_eq!(lab.posts(), 0);
}

/// The calls one plan makes, by kind, for the README's performance section.
fn tally(requests: &[RequestRecord]) -> BTreeMap<String, usize> {
    let mut tally = BTreeMap::new();
    for request in requests {
        let path = &request.path;
        let kind = if path.contains("/oauth2/") {
            "token"
        } else if path.ends_with("/copy") || path.ends_with("/restore") {
            "copy or restore"
        } else if path.contains("/operations/") {
            "operation status"
        } else if path.ends_with("/operations") {
            "operations list"
        } else if path.ends_with("Candidates") {
            "candidates"
        } else if path.contains("BusinessAppPlatform") {
            "admin mode (BAP)"
        } else {
            "environments"
        };
        *tally
            .entry(format!("{} {kind}", request.method))
            .or_insert(0) += 1;
    }
    tally
}

#[tokio::test(flavor = "current_thread")]
async fn calls_for_one_copy_and_one_restore_short_and_eight_hours_are_counted() {
    let mut report = Vec::new();
    for (label, hours) in [("short", None), ("8 h", Some(8))] {
        for (plan, text) in [("copy", COPY_PLAN), ("restore", RESTORE_PLAN)] {
            let mut durations = Durations::default();
            if let Some(hours) = hours {
                durations.refresh = TimeDelta::hours(hours);
                durations.restore = TimeDelta::hours(hours);
            }
            let lab = lab_with(durations, Faults::default(), |_| {}).await;
            let prepared = prepared(text);
            let (progress, _, _) = execute(&lab, &prepared).await;
            assert_eq!(progress, Progress::Finished(RunState::Succeeded));
            let requests = lab.requests();
            let total = requests.len();
            let tally = tally(&requests);
            assert_eq!(tally.get("POST copy or restore"), Some(&1));
            // Polls back off to ten minutes: an 8-hour operation takes well under 100 of them.
            let polls = tally
                .get("GET operation status")
                .copied()
                .unwrap_or_default();
            assert!(polls < 100, "{plan} {label}: {polls} polls");
            report.push(format!(
                "{plan}, {label} operation: {total} calls: {tally:?}"
            ));
        }
    }
    for line in &report {
        println!("power-platform calls: {line}");
    }
    assert_eq!(report.len(), 4);
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

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
async fn an_unknown_status_warns_once_runs_until_the_step_deadline_and_the_bap_state_shape_is_read()
{
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Unknown while running, then `Succeeded`: the run goes on and succeeds, with one warning.
    let recovering = lab().await;
    recovering.configure(Settings {
        running_status: Some("Mystery".into()),
        ..Settings::default()
    });
    let (progress, _, events) = execute(&recovering, &prepared(COPY_PLAN)).await;
    assert_eq!(progress, Progress::Finished(RunState::Succeeded));
    assert!(
        events
            .0
            .iter()
            .any(|event| event.message.contains("administration mode")),
        "the target's state is in the run's log"
    );
    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert_eq!(
        text.matches("does not know").count(),
        1,
        "one warning: {text}"
    );
    assert!(text.contains("Mystery"), "{text}");

    // Only unknown answers: the step fails at its deadline, and says where to look.
    let stuck = lab().await;
    stuck.script(
        "/operations/",
        "GET",
        100_000,
        Fault::Json {
            body: serde_json::json!({ "operationId": "x", "status": "Stuck" }),
        },
    );
    let (progress, _, _) = execute_until(&stuck, &prepared(COPY_PLAN), TimeDelta::hours(3)).await;
    let Progress::Finished(RunState::Failed { error }) = progress else {
        panic!("{progress:?}");
    };
    assert_eq!(
        error,
        "monitor-refresh: no result within the step's deadline of 3h; Power Platform may still be working on it: check the environment in Power Platform"
    );
    assert_eq!(stuck.posts(), 1);

    // The adapter alone, with BAP's `state: {id}` instead of `status` (the warning was given
    // once per adapter, so this one warns again).
    let lab = fresh_lab().await;
    lab.configure(Settings {
        running_status: Some("Mystery".into()),
        bap_state: Some(true),
        ..Settings::default()
    });
    let options = PowerPlatformOptions::default();
    let target = lab.id("contoso-uat").await;
    let activity = lab
        .adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await
        .expect("starts");
    let seen = lab.poll(&target, &activity, TimeDelta::minutes(1)).await;
    assert_eq!(
        seen,
        [
            Ok(DatabaseStatus::NotStarted),
            Ok(DatabaseStatus::Unrecognized),
            Ok(DatabaseStatus::Completed)
        ]
    );
    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert_eq!(text.matches("does not know").count(), 3, "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_403_names_the_missing_role_and_an_echoed_secret_never_reaches_an_error() {
    let lab = lab().await;
    let options = PowerPlatformOptions::default();
    lab.script(
        "/copy",
        "POST",
        1,
        Fault::Status {
            status: 403,
            retry_after: None,
        },
    );
    let forbidden = lab
        .adapter
        .start_database_operation(0, &copy("contoso-prod", "contoso-uat", &options))
        .await;
    assert!(
        matches!(&forbidden, Err(AdapterError::Refused(message)) if message.contains("HTTP 403") && message.contains("Power Platform Contributor") && message.contains("System Administrator")),
        "{forbidden:?}"
    );
    assert_eq!(lab.posts(), 1, "a 403 is not sent again");
    // A token endpoint that echoes the request: the client secret is taken out.
    let lab = fresh_lab().await;
    lab.script("/oauth2/v2.0/token", "POST", 1, Fault::Echo { status: 400 });
    let refused = lab.adapter.sign_in().await;
    let Err(AdapterError::Unavailable(message)) = refused else {
        panic!("{refused:?}");
    };
    assert!(message.contains("client_secret=***"), "{message}");
    assert!(!message.contains("client_secret=emulator"), "{message}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_lost_answer_to_the_copy_is_never_sent_again_and_asks_an_operator() {
    let lab = lab().await;
    // The connection drops before the answer (and before the emulator acts on it).
    lab.script("/copy", "POST", 1, Fault::Drop);
    let prepared = prepared(COPY_PLAN);
    let (progress, run, _) = execute(&lab, &prepared).await;
    let Progress::Blocked(RunState::NeedsAttention { step, reason }) = progress else {
        panic!("{progress:?} {:?}", run.state);
    };
    assert_eq!(step, "start-refresh");
    assert!(
        reason.contains("cannot be proven whether Power Platform received it")
            && reason.contains("the environment's history does not show it"),
        "{reason}"
    );
    assert_eq!(lab.posts(), 1, "sent once, never again automatically");
    assert_eq!(lab.running.emulator.model().destructive_calls().count(), 0);
}
