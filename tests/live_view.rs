//! The live view under a real pseudo-terminal: the real binary on a pty (rexpect), driven as an
//! operator would. Every step's line shows above the bar, the outcome is said once with the
//! right count, the manual step's prompt asks again after an answer it does not know, and
//! Ctrl-C (or SIGTERM) says how the run stands and the exact command that goes on with it,
//! which then finishes the run. Through LCS (the emulator in another process), the bar shows the
//! remote status and the operation while a step waits on it. The simulated clock and the
//! emulator's speed drive the runs; assertions wait for text, never for a time.

#[path = "common/emulator_process.rs"]
#[expect(dead_code, reason = "this test reads no model")]
mod emulator_process;

use emulator_process::EmulatorProcess;
use rexpect::session::PtySession;

/// Generous: the machine may be busy building; nothing here waits on time by design.
const TIMEOUT_MS: u64 = 60_000;

const PLAN: &str = "plans/contoso-uat-weekly.yaml";

struct Home {
    directory: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            directory: tempfile::tempdir().expect("temp"),
        }
    }

    fn state(&self) -> String {
        self.directory.path().join("state.db").display().to_string()
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_refreshctl"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .env("USER", "pty-operator")
            .env("REFRESHCTL_STATE", self.state())
            .env("XDG_CACHE_HOME", self.directory.path().join("cache"))
            .env("REFRESHCTL_NOTIFY_RETRY_WAIT", "1ms")
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("REFRESHCTL_FAILPOINT")
            .env_remove("REFRESHCTL_TEST_CLOCK")
            .args(args);
        command
    }

    /// The binary on a new pseudo-terminal.
    fn on_terminal(command: std::process::Command) -> Terminal {
        Terminal {
            session: rexpect::session::spawn_command(command, Some(TIMEOUT_MS))
                .expect("the binary starts on a pty"),
            transcript: String::new(),
        }
    }

    /// `status RUN --format json`, without a terminal.
    fn status(&self, run: &str) -> serde_json::Value {
        let output = self
            .command(&["status", run, "--format", "json"])
            .output()
            .expect("status runs");
        assert_eq!(output.status.code(), Some(0));
        serde_json::from_slice(&output.stdout).expect("json")
    }
}

/// A session and everything it printed so far.
struct Terminal {
    session: PtySession,
    transcript: String,
}

impl Terminal {
    /// Waits for `text`; returns what came before it.
    fn expect(&mut self, text: &str) -> String {
        let before = self.session.exp_string(text).unwrap_or_else(|error| {
            panic!(
                "`{text}` never came ({error}); the terminal so far:\n{}",
                self.transcript
            )
        });
        self.transcript.push_str(&before);
        self.transcript.push_str(text);
        before
    }

    /// Waits for the rest of a line that starts with `start`; returns the rest.
    fn expect_line(&mut self, start: &str) -> String {
        self.expect(start);
        let rest = self.expect("\r\n");
        rest.trim().to_owned()
    }

    fn send_line(&mut self, line: &str) {
        self.session.send_line(line).expect("write to the pty");
    }

    /// Reads to the end and returns the exit code.
    fn exit_code(mut self) -> (i32, String) {
        let rest = self.session.exp_eof().unwrap_or_default();
        self.transcript.push_str(&rest);
        let status = self.session.process().wait().expect("the process ends");
        let rexpect::process::WaitStatus::Exited(_, code) = status else {
            panic!("the process did not exit normally: {status:?}");
        };
        (code, self.transcript)
    }
}

