//! `adapter-unsupported`: what the adapter a plan runs through cannot do. That adapter is the
//! one of the plan's `service` when it names one (so CI checks it without a flag), else the
//! command's `--adapter`. What each adapter can do is data: its declared capabilities.

use super::context::PlanContext;
use super::prerequisites::root_place;
use super::{Findings, Rule};
use crate::adapter::AdapterKind;
use crate::plan::{PointInTime, Service};

/// The adapter that does a service's refreshes for real, if this build has one. A service
/// without one is checked for nothing until its adapter declares its capabilities.
#[must_use]
pub const fn adapter_of(service: Service) -> Option<AdapterKind> {
    match service {
        Service::Lcs => Some(AdapterKind::Lcs),
        Service::PowerPlatform => None,
    }
}

/// Checks the plan against its `service`'s adapter, else against `adapter` (`--adapter`); a
/// real `adapter` that is not the service's is an error at `service`.
pub fn check_service(
    context: &PlanContext<'_>,
    adapter: Option<AdapterKind>,
    findings: &mut Findings,
) {
    let Some(service) = &context.raw.service else {
        if let Some(adapter) = adapter {
            check(context, adapter, findings);
        }
        return;
    };
    let own = adapter_of(service.value);
    if let Some(adapter) = adapter.filter(|adapter| adapter.is_real() && Some(*adapter) != own) {
        findings.push(
            Rule::AdapterUnsupported,
            service.place,
            format!(
                "this plan is meant for `service: {}`, not for the `{adapter}` adapter",
                service.value
            ),
            match own {
                Some(own) => format!(
                    "run it with `--adapter {own}` (or without `--adapter` to rehearse it on the \
                     simulator), or change `service`"
                ),
                None => format!(
                    "this refreshctl has no adapter for `{}` yet: leave out `--adapter` (the \
                     simulator rehearses any plan), or change `service`",
                    service.value
                ),
            },
        );
    }
    if let Some(own) = own {
        check(context, own, findings);
    }
}

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
