//! The adapter contract, as one suite every adapter must pass: the simulator now, the LCS
//! adapter against the emulator later. The world must hold, in `project`, a production
//! environment `source` and a sandbox `target` on the same release, both idle, with no operation
//! on `target` in the last 24 hours, and the shared "Environment reprovisioning tool". The
//! target is self-service (an update name is required to deploy to it).

use chrono::TimeDelta;
use refreshctl::adapter::{Adapter, AdapterError};
use refreshctl::clock::Clock;
use refreshctl::sim::{DatabaseStatus, DeploymentStatus, ValidationStatus};

pub struct World<'a, A: Adapter> {
    pub adapter: &'a A,
    pub clock: &'a Clock,
    pub project: u64,
    pub source: &'a str,
    pub target: &'a str,
    /// How long to wait between polls.
    pub poll: TimeDelta,
}

impl<A: Adapter> World<'_, A> {
    async fn wait(&self) {
        self.clock.sleep_until(self.clock.now() + self.poll).await;
    }
}

pub async fn run_all<A: Adapter>(world: &World<'_, A>) {
    let (source, target) = environments(world).await;
    refresh_runs_to_completion_once(world, &source, &target).await;
    upload_validate_and_deploy(world, &target).await;
    export_runs_to_completion(world, &source, &target).await;
    let restored = restore_or_unsupported(world, &target).await;
    exports_count_toward_the_operation_limit(world, &target, 2 + usize::from(restored)).await;
}

/// Polls a database operation on `environment` until it ends; returns what it passed through.
async fn until_ended<A: Adapter>(
    world: &World<'_, A>,
    environment: &str,
    activity: &str,
) -> Vec<DatabaseStatus> {
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let status = world
            .adapter
            .database_status(world.project, environment, activity)
            .await
            .expect("status");
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status.is_terminal() {
            break;
        }
        world.wait().await;
    }
    seen
}

/// An export of the target runs to the end, keyed by the exported environment; production is
/// not exported, and a busy environment refuses a second one.
async fn export_runs_to_completion<A: Adapter>(world: &World<'_, A>, source: &str, target: &str) {
    let adapter = world.adapter;
    let refused = adapter
        .start_export(world.project, source, "prod-copy")
        .await;
    assert!(
        matches!(refused, Err(AdapterError::Refused(_))),
        "only sandboxes are exported: {refused:?}"
    );
    let activity = adapter
        .start_export(world.project, target, "uat-before-refresh")
        .await
        .expect("the export starts");
    let busy = adapter
        .start_export(world.project, target, "uat-again")
        .await;
    assert!(
        matches!(busy, Err(AdapterError::Refused(_))),
        "an environment exporting is busy: {busy:?}"
    );
    let seen = until_ended(world, target, &activity).await;
    assert_eq!(seen.last(), Some(&DatabaseStatus::Completed), "{seen:?}");
    assert!(seen.contains(&DatabaseStatus::InProgress), "{seen:?}");
    let history = adapter
        .history(world.project, target)
        .await
        .expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|item| item.activity == activity)
            .count(),
        1,
        "the export is in the environment's history once"
    );
}

/// Exports until LCS refuses: the refusal is the operation limit, after exactly 3 database
/// operations on the target (`before` of them started earlier in the suite).
async fn exports_count_toward_the_operation_limit<A: Adapter>(
    world: &World<'_, A>,
    target: &str,
    before: usize,
) {
    let mut started = before;
    for attempt in 0..5 {
        match world
            .adapter
            .start_export(world.project, target, &format!("limit-{attempt}"))
            .await
        {
            Ok(activity) => {
                started += 1;
                let seen = until_ended(world, target, &activity).await;
                assert_eq!(seen.last(), Some(&DatabaseStatus::Completed), "{seen:?}");
            }
            Err(AdapterError::OperationLimit(message)) => {
                assert!(
                    message.contains("Maximum allowed API operations"),
                    "{message}"
                );
                assert_eq!(started, 3, "refused after 3 operations in 24 hours");
                return;
            }
            Err(error) => panic!("export {attempt}: {error}"),
        }
    }
    panic!("{started} operations started and none was refused");
}

async fn environments<A: Adapter>(world: &World<'_, A>) -> (String, String) {
    let adapter = world.adapter;
    let source = adapter
        .environment(world.project, world.source)
        .await
        .expect("source by name");
    let target = adapter
        .environment(world.project, world.target)
        .await
        .expect("target by name");
    assert_eq!(
        adapter
            .environment(world.project, &target.id)
            .await
            .expect("by id"),
        target
    );
    assert!(matches!(
        adapter
            .environment(world.project, "no-such-environment")
            .await,
        Err(AdapterError::NotFound { .. })
    ));
    assert_eq!(target.name, world.target);
    assert_ne!(target.busy, Some(true), "the target starts idle");
    (source.id, target.id)
}

