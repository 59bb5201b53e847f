//! The `export` step (issue 14 item 5): a copy of the target's database to the project's asset
//! library as a bacpac, before the refresh (`pre_steps`) or after it (`post_steps`), with the
//! real binary: through the `lcs` adapter against the emulator process, whose request log
//! proves the calls; on the simulator, where a failed export stops the run before the
//! refresh; and in validation and the preview.

#[path = "common/emulator_process.rs"]
#[expect(dead_code, reason = "this test scripts no faults in the emulator")]
mod emulator_process;

use std::path::Path;

use assert_cmd::Command;
use emulator_process::EmulatorProcess;
use refreshctl::sim::Call;

const PLAN: &str = "\
version: 1
name: uat-with-copies
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {start: 2026-12-05T22:00:00Z, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
pre_steps:
  - export: {name: \"{{ environment.name }}-before-refresh\"}
post_steps:
  - export
  - reset-financial-reporting
";

fn write_plan(directory: &Path, text: &str) -> String {
    let path = directory.join("plan.yaml");
    std::fs::write(&path, text).expect("plan");
    path.to_str().expect("utf-8").to_owned()
}

fn refreshctl(directory: &Path, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", directory.join("cache"))
        .env("REFRESHCTL_STATE", directory.join("state.db"))
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("REFRESHCTL_FAILPOINT")
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .args(args)
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("runs")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn status(directory: &Path, env: &[(&str, String)], run: &str) -> serde_json::Value {
    let output = refreshctl(directory, env, &["status", run, "--format", "json"]);
    serde_json::from_slice(&output.stdout).expect("status json")
}

fn step<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|step| step["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {status}"))
}

/// `apply --start-now` of `plan` through the lcs adapter; returns the run id, after checking
/// the run waits for the Financial reporting reset (LCS has no call for it) and says the backup
/// name of the pre export.
fn apply_through_lcs(directory: &Path, env: &[(&str, String)], plan: &str) -> String {
    let applied = refreshctl(
        directory,
        env,
        &[
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "export test",
            "--poll-interval",
            "20ms",
            plan,
        ],
    );
    assert_eq!(applied.status.code(), Some(1), "{}", stderr(&applied));
    let log = stderr(&applied);
    assert!(
        log.contains("as `contoso-uat-before-refresh.bacpac`"),
        "the backup name is said: {log}"
    );
    String::from_utf8_lossy(&applied.stdout).trim().to_owned()
}

#[test]
fn exports_before_and_after_the_refresh_go_through_the_lcs_api_once_each() {
    let directory = tempfile::tempdir().expect("temp");
    let plan = write_plan(directory.path(), PLAN);
    let emulator = EmulatorProcess::start(&[
        "--speed",
        "100000",
        "--plans",
        &plan,
        "--metadata-per-minute",
        "0",
    ]);
    let mut env: Vec<(&str, String)> = emulator.env();
    env.push(("REFRESHCTL_ADAPTER", "lcs".into()));
    let run = apply_through_lcs(directory.path(), &env, &plan);
    let status = status(directory.path(), &env, &run);
    for id in [
        "export.start",
        "export.monitor",
        "start-refresh",
        "monitor-refresh",
        "export#2.start",
        "export#2.monitor",
    ] {
        assert_eq!(step(&status, id)["state"], "succeeded", "{id}: {status}");
    }

    // The request log: the pre export, polled to its end, before the refresh; the post export
    // after the refresh ended; each sent once.
    let requests = emulator.requests();
    let position = |wanted: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .enumerate()
            .filter(|(_, request)| request.method == "POST" && wanted(&request.path))
            .map(|(at, _)| at)
            .collect::<Vec<_>>()
    };
    let exports = position(&|path| {
        path.starts_with("/databasemovement/v1/export/project/1234567/environment/")
    });
    let refreshes = position(&|path| path.starts_with("/databasemovement/v1/refresh/"));
    assert_eq!(exports.len(), 2, "{requests:?}");
    assert_eq!(refreshes.len(), 1, "{requests:?}");
    assert!(
        requests[exports[0]]
            .path
            .ends_with("/backupName/contoso-uat-before-refresh"),
        "{:?}",
        requests[exports[0]]
    );
    // The default name: the target, the window's start (now, with --start-now) and the step.
    let default_name = requests[exports[1]]
        .path
        .rsplit('/')
        .next()
        .expect("a name");
    assert!(
        default_name.starts_with("contoso-uat-") && default_name.ends_with("Z-export-2"),
        "{default_name}"
    );
    assert!(exports[0] < refreshes[0] && refreshes[0] < exports[1]);
    let polls_between = requests[exports[0]..refreshes[0]]
        .iter()
        .filter(|request| {
            request
                .path
                .starts_with("/databasemovement/v1/fetchstatus/")
        })
        .count();
    assert!(
        polls_between >= 1,
        "the export was monitored to its end first"
    );
    let model = emulator.model();
    let calls: Vec<&Call> = model
        .calls
        .iter()
        .map(|record| &record.call)
        .filter(|call| call.is_destructive())
        .collect();
    assert!(
        matches!(
            calls.as_slice(),
            [
                Call::StartExport { backup, .. },
                Call::StartRefresh { .. },
                Call::StartExport { .. },
            ] if backup == "contoso-uat-before-refresh"
        ),
        "{calls:?}"
    );
}

