//! The production guard fails closed, with the real binary: a target whose type LCS (the
//! emulator in another process) or the simulator (`--sim-inventory`) reports as anything not
//! positively known to be non-production is rejected at preflight, the type named as it was
//! reported, and the emulator's request log shows that no refresh was sent.

#[path = "common/emulator_process.rs"]
#[expect(dead_code, reason = "this test scripts no faults in the emulator")]
mod emulator_process;

use std::path::Path;

use assert_cmd::Command;
use emulator_process::EmulatorProcess;
use refreshctl::adapter::{SimulatorAdapter, rehearsal_key};
use refreshctl::sim::Call;
use refreshctl::state::{StateStore, StateUrl};

/// Each target, the `type:` line of its inventory entry, and how the type shows in a refusal
/// (`None`: no type at all).
const TARGETS: [(&str, &str, Option<&str>); 6] = [
    (
        "t-selfservice",
        "type: \"Production (Self-service)\"",
        Some("Production (Self-service)"),
    ),
    (
        "t-prodenv",
        "type: ProductionEnvironment",
        Some("ProductionEnvironment"),
    ),
    ("t-live", "type: Live", Some("Live")),
    ("t-production", "type: Production", Some("Production")),
    ("t-null", "type: null", None),
    ("t-missing", "", None),
];

fn inventory(directory: &Path) -> std::path::PathBuf {
    let mut text = String::from(
        "- {project: 1234567, name: contoso-prod, type: production, release: \"10.0.41\"}\n\
         - {project: 1234567, name: t-sandbox, type: Sandbox, release: \"10.0.41\"}\n",
    );
    for (name, kind, _) in TARGETS {
        let kind = if kind.is_empty() {
            String::new()
        } else {
            format!("{kind}, ")
        };
        text = format!("{text}- {{project: 1234567, name: {name}, {kind}release: \"10.0.41\"}}\n");
    }
    let path = directory.join("inventory.yaml");
    std::fs::write(&path, text).expect("inventory");
    path
}

/// A plan refreshing `target`, which declares no type (so only the live type decides).
fn plan(directory: &Path, target: &str) -> String {
    let file = format!("{target}.yaml");
    std::fs::write(
        directory.join(&file),
        format!(
            "version: 1
name: guard-{target}
project: 1234567
environment: {{name: {target}}}
source: {{name: contoso-prod, type: production, release: \"10.0.41\"}}
window: {{cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}}
acknowledge: [target-database-erased, target-unavailable]
"
        ),
    )
    .expect("plan");
    file
}

fn refreshctl(directory: &Path, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", directory.join("cache"))
        .env("REFRESHCTL_STATE", directory.join("state.db"))
        .env_remove("REFRESHCTL_FAILPOINT")
        .env_remove("REFRESHCTL_ADAPTER")
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .args(args)
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("runs")
}

/// The one run of `plan` as `status --format json` shows it.
fn status_of(directory: &Path, env: &[(&str, String)], stdout: &[u8]) -> serde_json::Value {
    let id = String::from_utf8_lossy(stdout).trim().to_owned();
    let status = refreshctl(directory, env, &["status", &id, "--format", "json"]);
    serde_json::from_slice(&status.stdout).unwrap_or_else(|_| {
        panic!(
            "status of `{id}`: {}",
            String::from_utf8_lossy(&status.stderr)
        )
    })
}

fn assert_refused(
    status: &serde_json::Value,
    stderr: &str,
    target: &str,
    shown: Option<&str>,
    service: &str,
) {
    assert_eq!(status["state"], "rejected", "{target}: {status}");
    assert_eq!(status["steps"][0]["id"], "preflight");
    let error = status["steps"][0]["error"].as_str().unwrap_or_default();
    let expected = match shown {
        Some("Production") => format!("the target `{target}` is a production environment"),
        Some(kind) => format!(
            "{service} reports the type of the target `{target}` as `{kind}`, which refreshctl does not know to be non-production; refusing"
        ),
        None => format!(
            "{service} reports no type for the target `{target}`, so refreshctl does not know it to be non-production; refusing"
        ),
    };
    assert!(error.contains(&expected), "{target}: {error}");
    assert!(stderr.contains(&expected), "{target}: {stderr}");
}

#[test]
fn lcs_types_not_known_to_be_non_production_are_refused_before_any_refresh() {
    let directory = tempfile::tempdir().expect("temp");
    let inventory = inventory(directory.path());
    let emulator = EmulatorProcess::start(&[
        "--speed",
        "100000",
        "--metadata-per-minute",
        "0",
        "--inventory",
        inventory.to_str().expect("utf-8"),
    ]);
    let env: Vec<(&str, String)> = emulator
        .env()
        .into_iter()
        .chain([("REFRESHCTL_ADAPTER", "lcs".to_owned())])
        .collect();
    let apply = |target: &str| {
        let file = plan(directory.path(), target);
        refreshctl(
            directory.path(),
            &env,
            &[
                "apply",
                "--yes",
                "--start-now",
                "--reason",
                "guard test",
                "--poll-interval",
                "20ms",
                &file,
            ],
        )
    };
    let refreshes = || {
        emulator
            .requests()
            .iter()
            .filter(|request| {
                request.method == "POST" && request.path.contains("/databasemovement/v1/refresh/")
            })
            .count()
    };
    for (target, _, shown) in TARGETS {
        let applied = apply(target);
        let stderr = String::from_utf8_lossy(&applied.stderr).into_owned();
        assert_eq!(applied.status.code(), Some(1), "{target}: {stderr}");
        let status = status_of(directory.path(), &env, &applied.stdout);
        assert_refused(&status, &stderr, target, shown, "LCS");
        assert_eq!(refreshes(), 0, "{target}: a refresh was sent");
    }
    assert_eq!(emulator.model().destructive_calls().count(), 0);

    // The same setup with a sandbox: the refresh goes out, so the refusals above are the guard's.
    let applied = apply("t-sandbox");
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(refreshes(), 1);
}

#[test]
fn a_simulator_inventory_type_not_known_to_be_non_production_is_refused() {
    let directory = tempfile::tempdir().expect("temp");
    let inventory = inventory(directory.path());
    let inventory = inventory.to_str().expect("utf-8");
    let apply = |target: &str| {
        let file = plan(directory.path(), target);
        refreshctl(
            directory.path(),
            &[],
            &["apply", "--yes", "--sim-inventory", inventory, &file],
        )
    };
    // Each rehearsal runs in a world of its own, kept under its run id.
    let refreshes = |run: &[u8]| {
        let run = String::from_utf8_lossy(run).trim().to_owned();
        let store =
            StateStore::open(&StateUrl::Sqlite(directory.path().join("state.db"))).expect("store");
        SimulatorAdapter::load(&store, &rehearsal_key(&run))
            .expect("model")
            .map_or(0, |model| {
                model
                    .calls
                    .iter()
                    .filter(|record| matches!(record.call, Call::StartRefresh { .. }))
                    .count()
            })
    };
    for (target, _, shown) in TARGETS {
        let applied = apply(target);
        let stderr = String::from_utf8_lossy(&applied.stderr).into_owned();
        assert_eq!(applied.status.code(), Some(1), "{target}: {stderr}");
        let status = status_of(directory.path(), &[], &applied.stdout);
        assert_refused(&status, &stderr, target, shown, "LCS");
        assert_eq!(
            refreshes(&applied.stdout),
            0,
            "{target}: a refresh was started"
        );
    }
    let applied = apply("t-sandbox");
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(refreshes(&applied.stdout), 1);
}
