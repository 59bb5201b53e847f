//! The simulator adapter: the `sim/` model in process, on a clock it is given (simulated for a
//! rehearsal). With a state store, the model lives there in rows of its own (see
//! `sim::rows`), and every call that changes it is applied to the freshest model and committed
//! before it is answered, under a compare-and-swap on the model's version: processes that share
//! a model (ticks side by side, replicas) never lose each other's changes, and a crash loses
//! nothing that was answered.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::contract::{
    Adapter, AdapterError, AssetInfo, BlockData, EnvironmentFacts, HistoryItem, LiveType,
    UploadTarget,
};
use super::{AdapterKind, Capabilities};
use crate::clock::Clock;
use crate::sim::{
    Before, DatabaseStatus, DeploymentStatus, Faults, Lcs, Row, SOFTWARE_DEPLOYABLE_PACKAGE,
    SimError, ValidationStatus,
};
use crate::state::{ModelRow, ModelRows, StateStore, StoreError};

/// The key of the simulated world that `tick` and `daemon` share (and, before models were
/// kept in rows, the document that held it).
pub const MODEL_KEY: &str = "simulator/model";

/// How often a change is redone on a fresher model before giving up: each retry means another
/// process committed a change in between, so this many in a row means something is wrong.
const ATTEMPTS: usize = 1000;

/// The key of a foreground rehearsal's own simulated world.
#[must_use]
pub fn rehearsal_key(run: &str) -> String {
    format!("simulator/rehearsal/{run}")
}

/// This process's copy of the model, the stored version it is at, and this process's faults.
struct Local {
    model: Lcs,
    /// `None`: not stored (yet).
    version: Option<i64>,
    faults: Faults,
}

/// What became of a change.
enum Commit {
    /// Committed (or nothing to commit): the stored version the copy is at now.
    At(Option<i64>),
    /// Another process committed first; nothing was written.
    Conflict,
}

pub struct SimulatorAdapter {
    local: Mutex<Local>,
    clock: Clock,
    /// Where the model is kept, and under which key.
    store: Option<(Arc<StateStore>, String)>,
}

fn state_error(error: impl std::fmt::Display) -> AdapterError {
    AdapterError::State(error.to_string())
}

/// The state store failing under the simulated LCS is the simulated LCS being unreachable: a
/// busy or failing store is transient (a poll waits, a lost change is settled from the
/// environment's history, as with LCS itself); a store that cannot be read at all is not.
fn store_error(error: StoreError) -> AdapterError {
    match error {
        StoreError::Busy { .. } | StoreError::Io { .. } => {
            AdapterError::Transient(format!("the simulated LCS is unreachable: {error}"))
        }
        other => state_error(other),
    }
}

fn stored_rows(rows: Vec<ModelRow>) -> Result<Vec<Row>, AdapterError> {
    rows.into_iter()
        .map(|row| Row::parse(&row.kind, row.position, row.body).map_err(state_error))
        .collect()
}

fn to_store(rows: Vec<Row>) -> Vec<ModelRow> {
    rows.into_iter()
        .map(|row| ModelRow {
            kind: row.kind.name().to_owned(),
            position: i64::try_from(row.position).unwrap_or(i64::MAX),
            body: row.body,
        })
        .collect()
}

impl SimulatorAdapter {
    /// A simulator on `model` in memory only (tests, and the conformance suite).
    #[must_use]
    pub fn new(model: Lcs, clock: Clock) -> Self {
        let faults = model.faults;
        Self {
            local: Mutex::new(Local {
                model,
                version: None,
                faults,
            }),
            clock,
            store: None,
        }
    }

    /// The simulator on the model kept in `store` under `key`, with this process's `faults`;
    /// a model that is not stored yet is made by `fresh` and stored (unless another process
    /// stores one first, which is then used).
    pub fn open(
        store: Arc<StateStore>,
        key: &str,
        clock: Clock,
        faults: Faults,
        fresh: impl FnOnce() -> Lcs,
    ) -> Result<Self, AdapterError> {
        let adapter = Self {
            local: Mutex::new(Local {
                model: Lcs::default(),
                version: None,
                faults,
            }),
            clock,
            store: Some((store, key.to_owned())),
        };
        {
            let mut local = adapter.lock();
            adapter.reload(&mut local)?;
            if local.version.is_none() {
                let model = match adapter.legacy(key)? {
                    Some(model) => model,
                    None => fresh(),
                };
                adapter.commit_whole(&mut local, model)?;
            }
        }
        Ok(adapter)
    }

