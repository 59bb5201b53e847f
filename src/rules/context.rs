//! What a single-plan rule sees: the raw plan (for places), what resolved, the time and the
//! catalog. Rules are pure functions of this.

use chrono::{DateTime, Utc};

use super::catalog::Catalog;
use crate::plan::RawPlan;
use crate::plan::resolve::Resolved;

pub struct PlanContext<'a> {
    pub raw: &'a RawPlan,
    pub resolved: &'a Resolved,
    pub now: DateTime<Utc>,
    pub catalog: &'a Catalog,
}
