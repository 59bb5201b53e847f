//! Test hooks for crash-safety tests: with `REFRESHCTL_FAILPOINT=NAME` set, reaching the point
//! `NAME` stops the process at once with SIGKILL, as a crash would (no destructors, no flushing).
//! Points: `after-step:STEP` (the step's success committed), `waiting:STEP` (a poll's wait
//! committed), `after-intent:STEP` and `after-call:STEP` (around a destructive call),
//! `after-create:STEP` (an asset created, its id not yet committed), `after-block:STEP`.

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