#[test]
fn on_a_terminal_every_step_shows_the_prompt_asks_again_and_the_outcome_is_said_once() {
    let home = Home::new();
    let mut terminal = Home::on_terminal(home.command(&["apply", PLAN]));
    // Every step's outcome is a line, above the bar.
    for line in [
        "] preflight started",
        "] preflight succeeded",
        "] monitor-refresh succeeded",
        "] reprovision.upload succeeded",
    ] {
        terminal.expect(line);
    }
    // The Financial reporting reset is done by hand, as on LCS: the first prompt.
    terminal.expect("`reset-financial-reporting` waits for you. Is it done?");
    terminal.send_line("yes");
    for line in [
        "] deploy.monitor succeeded",
        "] command succeeded",
        "Re-activate the POS devices of store 042",
    ] {
        terminal.expect(line);
    }
    terminal.expect(
        "`manual` waits for you. Is it done? Type `yes` when it is, or `no` to leave it waiting: ",
    );
    terminal.send_line("maybe");
    terminal.expect(
        "`maybe` is not an answer here: `yes` (or `done`) approves `manual`, `no` (or `later`) leaves it waiting",
    );
    terminal.expect("`manual` waits for you. Is it done?");
    terminal.send_line("yes");
    terminal.expect("`manual` approved by pty-operator");
    let (code, transcript) = terminal.exit_code();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        transcript.matches("run succeeded").count(),
        1,
        "the outcome once: {transcript}"
    );
    assert!(
        transcript.contains("run succeeded (15/15 steps)"),
        "with every step counted, the approved one too: {transcript}"
    );
    assert!(
        !transcript.contains("14/15 steps  manual\r\n"),
        "no stale bar is left: {transcript}"
    );
}

#[test]
fn ctrl_c_at_the_prompt_says_how_the_run_stands_and_its_resume_command_finishes_it() {
    let home = Home::new();
    let mut terminal = Home::on_terminal(home.command(&["apply", PLAN]));
    terminal.expect("`reset-financial-reporting` waits for you. Is it done?");
    terminal.send_line("yes");
    terminal.expect("`manual` waits for you. Is it done?");
    terminal
        .session
        .send_control('c')
        .expect("Ctrl-C on the pty");
    let stands = terminal.expect_line("refreshctl: stopped by SIGINT: run `");
    assert!(
        stands.contains("` is awaiting-approval, at `manual`")
            && stands.contains("everything so far is saved"),
        "{stands}"
    );
    let command = terminal.expect_line("refreshctl: to go on: ");
    let (code, transcript) = terminal.exit_code();
    assert_eq!(code, 130, "SIGINT's documented exit code: {transcript}");
    let run = stands.split('`').next().expect("the run id").to_owned();
    assert_eq!(
        command,
        format!("refreshctl resume {run} --state {}", home.state()),
        "the exact command"
    );
    // Nothing was lost: the run waits where it stopped, and the command shown goes on with it.
    assert_eq!(home.status(&run)["state"], "awaiting-approval");
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut resumed = Home::on_terminal(home.command(&words[1..]));
    resumed.expect("`manual` waits for you. Is it done?");
    resumed.send_line("done");
    let (code, transcript) = resumed.exit_code();
    assert_eq!(code, 0, "{transcript}");
    assert!(
        transcript.contains("run succeeded (15/15 steps)"),
        "{transcript}"
    );
    assert_eq!(home.status(&run)["state"], "succeeded");
}

