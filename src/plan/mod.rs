//! The plan file (SPEC 2): raw YAML types with places, loading, and the checked `Plan`.
//!
//! The pipeline is `load` (bytes to `RawPlan`, shape only; `shape` finds every shape problem of
//! a file serde refused), `resolve` (meaning, every problem
//! collected) and `Resolved::into_plan` (a `Plan` only when every part resolved).

mod checked;
pub mod discover;
mod fast;
pub mod load;
mod located;
mod point_in_time;
mod power_platform;
pub mod raw;
pub mod resolve;
mod schema;
mod shape;
mod step;
pub mod templates;
pub mod time;
mod vocabulary;
mod window;

pub use checked::{Environment, Notification, Operation, Plan, Release};
pub use located::{Located, Place};
pub use point_in_time::PointInTime;
pub use power_platform::{CopyType, PowerPlatformOptions, RawPowerPlatform};
pub use raw::RawPlan;
pub use schema::json_schema;
pub use step::{
    Action, AssetSource, ManualTimeout, PackageSource, PostStep, RunStep, StepOutline,
    UploadSource, check_backup_name, command_description, default_backup_name, inline_code,
    reset_financial_reporting_instructions,
};
pub use vocabulary::{
    Acknowledgement, Database, EnvironmentType, NotificationEvent, OnTimeout, Service, StepKind,
};
pub use window::{Occurrence, Window, Zone, cron_at_most_daily, parse_cron, parse_zone};
