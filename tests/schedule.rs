//! `tick` on simulated time: a year of the example plans' schedules, the skip rule, two ticks at
//! once on one state file, and `tick` refusing what only a rehearsal may do.

mod common;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use common::refreshctl;
use serde_json::Value;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").to_utc()
}

fn field(value: &Value, key: &str) -> DateTime<Utc> {
    at(value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}")))
}

/// Each example plan's lead time, from its preview (`window.start - submit_by`).
fn lead_times() -> HashMap<String, TimeDelta> {
    let mut leads = HashMap::new();
    for file in [
        "plans/contoso-uat-weekly.yaml",
        "plans/contoso-test-restore.yaml",
        "plans/fabrikam-1611-monthly.yaml",
        "plans/fabrikam-uat-copy.yaml",
        "plans/fabrikam-test-restore.yaml",
    ] {
        let output = refreshctl(&["plan", file, "--format", "json", "--now", common::NOW]);
        let preview: Value = serde_json::from_str(&output.stdout).expect("preview JSON");
        let lead = field(&preview["window"], "start") - field(&preview, "submit_by");
        leads.insert(preview["plan"].as_str().expect("name").to_owned(), lead);
    }
    leads
}

fn tick(state: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--state", state, "tick", "--yes", "--format", "json"];
    all.extend_from_slice(args);
    let output = refreshctl(&all);
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line per pass"))
        .collect()
}

