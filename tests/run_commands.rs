//! The run commands of the real binary on the simulator: apply, submit, runs, status, cancel,
//! reschedule, approve, resume, with a state file of their own.

use std::path::Path;

use assert_cmd::Command;

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp"))
    }

    fn state(&self) -> String {
        self.0.path().join("state.db").display().to_string()
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::cargo_bin("refreshctl")
            .expect("binary")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", self.state())
            .args(args)
            .timeout(std::time::Duration::from_mins(1))
            .output()
            .expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn status(&self, run: &str) -> serde_json::Value {
        let (code, stdout, stderr) = self.run(&["status", run, "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("json")
    }
}

#[test]
fn every_example_plan_rehearses_to_succeeded() {
    for plan in [
        "plans/contoso-uat-weekly.yaml",
        "plans/contoso-test-restore.yaml",
        "plans/fabrikam-1611-monthly.yaml",
    ] {
        let home = Home::new();
        let (code, stdout, stderr) = home.run(&["apply", "--yes", plan]);
        assert_eq!(code, 0, "{plan}: {stderr}");
        assert!(
            stderr.starts_with("refreshctl: rehearsing on the simulator"),
            "{stderr}"
        );
        let run = stdout.trim();
        let status = home.status(run);
        assert_eq!(status["state"], "succeeded", "{plan}");
        assert!(
            status["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .all(|step| step["state"] == "succeeded"),
            "{status}"
        );
    }
}

fn time(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap_or_else(|error| panic!("{value}: {error}"))
        .to_utc()
}

/// Where a plan's next window starts (the first that can still be submitted) by its preview.
fn previewed_window(home: &Home, plan: &str, now: Option<&str>) -> chrono::DateTime<chrono::Utc> {
    let mut args = vec!["plan", plan, "--format", "json"];
    args.extend(now.iter().flat_map(|now| ["--now", now]));
    let (code, stdout, stderr) = home.run(&args);
    assert_eq!(code, 0, "{stderr}");
    let preview: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    time(&preview["window"]["start"])
}

/// Applies `plan` `times` times, each at `now` (the real now without it), and checks that each
/// rehearsal behaved as the first: the same window, its preflight at the moment the command
/// started, succeeded; the later ones are that window again, as `~2`, `~3`.
fn rehearse_again_and_again(home: &Home, plan: &str, now: Option<&str>, times: usize) {
    let window = previewed_window(home, plan, now);
    let name = plan
        .rsplit('/')
        .next()
        .and_then(|file| file.strip_suffix(".yaml"));
    let base = format!(
        "{}@{}",
        name.expect("plans/NAME.yaml"),
        window.format("%Y%m%dT%H%MZ")
    );
    for round in 1..=times {
        let mut args = vec!["apply", "--yes", plan];
        args.extend(now.iter().flat_map(|now| ["--now", now]));
        let before = chrono::Utc::now();
        let (code, stdout, stderr) = home.run(&args);
        let after = chrono::Utc::now();
        assert_eq!(code, 0, "rehearsal {round}: {stderr}");
        let expected = if round == 1 {
            base.clone()
        } else {
            format!("{base}~{round}")
        };
        assert_eq!(stdout.trim(), expected, "rehearsal {round}");
        let status = home.status(&expected);
        assert_eq!(status["state"], "succeeded", "{status}");
        assert_eq!(time(&status["window"]["start"]), window, "{status}");
        let preflight = time(&status["steps"][0]["started"]);
        match now {
            Some(now) => assert_eq!(
                preflight,
                time(&serde_json::json!(now)),
                "rehearsal {round} starts at --now"
            ),
            None => assert!(
                preflight >= before - chrono::TimeDelta::seconds(1)
                    && preflight <= after + chrono::TimeDelta::seconds(1),
                "rehearsal {round} starts at the real now ({before} to {after}), not at \
                 {preflight}"
            ),
        }
    }
}

/// Every rehearsal starts now, as the first did: the same plan rehearsed three times on one
/// state file takes the same window each time (rehearsals have worlds of their own, so the
/// earlier ones occupy nothing), and then a `tick` near today still works (the README's
/// commands in order).
#[test]
fn each_rehearsal_starts_now_and_takes_the_same_window() {
    let home = Home::new();
    rehearse_again_and_again(&home, "plans/contoso-uat-weekly.yaml", None, 3);
    let today = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (code, stdout, stderr) = home.run(&["tick", "--yes", "--plans", "plans", "--now", &today]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (_, stdout, _) = home.run(&["runs", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
}

#[test]
fn each_rehearsal_at_a_given_now_starts_there() {
    let home = Home::new();
    rehearse_again_and_again(
        &home,
        "plans/contoso-test-restore.yaml",
        Some("2026-11-24T12:00:00Z"),
        2,
    );
}

/// A fixed window 11 days away with a 10-day lead time rehearses twice in a row: the second
/// rehearsal measures the lead time from the real now, not from where the first left
/// simulated time.
#[test]
fn a_window_eleven_days_away_rehearses_twice_in_a_row() {
    let home = Home::new();
    let start = (chrono::Utc::now() + chrono::TimeDelta::days(11))
        .format("%Y-%m-%dT21:00:00Z")
        .to_string();
    let plan = home.0.path().join("fixed-uat.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1
name: fixed-uat
project: 1234567
environment: {{name: contoso-uat, type: sandbox, release: \"10.0.41\"}}
source: {{name: contoso-prod, type: production, release: \"10.0.41\"}}
window: {{start: \"{start}\", duration: 6h}}
lead_time: 10d
acknowledge: [target-database-erased, target-unavailable]
"
        ),
    )
    .expect("plan");
    let plan = plan.display().to_string();
    for round in 1..=2 {
        let (code, stdout, stderr) = home.run(&["apply", "--yes", &plan]);
        assert_eq!(code, 0, "rehearsal {round}: {stderr}");
        let run = stdout.trim();
        assert!(run.starts_with("fixed-uat@"), "{run}");
        assert_eq!(run.ends_with("~2"), round == 2, "{run}");
        let status = home.status(run);
        assert_eq!(status["state"], "succeeded", "{status}");
        assert_eq!(
            time(&status["window"]["start"]),
            time(&serde_json::json!(start)),
            "{status}"
        );
    }
}

#[test]
fn faults_end_in_the_right_state_with_a_clear_message() {
    for (fault, message) in [
        (
            "refresh-fails",
            "monitor-refresh: the operation ended Failed",
        ),
        (
            "deployment-fails",
            "reprovision.monitor: the deployment ended Failed",
        ),
        ("asset-rejected", "LCS rejected the package"),
    ] {
        let home = Home::new();
        let (code, _, stderr) = home.run(&[
            "apply",
            "--yes",
            "--sim-fault",
            fault,
            "plans/contoso-uat-weekly.yaml",
        ]);
        assert_eq!(code, 1, "{fault}");
        assert!(
            stderr.contains("ended failed:") && stderr.contains(message),
            "{fault}: {stderr}"
        );
    }
    let home = Home::new();
    let (code, _, stderr) = home.run(&[
        "apply",
        "--yes",
        "--sim-fault",
        "throttle",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(code, 0, "throttling only delays: {stderr}");
}

#[test]
fn a_manual_step_waits_until_approved() {
    let home = Home::new();
    let (code, stdout, stderr) = home.run(&["apply", "plans/contoso-uat-weekly.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    let run = stdout.trim().to_owned();
    assert!(
        stderr.contains(&format!("refreshctl approve {run} manual")),
        "{stderr}"
    );
    assert_eq!(home.status(&run)["state"], "awaiting-approval");

    let (code, _, stderr) = home.run(&["approve", &run, "command"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("waits for step `manual`, not `command`"),
        "{stderr}"
    );
    let (code, _, stderr) = home.run(&["approve", &run, "manual"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = home.run(&["approve", &run, "manual"]);
    assert_eq!(code, 1, "approving twice is refused: {stderr}");
    let (code, _, stderr) = home.run(&["resume", &run]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(home.status(&run)["state"], "succeeded");
}

#[test]
fn submit_is_idempotent_and_cancel_and_reschedule_work_before_the_window() {
    let home = Home::new();
    let plan = "plans/fabrikam-1611-monthly.yaml";
    let (code, first, stderr) = home.run(&["submit", "--now", "2026-11-24T12:00:00Z", plan]);
    assert_eq!(code, 0, "{stderr}");
    let (_, second, _) = home.run(&["submit", "--now", "2026-11-24T12:00:00Z", plan]);
    assert_eq!(first, second, "the same window makes one run");
    let run = first.trim().to_owned();
    assert_eq!(run, "fabrikam-training-monthly@20261201T2000Z");
    assert_eq!(home.status(&run)["state"], "submitted");

    let (code, _, stderr) = home.run(&[
        "reschedule",
        &run,
        "--start",
        "2026-11-25T20:00:00Z",
        "--now",
        "2026-11-24T12:00:00Z",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("inside the 3d lead time"), "{stderr}");
    let (code, moved, stderr) = home.run(&[
        "reschedule",
        &run,
        "--start",
        "2026-12-08T20:00:00Z",
        "--duration",
        "5h",
        "--now",
        "2026-11-24T12:00:00Z",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let moved = moved.trim().to_owned();
    assert_eq!(moved, "fabrikam-training-monthly@20261208T2000Z");
    assert_eq!(home.status(&run)["state"], "canceled");
    assert_eq!(home.status(&moved)["window"]["end"], "2026-12-09T01:00:00Z");

    let (code, _, stderr) = home.run(&["cancel", &moved]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = home.run(&["cancel", &moved]);
    assert_eq!(code, 1);
    assert!(stderr.contains("already ended canceled"), "{stderr}");
}

#[test]
fn a_started_run_cannot_be_canceled_and_its_target_is_locked() {
    let home = Home::new();
    let (_, stdout, _) = home.run(&["apply", "plans/contoso-uat-weekly.yaml"]);
    let run = stdout.trim().to_owned();
    assert_eq!(home.status(&run)["state"], "awaiting-approval");
    let (code, _, stderr) = home.run(&["cancel", &run]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("a started refresh cannot be canceled"),
        "{stderr}"
    );

    // Another plan refreshing the same environment is refused while this run is active.
    let directory = tempfile::tempdir().expect("temp");
    let other = directory.path().join("other.yaml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/contoso-uat-weekly.yaml"),
    )
    .expect("plan")
    .replace("name: contoso-uat-weekly", "name: contoso-uat-other")
    .replace(
        "../packages/",
        &format!("{}/packages/", env!("CARGO_MANIFEST_DIR")),
    )
    .replace(
        "templates/teams.json.tera",
        &format!(
            "{}/plans/templates/teams.json.tera",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    std::fs::write(&other, text).expect("write");
    let (code, _, stderr) = home.run(&["apply", "--yes", other.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("run `{run}` is active on the same environment")),
        "{stderr}"
    );
}

#[test]
fn bad_state_and_unknown_runs() {
    let home = Home::new();
    let (code, _, stderr) = home.run(&["status", "no-such-plan@20261205T2100Z"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: no run `no-such-plan@20261205T2100Z`"),
        "{stderr}"
    );

    std::fs::write(
        home.0.path().join("state.db"),
        b"not a database, somebody's notes".repeat(100),
    )
    .expect("write");
    let (code, _, stderr) = home.run(&["runs"]);
    assert_eq!(code, 3, "the environment failed: {stderr}");
    assert!(stderr.contains("cannot be read"), "{stderr}");

    let (code, _, stderr) = home.run(&["--state", "mysql://x", "runs"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn an_emergency_waives_the_lead_time_and_is_recorded() {
    let home = Home::new();
    let (code, _, stderr) = home.run(&[
        "apply",
        "--yes",
        "--start-now",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(code, 2, "--start-now needs --reason: {stderr}");
    let (code, stdout, stderr) = home.run(&[
        "apply",
        "--yes",
        "--start-now",
        "--reason",
        "UAT data corrupted by a bad import",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let status = home.status(stdout.trim());
    assert_eq!(status["reason"], "UAT data corrupted by a bad import");
    assert_eq!(status["state"], "succeeded");
}

#[test]
fn a_terminal_gets_a_live_progress_bar() {
    let available = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    let home = Home::new();
    let log = home.0.path().join("terminal.log");
    let command = format!(
        "REFRESHCTL_STATE={} XDG_CACHE_HOME={} {} apply --yes plans/contoso-uat-weekly.yaml",
        home.state(),
        home.0.path().join("cache").display(),
        assert_cmd::cargo::cargo_bin!("refreshctl").display()
    );
    let status = std::process::Command::new("script")
        .args(["-qec", &command, log.to_str().expect("utf-8")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script runs");
    assert!(status.success());
    let screen = String::from_utf8_lossy(&std::fs::read(&log).expect("log")).into_owned();
    assert!(
        screen.contains("/15 steps  reprovision.upload [simulated "),
        "the bar names the step"
    );
    assert!(
        screen.contains("run succeeded"),
        "lines still print above the bar"
    );

    // Without a terminal: plain lines, no bar.
    let (_, _, stderr) = Home::new().run(&["apply", "--yes", "plans/contoso-uat-weekly.yaml"]);
    assert!(!stderr.contains("steps  "), "{stderr}");
    assert!(stderr.contains("] reprovision.upload started"), "{stderr}");
}

#[test]
fn json_lines_carry_every_event() {
    let home = Home::new();
    let (code, stdout, stderr) = home.run(&[
        "--log-format",
        "json",
        "apply",
        "--yes",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let run = stdout.trim();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("each event line is JSON"))
        .collect();
    assert!(
        events
            .iter()
            .all(|event| event["run"] == run && event["at"].is_string()),
        "{events:?}"
    );
    let kinds: std::collections::HashSet<&str> = events
        .iter()
        .filter_map(|event| event["kind"].as_str())
        .collect();
    for kind in [
        "run-state",
        "step-started",
        "step-succeeded",
        "waiting",
        "log",
    ] {
        assert!(kinds.contains(kind), "no {kind} event: {kinds:?}");
    }
    let polls = events
        .iter()
        .filter(|event| event["kind"] == "waiting")
        .count();
    assert!(
        polls > 10,
        "poll waits are in the JSON lines ({polls}), though not in the text view"
    );
}
