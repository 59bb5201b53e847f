//! Nothing waits in silence, and no notification is lost (issue 12, items 1 and 4), through the
//! real binary on the simulator with a web hook server on loopback: a season rehearsed by `tick
//! --until` in which a manual step is never approved (reminders, or the timeout failing the run
//! and releasing the environment; the later occurrence rejected naming the run that holds it;
//! `tick`'s exit code and JSON), a delivery that fails reported while the process still runs,
//! and a notification left undelivered by a killed process sent by the next pass.

#[path = "common/http_server.rs"]
mod http_server;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use refreshctl::state::{StateStore, StateUrl};
use serde_json::Value;

/// The first tick: the plan is first seen here, four days before its Saturday window's submit
/// time (48 hours before 2026-11-28T22:00Z).
const FIRST_SIGHT: &str = "2026-11-24T10:00:00Z";
const FIRST_RUN: &str = "uat-weekly@20261128T2200Z";
const SECOND_RUN: &str = "uat-weekly@20261205T2200Z";

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp"))
    }

    /// Writes the weekly plan with a manual step whose `timeout` options are `manual`, notifying
    /// `hooks` (each a URL) on every event with the default body.
    fn plan(&self, manual: &str, hooks: &[&str]) -> PathBuf {
        let directory = self.0.path().join("plans");
        std::fs::create_dir_all(&directory).expect("plans");
        let heading = if hooks.is_empty() {
            ""
        } else {
            "notifications:\n"
        };
        let notifications = hooks.iter().fold(heading.to_owned(), |mut list, url| {
            list.push_str("  - url: ");
            list.push_str(url);
            list.push('\n');
            list
        });
        let text = format!(
            "version: 1
name: uat-weekly
project: 1234567
environment: {{name: contoso-uat, type: sandbox, release: \"10.0.41\"}}
source: {{name: contoso-prod, type: production, release: \"10.0.41\"}}
window: {{cron: \"0 22 * * SAT\", timezone: UTC, duration: 6h}}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - manual:
      instructions: Re-activate the POS devices of store 042.
{manual}{notifications}"
        );
        std::fs::write(directory.join("uat.yaml"), text).expect("plan");
        directory
    }

    fn command(&self, retry_wait: &str) -> Command {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(self.0.path())
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", retry_wait)
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", self.0.path().join("state.db"))
            .timeout(Duration::from_mins(2));
        command
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.command("1ms").args(args).output().expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `tick --format json --notify` from `now` (and up to `until`): the exit code, one object
    /// per pass, and stderr.
    fn tick(&self, now: &str, until: Option<&str>) -> (i32, Vec<Value>, String) {
        let mut args = vec![
            "tick", "--plans", "plans", "--notify", "--format", "json", "--now", now,
        ];
        if let Some(until) = until {
            args.extend(["--until", until]);
        }
        let (code, stdout, stderr) = self.run(&args);
        let passes = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("not JSON ({error}): {line}\n{stderr}"))
            })
            .collect();
        (code, passes, stderr)
    }

    fn status(&self, run: &str) -> Value {
        let (code, stdout, stderr) = self.run(&["status", run, "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("json")
    }
}

/// The log entries of `kind` in a `status --format json`.
fn entries<'a>(status: &'a Value, kind: &str) -> Vec<&'a Value> {
    status["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter(|entry| entry["kind"] == kind)
        .collect()
}

/// The bodies of `event` that reached the server.
fn of_event<'a>(bodies: &'a [Value], event: &str) -> Vec<&'a Value> {
    bodies
        .iter()
        .filter(|body| body["event"] == event)
        .collect()
}

/// The `rejected` entries of every pass.
fn rejections(passes: &[Value]) -> Vec<&Value> {
    passes
        .iter()
        .flat_map(|pass| pass["rejected"].as_array().expect("rejected"))
        .collect()
}

#[test]
fn manual_timeout_options_are_checked_at_their_places() {
    // The manual step's options start on line 12 of the plan.
    let cases: &[(&str, Option<(u64, &str)>)] = &[
        ("timeout: 2d\non_timeout: remind\nremind_every: 12h", None),
        ("timeout: 90m\non_timeout: fail", None),
        ("timeout: 1d\non_timeout: remind", None),
        (
            "on_timeout: remind",
            Some((12, "`on_timeout` needs a `timeout` on the same step")),
        ),
        (
            "timeout: 2d\nremind_every: 4h",
            Some((13, "`remind_every` is for `on_timeout: remind`")),
        ),
        ("timeout: 30s", Some((12, "`30s` is shorter than 1m"))),
        (
            "timeout: 1d\non_timeout: remind\nremind_every: 5m",
            Some((14, "`5m` is shorter than 15m")),
        ),
        ("timeout: soon", Some((12, "soon"))),
        ("timeout: 1d\non_timeout: later", Some((13, "later"))),
    ];
    for (options, expected) in cases {
        let home = Home::new();
        let manual = options.lines().fold(String::new(), |mut text, line| {
            text.push_str("      ");
            text.push_str(line);
            text.push('\n');
            text
        });
        let directory = home.plan(&manual, &[]);
        let (_, stdout, stderr) = home.run(&[
            "validate",
            "--format",
            "json",
            "--now",
            FIRST_SIGHT,
            directory.to_str().expect("utf-8"),
        ]);
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("{options}: not JSON ({error}): {stdout}{stderr}"));
        let schema: Vec<&Value> = report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter(|diagnostic| diagnostic["rule"] == "schema")
            .collect();
        match expected {
            None => assert!(schema.is_empty(), "{options}: {schema:?}"),
            Some((line, message)) => {
                assert_eq!(schema.len(), 1, "{options}: {schema:?}");
                assert_eq!(schema[0]["line"], *line, "{options}: {}", schema[0]);
                assert!(
                    schema[0]["message"]
                        .as_str()
                        .is_some_and(|text| text.contains(message)),
                    "{options}: {}",
                    schema[0]
                );
            }
        }
    }
}

#[test]
fn a_season_with_a_step_never_approved_reminds_rejects_naming_the_holder_and_exits_4() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    home.plan(
        "      timeout: 2d\n      on_timeout: remind\n      remind_every: 12h\n",
        &[&hooks.url],
    );
    // Three weeks: the first window, and the two after it.
    let (code, passes, stderr) = home.tick(FIRST_SIGHT, Some("2026-12-14T00:00:00Z"));
    assert_eq!(code, 4, "a run needs a person at the end: {stderr}");
    let last = passes.last().expect("passes");
    assert_eq!(last["needs_person"], true, "{last}");
    let waiting = last["waiting"].as_array().expect("waiting");
    assert_eq!(waiting.len(), 1, "{last}");
    assert_eq!(waiting[0]["run"], FIRST_RUN);
    assert_eq!(waiting[0]["state"], "awaiting-approval");
    assert_eq!(waiting[0]["step"], "manual");
    assert_eq!(
        waiting[0]["command"],
        format!("refreshctl approve {FIRST_RUN} manual (or refreshctl cancel {FIRST_RUN})")
    );
    // The waiting run is looked at again at its next reminder, so `--until` stops there.
    assert!(waiting[0]["next_look"].is_string(), "{last}");
    // Before the run waited, nobody was needed.
    assert_eq!(passes[0]["needs_person"], false, "{}", passes[0]);

    // Both later occurrences are rejected, naming the run that holds the environment, its
    // state and what lets it go.
    let rejected = rejections(&passes);
    let rejected_runs: Vec<&str> = rejected
        .iter()
        .map(|entry| entry["run"].as_str().expect("run"))
        .collect();
    assert_eq!(
        rejected_runs,
        [SECOND_RUN, "uat-weekly@20261212T2200Z"],
        "{rejected:?}"
    );
    for entry in &rejected {
        let reason = entry["reason"].as_str().expect("reason");
        assert!(
            reason.contains(&format!(
                "run `{FIRST_RUN}` is active on the same environment"
            )) && reason.contains("awaiting-approval at `manual`")
                && reason.contains(&format!("refreshctl approve {FIRST_RUN} manual")),
            "{reason}"
        );
    }

    // What the team's channel received.
    let bodies = hooks.bodies();
    let waits = of_event(&bodies, "awaiting-approval");
    let first_wait = waits.first().expect("an awaiting-approval notification");
    assert_eq!(first_wait["run"], FIRST_RUN);
    assert_eq!(first_wait["step"], "manual");
    assert_eq!(
        first_wait["command"],
        format!("refreshctl approve {FIRST_RUN} manual (or refreshctl cancel {FIRST_RUN})")
    );
    assert!(first_wait["detail"].is_null(), "{first_wait}");
    // Reminders from two days after the wait began, every 12 hours, up to 2026-12-14.
    let since: chrono::DateTime<chrono::Utc> = waiting[0]["since"]
        .as_str()
        .expect("since")
        .parse()
        .expect("a time");
    let until: chrono::DateTime<chrono::Utc> = "2026-12-14T00:00:00Z".parse().expect("a time");
    let expected = 1 + (until - since - chrono::TimeDelta::days(2)).num_hours() / 12;
    let expected = usize::try_from(expected).expect("a count");
    assert!(expected > 20, "three weeks of reminders: {expected}");
    let reminders = &waits[1..];
    assert_eq!(reminders.len(), expected, "the reminders");
    for (number, reminder) in reminders.iter().enumerate() {
        let detail = reminder["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with(&format!("reminder {}: `manual` still waits", number + 1))
                && detail.contains(&format!("refreshctl approve {FIRST_RUN} manual")),
            "{detail}"
        );
        assert!(
            reminder["text"]
                .as_str()
                .is_some_and(|text| text.contains(&format!("Reminder {}:", number + 1))),
            "{reminder}"
        );
    }
    let rejected_bodies = of_event(&bodies, "rejected");
    assert_eq!(rejected_bodies.len(), 2, "{rejected_bodies:?}");
    assert_eq!(rejected_bodies[0]["run"], SECOND_RUN);
    assert!(
        rejected_bodies[0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains(&format!("run `{FIRST_RUN}`"))),
        "names the blocking run: {}",
        rejected_bodies[0]
    );
    assert!(of_event(&bodies, "failed").is_empty(), "{bodies:?}");

    // `status` shows the reminders in the run's log.
    let status = home.status(FIRST_RUN);
    assert_eq!(status["state"], "awaiting-approval");
    assert_eq!(
        entries(&status, "reminder").len(),
        expected,
        "the reminders in the log"
    );
}

