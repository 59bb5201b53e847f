//! The real binary with `--adapter power-platform` against `refreshctl emulator` in another
//! process, both on one scaled clock: the example copy and restore plans to `succeeded` with
//! exactly one copy or restore sent, `validate` refusing what the API cannot do, and SIGKILL
//! during monitoring and around the call, after which `resume` sends nothing twice.

#[path = "common/emulator_process.rs"]
#[expect(
    dead_code,
    reason = "the Power Platform's variables are set here, and no LCS faults are scripted"
)]
mod emulator_process;

use std::path::Path;

use assert_cmd::Command;
use emulator_process::EmulatorProcess;

/// Model time runs 2,000 times faster: a 97-minute copy takes about 3 s, and a restore point
/// six hours back stays within the 7 days a sandbox's backups are kept for minutes.
const SPEED: &str = "2000";

struct World {
    directory: tempfile::TempDir,
    emulator: EmulatorProcess,
    clock: String,
}

impl World {
    fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let clock = format!("{},{SPEED}", chrono::Utc::now().to_rfc3339());
        let emulator = EmulatorProcess::start_with_env(
            &[
                "--plans",
                root.join("plans/fabrikam-uat-copy.yaml")
                    .to_str()
                    .expect("utf-8"),
                "--plans",
                root.join("plans/fabrikam-test-restore.yaml")
                    .to_str()
                    .expect("utf-8"),
            ],
            &[("REFRESHCTL_TEST_CLOCK", &clock)],
        );
        Self {
            directory: tempfile::tempdir().expect("temp"),
            emulator,
            clock,
        }
    }

    fn refreshctl(&self, failpoint: Option<&str>, args: &[&str]) -> std::process::Output {
        let url = &self.emulator.url;
        let tenant = "00000000-0000-0000-0000-0000000000aa";
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("REFRESHCTL_ADAPTER", "power-platform")
            .env("REFRESHCTL_STATE", self.directory.path().join("state.db"))
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
            .env("REFRESHCTL_TEST_CLOCK", &self.clock)
            .env("PP_TENANT_ID", tenant)
            .env("PP_CLIENT_ID", "00000000-0000-0000-0000-0000000000bb")
            .env("PP_CLIENT_SECRET", "emulator")
            .env("PP_AUTH_URL", format!("{url}/{tenant}/oauth2/v2.0/token"))
            .env("PP_API_URL", url)
            .env("PP_BAP_URL", url)
            .args(args)
            .timeout(std::time::Duration::from_mins(2));
        match failpoint {
            Some(point) => command.env("REFRESHCTL_FAILPOINT", point),
            None => command.env_remove("REFRESHCTL_FAILPOINT"),
        };
        command.output().expect("runs")
    }

    fn apply(&self, failpoint: Option<&str>, plan: &str) -> std::process::Output {
        self.refreshctl(
            failpoint,
            &[
                "-v",
                "apply",
                "--yes",
                "--start-now",
                "--reason",
                "e2e test",
                plan,
            ],
        )
    }

    fn posts(&self, ending: &str) -> usize {
        self.emulator
            .requests()
            .iter()
            .filter(|request| request.method == "POST" && request.path.ends_with(ending))
            .count()
    }

    fn status(&self, run: &str) -> serde_json::Value {
        let output = self.refreshctl(None, &["status", run, "--format", "json"]);
        serde_json::from_slice(&output.stdout).expect("json")
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_id(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn killed(output: &std::process::Output) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    output.status.signal() == Some(9)
}

#[test]
fn the_example_copy_and_restore_plans_apply_to_succeeded_through_the_power_platform_api() {
    let world = World::new();
    let applied = world.apply(None, "plans/fabrikam-uat-copy.yaml");
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let status = world.status(&run_id(&applied));
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(world.posts("/copy"), 1);
    assert_eq!(
        world
            .emulator
            .requests()
            .iter()
            .filter(|request| request.method == "PATCH")
            .count(),
        1,
        "administration mode switched off, as the plan asks"
    );
    let log = stderr(&applied);
    for secret in [
        "emu-at-",
        "client_secret",
        "PP_CLIENT_SECRET=",
        "emulator\"",
    ] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }

    let applied = world.apply(None, "plans/fabrikam-test-restore.yaml");
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let status = world.status(&run_id(&applied));
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(world.posts("/restore"), 1);
    let model = world.emulator.model();
    assert_eq!(
        model.destructive_calls().count(),
        2,
        "one copy, one restore"
    );
    let state = std::fs::read(world.directory.path().join("state.db")).expect("state");
    assert!(
        !String::from_utf8_lossy(&state).contains("emu-at-"),
        "a token in the state"
    );
}

