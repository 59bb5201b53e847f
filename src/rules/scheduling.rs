//! `scheduler-slack`: a recurring plan is submitted by a scheduler (`tick` from cron, a CI
//! schedule, the daemon) exactly `lead_time` before each window, and a submission that comes too
//! late for 24 hours' notice is skipped. Schedulers start late: GitHub's scheduled workflows by
//! many minutes, a busy cluster's `CronJob` by some. A lead time of exactly 24h leaves only the
//! five-minute grace, so a late pass skips the week's refresh.

use chrono::TimeDelta;

use super::context::PlanContext;
use super::{Findings, Rule};
use crate::plan::resolve::MINIMUM_LEAD_TIME;
use crate::plan::time::format_duration;

/// How late a scheduler may start a pass without costing an occurrence: the slack a recurring
/// plan's lead time should leave above the 24 hours' notice.
pub const SCHEDULER_LATENESS: TimeDelta = TimeDelta::hours(1);

pub fn check(context: &PlanContext<'_>, findings: &mut Findings) {
    let Some(window) = &context.resolved.window else {
        return;
    };
    let Some(lead_time) = context.resolved.lead_time else {
        return;
    };
    // Under 24h is `lead-time`'s error already.
    if !window.is_recurring() || lead_time < MINIMUM_LEAD_TIME {
        return;
    }
    let slack = lead_time - MINIMUM_LEAD_TIME;
    if slack >= SCHEDULER_LATENESS {
        return;
    }
    let place = context
        .raw
        .lead_time
        .as_ref()
        .and_then(|text| text.place)
        .or(context.raw.window.place);
    let given = if context.raw.lead_time.is_some() {
        format!("`lead_time: {}`", format_duration(lead_time))
    } else {
        "the default lead time of 24h".to_owned()
    };
    findings.push(
        Rule::SchedulerSlack,
        place,
        format!(
            "{given} leaves {} above the 24 hours' notice for a scheduler that starts late; a \
             pass more than that late skips the occurrence",
            format_duration(slack)
        ),
        format!(
            "write `lead_time: {}` or more: schedulers start late (GitHub's scheduled workflows \
             by up to an hour), and a submission too late for 24 hours' notice is skipped, never \
             made late",
            format_duration(MINIMUM_LEAD_TIME + SCHEDULER_LATENESS)
        ),
    );
}
