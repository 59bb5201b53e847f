//! The simulator adapter: the `sim/` model in process, on a clock it is given (simulated for a
//! rehearsal). With a state store, the model is saved after every call that changes it, so a
//! rehearsal interrupted by a crash resumes against the same simulated LCS.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::contract::{
    Adapter, AdapterError, AssetInfo, EnvironmentFacts, HistoryItem, LiveType, UploadTarget,
};
use super::{AdapterKind, Capabilities};
use crate::clock::Clock;
use crate::sim::{
    DatabaseStatus, DeploymentStatus, Lcs, SOFTWARE_DEPLOYABLE_PACKAGE, SimError, ValidationStatus,
};
use crate::state::StateStore;

/// The document key under which the model is kept.
pub const MODEL_KEY: &str = "simulator/model";

pub struct SimulatorAdapter {
    model: Mutex<Lcs>,
    clock: Clock,
    store: Option<Arc<StateStore>>,
}

impl SimulatorAdapter {
    #[must_use]
    pub fn new(model: Lcs, clock: Clock, store: Option<Arc<StateStore>>) -> Self {
        Self {
            model: Mutex::new(model),
            clock,
            store,
        }
    }

    /// The model as saved in `store`, if one was.
    pub fn load(store: &StateStore) -> Result<Option<Lcs>, AdapterError> {
        store
            .load_document(MODEL_KEY)
            .map_err(|error| AdapterError::State(error.to_string()))?
            .map(|text| {
                serde_json::from_str(&text).map_err(|error| {
                    AdapterError::State(format!(
                        "the stored simulator model cannot be read: {error}"
                    ))
                })
            })
            .transpose()
    }

    /// A copy of the model, for tests and reports.
    #[must_use]
    pub fn model(&self) -> Lcs {
        self.lock().clone()
    }

    /// Changes the model in place (the scheduler adds the environments of plans it loads).
    pub fn with_model(&self, change: impl FnOnce(&mut Lcs)) {
        change(&mut self.lock());
    }

    /// Saves the model to `store` (an adapter made without a store saves nothing by itself).
    pub fn persist(&self, store: &StateStore) -> Result<(), AdapterError> {
        let text = serde_json::to_string(&*self.lock())
            .map_err(|error| AdapterError::State(error.to_string()))?;
        store
            .save_document(MODEL_KEY, &text)
            .map_err(|error| AdapterError::State(error.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lcs> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a call on the model at the clock's time and saves the model if the call changed it.
    fn call<T>(
        &self,
        call: impl FnOnce(&mut Lcs, DateTime<Utc>) -> Result<T, SimError>,
    ) -> Result<T, AdapterError> {
        let mut model = self.lock();
        let before = model.calls.len();
        let throttles = model.faults.throttled_calls;
        let result = call(&mut model, self.clock.now());
        if model.calls.len() != before || model.faults.throttled_calls != throttles {
            self.save(&model)?;
        }
        result.map_err(convert)
    }

    fn save(&self, model: &Lcs) -> Result<(), AdapterError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let text =
            serde_json::to_string(model).map_err(|error| AdapterError::State(error.to_string()))?;
        store
            .save_document(MODEL_KEY, &text)
            .map_err(|error| AdapterError::State(error.to_string()))
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
        Ok(self
            .lock()
            .history(environment)
            .into_iter()
            .map(|entry| HistoryItem {
                activity: entry.activity,
                name: entry.name,
                started: Some(entry.started),
            })
            .collect())
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
            .lock()
            .assets
            .iter()
            .find(|candidate| candidate.id == asset)
            .map(|candidate| candidate.size)
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
        Ok(self
            .lock()
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
            .collect())
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
        let known = self
            .lock()
            .assets
            .iter()
            .any(|candidate| candidate.id == asset);
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
        bytes: bytes::Bytes,
    ) -> Result<(), AdapterError> {
        self.call(|model, now| model.put_block(&target.location, block, bytes.len() as u64, now))
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