    /// The model kept in `store` under `key`, if one is.
    pub fn load(store: &StateStore, key: &str) -> Result<Option<Lcs>, AdapterError> {
        store
            .load_model(key, None)
            .map_err(store_error)?
            .map(|stored| {
                Lcs::from_rows(&stored.head, &stored_rows(stored.rows)?).map_err(state_error)
            })
            .transpose()
    }

    /// This process's copy of the model, for tests and reports.
    #[must_use]
    pub fn model(&self) -> Lcs {
        self.lock().model.clone()
    }

    /// Changes the freshest model (the scheduler adds the environments of the plans it loads)
    /// and commits what changed; `change` may run more than once, on fresher models.
    pub fn update(&self, mut change: impl FnMut(&mut Lcs)) -> Result<(), AdapterError> {
        self.attempt(|model, _| {
            change(model);
            Ok(())
        })
        .and_then(|result| result.map_err(convert))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A model stored the old way, as one document (the shared world only), to carry over.
    fn legacy(&self, key: &str) -> Result<Option<Lcs>, AdapterError> {
        let Some((store, _)) = &self.store else {
            return Ok(None);
        };
        if key != MODEL_KEY {
            return Ok(None);
        }
        store
            .load_document(MODEL_KEY)
            .map_err(store_error)?
            .map(|text| {
                serde_json::from_str(&text).map_err(|error| {
                    AdapterError::State(format!(
                        "the stored simulator model cannot be read: {error}"
                    ))
                })
            })
            .transpose()
    }

    /// Stores `model` as a new model (first use); if another process stored one meanwhile,
    /// that one is loaded instead.
    fn commit_whole(&self, local: &mut Local, model: Lcs) -> Result<(), AdapterError> {
        let Some((store, key)) = &self.store else {
            local.model = model;
            return Ok(());
        };
        let rows = to_store(model.rows().map_err(state_error)?);
        let head = model.head().map_err(state_error)?;
        match store
            .commit_model(key, None, &head, &rows)
            .map_err(store_error)?
        {
            Some(version) => {
                local.model = model;
                local.version = Some(version);
                Ok(())
            }
            None => self.reload(local),
        }
    }

    /// Reads the whole stored model again (this copy is void: a change failed on it).
    fn reload(&self, local: &mut Local) -> Result<(), AdapterError> {
        local.version = None;
        local.model = Lcs::default();
        self.refresh(local)
    }

    /// Brings this copy up to the stored model: the rows changed since its version.
    fn refresh(&self, local: &mut Local) -> Result<(), AdapterError> {
        let Some((store, key)) = &self.store else {
            return Ok(());
        };
        let Some(ModelRows {
            version,
            head,
            rows,
        }) = store.load_model(key, local.version).map_err(store_error)?
        else {
            return Ok(());
        };
        if local.version == Some(version) {
            return Ok(());
        }
        local
            .model
            .apply_rows(&head, &stored_rows(rows)?)
            .map_err(state_error)?;
        local.version = Some(version);
        Ok(())
    }

    /// Runs `call` on the freshest model at the clock's time with this process's faults, and
    /// commits what it changed before answering. When another process committed first, this
    /// attempt is void: the model is read again and `call` runs again on it.
    fn attempt<T>(
        &self,
        mut call: impl FnMut(&mut Lcs, DateTime<Utc>) -> Result<T, SimError>,
    ) -> Result<Result<T, SimError>, AdapterError> {
        let mut local = self.lock();
        for _ in 0..ATTEMPTS {
            self.refresh(&mut local)?;
            local.model.faults = local.faults;
            let before = local.model.before_change();
            let result = call(&mut local.model, self.clock.now());
            let faults = local.model.faults;
            match self.commit_change(&local, &before) {
                Ok(Commit::At(version)) => {
                    local.version = version;
                    local.faults = faults;
                    return Ok(result);
                }
                Ok(Commit::Conflict) => self.reload(&mut local)?,
                Err(error) => {
                    // The copy holds a change that was not committed: read it all again next.
                    local.version = None;
                    local.model = Lcs::default();
                    return Err(error);
                }
            }
        }
        Err(AdapterError::State(format!(
            "the simulated LCS changed {ATTEMPTS} times in a row under this call; it was not made"
        )))
    }

    /// Commits what changed in `local` since `before`.
    fn commit_change(&self, local: &Local, before: &Before) -> Result<Commit, AdapterError> {
        let rows = local.model.changed_rows(before).map_err(state_error)?;
        let Some((store, key)) = self.store.as_ref().filter(|_| !rows.is_empty()) else {
            return Ok(Commit::At(local.version));
        };
        let head = local.model.head().map_err(state_error)?;
        Ok(
            match store
                .commit_model(key, local.version, &head, &to_store(rows))
                .map_err(store_error)?
            {
                Some(version) => Commit::At(Some(version)),
                None => Commit::Conflict,
            },
        )
    }

    /// A call on the model (see [`Self::attempt`]), its refusals as adapter errors.
    fn call<T>(
        &self,
        call: impl FnMut(&mut Lcs, DateTime<Utc>) -> Result<T, SimError>,
    ) -> Result<T, AdapterError> {
        self.attempt(call)?.map_err(convert)
    }

    /// Reads the freshest model.
    fn read<T>(&self, read: impl FnOnce(&Lcs) -> T) -> Result<T, AdapterError> {
        let mut local = self.lock();
        self.refresh(&mut local)?;
        Ok(read(&local.model))
    }
}

fn convert(error: SimError) -> AdapterError {
    match error {
        SimError::NotFound { what, id } => AdapterError::NotFound { what, id },
        SimError::Business(message) if message.starts_with("Maximum allowed API operations") => {
            AdapterError::OperationLimit(message)
        }
        SimError::Business(message) => AdapterError::Refused(message),
        SimError::Throttled { retry_after } => {
            AdapterError::Throttled(Duration::from_secs(u64::from(retry_after)))
        }
    }
}

impl Adapter for SimulatorAdapter {
    fn name(&self) -> &'static str {
        AdapterKind::Simulator.name()
    }

