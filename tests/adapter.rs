//! The adapter conformance suite on the simulator, and what the simulator adds: persistence in
//! the state store, faults, and the operation limit.

#[path = "common/adapter_conformance.rs"]
mod adapter_conformance;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{Adapter, AdapterError, MODEL_KEY, SimulatorAdapter};
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

/// Production and a sandbox whose ids are their names, so the calls below read plainly (calls
/// that change an environment take its id, as LCS's do).
fn model(faults: Faults) -> Lcs {
    let mut lcs = Lcs::new(Durations::default(), faults, start() - TimeDelta::days(1));
    lcs.add_environment(
        PROJECT,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        Some("contoso-prod"),
    );
    lcs.add_environment(
        PROJECT,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        Some("contoso-uat"),
    );
    lcs
}

#[tokio::test(flavor = "current_thread")]
async fn the_simulator_passes_the_adapter_conformance_suite() {
    let clock = Clock::simulated(start());
    let adapter = SimulatorAdapter::new(model(Faults::default()), clock.clone());
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
        destructive, 4,
        "one refresh, one deployment, one export and one restore (the next export is over the limit)"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_model_is_kept_in_the_state_store_after_every_change() {
    let directory = tempfile::tempdir().expect("temp");
    let url = StateUrl::Sqlite(directory.path().join("state.db"));
    let store = Arc::new(StateStore::open(&url).expect("store"));
    let clock = Clock::simulated(start());
    let adapter =
        SimulatorAdapter::open(store, MODEL_KEY, clock.clone(), Faults::default(), || {
            model(Faults::default())
        })
        .expect("stored");
    let activity = adapter
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await
        .expect("starts");
    drop(adapter);

    let reopened = StateStore::open(&url).expect("reopen");
    let stored = SimulatorAdapter::load(&reopened, MODEL_KEY)
        .expect("load")
        .expect("saved");
    let Some(Call::StartRefresh {
        activity: recorded, ..
    }) = stored.calls.last().map(|record| record.call.clone())
    else {
        panic!("the refresh is in the stored call log");
    };
    assert_eq!(recorded, activity);
    let resumed = SimulatorAdapter::new(stored, clock);
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
    );
    let first = throttled.environment(PROJECT, "contoso-uat").await;
    assert!(
        matches!(&first, Err(error @ AdapterError::Throttled(_)) if error.is_retryable()),
        "{first:?}"
    );
    assert!(throttled.environment(PROJECT, "contoso-uat").await.is_ok());

    let adapter = SimulatorAdapter::new(model(Faults::default()), clock.clone());
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

/// Two processes' simulators on one state file (two store connections): each answers from the
/// freshest model and applies its changes to it, never to a stale copy of its own.
#[tokio::test(flavor = "current_thread")]
async fn simulators_sharing_a_store_never_lose_each_others_changes() {
    let directory = tempfile::tempdir().expect("temp");
    let url = StateUrl::Sqlite(directory.path().join("state.db"));
    let open = |clock: &Clock| {
        let store = Arc::new(StateStore::open(&url).expect("store"));
        SimulatorAdapter::open(store, MODEL_KEY, clock.clone(), Faults::default(), || {
            let mut lcs = model(Faults::default());
            lcs.add_environment(
                PROJECT,
                "contoso-test",
                EnvironmentType::Sandbox,
                "10.0.41",
                Some("contoso-test"),
            );
            lcs
        })
        .expect("opens")
    };
    let clock = Clock::simulated(start());
    let (one, other) = (open(&clock), open(&clock));
    let first = one
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await
        .expect("starts");
    // `other` loaded the model before that refresh, and still knows it.
    let target = other
        .environment(PROJECT, "contoso-uat")
        .await
        .expect("target");
    assert_eq!(target.busy, Some(true), "{target:?}");
    let status = other
        .database_status(PROJECT, &target.id, &first)
        .await
        .expect("the other process's operation is found");
    assert_eq!(status, refreshctl::sim::DatabaseStatus::NotStarted);
    // A change made on `other` goes onto the model with `one`'s refresh in it.
    let second = other
        .start_refresh(PROJECT, "contoso-prod", "contoso-test")
        .await
        .expect("starts");
    assert_ne!(first, second, "ids are not handed out twice");
    // And the reverse, with `one` stale now.
    let refused = one
        .start_refresh(PROJECT, "contoso-prod", "contoso-test")
        .await
        .expect_err("contoso-test is busy with `other`'s refresh");
    assert!(refused.to_string().contains("busy"), "{refused}");
    let stored = SimulatorAdapter::load(&StateStore::open(&url).expect("store"), MODEL_KEY)
        .expect("load")
        .expect("stored");
    let activities: Vec<String> = stored
        .destructive_calls()
        .filter_map(|record| match &record.call {
            Call::StartRefresh { activity, .. } => Some(activity.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(activities, [first, second]);
}

/// A state file from before models had rows of their own keeps its simulated LCS: the model
/// stored as one document is carried over on first use.
#[tokio::test(flavor = "current_thread")]
async fn a_model_stored_as_one_document_is_carried_over() {
    let directory = tempfile::tempdir().expect("temp");
    let store = Arc::new(
        StateStore::open(&StateUrl::Sqlite(directory.path().join("state.db"))).expect("store"),
    );
    let clock = Clock::simulated(start());
    let old = SimulatorAdapter::new(model(Faults::default()), clock.clone());
    let activity = old
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await
        .expect("starts");
    store
        .save_document(
            MODEL_KEY,
            &serde_json::to_string(&old.model()).expect("json"),
        )
        .expect("the old way");
    let carried =
        SimulatorAdapter::open(store.clone(), MODEL_KEY, clock, Faults::default(), || {
            panic!("a stored model is never replaced by a fresh one")
        })
        .expect("opens");
    let uat = carried
        .environment(PROJECT, "contoso-uat")
        .await
        .expect("uat");
    assert!(
        carried
            .database_status(PROJECT, &uat.id, &activity)
            .await
            .is_ok()
    );
    assert_eq!(
        SimulatorAdapter::load(&store, MODEL_KEY).expect("load"),
        Some(old.model()),
        "kept in rows from then on"
    );
}

/// A state store that is busy under the simulated LCS makes it unreachable for the moment
/// (transient: the executor waits and tries again), never a refusal that fails the run; once
/// the store is free, the same call goes through.
#[tokio::test(flavor = "current_thread")]
async fn a_busy_store_makes_the_simulated_lcs_unreachable_for_a_moment() {
    let directory = tempfile::tempdir().expect("temp");
    let path = directory.path().join("state.db");
    let store = Arc::new(StateStore::Sqlite(
        refreshctl::state::SqliteStore::open_with(&path, std::time::Duration::ZERO).expect("store"),
    ));
    let clock = Clock::simulated(start());
    let adapter = SimulatorAdapter::open(store, MODEL_KEY, clock, Faults::default(), || {
        model(Faults::default())
    })
    .expect("opens");
    let holder = rusqlite::Connection::open(&path).expect("another process");
    holder
        .execute_batch("BEGIN EXCLUSIVE;")
        .expect("holds the file");
    let busy = adapter
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await
        .expect_err("the store is held");
    assert!(
        matches!(&busy, AdapterError::Transient(message) if message.contains("unreachable")),
        "{busy:?}"
    );
    assert!(busy.is_retryable());
    holder.execute_batch("ROLLBACK;").expect("releases");
    adapter
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat")
        .await
        .expect("goes through once the store is free");
}
