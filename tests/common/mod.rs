//! Running the real binary from the repository root, so paths in its output are stable.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::path::Path;

use assert_cmd::Command;

/// The `--now` every test runs at.
pub const NOW: &str = "2026-11-24T12:00:00Z";

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn refreshctl(args: &[&str]) -> Output {
    refreshctl_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

pub fn refreshctl_in(dir: &Path, args: &[&str]) -> Output {
    let output = Command::cargo_bin("refreshctl")
        .expect("the binary is built")
        .current_dir(dir)
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .args(args)
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("the binary runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `validate --format json` on the given paths at [`NOW`], parsed.
pub fn validate_json(extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["validate", "--format", "json", "--now", NOW];
    args.extend_from_slice(extra);
    let output = refreshctl(&args);
    let json = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}\n{}", output.stdout, output.stderr));
    (output.code, json)
}

/// (rule, severity, line, column) of each diagnostic.
pub fn findings(json: &serde_json::Value) -> Vec<(String, String, u64, u64)> {
    json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["rule"].as_str().unwrap_or_default().to_owned(),
                d["severity"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Writes `tests/fixtures/rules/clean.yaml`, changed by `edit`, to `plan.yaml` in a new temporary
/// directory; returns the directory (keep it alive) and the plan's path.
pub fn temp_plan(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, String) {
    let directory = tempfile::tempdir().expect("temp dir");
    let clean = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rules/clean.yaml"
    ))
    .expect("the clean fixture");
    let path = directory.path().join("plan.yaml");
    std::fs::write(&path, edit(clean)).expect("write the plan");
    let path = path.to_str().expect("a UTF-8 temp path").to_owned();
    (directory, path)
}

/// The files `tests/fixtures/state-v5/state.sql` was made with and printed.
#[must_use]
pub fn state_v5_fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-v5")
}

/// The files `tests/fixtures/state-v6/state.sql` was made with and printed: the state-v5
/// fixture migrated by schema version 6 (its records in the form version 5 wrote, its events
/// compact), with two more runs of the simulator that version 6 wrote whole (`apply --yes` of
/// `fabrikam-1611-monthly.yaml` and of `contoso-uat-weekly.yaml` again: compact records and
/// events) and the simulator's model; the files beside it are what version 6 printed over it.
#[must_use]
pub fn state_v6_fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-v6")
}

/// Checks that `runs` and `status` (table and JSON) over the store `state` print byte for byte
/// what the version before compact runs and events printed over `state-v5/state.sql`.
///
/// # Panics
/// When they differ.
pub fn assert_reads_as_version_5(state: &str, when: &str) {
    assert_reads_as(&state_v5_fixtures(), 5, state, when);
}

/// Checks that `runs`, `status` (table and JSON) and `history` (table and JSON) over the store
/// `state` print byte for byte what schema version 6 printed over `state-v6/state.sql`.
///
/// # Panics
/// When they differ.
pub fn assert_reads_as_version_6(state: &str, when: &str) {
    let fixtures = state_v6_fixtures();
    assert_reads_as(&fixtures, 7, state, when);
    let expected = |name: &str| std::fs::read_to_string(fixtures.join(name)).expect("expected");
    let table = refreshctl(&["--state", state, "history"]);
    assert_eq!(table.stdout, expected("history.txt"), "history, {when}");
    let json = refreshctl(&["--state", state, "history", "--format", "json"]);
    assert_eq!(
        json.stdout,
        expected("history.json"),
        "history json, {when}"
    );
}

/// Checks `runs` and `status` over `state` against the files in `fixtures` (`count` runs).
fn assert_reads_as(fixtures: &Path, count: usize, state: &str, when: &str) {
    let expected = |name: &str| std::fs::read_to_string(fixtures.join(name)).expect("expected");
    let runs = refreshctl(&["--state", state, "runs", "--format", "json"]);
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    assert_eq!(
        runs.stdout,
        expected("runs.json"),
        "runs --format json, {when}"
    );
    let table = refreshctl(&["--state", state, "runs"]);
    assert_eq!(table.stdout, expected("runs.txt"), "runs, {when}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).expect("json");
    assert_eq!(listed.len(), count);
    for run in listed {
        let id = run["id"].as_str().expect("an id");
        let name = format!("status-{}", id.replace('@', "_"));
        let json = refreshctl(&["--state", state, "status", "--format", "json", id]);
        assert_eq!(
            json.stdout,
            expected(&format!("{name}.json")),
            "{id}, {when}"
        );
        let table = refreshctl(&["--state", state, "status", id]);
        assert_eq!(
            table.stdout,
            expected(&format!("{name}.txt")),
            "{id}, {when}"
        );
    }
}
