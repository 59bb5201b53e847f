//! Crash safety with the real binary: SIGKILL at every step boundary, in the middle of polls and
//! uploads, and around every destructive call; then resume. The simulator's own record (its
//! call log, kept in the state file) proves that every change happened exactly once.

#[path = "common/changes.rs"]
mod changes;

use std::path::Path;

use assert_cmd::Command;
use changes::count;
use refreshctl::adapter::{SimulatorAdapter, rehearsal_key};
use refreshctl::sim::Call;
use refreshctl::state::{StateStore, StateUrl};

const PLAN: &str = "version: 1
name: crash-uat
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - reprovision
  - reset-financial-reporting
  - deploy: {file: build.zip, name: Build 42}
  - command: {run: [\"true\"]}
  - manual: {instructions: Check the POS devices.}
";

struct World {
    directory: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let directory = tempfile::tempdir().expect("temp");
        std::fs::write(directory.path().join("plan.yaml"), PLAN).expect("plan");
        // Three blocks of at most 4 MiB, so an upload can be interrupted in its middle.
        std::fs::write(
            directory.path().join("build.zip"),
            vec![3_u8; 9 * 1024 * 1024],
        )
        .expect("package");
        Self { directory }
    }

    fn refreshctl(&self, failpoint: Option<&str>, args: &[&str]) -> std::process::Output {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(self.directory.path())
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.directory.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", self.state())
            .args(args)
            .timeout(std::time::Duration::from_mins(1));
        match failpoint {
            Some(point) => command.env("REFRESHCTL_FAILPOINT", point),
            None => command.env_remove("REFRESHCTL_FAILPOINT"),
        };
        command.output().expect("runs")
    }

    fn state(&self) -> String {
        self.directory.path().join("state.db").display().to_string()
    }

    fn only_run(&self) -> serde_json::Value {
        let output = self.refreshctl(None, &["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
        runs[0].clone()
    }

    fn calls(&self) -> Vec<Call> {
        let run = self.only_run();
        let store = StateStore::open(&StateUrl::Sqlite(self.state().into())).expect("store");
        // The rehearsal's own world, stored from its first use.
        SimulatorAdapter::load(&store, &rehearsal_key(run["id"].as_str().expect("id")))
            .expect("load")
            .map(|model| model.calls.into_iter().map(|record| record.call).collect())
            .unwrap_or_default()
    }
}

fn killed(output: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    output.status.signal() == Some(9)
}

/// Crashes at `point`, resumes, and checks the outcome and the simulator's record.
fn crash_and_resume(point: &str) {
    let world = World::new();
    let crashed = world.refreshctl(Some(point), &["apply", "--yes", "plan.yaml"]);
    assert!(
        killed(&crashed),
        "{point}: the failpoint was not reached: {}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    let run = world.only_run();
    let id = run["id"].as_str().expect("id").to_owned();
    let resumed = world.refreshctl(None, &["resume", "--yes", &id]);
    if point.starts_with("after-intent:start-refresh")
        || point.starts_with("after-intent:reprovision.apply")
    {
        // The intent was committed and the call never sent: nothing proves it was made.
        assert_eq!(resumed.status.code(), Some(1), "{point}");
        let state = world.only_run();
        assert_eq!(state["state"], "needs-attention", "{point}: {state}");
        let destructive_before = count(&world.calls(), Call::is_destructive);
        let again = world.refreshctl(None, &["resume", "--yes", &id]);
        assert_eq!(
            again.status.code(),
            Some(1),
            "{point}: resume alone never sends the call"
        );
        assert_eq!(
            count(&world.calls(), Call::is_destructive),
            destructive_before
        );
        let retried = world.refreshctl(None, &["resume", "--retry-step", "--yes", &id]);
        assert_eq!(
            retried.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&retried.stderr)
        );
    } else {
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
    }
    assert_eq!(world.only_run()["state"], "succeeded", "{point}");
    let calls = world.calls();
    changes::assert_each_change_once(&calls, point);
    assert_eq!(
        count(&calls, |call| matches!(call, Call::PutBlock { .. })),
        1 + 3,
        "{point}: blocks, none resent"
    );
    assert_eq!(
        count(&calls, |call| matches!(
            call,
            Call::ResetFinancialReporting { .. }
        )),
        0,
        "{point}: Financial reporting is reset by hand (a manual step, as on LCS)"
    );
}

#[test]
fn sigkill_at_every_step_boundary_then_resume() {
    for step in [
        "preflight",
        "submit",
        "wait-for-window",
        "start-refresh",
        "monitor-refresh",
        "reprovision.download",
        "reprovision.upload",
        "reprovision.apply",
        "reprovision.monitor",
        // `reset-financial-reporting` is a manual step (as on LCS): `approve` ends it, not the
        // executor, so it has no boundary of its own, like `manual`.
        "deploy.upload",
        "deploy.apply",
        "deploy.monitor",
        "command",
    ] {
        crash_and_resume(&format!("after-step:{step}"));
    }
}

#[test]
fn sigkill_in_the_middle_of_long_steps_then_resume() {
    for point in [
        "waiting:wait-for-window",
        "waiting:monitor-refresh",
        "waiting:reprovision.upload",
        "waiting:reprovision.monitor",
        "after-create:reprovision.upload",
        "after-create:deploy.upload",
        "after-block:deploy.upload",
        "waiting:deploy.monitor",
    ] {
        crash_and_resume(point);
    }
}

#[test]
fn sigkill_around_destructive_calls_never_repeats_them() {
    for point in [
        "after-intent:start-refresh",
        "after-call:start-refresh",
        "after-intent:reprovision.apply",
        "after-call:reprovision.apply",
        "after-call:deploy.apply",
    ] {
        crash_and_resume(point);
    }
}

#[test]
fn the_failpoint_hook_is_inert_without_its_variable() {
    let world = World::new();
    let output = world.refreshctl(None, &["apply", "--yes", "plan.yaml"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(Path::new(&world.state()).exists());
}
