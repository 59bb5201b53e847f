//! Secrets a peer echoes never get out: the real binary against the emulator in another process,
//! whose token endpoint and API answer errors that repeat the request (the form with the
//! password, client secret or refresh token; the bearer token). None of them may appear in
//! stdout, in stderr (`-vv`, text and JSON logs), in the state file's bytes or in the run's
//! error as `status` shows it.

#[path = "common/emulator_process.rs"]
#[expect(
    dead_code,
    reason = "this test reads the emulator's requests, not its model"
)]
mod emulator_process;

use std::path::Path;

use assert_cmd::Command;
use emulator_process::EmulatorProcess;

/// Characters that URL and JSON encoding change, so every form of a secret is tried.
const PASSWORD: &str = "Pa55:w0rd/Echo+7f3a&\"x";
const CLIENT_SECRET: &str = "cs~Echo.Secret/91b2=";
const GIVEN_ACCESS: &str = "given-access-Echo-token-4c1d";
const GIVEN_REFRESH: &str = "given-refresh-Echo-token-8e2f";

/// The plan of each scenario (`NAME` replaced), so each is a run of its own.
const PLAN: &str = "version: 1
name: NAME
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
";

/// Every form a secret could be shown in.
fn forms(secret: &str) -> Vec<String> {
    let percent: String = secret
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    let json = serde_json::to_string(secret).expect("json");
    vec![
        secret.to_owned(),
        percent,
        json.trim_matches('"').to_owned(),
    ]
}

struct World {
    directory: tempfile::TempDir,
    emulator: EmulatorProcess,
    /// Everything the commands printed, to search at the end.
    printed: std::cell::RefCell<Vec<u8>>,
}

impl World {
    fn new() -> Self {
        let directory = tempfile::tempdir().expect("temp");
        let plan = directory.path().join("plan.yaml");
        std::fs::write(&plan, PLAN.replace("NAME", "echo-seed")).expect("plan");
        let emulator = EmulatorProcess::start(&[
            "--speed",
            "100000",
            "--metadata-per-minute",
            "0",
            "--password",
            PASSWORD,
            "--plans",
            plan.to_str().expect("utf-8"),
        ]);
        Self {
            directory,
            emulator,
            printed: std::cell::RefCell::default(),
        }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn echo(&self, path: &str, status: u16) {
        let answer = self.emulator.post(
            "/_emulator/faults",
            &serde_json::json!([{ "path": path, "times": 1, "fault": { "kind": "echo", "status": status } }]),
        );
        assert!(answer.contains("204"), "{answer}");
    }

    /// Runs refreshctl with the lcs adapter; `env` replaces the emulator's sign-in variables.
    fn refreshctl(&self, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
        let mut command = Command::cargo_bin("refreshctl").expect("binary");
        command
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("REFRESHCTL_STATE", self.path().join("state.db"))
            .env("REFRESHCTL_ADAPTER", "lcs")
            .env_remove("REFRESHCTL_FAILPOINT")
            .envs(self.emulator.env())
            .env("LCS_PASSWORD", PASSWORD)
            .env("LCS_CLIENT_SECRET", CLIENT_SECRET)
            .envs(env.iter().copied())
            .args(args)
            .timeout(std::time::Duration::from_mins(1));
        let output = command.output().expect("runs");
        let mut printed = self.printed.borrow_mut();
        printed.extend_from_slice(&output.stdout);
        printed.extend_from_slice(&output.stderr);
        output
    }

    fn apply(&self, name: &str, env: &[(&str, &str)], log_format: &str) -> std::process::Output {
        let file = format!("{name}.yaml");
        std::fs::write(self.path().join(&file), PLAN.replace("NAME", name)).expect("plan");
        self.refreshctl(
            env,
            &[
                "-vv",
                "--log-format",
                log_format,
                "apply",
                "--yes",
                "--start-now",
                "--reason",
                "echo test",
                "--poll-interval",
                "20ms",
                &file,
            ],
        )
    }

    /// `status --format json` of the run `apply` printed the id of.
    fn status(&self, applied: &std::process::Output) -> serde_json::Value {
        let id = String::from_utf8_lossy(&applied.stdout).trim().to_owned();
        let status = self.refreshctl(&[], &["status", &id, "--format", "json"]);
        serde_json::from_slice(&status.stdout).expect("status")
    }
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn secrets_the_peer_echoes_reach_no_output_log_state_or_error() {
    let world = World::new();

    // 1. The token endpoint echoes the password grant's form: password and client secret.
    world.echo("/oauth2/token", 400);
    let refused = world.apply("echo-sign-in", &[], "json");
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    let said = text(&refused);
    assert!(
        said.contains("sign-in to LCS with the password was refused: the request was"),
        "{said}"
    );
    assert!(
        said.contains("password=***"),
        "the echo is shown, redacted: {said}"
    );

    // 2. The API echoes the bearer token in `ErrorMessage` (HTTP 200, IsSuccess false) on the
    // refresh, in text logs: the run fails with LCS's message, kept in the state.
    world.echo("/databasemovement/v1/refresh/", 200);
    let failed = world.apply("echo-bearer", &[], "text");
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let status = world.status(&failed);
    assert_eq!(status["state"], "failed", "{status}");
    let error = status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|step| step["id"] == "start-refresh"))
        .and_then(|step| step["error"].as_str())
        .expect("the step's error")
        .to_owned();
    assert!(error.contains("with authorization Bearer ***"), "{error}");

