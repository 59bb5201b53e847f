//! The simulated LCS that `tick` shares, with the real binary: ticks side by side on one state
//! store (SQLite and PostgreSQL) and a killed tick lose none of its state, and a run that `tick`
//! began is resumed in it. (Beside `schedule.rs`, in a test binary of their own: these start
//! many processes, and the year-long rehearsal there must not share the cores with them.)

#[path = "common/postgres.rs"]
mod postgres_server;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// Twenty weekly plans (Saturdays 22:00 UTC, 48 h lead), each on a target of its own, so every
/// run is due at the same moments; each reprovisions, so the simulated LCS's assets change in
/// place as well as grow.
fn twenty_weekly_plans(directory: &std::path::Path) -> String {
    let plans = directory.join("plans");
    std::fs::create_dir_all(&plans).expect("plans");
    for index in 0..20 {
        std::fs::write(
            plans.join(format!("weekly-{index:02}.yaml")),
            format!(
                "version: 1
name: weekly-{index:02}
project: 1234567
environment: {{name: uat-{index:02}, type: sandbox, release: \"10.0.41\"}}
source: {{name: prod, type: production, release: \"10.0.41\"}}
window: {{cron: \"0 22 * * SAT\", timezone: UTC, duration: 6h}}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
post_steps: [reprovision, reset-financial-reporting]
"
            ),
        )
        .expect("plan");
    }
    plans.display().to_string()
}

/// `refreshctl ARGS` in `directory`, with `failpoint` if given. Each `cache` is a package cache
/// of its own, as each machine of a replica has.
fn refreshctl_at(
    directory: &std::path::Path,
    cache: &str,
    failpoint: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut command = assert_cmd::Command::cargo_bin("refreshctl").expect("binary");
    command
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", directory.join(cache))
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("REFRESHCTL_STATE")
        .args(args)
        .timeout(std::time::Duration::from_mins(1));
    match failpoint {
        Some(point) => command.env("REFRESHCTL_FAILPOINT", point),
        None => command.env_remove("REFRESHCTL_FAILPOINT"),
    };
    command.output().expect("runs")
}

/// The passes of a Saturday: first sight, the submissions 48 h before, the window's start
/// (refreshes start), after the refreshes (97 minutes; reprovisioning uploads), after the
/// package's validation (its deployment starts), after the deployment (52 minutes; the run
/// ends), and one more.
fn saturday_passes() -> Vec<&'static str> {
    vec![
        "2026-11-24T10:00:00Z",
        "2026-11-26T22:00:00Z",
        "2026-11-28T22:00:00Z",
        "2026-11-28T23:45:00Z",
        "2026-11-29T00:00:00Z",
        "2026-11-29T01:00:00Z",
        "2026-11-29T02:00:00Z",
    ]
}

/// Runs every pass with `processes` ticks at once on `state`, then checks that every run of the
/// twenty plans succeeded: no tick lost another's changes to the simulated LCS.
fn ticks_side_by_side(state: &str, processes: usize) {
    let directory = tempfile::tempdir().expect("temp");
    let plans = twenty_weekly_plans(directory.path());
    for now in saturday_passes() {
        std::thread::scope(|scope| {
            let ticks: Vec<_> = (0..processes)
                .map(|index| {
                    let (directory, plans) = (directory.path(), &plans);
                    scope.spawn(move || {
                        let owner = format!("tick-{index}");
                        let output = refreshctl_at(
                            directory,
                            &owner,
                            None,
                            &[
                                "--state", state, "tick", "--yes", "--plans", plans, "--owner",
                                &owner, "--now", now, "--format", "json",
                            ],
                        );
                        assert_eq!(
                            output.status.code(),
                            Some(0),
                            "{owner} at {now}: {}\n{}",
                            String::from_utf8_lossy(&output.stdout),
                            String::from_utf8_lossy(&output.stderr)
                        );
                    })
                })
                .collect();
            for tick in ticks {
                tick.join().expect("tick");
            }
        });
    }
    let listed = refreshctl_at(
        directory.path(),
        "cache",
        None,
        &["--state", state, "runs", "--format", "json"],
    );
    let runs: Vec<Value> = serde_json::from_slice(&listed.stdout).expect("runs JSON");
    assert_eq!(runs.len(), 20, "one run per plan: {runs:?}");
    for run in &runs {
        assert_eq!(run["state"], "succeeded", "{run}");
        assert_eq!(run["window"]["start"], "2026-11-28T22:00:00Z", "{run}");
    }
}

#[test]
fn two_ticks_at_once_on_one_sqlite_file_lose_no_simulated_state() {
    let directory = tempfile::tempdir().expect("temp");
    let state = directory.path().join("state.db");
    ticks_side_by_side(state.to_str().expect("utf-8"), 2);
}

#[test]
fn three_ticks_at_once_on_postgresql_lose_no_simulated_state() {
    let Some(state) = postgres_server::fresh_schema("shared_world") else {
        return;
    };
    ticks_side_by_side(&state, 3);
}

/// A tick killed right after the refresh was started (the step committed, the process gone
/// before it could save anything else): the next tick finds the refresh in the simulated LCS.
#[test]
fn a_killed_tick_loses_no_simulated_state() {
    use std::os::unix::process::ExitStatusExt as _;
    let directory = tempfile::tempdir().expect("temp");
    let plans = twenty_weekly_plans(directory.path());
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    // The runs the killed pass did not reach start their refreshes a pass later, so they need
    // three passes more to end.
    let mut passes = saturday_passes();
    passes.extend([
        "2026-11-29T02:15:00Z",
        "2026-11-29T03:15:00Z",
        "2026-11-29T03:45:00Z",
    ]);
    for (index, now) in passes.into_iter().enumerate() {
        // The pass at the window's start starts the refreshes, and dies after the first.
        let failpoint = (index == 2).then_some("after-step:start-refresh");
        let output = refreshctl_at(
            directory.path(),
            "cache",
            failpoint,
            &[
                "--state", state, "tick", "--yes", "--plans", &plans, "--now", now,
            ],
        );
        if failpoint.is_some() {
            assert_eq!(
                output.status.signal(),
                Some(9),
                "the failpoint was not reached: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        } else {
            assert_eq!(
                output.status.code(),
                Some(0),
                "at {now}: {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let listed = refreshctl_at(
        directory.path(),
        "cache",
        None,
        &["--state", state, "runs", "--format", "json"],
    );
    let runs: Vec<Value> = serde_json::from_slice(&listed.stdout).expect("runs JSON");
    assert_eq!(runs.len(), 20);
    for run in &runs {
        assert_eq!(run["state"], "succeeded", "{run}");
    }
}

/// A run that `tick` began goes on in the world `tick` began it in when it is resumed in the
/// foreground: the refresh it started is found there.
#[test]
fn a_run_begun_by_tick_resumes_in_the_shared_world() {
    use chrono::Datelike as _;
    let directory = tempfile::tempdir().expect("temp");
    let plans = twenty_weekly_plans(directory.path());
    let state = directory.path().join("state.db");
    let state = state.to_str().expect("utf-8");
    // The first Saturday 22:00 UTC at least three days after the real now.
    let now = Utc::now();
    let mut window = (now + TimeDelta::days(3))
        .date_naive()
        .and_hms_opt(22, 0, 0)
        .expect("22:00")
        .and_utc();
    while window.weekday() != chrono::Weekday::Sat {
        window += TimeDelta::days(1);
    }
    let format = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for at in [now, window - TimeDelta::hours(48), window] {
        let output = refreshctl_at(
            directory.path(),
            "cache",
            None,
            &[
                "--state",
                state,
                "tick",
                "--yes",
                "--plans",
                &plans,
                "--now",
                &format(at),
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let run = format!("weekly-00@{}", window.format("%Y%m%dT%H%MZ"));
    let resumed = refreshctl_at(
        directory.path(),
        "cache",
        None,
        &["--state", state, "resume", "--yes", &run],
    );
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let status = refreshctl_at(
        directory.path(),
        "cache",
        None,
        &["--state", state, "status", &run, "--format", "json"],
    );
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status["state"], "succeeded", "{status}");
}