#[test]
fn validate_with_the_power_platform_adapter_refuses_what_its_api_cannot_do() {
    let world = World::new();
    // The weekly example says `service: lcs`: the Power Platform adapter is refused at that line.
    let validated = world.refreshctl(
        None,
        &[
            "validate",
            "--format",
            "json",
            "plans/contoso-uat-weekly.yaml",
        ],
    );
    assert_eq!(validated.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&validated.stdout).expect("json");
    assert!(
        report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .any(|d| d["rule"] == "adapter-unsupported"
                && d["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("meant for `service: lcs`"))),
        "{report}"
    );
    // Without `service`, the adapter says what its API cannot do, step by step. The copy sits
    // beside the example, so its packages and scripts are found.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/contoso-uat-weekly.yaml"),
    )
    .expect("the example");
    assert!(
        text.contains("\nservice: lcs"),
        "the example names its service"
    );
    let unnamed = tempfile::Builder::new()
        .prefix(".pp-no-service-")
        .suffix(".yaml")
        .tempfile_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans"))
        .expect("a copy beside the example");
    std::fs::write(unnamed.path(), text.replacen("\nservice: lcs", "", 1)).expect("copy");
    let copy = unnamed.path().to_str().expect("utf-8").to_owned();
    let validated = world.refreshctl(None, &["validate", "--format", "json", &copy]);
    assert_eq!(validated.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&validated.stdout).expect("json");
    let unsupported: Vec<&str> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["rule"] == "adapter-unsupported")
        .filter_map(|d| d["message"].as_str())
        .collect();
    assert_eq!(unsupported.len(), 2, "{unsupported:?}");
    assert!(
        unsupported[0].contains("cannot `reprovision`"),
        "{unsupported:?}"
    );
    assert!(
        unsupported[1].contains("cannot `deploy`"),
        "{unsupported:?}"
    );
    // The preview says it in the steps, and names the Power Platform's calls.
    let previewed = world.refreshctl(None, &["plan", &copy]);
    let preview = String::from_utf8_lossy(&previewed.stdout);
    assert!(
        preview.contains("reprovision.download: cannot run: the Power Platform API has no call for deployable packages (adapter-unsupported)"),
        "{preview}"
    );
    assert!(
        preview.contains("-> POST environmentmanagement/environments/{target id}/copy"),
        "{preview}"
    );
    let previewed = world.refreshctl(
        None,
        &[
            "plan",
            "--format",
            "json",
            "plans/fabrikam-test-restore.yaml",
        ],
    );
    let preview: serde_json::Value = serde_json::from_slice(&previewed.stdout).expect("json");
    assert_eq!(preview["project"], serde_json::Value::Null);
    assert_eq!(
        preview["steps"][3]["calls"][0],
        "POST environmentmanagement/environments/{target id}/restore?api-version=…"
    );
    // Nothing was asked of the service.
    assert!(world.emulator.requests().is_empty());
}