#[test]
fn a_step_that_times_out_fails_its_run_and_releases_the_environment_for_the_next() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    home.plan("      timeout: 2d\n", &[&hooks.url]);
    // Up to the third window's accepted run: the first two time out, nothing waits at the end.
    let (code, passes, stderr) = home.tick(FIRST_SIGHT, Some("2026-12-12T00:00:00Z"));
    assert_eq!(code, 0, "nothing waits for a person at the end: {stderr}");
    assert_eq!(
        passes.last().expect("passes")["needs_person"],
        false,
        "{passes:?}"
    );
    assert!(
        passes.iter().any(|pass| pass["needs_person"] == true),
        "a run waited on the way: {passes:?}"
    );
    assert!(rejections(&passes).is_empty(), "{passes:?}");
    let submitted: Vec<&Value> = passes
        .iter()
        .flat_map(|pass| pass["submitted"].as_array().expect("submitted"))
        .collect();
    assert_eq!(
        submitted,
        [FIRST_RUN, SECOND_RUN, "uat-weekly@20261212T2200Z"],
        "each later occurrence runs: the environment was released"
    );
    for run in [FIRST_RUN, SECOND_RUN] {
        let status = home.status(run);
        assert_eq!(status["state"], "failed", "{status}");
        let error = status["detail"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("manual: not approved within 48h")
                && error.contains("is released for later runs"),
            "{status}"
        );
    }
    let bodies = hooks.bodies();
    let failed = of_event(&bodies, "failed");
    assert_eq!(failed.len(), 2, "{bodies:?}");
    assert!(
        failed[0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("not approved within 48h")),
        "{}",
        failed[0]
    );
    assert_eq!(
        of_event(&bodies, "awaiting-approval").len(),
        2,
        "no reminders"
    );
}

