//! Shell and manual conventions through the real binary: completion scripts that the shells
//! parse, a man page that groff renders, an example in every command's help, and help that
//! fails loudly when it cannot be written.

mod common;
#[path = "common/skip.rs"]
mod skip;

use std::process::{Command, Stdio};

use common::refreshctl;

/// Every command the binary has, from its own help.
fn commands() -> Vec<String> {
    let help = refreshctl(&["--help"]).stdout;
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        // A description that wraps goes on under its command, further indented.
        .filter(|line| !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let commands = commands();
    assert!(commands.len() >= 20, "{commands:?}");
    for command in commands {
        let output = refreshctl(&[&command, "--help"]);
        assert_eq!(output.code, 0, "{command}");
        assert!(
            output.stdout.contains("\nExample:\n  refreshctl ")
                || output.stdout.contains("\nExamples:\n  refreshctl "),
            "{command}: {}",
            output.stdout
        );
    }
}

#[test]
fn the_bash_completion_script_parses_and_knows_every_command() {
    let output = refreshctl(&["completions", "bash"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("refreshctl.bash");
    std::fs::write(&script, &output.stdout).expect("write");
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for command in commands() {
        assert!(output.stdout.contains(&command), "{command}");
    }
    // Sourced into a real bash, the function completes the commands.
    let completed = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(refreshctl val); COMP_CWORD=1; _refreshctl refreshctl val \
             refreshctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&completed.stdout), "validate\n");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let output = refreshctl(&["completions", shell]);
        assert_eq!(output.code, 0, "{shell}");
        assert!(output.stdout.contains("notify-preview"), "{shell}");
    }
    assert_eq!(refreshctl(&["completions", "tcsh"]).code, 2);
}

#[test]
fn the_man_pages_render_with_groff() {
    if Command::new("groff").arg("--version").output().is_err() {
        skip::skip("groff is not installed (apt-get install groff-base)");
        return;
    }
    for (args, title) in [
        (&["man"][..], "refreshctl - Database refreshes"),
        (
            &["man", "validate"][..],
            "refreshctl-validate - Check plans",
        ),
    ] {
        let output = refreshctl(args);
        assert_eq!(output.code, 0, "{}", output.stderr);
        let mut groff = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("groff runs");
        std::io::Write::write_all(
            &mut groff.stdin.take().expect("stdin"),
            output.stdout.as_bytes(),
        )
        .expect("feed groff");
        let checked = groff.wait_with_output().expect("groff ends");
        assert!(checked.status.success());
        // `-k` reads UTF-8 as man does; `-ww -z`: every warning, no output; a clean page has
        // none.
        assert_eq!(String::from_utf8_lossy(&checked.stderr), "", "{args:?}");
        let rendered = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-P-bcou"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                std::io::Write::write_all(
                    &mut child.stdin.take().expect("stdin"),
                    output.stdout.as_bytes(),
                )?;
                child.wait_with_output()
            })
            .expect("groff renders");
        // Justified text: compare with single spaces.
        let text = String::from_utf8_lossy(&rendered.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.contains(title), "{args:?}: {text}");
    }
    let output = refreshctl(&["man", "frobnicate"]);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains("no command `frobnicate`"),
        "{}",
        output.stderr
    );
}

#[test]
fn help_and_version_that_cannot_be_written_fail() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        skip::skip("this system has no /dev/full");
        return;
    };
    for args in [
        &["--help"][..],
        &["--version"],
        &["validate", "--help"],
        &["man"],
    ] {
        let status = Command::new(env!("CARGO_BIN_EXE_refreshctl"))
            .args(args)
            .stdout(full.try_clone().expect("clone"))
            .stderr(Stdio::null())
            .status()
            .expect("runs");
        assert_eq!(status.code(), Some(3), "{args:?}");
    }
}
