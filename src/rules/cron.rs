//! `cron-day-fields`: a cron expression that restricts both the day of the month and the day of
//! the week runs when *either* matches (cron's rule, which croner follows), which is rarely what
//! a plan means: `0 1 1-7 * SUN` is not "the first Sunday" but about ten refreshes a month.

use chrono::TimeDelta;

use super::context::PlanContext;
use super::{Findings, Rule};

/// How far ahead the warning counts the windows it would start, to say how many that is.
const COUNTED: TimeDelta = TimeDelta::days(30);

pub fn check(context: &PlanContext<'_>, findings: &mut Findings) {
    let Some(pattern) = &context.raw.window.value.cron else {
        return;
    };
    let fields: Vec<&str> = pattern.value.split_whitespace().collect();
    let [_, _, day_of_month, _, day_of_week] = fields[..] else {
        return;
    };
    if !restricted(day_of_month) || !restricted(day_of_week) {
        return;
    }
    let counted = context.resolved.window.as_ref().and_then(|window| {
        let until = context.now.checked_add_signed(COUNTED)?;
        Some(window.occurrences_between(context.now, until).len())
    });
    let count = counted
        .map(|count| format!(": {count} windows in the next 30 days"))
        .unwrap_or_default();
    findings.push(
        Rule::CronDayFields,
        pattern.place,
        format!(
            "`{}` restricts both the day of the month (`{day_of_month}`) and the day of the week \
             (`{day_of_week}`), so a window starts on a day that matches *either* (cron's \
             rule){count}",
            pattern.value.trim()
        ),
        format!(
            "for the first {day_of_week} of the month write `* * {day_of_week}#1` in the day \
             fields (`#2` the second, `L` the last: `{day_of_week}L`); for every day in \
             `{day_of_month}` write `*` as the day of the week"
        ),
    );
}

/// A day field that does not match every day.
fn restricted(field: &str) -> bool {
    !matches!(field, "*" | "?")
}
