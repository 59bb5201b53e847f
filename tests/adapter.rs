//! The adapter conformance suite on the simulator, and what the simulator adds: persistence in
//! the state store, faults, and the operation limit.

#[path = "common/adapter_conformance.rs"]
mod adapter_conformance;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{Adapter, AdapterError, SimulatorAdapter};
use refreshctl::clock::Clock;
use refreshctl::plan::EnvironmentType;
use refreshctl::sim::{Call, Durations, Faults, Lcs};
use refreshctl::state::{StateStore, StateUrl};

const PROJECT: u64 = 1_234_567;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T21:00:00Z")
        .expect("time")
        .to_utc()
}

fn model(faults: Faults) -> Lcs {
    let mut lcs = Lcs::new(Durations::default(), faults, start() - TimeDelta::days(1));
    lcs.add_environment(
        PROJECT,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        None,
    );
    lcs.add_environment(
        PROJECT,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        None,
    );
    lcs
}

#[tokio::test(flavor = "current_thread")]
async fn the_simulator_passes_the_adapter_conformance_suite() {
    let clock = Clock::simulated(start());
    let adapter = SimulatorAdapter::new(model(Faults::default()), clock.clone(), None);
    adapter_conformance::run_all(&adapter_conformance::World {
        adapter: &adapter,
        clock: &clock,
        project: PROJECT,
        source: "contoso-prod",
        target: "contoso-uat",
        poll: TimeDelta::minutes(1),
    })
    .await;
    let destructive = adapter.model().destructive_calls().count();
    assert_eq!(
        destructive, 3,
        "one refresh, one deployment and one restore"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_model_is_kept_in_the_state_store_after_every_change() {
    let directory = tempfile::tempdir().expect("temp");
    let url = StateUrl::Sqlite(directory.path().join("state.db"));
    let store = Arc::new(StateStore::open(&url).expect("store"));
    let clock = Clock::simulated(start());
    let adapter = SimulatorAdapter::new(model(Faults::default()), clock.clone(), Some(store));
    let activity = adapter
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await
        .expect("starts");
    drop(adapter);

    let reopened = StateStore::open(&url).expect("reopen");
    let stored = SimulatorAdapter::load(&reopened)
        .expect("load")
        .expect("saved");
    let Some(Call::StartRefresh {
        activity: recorded, ..
    }) = stored.calls.last().map(|record| record.call.clone())
    else {
        panic!("the refresh is in the stored call log");
    };
    assert_eq!(recorded, activity);
    let resumed = SimulatorAdapter::new(stored, clock, None);
    let target = resumed
        .environment(PROJECT, "contoso-uat")
        .await
        .expect("target");
    assert_eq!(
        target.busy,
        Some(true),
        "the resumed model knows the refresh runs"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn faults_and_limits_come_back_classified() {
    let clock = Clock::simulated(start());
    let throttled = SimulatorAdapter::new(
        model(Faults {
            throttled_calls: 1,
            ..Faults::default()
        }),
        clock.clone(),
        None,
    );
    let first = throttled.environment(PROJECT, "contoso-uat").await;
    assert!(
        matches!(&first, Err(error @ AdapterError::Throttled(_)) if error.is_retryable()),
        "{first:?}"
    );
    assert!(throttled.environment(PROJECT, "contoso-uat").await.is_ok());

    let adapter = SimulatorAdapter::new(model(Faults::default()), clock.clone(), None);
    for _ in 0..3 {
        adapter
            .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
            .await
            .expect("within the limit");
        clock.sleep_until(clock.now() + TimeDelta::hours(4)).await;
    }
    let fourth = adapter
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await;
    assert!(
        matches!(&fourth, Err(error @ AdapterError::OperationLimit(_)) if !error.is_retryable()),
        "{fourth:?}"
    );
    assert!(
        fourth
            .expect_err("refused")
            .to_string()
            .contains("3 database operations per environment per 24 hours")
    );
}
