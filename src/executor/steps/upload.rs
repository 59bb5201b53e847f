//! Upload steps: a package into the project's asset library, in blocks, each recorded as it is
//! acknowledged, so that a resumed upload sends only what is missing, and an asset created
//! before a crash is adopted only when it is exactly this attempt's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::adapter::{Adapter, AdapterError, BlockData, FileRange, UploadTarget};
use crate::executor::event::EventKind;
use crate::executor::run::{ExecError, Executor, Outcome, remote};
use crate::plan::UploadSource;
use crate::sim::ValidationStatus;
use crate::state::{Intent, RunRecord};

/// Upload block size: 4 MiB, well under Azure's limits.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Blocks uploaded at once (as Azure's own tools do). Each is read from the package as its
/// connection takes it, so memory does not grow with the block size (benches/upload.sh).
const BLOCKS_IN_FLIGHT: usize = 4;

/// One block on its way, with its id.
type BlockUpload<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (String, Result<(), AdapterError>)> + 'a>>;

/// Waits for the first of the uploads in flight to finish; removes it and returns its result.
async fn next_done(in_flight: &mut Vec<BlockUpload<'_>>) -> (String, Result<(), AdapterError>) {
    std::future::poll_fn(|context| {
        for position in 0..in_flight.len() {
            if let std::task::Poll::Ready(done) = in_flight[position].as_mut().poll(context) {
                drop(in_flight.swap_remove(position));
                return std::task::Poll::Ready(done);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

impl<A: Adapter> Executor<'_, A> {
    pub(in crate::executor) async fn upload(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        file: &UploadSource,
        name: &str,
    ) -> Result<Outcome, ExecError> {
        let project = self.plan.project();
        let path = match file {
            UploadSource::Local(file) => self.settings.plan_dir.join(file),
            UploadSource::Downloaded(step) => {
                PathBuf::from(remote(run, step).file.clone().unwrap_or_default())
            }
        };
        let file_name = path.file_name().map_or_else(
            || "package.zip".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        // An asset created by this run is reused; its blocks are not sent again. Creating one
        // is recorded as an intent first, and the asset's name carries the run, the step and
        // the intent's time, so an asset whose id a crash lost is found again by that exact
        // name, never confused with another (an older upload of the same package, say).
        let step_id = run.steps[index].id.clone();
        if run.steps[index].remote.asset.is_none()
            && let Some(intent) = run.steps[index].intent.clone()
        {
            let wanted = asset_name(name, &run.id, &step_id, intent.at);
            match self.adapter.project_assets(project).await {
                Ok(assets) => {
                    let mut created: Vec<_> = assets
                        .into_iter()
                        .filter(|asset| asset.name == wanted)
                        .collect();
                    match created.len() {
                        0 => {}
                        1 => {
                            let asset = created.remove(0);
                            self.emit(
                                run,
                                EventKind::Log,
                                Some(&step_id),
                                format!(
                                    "the asset `{wanted}` was created before the process stopped: asset {}",
                                    asset.id
                                ),
                                None,
                            );
                            run.steps[index].remote.asset = Some(asset.id);
                            self.commit(run)?;
                        }
                        count => {
                            return Ok(Outcome::Fail(format!(
                                "the project's asset library holds {count} assets named `{wanted}`, so refreshctl cannot tell which one this run created: delete the extra ones in LCS, then `refreshctl resume {} --retry-step`",
                                run.id
                            )));
                        }
                    }
                }
                Err(error) => return Ok(self.poll_error(run, index, error)),
            }
        }
        let target = if let Some(asset) = run.steps[index].remote.asset.clone() {
            self.adapter.upload_target(project, &asset).await
        } else {
            let at = self.clock.now();
            run.steps[index].intent = Some(Intent {
                call: "create-asset".into(),
                at,
                unanswered: None,
            });
            self.commit(run)?;
            let created = self
                .adapter
                .create_asset(
                    project,
                    &asset_name(name, &run.id, &step_id, at),
                    &file_name,
                )
                .await;
            crate::executor::failpoint::hit(&format!("after-create:{step_id}"));
            if let Ok(target) = &created {
                run.steps[index].remote.asset = Some(target.asset.clone());
                self.commit(run)?;
            }
            created
        };
        let target = match target {
            Ok(target) => target,
            Err(error) => return Ok(self.poll_error(run, index, error)),
        };
        // Blocks go before the first validation poll; later polls only ask for validation.
        if run.steps[index].polls == 0
            && let Some(outcome) = self.send_blocks(run, index, &target, &path).await?
        {
            return Ok(outcome);
        }
        match self.adapter.validation_status(project, &target.asset).await {
            Ok(ValidationStatus::Done) => Ok(Outcome::Done),
            Ok(ValidationStatus::Failed) => Ok(Outcome::Fail(format!(
                "LCS rejected the package `{file_name}` in validation; once the package is fixed, `refreshctl resume {} --retry-step` uploads it again",
                run.id
            ))),
            Ok(status) => {
                let until = self.next_poll(run, index);
                let shown = format!("validation {}", status.as_str());
                self.polled(run, &step_id, &shown, &target.asset, until);
                Ok(Outcome::Wait(until))
            }
            Err(error) => Ok(self.poll_error(run, index, error)),
        }
    }

    /// Sends the blocks not yet sent (up to `BLOCKS_IN_FLIGHT` at once, each recorded as it is
    /// acknowledged), then the block list, then commits the asset. Returns an outcome when the
    /// step cannot go on now.
    pub(in crate::executor) async fn send_blocks(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        target: &UploadTarget,
        path: &Path,
    ) -> Result<Option<Outcome>, ExecError> {
        let project = self.plan.project();
        // A package named by the plan: a FIFO or a device would block or never end.
        let file = match crate::input::open_regular(path) {
            Ok(file) => file,
            Err(error) => return Ok(Some(Outcome::Fail(error.to_string()))),
        };
        let size = match file.metadata() {
            Ok(metadata) => metadata.len(),
            Err(error) => {
                return Ok(Some(Outcome::Fail(format!(
                    "cannot read `{}`: {error}",
                    path.display()
                ))));
            }
        };
        let file = Arc::new(file);
        let shown: Arc<Path> = Arc::from(path);
        // An empty file is one empty block; otherwise the last block may be short.
        let block_size = BLOCK_SIZE as u64;
        let count = size.div_ceil(block_size).max(1);
        // The adapter outlives this borrow of `self`, so blocks in flight can hold it while
        // `self` commits the ones acknowledged.
        let adapter = self.adapter;
        let mut in_flight: Vec<BlockUpload<'_>> = Vec::new();
        let mut blocks = Vec::new();
        let mut next = 0;
        let mut failure = None;
        loop {
            while next < count && failure.is_none() && in_flight.len() < BLOCKS_IN_FLIGHT {
                let offset = next * block_size;
                let block = base64::engine::general_purpose::STANDARD.encode(format!("{next:08}"));
                next += 1;
                blocks.push(block.clone());
                if !run.steps[index].remote.blocks.contains(&block) {
                    // Read as it is sent: a block in flight holds a buffer or two, not itself.
                    let data = BlockData::File(FileRange {
                        file: Arc::clone(&file),
                        path: Arc::clone(&shown),
                        offset,
                        len: (size - offset).min(block_size),
                    });
                    in_flight.push(Box::pin(async move {
                        let result = adapter.upload_block(target, &block, data).await;
                        (block, result)
                    }));
                }
            }
            if in_flight.is_empty() {
                break;
            }
            let (block, result) = next_done(&mut in_flight).await;
            match result {
                Ok(()) => {
                    run.steps[index].remote.blocks.push(block);
                    self.commit(run)?;
                    crate::executor::failpoint::hit(&format!(
                        "after-block:{}",
                        run.steps[index].id
                    ));
                }
                // The blocks in flight still land and are recorded; then the step waits.
                Err(error) if failure.is_none() => {
                    failure = Some(self.poll_error(run, index, error));
                }
                Err(_) => {}
            }
        }
        if let Some(outcome) = failure {
            return Ok(Some(outcome));
        }
        if let Err(error) = self.adapter.commit_blocks(target, &blocks).await {
            return Ok(Some(self.poll_error(run, index, error)));
        }
        if let Err(error) = self.adapter.commit_asset(project, &target.asset).await {
            return Ok(Some(self.poll_error(run, index, error)));
        }
        Ok(None)
    }
}

/// The name of the asset an upload step creates: the package's name, then the run, the step
/// and when the creation was recorded (to the microsecond; the intent keeps that), so that after
/// a crash only an asset of exactly this attempt is adopted, even when another state store ran
/// the same plan's same window a moment before.
fn asset_name(name: &str, run: &str, step: &str, at: DateTime<Utc>) -> String {
    format!("{name} ({run} {step} {})", at.format("%Y%m%dT%H%M%S%.6fZ"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    pub(in crate::executor) fn asset_names_tell_every_attempt_apart() {
        let at = "2026-12-05T21:00:00.123456789Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let name = asset_name("Build 42", "uat@20261205T2100Z", "deploy.upload", at);
        assert_eq!(
            name,
            "Build 42 (uat@20261205T2100Z deploy.upload 20261205T210000.123456Z)"
        );
        // (another run, step or moment: another name, even within the same second)
        let others = [
            asset_name("Build 42", "uat@20261212T2100Z", "deploy.upload", at),
            asset_name("Build 42", "uat@20261205T2100Z", "deploy.upload#2", at),
            asset_name(
                "Build 42",
                "uat@20261205T2100Z",
                "deploy.upload",
                at + TimeDelta::microseconds(1),
            ),
            asset_name("Build 43", "uat@20261205T2100Z", "deploy.upload", at),
        ];
        for other in others {
            assert_ne!(other, name);
        }
    }
}