#[test]
fn missing_credentials_stop_apply_before_anything_is_recorded() {
    let world = World::new();
    let mut command = Command::cargo_bin("refreshctl").expect("binary");
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("REFRESHCTL_STATE", world.directory.path().join("state.db"))
        .env_remove("PP_CLIENT_SECRET")
        .args([
            "--adapter",
            "power-platform",
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "x",
            "plans/fabrikam-uat-copy.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("PP_CLIENT_SECRET"),
        "{}",
        stderr(&output)
    );
    let runs = world.refreshctl(None, &["runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
    assert_eq!(runs, serde_json::json!([]), "no run recorded");
}

/// SIGKILL at `point` during a copy, then `resume`: the copy is sent exactly once, and the
/// run ends `succeeded` (after `--retry-step` where the call provably was not made).
fn crash_and_resume(point: &str) {
    let world = World::new();
    let crashed = world.apply(Some(point), "plans/fabrikam-uat-copy.yaml");
    assert!(
        killed(&crashed),
        "{point}: not reached: {}",
        stderr(&crashed)
    );
    let runs = world.refreshctl(None, &["runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
    let id = runs[0]["id"].as_str().expect("one run").to_owned();
    let resumed = world.refreshctl(None, &["resume", &id]);
    if point == "after-intent:start-refresh" {
        // The intent was recorded and the call never made: the operations list shows nothing,
        // so an operator decides.
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
        assert!(
            stderr(&resumed).contains("check Power Platform"),
            "{}",
            stderr(&resumed)
        );
        assert_eq!(world.posts("/copy"), 0);
        let retried = world.refreshctl(None, &["resume", "--retry-step", &id]);
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
    assert_eq!(world.status(&id)["state"], "succeeded");
    assert_eq!(world.posts("/copy"), 1, "{point}: exactly one copy sent");
    assert_eq!(
        world.emulator.model().destructive_calls().count(),
        1,
        "{point}"
    );
}

#[test]
fn sigkill_during_monitoring_then_resume_sends_exactly_one_copy() {
    crash_and_resume("waiting:monitor-refresh");
}

#[test]
fn sigkill_after_the_copy_was_sent_is_settled_from_the_operations_list() {
    crash_and_resume("after-call:start-refresh");
}

#[test]
fn sigkill_after_the_intent_and_before_the_call_needs_an_operator_and_sends_once() {
    crash_and_resume("after-intent:start-refresh");
}

/// A copy plan whose window starts `after` the given time, 25 h lead time.
fn tick_plan(start: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "version: 1\nname: fabrikam-uat-tick\nenvironment: {{name: fabrikam-uat, type: sandbox}}\nsource: {{name: fabrikam-prod, type: production}}\nwindow: {{start: {}, duration: 6h}}\nlead_time: 25h\nacknowledge: [target-database-erased, target-unavailable]\npower_platform: {{copy_type: full}}\n",
        start.format("%Y-%m-%dT%H:%M:00Z")
    )
}

#[test]
fn tick_runs_a_power_platform_plan_from_submission_to_succeeded_sending_one_copy() {
    // 20,000 times faster for both processes: the window, 29 hours on, opens in about 5 s; the
    // copy takes 0.3 s.
    const SPEED: f64 = 20_000.0;
    let origin = chrono::Utc::now();
    let clock = format!("{},{SPEED}", origin.to_rfc3339());
    let directory = tempfile::tempdir().expect("temp");
    let plans = directory.path().join("plans");
    std::fs::create_dir_all(&plans).expect("plans");
    let plan = plans.join("copy.yaml");
    // Written once to seed the emulator's environments, then again with the window reckoned
    // from the shared clock once the emulator runs.
    std::fs::write(&plan, tick_plan(origin + chrono::TimeDelta::days(30))).expect("plan");
    let emulator = EmulatorProcess::start_with_env(
        &["--plans", plans.to_str().expect("utf-8")],
        &[("REFRESHCTL_TEST_CLOCK", &clock)],
    );
    let scaled_now = || {
        let real = (chrono::Utc::now() - origin).as_seconds_f64() * SPEED;
        #[expect(clippy::cast_possible_truncation, reason = "a test's milliseconds")]
        let millis = (real * 1000.0) as i64;
        origin + chrono::TimeDelta::milliseconds(millis)
    };
    // 25 h of notice and 4 h to spare before it is due (0.72 s of wall time), so a slow first
    // tick on a loaded machine still sees the plan before its submission time; a later tick
    // submits it, exactly 25 h before the window. (With 40 min to spare, 0.3 s of wall time
    // stood between writing the plan and a first tick too late to give 24 h of notice.)
    std::fs::write(
        &plan,
        tick_plan(scaled_now() + chrono::TimeDelta::hours(29)),
    )
    .expect("plan");
    let world = World {
        directory,
        emulator,
        clock,
    };
    let plans = plans.to_str().expect("utf-8").to_owned();
    let mut state = String::new();
    for _ in 0..600 {
        let ticked = world.refreshctl(None, &["tick", "--plans", &plans, "--format", "json"]);
        assert_eq!(ticked.status.code(), Some(0), "{}", stderr(&ticked));
        let runs = world.refreshctl(None, &["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("json");
        state = runs[0]["state"].as_str().unwrap_or_default().to_owned();
        if state == "succeeded" || state == "failed" || state == "rejected" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(state, "succeeded");
    assert_eq!(
        world.posts("/copy"),
        1,
        "one copy, whatever the number of ticks"
    );
}
