//! SPEC 9: the LCS calls for one refresh plus reprovisioning with the default poll policy (60 s,
//! growing by half to at most 10 min), for a short and a long operation, counted by the
//! emulator, beside the minimum the protocol needs. Runs the real executor and `lcs` adapter
//! against the emulator over loopback, on simulated time (`benches/lcs_calls.sh` runs it).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{AdapterKind, LcsAdapter, RetryPolicy};
use refreshctl::clock::Clock;
use refreshctl::emulator::{self, Config, Time};
use refreshctl::executor::{self, Collect, Executor, Held, Progress, Settings};
use refreshctl::plan::EnvironmentType;
use refreshctl::rules::{Catalog, CheckSettings, check_file};
use refreshctl::sim::{Durations, Faults, Lcs};
use refreshctl::state::{Claim, RunState, StateStore, StateUrl};

const PLAN: &str = "version: 1
name: calls
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {start: 2026-12-05T22:00:00+01:00, duration: 8h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - reprovision
";

/// The calls the protocol needs at the least, each polled status seen once.
const MINIMUM: [(&str, usize); 13] = [
    ("token", 1),
    ("environment", 0),
    ("start refresh", 1),
    ("refresh status", 1),
    ("shared assets", 1),
    ("file asset (download location)", 1),
    ("blob get", 1),
    ("create asset", 1),
    ("put block", 1),
    ("put block list", 1),
    ("commit asset", 1),
    ("validation status", 1),
    ("apply update + deployment status", 2),
];

fn kind(method: &str, path: &str, query: &str) -> &'static str {
    let table = [
        ("/oauth2/", "token"),
        ("/environmentinfo/v1/detail/", "environment"),
        ("/environmentinfo/v1/history/", "history"),
        ("/databasemovement/v1/refresh/", "start refresh"),
        ("/databasemovement/v1/fetchstatus/", "refresh status"),
        ("/environment/v2/", "apply update + deployment status"),
        ("/GetSharedAssets", "shared assets"),
        ("/GetFileAsset/", "file asset (download location)"),
        ("/CreateFileAsset/", "create asset"),
        ("/CommitFileAsset/", "commit asset"),
        ("/GetFileAssetValidationStatus/", "validation status"),
    ];
    if let Some((_, kind)) = table.iter().find(|(part, _)| path.contains(part)) {
        return kind;
    }
    match (
        method,
        query.contains("comp=blocklist"),
        query.contains("comp=block"),
    ) {
        ("GET", _, _) => "blob get",
        (_, true, _) => "put block list",
        (_, _, true) => "put block",
        _ => "other",
    }
}

async fn count(label: &str, refresh: TimeDelta, deployment: TimeDelta) {
    let start: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().expect("time");
    let clock = Clock::simulated(start);
    let durations = Durations {
        refresh,
        deployment,
        ..Durations::default()
    };
    let mut model = Lcs::new(durations, Faults::default(), start - TimeDelta::days(1));
    model.add_environment(
        1_234_567,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        None,
    );
    model.add_environment(
        1_234_567,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        None,
    );
    let running = emulator::start(
        model,
        Config {
            time: Time::Shared(clock.clone()),
            ..Config::default()
        },
    )
    .await
    .expect("emulator");
    let adapter = LcsAdapter::new(
        &running.url(),
        running.credentials(),
        RetryPolicy::default(),
        clock.clone(),
    )
    .expect("adapter");
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("plan.yaml");
    std::fs::write(&path, PLAN).expect("plan");
    let settings = CheckSettings {
        now: start,
        catalog: Catalog::embedded(),
        adapter: None,
    };
    let plan = check_file("plan.yaml", &path, PLAN.as_bytes(), &settings)
        .plan
        .expect("plan");
    let store = Arc::new(
        StateStore::open(&StateUrl::Sqlite(directory.path().join("state.db"))).expect("store"),
    );
    let window = plan.next_window(start).expect("window");
    let Claim::Inserted(mut run) = store
        .insert_run(&executor::new_run(
            &plan,
            window,
            start,
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
        plan: &plan,
        adapter: &adapter,
        store: &store,
        clock: &clock,
        sink: &mut events,
        settings: Settings {
            poll_interval: TimeDelta::seconds(60),
            cache_dir: directory.path().join("cache"),
            plan_dir: directory.path().to_path_buf(),
            step_deadline: TimeDelta::hours(30),
        },
    };
    let progress = executor.run_to_end(&mut run).await.expect("run");
    assert_eq!(progress, Progress::Finished(RunState::Succeeded));
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for request in running.emulator.requests() {
        *counts
            .entry(kind(&request.method, &request.path, &request.query))
            .or_default() += 1;
    }
    print_table(label, refresh, deployment, &counts);
}

fn print_table(
    label: &str,
    refresh: TimeDelta,
    deployment: TimeDelta,
    counts: &BTreeMap<&str, usize>,
) {
    let total: usize = counts.values().sum();
    let minimum: usize = MINIMUM.iter().map(|(_, n)| n).sum();
    println!(
        "== {label}: refresh {} min, deployment {} min (+2 min queue each, 4 min validation)",
        refresh.num_minutes(),
        deployment.num_minutes()
    );
    println!("{:<36} {:>8} {:>8}", "call", "made", "minimum");
    for (call, least) in MINIMUM {
        println!(
            "{call:<36} {:>8} {least:>8}",
            counts.get(call).copied().unwrap_or(0)
        );
    }
    println!("{:<36} {total:>8} {minimum:>8}", "total");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    count(
        "short operation",
        TimeDelta::minutes(15),
        TimeDelta::minutes(15),
    )
    .await;
    count(
        "long operation (2 h)",
        TimeDelta::hours(2),
        TimeDelta::hours(2),
    )
    .await;
}
