//! One log format (issue 15, item 5): with `--log-format json` every stderr line of every
//! command is one JSON object with `timestamp`, `level` and `message`, and its fields (a run's
//! events carry the simulated time as `sim_time`). Each line is parsed.

mod common;

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp"))
    }

    /// Runs refreshctl with `--log-format json` first; returns the exit code, stdout and every
    /// stderr line parsed (a line that is not a JSON object fails the test).
    fn run(&self, args: &[&str]) -> (i32, String, Vec<Value>) {
        let output = Command::cargo_bin("refreshctl")
            .expect("binary")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("HOME", self.0.path())
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .env("XDG_STATE_HOME", self.0.path().join("state"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("REFRESHCTL_STATE")
            .args(["--log-format", "json"])
            .args(args)
            .timeout(std::time::Duration::from_mins(1))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines = stderr
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("{args:?}: not JSON ({error}): {line}"));
                assert!(value.is_object(), "{args:?}: {line}");
                for key in ["timestamp", "level", "message"] {
                    assert!(value[key].is_string(), "{args:?}: no `{key}` in {line}");
                }
                let timestamp = value["timestamp"].as_str().expect("timestamp");
                assert!(
                    chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
                    "{timestamp}"
                );
                assert!(
                    ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                        .contains(&value["level"].as_str().expect("level")),
                    "{line}"
                );
                assert!(!line.contains("Some("), "Rust debug form: {line}");
                value
            })
            .collect();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            lines,
        )
    }
}

fn messages(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|line| line["message"].as_str().expect("message"))
        .collect()
}

#[test]
fn apply_writes_every_line_as_json_with_the_simulated_time_as_its_own_field() {
    let home = Home::new();
    let (code, stdout, lines) = home.run(&["apply", "--yes", "plans/contoso-uat-weekly.yaml"]);
    assert_eq!(code, 0, "{lines:#?}");
    let run = stdout.trim();
    let events: Vec<&Value> = lines
        .iter()
        .filter(|line| line.get("kind").is_some())
        .collect();
    assert!(events.len() > 20, "{lines:#?}");
    for event in &events {
        assert_eq!(event["run"], run, "{event}");
        let sim_time = event["sim_time"].as_str().expect("sim_time");
        assert!(
            chrono::DateTime::parse_from_rfc3339(sim_time).is_ok(),
            "{event}"
        );
        assert!(event.get("at").is_none(), "{event}");
        assert_eq!(event["level"], "INFO", "{event}");
    }
    // Simulated time runs days ahead of the real timestamp: the two are different fields.
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "run-state");
    assert_eq!(last["message"], "succeeded");
    assert_ne!(
        last["sim_time"].as_str().map(|time| &time[..10]),
        last["timestamp"].as_str().map(|time| &time[..10])
    );
    let step = events
        .iter()
        .find(|event| event["kind"] == "step-started")
        .expect("a step started");
    assert_eq!(step["step"], "preflight");
    assert!(
        events
            .iter()
            .any(|event| event["kind"] == "waiting" && event["until"].is_string()),
        "waits carry `until`"
    );
    // The notices that were plain text lines are objects too, without their prefixes.
    let said = messages(&lines);
    for notice in [
        "rehearsing on the simulator (simulated time; nothing real is touched)",
        "rehearsal: `manual` approved (--yes)",
    ] {
        assert!(said.contains(&notice), "{said:#?}");
    }
    assert!(
        said.iter()
            .all(|message| !message.starts_with("refreshctl: "))
    );
}

#[test]
fn tick_writes_every_line_as_json_with_run_kind_step_and_sim_time() {
    let home = Home::new();
    let (code, _, lines) = home.run(&["tick", "--yes", "--now", "2026-11-24T10:00:00Z"]);
    assert!(code == 0 || code == 1, "{lines:#?}");
    let (code, _, lines) = home.run(&[
        "-v",
        "tick",
        "--yes",
        "--now",
        "2026-11-24T10:00:01Z",
        "--until",
        "2026-12-07T00:00:00Z",
    ]);
    assert!(code == 0 || code == 1, "{lines:#?}");
    let events: Vec<&Value> = lines
        .iter()
        .filter(|line| line.get("kind").is_some())
        .collect();
    assert!(!events.is_empty(), "{lines:#?}");
    for event in &events {
        assert!(
            event["run"].as_str().is_some_and(|run| run.contains('@')),
            "{event}"
        );
        assert!(event["sim_time"].is_string(), "{event}");
        assert!(event["kind"].is_string(), "{event}");
    }
    assert!(
        events
            .iter()
            .any(|event| event["kind"] == "step-succeeded" && event["step"] == "preflight"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|event| event["kind"] == "run-state" && event["message"] == "succeeded"),
        "{events:#?}"
    );
    // The notices of a pass are objects too.
    assert!(
        messages(&lines)
            .iter()
            .any(|message| message.starts_with("rehearsal: `manual` of `contoso-uat-weekly@")),
        "{lines:#?}"
    );
}

