//! What this process counted: adapter calls by outcome, retries by reason, scheduler passes and
//! lease takeovers. The daemon's `/metrics` reads them with what the state store says; a
//! command that serves no page counts for no one, which costs a lock and an addition per call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// The process's counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// `(service, call, outcome)`: `answered` (an answer was returned to the adapter), `failed`
    /// (the call gave up or its answer was refused).
    pub calls: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    /// `(service, call, reason)`: `throttled` or `transient`.
    pub retries: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    pub passes: u64,
    pub lease_takeovers: u64,
    /// The last scheduler pass: when it started, how long it took, what is due next.
    pub last_pass: Option<Pass>,
}

#[derive(Debug, Clone, Copy)]
pub struct Pass {
    pub started: DateTime<Utc>,
    pub seconds: f64,
    pub next_due: Option<DateTime<Utc>>,
}

static COUNTERS: Mutex<Counters> = Mutex::new(Counters {
    calls: BTreeMap::new(),
    retries: BTreeMap::new(),
    passes: 0,
    lease_takeovers: 0,
    last_pass: None,
});

fn with<T>(change: impl FnOnce(&mut Counters) -> T) -> T {
    let mut counters = COUNTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    change(&mut counters)
}

/// One call ended: `answered` or `failed`.
pub fn call(service: &'static str, call: &'static str, outcome: &'static str) {
    with(|counters| *counters.calls.entry((service, call, outcome)).or_default() += 1);
}

/// One call is tried again: `throttled` or `transient`.
pub fn retry(service: &'static str, call: &'static str, reason: &'static str) {
    with(|counters| *counters.retries.entry((service, call, reason)).or_default() += 1);
}

/// A scheduler pass ended.
pub fn pass(pass: Pass, lease_takeovers: usize) {
    with(|counters| {
        counters.passes += 1;
        counters.lease_takeovers += u64::try_from(lease_takeovers).unwrap_or(u64::MAX);
        counters.last_pass = Some(pass);
    });
}

/// A copy of the counters as they are now.
#[must_use]
pub fn snapshot() -> Counters {
    with(|counters| Counters {
        calls: counters.calls.clone(),
        retries: counters.retries.clone(),
        passes: counters.passes,
        lease_takeovers: counters.lease_takeovers,
        last_pass: counters.last_pass,
    })
}