    // 3. A given access token, echoed on a 400 to the first metadata call (JSON logs): the run
    // is rejected at preflight with the echo, redacted.
    let given = [
        ("LCS_USERNAME", ""),
        ("LCS_PASSWORD", ""),
        ("LCS_ACCESS_TOKEN", GIVEN_ACCESS),
        ("LCS_REFRESH_TOKEN", GIVEN_REFRESH),
    ];
    world.echo("/environmentinfo/v1/detail/", 400);
    let rejected = world.apply("echo-given", &given, "json");
    assert_eq!(rejected.status.code(), Some(1), "{}", text(&rejected));
    let status = world.status(&rejected);
    assert_eq!(status["state"], "rejected", "{status}");
    assert!(
        status["steps"][0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("Bearer ***")),
        "{status}"
    );

    // 4. The emulator does not know the given token (401), so the refresh token is used, and
    // the token endpoint echoes that grant's form.
    world.echo("/oauth2/token", 400);
    let renewed = world.apply("echo-refresh", &given, "text");
    let said = text(&renewed);
    assert!(
        said.contains("sign-in to LCS with the refresh token was refused"),
        "{said}"
    );
    assert!(said.contains("refresh_token=***"), "{said}");

    // Nothing anywhere holds any form of any secret, nor a token the emulator issued.
    let printed = String::from_utf8_lossy(&world.printed.borrow()).into_owned();
    let state = std::fs::read(world.path().join("state.db")).expect("state");
    let state = String::from_utf8_lossy(&state).into_owned();
    for secret in [PASSWORD, CLIENT_SECRET, GIVEN_ACCESS, GIVEN_REFRESH] {
        for form in forms(secret) {
            assert!(!printed.contains(&form), "`{form}` was printed:\n{printed}");
            assert!(!state.contains(&form), "`{form}` is in the state file");
        }
    }
    for issued in ["emu-at-", "emu-rt-"] {
        assert!(
            !printed.contains(issued),
            "`{issued}` was printed:\n{printed}"
        );
        assert!(!state.contains(issued), "`{issued}` is in the state file");
    }
    // The echoes were served: the test saw what it meant to.
    let echoes = world
        .emulator
        .requests()
        .iter()
        .filter(|request| {
            request
                .fault
                .as_deref()
                .is_some_and(|fault| fault.starts_with("echo"))
        })
        .count();
    assert_eq!(echoes, 4);
}
