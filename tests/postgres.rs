//! The state store on PostgreSQL: the conformance suite, migrations and bad URLs. Needs
//! `REFRESHCTL_TEST_POSTGRES` (`.ci/run` sets it); each test works in a schema of its own.

mod common;

#[path = "common/store_conformance.rs"]
mod store_conformance;

#[path = "common/postgres.rs"]
mod postgres_server;

use postgres_server::fresh_schema;
use refreshctl::state::{StateStore, StateUrl, StoreError};

#[test]
fn postgres_passes_the_conformance_suite() {
    let Some(url) = fresh_schema("conformance") else {
        return;
    };
    let parsed = StateUrl::parse(&url).expect("url");
    store_conformance::run_all(&|| StateStore::open(&parsed).expect("opens"));
}

#[test]
fn replicas_opening_together_migrate_once() {
    let Some(url) = fresh_schema("migrate") else {
        return;
    };
    let parsed = StateUrl::parse(&url).expect("url");
    let opened: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| StateStore::open(&parsed).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    assert_eq!(opened, [true; 4]);
    let base = std::env::var("REFRESHCTL_TEST_POSTGRES").expect("set");
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("server");
    let schema = format!("migrate_{}", std::process::id());
    let version: i64 = client
        .query_one(
            &format!("SELECT version FROM {schema}.refreshctl_schema"),
            &[],
        )
        .expect("version")
        .get(0);
    assert_eq!(version, 1);
    client
        .batch_execute(&format!(
            "UPDATE {schema}.refreshctl_schema SET version = 99"
        ))
        .expect("from the future");
    match StateStore::open(&parsed) {
        Err(StoreError::NewerSchema { found: 99, .. }) => {}
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let url = "postgres://refresh:s3cret@127.0.0.1:1/state?connect_timeout=2";
    let error = match StateStore::open(&StateUrl::parse(url).expect("url")) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(error.contains("cannot open the state store"), "{error}");
    assert!(
        error.contains("postgres://refresh:***@127.0.0.1:1/state"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");
}