/// A server that records each request and answers it only when the test says so.
struct HeldServer {
    url: String,
    requests: mpsc::Receiver<String>,
    release: mpsc::Sender<()>,
}

impl HeldServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/held", listener.local_addr().expect("address"));
        let (seen, requests) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = seen.send(String::from_utf8_lossy(&body).into_owned());
                let _ = released.recv();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self {
            url,
            requests,
            release,
        }
    }
}

/// A URL on loopback where nothing listens.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/closed", listener.local_addr().expect("address"));
    drop(listener);
    url
}

#[test]
fn a_failed_delivery_is_warned_about_and_logged_while_the_pass_still_runs() {
    let home = Home::new();
    let held = HeldServer::start();
    let closed = closed_port();
    home.plan("", &[&closed, &held.url]);
    // At the submit time: the run is submitted and accepted in this pass; its notifications go
    // to a closed port and to a server that holds its answer until the test lets it go.
    let binary = assert_cmd::cargo::cargo_bin("refreshctl");
    let mut child = Process::new(binary)
        .current_dir(home.0.path())
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", home.0.path().join("cache"))
        .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
        .env_remove("REFRESHCTL_ADAPTER")
        .env("REFRESHCTL_STATE", home.0.path().join("state.db"))
        .args([
            "tick",
            "--plans",
            "plans",
            "--notify",
            "--now",
            "2026-11-26T22:00:00Z",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tick starts");
    let held_body = held
        .requests
        .recv_timeout(Duration::from_mins(1))
        .expect("the held server is asked");
    assert!(held_body.contains(FIRST_RUN), "{held_body}");
    // The warning comes while the other notification is still unanswered.
    let (lines, read) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let warning = loop {
        let line = read
            .recv_timeout(Duration::from_mins(1))
            .expect("a warning before the pass ends");
        if line.contains("was not delivered") {
            break line;
        }
    };
    assert!(
        warning.contains(&format!(
            "notification of `{FIRST_RUN}` to http://127.0.0.1"
        )) && warning.contains("cannot connect after 3 attempts")
            && !warning.contains("/closed"),
        "{warning}"
    );
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the tick still waits for the held answer"
    );
    // …and the run's log already says so.
    let status = home.status(FIRST_RUN);
    let failed = entries(&status, "notification-failed");
    assert!(!failed.is_empty(), "{status}");
    assert!(
        failed
            .iter()
            .all(|entry| entry["message"]
                .as_str()
                .is_some_and(|message| message
                    .contains("was not delivered: cannot connect after 3 attempts"))),
        "{failed:?}"
    );
    // Let every held answer go, and the pass end.
    for _ in 0..8 {
        let _ = held.release.send(());
    }
    while held
        .requests
        .recv_timeout(Duration::from_millis(200))
        .is_ok()
    {
        let _ = held.release.send(());
    }
    let done = child.wait().expect("tick ends");
    assert_eq!(done.code(), Some(0));
    // Once, not again at the end of the command.
    let later: Vec<String> = read.try_iter().collect();
    let repeated = later
        .iter()
        .filter(|line| line.contains("was not delivered"))
        .count();
    assert_eq!(
        1 + repeated,
        2,
        "each failure (submitted, accepted) is warned about once, when it fails: {later:?}"
    );
}

#[test]
fn a_notification_left_undelivered_by_a_killed_tick_is_sent_by_the_next_pass() {
    let home = Home::new();
    // The first request is answered 500; the retry would come 10 minutes later.
    let hooks = http_server::Server::start(1);
    home.plan("", &[&hooks.url]);
    // Started as a process of its own, so the test can kill it.
    let binary = assert_cmd::cargo::cargo_bin("refreshctl");
    let mut process = Process::new(binary)
        .current_dir(home.0.path())
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", home.0.path().join("cache"))
        .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "10m")
        .env_remove("REFRESHCTL_ADAPTER")
        .env("REFRESHCTL_STATE", home.0.path().join("state.db"))
        .args([
            "tick",
            "--plans",
            "plans",
            "--notify",
            "--now",
            "2026-11-26T22:00:00Z",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tick starts");
    // Both notifications of the pass (submitted, accepted) have reached the server: one was
    // answered 500 and waits ten minutes for its retry. Then the process is killed.
    // The one answered 200 has left the outbox; the other is still in it.
    let store = StateStore::open(&StateUrl::Sqlite(home.0.path().join("state.db"))).expect("store");
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    while hooks.requests.lock().expect("lock").len() < 2
        || store.documents("outbox/").expect("outbox").len() != 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "two requests, one left to retry"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    process.kill().expect("SIGKILL");
    let _ = process.wait();
    let first: Vec<Value> = hooks.bodies();
    let answered_500 = first[0]["event"].as_str().expect("event").to_owned();

    // The next pass sends it again from the outbox, and the run's log says so.
    let (code, passes, stderr) = home.tick("2026-11-26T22:10:00Z", None);
    assert_eq!(code, 0, "{stderr}");
    let redelivered = passes[0]["redelivered"].as_array().expect("redelivered");
    assert_eq!(redelivered.len(), 1, "{}", passes[0]);
    assert_eq!(redelivered[0]["run"], FIRST_RUN);
    assert_eq!(redelivered[0]["event"], answered_500.as_str());
    assert_eq!(redelivered[0]["status"], 200);
    let bodies = hooks.bodies();
    let again: Vec<&Value> = bodies[2..]
        .iter()
        .filter(|body| body["event"] == answered_500.as_str())
        .collect();
    assert_eq!(again.len(), 1, "sent once more: {bodies:?}");
    assert_eq!(again[0], &first[0], "the same body");
    let status = home.status(FIRST_RUN);
    let delivered = entries(&status, "notification-delivered");
    assert_eq!(delivered.len(), 1, "{status}");
    assert!(
        delivered[0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("was delivered late")),
        "{status}"
    );
    // The pass after has nothing left to send.
    let (code, passes, stderr) = home.tick("2026-11-26T22:20:00Z", None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(passes[0]["redelivered"], serde_json::json!([]));
}

#[test]
fn a_run_that_needs_attention_is_notified_listed_and_named_by_the_next_rejection() {
    let home = Home::new();
    let hooks = http_server::Server::start(0);
    home.plan("", &[&hooks.url]);
    let (code, _, stderr) = home.tick("2026-11-26T22:00:00Z", None);
    assert_eq!(code, 0, "submitted and accepted: {stderr}");
    // The window opens; the process dies right after recording the refresh's intent.
    let crashed = home
        .command("1ms")
        .env("REFRESHCTL_FAILPOINT", "after-intent:start-refresh")
        .args([
            "tick",
            "--plans",
            "plans",
            "--notify",
            "--now",
            "2026-11-28T22:00:00Z",
        ])
        .output()
        .expect("runs");
    assert_ne!(crashed.status.code(), Some(0), "the failpoint was reached");
    // The next pass, once the lease ran out, cannot prove the call was made.
    let (code, passes, stderr) = home.tick("2026-11-28T22:10:00Z", None);
    assert_eq!(code, 4, "{stderr}");
    let waiting = &passes[0]["waiting"][0];
    assert_eq!(waiting["run"], FIRST_RUN, "{}", passes[0]);
    assert_eq!(waiting["state"], "needs-attention");
    assert_eq!(waiting["step"], "start-refresh");
    assert!(
        waiting["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("nothing is sent again automatically")),
        "{waiting}"
    );
    assert_eq!(
        waiting["command"],
        format!(
            "check LCS, then refreshctl resume {FIRST_RUN} --retry-step (or refreshctl cancel {FIRST_RUN})"
        )
    );
    let bodies = hooks.bodies();
    let attention = of_event(&bodies, "needs-attention");
    assert_eq!(attention.len(), 1, "{bodies:?}");
    assert_eq!(attention[0]["step"], "start-refresh");
    assert!(
        attention[0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("nothing is sent again automatically")),
        "{}",
        attention[0]
    );
    assert_eq!(waiting["command"], attention[0]["command"]);
    // The next week's occurrence is rejected, naming it and what lets it go.
    let (code, passes, stderr) = home.tick("2026-11-28T22:11:00Z", Some("2026-12-04T00:00:00Z"));
    assert_eq!(code, 4, "{stderr}");
    let rejected = rejections(&passes);
    assert_eq!(rejected.len(), 1, "{passes:?}");
    assert_eq!(rejected[0]["run"], SECOND_RUN);
    assert!(
        rejected[0]["reason"].as_str().is_some_and(|reason| reason
            .contains("(needs-attention at `start-refresh`")
            && reason.contains(&format!("refreshctl resume {FIRST_RUN} --retry-step"))),
        "{}",
        rejected[0]
    );
}

#[test]
fn a_pass_leaves_alone_what_a_running_process_is_still_sending() {
    let home = Home::new();
    let held = HeldServer::start();
    home.plan("", &[&held.url]);
    let tick = |now: &str| {
        Process::new(assert_cmd::cargo::cargo_bin("refreshctl"))
            .current_dir(home.0.path())
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", home.0.path().join("cache"))
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", home.0.path().join("state.db"))
            .args([
                "tick", "--plans", "plans", "--notify", "--format", "json", "--now", now,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tick starts")
    };
    let mut sending = tick("2026-11-26T22:00:00Z");
    held.requests
        .recv_timeout(Duration::from_mins(1))
        .expect("the first notification is being sent");
    // A second pass on the same store while the first still waits for its answers.
    let mut other = tick("2026-11-26T22:05:00Z");
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    let status = loop {
        if let Some(status) = other.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second pass waits on a notification the first is still sending"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut output = String::new();
    other
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut output)
        .expect("read");
    let pass: Value = serde_json::from_str(output.trim()).expect("one pass");
    assert_eq!(pass["redelivered"], serde_json::json!([]), "{pass}");
    // The first pass delivers both of its notifications, once each.
    for _ in 0..2 {
        held.release.send(()).expect("release");
    }
    let second = held
        .requests
        .recv_timeout(Duration::from_mins(1))
        .expect("the second notification");
    assert!(second.contains(FIRST_RUN), "{second}");
    assert_eq!(sending.wait().expect("ends").code(), Some(0));
    assert!(
        held.requests
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing was sent twice"
    );
}

#[test]
fn a_cancellation_that_could_not_be_delivered_is_sent_by_the_next_pass() {
    let home = Home::new();
    let up = http_server::Server::start(0);
    home.plan("", &[&up.url]);
    let (code, _, stderr) = home.tick("2026-11-26T22:00:00Z", None);
    assert_eq!(code, 0, "submitted and accepted: {stderr}");
    // The hook now answers its first three requests (one delivery's every attempt) with 500.
    let down = http_server::Server::start(3);
    home.plan("", &[&down.url]);
    let (code, _, stderr) =
        home.run(&["cancel", FIRST_RUN, "--reason", "the UAT moved", "--notify"]);
    assert_eq!(
        code, 0,
        "the run is canceled whatever the hook says: {stderr}"
    );
    assert!(
        stderr.contains("was not delivered") && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    assert_eq!(home.status(FIRST_RUN)["state"], "canceled");
    let tried = down.bodies();
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert!(
        tried.iter().all(|body| body["event"] == "canceled"),
        "{tried:?}"
    );
    // The next pass sends it from the outbox: the same body, once.
    let (code, passes, stderr) = home.tick("2026-11-26T22:10:00Z", None);
    assert_eq!(code, 0, "{stderr}");
    let redelivered = passes[0]["redelivered"].as_array().expect("redelivered");
    assert_eq!(redelivered.len(), 1, "{}", passes[0]);
    assert_eq!(redelivered[0]["run"], FIRST_RUN);
    assert_eq!(redelivered[0]["event"], "canceled");
    assert_eq!(redelivered[0]["status"], 200);
    let bodies = down.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert_eq!(bodies[3], tried[0], "the same body");
    let (code, passes, stderr) = home.tick("2026-11-26T22:20:00Z", None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(passes[0]["redelivered"], serde_json::json!([]));
}
