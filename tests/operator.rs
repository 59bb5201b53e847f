//! What an operator does by hand (`approve`, `cancel`, `reschedule`) through the real binary:
//! who (`--by`, else the OS user) and why (`--reason`) are kept in the run's log, `status` shows
//! them in words and in JSON fields, and `cancel` and `reschedule` notify with the old and the
//! new window (sent with `--notify` or the `lcs` adapter, rendered only in a rehearsal).

#[path = "common/http_server.rs"]
mod http_server;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const NOW: &str = "2026-11-24T12:00:00Z";
const FIRST: &str = "fabrikam-training-monthly@20261201T2000Z";
const MOVED: &str = "fabrikam-training-monthly@20261208T2000Z";

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp"))
    }

    /// Runs the binary as the OS user `user` (`None`: no `USER` nor `LOGNAME` at all).
    fn run_as(&self, user: Option<&str>, args: &[&str]) -> (i32, String, String) {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("LOGNAME")
            .env("REFRESHCTL_STATE", self.0.path().join("state.db"));
        match user {
            Some(user) => command.env("USER", user),
            None => command.env_remove("USER"),
        };
        let output = command
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

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_as(Some("oscar"), args)
    }

    fn status(&self, run: &str) -> Value {
        let (code, stdout, stderr) = self.run(&["status", run, "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("json")
    }

    /// `status RUN` as a table: its LOG section's lines.
    fn log_lines(&self, run: &str) -> Vec<String> {
        let (code, stdout, stderr) = self.run(&["status", run]);
        assert_eq!(code, 0, "{stderr}");
        let log = stdout
            .split_once("\nLOG\n")
            .unwrap_or_else(|| panic!("a LOG section: {stdout}"))
            .1;
        log.lines().map(str::to_owned).collect()
    }

    /// The monthly Fabrikam example, notifying `hooks` on every event with the default body,
    /// and on `rescheduled` and `canceled` with a template too.
    fn notifying_plan(&self, hooks: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("plans/fabrikam-1611-monthly.yaml"))
            .expect("the example");
        let directory = self.0.path().join("plans");
        std::fs::create_dir_all(&directory).expect("plans");
        std::fs::write(
            directory.join("moved.json.tera"),
            r#"{ "event": {{ event | json }}, "adapter": {{ run.adapter | json }},
  "by": {{ operator.by | json }}, "why": {{ operator.reason | json }},
  "was": {% if previous_window %}{{ previous_window.start | json }}{% else %}null{% endif %},
  "now": {{ window.start | json }} }"#,
        )
        .expect("template");
        let path: PathBuf = directory.join("fabrikam.yaml");
        std::fs::write(
            &path,
            format!(
                "{text}notifications:\n  - url: {hooks}/default\n  - url: {hooks}/template\n    \
                 on: [rescheduled, canceled]\n    template: moved.json.tera\n"
            ),
        )
        .expect("plan");
        path.to_str().expect("utf-8").to_owned()
    }
}

/// The log entry of `kind` in a `status --format json`.
fn entry<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["log"]
        .as_array()
        .expect("log")
        .iter()
        .find(|entry| entry["kind"] == kind)
        .unwrap_or_else(|| panic!("a `{kind}` entry: {status}"))
}

fn submit_and_reschedule(home: &Home, plan: &str, extra: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = home.run(&["submit", "--now", NOW, plan]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), FIRST);
    let mut args = vec![
        "reschedule",
        FIRST,
        "--start",
        "2026-12-08T20:00:00Z",
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = home.run(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), MOVED);
    (code, stderr)
}

#[test]
fn reschedule_records_who_why_and_both_windows_and_status_shows_them() {
    let home = Home::new();
    submit_and_reschedule(
        &home,
        "plans/fabrikam-1611-monthly.yaml",
        &["--by", "alice", "--reason", "month-end close moved"],
    );
    let moved = "from 2026-12-01T20:00:00Z (Tue) – 2026-12-02T00:00:00Z (Wed) \
                 to 2026-12-08T20:00:00Z (Tue) – 2026-12-09T00:00:00Z (Wed)";
    assert_eq!(
        home.log_lines(MOVED),
        [
            format!(
                "2026-11-24T12:00:00Z (Tue)  rescheduled by alice: {moved} (was run `{FIRST}`): \
                 reason month-end close moved"
            ),
            "2026-11-24T12:00:00Z (Tue)  run submitted".to_owned(),
        ]
    );
    assert_eq!(
        home.log_lines(FIRST),
        [
            "2026-11-24T12:00:00Z (Tue)  run submitted".to_owned(),
            format!(
                "2026-11-24T12:00:00Z (Tue)  rescheduled by alice: {moved} (as run `{MOVED}`): \
                 reason month-end close moved"
            ),
            format!("2026-11-24T12:00:00Z (Tue)  run canceled by alice: rescheduled as `{MOVED}`"),
        ]
    );
    for run in [FIRST, MOVED] {
        let status = home.status(run);
        let rescheduled = entry(&status, "rescheduled");
        assert_eq!(rescheduled["by"], "alice", "{status}");
        assert_eq!(rescheduled["reason"], "month-end close moved");
        assert_eq!(
            rescheduled["from"],
            serde_json::json!({ "start": "2026-12-01T20:00:00Z", "end": "2026-12-02T00:00:00Z", "run": FIRST })
        );
        assert_eq!(
            rescheduled["to"],
            serde_json::json!({ "start": "2026-12-08T20:00:00Z", "end": "2026-12-09T00:00:00Z", "run": MOVED })
        );
    }
}