#[test]
fn a_failed_export_before_the_refresh_stops_the_run_before_anything_is_erased() {
    let directory = tempfile::tempdir().expect("temp");
    let plan = write_plan(directory.path(), PLAN);
    let applied = refreshctl(
        directory.path(),
        &[],
        &[
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "export test",
            "--sim-fault",
            "refresh-fails",
            &plan,
        ],
    );
    assert_eq!(applied.status.code(), Some(1), "{}", stderr(&applied));
    let run = String::from_utf8_lossy(&applied.stdout).trim().to_owned();
    let status = status(directory.path(), &[], &run);
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(
        step(&status, "export.monitor")["state"],
        "failed",
        "{status}"
    );
    assert!(
        step(&status, "export.monitor")["error"]
            .as_str()
            .is_some_and(|error| error.contains("Failed")),
        "{status}"
    );
    for id in ["start-refresh", "monitor-refresh", "export#2.start"] {
        let later = step(&status, id);
        assert_eq!(later["state"], "pending", "{id}: {status}");
        assert!(later["started"].is_null(), "{id}: {status}");
    }
}

#[test]
fn validation_refuses_steps_that_cannot_run_before_the_refresh_bad_names_and_a_fourth_operation() {
    let directory = tempfile::tempdir().expect("temp");
    let bad = PLAN
        .replace(
            "  - export: {name: \"{{ environment.name }}-before-refresh\"}\n",
            "  - export: {name: \"{{ environment.name }}/nightly.bacpac\"}\n  - deploy: {asset: 3a1f, name: early}\n",
        );
    let plan = write_plan(directory.path(), &bad);
    let output = refreshctl(
        directory.path(),
        &[],
        &[
            "validate",
            "--format",
            "json",
            "--now",
            "2026-11-24T12:00:00Z",
            &plan,
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let messages: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|diagnostic| {
            (
                diagnostic["rule"].as_str().unwrap_or_default().to_owned(),
                diagnostic["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert!(
        messages.iter().any(|(rule, message)| rule == "schema"
            && message.contains("`deploy` step cannot run before the refresh")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|(rule, message)| rule == "schema"
                && message.contains("contoso-uat/nightly.bacpac")),
        "{messages:?}"
    );

    let four = PLAN.replace(
        "post_steps:\n  - export\n",
        "post_steps:\n  - export\n  - export\n  - export\n",
    );
    let plan = write_plan(directory.path(), &four);
    let output = refreshctl(
        directory.path(),
        &[],
        &[
            "validate",
            "--format",
            "json",
            "--now",
            "2026-11-24T12:00:00Z",
            &plan,
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .any(|diagnostic| diagnostic["rule"] == "operation-limit"),
        "a refresh and four exports: {report}"
    );
    let three = PLAN.replace(
        "post_steps:\n  - export\n",
        "post_steps:\n  - export\n  - reprovision\n",
    );
    let plan = write_plan(directory.path(), &three);
    let output = refreshctl(
        directory.path(),
        &[],
        &[
            "validate",
            "--format",
            "json",
            "--now",
            "2026-11-24T12:00:00Z",
            &plan,
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        !report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .any(|diagnostic| diagnostic["rule"] == "operation-limit"),
        "a refresh and two exports are within the limit: {report}"
    );
}

#[test]
fn the_preview_shows_the_exports_in_order_with_their_calls() {
    let directory = tempfile::tempdir().expect("temp");
    let plan = write_plan(directory.path(), PLAN);
    let output = refreshctl(
        directory.path(),
        &[],
        &[
            "plan",
            "--format",
            "json",
            "--now",
            "2026-11-24T12:00:00Z",
            &plan,
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let preview: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let ids: Vec<&str> = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| step["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "preflight",
            "submit",
            "wait-for-window",
            "export.start",
            "export.monitor",
            "start-refresh",
            "monitor-refresh",
            "export#2.start",
            "export#2.monitor",
            "reset-financial-reporting",
        ]
    );
    let text = refreshctl(
        directory.path(),
        &[],
        &["plan", "--now", "2026-11-24T12:00:00Z", &plan],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("databasemovement/v1/export/project/1234567/environment/{target id}/backupName/{backup name}"),
        "{text}"
    );
    assert!(
        text.contains("{{ environment.name }}-before-refresh"),
        "{text}"
    );
}

/// A crash right after LCS accepted the export, and one right after the intent was recorded
/// (the call never sent): the resumed run adopts the first export from the environment's
/// history, and asks an operator about the second; neither export is sent twice.
#[test]
fn an_export_whose_answer_was_lost_is_settled_from_history_never_sent_twice() {
    let plan_text = PLAN.replace("  - reset-financial-reporting\n", "");
    for point in ["after-call:export.start", "after-intent:export.start"] {
        let directory = tempfile::tempdir().expect("temp");
        let plan = write_plan(directory.path(), &plan_text);
        let emulator = EmulatorProcess::start(&[
            "--speed",
            "100000",
            "--plans",
            &plan,
            "--metadata-per-minute",
            "0",
        ]);
        let mut env: Vec<(&str, String)> = emulator.env();
        env.push(("REFRESHCTL_ADAPTER", "lcs".into()));
        let mut crashing = env.clone();
        crashing.push(("REFRESHCTL_FAILPOINT", point.into()));
        let args = [
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "crash test",
            "--poll-interval",
            "20ms",
            plan.as_str(),
        ];
        let crashed = refreshctl(directory.path(), &crashing, &args);
        assert_ne!(
            crashed.status.code(),
            Some(0),
            "{point}: {}",
            stderr(&crashed)
        );
        let runs = refreshctl(directory.path(), &env, &["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
        let run = runs[0]["id"].as_str().expect("one run").to_owned();
        let resume = |extra: &[&str]| {
            let mut args = vec!["resume", "--poll-interval", "20ms"];
            args.extend_from_slice(extra);
            args.push(&run);
            refreshctl(directory.path(), &env, &args)
        };
        let resumed = resume(&[]);
        if point.starts_with("after-intent") {
            assert_eq!(
                resumed.status.code(),
                Some(1),
                "{point}: {}",
                stderr(&resumed)
            );
            assert!(
                stderr(&resumed).contains("needs attention"),
                "{}",
                stderr(&resumed)
            );
            let retried = resume(&["--retry-step"]);
            assert_eq!(
                retried.status.code(),
                Some(0),
                "{point}: {}",
                stderr(&retried)
            );
        } else {
            assert_eq!(
                resumed.status.code(),
                Some(0),
                "{point}: {}",
                stderr(&resumed)
            );
            assert!(
                stderr(&resumed).contains("the call was made before the process stopped"),
                "{}",
                stderr(&resumed)
            );
        }
        assert_each_export_once(&emulator, point);
    }
}

/// The emulator's record after a crash and a resume: the pre export sent once, and the calls
/// that changed the environment, in order, each once.
fn assert_each_export_once(emulator: &EmulatorProcess, point: &str) {
    let exports = emulator
        .requests()
        .iter()
        .filter(|request| {
            request.method == "POST"
                && request
                    .path
                    .ends_with("/backupName/contoso-uat-before-refresh")
        })
        .count();
    assert_eq!(exports, 1, "{point}: the pre export was sent once");
    let model = emulator.model();
    let started: Vec<&Call> = model
        .calls
        .iter()
        .map(|record| &record.call)
        .filter(|call| call.is_destructive())
        .collect();
    assert!(
        matches!(
            started.as_slice(),
            [
                Call::StartExport { .. },
                Call::StartRefresh { .. },
                Call::StartExport { .. }
            ]
        ),
        "{point}: {started:?}"
    );
}