    fn kind(&self) -> AdapterKind {
        AdapterKind::Simulator
    }

    fn capabilities(&self) -> Capabilities {
        AdapterKind::Simulator.capabilities()
    }

    async fn environment(&self, project: u64, key: &str) -> Result<EnvironmentFacts, AdapterError> {
        self.call(|model, now| {
            let environment = model.environment(project, key)?;
            Ok(EnvironmentFacts {
                busy: Some(model.is_busy(&environment.id, now)),
                kind: LiveType::reported(environment.type_text()),
                id: environment.id,
                name: environment.name,
                release: Some(environment.release),
            })
        })
    }

    async fn start_refresh(
        &self,
        project: u64,
        source: &str,
        target: &str,
    ) -> Result<String, AdapterError> {
        self.call(|model, now| model.start_refresh(project, source, target, now))
    }

    async fn start_restore(
        &self,
        project: u64,
        target: &str,
        point: Option<DateTime<Utc>>,
    ) -> Result<String, AdapterError> {
        self.call(|model, now| model.start_restore(project, target, point, now))
    }

    async fn start_export(
        &self,
        project: u64,
        environment: &str,
        backup: &str,
    ) -> Result<String, AdapterError> {
        self.call(|model, now| model.start_export(project, environment, backup, now))
    }

    async fn database_status(
        &self,
        _project: u64,
        target: &str,
        activity: &str,
    ) -> Result<DatabaseStatus, AdapterError> {
        self.call(|model, now| model.database_status(target, activity, now))
    }

    async fn history(
        &self,
        _project: u64,
        environment: &str,
    ) -> Result<Vec<HistoryItem>, AdapterError> {
        self.read(|model| {
            model
                .history(environment)
                .into_iter()
                .map(|entry| HistoryItem {
                    activity: entry.activity,
                    name: entry.name,
                    started: Some(entry.started),
                })
                .collect()
        })
    }

    async fn find_shared_asset(&self, name: &str) -> Result<Option<AssetInfo>, AdapterError> {
        self.call(|model, _| {
            Ok(model
                .shared_assets(SOFTWARE_DEPLOYABLE_PACKAGE)?
                .into_iter()
                .find(|asset| asset.name == name)
                .map(|asset| AssetInfo {
                    id: asset.id,
                    name: asset.name,
                    file_name: asset.file_name,
                    size: Some(asset.size),
                    modified: Some(asset.modified),
                }))
        })
    }

