//! The waits between attempts that the HTTP adapters share: a backoff doubled per attempt up
//! to a cap, with jitter so that replicas retrying together spread out, slept on the adapter's
//! clock (simulated in rehearsals and tests).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::RetryPolicy;
use crate::clock::Clock;

/// A jittered backoff; its state is a xorshift generator seeded per process.
#[derive(Debug)]
pub struct Backoff {
    state: Mutex<u64>,
}

impl Backoff {
    /// Seeded from the process id and the clock's nanoseconds, so replicas do not retry in step.
    #[must_use]
    pub fn new() -> Self {
        let seed = u64::from(std::process::id()) ^ u64::from(Utc::now().timestamp_subsec_nanos());
        Self {
            state: Mutex::new(seed | 1),
        }
    }

    /// The wait before attempt `attempt + 1`: `first_wait` doubled per attempt, capped at
    /// `max_wait`, less a random part of up to half of it.
    pub fn next(&self, policy: &RetryPolicy, attempt: u32) -> Duration {
        let base = policy
            .first_wait
            .saturating_mul(1_u32 << attempt.min(16))
            .min(policy.max_wait);
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let fraction = f64::from(u32::try_from(*state % 1000).unwrap_or(0)) / 2000.0;
        base.mul_f64(1.0 - fraction)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Sleeps `wait` on `clock` (a wait past the end of time sleeps until then).
pub async fn sleep(clock: &Clock, wait: Duration) {
    let now = clock.now();
    let until = TimeDelta::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    clock.sleep_until(until).await;
}
