//! `resume --retry-step` with the real binary: a failed post step runs again from its start at
//! a person's request (a new deployment, a new upload, the command again), who asked and why is
//! in the run's log, and the refresh itself is never repeated. On the simulator (its faults)
//! and through the lcs adapter against the emulator in another process, whose request log
//! proves the deployment was applied exactly once more.

#[path = "common/emulator_process.rs"]
mod emulator_process;

use std::path::Path;

use assert_cmd::Command;
use emulator_process::EmulatorProcess;
use refreshctl::adapter::{SimulatorAdapter, rehearsal_key};
use refreshctl::sim::Call;
use refreshctl::state::{StateStore, StateUrl};

/// A refresh, then one deployment of a local package, then a command that fails when it finds
/// no mark (and leaves one), and succeeds after.
const PLAN: &str = "version: 1
name: retry-uat
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - deploy: {file: build.zip, name: Build 42}
  - command: {run: [\"sh\", \"-c\", \"test -e ran-once || { touch ran-once; echo first run fails >&2; exit 3; }\"]}
";

struct Home {
    directory: tempfile::TempDir,
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Home {
    fn new() -> Self {
        let directory = tempfile::tempdir().expect("temp");
        std::fs::write(directory.path().join("plan.yaml"), PLAN).expect("plan");
        std::fs::write(directory.path().join("build.zip"), b"PK\x05\x06 build 42").expect("zip");
        // The command passes unless a test takes its mark away.
        std::fs::write(directory.path().join("ran-once"), b"").expect("mark");
        Self { directory }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("USER", "ops-oncall")
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("REFRESHCTL_STATE", self.path().join("state.db"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("REFRESHCTL_FAILPOINT")
            .env_remove("REFRESHCTL_TEST_CLOCK")
            .args(args)
            .timeout(std::time::Duration::from_mins(1));
        command
    }

    fn run(&self, args: &[&str]) -> Ran {
        ran(&self.command(args).output().expect("runs"))
    }

    fn status(&self, run: &str) -> serde_json::Value {
        let shown = self.run(&["status", run, "--format", "json"]);
        assert_eq!(shown.code, Some(0), "{}", shown.stderr);
        serde_json::from_str(&shown.stdout).expect("json")
    }

    /// The calls the rehearsal's simulated LCS got.
    fn calls(&self, run: &str) -> Vec<Call> {
        let store =
            StateStore::open(&StateUrl::Sqlite(self.path().join("state.db"))).expect("store");
        SimulatorAdapter::load(&store, &rehearsal_key(run))
            .expect("load")
            .map(|model| model.calls.into_iter().map(|record| record.call).collect())
            .unwrap_or_default()
    }
}

fn count(calls: &[Call], wanted: fn(&Call) -> bool) -> usize {
    calls.iter().filter(|call| wanted(call)).count()
}

fn ran(output: &std::process::Output) -> Ran {
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn step<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|step| step["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {status}"))
}

fn retry_entries(status: &serde_json::Value) -> Vec<serde_json::Value> {
    status["log"]
        .as_array()
        .expect("a log")
        .iter()
        .filter(|entry| entry["kind"] == "retry-step")
        .cloned()
        .collect()
}

const APPLIES: fn(&Call) -> bool = |call| matches!(call, Call::ApplyUpdate { .. });
const ASSETS: fn(&Call) -> bool = |call| matches!(call, Call::CreateFileAsset { .. });
const REFRESHES: fn(&Call) -> bool = |call| matches!(call, Call::StartRefresh { .. });

#[test]
fn a_failed_deployment_is_applied_again_on_request_and_the_run_succeeds() {
    let home = Home::new();
    let applied = home.run(&[
        "apply",
        "--yes",
        "--sim-fault",
        "deployment-fails",
        "plan.yaml",
    ]);
    assert_eq!(applied.code, Some(1), "{}", applied.stderr);
    let run = applied.stdout.trim().to_owned();
    assert!(
        applied.stderr.contains(&format!(
            "`refreshctl resume {run} --retry-step` applies the package again"
        )),
        "the failure says what to do: {}",
        applied.stderr
    );
    let failed = home.status(&run);
    assert_eq!(failed["state"], "failed", "{failed}");
    let first_deployment = step(&failed, "deploy.apply")["remote"]["activity"].clone();
    assert!(first_deployment.is_string(), "{failed}");
    assert_eq!(count(&home.calls(&run), APPLIES), 1);

    // Resuming alone never repeats a step: a retry is a person's decision.
    let resumed = home.run(&["resume", &run]);
    assert_eq!(resumed.code, Some(1), "{}", resumed.stderr);
    assert!(
        resumed
            .stderr
            .contains(&format!("refreshctl resume {run} --retry-step")),
        "{}",
        resumed.stderr
    );
    assert_eq!(count(&home.calls(&run), APPLIES), 1, "nothing was sent");
    let stray = home.run(&["resume", &run, "--reason", "why not"]);
    assert_eq!(
        stray.code,
        Some(2),
        "`--reason` goes with `--retry-step`: {}",
        stray.stderr
    );
    assert!(
        stray.stderr.contains("go with `--retry-step`"),
        "{}",
        stray.stderr
    );

    // The retry (without the fault now) applies the package again, once, and goes on.
    let retried = home.run(&[
        "resume",
        &run,
        "--retry-step",
        "--by",
        "alice",
        "--reason",
        "the deployment's SQL timeout was raised",
    ]);
    assert_eq!(retried.code, Some(0), "{}", retried.stderr);
    assert!(
        retried
            .stderr
            .contains("`deploy.monitor` is run again from `deploy.apply` (asked by alice: the deployment's SQL timeout was raised)"),
        "{}",
        retried.stderr
    );
    let calls = home.calls(&run);
    assert_eq!(count(&calls, APPLIES), 2, "exactly one new deployment");
    assert_eq!(
        count(&calls, ASSETS),
        1,
        "the validated package is not uploaded again"
    );
    assert_eq!(count(&calls, REFRESHES), 1, "the refresh is never repeated");

    let succeeded = home.status(&run);
    assert_eq!(succeeded["state"], "succeeded", "{succeeded}");
    let second_deployment = &step(&succeeded, "deploy.apply")["remote"]["activity"];
    assert!(second_deployment.is_string() && *second_deployment != first_deployment);
    let entries = retry_entries(&succeeded);
    assert_eq!(entries.len(), 1, "{succeeded}");
    assert_eq!(entries[0]["by"], "alice");
    assert_eq!(
        entries[0]["reason"],
        "the deployment's SQL timeout was raised"
    );
    assert_eq!(entries[0]["step"], "deploy.apply");
    // `status` says it in words.
    let table = home.run(&["status", &run]);
    assert!(
        table.stdout.contains(
            "`deploy.monitor` is run again from `deploy.apply` (`resume --retry-step`) by alice: reason the deployment's SQL timeout was raised"
        ),
        "{}",
        table.stdout
    );

    // A run that succeeded has nothing to retry.
    let again = home.run(&["resume", &run, "--retry-step"]);
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("is succeeded; `--retry-step` is for a run that failed in a post step or needs attention"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_rejected_package_is_uploaded_again_as_a_new_asset_and_the_os_user_is_recorded() {
    let home = Home::new();
    let applied = home.run(&[
        "apply",
        "--yes",
        "--sim-fault",
        "asset-rejected",
        "plan.yaml",
    ]);
    assert_eq!(applied.code, Some(1), "{}", applied.stderr);
    let run = applied.stdout.trim().to_owned();
    assert!(
        applied
            .stderr
            .contains("LCS rejected the package `build.zip`"),
        "{}",
        applied.stderr
    );
    let rejected = home.status(&run);
    let first_asset = step(&rejected, "deploy.upload")["remote"]["asset"].clone();
    assert!(first_asset.is_string(), "{rejected}");

    let retried = home.run(&["resume", &run, "--retry-step"]);
    assert_eq!(retried.code, Some(0), "{}", retried.stderr);
    let calls = home.calls(&run);
    assert_eq!(count(&calls, ASSETS), 2, "a new upload: {calls:?}");
    assert_eq!(count(&calls, APPLIES), 1, "then the one deployment");
    let succeeded = home.status(&run);
    assert_eq!(succeeded["state"], "succeeded", "{succeeded}");
    let second_asset = &step(&succeeded, "deploy.upload")["remote"]["asset"];
    assert!(
        second_asset.is_string() && *second_asset != first_asset,
        "{succeeded}"
    );
    let entries = retry_entries(&succeeded);
    assert_eq!(entries.len(), 1, "{succeeded}");
    assert_eq!(entries[0]["by"], "ops-oncall", "the OS user without --by");
    assert!(entries[0].get("reason").is_none(), "{}", entries[0]);
}

#[test]
fn a_failed_command_runs_again_on_request() {
    let home = Home::new();
    std::fs::remove_file(home.path().join("ran-once")).expect("no mark: the command fails once");
    let applied = home.run(&["apply", "--yes", "plan.yaml"]);
    assert_eq!(applied.code, Some(1), "{}", applied.stderr);
    let run = applied.stdout.trim().to_owned();
    assert!(
        applied.stderr.contains(&format!(
            "`sh` exited with exit status: 3; `refreshctl resume {run} --retry-step` runs it again"
        )),
        "{}",
        applied.stderr
    );
    let retried = home.run(&[
        "resume",
        &run,
        "--retry-step",
        "--reason",
        "fixed the script",
    ]);
    assert_eq!(retried.code, Some(0), "{}", retried.stderr);
    let succeeded = home.status(&run);
    assert_eq!(succeeded["state"], "succeeded", "{succeeded}");
    assert_eq!(retry_entries(&succeeded)[0]["step"], "command");
    assert_eq!(
        count(&home.calls(&run), APPLIES),
        1,
        "the deployment is not repeated"
    );
}

#[test]
fn a_failed_refresh_is_never_repeated_and_says_what_the_operator_can_do() {
    let home = Home::new();
    let applied = home.run(&[
        "apply",
        "--yes",
        "--sim-fault",
        "refresh-fails",
        "plan.yaml",
    ]);
    assert_eq!(applied.code, Some(1), "{}", applied.stderr);
    let run = applied.stdout.trim().to_owned();
    for advice in [
        "monitor-refresh: the operation ended Failed",
        "check `contoso-uat` in LCS",
        "Rollback",
        "`refreshctl submit plan.yaml` asks for the next window",
        "`refreshctl apply plan.yaml --start-now --reason TEXT`",
    ] {
        assert!(
            applied.stderr.contains(advice),
            "`{advice}`: {}",
            applied.stderr
        );
    }
    let failed = home.status(&run);
    assert!(
        failed["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("refreshctl never repeats a refresh")),
        "status says it too: {failed}"
    );

    let retried = home.run(&["resume", &run, "--retry-step", "--by", "bob"]);
    assert_eq!(retried.code, Some(1), "{}", retried.stderr);
    assert!(
        retried
            .stderr
            .contains("failed in `monitor-refresh`: a refresh is never repeated"),
        "{}",
        retried.stderr
    );
    assert!(
        retried.stderr.contains("hint: check `contoso-uat` in LCS"),
        "{}",
        retried.stderr
    );
    assert_eq!(count(&home.calls(&run), REFRESHES), 1);
    let after = home.status(&run);
    assert_eq!(after["state"], "failed", "nothing changed: {after}");
    assert!(retry_entries(&after).is_empty(), "{after}");
}

/// What a retry through LCS came to: deploy POSTs before and after it, refresh POSTs, the
/// run's status, and the destructive calls in the emulator's model.
struct ThroughLcs {
    deploys_before: usize,
    deploys_after: usize,
    refreshes: usize,
    status: serde_json::Value,
    destructive: usize,
}

/// Applies the plan through LCS (the emulator in another process), whose first `failed`
/// answers about a deployment's status say `Failed` (scripted, as LCS gives it), then asks for
/// a retry of the failed step as carol.
fn retry_through_lcs(failed: u32) -> ThroughLcs {
    let emulator = EmulatorProcess::start(&[
        "--speed",
        "100000",
        "--plans",
        concat!(env!("CARGO_MANIFEST_DIR"), "/plans"),
        "--metadata-per-minute",
        "0",
    ]);
    let failed_answer = serde_json::json!({
        "IsSuccess": true, "OperationActivityId": "x", "ErrorMessage": null,
        "VersionEOL": "9999-12-31T23:59:59.9999999", "ActivityId": "a",
        "OperationStatus": "Failed", "CompletionDate": null,
    });
    emulator.script_faults(&serde_json::json!([{
        "path": "/environment/v2/fetchstatus/",
        "method": "GET",
        "times": failed,
        "fault": { "kind": "json", "body": failed_answer },
    }]));
    let home = Home::new();
    let lcs = |args: &[&str]| {
        let mut command = home.command(args);
        command
            .env("REFRESHCTL_ADAPTER", "lcs")
            .envs(emulator.env());
        ran(&command.output().expect("runs"))
    };
    let deploys = || {
        emulator
            .requests()
            .iter()
            .filter(|request| {
                request.method == "POST" && request.path.contains("/environment/v2/applyupdate/")
            })
            .count()
    };
    let applied = lcs(&[
        "apply",
        "--yes",
        "--start-now",
        "--reason",
        "retry test",
        "--poll-interval",
        "20ms",
        "plan.yaml",
    ]);
    assert_eq!(applied.code, Some(1), "{}", applied.stderr);
    assert!(
        applied
            .stderr
            .contains("deploy.monitor: the deployment ended Failed"),
        "{}",
        applied.stderr
    );
    let run = applied.stdout.trim().to_owned();
    let deploys_before = deploys();
    let retried = lcs(&[
        "resume",
        &run,
        "--retry-step",
        "--by",
        "carol",
        "--reason",
        "LCS support cleared the servicing lock",
        "--poll-interval",
        "20ms",
    ]);
    assert_eq!(retried.code, Some(0), "{}", retried.stderr);
    let shown = lcs(&["status", &run, "--format", "json"]);
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    ThroughLcs {
        deploys_before,
        deploys_after: deploys(),
        refreshes: emulator
            .requests()
            .iter()
            .filter(|request| request.path.contains("/databasemovement/v1/refresh/"))
            .count(),
        status: serde_json::from_str(&shown.stdout).expect("json"),
        destructive: emulator.model().destructive_calls().count(),
    }
}

/// LCS says the deployment failed, and again when the retry asks how it stands: the retry
/// applies it once more and succeeds.
#[test]
fn through_lcs_a_deployment_that_failed_once_is_applied_exactly_once_more() {
    let through = retry_through_lcs(2);
    assert_eq!(through.deploys_before, 1);
    assert_eq!(through.deploys_after, 2, "exactly one new deploy POST");
    assert_eq!(through.refreshes, 1, "the refresh is never repeated");
    let status = &through.status;
    assert_eq!(status["state"], "succeeded", "{status}");
    let entries = retry_entries(status);
    assert_eq!(entries.len(), 1, "{status}");
    assert_eq!(entries[0]["by"], "carol");
    assert_eq!(
        entries[0]["reason"],
        "LCS support cleared the servicing lock"
    );
    assert_eq!(entries[0]["step"], "deploy.apply");
    assert!(
        step(status, "deploy.apply")["remote"]["activity"].is_string(),
        "{status}"
    );
    assert_eq!(through.destructive, 3, "one refresh, two deployments");
}

/// LCS said the deployment failed, but when the retry asks, it says otherwise: the deployment is
/// only watched again, never applied twice.
#[test]
fn through_lcs_a_deployment_lcs_no_longer_calls_failed_is_watched_again_not_applied_twice() {
    let through = retry_through_lcs(1);
    assert_eq!(through.deploys_before, 1);
    assert_eq!(through.deploys_after, 1, "no new deploy POST");
    let status = &through.status;
    assert_eq!(status["state"], "succeeded", "{status}");
    let entries = retry_entries(status);
    assert_eq!(entries.len(), 1, "{status}");
    assert_eq!(entries[0]["step"], "deploy.monitor", "{status}");
    assert_eq!(through.destructive, 2, "one refresh, one deployment");
}