#[test]
fn a_year_of_the_example_schedules_on_simulated_time() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    // First sight of the plans; then a year of passes, each at the next due time.
    assert!(
        tick(state, &["--now", "2026-11-24T10:00:00Z"])[0]["submitted"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let passes = tick(
        state,
        &[
            "--now",
            "2026-11-24T10:00:01Z",
            "--until",
            "2027-11-24T10:00:00Z",
        ],
    );
    let leads = lead_times();
    let mut submitted_at = HashMap::new();
    for pass in &passes {
        let now = field(pass, "now");
        for run in pass["submitted"].as_array().expect("submitted") {
            let run = run.as_str().expect("id");
            assert!(
                submitted_at.insert(run.to_owned(), now).is_none(),
                "{run} submitted twice"
            );
        }
        assert!(
            pass["problems"].as_array().is_some_and(Vec::is_empty),
            "{pass}"
        );
        assert!(
            pass["skipped"].as_array().is_some_and(Vec::is_empty),
            "{pass}"
        );
    }
    let runs: Vec<Value> =
        serde_json::from_str(&refreshctl(&["--state", state, "runs", "--format", "json"]).stdout)
            .expect("runs JSON");
    assert_eq!(runs.len(), submitted_at.len());
    let mut per_plan: HashMap<&str, usize> = HashMap::new();
    for run in &runs {
        let id = run["id"].as_str().expect("id");
        let plan = run["plan"].as_str().expect("plan");
        *per_plan.entry(plan).or_default() += 1;
        let start = field(&run["window"], "start");
        // Submitted exactly `lead_time` before the window, by the pass at that very time.
        assert_eq!(submitted_at[id], start - leads[plan], "{id}");
        let steps = run["steps"].as_array().expect("steps");
        assert_eq!(
            field(&steps[0], "started"),
            start - leads[plan],
            "{id}: preflight"
        );
        if start + TimeDelta::hours(12) > at("2027-11-24T10:00:00Z") {
            continue;
        }
        assert_eq!(run["state"], "succeeded", "{run}");
        let operation = steps
            .iter()
            .find(|step| step["id"] == "start-refresh" || step["id"] == "start-restore")
            .expect("the refresh or restore step");
        assert_eq!(
            field(operation, "started"),
            start,
            "{id}: started with the window"
        );
        let last = steps.last().expect("steps");
        let finished = field(last, "finished");
        assert!(
            finished > start && finished <= field(&run["window"], "end"),
            "{id}: finished within the window at {finished}"
        );
    }
    // Weekly plans: 52 or 53 windows in a year; the monthly one: 12.
    assert!(
        (52..=53).contains(&per_plan["contoso-uat-weekly"]),
        "{per_plan:?}"
    );
    assert!(
        (52..=53).contains(&per_plan["contoso-test-restore"]),
        "{per_plan:?}"
    );
    assert_eq!(per_plan["fabrikam-training-monthly"], 12, "{per_plan:?}");
    // The Power Platform examples rehearse on the simulator too.
    for plan in ["fabrikam-uat-copy", "fabrikam-test-restore"] {
        assert!((52..=53).contains(&per_plan[plan]), "{per_plan:?}");
    }
}

#[test]
fn missed_submissions_are_made_late_or_skipped_never_run_late() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    tick(state, &["--now", "2026-11-24T10:00:00Z"]);
    // No tick for ten days: contoso-uat-weekly (Saturdays 22:00 Amsterdam, 48 h lead) missed
    // its submissions for 28 November and 5 December; the first can no longer get 24 hours'
    // notice at 4 December 22:00Z, the second (starting 5 December 21:00Z) can.
    let pass = &tick(state, &["--now", "2026-12-04T20:00:00Z"])[0];
    let skipped: Vec<&str> = pass["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|item| item["run"].as_str().expect("run"))
        .collect();
    assert!(
        skipped.contains(&"contoso-uat-weekly@20261128T2100Z"),
        "{pass}"
    );
    let submitted: Vec<&str> = pass["submitted"]
        .as_array()
        .expect("submitted")
        .iter()
        .map(|run| run.as_str().expect("id"))
        .collect();
    assert!(
        submitted.contains(&"contoso-uat-weekly@20261205T2100Z"),
        "{pass}"
    );
    let runs = refreshctl(&["--state", state, "runs", "--format", "json"]).stdout;
    assert!(
        !runs.contains("20261128T2100Z"),
        "a skipped occurrence never runs: {runs}"
    );
    // Skips are decided once: the next pass does not skip (or notify) them again.
    let again = &tick(state, &["--now", "2026-12-04T20:05:00Z"])[0];
    assert!(
        again["skipped"].as_array().is_some_and(Vec::is_empty),
        "{again}"
    );
    assert!(
        again["submitted"].as_array().is_some_and(Vec::is_empty),
        "{again}"
    );
}

#[test]
fn two_ticks_at_once_submit_each_occurrence_once() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    tick(state, &["--now", "2026-11-24T10:00:00Z"]);
    let runs: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["one", "two"]
            .into_iter()
            .map(|owner| {
                scope.spawn(move || {
                    tick(state, &["--owner", owner, "--now", "2026-12-30T00:00:00Z"])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("tick"))
            .collect()
    });
    let mut submitted = Vec::new();
    let mut advanced = Vec::new();
    for pass in runs.iter().flatten() {
        submitted.extend(
            pass["submitted"]
                .as_array()
                .expect("submitted")
                .iter()
                .map(|run| run.as_str().expect("id").to_owned()),
        );
        advanced.extend(
            pass["advanced"]
                .as_array()
                .expect("advanced")
                .iter()
                .map(|item| item["run"].as_str().expect("id").to_owned()),
        );
    }
    let unique: HashSet<&String> = submitted.iter().collect();
    assert_eq!(unique.len(), submitted.len(), "{submitted:?}");
    assert!(!submitted.is_empty());
    let advanced_once: HashSet<&String> = advanced.iter().collect();
    assert_eq!(
        advanced_once.len(),
        advanced.len(),
        "a run is advanced by one tick: {advanced:?}"
    );
}

#[test]
fn tick_refuses_to_go_back_in_time_and_now_with_lcs() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    tick(state, &["--now", "2026-12-01T00:00:00Z"]);
    let back = refreshctl(&["--state", state, "tick", "--now", "2026-11-01T00:00:00Z"]);
    assert_eq!(back.code, 1, "{}", back.stderr);
    assert!(back.stderr.contains("cannot go back"), "{}", back.stderr);
    let lcs = refreshctl(&[
        "--adapter",
        "lcs",
        "--state",
        state,
        "tick",
        "--now",
        "2026-12-01T00:00:00Z",
    ]);
    assert_eq!(lcs.code, 2, "{}", lcs.stderr);
    assert!(
        lcs.stderr.contains("rehearse on the simulator"),
        "{}",
        lcs.stderr
    );
}