    async fn download_asset(
        &self,
        _project: u64,
        asset: &str,
        destination: &Path,
    ) -> Result<u64, AdapterError> {
        let size = self
            .read(|model| {
                model
                    .assets
                    .iter()
                    .find(|candidate| candidate.id == asset)
                    .map(|candidate| candidate.size)
            })?
            .ok_or_else(|| AdapterError::NotFound {
                what: "asset",
                id: asset.to_owned(),
            })?;
        // The simulator's packages have no real content: a deterministic pattern of their size,
        // written in blocks so memory does not grow with the file.
        let write = || -> std::io::Result<()> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(destination)?);
            let block = vec![0x5a_u8; 64 * 1024];
            let mut left = size;
            while left > 0 {
                let length = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
                file.write_all(&block[..length])?;
                left -= length as u64;
            }
            file.flush()
        };
        write().map_err(|error| {
            AdapterError::State(format!("cannot write `{}`: {error}", destination.display()))
        })?;
        Ok(size)
    }

    async fn project_assets(&self, project: u64) -> Result<Vec<AssetInfo>, AdapterError> {
        self.read(|model| {
            model
                .assets
                .iter()
                .filter(|asset| {
                    asset.project == Some(project) && asset.file_type == SOFTWARE_DEPLOYABLE_PACKAGE
                })
                .map(|asset| AssetInfo {
                    id: asset.id.clone(),
                    name: asset.name.clone(),
                    file_name: asset.file_name.clone(),
                    size: Some(asset.size),
                    modified: Some(asset.modified),
                })
                .collect()
        })
    }

    async fn create_asset(
        &self,
        project: u64,
        name: &str,
        file_name: &str,
    ) -> Result<UploadTarget, AdapterError> {
        self.call(|model, now| {
            let asset = model.create_file_asset(
                project,
                name,
                file_name,
                SOFTWARE_DEPLOYABLE_PACKAGE,
                now,
            )?;
            Ok(UploadTarget {
                location: asset.clone(),
                asset,
            })
        })
    }

    async fn upload_target(
        &self,
        _project: u64,
        asset: &str,
    ) -> Result<UploadTarget, AdapterError> {
        let known =
            self.read(|model| model.assets.iter().any(|candidate| candidate.id == asset))?;
        if known {
            Ok(UploadTarget {
                asset: asset.to_owned(),
                location: asset.to_owned(),
            })
        } else {
            Err(AdapterError::NotFound {
                what: "asset",
                id: asset.to_owned(),
            })
        }
    }

    async fn upload_block(
        &self,
        target: &UploadTarget,
        block: &str,
        data: BlockData,
    ) -> Result<(), AdapterError> {
        self.call(|model, now| model.put_block(&target.location, block, data.len(), now))
    }

    async fn commit_blocks(
        &self,
        target: &UploadTarget,
        blocks: &[String],
    ) -> Result<(), AdapterError> {
        self.call(|model, now| model.put_block_list(&target.location, blocks, now))
    }

    async fn commit_asset(&self, _project: u64, asset: &str) -> Result<(), AdapterError> {
        self.call(|model, now| model.commit_file_asset(asset, now))
    }

    async fn validation_status(
        &self,
        _project: u64,
        asset: &str,
    ) -> Result<ValidationStatus, AdapterError> {
        self.call(|model, now| model.validation_status(asset, now))
    }

    async fn apply_update(
        &self,
        project: u64,
        environment: &str,
        asset: &str,
        update_name: &str,
    ) -> Result<String, AdapterError> {
        self.call(|model, now| model.apply_update(project, environment, asset, update_name, now))
    }

    async fn deployment_status(
        &self,
        _project: u64,
        environment: &str,
        activity: &str,
    ) -> Result<DeploymentStatus, AdapterError> {
        self.call(|model, now| model.deployment_status_of(environment, activity, now))
    }

    async fn reset_financial_reporting(
        &self,
        project: u64,
        environment: &str,
    ) -> Result<(), AdapterError> {
        self.call(|model, now| model.reset_financial_reporting(project, environment, now))
    }
}