/// A refresh of the emulator's `contoso-uat`, nothing after it.
const REFRESH_ONLY: &str = "version: 1
name: live-uat
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {cron: \"0 22 * * SAT\", timezone: Europe/Amsterdam, duration: 6h}
lead_time: 48h
acknowledge: [target-database-erased, target-unavailable]
";

#[test]
fn through_lcs_the_bar_shows_the_remote_status_and_sigterm_leaves_the_run_to_resume() {
    // 600 times faster: the refresh takes about ten seconds, long enough to be seen waiting.
    let emulator = EmulatorProcess::start(&[
        "--speed",
        "600",
        "--plans",
        concat!(env!("CARGO_MANIFEST_DIR"), "/plans"),
        "--metadata-per-minute",
        "0",
    ]);
    let home = Home::new();
    let plan = home.directory.path().join("live.yaml");
    std::fs::write(&plan, REFRESH_ONLY).expect("plan");
    let plan = plan.to_str().expect("utf-8");
    let lcs = |args: &[&str]| {
        let mut command = home.command(args);
        command
            .env("REFRESHCTL_ADAPTER", "lcs")
            .envs(emulator.env());
        command
    };
    let mut terminal = Home::on_terminal(lcs(&[
        "apply",
        "--yes",
        "--start-now",
        "--reason",
        "live view test",
        "--poll-interval",
        "200ms",
        plan,
    ]));
    terminal.expect("] start-refresh succeeded");
    // The bar: the step, the status LCS last gave, the operation, the elapsed time, the next poll.
    terminal.expect("steps  monitor-refresh");
    let bar = terminal.expect(" elapsed, next poll at ");
    assert!(
        ["NotStarted, operation ", "InProgress, operation "]
            .iter()
            .any(|status| bar.contains(status)),
        "{bar}"
    );
    // SIGTERM (as a service manager sends it) while the step waits on LCS.
    terminal
        .session
        .process_mut()
        .signal(rexpect::process::Signal::SIGTERM)
        .expect("SIGTERM");
    let stands = terminal.expect_line("refreshctl: stopped by SIGTERM: run `");
    assert!(
        stands.contains("` is running, at `monitor-refresh` (running since ")
            && stands.contains("operation ")
            && stands.contains("and LCS goes on with what it was asked to do"),
        "{stands}"
    );
    let command = terminal.expect_line("refreshctl: to go on: ");
    let (code, transcript) = terminal.exit_code();
    assert_eq!(code, 143, "SIGTERM's documented exit code: {transcript}");
    let run = stands.split('`').next().expect("the run id").to_owned();
    assert_eq!(
        command,
        format!(
            "refreshctl resume {run} --adapter lcs --state {} --poll-interval 200ms",
            home.state()
        )
    );
    assert_eq!(home.status(&run)["state"], "running");
    let words: Vec<&str> = command.split_whitespace().collect();
    let resumed = lcs(&words[1..]).output().expect("resume runs");
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(home.status(&run)["state"], "succeeded");
    let refreshes = emulator
        .requests()
        .iter()
        .filter(|request| request.path.contains("/databasemovement/v1/refresh/"))
        .count();
    assert_eq!(refreshes, 1, "the refresh was asked for once");
}

/// An `apply` through LCS on a terminal whose refresh call the emulator answers only after
/// `millis`: the test's signals come while the call is under way.
struct SlowRefresh {
    emulator: EmulatorProcess,
    home: Home,
    plan: String,
}

impl SlowRefresh {
    fn start(millis: u64) -> Self {
        let emulator = EmulatorProcess::start(&[
            "--speed",
            "600",
            "--plans",
            concat!(env!("CARGO_MANIFEST_DIR"), "/plans"),
            "--metadata-per-minute",
            "0",
        ]);
        emulator.script_faults(&serde_json::json!([{
            "path": "/databasemovement/v1/refresh/",
            "method": "POST",
            "times": 1,
            "fault": { "kind": "slow", "millis": millis },
        }]));
        let home = Home::new();
        let plan = home.directory.path().join("live.yaml");
        std::fs::write(&plan, REFRESH_ONLY).expect("plan");
        let plan = plan.to_str().expect("utf-8").to_owned();
        Self {
            emulator,
            home,
            plan,
        }
    }

    /// The binary through the `lcs` adapter on this emulator.
    fn lcs(&self, args: &[&str]) -> std::process::Command {
        let mut command = self.home.command(args);
        command
            .env("REFRESHCTL_ADAPTER", "lcs")
            .envs(self.emulator.env());
        command
    }

    /// `apply` on a terminal, once its refresh call has gone out.
    fn apply_until_the_call(&self) -> Terminal {
        let mut terminal = Home::on_terminal(self.lcs(&[
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "live view test",
            "--poll-interval",
            "200ms",
            &self.plan,
        ]));
        terminal.expect("] start-refresh started");
        terminal
    }

    /// How many refresh calls the emulator answered.
    fn refreshes(&self) -> usize {
        self.emulator
            .requests()
            .iter()
            .filter(|request| request.path.contains("/databasemovement/v1/refresh/"))
            .count()
    }
}

#[test]
fn ctrl_c_during_a_call_lets_it_be_answered_then_stops_and_the_run_resumes() {
    // The refresh call takes two seconds to be answered: Ctrl-C comes while it is under way.
    let world = SlowRefresh::start(2000);
    let mut terminal = world.apply_until_the_call();
    terminal
        .session
        .send_control('c')
        .expect("Ctrl-C on the pty");
    terminal.expect(
        "refreshctl: SIGINT: stopping at the next safe point, once a call under way is answered (again to stop at once)",
    );
    // The call was answered and its operation kept; the run stopped at the wait after it.
    let stands = terminal.expect_line("refreshctl: stopped by SIGINT: run `");
    assert!(
        stands.contains("` is running, at `monitor-refresh` (running since ")
            && stands.contains("operation "),
        "{stands}"
    );
    let command = terminal.expect_line("refreshctl: to go on: ");
    let (code, transcript) = terminal.exit_code();
    assert_eq!(code, 130, "{transcript}");
    let run = stands.split('`').next().expect("the run id").to_owned();
    let status = world.home.status(&run);
    let start = status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|step| step["id"] == "start-refresh")
        .expect("start-refresh")
        .clone();
    assert_eq!(start["state"], "succeeded", "{status}");
    assert!(start["remote"]["activity"].is_string(), "{status}");
    let words: Vec<&str> = command.split_whitespace().collect();
    let resumed = world.lcs(&words[1..]).output().expect("resume runs");
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(world.home.status(&run)["state"], "succeeded");
    assert_eq!(world.refreshes(), 1, "the refresh was asked for once");
}

