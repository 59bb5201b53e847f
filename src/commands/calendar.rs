//! `calendar`: the planned downtime of every environment as an iCalendar feed, for the people
//! who lose the environment while it is refreshed (testers, trainers, integrators).
//!
//! Every occurrence of every schedulable plan within the range is an event, `TENTATIVE` until
//! it is submitted; the state store's runs then say what became of it (`CONFIRMED` once
//! submitted, `CANCELLED` when canceled, skipped or refused), and add runs whose plan is gone.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::apply::Globals;
use super::runtime::open_store_read_only;
use super::schedule::load_plan_set;
use crate::cli::CalendarArgs;
use crate::error::{Error, exit};
use crate::plan::time::format_utc;
use crate::plan::{Operation, Plan, Zone};
use crate::report::ical::{Calendar, CalendarEvent, EventStatus};
use crate::report::preview::{effects, with_weekday};
use crate::state::{EventRecord, OccurrenceRecord, RunRecord, RunState, StateStore};

pub fn run(args: &CalendarArgs, globals: &Globals<'_>, out: &mut dyn Write) -> Result<u8, Error> {
    let now = Utc::now();
    let from = args.from.unwrap_or(now);
    let until = from
        .checked_add_signed(TimeDelta::days(i64::from(args.days)))
        .ok_or_else(|| Error::Refused {
            message: format!(
                "{} days after {} is out of range",
                args.days,
                format_utc(from)
            ),
            hint: None,
        })?;
    let loaded = load_plan_set(
        &args.plans,
        args.catalog.as_ref(),
        globals.adapter,
        super::schedule::Watch::Once,
    )?;
    let store = open_store_read_only(globals.state, globals.adapter)?;
    let calendar = feed(
        &loaded.plans,
        &store,
        &store.runs()?,
        (from, until),
        args.environment.as_deref(),
        now,
    )?;
    if let Some(environment) = &args.environment
        && calendar.events.is_empty()
        && !loaded
            .plans
            .iter()
            .any(|plan| plan.environment().name().eq_ignore_ascii_case(environment))
    {
        crate::say!(
            warning,
            "refreshctl: warning: no plan targets `{environment}` and no run of it falls in the \
             range; the feed is empty (environment names are the plans' `environment.name`)"
        );
    }
    out.write_all(calendar.render().as_bytes())?;
    out.flush()?;
    Ok(exit::SUCCESS)
}

/// The feed of `plans` and `runs` (the store's) within `range`, for one environment or all.
pub(super) fn feed(
    plans: &[Plan],
    store: &StateStore,
    runs: &[RunRecord],
    (from, until): (DateTime<Utc>, DateTime<Utc>),
    environment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Calendar, Error> {
    let mut feed = Feed {
        environment,
        from,
        until,
        now,
        events: BTreeMap::new(),
        zones: Vec::new(),
        bodies: HashMap::new(),
    };
    let plans: Vec<&Plan> = plans
        .iter()
        .filter(|plan| feed.wanted(plan.environment().name()))
        .collect();
    for plan in &plans {
        feed.plan(plan);
    }
    // Only the runs the feed shows need their logs read.
    for run in runs {
        if !feed.covers(run) {
            continue;
        }
        let log = store.events(&run.id)?;
        let plan = plans.iter().find(|plan| plan.name() == run.plan).copied();
        feed.run(run, plan, &log);
    }
    for occurrence in store.occurrences()? {
        feed.skipped(occurrence);
    }
    let name = match environment {
        Some(environment) => format!("{environment}: planned downtime (refreshctl)"),
        None => "Planned downtime (refreshctl)".to_owned(),
    };
    Ok(feed.into_calendar(name))
}
/// The events gathered so far, by run id, and the plan zones seen.
struct Feed<'a> {
    environment: Option<&'a str>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    events: BTreeMap<String, CalendarEvent>,
    /// Each named zone with how many plans use it; the feed is shown in the most used one.
    zones: Vec<(Tz, usize)>,
    /// Each plan's effects and steps, made once.
    bodies: HashMap<String, Arc<str>>,
}

