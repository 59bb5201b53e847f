//! Notifications reach a real HTTP server on loopback: in the library (retries, never failing)
//! and from the binary during a rehearsal (every event, templates, the emergency reason).

mod common;

#[path = "common/http_server.rs"]
mod http_server;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use http_server::Server;
use refreshctl::adapter::AdapterKind;
use refreshctl::executor::new_run;
use refreshctl::notify::Notifier;
use refreshctl::plan::{NotificationEvent, Plan};
use refreshctl::rules::{Catalog, CheckSettings, check_file};

fn plan_with_hook(url: &str, extra: &str) -> (tempfile::TempDir, String) {
    common::temp_plan(|clean| {
        format!("{clean}notifications:\n  - url: {url}/hooks/refresh\n{extra}")
    })
}

fn load(path: &str) -> Plan {
    let settings = CheckSettings {
        now: chrono::DateTime::parse_from_rfc3339(common::NOW)
            .expect("now")
            .to_utc(),
        catalog: Catalog::embedded(),
        adapter: None,
    };
    check_file(
        path,
        Path::new(path),
        &std::fs::read(path).expect("plan"),
        &settings,
    )
    .plan
    .expect("resolves")
}

#[tokio::test(flavor = "current_thread")]
async fn failed_deliveries_are_retried_and_never_fail() {
    let server = Server::start(2);
    let (_directory, path) = plan_with_hook(&server.url, "");
    let plan = load(&path);
    let run = new_run(
        &plan,
        plan.next_window(chrono::Utc::now()).expect("window"),
        chrono::Utc::now(),
        None,
        AdapterKind::Lcs,
    );
    let mut notifier = Notifier::new(&plan, &run, AdapterKind::Lcs, Duration::ZERO);
    notifier.send(NotificationEvent::Succeeded);
    let deliveries = notifier.finish().await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].outcome,
        Ok(200),
        "delivered on the third attempt"
    );
    assert_eq!(server.requests.lock().expect("lock").len(), 3);
    assert_eq!(
        deliveries[0].url,
        format!("{}/…", server.url),
        "the path is not shown"
    );

    let unreachable = plan_with_hook("http://127.0.0.1:9", "");
    let plan = load(&unreachable.1);
    let mut notifier = Notifier::new(&plan, &run, AdapterKind::Lcs, Duration::ZERO);
    notifier.send(NotificationEvent::Failed);
    let deliveries = notifier.finish().await;
    assert_eq!(
        deliveries[0].outcome,
        Err("cannot connect after 3 attempts".into())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_error_is_not_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let handle = std::thread::spawn(move || {
        let mut count = 0;
        listener.set_nonblocking(false).expect("blocking");
        if let Ok((mut stream, _)) = listener.accept() {
            use std::io::{Read as _, Write as _};
            let mut buffer = [0; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            count += 1;
        }
        count
    });
    let (_directory, path) = plan_with_hook(&url, "");
    let plan = load(&path);
    let run = new_run(
        &plan,
        plan.next_window(chrono::Utc::now()).expect("window"),
        chrono::Utc::now(),
        None,
        AdapterKind::Lcs,
    );
    let mut notifier = Notifier::new(&plan, &run, AdapterKind::Lcs, Duration::ZERO);
    notifier.send(NotificationEvent::Started);
    let deliveries = notifier.finish().await;
    assert!(
        deliveries[0]
            .outcome
            .as_ref()
            .is_err_and(|error| error.contains("404")),
        "{deliveries:?}"
    );
    assert_eq!(handle.join().expect("server"), 1, "sent once");
}

fn rehearse(directory: &Path, plan: &str, extra: &[&str]) -> std::process::Output {
    Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("REFRESHCTL_STATE", directory.join("state.db"))
        .env("XDG_CACHE_HOME", directory.join("cache"))
        .env_remove("REFRESHCTL_ADAPTER")
        // Retries happen at once: tests do not sleep through the 2 s default.
        .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "0s")
        .arg("apply")
        .arg("--yes")
        .arg("--notify")
        .args(extra)
        .arg(plan)
        .timeout(Duration::from_mins(1))
        .output()
        .expect("runs")
}

#[test]
fn a_rehearsal_notifies_every_event_it_is_asked_for() {
    let server = Server::start(0);
    let (directory, path) = plan_with_hook(&server.url, "");
    let output = rehearse(directory.path(), &path, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<String> = server
        .bodies()
        .iter()
        .map(|body| body["event"].as_str().expect("event").to_owned())
        .collect();
    let mut sorted = events.clone();
    sorted.sort();
    // Financial reporting is reset by hand (as on LCS): the rehearsal waits for it, and says so.
    assert_eq!(
        sorted,
        [
            "accepted",
            "awaiting-approval",
            "started",
            "submitted",
            "succeeded"
        ],
        "{events:?}"
    );
    let body = &server.bodies()[0];
    assert_eq!(body["plan"], "uat-refresh");
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|text| text.starts_with("refreshctl: the refresh of contoso-uat"))
    );
    assert!(
        server
            .requests
            .lock()
            .expect("lock")
            .iter()
            .all(|(path, _)| path == "/hooks/refresh")
    );
}

#[test]
fn templates_and_the_emergency_reason_reach_every_notification() {
    let server = Server::start(0);
    let (directory, path) = plan_with_hook(
        &server.url,
        "    on: [submitted, started, succeeded]\n    template: body.json.tera\n",
    );
    std::fs::write(
        directory.path().join("body.json.tera"),
        "{\"summary\": {{ (environment.name ~ \" \" ~ event) | json }}, \"reason\": {{ run.reason | json }}}",
    )
    .expect("template");
    let output = rehearse(
        directory.path(),
        &path,
        &["--start-now", "--reason", "bad import in UAT"],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bodies = server.bodies();
    let mut summaries: Vec<&str> = bodies
        .iter()
        .map(|body| body["summary"].as_str().expect("summary"))
        .collect();
    summaries.sort_unstable();
    assert_eq!(
        summaries,
        [
            "contoso-uat started",
            "contoso-uat submitted",
            "contoso-uat succeeded"
        ]
    );
    assert!(
        bodies
            .iter()
            .all(|body| body["reason"] == "bad import in UAT"),
        "{bodies:?}"
    );
}

#[test]
fn a_rehearsal_sends_nothing_unless_asked() {
    let server = Server::start(0);
    let (directory, path) = plan_with_hook(&server.url, "");
    let output = Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(directory.path())
        .env("REFRESHCTL_STATE", directory.path().join("state.db"))
        .env("XDG_CACHE_HOME", directory.path().join("cache"))
        .env_remove("REFRESHCTL_ADAPTER")
        .args(["apply", "--yes", &path])
        .timeout(Duration::from_mins(1))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        server.requests.lock().expect("lock").is_empty(),
        "nothing was sent"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("5 notification(s) rendered, none sent (`--notify` sends them)"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_hook_is_a_warning_not_a_failure() {
    let (directory, path) = plan_with_hook("http://127.0.0.1:9", "    on: [succeeded]\n");
    let output = rehearse(directory.path(), &path, &[]);
    assert_eq!(output.status.code(), Some(0), "the run succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Warned about once, when it failed (not again when the command ends).
    assert_eq!(
        stderr
            .matches("the succeeded notification of `uat-refresh@20261205T2100Z` to http://127.0.0.1:9/… was not delivered: cannot connect")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        !stderr.contains("/hooks/refresh"),
        "the URL's path is not shown"
    );
}
