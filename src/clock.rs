//! Time for the executor: the system's for adapters that touch the world, simulated for the
//! simulator, where waiting for a window days away takes no time at all.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Shared, so the adapter and the executor see the same simulated time.
    Simulated(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    #[must_use]
    pub fn simulated(start: DateTime<Utc>) -> Self {
        Self::Simulated(Arc::new(Mutex::new(start)))
    }

    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Simulated(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    #[must_use]
    pub fn is_simulated(&self) -> bool {
        matches!(self, Self::Simulated(_))
    }

    /// Waits until `until`: really, or by moving simulated time forward (never backward).
    pub async fn sleep_until(&self, until: DateTime<Utc>) {
        match self {
            Self::System => {
                if let Ok(wait) = (until - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
            }
            Self::Simulated(now) => {
                {
                    let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
                    *now = (*now).max(until);
                }
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
}
