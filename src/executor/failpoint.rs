//! Test hooks for crash-safety tests: with `REFRESHCTL_FAILPOINT=NAME` set, reaching the point
//! `NAME` stops the process at once with SIGKILL, as a crash would (no destructors, no flushing).
//! Points: `after-intent:STEP`, `after-call:STEP`, `after-block:STEP`.

/// Stops the process here when the environment names this point.
pub fn hit(name: &str) {
    let Some(wanted) = std::env::var_os("REFRESHCTL_FAILPOINT") else {
        return;
    };
    if wanted == name {
        let pid = std::process::id().to_string();
        // SIGKILL through kill(1): this crate forbids unsafe code, and abort() would run no
        // differently for the state file but is not what a crash looks like.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        std::process::abort();
    }
}
