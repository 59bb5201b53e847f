//! The real binary with `--adapter lcs` against `refreshctl emulator` in another process: the
//! example plans to `succeeded` with the exact calls LCS gets, the operator's confirmation,
//! sign-in failures, and SIGKILL at every step boundary and inside the upload while the emulator
//! keeps running, after which its log proves each change happened exactly once.

#[path = "common/changes.rs"]
mod changes;
#[path = "common/emulator_process.rs"]
mod emulator_process;
#[path = "common/http_server.rs"]
mod http_server;

use std::path::Path;

use assert_cmd::Command;
use changes::count;
use emulator_process::EmulatorProcess;
use refreshctl::sim::Call;

/// Model time runs 100,000 times faster: a 95-minute refresh takes 57 ms.
const SPEED: &str = "100000";

fn emulator(plans: &str) -> EmulatorProcess {
    EmulatorProcess::start(&[
        "--speed",
        SPEED,
        "--plans",
        plans,
        "--metadata-per-minute",
        "0",
    ])
}

struct Dir {
    directory: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Self {
            directory: tempfile::tempdir().expect("temp"),
        }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn refreshctl(
        &self,
        emulator: &EmulatorProcess,
        failpoint: Option<&str>,
        cwd: &Path,
        args: &[&str],
    ) -> std::process::Output {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(cwd)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("REFRESHCTL_ADAPTER", "lcs")
            .env("REFRESHCTL_STATE", self.path().join("state.db"))
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
            .envs(emulator.env())
            .args(args)
            .timeout(std::time::Duration::from_mins(1));
        match failpoint {
            Some(point) => command.env("REFRESHCTL_FAILPOINT", point),
            None => command.env_remove("REFRESHCTL_FAILPOINT"),
        };
        command.output().expect("runs")
    }
}

