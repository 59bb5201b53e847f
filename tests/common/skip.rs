//! A test that cannot run here because a service or tool is missing says so on stderr and, when
//! `REFRESHCTL_TEST_SKIPS` names a file, adds a line to it: `cargo test` counts such a test as
//! passed, and `.ci/run` reads the file to count and name what was skipped.

use std::io::Write as _;

/// The whole test is skipped: say why, and return from it.
#[allow(dead_code, reason = "a test crate may skip only parts")]
pub fn skip(reason: &str) {
    record("skipped", reason);
}

/// One check of a test is skipped (its tool is missing); the rest of the test ran.
#[allow(dead_code, reason = "not every test crate skips only a part")]
pub fn skip_part(reason: &str) {
    record("skipped in part", reason);
}

fn record(what: &str, reason: &str) {
    eprintln!("{what}: {reason}");
    let Some(path) = std::env::var_os("REFRESHCTL_TEST_SKIPS") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("unknown")
        .to_owned();
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(
            file,
            "{what}\t{}::{test}\t{reason}",
            env!("CARGO_CRATE_NAME")
        );
    }
}
