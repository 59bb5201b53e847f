//! Time for the executor: the system's for adapters that touch the world, simulated for the
//! simulator, where waiting for a window days away takes no time at all.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Shared, so the adapter and the executor see the same simulated time.
    Simulated(Arc<Mutex<DateTime<Utc>>>),
    /// The wall clock sped up `speed` times from `origin` (where both agree). Only for tests
    /// of separate processes (replicas, the emulator) that must share one fast world: set by
    /// `REFRESHCTL_TEST_CLOCK=ORIGIN,SPEED`.
    Scaled {
        origin: DateTime<Utc>,
        speed: f64,
    },
}

/// The variable that makes [`Clock::wall`] a scaled clock (tests only).
pub const TEST_CLOCK: &str = "REFRESHCTL_TEST_CLOCK";

impl Clock {
    #[must_use]
    pub fn simulated(start: DateTime<Utc>) -> Self {
        Self::Simulated(Arc::new(Mutex::new(start)))
    }

    /// The clock of things that touch the world: the system's, or a scaled one when
    /// `REFRESHCTL_TEST_CLOCK=ORIGIN,SPEED` (RFC 3339, factor) is set, for multi-process tests.
    #[must_use]
    pub fn wall() -> Self {
        std::env::var(TEST_CLOCK)
            .ok()
            .and_then(|text| {
                let (origin, speed) = text.split_once(',')?;
                Some(Self::Scaled {
                    origin: DateTime::parse_from_rfc3339(origin.trim()).ok()?.to_utc(),
                    speed: speed
                        .trim()
                        .parse()
                        .ok()
                        .filter(|speed: &f64| *speed >= 1.0)?,
                })
            })
            .unwrap_or(Self::System)
    }

    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Simulated(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
            Self::Scaled { origin, speed } => {
                let real = (Utc::now() - *origin).as_seconds_f64() * speed;
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "a test's scaled milliseconds fit in i64"
                )]
                let millis = (real * 1000.0) as i64;
                *origin + chrono::TimeDelta::milliseconds(millis)
            }
        }
    }

    /// How long in wall time until `until`, on this clock (zero if it has passed; simulated
    /// time never waits).
    #[must_use]
    pub fn wall_wait(&self, until: DateTime<Utc>) -> std::time::Duration {
        let left = (until - self.now()).to_std().unwrap_or_default();
        match self {
            Self::System => left,
            Self::Simulated(_) => std::time::Duration::ZERO,
            Self::Scaled { speed, .. } => left.div_f64(*speed),
        }
    }

    #[must_use]
    pub fn is_simulated(&self) -> bool {
        matches!(self, Self::Simulated(_))
    }

    /// Moves simulated time forward to `at` if it is earlier (never back); other clocks are
    /// the world's and are left alone.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        if let Self::Simulated(now) = self {
            let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
            *now = (*now).max(at);
        }
    }

    /// Waits until `until`: really, or by moving simulated time forward (never backward).
    pub async fn sleep_until(&self, until: DateTime<Utc>) {
        match self {
            Self::System | Self::Scaled { .. } => {
                let wait = self.wall_wait(until);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            Self::Simulated(_) => {
                self.advance_to(until);
                tokio::task::yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn simulated_time_jumps_forward_and_never_back() {
        let start = Utc::now();
        let clock = Clock::simulated(start);
        let copy = clock.clone();
        clock.sleep_until(start + TimeDelta::days(3)).await;
        assert_eq!(
            copy.now(),
            start + TimeDelta::days(3),
            "clones share the time"
        );
        clock.sleep_until(start).await;
        assert_eq!(clock.now(), start + TimeDelta::days(3));
        assert!(clock.is_simulated() && !Clock::System.is_simulated());
    }

    #[test]
    fn a_scaled_clock_runs_fast_from_its_origin() {
        let origin = Utc::now() - TimeDelta::seconds(10);
        let clock = Clock::Scaled {
            origin,
            speed: 3600.0,
        };
        let elapsed = clock.now() - origin;
        assert!(
            elapsed >= TimeDelta::hours(10) && elapsed < TimeDelta::hours(11),
            "{elapsed}"
        );
        let wait = clock.wall_wait(clock.now() + TimeDelta::hours(1));
        assert!(wait <= std::time::Duration::from_secs(1), "{wait:?}");
        assert!(wait >= std::time::Duration::from_millis(900), "{wait:?}");
    }
}