#[test]
fn a_plan_with_errors_is_left_out_and_said_so() {
    let directory = tempfile::tempdir().expect("temp");
    let plans = directory.path().join("plans");
    std::fs::create_dir(&plans).expect("dir");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/plans/contoso-test-restore.yaml"
        ),
        plans.join("good.yaml"),
    )
    .expect("copy");
    std::fs::write(plans.join("broken.yaml"), "version: 1\nname: [").expect("write");
    let state = directory.path().join("state.db");
    let output = refreshctl(&[
        "--state",
        state.to_str().expect("utf-8"),
        "tick",
        "--plans",
        plans.to_str().expect("utf-8"),
        "--now",
        "2026-11-24T10:00:00Z",
    ]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("broken.yaml` is not scheduled"),
        "{}",
        output.stderr
    );
}

/// The daemon on the simulator, in real time: it submits what is due at once, picks up a plan
/// added to its directory on SIGHUP, and stops at once and cleanly on SIGTERM.
#[test]
fn the_daemon_reloads_on_sighup_and_stops_on_sigterm() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let directory = tempfile::tempdir().expect("temp");
    let plans = directory.path().join("plans");
    std::fs::create_dir(&plans).expect("dir");
    let state = directory.path().join("state.db");
    // A fixed window 30 hours from now with a 48-hour lead: due for submission at once, with
    // more than 24 hours' notice left.
    let plan = |name: &str| {
        let start = (Utc::now() + TimeDelta::hours(30)).format("%Y-%m-%dT%H:00:00Z");
        format!(
            "version: 1\nname: {name}\nproject: 1234567\nenvironment:\n  name: {name}-env\n  type: sandbox\n  release: \"10.0.41\"\nsource:\n  name: contoso-prod\n  type: production\n  release: \"10.0.41\"\nwindow:\n  start: {start}\n  duration: 4h\nlead_time: 48h\nacknowledge:\n  - target-database-erased\n  - target-unavailable\n"
        )
    };
    std::fs::write(plans.join("first.yaml"), plan("daemon-first")).expect("write");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_refreshctl"))
        .args([
            "--state",
            state.to_str().expect("utf-8"),
            "daemon",
            "--plans",
        ])
        .arg(&plans)
        .args(["--recheck", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daemon");
    let mut lines = BufReader::new(daemon.stdout.take().expect("stdout")).lines();
    let mut next_line = || lines.next().expect("a line").expect("text");
    assert!(next_line().contains("submitted daemon-first@"));
    // The first run is now accepted and waits for its window; the daemon sleeps.
    assert!(next_line().contains(": accepted, next at"));
    std::fs::write(plans.join("second.yaml"), plan("daemon-second")).expect("write");
    let pid = daemon.id().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    signal("HUP");
    assert!(next_line().contains("submitted daemon-second@"));
    signal("TERM");
    let status = daemon.wait().expect("exit");
    assert!(status.success(), "a clean stop: {status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(stderr.contains("reloaded 2 plan(s)"), "{stderr}");
    assert!(
        stderr.contains("stopped; every run is left to resume"),
        "{stderr}"
    );
    let runs = refreshctl(&[
        "--state",
        state.to_str().expect("utf-8"),
        "runs",
        "--format",
        "json",
    ]);
    let runs: Vec<Value> = serde_json::from_str(&runs.stdout).expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter().all(|run| run["state"] == "accepted"),
        "{runs:?}"
    );
}

/// A notification `tick` could not deliver is in the run's log, as `status` shows it.
#[test]
fn an_undelivered_notification_is_in_the_runs_log() {
    let directory = tempfile::tempdir().expect("temp");
    let plan = directory.path().join("hooked.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: hooked\nproject: 1234567\nenvironment:\n  name: hooked-env\n  type: sandbox\n  release: \"10.0.41\"\nsource:\n  name: contoso-prod\n  type: production\n  release: \"10.0.41\"\nwindow:\n  start: 2026-11-26T10:00:00Z\n  duration: 4h\nlead_time: 48h\nacknowledge:\n  - target-database-erased\n  - target-unavailable\nnotifications:\n  - url: http://127.0.0.1:9/hook\n    on: [submitted]\n",
    )
    .expect("write");
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    let output = assert_cmd::Command::cargo_bin("refreshctl")
        .expect("binary")
        .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "0s")
        .env("NO_COLOR", "1")
        .args(["--state", state, "tick", "--notify", "--plans"])
        .arg(&plan)
        .args(["--now", "2026-11-24T10:00:00Z"])
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("tick");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("was not delivered"), "{stderr}");
    let status = refreshctl(&[
        "--state",
        state,
        "status",
        "hooked@20261126T1000Z",
        "--format",
        "json",
    ]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).expect("status JSON");
    let failed: Vec<&Value> = status["log"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["kind"] == "notification-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{status}");
    assert!(
        failed[0]["message"]
            .as_str()
            // Only the scheme and host of a hook's URL are shown: its path is often a secret.
            .is_some_and(|text| text.starts_with(
                "the submitted notification to http://127.0.0.1:9/… was not delivered: "
            )),
        "{status}"
    );
}

