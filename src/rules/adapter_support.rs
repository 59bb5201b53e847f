//! `adapter-unsupported`: what the chosen adapter cannot do.

use super::context::PlanContext;
use super::prerequisites::root_place;
use super::{Findings, Rule};
use crate::adapter::AdapterKind;
use crate::plan::PointInTime;

pub fn check(context: &PlanContext<'_>, adapter: AdapterKind, findings: &mut Findings) {
    let capabilities = adapter.capabilities();
    let raw = context.raw;
    if raw.source.is_none() && !capabilities.point_in_time_restore {
        findings.push(
            Rule::AdapterUnsupported,
            raw.point_in_time
                .as_ref()
                .and_then(|point| point.place)
                .or_else(|| root_place(context)),
            format!(
                "the `{adapter}` adapter cannot restore a database to a point in time; this plan \
                 has no `source`"
            ),
            "the LCS API has no point-in-time restore: do it in the LCS portal, or copy from \
             another environment with `source`",
        );
    }
    let not_latest = context
        .resolved
        .point_in_time
        .is_some_and(|point| point != PointInTime::Latest);
    if raw.source.is_some() && not_latest && !capabilities.refresh_to_point_in_time {
        findings.push(
            Rule::AdapterUnsupported,
            raw.point_in_time.as_ref().and_then(|point| point.place),
            format!(
                "the `{adapter}` adapter copies only the latest state of the source; \
                 `point_in_time` must be `latest`"
            ),
            "remove `point_in_time`, or do the point-in-time restore in the LCS portal",
        );
    }
}