impl Feed<'_> {
    /// Whether `--environment` lets this target's windows in.
    fn wanted(&self, environment: &str) -> bool {
        self.environment
            .is_none_or(|wanted| wanted.eq_ignore_ascii_case(environment))
    }

    fn body(&mut self, plan: &Plan) -> Arc<str> {
        self.bodies
            .entry(plan.name().to_owned())
            .or_insert_with(|| plan_body(plan).into())
            .clone()
    }

    /// Every window of the plan that is open at some time in the range: tentative.
    fn plan(&mut self, plan: &Plan) {
        let body = self.body(plan);
        if let Zone::Named(zone) = plan.window().zone() {
            match self.zones.iter_mut().find(|(known, _)| *known == zone) {
                Some((_, count)) => *count += 1,
                None => self.zones.push((zone, 1)),
            }
        }
        let lookback = self
            .from
            .checked_sub_signed(plan.window().duration())
            .unwrap_or(self.from);
        for occurrence in plan
            .window()
            .occurrences_from(lookback)
            .take_while(|occurrence| occurrence.start < self.until)
            .filter(|occurrence| occurrence.end > self.from)
        {
            let window = Window {
                start: occurrence.start,
                end: occurrence.end,
            };
            let uid = RunRecord::id_for(plan.name(), occurrence.start);
            let point = plan.point_in_time().resolve(occurrence.start);
            let event = CalendarEvent {
                summary: summary(plan, point),
                description: description(plan, &window, None, &body),
                uid: uid.clone(),
                stamp: self.now,
                start: occurrence.start,
                end: occurrence.end,
                status: EventStatus::Tentative,
                sequence: 0,
            };
            self.events.insert(uid, event);
        }
    }

    /// A run in the range says what became of its window; a run whose plan is gone (or is left
    /// out) is still shown, from what the run recorded.
    /// Whether the run's window is in the range, and its environment wanted.
    fn covers(&self, run: &RunRecord) -> bool {
        run.window_end > self.from
            && run.window_start < self.until
            && self.wanted(run.environment_name())
    }

    fn run(&mut self, run: &RunRecord, plan: Option<&Plan>, log: &[EventRecord]) {
        let environment = run.environment_name();
        let window = Window {
            start: run.window_start,
            end: run.window_end,
        };
        let (summary, description) = match plan {
            Some(plan) => {
                let body = self.body(plan);
                (
                    summary(plan, run.point_in_time),
                    description(plan, &window, Some(run), &body),
                )
            }
            None => (
                format!("{environment} offline: database refresh ({})", run.plan),
                format!(
                    "Plan: {} ({}), no longer among the plans\nRun: {} ({})\nWindow (UTC): {}",
                    run.plan,
                    run.file,
                    run.id,
                    run_state(&run.state),
                    window.show()
                ),
            ),
        };
        let event = CalendarEvent {
            uid: run.id.clone(),
            stamp: run.updated,
            start: run.window_start,
            end: run.window_end,
            summary,
            description,
            status: status_of(&run.state),
            sequence: sequence(log),
        };
        self.events.insert(run.id.clone(), event);
    }

    /// An occurrence skipped because notice could no longer be given: the environment stays up.
    fn skipped(&mut self, occurrence: OccurrenceRecord) {
        let OccurrenceRecord {
            run,
            skipped: Some(reason),
            decided,
            ..
        } = occurrence
        else {
            return;
        };
        if let Some(event) = self.events.get_mut(&run) {
            event.status = EventStatus::Cancelled;
            event.stamp = decided;
            event.sequence = event.sequence.max(1);
            event.description = format!(
                "Skipped: {reason}; the environment stays up.\n\n{}",
                event.description
            );
        }
    }

    fn into_calendar(self, name: String) -> Calendar {
        let mut events: Vec<CalendarEvent> = self.events.into_values().collect();
        events.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
        let shown_in = self
            .zones
            .iter()
            .rev()
            .max_by_key(|(_, count)| *count)
            .map(|(zone, _)| *zone);
        Calendar {
            name,
            zone: shown_in,
            zones: self.zones.into_iter().map(|(zone, _)| zone).collect(),
            range: (self.from, self.until),
            events,
        }
    }
}

