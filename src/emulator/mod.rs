//! The LCS emulator (SPEC 7): LCS's endpoints, JSON shapes, envelope, statuses and quirks over
//! real HTTP, on the `sim/` model the simulator uses, in real time sped up by a factor (or on a
//! clock a test drives), with a token endpoint, blob endpoints for SAS uploads and downloads (its
//! own, or Azurite's), fault injection by rate or by script, and a log of the requests it served.
//!
//! Control endpoints under `/_emulator/` are for tests: `requests` (the log), `model` (the model
//! with its call log), `faults` (POST a script of faults), `revoke-tokens`.

mod blob;
mod blob_service;
mod faults;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

pub use blob::BlobEndpoint;
pub use faults::{Fault, FaultRule, Rates};

use crate::clock::Clock;
use crate::sim::Lcs;

/// How the emulator tells time.
#[derive(Debug, Clone)]
pub enum Time {
    /// The model runs `speed` times faster than the wall clock, from `start`.
    Real { speed: f64 },
    /// A clock the caller drives (tests): the model and the tokens both use it.
    Shared(Clock),
}

/// Which clock token lifetimes count on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenClock {
    /// The wall clock (or the shared clock a test drives).
    #[default]
    Wall,
    /// The model's clock, sped up by `--speed`: an hour's token expires during a sped-up
    /// deployment as it does during a real one.
    Model,
}

/// What the emulator is started with.
#[derive(Debug, Clone)]
pub struct Config {
    pub time: Time,
    /// How long the tokens it issues live, on `token_clock`.
    pub token_lifetime: TimeDelta,
    pub token_clock: TokenClock,
    /// The password every user signs in with (the user name is not checked).
    pub password: String,
    /// `environmentinfo/v1/detail` calls allowed per project per minute (LCS: 6); 0 for no limit.
    pub metadata_per_minute: usize,
    /// Environments per page of `environmentinfo/v1/detail` and `history`.
    pub page_size: usize,
    /// Faults by rate, and the seed of their dice.
    pub rates: Rates,
    pub seed: u64,
    /// Where SAS locations point: the emulator's own blob endpoints, or Azurite.
    pub blob: BlobEndpoint,
    /// Where its own blobs are kept (a temporary directory when not given).
    pub data_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            time: Time::Real { speed: 1.0 },
            token_lifetime: TimeDelta::hours(1),
            token_clock: TokenClock::Wall,
            password: "emulator".into(),
            metadata_per_minute: 6,
            page_size: 10,
            rates: Rates::default(),
            seed: 1,
            blob: BlobEndpoint::Local,
            data_dir: None,
        }
    }
}

/// One request the emulator served, as tests read it. Query values that are secrets (`sig`) and
/// all headers are left out.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RequestRecord {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The fault injected instead of (or before) the answer, if any.
    pub fault: Option<String>,
}

/// Issued tokens: access token → expiry, refresh token → the `resource` it was issued for
/// (echoed by the v1 endpoint when it is redeemed).
#[derive(Debug, Default)]
struct Tokens {
    access: std::collections::HashMap<String, DateTime<Utc>>,
    refresh: std::collections::HashMap<String, String>,
}

/// The emulator's state, shared by every request.
pub struct Emulator {
    model: Mutex<Lcs>,
    config: Config,
    started: Instant,
    start: DateTime<Utc>,
    tokens: Mutex<Tokens>,
    log: Mutex<Vec<RequestRecord>>,
    script: Mutex<Vec<FaultRule>>,
    dice: Mutex<faults::Dice>,
    metadata_calls: Mutex<Vec<(u64, DateTime<Utc>)>>,
    blobs: blob::Blobs,
    /// Database backups whose bytes are on the blob store already (published once, so a
    /// download never meets a file being written again).
    published: Mutex<std::collections::HashSet<String>>,
    /// The key SAS signatures of the emulator's own blob endpoints are made with.
    key: [u8; 32],
    base: Mutex<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Emulator {
    /// An emulator over `model`. Its blob store is made here (Azurite's container included).
    pub async fn new(model: Lcs, config: Config) -> Result<Arc<Self>, String> {
        let start = match &config.time {
            Time::Real { .. } => Utc::now(),
            Time::Shared(clock) => clock.now(),
        };
        let mut key = [0_u8; 32];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| "no randomness for the SAS key".to_owned())?;
        let blobs = blob::Blobs::new(&config.blob, config.data_dir.clone()).await?;
        let emulator = Arc::new(Self {
            dice: Mutex::new(faults::Dice::new(config.seed)),
            model: Mutex::new(model),
            config,
            started: Instant::now(),
            start,
            tokens: Mutex::new(Tokens::default()),
            log: Mutex::new(Vec::new()),
            script: Mutex::new(Vec::new()),
            metadata_calls: Mutex::new(Vec::new()),
            blobs,
            published: Mutex::new(std::collections::HashSet::new()),
            key,
            base: Mutex::new(String::new()),
        });
        emulator.publish_shared_assets().await?;
        Ok(emulator)
    }

