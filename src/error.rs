//! Errors of the command layer and the exit codes, in one place (SPEC 4).

use std::io;
use std::path::PathBuf;

use crate::plan::Place;

/// Exit codes, for every command.
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// The checked thing is bad or the run failed.
    pub const FAILURE: u8 = 1;
    /// Usage or input error: bad flag, unreadable file, bad `--now`.
    pub const USAGE: u8 = 2;
    /// The environment failed: adapter unreachable, authentication refused, state unavailable.
    pub const ENVIRONMENT: u8 = 3;
    /// `tick` only: the pass went well and a run waits for a person (an approval, or a call to
    /// check in LCS); it holds its environment, so later refreshes are rejected until then.
    pub const NEEDS_PERSON: u8 = 4;
    /// A foreground run (`apply`, `resume`) was stopped by SIGINT (Ctrl-C): 128 + 2, as a shell
    /// reports a process the signal ended. The run is left to resume.
    pub const INTERRUPTED: u8 = 130;
    /// The same, stopped by SIGTERM: 128 + 15.
    pub const TERMINATED: u8 = 143;
}

/// Why a command could not do its work. Problems *in* plans are diagnostics, not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },

    #[error("no plan files (*.yaml, *.yml) found in {}", list(paths))]
    NoPlans { paths: Vec<PathBuf> },

    #[error("the catalog `{}` is not valid{}: {message}", path.display(), at(*place))]
    Catalog {
        path: PathBuf,
        place: Option<Place>,
        message: String,
    },

    #[error("the template `{}` does not render: {message}", path.display())]
    Template { path: PathBuf, message: String },

    #[error("unknown rule `{rule}`")]
    UnknownRule { rule: String, hint: String },

    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),

    #[error(transparent)]
    Store(#[from] crate::state::StoreError),

    #[error("the plan `{}` has {errors} error(s); nothing was run", path.display())]
    PlanInvalid { path: PathBuf, errors: usize },

    #[error("no run `{0}`")]
    UnknownRun(String),

    /// The request is understood but not allowed now (cancel after start, a lock held, …).
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },

    /// A flag's value is not usable.
    #[error("{message}")]
    Usage { message: String },

    /// The adapter cannot be used: not configured, sign-in refused, unreachable.
    #[error("{message}")]
    Unavailable { message: String },

    /// A file the user named is not a regular file, too large, or cannot be read.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),

    #[error("the simulator inventory `{}` is not valid: {message}", path.display())]
    Inventory { path: PathBuf, message: String },
}

impl Error {
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Store(crate::state::StoreError::BadUrl { .. }) => exit::USAGE,
            Self::Output(_) | Self::Write { .. } | Self::Store(_) | Self::Unavailable { .. } => {
                exit::ENVIRONMENT
            }
            Self::PlanInvalid { .. } | Self::Refused { .. } => exit::FAILURE,
            _ => exit::USAGE,
        }
    }

    /// A suggestion for the user, where one is known.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoPlans { .. } => Some("pass plan files or directories that hold them".into()),
            Self::UnknownRule { hint, .. } => Some(hint.clone()),
            Self::Refused { hint, .. } => hint.clone(),
            Self::UnknownRun(_) => {
                Some("`refreshctl runs` lists the runs of this state store".into())
            }
            Self::PlanInvalid { path, .. } => Some(format!(
                "`refreshctl validate {}` shows every problem",
                path.display()
            )),
            Self::NotFound { .. } | Self::Input(crate::input::InputError::NotFound { .. }) => {
                Some("check the path; directories are searched recursively".into())
            }
            Self::Input(crate::input::InputError::NotRegular { .. }) => {
                Some("name a regular file; pipes, devices and directories are not read".into())
            }
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Self::Output(error)
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| format!("`{}`", path.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn at(place: Option<Place>) -> String {
    place
        .map(|place| format!(" at {place}"))
        .unwrap_or_default()
}