#[test]
fn a_second_ctrl_c_during_a_call_stops_at_once_and_the_run_resumes_without_a_second_refresh() {
    // The refresh call takes ten seconds to be answered: both Ctrl-Cs come while it is under way,
    // and the second drops it unanswered.
    let world = SlowRefresh::start(10_000);
    let mut terminal = world.apply_until_the_call();
    terminal.session.send_control('c').expect("Ctrl-C");
    terminal.expect("(again to stop at once)");
    terminal.session.send_control('c').expect("Ctrl-C again");
    terminal.expect("refreshctl: SIGINT again: stopping at once");
    let stands = terminal.expect_line("refreshctl: stopped by SIGINT: run `");
    let command = terminal.expect_line("refreshctl: to go on: ");
    let (code, transcript) = terminal.exit_code();
    assert_eq!(code, 130, "{transcript}");
    // The call was dropped unanswered: its intent is what the run knows.
    assert!(
        stands.contains("` is running, at `start-refresh` (")
            && stands.contains("its call recorded as an intent"),
        "{stands}"
    );
    let run = stands.split('`').next().expect("the run id").to_owned();
    // Resuming does not send it again on its own: LCS's history does not show it, so a person
    // must look; the message says what to run.
    let words: Vec<&str> = command.split_whitespace().collect();
    let resumed = world.lcs(&words[1..]).output().expect("resume runs");
    let said = String::from_utf8_lossy(&resumed.stderr);
    assert_ne!(resumed.status.code(), Some(0), "{said}");
    assert_eq!(
        world.home.status(&run)["state"],
        "needs-attention",
        "{said}"
    );
    assert!(
        said.contains(
            "the environment's history does not show it; nothing is sent again automatically"
        ) && said.contains(&format!("refreshctl resume {run} --retry-step")),
        "{said}"
    );
    assert_eq!(world.refreshes(), 0, "nothing was sent without a person");
    // The person checked LCS and asks for the step again: one refresh, and the run ends.
    let retried = world
        .lcs(&[
            "resume",
            &run,
            "--retry-step",
            "--reason",
            "checked LCS: no refresh",
            "--poll-interval",
            "200ms",
        ])
        .output()
        .expect("resume --retry-step runs");
    assert_eq!(
        retried.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert_eq!(world.home.status(&run)["state"], "succeeded");
    assert_eq!(world.refreshes(), 1, "the refresh was sent once");
}