async fn refresh_runs_to_completion_once<A: Adapter>(
    world: &World<'_, A>,
    source: &str,
    target: &str,
) {
    let adapter = world.adapter;
    let refused = adapter.start_refresh(world.project, target, source).await;
    assert!(
        matches!(refused, Err(AdapterError::Refused(_))),
        "production is never a target: {refused:?}"
    );
    let activity = adapter
        .start_refresh(world.project, source, target)
        .await
        .expect("the refresh starts");
    let busy = adapter.start_refresh(world.project, source, target).await;
    assert!(
        matches!(busy, Err(AdapterError::Refused(_))),
        "a busy target refuses: {busy:?}"
    );
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let status = adapter
            .database_status(world.project, target, &activity)
            .await
            .expect("status");
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status.is_terminal() {
            break;
        }
        world.wait().await;
    }
    assert_eq!(seen.last(), Some(&DatabaseStatus::Completed), "{seen:?}");
    assert!(seen.contains(&DatabaseStatus::InProgress), "{seen:?}");
    let history = adapter
        .history(world.project, target)
        .await
        .expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|item| item.activity == activity)
            .count(),
        1,
        "the refresh is in the target's history once"
    );
}

/// Downloads the shared reprovisioning tool; returns its file name.
async fn download_shared_tool<A: Adapter>(world: &World<'_, A>) -> String {
    let adapter = world.adapter;
    let shared = adapter
        .find_shared_asset("Environment reprovisioning tool")
        .await
        .expect("lookup")
        .expect("the shared tool exists");
    let directory = tempfile::tempdir().expect("temp");
    let file = directory.path().join(&shared.file_name);
    let size = adapter
        .download_asset(world.project, &shared.id, &file)
        .await
        .expect("download");
    assert_eq!(Some(size), shared.size);
    assert_eq!(std::fs::metadata(&file).expect("file").len(), size);
    assert_eq!(
        adapter
            .find_shared_asset("No such package")
            .await
            .expect("lookup"),
        None
    );
    shared.file_name
}

async fn upload_validate_and_deploy<A: Adapter>(world: &World<'_, A>, target: &str) {
    let adapter = world.adapter;
    let file_name = download_shared_tool(world).await;

    let upload = adapter
        .create_asset(world.project, "Environment reprovisioning tool", &file_name)
        .await
        .expect("create");
    let blocks = ["AAAAAA==".to_owned(), "AAAAAQ==".to_owned()];
    adapter
        .upload_block(&upload, &blocks[0], vec![1; 1024].into())
        .await
        .expect("block");
    adapter
        .upload_block(&upload, &blocks[1], vec![2; 10].into())
        .await
        .expect("block");
    adapter
        .upload_block(&upload, &blocks[1], vec![2; 10].into())
        .await
        .expect("a block may be sent again");
    adapter
        .commit_blocks(&upload, &blocks)
        .await
        .expect("block list");
    adapter
        .commit_asset(world.project, &upload.asset)
        .await
        .expect("commit");
    let mut validation = ValidationStatus::Unknown;
    for _ in 0..10_000 {
        validation = adapter
            .validation_status(world.project, &upload.asset)
            .await
            .expect("validation");
        if !matches!(
            validation,
            ValidationStatus::Unknown | ValidationStatus::Process
        ) {
            break;
        }
        world.wait().await;
    }
    assert_eq!(validation, ValidationStatus::Done);
    let nameless = adapter
        .apply_update(world.project, target, &upload.asset, "")
        .await;
    assert!(
        matches!(nameless, Err(AdapterError::Refused(_))),
        "an update name is required: {nameless:?}"
    );
    let activity = adapter
        .apply_update(
            world.project,
            target,
            &upload.asset,
            "Environment reprovisioning tool",
        )
        .await
        .expect("deploys");
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let status = adapter
            .deployment_status(world.project, target, &activity)
            .await
            .expect("status");
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status.is_terminal() {
            break;
        }
        world.wait().await;
    }
    assert_eq!(seen.last(), Some(&DeploymentStatus::Completed), "{seen:?}");
    assert!(
        seen.contains(&DeploymentStatus::PreparingEnvironment),
        "{seen:?}"
    );
}

/// Whether the restore started (and ran to its end).
async fn restore_or_unsupported<A: Adapter>(world: &World<'_, A>, target: &str) -> bool {
    let adapter = world.adapter;
    let result = adapter
        .start_restore(
            world.project,
            target,
            Some(world.clock.now() - TimeDelta::hours(6)),
        )
        .await;
    if adapter.capabilities().point_in_time_restore {
        let activity = result.expect("a restore starts where the adapter supports it");
        assert!(!activity.is_empty());
        let seen = until_ended(world, target, &activity).await;
        assert_eq!(seen.last(), Some(&DatabaseStatus::Completed), "{seen:?}");
        true
    } else {
        assert!(
            matches!(result, Err(AdapterError::Unsupported { .. })),
            "{result:?}"
        );
        false
    }
}