/// The run states of SPEC 5.1: all that `state` may hold.
const STATES: [&str; 9] = [
    "submitted",
    "accepted",
    "running",
    "awaiting-approval",
    "needs-attention",
    "succeeded",
    "failed",
    "rejected",
    "canceled",
];

#[test]
fn tick_json_keeps_plain_state_names_and_puts_errors_in_their_own_field() {
    let directory = tempfile::tempdir().expect("temp");
    let plans = directory.path().join("plans");
    std::fs::create_dir_all(&plans).expect("plans");
    std::fs::write(
        plans.join("uat.yaml"),
        "version: 1
name: json-uat
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {cron: \"0 22 * * SAT\", timezone: UTC, duration: 6h}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
",
    )
    .expect("plan");
    let plans = plans.to_str().expect("utf-8");
    let advanced = |state: &str, extra: &[&str]| -> Vec<Value> {
        // The simulated world is made by the first pass, with the inventory given.
        let mut first = vec!["--plans", plans, "--now", "2026-11-24T12:00:00Z"];
        first.extend_from_slice(extra);
        tick(state, &first);
        let mut args = vec![
            "--plans",
            plans,
            "--now",
            "2026-11-26T22:00:00Z",
            "--until",
            "2026-11-29T06:00:00Z",
        ];
        args.extend_from_slice(extra);
        tick(state, &args)
            .iter()
            .flat_map(|pass| pass["advanced"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let check_states = |entries: &[Value]| {
        for entry in entries {
            let state = entry["state"].as_str().expect("a state");
            assert!(STATES.contains(&state), "a plain state name: {entry}");
            assert!(
                STATES.contains(&entry["before"].as_str().expect("before")),
                "{entry}"
            );
        }
    };

    // The refresh fails: `failed`, and why in `error`.
    let failing = directory.path().join("failing.db");
    let entries = advanced(
        failing.to_str().expect("utf-8"),
        &["--sim-fault", "refresh-fails"],
    );
    check_states(&entries);
    let failed = entries
        .iter()
        .find(|entry| entry["state"] == "failed")
        .unwrap_or_else(|| panic!("a failed run: {entries:?}"));
    assert_eq!(failed["run"], "json-uat@20261128T2200Z");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|error| error.starts_with("monitor-refresh: the operation ended")),
        "{failed}"
    );

    // LCS contradicts the plan's release: `rejected`, and why in `error`.
    let inventory = directory.path().join("inventory.yaml");
    std::fs::write(
        &inventory,
        "- {project: 1234567, name: contoso-uat, type: sandbox, release: \"10.0.40\", id: uat}
- {project: 1234567, name: contoso-prod, type: production, release: \"10.0.41\", id: prod}
",
    )
    .expect("inventory");
    let stale = directory.path().join("stale.db");
    let entries = advanced(
        stale.to_str().expect("utf-8"),
        &["--sim-inventory", inventory.to_str().expect("utf-8")],
    );
    check_states(&entries);
    let rejected = entries
        .iter()
        .find(|entry| entry["state"] == "rejected")
        .unwrap_or_else(|| panic!("a rejected run: {entries:?}"));
    assert!(
        rejected["error"]
            .as_str()
            .is_some_and(|error| error.contains("LCS says 10.0.40")),
        "{rejected}"
    );
    // A run waiting for its window is `accepted`, not `waiting`, with when it is due.
    let uat = directory.path().join("uat.db");
    let entries = advanced(uat.to_str().expect("utf-8"), &[]);
    check_states(&entries);
    assert!(
        entries
            .iter()
            .any(|entry| entry["state"] == "accepted" && entry["waiting_until"].is_string()),
        "{entries:?}"
    );
}
