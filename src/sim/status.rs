//! Status values exactly as LCS spells them (lcs-api.md section 3).

use serde::{Deserialize, Serialize};

/// `databasemovement/v1/fetchstatus` → `OperationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatabaseStatus {
    NotStarted,
    InProgress,
    Completed,
    Failed,
    SignedOff,
    Aborted,
    RollbackInProgress,
    RollbackFailed,
    RollbackCompleted,
    /// A value refreshctl does not know (the `lcs` adapter warns once); treated as running.
    Unrecognized,
}

impl DatabaseStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "NotStarted",
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::SignedOff => "SignedOff",
            Self::Aborted => "Aborted",
            Self::RollbackInProgress => "RollbackInProgress",
            Self::RollbackFailed => "RollbackFailed",
            Self::RollbackCompleted => "RollbackCompleted",
            Self::Unrecognized => "Unrecognized",
        }
    }

    /// Whether polling can stop (d365fo.tools waits while `NotStarted`, `InProgress` or
    /// `RollbackInProgress`).
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        !matches!(
            self,
            Self::NotStarted | Self::InProgress | Self::RollbackInProgress | Self::Unrecognized
        )
    }

    #[must_use]
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Completed | Self::SignedOff)
    }
}

/// `environment/v2/fetchstatus` → `OperationStatus` for an update deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    NotStarted,
    PreparingEnvironment,
    InProgress,
    Completed,
    SignedOff,
    Failed,
    PreparationFailed,
    /// A value refreshctl does not know (the `lcs` adapter warns once); treated as running.
    Unrecognized,
}

impl DeploymentStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "NotStarted",
            Self::PreparingEnvironment => "PreparingEnvironment",
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::SignedOff => "SignedOff",
            Self::Failed => "Failed",
            Self::PreparationFailed => "PreparationFailed",
            Self::Unrecognized => "Unrecognized",
        }
    }

    #[must_use]
    pub const fn is_terminal(self) -> bool {
        !matches!(
            self,
            Self::NotStarted | Self::PreparingEnvironment | Self::InProgress | Self::Unrecognized
        )
    }

    #[must_use]
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Completed | Self::SignedOff)
    }
}

/// `GetFileAssetValidationStatus` → `DisplayStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationStatus {
    /// Validation has not started.
    Unknown,
    /// Validating.
    Process,
    /// Valid.
    Done,
    /// Anything else is a failure; LCS's exact word is not documented.
    Failed,
}

impl ValidationStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::Process => "Process",
            Self::Done => "Done",
            Self::Failed => "Failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_follow_what_clients_wait_on() {
        assert!(!DatabaseStatus::NotStarted.is_terminal());
        assert!(!DatabaseStatus::RollbackInProgress.is_terminal());
        assert!(DatabaseStatus::Failed.is_terminal() && !DatabaseStatus::Failed.is_success());
        assert!(DatabaseStatus::SignedOff.is_success());
        assert!(!DeploymentStatus::PreparingEnvironment.is_terminal());
        assert!(DeploymentStatus::PreparationFailed.is_terminal());
        assert_eq!(
            DeploymentStatus::PreparingEnvironment.as_str(),
            "PreparingEnvironment"
        );
    }
}