    /// The model's time: the wall clock sped up, or the shared clock.
    #[must_use]
    pub fn model_now(&self) -> DateTime<Utc> {
        match &self.config.time {
            Time::Real { speed } => {
                let elapsed = self.started.elapsed().as_secs_f64() * speed;
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "milliseconds of an emulator's life fit in i64"
                )]
                let millis = (elapsed * 1000.0) as i64;
                self.start + TimeDelta::milliseconds(millis)
            }
            Time::Shared(clock) => clock.now(),
        }
    }

    /// The time tokens and rate limits count in: the wall clock, or the shared clock.
    #[must_use]
    pub fn wall_now(&self) -> DateTime<Utc> {
        match &self.config.time {
            Time::Real { .. } => Utc::now(),
            Time::Shared(clock) => clock.now(),
        }
    }

    /// The time token lifetimes count in (`Config::token_clock`).
    #[must_use]
    pub fn token_now(&self) -> DateTime<Utc> {
        match self.config.token_clock {
            TokenClock::Wall => self.wall_now(),
            TokenClock::Model => self.model_now(),
        }
    }

    /// A copy of the model, with its log of calls that changed something.
    #[must_use]
    pub fn model(&self) -> Lcs {
        lock(&self.model).clone()
    }

    /// The requests served so far.
    #[must_use]
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    /// Adds faults to the script (matched in order, before the rates).
    pub fn script(&self, rules: Vec<FaultRule>) {
        lock(&self.script).extend(rules);
    }

    /// Makes every issued access token invalid, as if it expired.
    pub fn revoke_tokens(&self) {
        lock(&self.tokens).access.clear();
    }

    /// The shared assets' content, on the blob store.
    async fn publish_shared_assets(&self) -> Result<(), String> {
        let shared: Vec<(String, u64)> = lock(&self.model)
            .assets
            .iter()
            .filter(|asset| asset.project.is_none())
            .map(|asset| (asset.id.clone(), asset.size))
            .collect();
        for (id, size) in shared {
            self.blobs.publish_pattern(&id, size).await?;
        }
        Ok(())
    }
}

/// A running emulator: its address and state.
pub struct Running {
    pub address: SocketAddr,
    pub emulator: Arc<Emulator>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The API base URL (also the token endpoint's host).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Credentials that sign in to this emulator with the v1 password grant.
    #[must_use]
    pub fn credentials(&self) -> crate::adapter::Credentials {
        crate::adapter::Credentials {
            auth_url: format!("{}/common/oauth2/token", self.url()),
            client_id: Some("00000000-0000-0000-0000-00000000c11e".into()),
            username: Some("ops@contoso.com".into()),
            password: Some(self.emulator.config.password.clone()),
            access_token: None,
            refresh_token: None,
            client_secret: None,
        }
    }
}

/// Serves `emulator` on `listener` until the task is dropped or aborted.
pub fn serve(
    listener: tokio::net::TcpListener,
    emulator: Arc<Emulator>,
) -> std::io::Result<Running> {
    let address = listener.local_addr()?;
    *lock(&emulator.base) = format!("http://{address}");
    let router = routes::router(emulator.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Running {
        address,
        emulator,
        task,
    })
}

/// Starts an emulator on a free loopback port: for tests and benchmarks.
pub async fn start(model: Lcs, config: Config) -> Result<Running, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| format!("cannot listen on loopback: {error}"))?;
    let emulator = Emulator::new(model, config).await?;
    serve(listener, emulator).map_err(|error| error.to_string())
}