#[test]
fn errors_hints_usage_errors_and_diagnostics_are_json_objects_too() {
    let home = Home::new();
    // A command's error and its hint: one object.
    let (code, _, lines) = home.run(&["validate", "no-such-plan.yaml"]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["message"], "`no-such-plan.yaml` does not exist");
    assert!(lines[0]["hint"].is_string());
    // A usage error clap reports: one object, exit 2.
    let (code, _, lines) = home.run(&["validate", "--no-such-flag"]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0]["message"]
            .as_str()
            .expect("message")
            .starts_with("unexpected argument '--no-such-flag'")
    );
    // The diagnostics of a plan `apply` refuses: one object each, with their fields.
    let (code, _, lines) =
        home.run(&["apply", "--yes", "tests/fixtures/shape/three-problems.yaml"]);
    assert_eq!(code, 1);
    let diagnostics: Vec<&Value> = lines
        .iter()
        .filter(|line| line.get("rule").is_some())
        .collect();
    assert_eq!(diagnostics.len(), 3, "{lines:#?}");
    for diagnostic in diagnostics {
        assert_eq!(diagnostic["rule"], "schema");
        assert_eq!(diagnostic["level"], "ERROR");
        assert!(diagnostic["line"].is_u64() && diagnostic["column"].is_u64());
        assert!(diagnostic["help"].is_string());
    }
}

#[test]
fn every_other_command_writes_only_json_lines() {
    let home = Home::new();
    let state = home.0.path().join("runs.db").display().to_string();
    let state = state.as_str();
    let (code, stdout, _) =
        home.run(&["--state", state, "submit", "plans/contoso-uat-weekly.yaml"]);
    assert_eq!(code, 0);
    let run = stdout.trim().to_owned();
    let runs: &[&[&str]] = &[
        &["validate", "plans/"],
        &["validate", "tests/fixtures/shape/three-problems.yaml"],
        &["plan", "plans/contoso-uat-weekly.yaml"],
        &["plan", "tests/fixtures/shape/three-problems.yaml"],
        &["rules"],
        &["explain", "lead-time"],
        &["explain", "no-such-rule"],
        &["schema"],
        &["notify-preview", "plans/contoso-uat-weekly.yaml"],
        &["--state", state, "runs"],
        &["--state", state, "status", &run],
        &["--state", state, "status", "no-such-run@20261205T2100Z"],
        &["--state", state, "approve", &run, "manual"],
        &["--state", state, "cancel", &run, "--reason", "a test"],
        &["--state", "nonsense", "runs"],
        &["completions", "bash"],
    ];
    for args in runs {
        // `run` parses and checks every stderr line.
        let (code, _, lines) = home.run(args);
        assert!(code <= 3, "{args:?}: {code}");
        if code >= 2 {
            assert!(!lines.is_empty(), "{args:?}: exit {code} says why");
        }
    }
    assert!(Path::new(state).exists());
}

/// The daemon's notices (scheduling, stopping) are JSON lines too.
#[test]
fn the_daemon_writes_only_json_lines_from_start_to_stop() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command as Process, Stdio};
    let home = Home::new();
    let mut daemon = Process::new(env!("CARGO_BIN_EXE_refreshctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home.0.path())
        .env("XDG_STATE_HOME", home.0.path().join("state"))
        .env("XDG_CACHE_HOME", home.0.path().join("cache"))
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("REFRESHCTL_STATE")
        .args([
            "--log-format",
            "json",
            "daemon",
            "--plans",
            "plans",
            "--recheck",
            "1h",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daemon");
    let mut lines = BufReader::new(daemon.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("text");
    let first: Value =
        serde_json::from_str(&first).unwrap_or_else(|error| panic!("{error}: {first}"));
    assert!(
        first["message"]
            .as_str()
            .is_some_and(|text| text.starts_with("daemon `") && text.contains("scheduling")),
        "{first}"
    );
    let status = Process::new("kill")
        .args(["-s", "TERM", &daemon.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map(|line| line.expect("text")).collect();
    assert!(daemon.wait().expect("exit").success());
    assert!(!rest.is_empty(), "it says it stopped");
    for line in &rest {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        for key in ["timestamp", "level", "message"] {
            assert!(value[key].is_string(), "{line}");
        }
    }
    assert!(
        rest.iter()
            .any(|line| line.contains("every run is left to resume")),
        "{rest:?}"
    );
}
