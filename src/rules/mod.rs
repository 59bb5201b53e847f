//! Validation: the diagnostic model, every rule of SPEC 3, and the prerequisite catalog.
//!
//! Validation is pure: it reads the plan files it is given (and the templates they name) and
//! nothing else: no network, no clock but the `now` it is given, no state.

mod adapter_support;
pub mod catalog;
mod check;
mod context;
mod cron;
mod diagnostic;
mod local_files;
pub mod plan_set;
mod prerequisites;
mod rule;
mod safety;
mod scheduling;
mod timing;

pub use catalog::{Catalog, CatalogError};
pub use check::{
    CheckSettings, CheckedFile, FileRecord, check_file, check_records, check_set, unreadable,
};
pub use diagnostic::{Counts, Diagnostic, Findings};
pub use local_files::missing_files;
pub use rule::{EXAMPLE_NOW, Explanation, Rule, Scope, Severity};
pub use timing::EXPECTED_DOWNTIME;
