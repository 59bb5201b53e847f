//! The plan file (SPEC 2): raw YAML types with places, loading, and the checked `Plan`.
//!
//! The pipeline is `load` (bytes to `RawPlan`, shape only), `resolve` (meaning, every problem
//! collected) and `Resolved::into_plan` (a `Plan` only when every part resolved).

mod checked;
pub mod discover;
pub mod load;
mod located;
mod point_in_time;
pub mod raw;
pub mod resolve;
mod schema;
mod step;
pub mod templates;
pub mod time;
mod vocabulary;
mod window;

pub use checked::{Environment, Notification, Operation, Plan, Release};
pub use located::{Located, Place};
pub use point_in_time::PointInTime;
pub use raw::RawPlan;
pub use schema::json_schema;
pub use step::{
    Action, AssetSource, PackageSource, PostStep, RunStep, StepOutline, UploadSource,
    command_description, inline_code, reset_financial_reporting_instructions,
};
pub use vocabulary::{
    Acknowledgement, Database, EnvironmentType, NotificationEvent, Service, StepKind,
};
pub use window::{Occurrence, Window, Zone, parse_cron, parse_zone};
