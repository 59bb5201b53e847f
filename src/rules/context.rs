//! What a single-plan rule sees: the raw plan (for places), what resolved, the time and the
//! catalog. Rules are pure functions of this.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::catalog::Catalog;
use crate::adapter::AdapterKind;
use crate::plan::RawPlan;
use crate::plan::resolve::Resolved;

pub struct PlanContext<'a> {
    pub raw: &'a RawPlan,
    pub resolved: &'a Resolved,
    pub now: DateTime<Utc>,
    pub catalog: &'a Catalog,
    /// Where the plan's relative paths start.
    pub plan_dir: &'a Path,
    /// The adapter the plan is checked against (its `service`'s, else `--adapter`): the rules
    /// that hold only where a service declares them consult its capabilities; `None` keeps
    /// them all.
    pub adapter: Option<AdapterKind>,
}
