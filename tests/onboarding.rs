//! What a new user does first, through the real binary: the emulator's banner tells the
//! variables that work as printed, and every shell example of the README works as written, in
//! its order, right after the first command (the list of examples here is checked against the
//! README, so neither can drift from the other).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

#[path = "common/emulator_process.rs"]
#[expect(
    dead_code,
    reason = "this test reads nothing from the emulator but its banner"
)]
mod emulator_process;

/// Starts the emulator on a free port and returns the lines of its banner.
fn banner(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_refreshctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("REFRESHCTL_EMULATOR_PASSWORD")
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    for line in reader.lines() {
        let line = line.expect("a line");
        let last = line.contains("LCS_PASSWORD=");
        lines.push(line);
        if last {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn the_emulator_prints_the_password_it_accepts_by_default_and_hides_a_chosen_one() {
    let lines = banner(&[]);
    let last = lines.last().expect("a banner");
    assert!(last.ends_with("LCS_PASSWORD=emulator"), "{lines:?}");
    let lines = banner(&["--password", "s3cret-chosen"]);
    assert!(
        lines.iter().all(|line| !line.contains("s3cret-chosen")),
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .expect("a banner")
            .ends_with("LCS_PASSWORD=<the --password given>"),
        "{lines:?}"
    );
}

/// What the onboarding test does with one README example.
enum Do {
    /// Run the line as written (`sh -c`), on the simulator's state of the steps before.
    Run,
    /// Run the line as written with the `LCS_*` variables of a running emulator.
    RunAgainstTheEmulator,
    /// Run the line as written on a terminal (`script`), typing these answers.
    Answer(&'static str),
    /// Not run, and why (what runs it instead).
    Skip(&'static str),
}

/// Every shell example of the README, in its order, as the README writes it (`- run:` and
/// `- script:` lines of the CI example without that prefix), and what this test does with it.
const EXAMPLES: &[(&str, Do)] = &[
    (
        "cargo run --release -- apply --yes plans/contoso-uat-weekly.yaml",
        Do::Run,
    ),
    (
        "cargo test",
        Do::Skip("the test suite is what runs this test"),
    ),
    (
        "cargo install --path .          # installs ~/.cargo/bin/refreshctl",
        Do::Skip("the test puts the binary it tests on the PATH as `refreshctl` instead"),
    ),
    (
        "refreshctl init                 # asks a few questions and writes a commented starter plan",
        Do::Answer(
            "onboarding-train\n1111111\nnorthwind-test\nnorthwind-prod\n0 23 * * SUN\nUTC\n4h\n",
        ),
    ),
    (
        "refreshctl tick --yes --now 2026-11-24T10:00:00Z                      # rehearsal: first sight of plans/",
        Do::Run,
    ),
    (
        "refreshctl tick --yes --now 2026-11-24T10:00:01Z --until 2027-11-24T00:00:00Z   # a year in seconds",
        Do::Run,
    ),
    (
        "refreshctl --adapter lcs tick --plans plans/contoso-uat-weekly.yaml --plans plans/fabrikam-1611-monthly.yaml   # for real: the LCS plans, one pass (from cron every minute)",
        Do::RunAgainstTheEmulator,
    ),
    (
        "refreshctl --adapter lcs --state postgres://refreshctl@db/refreshctl daemon --plans plans/",
        Do::Skip(
            "a placeholder server, and it runs for ever: tests/schedule.rs and tests/replicas.rs run the daemon",
        ),
    ),
    (
        "docker build -f deploy/Dockerfile -t ghcr.io/refreshctl/refreshctl:0.1.0 .",
        Do::Skip(
            "it needs a Docker daemon and base images from Docker Hub, which this machine cannot reach: tests/deploy.rs checks the Dockerfile against the CronJob and hadolint lints it",
        ),
    ),
    (
        "export LCS_CLIENT_ID=<app registration with Dynamics Lifecycle services / user_impersonation>",
        Do::Skip("placeholders: the emulator's variables stand in for them"),
    ),
    (
        "export LCS_USERNAME=ops@contoso.com LCS_PASSWORD=...      # or LCS_ACCESS_TOKEN (+ LCS_REFRESH_TOKEN)",
        Do::Skip("placeholders: the emulator's variables stand in for them"),
    ),
    (
        "refreshctl --adapter lcs apply plans/contoso-uat-weekly.yaml   # asks you to type the target's name",
        Do::Skip(
            "it waits days for the window on the real clock: tests/lcs_cli.rs applies every example plan to the emulator with --start-now",
        ),
    ),
    (
        "cargo run --release -- emulator --plans plans          # LCS, tokens and blob storage on 127.0.0.1:8089",
        Do::Skip(
            "the emulator of the steps above is this command on a free port (its banner is tested above)",
        ),
    ),
    (
        "export PP_TENANT_ID=<tenant id> PP_CLIENT_ID=<application (client) id> PP_CLIENT_SECRET=...",
        Do::Skip("placeholders: tests/power_platform_cli.rs sets the emulator's variables"),
    ),
    (
        "refreshctl --adapter power-platform validate plans/fabrikam-uat-copy.yaml",
        Do::Run,
    ),
    (
        "refreshctl --adapter power-platform apply plans/fabrikam-uat-copy.yaml      # asks for the target's name",
        Do::Skip(
            "it waits for the window on the real clock: tests/power_platform_cli.rs applies both Power Platform examples to the emulator",
        ),
    ),
    (
        "cargo run --release -- emulator --plans plans/fabrikam-uat-copy.yaml --plans plans/fabrikam-test-restore.yaml",
        Do::Skip("a fixed port: tests/power_platform_cli.rs runs this emulator on a free port"),
    ),
    (
        "export PP_TENANT_ID=t PP_CLIENT_ID=c PP_CLIENT_SECRET=emulator",
        Do::Skip("tests/power_platform_cli.rs sets these for its own emulator"),
    ),
    (
        "export PP_API_URL=http://127.0.0.1:8089 PP_BAP_URL=http://127.0.0.1:8089 PP_AUTH_URL=http://127.0.0.1:8089/t/oauth2/v2.0/token",
        Do::Skip("tests/power_platform_cli.rs sets these for its own emulator, on a free port"),
    ),
    ("refreshctl validate --format github plans/", Do::Run),
    (
        "refreshctl validate --format sarif plans/ > refreshctl.sarif",
        Do::Run,
    ),
    ("refreshctl validate --format azure plans/", Do::Run),
    (
        "refreshctl validate --format junit plans/ > refreshctl-junit.xml",
        Do::Run,
    ),
    (
        "refreshctl plan --format markdown plans/contoso-uat-weekly.yaml > preview.md",
        Do::Run,
    ),
];

/// The README's shell examples in order: every line of its `sh` blocks, and the `- run:` and
/// `- script:` lines of its `yaml` blocks that call refreshctl, without that prefix.
fn readme_examples() -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut examples = Vec::new();
    let mut block: Option<&str> = None;
    for line in readme.lines() {
        match (block, line.strip_prefix("```")) {
            (None, Some(language)) => block = Some(language),
            (Some(_), Some("")) => block = None,
            (Some("sh"), None) if !line.trim().is_empty() => examples.push(line.to_owned()),
            (Some("yaml"), None) => {
                let command = line
                    .trim_start()
                    .strip_prefix("- run: ")
                    .or_else(|| line.trim_start().strip_prefix("- script: "));
                if let Some(command) = command.filter(|command| command.contains("refreshctl")) {
                    examples.push(command.to_owned());
                }
            }
            _ => {}
        }
    }
    examples
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

/// A shell on the PATH of a new user: `refreshctl` is the binary under test, and `cargo run
/// --release --` runs it too (nothing else of cargo's).
fn shell(home: &Path, work: &Path, line: &str) -> std::process::Command {
    let bin = home.join("bin");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(line)
        .current_dir(work)
        .env("PATH", format!("{}:{path}", bin.display()))
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("NO_COLOR", "1")
        .env_remove("REFRESHCTL_STATE")
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("REFRESHCTL_FAILPOINT")
        .env_remove("REFRESHCTL_TEST_CLOCK")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("LCS_ACCESS_TOKEN")
        .env_remove("LCS_REFRESH_TOKEN");
    command
}

/// Every README example works in order, right after the first command, on a fresh state: the
/// list above is the README's (so the README cannot drift from it), and each example that can
/// run here runs as written and succeeds.
#[test]
fn every_readme_example_works_in_order_after_the_first_command() {
    let listed: Vec<&str> = EXAMPLES.iter().map(|(line, _)| *line).collect();
    assert_eq!(
        readme_examples(),
        listed,
        "the README's shell examples changed: update EXAMPLES in tests/onboarding.rs"
    );
    let home = tempfile::tempdir().expect("temp");
    let work = home.path().join("repository");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for directory in ["plans", "packages"] {
        copy_tree(&root.join(directory), &work.join(directory));
    }
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_refreshctl"), bin.join("refreshctl"))
        .expect("refreshctl on the PATH");
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\nif [ \"$1 $2 $3\" = \"run --release --\" ]; then shift 3; exec refreshctl \"$@\"; fi\necho \"cargo $*: not in this test\" >&2\nexit 99\n",
    )
    .expect("cargo shim");
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let emulator = emulator_process::EmulatorProcess::start(&[
        "--plans",
        work.join("plans").to_str().expect("utf-8"),
        "--metadata-per-minute",
        "0",
    ]);
    let mut ran = 0;
    for (line, what) in EXAMPLES {
        let output = match what {
            Do::Skip(why) => {
                assert!(!why.is_empty());
                continue;
            }
            Do::Run => shell(home.path(), &work, line).output(),
            Do::RunAgainstTheEmulator => shell(home.path(), &work, line)
                .envs(emulator.env())
                .output(),
            Do::Answer(answers) => {
                let mut child = shell(
                    home.path(),
                    &work,
                    &format!("script -qec '{}' /dev/null", line.replace('\'', "'\\''")),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("script runs");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(answers.as_bytes())
                    .expect("answers");
                child.wait_with_output()
            }
        }
        .expect("the shell runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "`{line}` failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ran += 1;
    }
    assert_eq!(ran, 11, "every example that can run here ran");
    assert!(
        work.join("plans/onboarding-train.yaml").is_file(),
        "init wrote its plan"
    );
    for written in ["refreshctl.sarif", "refreshctl-junit.xml", "preview.md"] {
        let text = std::fs::read_to_string(work.join(written)).expect(written);
        assert!(!text.is_empty(), "{written}");
    }
}
