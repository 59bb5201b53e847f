//! What a new user does first, through the real binary: the emulator's banner tells the
//! variables that work as printed.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

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
