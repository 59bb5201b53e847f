//! `adapter-unsupported`: what the adapter a plan runs through cannot do. That adapter is the
//! one of the plan's `service` when it names one (so CI checks it without a flag), else the
//! command's `--adapter`. What each adapter can do is data: its declared capabilities. And
//! whether the plan must name an LCS project (only where LCS is, or may be, the service).

use super::context::PlanContext;
use super::prerequisites::root_place;
use super::{Findings, Rule};
use crate::adapter::AdapterKind;
use crate::plan::RawPlan;
use crate::plan::raw::RawStep;
use crate::plan::{PointInTime, Service};

/// The adapter that does a service's refreshes for real.
#[must_use]
pub const fn adapter_of(service: Service) -> AdapterKind {
    match service {
        Service::Lcs => AdapterKind::Lcs,
        Service::PowerPlatform => AdapterKind::PowerPlatform,
    }
}

/// The adapter a plan is checked against: its `service`'s when it names one, else `adapter`
/// (`--adapter`), else none known.
#[must_use]
pub fn checked_against(raw: &RawPlan, adapter: Option<AdapterKind>) -> Option<AdapterKind> {
    raw.service
        .as_ref()
        .map(|service| adapter_of(service.value))
        .or(adapter)
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
    if let Some(adapter) = adapter.filter(|adapter| adapter.is_real() && *adapter != own) {
        findings.push(
            Rule::AdapterUnsupported,
            service.place,
            format!(
                "this plan is meant for `service: {}`, not for the `{adapter}` adapter",
                service.value
            ),
            format!(
                "run it with `--adapter {own}` (or without `--adapter` to rehearse it on the \
                 simulator), or change `service`"
            ),
        );
    }
    check(context, own, findings);
}

pub fn check(context: &PlanContext<'_>, adapter: AdapterKind, findings: &mut Findings) {
    let capabilities = adapter.capabilities();
    let service = adapter.service_name();
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
            format!(
                "the {service} API has no point-in-time restore: do it in the {service} portal, \
                 or copy from another environment with `source`"
            ),
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
            format!(
                "remove `point_in_time`, or do the point-in-time restore in the {service} portal"
            ),
        );
    }
    if !capabilities.deployable_packages {
        for step in raw.post_steps.iter().flat_map(|steps| steps.value.iter()) {
            let kind = match step.value {
                RawStep::Reprovision(_) => "reprovision",
                RawStep::Deploy(_) => "deploy",
                _ => continue,
            };
            findings.push(
                Rule::AdapterUnsupported,
                step.place,
                format!(
                    "the `{adapter}` adapter cannot apply deployable packages, so it cannot \
                     `{kind}`: the {service} API has no call for it"
                ),
                "remove the step; deploy the package with `pac package deploy` (a `command` \
                 step can run it), or as a `manual` step with instructions",
            );
        }
    }
    if !capabilities.database_export {
        let steps = raw.pre_steps.iter().chain(raw.post_steps.iter());
        for step in steps.flat_map(|steps| steps.value.iter()) {
            if matches!(step.value, RawStep::Export(_)) {
                findings.push(
                    Rule::AdapterUnsupported,
                    step.place,
                    format!(
                        "the `{adapter}` adapter cannot export a database: the {service} API \
                         has no bacpac export"
                    ),
                    "remove the step; export through LCS, or as a `manual` step with \
                     instructions",
                );
            }
        }
    }
}

/// `project` is an LCS notion: required with the `lcs` adapter, never with `power-platform`,
/// and otherwise (no adapter chosen, or the simulator) unless the plan has `power_platform`
/// options, which say it is meant for the Power Platform.
pub fn check_project(
    context: &PlanContext<'_>,
    adapter: Option<AdapterKind>,
    findings: &mut Findings,
) {
    let raw = context.raw;
    if raw.project.is_some() {
        return;
    }
    let required = match adapter {
        Some(AdapterKind::Lcs) => true,
        Some(AdapterKind::PowerPlatform) => false,
        Some(AdapterKind::Simulator) | None => !raw.for_power_platform(),
    };
    if required {
        findings.push(
            Rule::Schema,
            root_place(context),
            "missing field `project`",
            "add `project:` with the LCS project id (from the LCS project URL); a plan for the \
             Power Platform has no project and says so with `service: power-platform`",
        );
    }
}
