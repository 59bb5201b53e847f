//! Rehearsals never mix with real runs, with the real binary on one state store (SQLite, and
//! PostgreSQL when `REFRESHCTL_TEST_POSTGRES` is set): a rehearsal of a window does not block
//! the real submission through `--adapter lcs` against `refreshctl emulator`; a store that a
//! real adapter has used refuses a rehearsal unless `--allow-rehearsal-in-real-store`; `runs`
//! and `status` show each run's adapter; notifications carry the run's adapter.

#[path = "common/emulator_process.rs"]
#[expect(
    dead_code,
    reason = "these tests read the emulator's requests, and script no faults"
)]
mod emulator_process;
#[path = "common/http_server.rs"]
mod http_server;
#[path = "common/old_state.rs"]
mod old_state;
#[path = "common/postgres.rs"]
mod postgres_server;

use std::path::Path;

use assert_cmd::Command;
use chrono::{DurationRound as _, TimeDelta, Utc};
use emulator_process::EmulatorProcess;

/// A plan with a fixed window four days from now and a web hook.
fn plan(directory: &Path, hook: &str) -> (std::path::PathBuf, String) {
    let start = (Utc::now() + TimeDelta::days(4))
        .duration_trunc(TimeDelta::hours(1))
        .expect("an hour");
    let plans = directory.join("plans");
    std::fs::create_dir_all(&plans).expect("plans");
    let path = plans.join("mixed-uat.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1
name: mixed-uat
project: 1234567
environment: {{name: contoso-uat, type: sandbox, release: \"10.0.41\"}}
source: {{name: contoso-prod, type: production, release: \"10.0.41\"}}
window: {{start: {}, duration: 3h}}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
post_steps: [reprovision, reset-financial-reporting]
notifications:
  - url: {hook}/hooks/refresh
",
            start.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .expect("write the plan");
    (path, format!("mixed-uat@{}", start.format("%Y%m%dT%H%MZ")))
}

/// The binary in `directory` on `state`, without the variables that would choose for it.
fn refreshctl(
    directory: &Path,
    state: &str,
    emulator: &EmulatorProcess,
    args: &[&str],
) -> std::process::Output {
    Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", directory.join("cache"))
        .env("XDG_STATE_HOME", directory.join("state-home"))
        .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("REFRESHCTL_FAILPOINT")
        .env_remove("REFRESHCTL_TEST_CLOCK")
        .env("REFRESHCTL_STATE", state)
        .envs(emulator.env())
        .args(args)
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status_json(
    directory: &Path,
    state: &str,
    emulator: &EmulatorProcess,
    run: &str,
) -> serde_json::Value {
    let output = refreshctl(
        directory,
        state,
        emulator,
        &["status", run, "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

/// The whole story on one store: rehearse, submit for real, refuse a second rehearsal, allow one
/// when asked, and show each run's adapter.
fn rehearsal_then_real_run_on_one_store(directory: &Path, state: &str) {
    let hooks = http_server::Server::start(0);
    let (plan, window_id) = plan(directory, &hooks.url);
    let plan = plan.to_str().expect("utf-8").to_owned();
    let emulator = EmulatorProcess::start(&[
        "--speed",
        "100000",
        "--plans",
        directory.join("plans").to_str().expect("utf-8"),
        "--metadata-per-minute",
        "0",
    ]);

    // A rehearsal of the window, in the store the real runs will use (nothing real used it yet).
    let rehearsed = refreshctl(directory, state, &emulator, &["apply", "--yes", &plan]);
    assert_eq!(
        rehearsed.status.code(),
        Some(0),
        "{}",
        text(&rehearsed.stderr)
    );
    assert_eq!(text(&rehearsed.stdout).trim(), window_id);

    // The real submission of the same window is not blocked by the rehearsal: a run of its own.
    let submitted = refreshctl(
        directory,
        state,
        &emulator,
        &["--adapter", "lcs", "submit", &plan],
    );
    assert_eq!(
        submitted.status.code(),
        Some(0),
        "the rehearsed window still submits for real: {}",
        text(&submitted.stderr)
    );
    let real = text(&submitted.stdout).trim().to_owned();
    assert_eq!(real, format!("{window_id}~2"));
    // Submitting again is idempotent for lcs: the same real run, not the rehearsal.
    let again = refreshctl(
        directory,
        state,
        &emulator,
        &["--adapter", "lcs", "submit", &plan],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout).trim(), real);

    // A real pass against the emulator takes the real run through preflight; the rehearsal,
    // over and done, is left alone and holds no lock on the real target.
    let ticked = refreshctl(
        directory,
        state,
        &emulator,
        &["--adapter", "lcs", "tick", "--plans", "plans"],
    );
    assert_eq!(ticked.status.code(), Some(0), "{}", text(&ticked.stderr));
    assert!(
        emulator
            .requests()
            .iter()
            .any(|request| request.path.contains("environmentinfo")),
        "preflight asked the emulator about the environments"
    );
    let status = status_json(directory, state, &emulator, &real);
    assert_eq!(status["adapter"], "lcs");
    assert_eq!(status["state"], "accepted", "{status:#}");
    let rehearsal = status_json(directory, state, &emulator, &window_id);
    assert_eq!(rehearsal["adapter"], "simulator");
    assert_eq!(rehearsal["state"], "succeeded");

    // A rehearsal now would write into a store real runs use: refused, saying why and how.
    let refused = refreshctl(directory, state, &emulator, &["apply", "--yes", &plan]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let error = text(&refused.stderr);
    assert!(
        error.contains("holds runs of the `lcs` adapter")
            && error.contains("--allow-rehearsal-in-real-store")
            && error.contains("--adapter lcs"),
        "{error}"
    );
    assert!(!error.contains("panicked"), "{error}");
    // Every command that records or runs rehearsals refuses the same way.
    for args in [
        vec!["submit", plan.as_str()],
        vec!["tick", "--yes", "--plans", "plans"],
    ] {
        let refused = refreshctl(directory, state, &emulator, &args);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        assert!(
            text(&refused.stderr).contains("holds runs of the `lcs` adapter"),
            "{args:?}: {}",
            text(&refused.stderr)
        );
    }
    // Asked for, it rehearses beside the real run, under the next id of the window.
    let allowed = refreshctl(
        directory,
        state,
        &emulator,
        &["--allow-rehearsal-in-real-store", "apply", "--yes", &plan],
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stderr));
    assert_eq!(text(&allowed.stdout).trim(), format!("{window_id}~3"));
    assert_eq!(
        status_json(directory, state, &emulator, &real)["state"],
        "accepted",
        "the real run is untouched by the rehearsal"
    );
    adapters_are_shown_and_notified(directory, state, &emulator, &hooks, &window_id, &real);
}

/// `runs` and `status` show each run's adapter; a cancel without `--adapter` notifies the real
/// run as the lcs run it is.
fn adapters_are_shown_and_notified(
    directory: &Path,
    state: &str,
    emulator: &EmulatorProcess,
    hooks: &http_server::Server,
    window_id: &str,
    real: &str,
) {
    let listed = refreshctl(directory, state, emulator, &["runs"]);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    let line = |id: &str| {
        table
            .lines()
            .find(|line| line.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{id} in {table}"))
            .to_owned()
    };
    assert!(table.lines().next().expect("a header").contains("ADAPTER"));
    assert!(line(window_id).contains(" simulator "), "{table}");
    assert!(line(real).contains(" lcs "), "{table}");
    assert!(
        line(&format!("{window_id}~3")).contains(" simulator "),
        "{table}"
    );
    let shown = refreshctl(directory, state, emulator, &["status", real]);
    assert!(
        text(&shown.stdout)
            .lines()
            .any(|line| line == "adapter lcs"),
        "{}",
        text(&shown.stdout)
    );

    // Canceled without `--adapter`, the real run still notifies as what it is: an lcs run.
    let canceled = refreshctl(directory, state, emulator, &["cancel", real]);
    assert_eq!(
        canceled.status.code(),
        Some(0),
        "{}",
        text(&canceled.stderr)
    );
    let bodies = hooks.bodies();
    let events: Vec<&str> = bodies
        .iter()
        .map(|body| body["event"].as_str().unwrap_or_default())
        .collect();
    assert!(
        events.contains(&"submitted") && events.contains(&"canceled"),
        "{events:?}"
    );
    assert!(
        bodies
            .iter()
            .all(|body| body["adapter"] == "lcs" && body["run"] == real),
        "only the real run sent, each naming its adapter: {bodies:#?}"
    );
}

#[test]
fn a_rehearsal_never_blocks_the_real_run_on_one_sqlite_store() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("shared.db");
    rehearsal_then_real_run_on_one_store(directory.path(), state.to_str().expect("utf-8"));
}

#[test]
fn a_rehearsal_never_blocks_the_real_run_on_one_postgresql_store() {
    let Some(url) = postgres_server::fresh_schema("rehearsals") else {
        return;
    };
    let directory = tempfile::tempdir().expect("temp");
    rehearsal_then_real_run_on_one_store(directory.path(), &url);
}

#[test]
fn a_real_run_is_resumed_only_through_its_own_adapter() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("shared.db");
    let state = state.to_str().expect("utf-8");
    let hooks = http_server::Server::start(0);
    let (plan, window_id) = plan(directory.path(), &hooks.url);
    let emulator = EmulatorProcess::start(&["--metadata-per-minute", "0"]);
    let submitted = refreshctl(
        directory.path(),
        state,
        &emulator,
        &["--adapter", "lcs", "submit", plan.to_str().expect("utf-8")],
    );
    assert_eq!(
        submitted.status.code(),
        Some(0),
        "{}",
        text(&submitted.stderr)
    );
    assert_eq!(text(&submitted.stdout).trim(), window_id);
    let resumed = refreshctl(directory.path(), state, &emulator, &["resume", &window_id]);
    assert_eq!(resumed.status.code(), Some(1), "{}", text(&resumed.stderr));
    let error = text(&resumed.stderr);
    assert!(
        error.contains("runs through the `lcs` adapter, not `simulator`")
            && error.contains(&format!("refreshctl --adapter lcs resume {window_id}")),
        "{error}"
    );
}

/// A run recorded before runs recorded their adapter reads back as `unknown`, in the table and
/// in JSON, and still counts for idempotence (its window is not submitted twice).
#[test]
fn a_run_recorded_before_runs_recorded_their_adapter_reads_back_as_unknown() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("legacy.db");
    let state_text = state.to_str().expect("utf-8");
    let hooks = http_server::Server::start(0);
    let (plan, window_id) = plan(directory.path(), &hooks.url);
    let plan = plan.to_str().expect("utf-8");
    let emulator = EmulatorProcess::start(&["--metadata-per-minute", "0"]);
    let submitted = refreshctl(
        directory.path(),
        state_text,
        &emulator,
        &["--adapter", "lcs", "submit", plan],
    );
    assert_eq!(
        submitted.status.code(),
        Some(0),
        "{}",
        text(&submitted.stderr)
    );
    // As an older refreshctl left it: no adapter in the record nor in its column (a record of
    // the form before compact records, as that refreshctl wrote it).
    old_state::undo_compact_form(&state);
    let connection = rusqlite::Connection::open(&state).expect("open");
    connection
        .execute_batch("UPDATE runs SET adapter = NULL, record = json_remove(record, '$.adapter');")
        .expect("make it a legacy run");
    drop(connection);
    let listed = refreshctl(directory.path(), state_text, &emulator, &["runs"]);
    let table = text(&listed.stdout);
    assert!(
        table
            .lines()
            .any(|line| line.starts_with(&window_id) && line.contains(" unknown ")),
        "{table}"
    );
    assert_eq!(
        status_json(directory.path(), state_text, &emulator, &window_id)["adapter"],
        "unknown"
    );
    let again = refreshctl(
        directory.path(),
        state_text,
        &emulator,
        &["--adapter", "lcs", "submit", plan],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout).trim(),
        window_id,
        "the same run, not a second"
    );
}
