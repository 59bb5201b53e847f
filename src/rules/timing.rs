//! Rules about time: `lead-time`, `window-passed`, `window-too-short`, `point-in-time`.

use chrono::TimeDelta;

use super::context::PlanContext;
use super::{Findings, Rule};
use crate::plan::time::{format_duration, format_utc};
use crate::plan::{EnvironmentType, PointInTime, Window, resolve::MINIMUM_LEAD_TIME};

/// The downtime a refresh is expected to need.
pub const EXPECTED_DOWNTIME: TimeDelta = TimeDelta::hours(2);

pub fn check(context: &PlanContext<'_>, findings: &mut Findings) {
    lead_time(context, findings);
    window_passed(context, findings);
    window_too_short(context, findings);
    point_in_time(context, findings);
}

fn lead_time(context: &PlanContext<'_>, findings: &mut Findings) {
    let raw = context.raw;
    let lead_time = context.resolved.lead_time;
    if let (Some(lead_time), Some(text)) = (lead_time, &raw.lead_time)
        && lead_time < MINIMUM_LEAD_TIME
    {
        findings.push(
            Rule::LeadTime,
            text.place,
            format!(
                "the lead time is {}, under the 24h minimum",
                format_duration(lead_time)
            ),
            "LCS needs at least 24 hours' notice; write `lead_time: 24h` or more",
        );
    }
    let Some(Window::Fixed { occurrence, .. }) = &context.resolved.window else {
        return;
    };
    let required = lead_time
        .unwrap_or(MINIMUM_LEAD_TIME)
        .max(MINIMUM_LEAD_TIME);
    let now = context.now;
    if occurrence.start > now && occurrence.start - now < required {
        findings.push(
            Rule::LeadTime,
            raw.window
                .value
                .start
                .as_ref()
                .and_then(|start| start.place),
            format!(
                "the window starts at {}, only {} from now; the lead time is {}",
                format_utc(occurrence.start),
                format_duration(occurrence.start - now),
                format_duration(required)
            ),
            format!(
                "move the window to {} or later; for an emergency, `refreshctl apply --start-now \
                 --reason TEXT` waives the lead time and is audited",
                now.checked_add_signed(required)
                    .map_or_else(|| "a later time".to_owned(), format_utc)
            ),
        );
    }
}

fn window_passed(context: &PlanContext<'_>, findings: &mut Findings) {
    if let Some(Window::Fixed { occurrence, .. }) = &context.resolved.window
        && occurrence.end <= context.now
    {
        findings.push(
            Rule::WindowPassed,
            context
                .raw
                .window
                .value
                .start
                .as_ref()
                .and_then(|start| start.place),
            format!(
                "the window ended at {}, before now",
                format_utc(occurrence.end)
            ),
            "move the plan to its next window, or remove it if it was applied",
        );
    }
}

fn window_too_short(context: &PlanContext<'_>, findings: &mut Findings) {
    let Some(window) = &context.resolved.window else {
        return;
    };
    if window.duration() < EXPECTED_DOWNTIME {
        let raw_window = &context.raw.window.value;
        let place = raw_window
            .duration
            .as_ref()
            .or(raw_window.end.as_ref())
            .and_then(|located| located.place)
            .or(context.raw.window.place);
        findings.push(
            Rule::WindowTooShort,
            place,
            format!(
                "the window is {} long, shorter than the expected downtime of {}",
                format_duration(window.duration()),
                format_duration(EXPECTED_DOWNTIME)
            ),
            "a refresh keeps the target offline for about 2 hours; make the window at least 2h",
        );
    }
}

fn point_in_time(context: &PlanContext<'_>, findings: &mut Findings) {
    let (Some(point), Some(window)) = (context.resolved.point_in_time, &context.resolved.window)
    else {
        return;
    };
    let Some(text) = &context.raw.point_in_time else {
        return;
    };
    // The database comes from the source when there is one, else from the target itself.
    let database_type = match &context.resolved.source {
        Some(Some(source)) => source.kind(),
        Some(None) => context
            .resolved
            .environment
            .as_ref()
            .and_then(crate::plan::Environment::kind),
        None => None,
    };
    let retention = if database_type == Some(EnvironmentType::Production) {
        TimeDelta::days(28)
    } else {
        TimeDelta::days(7)
    };
    let help = format!(
        "the point must lie before the window starts and within the {} of backups kept for a \
         {} database",
        format_duration(retention),
        database_type.map_or("non-production", |kind| {
            if kind == EnvironmentType::Production {
                "production"
            } else {
                "non-production"
            }
        })
    );
    let start = window
        .occurrences_from(context.now)
        .next()
        .map(|occurrence| occurrence.start);
    match point {
        PointInTime::Latest => {}
        PointInTime::BeforeStart(before) => {
            if before > retention {
                findings.push(
                    Rule::PointInTime,
                    text.place,
                    format!(
                        "{} before the window start is beyond the {} backup retention",
                        format_duration(before),
                        format_duration(retention)
                    ),
                    help,
                );
            }
        }
        PointInTime::At(time) => {
            let Some(start) = start.or(match window {
                Window::Fixed { occurrence, .. } => Some(occurrence.start),
                Window::Recurring { .. } => None,
            }) else {
                return;
            };
            if time > start {
                findings.push(
                    Rule::PointInTime,
                    text.place,
                    format!(
                        "the point in time {} is after the window starts ({})",
                        format_utc(time),
                        format_utc(start)
                    ),
                    help,
                );
            } else if start - time > retention {
                findings.push(
                    Rule::PointInTime,
                    text.place,
                    format!(
                        "the point in time {} is {} before the window starts, beyond the {} \
                         backup retention",
                        format_utc(time),
                        format_duration(start - time),
                        format_duration(retention)
                    ),
                    help,
                );
            }
        }
    }
}
