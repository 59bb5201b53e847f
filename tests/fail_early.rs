//! What can be checked before the database is erased, with the real binary: a run keeps its
//! plan's absolute path, so `resume`, `approve` and `status` work from any directory; the
//! Financial reporting reset is a manual step on the simulator as on LCS, with instructions, in
//! the preview and in the run.

use std::path::Path;

use assert_cmd::Command;

const WEEKLY: &str = "plans/contoso-uat-weekly.yaml";

/// The binary in `cwd` on the state file `state`, on the simulator.
fn refreshctl(cwd: &Path, state: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("REFRESHCTL_STATE", state)
        .env("XDG_CACHE_HOME", state.with_file_name("cache"))
        .env_remove("REFRESHCTL_ADAPTER")
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

#[test]
fn a_run_started_in_one_directory_is_resumed_from_another() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = tempfile::tempdir().expect("temp");
    let state = home.path().join("state.db");
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");

    // Started from the repository with a relative path; it stops at its first manual step.
    let (code, stdout, stderr) = refreshctl(root, &state, &["apply", WEEKLY]);
    assert_eq!(code, 1, "{stderr}");
    let run = stdout.trim().to_owned();
    assert!(
        stderr.contains(&format!(
            "refreshctl approve {run} reset-financial-reporting"
        )),
        "{stderr}"
    );

    // From another directory: status names the plan by its absolute path, approve and resume
    // find it, and its relative files (the package, the script) are found beside it.
    let (code, shown, stderr) = refreshctl(&elsewhere, &state, &["status", &run]);
    assert_eq!(code, 0, "{stderr}");
    let absolute = root.join(WEEKLY);
    assert!(
        shown.contains(&format!(
            "plan    contoso-uat-weekly ({})",
            absolute.display()
        )),
        "{shown}"
    );
    let (code, _, stderr) = refreshctl(
        &elsewhere,
        &state,
        &["approve", &run, "reset-financial-reporting"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = refreshctl(&elsewhere, &state, &["resume", &run]);
    assert_eq!(code, 1, "on to the last manual step: {stderr}");
    assert!(
        stderr.contains("deploy.upload succeeded") && stderr.contains("command succeeded"),
        "the package and the script were found beside the plan: {stderr}"
    );
    assert!(
        stderr.contains(&format!("refreshctl approve {run} manual")),
        "{stderr}"
    );
    let (code, _, stderr) = refreshctl(&elsewhere, &state, &["approve", &run, "manual"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = refreshctl(&elsewhere, &state, &["resume", &run]);
    assert_eq!(code, 0, "{stderr}");
    let (code, json, stderr) =
        refreshctl(&elsewhere, &state, &["status", &run, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(status["state"], "succeeded", "{status:#}");
}

#[test]
fn the_financial_reporting_reset_is_manual_in_the_preview_and_the_rehearsal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = tempfile::tempdir().expect("temp");
    let state = home.path().join("state.db");
    let (code, preview, stderr) = refreshctl(root, &state, &["plan", WEEKLY]);
    assert_eq!(code, 0, "{stderr}");
    let step = preview
        .lines()
        .find(|line| line.contains(". reset-financial-reporting: "))
        .unwrap_or_else(|| panic!("{preview}"));
    for words in [
        "a manual step with every adapter",
        "open General ledger > Inquiries and reports > Financial reports",
        "choose Tools > Reset data mart",
        "Tools > Integration status",
    ] {
        assert!(step.contains(words), "{words}: {step}");
    }
    assert!(preview.contains("-> operator: refreshctl approve RUN reset-financial-reporting"));
    let (code, stdout, stderr) = refreshctl(root, &state, &["apply", WEEKLY]);
    assert_eq!(code, 1, "{stderr}");
    let run = stdout.trim();
    assert!(
        stderr.contains("reset-financial-reporting started")
            && stderr.contains("choose Tools > Reset data mart")
            && stderr.contains("Tools > Integration status")
            && stderr.contains(&format!(
                "Then: `refreshctl approve {run} reset-financial-reporting`"
            )),
        "{stderr}"
    );
    let (code, json, _) = refreshctl(root, &state, &["status", run, "--format", "json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(status["state"], "awaiting-approval");
    assert_eq!(status["detail"], "waiting for `reset-financial-reporting`");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A package deleted after the run was submitted: the scheduler names the file (relative to
/// the plan's directory, at its place in the plan) and never starts the refresh.
#[test]
fn a_package_deleted_after_submission_stops_the_scheduled_run_before_the_refresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = tempfile::tempdir().expect("temp");
    let work = home.path().join("repository");
    for directory in ["plans", "packages"] {
        copy_tree(&root.join(directory), &work.join(directory));
    }
    let state = home.path().join("state.db");
    let (code, stdout, stderr) = refreshctl(
        &work,
        &state,
        &["submit", "--now", "2026-11-24T12:00:00Z", WEEKLY],
    );
    assert_eq!(code, 0, "{stderr}");
    let run = stdout.trim().to_owned();
    std::fs::remove_file(work.join("packages/contoso-customizations.zip")).expect("delete");
    let (code, _, stderr) = refreshctl(
        &work,
        &state,
        &[
            "tick",
            "--yes",
            "--now",
            "2026-11-24T12:00:01Z",
            "--until",
            "2026-12-07T00:00:00Z",
            "--plans",
            WEEKLY,
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`{WEEKLY}` is not scheduled: 1 error(s), the first at {WEEKLY}:33:13: [missing-file] \
             `../packages/contoso-customizations.zip` (deploy.file) does not exist"
        )),
        "{stderr}"
    );
    let (code, json, _) = refreshctl(&work, &state, &["status", &run, "--format", "json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
    let steps = status["steps"].as_array().expect("steps");
    let refresh = steps
        .iter()
        .find(|step| step["id"] == "start-refresh")
        .expect("a refresh step");
    assert_eq!(
        refresh["state"], "pending",
        "the refresh never started: {status:#}"
    );
}
