//! The run commands of the real binary on the simulator: apply, submit, runs, status, cancel,
//! reschedule, approve, resume, with a state file of their own.

#[path = "common/http_server.rs"]
mod http_server;
#[path = "common/old_state.rs"]
mod old_state;
#[path = "common/skip.rs"]
mod skip;

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
    // Financial reporting first: reset by hand, as on LCS, with what to do and to check.
    assert!(
        stderr.contains("Report designer, choose Tools > Reset data mart")
            && stderr.contains("Tools > Integration status")
            && stderr.contains(&format!(
                "refreshctl approve {run} reset-financial-reporting"
            )),
        "{stderr}"
    );
    let (code, _, stderr) = home.run(&["approve", &run, "reset-financial-reporting"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = home.run(&["resume", &run]);
    assert_eq!(code, 1, "on to the next manual step: {stderr}");
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
    )
    .replace(
        "./scripts/anonymize.sh",
        &format!("{}/plans/scripts/anonymize.sh", env!("CARGO_MANIFEST_DIR")),
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
        skip::skip("`script` (util-linux) is not installed, so no pseudo-terminal");
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
        screen.contains("/15 steps  reprovision.upload"),
        "the bar names the step: {screen}"
    );
    assert!(
        screen.contains("] reprovision.upload started")
            && screen.contains("] reprovision.upload succeeded"),
        "every step's lines print above the bar: {screen}"
    );
    assert_eq!(
        screen.matches("run succeeded").count(),
        1,
        "the outcome once, with the count after the approval: {screen}"
    );
    assert!(screen.contains("run succeeded (15/15 steps)"), "{screen}");

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
        .map(|line| serde_json::from_str(line).expect("each stderr line is JSON"))
        .filter(|line: &serde_json::Value| line.get("kind").is_some())
        .collect();
    assert!(
        events
            .iter()
            .all(|event| event["run"] == run && event["sim_time"].is_string()),
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

#[test]
fn state_strings_that_name_no_store_are_refused_and_make_no_file() {
    let cwd = tempfile::tempdir().expect("temp");
    let secret = "hunter2-Secret";
    let cases = [
        ("mysql://x", "`mysql://` is not a state store scheme"),
        (
            "hots=127.0.0.1 user=postgres dbname=x",
            "did you mean `host`?",
        ),
        ("host= user=postgres dbname=x", "`host` has no value"),
        ("host=127.0.0.1 user=postgres dbname=x?", "no closing quote"),
        ("foo=bar", "a part is not a connection keyword"),
        ("host=127.0.0.1 port=fifty dbname=x", "port"),
        ("state", "neither a URL nor obviously a path"),
        ("file:state.db", "`file:` is not a state store scheme"),
        (
            "host=127.0.0.1 password=hunter2-Secret dbnme=x",
            "did you mean `dbname`?",
        ),
    ];
    for (state, reason) in cases {
        // The `?` case: an unterminated quote, as a shell quoting slip leaves it.
        let state = state.replace("dbname=x?", "dbname='x");
        for args in [
            &["runs"][..],
            &["status", "some-run"],
            &["tick", "--plans", "."],
        ] {
            let output = Command::cargo_bin("refreshctl")
                .expect("binary")
                .current_dir(cwd.path())
                .env("NO_COLOR", "1")
                .env_remove("REFRESHCTL_ADAPTER")
                .env("XDG_STATE_HOME", cwd.path().join("xdg"))
                .args(["--state", &state])
                .args(args)
                .timeout(std::time::Duration::from_mins(1))
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{state} {args:?}: {stderr}");
            assert!(stderr.contains(reason), "{state}: {stderr}");
            for form in [
                "`sqlite:PATH`",
                "`postgres://…`",
                "`host=… port=… user=… dbname=…`",
            ] {
                assert!(
                    stderr.contains(form),
                    "{state}: the accepted forms: {stderr}"
                );
            }
            assert!(!stderr.contains(secret), "{state}: {stderr}");
        }
        let files: Vec<_> = std::fs::read_dir(cwd.path())
            .expect("cwd")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert!(files.is_empty(), "{state}: nothing is created: {files:?}");
    }
    let help = Command::cargo_bin("refreshctl")
        .expect("binary")
        .arg("--help")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for form in [
        "`sqlite:PATH`",
        "contains a `/`",
        "`.db`, `.sqlite` or `.sqlite3`",
        "`postgres://",
        "`postgresql://…`",
        "libpq's key/value form, `host=… port=… user=… password=… dbname=… sslmode=… sslrootcert=… schema=…`",
    ] {
        assert!(help.contains(form), "--help names {form}: {help}");
    }
    // The environment variable is read the same way.
    let output = Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(cwd.path())
        .env(
            "REFRESHCTL_STATE",
            "host=127.0.0.1 user=postgres dbname=x?schema=s",
        )
        .args(["runs"])
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("runs");
    assert_ne!(output.status.code(), Some(0), "no silent SQLite file");
    assert!(
        std::fs::read_dir(cwd.path()).expect("cwd").next().is_none(),
        "no file named after the string"
    );
}

/// The weekly example as another plan on the same target, notifying `hooks` when rejected.
fn rival_plan(directory: &Path, hooks: &str) -> std::path::PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(Path::new(root).join("plans/contoso-uat-weekly.yaml"))
        .expect("plan")
        .replace("name: contoso-uat-weekly", "name: contoso-uat-rival")
        .replace("../packages/", &format!("{root}/packages/"))
        .replace(
            "templates/teams.json.tera",
            &format!("{root}/plans/templates/teams.json.tera"),
        )
        .replace(
            "./scripts/anonymize.sh",
            &format!("{root}/plans/scripts/anonymize.sh"),
        );
    let text = notifying_rejected_only(&text, hooks);
    let path = directory.join("rival.yaml");
    std::fs::write(&path, text).expect("write");
    path
}

/// The plan's notification goes to `hooks`, for `rejected` only.
fn notifying_rejected_only(text: &str, hooks: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("- url:") {
            out.push(format!("  - url: {hooks}/hooks/rival"));
        } else if line.trim_start().starts_with("on:") {
            out.push("    on: [rejected]".to_owned());
        } else {
            out.push(line.to_owned());
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn the_loser_of_two_concurrent_applies_on_one_target_ends_rejected_and_notified() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    let directory = tempfile::tempdir().expect("temp");
    let rival = rival_plan(directory.path(), &hooks.url);
    let rival = rival.to_str().expect("utf-8").to_owned();
    // Both at once; the winner stops at its first manual step (no terminal), holding the target.
    let spawn = |plan: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_refreshctl"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", home.0.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", home.state())
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
            .args(["apply", "--notify", plan])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let children = [spawn("plans/contoso-uat-weekly.yaml"), spawn(&rival)];
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait"))
        .collect();
    let (code, stdout, stderr) = home.run(&["runs", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let winner = runs
        .iter()
        .find(|run| run["state"] == "awaiting-approval")
        .unwrap_or_else(|| panic!("one run holds the target: {runs:?}"));
    let loser = runs
        .iter()
        .find(|run| run["state"] == "rejected")
        .unwrap_or_else(|| panic!("the other is rejected, not left submitted: {runs:?}"));
    let (winner, loser) = (
        winner["id"].as_str().expect("id"),
        loser["id"].as_str().expect("id"),
    );
    let status = home.status(loser);
    assert!(
        status["detail"]
            .as_str()
            .is_some_and(|detail| detail
                .contains(&format!("run `{winner}` is active on the same environment"))),
        "names the run that holds the target: {status}"
    );
    assert!(
        status["log"]
            .as_array()
            .expect("log")
            .iter()
            .any(|entry| entry["message"]
                .as_str()
                .is_some_and(|text| text.starts_with("run rejected"))),
        "{status}"
    );
    let lost = &outputs[usize::from(loser.starts_with("contoso-uat-rival"))];
    assert_eq!(lost.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&lost.stderr).contains(&format!("run `{loser}` is rejected")),
        "{}",
        String::from_utf8_lossy(&lost.stderr)
    );
    // Only the rival plan notifies `rejected`: it is told when it is the one that lost.
    if loser.starts_with("contoso-uat-rival") {
        let bodies = hooks.bodies();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        assert!(bodies[0].to_string().contains("rejected"), "{}", bodies[0]);
    } else {
        assert!(hooks.bodies().is_empty());
    }
}

#[test]
fn a_loser_with_notifications_is_told_it_was_rejected() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    let (_, stdout, _) = home.run(&["apply", "plans/contoso-uat-weekly.yaml"]);
    let holder = stdout.trim().to_owned();
    assert_eq!(home.status(&holder)["state"], "awaiting-approval");
    let directory = tempfile::tempdir().expect("temp");
    let rival = rival_plan(directory.path(), &hooks.url);
    let (code, _, stderr) = home.run(&["apply", "--notify", rival.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{stderr}");
    let (_, stdout, _) = home.run(&["runs", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let loser = runs
        .as_array()
        .expect("runs")
        .iter()
        .find(|run| run["plan"] == "contoso-uat-rival")
        .expect("the rival's run");
    assert_eq!(loser["state"], "rejected", "{loser}");
    let bodies = hooks.bodies();
    assert_eq!(bodies.len(), 1, "one notification: {bodies:?}");
    assert!(bodies[0].to_string().contains("rejected"), "{}", bodies[0]);
    // `submit` of the rival while the target is held ends the same way (a new window's run).
    let (code, _, stderr) = home.run(&["submit", rival.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("run `{holder}` is active on the same environment")),
        "{stderr}"
    );
}

/// Makes a file and its directory unwritable, for root too where the file system allows
/// (`chattr +i`), else by their modes; undone when dropped.
struct Frozen {
    paths: Vec<std::path::PathBuf>,
    immutable: bool,
}

impl Frozen {
    /// `None` (with a note) when nothing here can make the file unwritable for this user.
    fn new(file: &Path) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let directory = file.parent().expect("a directory").to_path_buf();
        let paths = vec![file.to_path_buf(), directory.clone()];
        let immutable = std::process::Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .status()
            .is_ok_and(|status| status.success());
        if !immutable {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).expect("chmod");
            std::fs::set_permissions(&directory, std::fs::Permissions::from_mode(0o555))
                .expect("chmod");
        }
        let frozen = Self { paths, immutable };
        let writable = std::fs::OpenOptions::new().append(true).open(file).is_ok()
            || std::fs::write(directory.join("probe"), b"").is_ok();
        if writable {
            skip::skip("this file system and user cannot make a file unwritable");
            return None;
        }
        Some(frozen)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .args(&self.paths)
                .status();
        } else {
            let _ =
                std::fs::set_permissions(&self.paths[1], std::fs::Permissions::from_mode(0o755));
            let _ =
                std::fs::set_permissions(&self.paths[0], std::fs::Permissions::from_mode(0o644));
        }
    }
}

/// `runs` and `status` on `state`, which must both work; returns the run ids listed.
fn read_back(home: &Home, state: &str) -> Vec<String> {
    let (code, table, stderr) = home.run(&["--state", state, "runs"]);
    assert_eq!(code, 0, "runs: {stderr}");
    assert!(table.starts_with("RUN"), "{table}");
    let (code, stdout, stderr) = home.run(&["--state", state, "runs", "--format", "json"]);
    assert_eq!(code, 0, "runs --format json: {stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let ids: Vec<String> = runs
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| run["id"].as_str().expect("id").to_owned())
        .collect();
    for id in &ids {
        assert!(table.contains(id.as_str()), "{table}");
        let (code, stdout, stderr) =
            home.run(&["--state", state, "status", id, "--format", "json"]);
        assert_eq!(code, 0, "status: {stderr}");
        let status: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        assert_eq!(status["id"], id.as_str());
        assert!(
            status["log"].as_array().is_some_and(|log| !log.is_empty()),
            "{status}"
        );
        let (code, _, stderr) = home.run(&["--state", state, "status", id]);
        assert_eq!(code, 0, "status: {stderr}");
    }
    ids
}

#[test]
fn runs_and_status_read_a_state_file_that_cannot_be_written() {
    let home = Home::new();
    let directory = home.0.path().join("frozen");
    std::fs::create_dir_all(&directory).expect("mkdir");
    let state = directory.join("state.db");
    let state_text = state.to_str().expect("utf-8").to_owned();
    let (code, stdout, stderr) = home.run(&[
        "--state",
        &state_text,
        "apply",
        "--yes",
        "plans/contoso-test-restore.yaml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let run = stdout.trim().to_owned();
    let before = std::fs::read(&state).expect("read");
    let Some(frozen) = Frozen::new(&state) else {
        return;
    };
    assert_eq!(read_back(&home, &state_text), std::slice::from_ref(&run));
    // Writing still says why it cannot.
    let (code, _, stderr) = home.run(&["--state", &state_text, "cancel", &run]);
    assert_ne!(code, 0, "{stderr}");
    drop(frozen);
    assert_eq!(
        std::fs::read(&state).expect("read"),
        before,
        "not a byte changed"
    );
}

#[test]
fn runs_and_status_never_create_migrate_or_write_the_state_file() {
    let home = Home::new();
    let state = home.0.path().join("state.db");
    let state_text = state.to_str().expect("utf-8").to_owned();
    let (code, _, stderr) = home.run(&["apply", "--yes", "plans/contoso-test-restore.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    // Make it a schema version 1 file, as an older refreshctl left it.
    old_state::undo_compact_form(&state);
    let connection = rusqlite::Connection::open(&state).expect("open");
    connection
        .execute_batch(
            "DROP TABLE model_rows; DROP TABLE models;
             DROP INDEX runs_due; DROP TABLE occurrences; DROP TABLE plans;
             ALTER TABLE runs DROP COLUMN fence; ALTER TABLE runs DROP COLUMN lease_owner;
             ALTER TABLE runs DROP COLUMN lease_until; ALTER TABLE runs DROP COLUMN next_due;
             ALTER TABLE runs DROP COLUMN window_end; ALTER TABLE runs DROP COLUMN adapter;
             PRAGMA user_version = 1;",
        )
        .expect("downgrade");
    drop(connection);
    let bytes = std::fs::read(&state).expect("read");
    let modified = std::fs::metadata(&state)
        .expect("stat")
        .modified()
        .expect("mtime");
    let ids = read_back(&home, &state_text);
    assert_eq!(ids.len(), 1, "the run of the older file is read");
    let (_, table, _) = home.run(&["--state", &state_text, "runs"]);
    assert!(
        table.contains("2026-12-07T14:00:00Z"),
        "the window's end, from the record: {table}"
    );
    assert_eq!(
        std::fs::read(&state).expect("read"),
        bytes,
        "the file is not written"
    );
    assert_eq!(
        std::fs::metadata(&state)
            .expect("stat")
            .modified()
            .expect("mtime"),
        modified
    );
    let version: i64 = rusqlite::Connection::open(&state)
        .expect("open")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, 1, "not migrated by a read");

    // A store that does not exist reads as empty, and is not created.
    let missing = home.0.path().join("nowhere/state.db");
    let missing_text = missing.to_str().expect("utf-8");
    let (code, stdout, stderr) = home.run(&["--state", missing_text, "runs", "--format", "json"]);
    assert_eq!((code, stdout.trim()), (0, "[]"), "{stderr}");
    let (code, _, stderr) = home.run(&["--state", missing_text, "status", &ids[0]]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no run"), "{stderr}");
    assert!(!missing.parent().expect("dir").exists(), "nothing created");

    // A command that writes migrates it as before.
    let (code, _, stderr) = home.run(&["--state", &state_text, "cancel", &ids[0]]);
    assert_eq!(code, 1, "a finished run cannot be canceled: {stderr}");
    let version: i64 = rusqlite::Connection::open(&state)
        .expect("open")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, refreshctl::state::SCHEMA_VERSION);
}

/// `runs --format json` over six runs, one of them damaged: the runs before it are written, the
/// array is left open, and the error names the run. The damaged run stands second (decoded by
/// the thread that reads) and third (decoded by the thread that writes).
#[test]
fn a_damaged_record_stops_runs_json_where_it_stands_and_names_its_run() {
    use refreshctl::state::{Claim, StateStore, StateUrl};
    for damaged in [1_usize, 2] {
        let home = Home::new();
        let (code, _, stderr) = home.run(&["apply", "--yes", "plans/contoso-uat-weekly.yaml"]);
        assert_eq!(code, 0, "{stderr}");
        let mut ids = Vec::new();
        {
            let store = StateStore::open(&StateUrl::Sqlite(home.state().into())).expect("store");
            let template = store.runs().expect("runs").pop().expect("one run");
            ids.push(template.id.clone());
            for index in 0..5 {
                let mut run = template.clone();
                run.id = format!("{}~copy{index}", template.id);
                run.target = format!("{}-{index}", template.target);
                run.version = 0;
                assert!(matches!(
                    store.insert_run(&run).expect("insert"),
                    Claim::Inserted(_)
                ));
                ids.push(run.id);
            }
        }
        let (code, whole, stderr) = home.run(&["runs", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let whole: serde_json::Value = serde_json::from_str(&whole).expect("json");
        let listed: Vec<&str> = whole
            .as_array()
            .expect("runs")
            .iter()
            .map(|run| run["id"].as_str().expect("id"))
            .collect();
        assert_eq!(listed.len(), 6, "{listed:?}");
        let victim = listed[damaged].to_owned();
        let connection = rusqlite::Connection::open(home.state()).expect("sqlite");
        let changed = connection
            .execute(
                "UPDATE runs SET record = zeroblob(12) WHERE id = ?1",
                [&victim],
            )
            .expect("damage");
        assert_eq!(changed, 1);
        drop(connection);
        let (code, stdout, stderr) = home.run(&["runs", "--format", "json"]);
        assert_eq!(code, 3, "{stderr}");
        assert!(
            stderr.contains(&format!("run `{victim}`")),
            "names the run: {stderr}"
        );
        assert!(!stdout.trim_end().ends_with(']'), "left open: {stdout}");
        let closed = if stdout.is_empty() {
            "[]".to_owned()
        } else {
            format!("{stdout}\n]")
        };
        let before: serde_json::Value = serde_json::from_str(&closed).expect("the runs before");
        let before: Vec<&str> = before
            .as_array()
            .expect("runs")
            .iter()
            .map(|run| run["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            before,
            listed[..damaged],
            "every run before the damaged one"
        );
    }
}