#[derive(Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Window {
    fn show(self) -> String {
        format!(
            "{} – {}",
            with_weekday(&format_utc(self.start)),
            with_weekday(&format_utc(self.end))
        )
    }
}

/// "contoso-uat offline: database replaced from contoso-prod".
fn summary(plan: &Plan, point: Option<DateTime<Utc>>) -> String {
    let target = plan.environment().name();
    match (plan.operation(), plan.source(), point) {
        (Operation::Refresh, Some(source), _) => {
            format!("{target} offline: database replaced from {}", source.name())
        }
        (_, _, Some(point)) => format!(
            "{target} offline: database restored to {}",
            format_utc(point)
        ),
        _ => format!("{target} offline: database restored to its latest state"),
    }
}

/// What a user of the environment needs to know: when, what is lost, what changes, the steps.
fn description(plan: &Plan, window: &Window, run: Option<&RunRecord>, body: &str) -> String {
    let zone = plan.window().zone();
    let mut lines = vec![
        format!("Plan: {} ({})", plan.name(), plan.file()),
        format!("Window (UTC): {}", window.show()),
        format!(
            "Window ({}): {} – {}",
            zone.name(),
            zone.show(window.start),
            zone.show(window.end)
        ),
    ];
    if let Some(run) = run {
        lines.push(format!("Run: {} ({})", run.id, run_state(&run.state)));
    }
    if let Some(text) = plan.description() {
        lines.push(String::new());
        lines.push(text.trim().to_owned());
    }
    lines.push(String::new());
    lines.push(body.to_owned());
    lines.join("\n")
}

/// What every window of the plan does: the effects and the steps (as the plan writes them;
/// command arguments are rendered per run, when it runs).
fn plan_body(plan: &Plan) -> String {
    let effects = effects(plan);
    let mut lines = Vec::new();
    for (heading, items) in [
        ("Erased", &effects.erased),
        ("Unavailable", &effects.unavailable),
        ("Changed", &effects.changed),
        ("Untouched", &effects.untouched),
        ("Afterwards", &effects.reset_afterwards),
    ] {
        lines.push(format!("{heading}:"));
        lines.extend(items.iter().map(|item| format!("- {}", plain(item))));
        lines.push(String::new());
    }
    lines.push("Steps:".to_owned());
    lines.extend(
        plan.step_outline()
            .iter()
            .map(|step| format!("- {}: {}", step.id, plain(&step.description))),
    );
    lines.join("\n")
}

/// Markdown's inline code marks have no place in a calendar's plain text.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

fn run_state(state: &RunState) -> String {
    match state {
        RunState::Failed { error } => format!("failed: {error}"),
        RunState::Rejected { reason } => format!("rejected: {reason}"),
        RunState::AwaitingApproval { step } => format!("awaiting approval of {step}"),
        RunState::NeedsAttention { step, .. } => format!("needs attention at {step}"),
        state => state.name().to_owned(),
    }
}

fn status_of(state: &RunState) -> EventStatus {
    match state {
        RunState::Canceled | RunState::Rejected { .. } => EventStatus::Cancelled,
        _ => EventStatus::Confirmed,
    }
}

/// How many times the window changed after it was first published: once for its submission,
/// once for each reschedule and cancellation in the run's log.
fn sequence(log: &[EventRecord]) -> u32 {
    let changes = log
        .iter()
        .filter(|event| {
            event.kind == "rescheduled"
                || (event.kind == "run-state" && event.detail["message"] == "canceled")
        })
        .count();
    u32::try_from(changes).unwrap_or(u32::MAX).saturating_add(1)
}