#[test]
fn cancel_records_the_os_user_or_unknown_and_the_reason() {
    let home = Home::new();
    let plan = "plans/fabrikam-1611-monthly.yaml";
    submit_and_reschedule(&home, plan, &[]);
    // Without --by, the OS user moved it.
    assert_eq!(entry(&home.status(MOVED), "rescheduled")["by"], "oscar");

    let (code, stdout, stderr) = home.run_as(
        Some("bob"),
        &["cancel", MOVED, "--reason", "the training was called off"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), MOVED);
    let status = home.status(MOVED);
    assert_eq!(status["state"], "canceled");
    let canceled = status["log"]
        .as_array()
        .expect("log")
        .iter()
        .find(|entry| {
            entry["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("run canceled"))
        })
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(canceled["by"], "bob");
    assert_eq!(canceled["reason"], "the training was called off");
    let last = home.log_lines(MOVED).pop().expect("a line");
    assert!(
        last.ends_with("  run canceled by bob: reason the training was called off"),
        "{last}"
    );

    // No `USER` nor `LOGNAME`: `unknown`; no reason: none recorded.
    let (_, stdout, stderr) = home.run(&["submit", "--now", "2026-12-24T12:00:00Z", plan]);
    let next = stdout.trim().to_owned();
    assert_eq!(next, "fabrikam-training-monthly@20270101T2000Z", "{stderr}");
    let (code, _, stderr) = home.run_as(None, &["cancel", &next]);
    assert_eq!(code, 0, "{stderr}");
    let last = home.log_lines(&next).pop().expect("a line");
    assert!(last.ends_with("  run canceled by unknown"), "{last}");
    let status = home.status(&next);
    let entries = status["log"].as_array().expect("log");
    let canceled = entries.last().expect("an entry");
    assert_eq!(canceled["by"], "unknown");
    assert!(canceled.get("reason").is_none(), "{canceled}");
}

#[test]
fn approve_records_who_and_why() {
    let home = Home::new();
    let (code, stdout, stderr) = home.run(&["apply", "plans/contoso-uat-weekly.yaml"]);
    assert_eq!(code, 1, "stops at its first manual step: {stderr}");
    let run = stdout.trim().to_owned();
    let (code, _, stderr) = home.run(&[
        "approve",
        &run,
        "reset-financial-reporting",
        "--by",
        "carol",
        "--reason",
        "smoke test passed",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let status = home.status(&run);
    let approved = status["log"]
        .as_array()
        .expect("log")
        .iter()
        .find(|entry| entry["by"] == "carol")
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(approved["reason"], "smoke test passed");
    assert_eq!(
        approved["message"],
        "run running: `reset-financial-reporting` approved by carol: reason smoke test passed"
    );
    assert!(
        home.log_lines(&run).iter().any(|line| line.ends_with(
            "  run running: `reset-financial-reporting` approved by carol: reason smoke test passed"
        )),
        "{:?}",
        home.log_lines(&run)
    );
}

#[test]
fn no_log_line_is_raw_json() {
    let home = Home::new();
    let (code, stdout, stderr) = home.run(&[
        "apply",
        "--yes",
        "--start-now",
        "--reason",
        "UAT data corrupted by a bad import",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines = home.log_lines(stdout.trim());
    assert!(
        lines.iter().any(|line| line
            .ends_with("  emergency: the lead time is waived: UAT data corrupted by a bad import")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("`manual` approved by oscar")),
        "a rehearsal's --yes approval says who: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains("{\""), "raw JSON in the log: {line}");
    }
}

#[test]
fn reschedule_and_cancel_notify_with_both_windows_when_asked_to() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    let plan = home.notifying_plan(&hooks.url);

    // A rehearsal renders and sends nothing.
    let (_, stderr) = submit_and_reschedule(&home, &plan, &["--by", "alice"]);
    assert!(
        stderr.contains("notification(s) rendered, none sent (`--notify` sends them)"),
        "{stderr}"
    );
    assert!(hooks.bodies().is_empty(), "{:?}", hooks.bodies());

    let (code, _, stderr) = home.run(&[
        "reschedule",
        MOVED,
        "--start",
        "2026-12-15T20:00:00Z",
        "--now",
        NOW,
        "--by",
        "alice",
        "--reason",
        "payroll test needs the week",
        "--notify",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let again = "fabrikam-training-monthly@20261215T2000Z";
    let (code, _, stderr) = home.run_as(
        Some("bob"),
        &["cancel", again, "--reason", "called off", "--notify"],
    );
    assert_eq!(code, 0, "{stderr}");

    let requests = hooks.requests.lock().expect("lock").clone();
    let sent = |path: &str| -> Vec<Value> {
        requests
            .iter()
            .filter(|(at, _)| at == path)
            .map(|(_, body)| serde_json::from_str(body).expect("JSON"))
            .collect()
    };
    let default = sent("/default");
    assert_eq!(default.len(), 2, "{default:?}");
    let (moved, canceled) = (&default[0], &default[1]);
    assert_eq!(moved["event"], "rescheduled");
    assert_eq!(moved["run"], again);
    assert_eq!(moved["adapter"], "simulator");
    assert_eq!(
        moved["window"],
        serde_json::json!({ "start": "2026-12-15T20:00:00Z", "end": "2026-12-16T00:00:00Z" })
    );
    assert_eq!(
        moved["previous_window"],
        serde_json::json!({ "start": "2026-12-08T20:00:00Z", "end": "2026-12-09T00:00:00Z", "run": MOVED })
    );
    assert_eq!(
        moved["operator"],
        serde_json::json!({ "by": "alice", "reason": "payroll test needs the week" })
    );
    let text = moved["text"].as_str().expect("text");
    assert!(
        text.contains(
            "is rescheduled for the window 2026-12-15T20:00:00Z to 2026-12-16T00:00:00Z \
             (it was 2026-12-08T20:00:00Z to 2026-12-09T00:00:00Z). \
             By alice: payroll test needs the week."
        ),
        "{text}"
    );
    assert_eq!(canceled["event"], "canceled");
    assert_eq!(canceled["run"], again);
    assert_eq!(canceled["adapter"], "simulator");
    assert_eq!(
        canceled["operator"],
        serde_json::json!({ "by": "bob", "reason": "called off" })
    );
    assert!(canceled.get("previous_window").is_none(), "{canceled}");

    let template = sent("/template");
    assert_eq!(
        template,
        [
            serde_json::json!({ "event": "rescheduled", "adapter": "simulator", "by": "alice",
                "why": "payroll test needs the week", "was": "2026-12-08T20:00:00Z",
                "now": "2026-12-15T20:00:00Z" }),
            serde_json::json!({ "event": "canceled", "adapter": "simulator", "by": "bob",
                "why": "called off", "was": null, "now": "2026-12-15T20:00:00Z" }),
        ]
    );
}

#[test]
fn a_failed_notification_never_fails_a_cancel_and_is_logged() {
    let home = Home::new();
    // Nothing listens on port 9.
    let plan = home.notifying_plan("http://127.0.0.1:9");
    let (code, _, stderr) = home.run(&["submit", "--now", NOW, &plan]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = home.run(&["cancel", FIRST, "--notify"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), FIRST);
    // Kept in the outbox: the next `tick` or `daemon` pass sends it.
    assert!(
        stderr.contains(&format!(
            "the canceled notification of `{FIRST}` to http://127.0.0.1:9/… was not delivered"
        )) && stderr.contains("kept to be sent again at the next pass"),
        "{stderr}"
    );
    let status = home.status(FIRST);
    assert_eq!(status["state"], "canceled");
    assert!(
        status["log"]
            .as_array()
            .expect("log")
            .iter()
            .any(|entry| entry["kind"] == "notification-failed"),
        "{status}"
    );
}

#[test]
fn a_cancel_of_an_lcs_run_notifies_without_being_asked() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    let plan = home.notifying_plan(&hooks.url);
    // Submitting records only: nothing to sign in to.
    let (code, _, stderr) = home.run(&["--adapter", "lcs", "submit", "--now", NOW, &plan]);
    assert_eq!(code, 0, "{stderr}");
    let submitted = hooks.bodies().len();
    // Canceling a run that has not started calls no LCS API, and the run's adapter decides
    // that its notifications go out, whatever `--adapter` the command has.
    let (code, _, stderr) = home.run(&["cancel", FIRST, "--by", "dana"]);
    assert_eq!(code, 0, "{stderr}");
    let bodies = hooks.bodies()[submitted..].to_vec();
    let default = bodies
        .iter()
        .find(|body| body.get("text").is_some())
        .unwrap_or_else(|| panic!("{bodies:?}"));
    assert_eq!(default["event"], "canceled");
    assert_eq!(default["adapter"], "lcs");
    assert_eq!(default["operator"]["by"], "dana");
    assert_eq!(
        bodies.len(),
        2,
        "the default body and the template: {bodies:?}"
    );
}

#[test]
fn a_cancel_whose_plan_file_changed_cancels_and_sends_nothing() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    let plan = home.notifying_plan(&hooks.url);
    let (code, _, stderr) = home.run(&["submit", "--now", NOW, &plan]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&plan).expect("plan");
    std::fs::write(
        &plan,
        text.replace("name: fabrikam-training-monthly", "name: another-plan"),
    )
    .expect("rewrite");
    let (code, _, stderr) = home.run(&["cancel", FIRST, "--notify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .contains("notifications of `fabrikam-training-monthly@20261201T2000Z` were not sent")
            && stderr.contains("now holds plan `another-plan`"),
        "{stderr}"
    );
    assert!(hooks.bodies().is_empty(), "{:?}", hooks.bodies());
    assert_eq!(home.status(FIRST)["state"], "canceled");
}
