//! Test hooks for crash-safety tests: with `REFRESHCTL_FAILPOINT=NAME` set, reaching the point
//! `NAME` stops the process at once with SIGKILL, as a crash would (no destructors, no flushing).
//! Points: `after-step:STEP` (the step's success committed), `waiting:STEP` (a poll's wait
//! committed), `after-intent:STEP` and `after-call:STEP` (around a destructive call),
//! `after-create:STEP` (an asset created, its id not yet committed), `after-block:STEP`.
//!
//! Only debug builds (which `cargo test` makes) honour the variable: a release build never
//! kills itself, whatever its environment says.

use std::ffi::OsString;

/// The variable that names the failpoint.
pub const VARIABLE: &str = "REFRESHCTL_FAILPOINT";

/// Whether the environment names this point (debug builds only).
#[must_use]
pub fn wanted(name: &str) -> bool {
    honoured(std::env::var_os(VARIABLE)).is_some_and(|wanted| wanted == name)
}

/// Stops the process here when the environment names this point (debug builds only).
pub fn hit(name: &str) {
    if wanted(name) {
        let pid = std::process::id().to_string();
        // SIGKILL through kill(1): this crate forbids unsafe code, and abort() would run no
        // differently for the state file but is not what a crash looks like.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        std::process::abort();
    }
}

/// The failpoint a build honours from the variable's value: none in a release build.
fn honoured(value: Option<OsString>) -> Option<OsString> {
    value.filter(|_| cfg!(debug_assertions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_debug_builds_honour_a_failpoint() {
        let named = Some(OsString::from("after-call:start-refresh"));
        #[cfg(debug_assertions)]
        assert_eq!(honoured(named), Some("after-call:start-refresh".into()));
        #[cfg(not(debug_assertions))]
        assert_eq!(honoured(named), None, "a release build ignores failpoints");
        assert_eq!(honoured(None), None);
    }
}
