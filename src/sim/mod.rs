//! The model of LCS shared by the simulator adapter and the emulator: the same state machines,
//! statuses, limits and refusals as the real service (lcs-api.md), on time it is given.

mod model;
mod rows;
mod status;

pub use model::{
    Asset, BACKUP_SIZE, Call, CallRecord, DatabaseBackup, Deployment, Durations, Environment,
    Faults, HistoryEntry, Infrastructure, Lcs, OPERATIONS_PER_DAY, Operation, OperationKind,
    ReportedType, SOFTWARE_DEPLOYABLE_PACKAGE, SimError, dotnet_time, same_id,
};
pub use rows::{Before, Row, RowError, RowKind};
pub use status::{DatabaseStatus, DeploymentStatus, ValidationStatus};

#[cfg(test)]
mod tests;