/// Whether `text` has a `sig=` query value that is not hidden as `***`.
fn holds_a_signature(text: &str) -> bool {
    text.match_indices("sig=")
        .any(|(at, _)| !text[at + "sig=".len()..].starts_with("***"))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_id(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The calls LCS got, each as `METHOD path-kind`, polls of the same thing in a row shown once.
fn sequence(emulator: &EmulatorProcess) -> Vec<String> {
    let mut calls: Vec<String> = Vec::new();
    for request in emulator.requests() {
        let path = &request.path;
        let kind = [
            ("/oauth2/token", "token"),
            ("/environmentinfo/v1/detail/", "environment"),
            ("/environmentinfo/v1/history/", "history"),
            ("/databasemovement/v1/refresh/", "start refresh"),
            ("/databasemovement/v1/fetchstatus/", "refresh status"),
            ("/environment/v2/applyupdate/", "apply update"),
            ("/environment/v2/fetchstatus/", "deployment status"),
            ("/GetSharedAssets", "shared assets"),
            ("/GetFileAsset/", "file asset"),
            ("/CreateFileAsset/", "create asset"),
            ("/CommitFileAsset/", "commit asset"),
            ("/GetFileAssetValidationStatus/", "validation status"),
            ("/GetAssets/", "project assets"),
        ]
        .iter()
        .find(|(part, _)| path.contains(part))
        .map_or_else(
            || {
                if request.query.contains("comp=blocklist") {
                    "put block list".to_owned()
                } else if request.query.contains("comp=block") {
                    "put block".to_owned()
                } else {
                    "blob".to_owned()
                }
            },
            |(_, kind)| (*kind).to_owned(),
        );
        let line = format!("{} {kind}", request.method);
        let poll = kind.ends_with("status");
        if !(poll && calls.last() == Some(&line)) {
            calls.push(line);
        }
    }
    calls
}

/// The calls LCS gets for `contoso-uat-weekly`, in order.
const WEEKLY_CALLS: [&str; 26] = [
    "POST token",
    // preflight: target, source
    "GET environment",
    "GET environment",
    // start-refresh: the target's type checked live, then the call
    "GET environment",
    "POST start refresh",
    "GET refresh status",
    // reprovision.download
    "GET shared assets",
    "GET file asset",
    "GET blob",
    // reprovision.upload: create, one block, block list, commit, validation
    "POST create asset",
    "PUT put block",
    "PUT put block list",
    "POST commit asset",
    "GET validation status",
    "GET environment",
    "POST apply update",
    "GET deployment status",
    // resumed after the reset was approved: a new process signs in again
    "POST token",
    "POST create asset",
    "PUT put block",
    "PUT put block list",
    "POST commit asset",
    "GET validation status",
    "GET environment",
    "POST apply update",
    "GET deployment status",
];

#[test]
fn the_example_plans_apply_to_succeeded_through_the_lcs_api() {
    let emulator = emulator("plans");
    let dir = Dir::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let apply = |plan: &str| {
        dir.refreshctl(
            &emulator,
            None,
            root,
            &[
                "-vv",
                "apply",
                "--yes",
                "--start-now",
                "--reason",
                "e2e test",
                "--poll-interval",
                "20ms",
                plan,
            ],
        )
    };

    // contoso-uat-weekly: refresh, reprovisioning, a manual Financial reporting reset (LCS has
    // no call for it), a deployment, a command and a manual step.
    let applied = apply("plans/contoso-uat-weekly.yaml");
    assert_eq!(applied.status.code(), Some(1), "{}", stderr(&applied));
    let id = run_id(&applied);
    // Every HTTP attempt is logged with -vv, and no token, password or SAS signature with it.
    let log = stderr(&applied);
    assert!(
        log.contains("answered") && log.contains("start refresh"),
        "{log}"
    );
    for secret in ["emu-at-", "emu-rt-", "LCS_PASSWORD", "password=emulator"] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
    // URLs are logged with their query values hidden (`sig=***`), never a signature.
    assert!(
        !holds_a_signature(&log),
        "a SAS signature in the log:\n{log}"
    );
    assert!(
        stderr(&applied).contains("waits for `reset-financial-reporting`"),
        "{}",
        stderr(&applied)
    );
    for step in ["reset-financial-reporting", "manual"] {
        let approved = dir.refreshctl(&emulator, None, root, &["approve", &id, step]);
        assert_eq!(approved.status.code(), Some(0), "{}", stderr(&approved));
        let resumed = dir.refreshctl(
            &emulator,
            None,
            root,
            &["resume", "--poll-interval", "20ms", &id],
        );
        let expected = i32::from(step != "manual");
        assert_eq!(
            resumed.status.code(),
            Some(expected),
            "{step}: {}",
            stderr(&resumed)
        );
    }
    let status = dir.refreshctl(&emulator, None, root, &["status", &id, "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["state"], "succeeded", "{status}");

    assert_eq!(sequence(&emulator), WEEKLY_CALLS);
    let model = emulator.model();
    assert_eq!(
        model.destructive_calls().count(),
        3,
        "one refresh, two deployments"
    );

    // fabrikam-training-monthly, 1611: refresh and reprovisioning, then the manual reset.
    let applied = apply("plans/fabrikam-1611-monthly.yaml");
    assert_eq!(applied.status.code(), Some(1), "{}", stderr(&applied));
    let id = run_id(&applied);
    let approved = dir.refreshctl(
        &emulator,
        None,
        root,
        &["approve", &id, "reset-financial-reporting"],
    );
    assert_eq!(approved.status.code(), Some(0));
    let resumed = dir.refreshctl(&emulator, None, root, &["resume", &id]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert_eq!(emulator.model().destructive_calls().count(), 5);

    // contoso-test-restore is a point-in-time restore: the LCS API has none.
    let validated = dir.refreshctl(
        &emulator,
        None,
        root,
        &["validate", "plans/contoso-test-restore.yaml"],
    );
    assert_eq!(validated.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&validated.stdout).contains("adapter-unsupported"));

    // No secret in anything the runs left: state, output, logs.
    let state = std::fs::read(dir.path().join("state.db")).expect("state");
    let state = String::from_utf8_lossy(&state);
    for secret in ["emulator", "emu-at-", "emu-rt-"] {
        assert!(!state.contains(secret), "`{secret}` in the state file");
    }
    assert!(
        !holds_a_signature(&state),
        "a SAS signature in the state file"
    );
}

#[test]
fn lcs_asks_for_the_target_name_and_stops_on_refused_credentials() {
    let emulator = emulator("plans");
    let dir = Dir::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args = [
        "apply",
        "--start-now",
        "--reason",
        "test",
        "plans/contoso-uat-weekly.yaml",
    ];
    let unconfirmed = dir.refreshctl(&emulator, None, root, &args);
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(
        stderr(&unconfirmed).contains("pass --yes to confirm"),
        "{}",
        stderr(&unconfirmed)
    );

    let mut command = Command::cargo_bin("refreshctl").expect("binary");
    let refused = command
        .current_dir(root)
        .env("REFRESHCTL_STATE", dir.path().join("state.db"))
        .envs(emulator.env())
        .env("LCS_PASSWORD", "wrong-password-42")
        .args(["--adapter", "lcs", "apply", "--yes"])
        .args(&args[1..])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("AADSTS50126"),
        "{}",
        stderr(&refused)
    );
    assert!(!stderr(&refused).contains("wrong-password-42"));
    let runs = dir.refreshctl(&emulator, None, root, &["runs", "--format", "json"]);
    assert_eq!(
        String::from_utf8_lossy(&runs.stdout).trim(),
        "[]",
        "nothing was recorded"
    );
    assert_eq!(emulator.model().destructive_calls().count(), 0);
}

const CRASH_PLAN: &str = "version: 1
name: crash-uat
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - reprovision
  - deploy: {file: build.zip, name: Build 42}
  - command: {run: [\"true\"]}
";

fn killed(output: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    output.status.signal() == Some(9)
}

/// Crashes refreshctl at `point` while the emulator keeps running, resumes, and checks the
/// emulator's own record.
fn crash_and_resume(point: &str) {
    let dir = Dir::new();
    std::fs::write(dir.path().join("plan.yaml"), CRASH_PLAN).expect("plan");
    std::fs::write(dir.path().join("build.zip"), vec![3_u8; 9 * 1024 * 1024]).expect("package");
    let plan = dir.path().join("plan.yaml");
    let emulator = emulator(plan.to_str().expect("utf-8"));
    let cwd = dir.path().to_path_buf();
    let crashed = dir.refreshctl(
        &emulator,
        Some(point),
        &cwd,
        &[
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "crash test",
            "--poll-interval",
            "20ms",
            "plan.yaml",
        ],
    );
    assert!(
        killed(&crashed),
        "{point}: the failpoint was not reached: {}",
        stderr(&crashed)
    );
    let runs = dir.refreshctl(&emulator, None, &cwd, &["runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
    let id = runs[0]["id"].as_str().expect("one run").to_owned();
    // The blocks LCS acknowledged before the crash: a resumed upload never sends them again.
    let acknowledged: Vec<(String, String)> = runs[0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .flat_map(|step| {
            let asset = step["remote"]["asset"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            step["remote"]["blocks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |block| {
                    block
                        .as_str()
                        .map(|block| (asset.clone(), block.to_owned()))
                })
        })
        .collect();
    let resume = |extra: &[&str]| {
        let mut args = vec!["resume", "--poll-interval", "20ms"];
        args.extend_from_slice(extra);
        args.push(&id);
        dir.refreshctl(&emulator, None, &cwd, &args)
    };
    let resumed = resume(&[]);
    if point.starts_with("after-intent:start-refresh")
        || point.starts_with("after-intent:reprovision.apply")
    {
        assert_eq!(
            resumed.status.code(),
            Some(1),
            "{point}: {}",
            stderr(&resumed)
        );
        assert!(
            stderr(&resumed).contains("needs attention"),
            "{point}: {}",
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
    }
    assert_each_change_once(&emulator, point, &acknowledged);
}

/// The emulator's record: every change made once, every destructive request sent once.
fn assert_each_change_once(
    emulator: &EmulatorProcess,
    point: &str,
    acknowledged: &[(String, String)],
) {
    let calls: Vec<Call> = emulator
        .model()
        .calls
        .into_iter()
        .map(|record| record.call)
        .collect();
    changes::assert_each_change_once(&calls, point);
    // Blocks go up to four at a time: those in flight when the process died (never
    // acknowledged, so not recorded) are sent again; acknowledged ones never are.
    let puts = count(&calls, |call| matches!(call, Call::PutBlock { .. }));
    assert!(
        (1 + 3..=1 + 3 + 3).contains(&puts),
        "{point}: {puts} blocks"
    );
    for (asset, block) in acknowledged {
        let sent = calls
            .iter()
            .filter(|call| {
                matches!(call, Call::PutBlock { asset: to, block: sent } if to == asset && sent == block)
            })
            .count();
        assert_eq!(sent, 1, "{point}: acknowledged block {block} of {asset}");
    }
    let requests = emulator.requests();
    let posts = |part: &str| {
        requests
            .iter()
            .filter(|request| request.method == "POST" && request.path.contains(part))
            .count()
    };
    assert_eq!(
        posts("/databasemovement/v1/refresh/"),
        1,
        "{point}: refresh requests"
    );
    assert_eq!(
        posts("/environment/v2/applyupdate/"),
        2,
        "{point}: apply requests"
    );
}

#[test]
fn sigkill_at_every_step_boundary_with_the_emulator_running() {
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
        "deploy.upload",
        "deploy.apply",
        "deploy.monitor",
    ] {
        crash_and_resume(&format!("after-step:{step}"));
    }
}

#[test]
fn sigkill_inside_uploads_polls_and_destructive_calls_with_the_emulator_running() {
    for point in [
        "waiting:monitor-refresh",
        "after-create:reprovision.upload",
        "after-create:deploy.upload",
        "after-block:deploy.upload",
        "waiting:deploy.monitor",
        "after-intent:start-refresh",
        "after-call:start-refresh",
        "after-intent:reprovision.apply",
        "after-call:reprovision.apply",
        "after-call:deploy.apply",
    ] {
        crash_and_resume(point);
    }
}

// A blip is not a rejection: the real binary when LCS cannot be reached.

/// A loopback address nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

/// A refresh of the emulator's `contoso-uat` with no post steps, notifying `hooks` of every
/// event, in the window `window`.
fn blip_plan(window: &str, hooks: &str) -> String {
    format!(
        "version: 1
name: blip-uat
project: 1234567
environment: {{name: contoso-uat, type: sandbox, release: \"10.0.41\"}}
source: {{name: contoso-prod, type: production, release: \"10.0.41\"}}
window: {window}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
notifications:
  - url: {hooks}/hooks/refresh
"
    )
}

/// The binary in `dir` with the lcs adapter on `emulator`, `extra` variables over its own; every
/// call is tried once (`LCS_RETRY_DEADLINE=0s`).
fn lcs(
    dir: &Dir,
    emulator: &EmulatorProcess,
    extra: &[(&str, String)],
    args: &[&str],
) -> std::process::Output {
    Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("REFRESHCTL_ADAPTER", "lcs")
        .env("REFRESHCTL_STATE", dir.path().join("state.db"))
        .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
        .env("LCS_RETRY_DEADLINE", "0s")
        .env_remove("REFRESHCTL_FAILPOINT")
        .env_remove("REFRESHCTL_TEST_CLOCK")
        .envs(emulator.env())
        .envs(extra.iter().map(|(name, value)| (*name, value.as_str())))
        .args(args)
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("runs")
}

fn status_of(dir: &Dir, emulator: &EmulatorProcess, run: &str) -> serde_json::Value {
    let output = lcs(dir, emulator, &[], &["status", run, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("json")
}

/// How many entries of a kind the run's log has.
fn logged(status: &serde_json::Value, kind: &str) -> usize {
    status["log"]
        .as_array()
        .expect("a log")
        .iter()
        .filter(|entry| entry["kind"] == kind)
        .count()
}

fn events(server: &http_server::Server) -> Vec<String> {
    server
        .bodies()
        .iter()
        .map(|body| body["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn apply_that_cannot_reach_lcs_exits_3_and_the_run_resumes_once_it_can() {
    let dir = Dir::new();
    let hooks = http_server::Server::start(0);
    let window = "{cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}";
    std::fs::write(dir.path().join("plan.yaml"), blip_plan(window, &hooks.url)).expect("plan");
    let emulator = emulator(dir.path().join("plan.yaml").to_str().expect("utf-8"));
    // Signing in works; the API's port is closed.
    let down = [("LCS_API_URL", closed_port())];
    let apply = [
        "apply",
        "--yes",
        "--start-now",
        "--reason",
        "blip test",
        "--poll-interval",
        "20ms",
        "plan.yaml",
    ];
    let applied = lcs(&dir, &emulator, &down, &apply);
    assert_eq!(applied.status.code(), Some(3), "{}", stderr(&applied));
    let run = run_id(&applied);
    assert!(
        stderr(&applied).contains(&format!("run `{run}` is delayed: the target `contoso-uat`"))
            && stderr(&applied).contains(&format!("`refreshctl resume {run}` tries again")),
        "{}",
        stderr(&applied)
    );
    let status = status_of(&dir, &emulator, &run);
    assert_eq!(status["state"], "submitted", "{status}");
    assert_eq!(logged(&status, "delayed"), 1, "{status}");
    assert_eq!(events(&hooks), ["submitted", "delayed"]);

    // Still down: exit 3 again, nothing more logged or sent.
    let resumed = lcs(&dir, &emulator, &down, &["resume", &run]);
    assert_eq!(resumed.status.code(), Some(3), "{}", stderr(&resumed));
    let status = status_of(&dir, &emulator, &run);
    assert_eq!(status["state"], "submitted");
    assert_eq!(logged(&status, "delayed"), 1, "{status}");
    assert_eq!(events(&hooks), ["submitted", "delayed"]);

    // LCS is back: the same run goes on to the end.
    let resumed = lcs(
        &dir,
        &emulator,
        &[],
        &["resume", &run, "--poll-interval", "20ms"],
    );
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert_eq!(status_of(&dir, &emulator, &run)["state"], "succeeded");
    assert_eq!(
        events(&hooks),
        ["submitted", "delayed", "accepted", "started", "succeeded"]
    );
    assert_eq!(emulator.model().destructive_calls().count(), 1);
}

#[test]
fn tick_during_an_outage_keeps_the_run_submitted_and_logs_and_notifies_it_once() {
    let dir = Dir::new();
    let hooks = http_server::Server::start(0);
    // Time runs 600 times faster for refreshctl: the waits between attempts (1 min, 2 min) pass
    // in a tenth of a second or two, while the window, 30 hours on, stays far off.
    let origin = chrono::Utc::now();
    let start = (origin + chrono::TimeDelta::hours(30)).format("%Y-%m-%dT%H:%M:00Z");
    let window = format!("{{start: {start}, duration: 6h}}");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(&plans).expect("plans");
    std::fs::write(plans.join("blip.yaml"), blip_plan(&window, &hooks.url)).expect("plan");
    let emulator = emulator(plans.to_str().expect("utf-8"));
    // LCS answers the first look at the target with a 503 and the second with a body that is
    // not JSON; then it is back.
    let detail = "/environmentinfo/v1/detail/";
    emulator.script_faults(&serde_json::json!([
        { "path": detail, "times": 1, "fault": { "kind": "status", "status": 503 } },
        { "path": detail, "times": 1, "fault": { "kind": "garbage" } },
    ]));
    let clock = [(
        "REFRESHCTL_TEST_CLOCK",
        format!("{},600", origin.to_rfc3339()),
    )];
    let tick = || {
        lcs(
            &dir,
            &emulator,
            &clock,
            &["tick", "--plans", "plans", "--format", "json"],
        )
    };
    let looks = || {
        emulator
            .requests()
            .iter()
            .filter(|request| request.path.contains(detail))
            .count()
    };

    let first = tick();
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    let run = report["submitted"][0]
        .as_str()
        .expect("submitted")
        .to_owned();
    assert_eq!(report["advanced"][0]["state"], "submitted", "{report}");
    assert!(
        report["advanced"][0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("HTTP 503")),
        "{report}"
    );
    assert_eq!(report["rejected"], serde_json::json!([]));
    let status = status_of(&dir, &emulator, &run);
    assert_eq!(status["state"], "submitted");
    assert_eq!(logged(&status, "delayed"), 1, "{status}");

    // Ticks until the run was tried again (it is due a simulated minute later): still down.
    for _ in 0..100 {
        if looks() >= 2 {
            break;
        }
        let again = tick();
        assert!(
            matches!(again.status.code(), Some(0 | 3)),
            "{}",
            stderr(&again)
        );
    }
    assert_eq!(looks(), 2, "tried again once the wait was over");
    let status = status_of(&dir, &emulator, &run);
    assert_eq!(status["state"], "submitted");
    assert_eq!(logged(&status, "delayed"), 1, "no second entry: {status}");
    assert_eq!(events(&hooks), ["submitted", "delayed"]);

    // LCS is back: the next tick that is due accepts the run.
    let mut state = String::new();
    for _ in 0..100 {
        let again = tick();
        let report: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
        if let Some(advanced) = report["advanced"].as_array().and_then(|all| all.first()) {
            state = advanced["state"].as_str().unwrap_or_default().to_owned();
            if state != "submitted" {
                assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
                break;
            }
        }
    }
    assert_eq!(state, "accepted");
    assert_eq!(events(&hooks), ["submitted", "delayed", "accepted"]);
    let status = status_of(&dir, &emulator, &run);
    assert_eq!(logged(&status, "delayed"), 1, "{status}");
    assert_eq!(emulator.model().destructive_calls().count(), 0);
}

#[test]
fn tick_against_a_closed_port_exits_3_and_rejects_nothing() {
    let dir = Dir::new();
    let hooks = http_server::Server::start(0);
    let origin = chrono::Utc::now();
    let start = (origin + chrono::TimeDelta::hours(30)).format("%Y-%m-%dT%H:%M:00Z");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(&plans).expect("plans");
    std::fs::write(
        plans.join("blip.yaml"),
        blip_plan(&format!("{{start: {start}, duration: 6h}}"), &hooks.url),
    )
    .expect("plan");
    let emulator = emulator(plans.to_str().expect("utf-8"));
    let down = [("LCS_API_URL", closed_port())];
    let ticked = lcs(&dir, &emulator, &down, &["tick", "--plans", "plans"]);
    assert_eq!(ticked.status.code(), Some(3), "{}", stderr(&ticked));
    let text = String::from_utf8_lossy(&ticked.stdout);
    assert!(
        text.contains(": submitted: the target `contoso-uat`"),
        "{text}"
    );
    assert!(!text.contains("rejected"), "{text}");
    let runs = lcs(&dir, &emulator, &[], &["runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
    assert_eq!(runs[0]["state"], "submitted", "{runs}");
    let status = status_of(&dir, &emulator, runs[0]["id"].as_str().expect("id"));
    assert_eq!(logged(&status, "delayed"), 1, "{status}");
    assert_eq!(events(&hooks), ["submitted", "delayed"]);
}

#[test]
fn resume_adopts_only_the_asset_this_run_created_not_an_older_one_of_the_same_package() {
    // An earlier run of the same plan, from another state store, left committed assets of the
    // same packages in the project's library.
    let earlier = Dir::new();
    let crashed = Dir::new();
    for dir in [&earlier, &crashed] {
        std::fs::write(dir.path().join("plan.yaml"), CRASH_PLAN).expect("plan");
        std::fs::write(dir.path().join("build.zip"), vec![3_u8; 9 * 1024 * 1024]).expect("zip");
    }
    let plan = earlier.path().join("plan.yaml");
    let emulator = emulator(plan.to_str().expect("utf-8"));
    let apply = |dir: &Dir, failpoint: Option<&str>| {
        dir.refreshctl(
            &emulator,
            failpoint,
            dir.path(),
            &[
                "apply",
                "--yes",
                "--start-now",
                "--reason",
                "asset test",
                "--poll-interval",
                "20ms",
                "plan.yaml",
            ],
        )
    };
    let first = apply(&earlier, None);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let older: Vec<String> = emulator
        .model()
        .assets
        .iter()
        .filter(|asset| asset.project.is_some())
        .map(|asset| asset.id.clone())
        .collect();
    assert_eq!(older.len(), 2, "the earlier run's two assets");

    // Killed after the build's asset was created and before its id was recorded.
    let killed_run = apply(&crashed, Some("after-create:deploy.upload"));
    assert!(killed(&killed_run), "{}", stderr(&killed_run));
    let seen = emulator.requests().len();
    let runs = crashed.refreshctl(
        &emulator,
        None,
        crashed.path(),
        &["runs", "--format", "json"],
    );
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
    let id = runs[0]["id"].as_str().expect("one run").to_owned();
    let resumed = crashed.refreshctl(
        &emulator,
        None,
        crashed.path(),
        &["resume", "--poll-interval", "20ms", &id],
    );
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("was created before the process stopped"),
        "{}",
        stderr(&resumed)
    );

    assert_resumed_the_created_asset(&emulator, seen, &older, &id);
    let status = crashed.refreshctl(
        &emulator,
        None,
        crashed.path(),
        &["status", &id, "--format", "json"],
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["state"], "succeeded", "{status}");
}

/// The asset created just before the crash is the one resumed: no other was created, the
/// blocks went to it, the update applied it, and no older asset was touched (no 403).
fn assert_resumed_the_created_asset(
    emulator: &EmulatorProcess,
    seen: usize,
    older: &[String],
    id: &str,
) {
    let model = emulator.model();
    let project_assets: Vec<_> = model
        .assets
        .iter()
        .filter(|asset| asset.project.is_some())
        .collect();
    assert_eq!(
        project_assets.len(),
        4,
        "two runs, two assets each, none twice"
    );
    let created = project_assets.last().expect("the build's asset");
    assert!(created.name.starts_with("Build 42 ("), "{}", created.name);
    assert!(created.name.contains(id), "{}", created.name);
    assert!(
        created.committed.is_some(),
        "the resumed upload committed it"
    );
    let after = &emulator.requests()[seen..];
    assert!(
        after.iter().all(|request| request.status != 403),
        "{after:#?}"
    );
    assert!(
        after
            .iter()
            .any(|request| request.method == "PUT" && request.path.ends_with(&created.id)),
        "the blocks went to the created asset"
    );
    for old in older {
        assert!(
            !after
                .iter()
                .any(|request| request.path.contains(old.as_str())
                    || request.query.contains(old.as_str())),
            "the older asset {old} was used: {after:#?}"
        );
    }
    let applied: Vec<_> = after
        .iter()
        .filter(|request| request.method == "POST" && request.path.contains("/applyupdate/"))
        .collect();
    assert_eq!(applied.len(), 1, "{applied:#?}");
    assert!(applied[0].path.ends_with(&created.id), "{applied:#?}");
}
