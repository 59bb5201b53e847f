//! The adapters that touch a real service, built from their environment variables on the wall
//! clock: the run commands hold one of these, or the simulator.

use crate::adapter::{AdapterKind, LcsAdapter, PowerPlatformAdapter};
use crate::clock::Clock;
use crate::error::Error;

/// A real adapter.
pub enum Live {
    Lcs(LcsAdapter),
    PowerPlatform(PowerPlatformAdapter),
}

impl Live {
    /// The adapter `kind` names, configured from its variables; none for the simulator.
    pub fn from_env(kind: AdapterKind, clock: &Clock) -> Result<Option<Self>, Error> {
        Ok(match kind {
            AdapterKind::Simulator => None,
            AdapterKind::Lcs => Some(Self::Lcs(
                LcsAdapter::from_env(clock.clone()).map_err(super::apply::unavailable)?,
            )),
            AdapterKind::PowerPlatform => Some(Self::PowerPlatform(
                PowerPlatformAdapter::from_env(clock.clone()).map_err(super::apply::unavailable)?,
            )),
        })
    }

    /// Signs in now, so bad credentials stop a command before anything is recorded.
    pub async fn sign_in(&self) -> Result<(), Error> {
        match self {
            Self::Lcs(adapter) => adapter.sign_in().await,
            Self::PowerPlatform(adapter) => adapter.sign_in().await,
        }
        .map_err(super::apply::unavailable)
    }
}
