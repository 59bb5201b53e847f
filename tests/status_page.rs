//! `daemon --listen`: a real daemon over a real state file with runs in several states (waiting
//! for approval, running, failed, succeeded, canceled), asked over real HTTP on loopback.
//!
//! The JSON endpoints are compared with `runs` and `status`; `/metrics` is read by the official
//! Prometheus client's parser (`prometheus-client` from `PyPI`, in the virtual environment
//! `.ci/run` makes); the page is loaded by headless Chromium (Debian's package, which `.ci/run`
//! installs), whose rendered DOM is checked for every run and whose screenshot is kept under
//! `target/test-artifacts/`. Each outside tool's part is skipped, saying so, when it is missing.

#[path = "common/skip.rs"]
mod skip;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

/// A notification URL with a secret in its path, as Slack and Teams hooks have.
const SECRET: &str = "secret-token-XYZ";

const AWAITING: &str = "contoso-uat-weekly@20261128T2100Z";
const FAILED: &str = "fabrikam-training-monthly@20270101T2000Z";
const RUNNING: &str = "contoso-test-restore@20261207T1100Z";
const SUCCEEDED: &str = "northwind-uat-weekly@20261205T2100Z";
const CANCELED: &str = "northwind-uat-weekly@20261205T2100Z~2";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn command(&self) -> Command {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("USER", "oscar")
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("REFRESHCTL_FAILPOINT")
            .env("REFRESHCTL_STATE", self.dir.path().join("state.db"))
            .timeout(Duration::from_mins(2));
        command
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let output = self.command().args(args).output().expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    fn northwind(&self) -> PathBuf {
        self.dir.path().join("northwind.yaml")
    }

    /// Runs in five states, on the simulator.
    fn with_runs() -> Self {
        let home = Self {
            dir: tempfile::tempdir().expect("temp"),
        };
        std::fs::write(
            home.northwind(),
            format!(
                "version: 1\nname: northwind-uat-weekly\nproject: 1234567\nenvironment:\n  \
                 name: northwind-uat\n  type: sandbox\nsource:\n  name: northwind-prod\n  \
                 type: production\nwindow:\n  cron: \"0 22 * * SAT\"\n  timezone: \
                 Europe/Amsterdam\n  duration: 6h\nlead_time: 48h\nacknowledge: \
                 [target-database-erased, target-unavailable]\nnotifications:\n  - url: \
                 https://hooks.example.com/services/T0/B0/{SECRET}\n"
            ),
        )
        .expect("plan");
        let northwind = home.northwind().display().to_string();
        // No --yes and no terminal: the first manual step (the Financial reporting reset)
        // waits for approval.
        let (_, out) = home.run(&[
            "apply",
            "--now",
            "2026-11-24T12:00:00Z",
            "plans/contoso-uat-weekly.yaml",
        ]);
        assert_eq!(out.trim(), AWAITING);
        let (_, out) = home.run(&[
            "apply",
            "--yes",
            "--sim-fault",
            "refresh-fails",
            "plans/fabrikam-1611-monthly.yaml",
        ]);
        assert_eq!(out.trim(), FAILED);
        // Killed while it waits on the restore: left running.
        let killed = home
            .command()
            .env("REFRESHCTL_FAILPOINT", "waiting:monitor-restore")
            .args(["apply", "--yes", "plans/contoso-test-restore.yaml"])
            .output()
            .expect("runs");
        assert!(!killed.status.success());
        let (code, out) = home.run(&["apply", "--yes", &northwind]);
        assert_eq!((code, out.trim()), (0, SUCCEEDED));
        let (code, out) = home.run(&["submit", &northwind]);
        assert_eq!((code, out.trim()), (0, CANCELED));
        let (code, _) = home.run(&["cancel", CANCELED, "--reason", "no UAT this week"]);
        assert_eq!(code, 0);
        home
    }

    /// A daemon with the page on a free loopback port; the restore's plan is left out, so its
    /// run stays as it is (running) while the test looks.
    fn daemon(&self) -> Daemon {
        let mut child = Process::new(cargo_bin("refreshctl"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("REFRESHCTL_FAILPOINT")
            .env("REFRESHCTL_STATE", self.dir.path().join("state.db"))
            .args([
                "daemon",
                "--plans",
                "plans/contoso-uat-weekly.yaml",
                "--plans",
                "plans/fabrikam-1611-monthly.yaml",
                "--plans",
            ])
            .arg(self.northwind())
            .args(["--listen", "0", "--recheck", "1h"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("daemon starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the daemon says where its page is")
                .expect("stderr");
            if let Some(rest) = line.strip_prefix("refreshctl: status page at http://") {
                break rest.split('/').next().expect("address").to_owned();
            }
        };
        // Drain the rest so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines_out) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let daemon = Daemon { child, address };
        // After its first pass nothing changes until the next due time (an hour away at least).
        let deadline = Instant::now() + Duration::from_mins(1);
        while daemon.metric("refreshctl_passes_total").unwrap_or(0.0) < 1.0 {
            assert!(
                Instant::now() < deadline,
                "the daemon never finished a pass"
            );
            let _ = lines_out.recv_timeout(Duration::from_millis(200));
        }
        daemon
    }
}

struct Daemon {
    child: Child,
    address: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Daemon {
    fn request(&self, method: &str, path: &str) -> Answer {
        let mut stream = TcpStream::connect(&self.address).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .expect("request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("answer");
        let text = String::from_utf8(raw).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("status");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Answer {
            status,
            headers: head.to_ascii_lowercase(),
            body,
        }
    }

    fn get(&self, path: &str) -> Answer {
        let answer = self.request("GET", path);
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        answer
    }

    /// One sample's value, by its series as written (`name{labels}`), from `/metrics`.
    fn metric(&self, series: &str) -> Option<f64> {
        let answer = self.request("GET", "/metrics");
        answer.body.lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn the_json_endpoints_are_what_runs_and_status_print() {
    let home = Home::with_runs();
    let daemon = home.daemon();
    let (code, runs) = home.run(&["runs", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&daemon.get("/runs").body), json(&runs));
    for id in [AWAITING, FAILED, RUNNING, SUCCEEDED, CANCELED] {
        let (code, status) = home.run(&["status", id, "--format", "json"]);
        assert_eq!(code, 0, "{id}");
        let path = format!("/runs/{}", id.replace('@', "%40").replace('~', "%7E"));
        let answer = daemon.get(&path);
        assert!(answer.headers.contains("content-type: application/json"));
        assert_eq!(json(&answer.body), json(&status), "{id}");
    }
    let missing = daemon.request("GET", "/runs/no-such-run");
    assert_eq!(missing.status, 404);
    assert_eq!(json(&missing.body)["error"], "no such run");
    // Read-only: nothing but GET is routed.
    for method in ["POST", "PUT", "DELETE"] {
        assert_eq!(daemon.request(method, "/runs").status, 405, "{method}");
    }
    assert_eq!(daemon.get("/healthz").body, "ok\n");
    assert_eq!(daemon.get("/readyz").body, "ready\n");
    let feed = daemon.get("/calendar.ics");
    assert!(feed.headers.contains("content-type: text/calendar"));
    assert!(feed.body.starts_with("BEGIN:VCALENDAR\r\n"));
    // Filtered to one environment, as `calendar --environment` is.
    let uat = daemon.get("/calendar.ics?environment=northwind-uat").body;
    assert!(uat.contains("UID:northwind-uat-weekly@"), "{uat}");
    assert!(!uat.contains("UID:contoso-uat-weekly@"), "{uat}");
    // The secret in the notification URL is on no page.
    for path in [
        "/",
        "/runs",
        "/calendar.ics",
        "/metrics",
        &format!("/runs/{SUCCEEDED}"),
    ] {
        assert!(!daemon.get(path).body.contains(SECRET), "{path}");
    }
}

#[test]
fn metrics_count_runs_by_state_and_steps_as_histograms() {
    let home = Home::with_runs();
    let daemon = home.daemon();
    let text = daemon.get("/metrics").body;
    for (state, count) in [
        ("awaiting-approval", 1.0),
        ("running", 1.0),
        ("failed", 1.0),
        ("succeeded", 1.0),
        ("canceled", 1.0),
    ] {
        assert_eq!(
            daemon.metric(&format!("refreshctl_runs{{state=\"{state}\"}}")),
            Some(count),
            "{state}: {text}"
        );
    }
    // Each step kind's histogram: buckets that only grow, +Inf equal to the count.
    let count = daemon
        .metric("refreshctl_step_duration_seconds_count{step=\"monitor-refresh\"}")
        .expect("monitor-refresh observed");
    assert!(count >= 2.0, "{text}");
    assert_eq!(
        daemon.metric(
            "refreshctl_step_duration_seconds_bucket{step=\"monitor-refresh\",le=\"+Inf\"}"
        ),
        Some(count)
    );
    assert!(
        daemon
            .metric("refreshctl_last_pass_duration_seconds")
            .is_some()
    );
    assert!(
        daemon
            .metric("refreshctl_next_due_timestamp_seconds")
            .is_some()
    );
    assert_eq!(daemon.metric("refreshctl_lease_takeovers_total"), Some(0.0));

    let Ok(python) = std::env::var("REFRESHCTL_TEST_PYTHON") else {
        skip::skip_part(
            "REFRESHCTL_TEST_PYTHON is not set: /metrics not read by prometheus-client",
        );
        return;
    };
    let script = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("NO-PROMETHEUS-CLIENT"); sys.exit(0)
families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {"type": family.type, "samples": [
        [sample.name, sample.labels, sample.value] for sample in family.samples]}
print(json.dumps(families))
"#;
    let mut child = Process::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("metrics to python");
    let output = child.wait_with_output().expect("python ends");
    assert!(
        output.status.success(),
        "the parser refused the metrics: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.trim() == "NO-PROMETHEUS-CLIENT" {
        skip::skip_part("prometheus-client is not installed in REFRESHCTL_TEST_PYTHON");
        return;
    }
    let families = json(&stdout);
    assert_eq!(families["refreshctl_runs"]["type"], "gauge");
    assert_eq!(
        families["refreshctl_step_duration_seconds"]["type"],
        "histogram"
    );
    assert_eq!(families["refreshctl_passes"]["type"], "counter");
    assert_eq!(families["refreshctl_lease_takeovers"]["type"], "counter");
    let runs = families["refreshctl_runs"]["samples"]
        .as_array()
        .expect("samples");
    assert_eq!(runs.len(), 9, "one series per state");
}

#[test]
fn the_page_in_a_real_browser_shows_every_run_and_the_command_to_run() {
    let home = Home::with_runs();
    let daemon = home.daemon();
    let page = daemon.get("/");
    assert!(page.headers.contains("content-type: text/html"));
    assert!(
        page.headers
            .contains("content-security-policy: default-src 'none'")
    );
    assert!(!page.body.contains("<script"), "no JavaScript");
    let Some(chromium) = chromium() else {
        skip::skip_part(
            "no Chromium (REFRESHCTL_TEST_CHROMIUM unset and none on PATH): the page was only read as HTML",
        );
        check_dom(&page.body);
        return;
    };
    let url = format!("http://{}/", daemon.address);
    let dom = Process::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    check_dom(&String::from_utf8_lossy(&dom.stdout));
    // A phone-sized screenshot for people to look at.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts");
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let taken = Process::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=412,1400", &url])
        .output()
        .expect("chromium runs");
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REFRESHCTL_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// The rendered page: each run in its section with its state, and the commands that let the
/// waiting run go on.
fn check_dom(dom: &str) {
    let section = |id: &str| {
        let start = dom
            .find(&format!("<h2 id=\"{id}\">"))
            .unwrap_or_else(|| panic!("section {id}: {dom}"));
        let rest = &dom[start + 4..];
        rest[..rest.find("<h2").unwrap_or(rest.len())].to_owned()
    };
    let row = |section: &str, run: &str, state: &str| {
        let marker = format!("data-run=\"{run}\" data-state=\"{state}\"");
        assert!(section.contains(&marker), "{marker} in {section}");
    };
    let attention = section("attention");
    row(&attention, AWAITING, "awaiting-approval");
    assert!(
        attention.contains(&format!(
            "refreshctl approve {AWAITING} reset-financial-reporting"
        )),
        "{attention}"
    );
    let in_progress = section("in-progress");
    row(&in_progress, RUNNING, "running");
    assert!(in_progress.contains("monitor-restore"), "{in_progress}");
    let recent = section("recent");
    row(&recent, FAILED, "failed");
    row(&recent, SUCCEEDED, "succeeded");
    row(&recent, CANCELED, "canceled");
    assert!(recent.contains("the operation ended Failed"), "{recent}");
    let upcoming = section("upcoming");
    assert!(
        upcoming.contains("offline: database replaced from"),
        "{upcoming}"
    );
    assert!(dom.contains("name=\"viewport\""), "readable on a phone");
}
