//! Rules across the plans validated together (SPEC 3.2): `duplicate-name`, `window-overlap`,
//! `source-in-use`, `operation-limit`, `inconsistent-facts`.
//!
//! Plans are grouped by target environment first, so the work grows with the plans that share an
//! environment, not with the square of all plans.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Diagnostic, Findings, Rule};
use crate::adapter::{LCS_OPERATION_LIMIT, OperationLimit};
use crate::plan::time::format_utc;
use crate::plan::{Occurrence, Place, Window};

/// How far ahead recurring windows are expanded.
pub const HORIZON: TimeDelta = TimeDelta::days(35);

/// An environment within a project, compared by name without case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentKey {
    pub project: u64,
    pub name: String,
}

impl EnvironmentKey {
    #[must_use]
    pub fn new(project: u64, name: &str) -> Self {
        Self {
            project,
            name: name.to_lowercase(),
        }
    }
}

/// What the cross-plan rules need of one plan.
#[derive(Debug, Clone)]
pub struct PlanSummary {
    pub file: String,
    pub name: String,
    pub name_place: Option<Place>,
    pub target: EnvironmentKey,
    pub target_name: String,
    pub source: Option<(EnvironmentKey, Option<Place>)>,
    pub window_place: Option<Place>,
    /// `None` when the window did not resolve: the plan still counts for `duplicate-name`.
    pub window: Option<Window>,
    pub now: DateTime<Utc>,
    /// Database operations each run starts on the target: the refresh and every export.
    pub operations_per_run: usize,
    /// The limit on database operations that the plan's service declares, with the service's
    /// name; `None`: no limit holds.
    pub operation_limit: Option<(OperationLimit, &'static str)>,
    /// What the plan says of the environments it names (its target, then its source).
    pub declared: Vec<Declared>,
    /// Expanded on first use: most plans share no environment with another and need none.
    occurrences: OnceLock<Vec<Occurrence>>,
}

/// The facts one plan declares of one environment: `type`, `release`, `id`, the channel
/// names; each with the value as compared and where the plan writes it.
#[derive(Debug, Clone)]
pub struct Declared {
    pub environment: EnvironmentKey,
    /// The name as the plan writes it.
    pub shown: String,
    pub facts: Vec<(&'static str, String, Option<Place>)>,
}

impl PlanSummary {
    #[must_use]
    #[expect(
        clippy::too_many_arguments,
        reason = "a plain record of the plan's facts"
    )]
    pub fn new(
        file: String,
        name: String,
        name_place: Option<Place>,
        target: (EnvironmentKey, String),
        source: Option<(EnvironmentKey, Option<Place>)>,
        window_place: Option<Place>,
        window: Option<Window>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            file,
            name,
            name_place,
            target: target.0,
            target_name: target.1,
            source,
            window_place,
            window,
            now,
            operations_per_run: 1,
            operation_limit: Some((LCS_OPERATION_LIMIT, "LCS")),
            declared: Vec::new(),
            occurrences: OnceLock::new(),
        }
    }

    /// The same summary, for a plan whose runs start `count` database operations.
    #[must_use]
    pub fn with_operations_per_run(mut self, count: usize) -> Self {
        self.operations_per_run = count.max(1);
        self
    }

    /// The same summary, held to the limit its service declares (`None`: to none).
    #[must_use]
    pub fn with_operation_limit(mut self, limit: Option<(OperationLimit, &'static str)>) -> Self {
        self.operation_limit = limit;
        self
    }

    /// The same summary, with what the plan declares of its environments.
    #[must_use]
    pub fn with_declared(mut self, declared: Vec<Declared>) -> Self {
        self.declared = declared;
        self
    }

    /// Windows that have not ended by `now` and start within the horizon.
    pub fn occurrences(&self) -> &[Occurrence] {
        self.occurrences.get_or_init(|| match &self.window {
            None => Vec::new(),
            Some(Window::Fixed { occurrence, .. }) => (occurrence.end > self.now)
                .then_some(*occurrence)
                .into_iter()
                .collect(),
            Some(window @ Window::Recurring { .. }) => window.occurrences_between(
                self.now,
                self.now
                    .checked_add_signed(HORIZON)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
        })
    }
}

/// Checks a set of plans; the summaries come in the order the files were given.
#[must_use]
pub fn check(plans: &[PlanSummary]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    duplicate_names(plans, &mut out);
    let mut by_target: HashMap<&EnvironmentKey, Vec<usize>> = HashMap::new();
    for (index, plan) in plans.iter().enumerate() {
        by_target.entry(&plan.target).or_default().push(index);
    }
    let mut groups: Vec<_> = by_target.values().collect();
    groups.sort_unstable();
    for group in &groups {
        window_overlaps(plans, group, &mut out);
        operation_limit(plans, group, &mut out);
    }
    sources_in_use(plans, &by_target, &mut out);
    inconsistent_facts(plans, &mut out);
    out
}

fn push(
    out: &mut Vec<Diagnostic>,
    plan: &PlanSummary,
    rule: Rule,
    place: Option<Place>,
    message: String,
    help: &str,
) {
    let mut findings = Findings::new(&plan.file, Some(&plan.name));
    findings.push(rule, place, message, help);
    out.extend(findings.into_vec());
}

fn duplicate_names(plans: &[PlanSummary], out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<&str, &PlanSummary> = HashMap::new();
    for plan in plans {
        match first.get(plan.name.as_str()) {
            None => {
                first.insert(&plan.name, plan);
            }
            Some(earlier) => push(
                out,
                plan,
                Rule::DuplicateName,
                plan.name_place,
                format!(
                    "the plan name `{}` is also used by {}",
                    plan.name, earlier.file
                ),
                "plan names are unique in a plan set: run ids are built from them",
            ),
        }
    }
}

fn first_overlap(a: &[Occurrence], b: &[Occurrence]) -> Option<(Occurrence, Occurrence)> {
    // Both lists are sorted by start; walk them together.
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].overlaps(&b[j]) {
            return Some((a[i], b[j]));
        }
        if a[i].end <= b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}

fn window_overlaps(plans: &[PlanSummary], group: &[usize], out: &mut Vec<Diagnostic>) {
    for (position, &later) in group.iter().enumerate() {
        for &earlier in &group[..position] {
            let (a, b) = (&plans[earlier], &plans[later]);
            if let Some((_, theirs)) = first_overlap(a.occurrences(), b.occurrences()) {
                push(
                    out,
                    b,
                    Rule::WindowOverlap,
                    b.window_place,
                    format!(
                        "the window starting {} overlaps a window of `{}` ({}) on the same \
                         environment `{}`",
                        format_utc(theirs.start),
                        a.name,
                        a.file,
                        b.target_name
                    ),
                    "only one database operation runs on an environment at a time; move one of \
                     the windows",
                );
                break;
            }
        }
    }
}

fn operation_limit(plans: &[PlanSummary], group: &[usize], out: &mut Vec<Diagnostic>) {
    // Each plan is held to the limit its service declares; plans of a service without one are
    // not counted.
    let mut limits: Vec<(OperationLimit, &'static str)> = Vec::new();
    for limit in group
        .iter()
        .filter_map(|&index| plans[index].operation_limit)
    {
        if !limits.contains(&limit) {
            limits.push(limit);
        }
    }
    for limit in limits {
        let held: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&index| plans[index].operation_limit == Some(limit))
            .collect();
        operation_limit_of(plans, &held, limit, out);
    }
}

fn operation_limit_of(
    plans: &[PlanSummary],
    group: &[usize],
    (limit, service): (OperationLimit, &str),
    out: &mut Vec<Diagnostic>,
) {
    // One plan that starts at most once a day, and few enough operations in each run, cannot
    // start four operations in 24 hours.
    if let [only] = group
        && plans[*only].operations_per_run <= limit.operations
        && limit.hours <= 24
        && plans[*only]
            .window
            .as_ref()
            .is_none_or(Window::at_most_daily)
    {
        return;
    }
    // Each run's exports are counted at its window's start, with its refresh: they start
    // within the window, hours apart at most.
    let mut starts: Vec<(DateTime<Utc>, usize)> = group
        .iter()
        .flat_map(|&index| {
            plans[index]
                .occurrences()
                .iter()
                .flat_map(move |occurrence| {
                    std::iter::repeat_n((occurrence.start, index), plans[index].operations_per_run)
                })
        })
        .collect();
    starts.sort_unstable();
    let span = limit.operations;
    if let Some(window) = starts
        .windows(span + 1)
        .find(|window| window[span].0 - window[0].0 < TimeDelta::hours(limit.hours))
    {
        let plan = &plans[window[span].1];
        push(
            out,
            plan,
            Rule::OperationLimit,
            plan.window_place,
            format!(
                "{} database operations start on `{}` between {} and {}; {service} allows {} in {} hours",
                span + 1,
                plan.target_name,
                format_utc(window[0].0),
                format_utc(window[span].0),
                limit.operations,
                limit.hours
            ),
            "the fourth call would be refused (a refresh and each `export` step count); spread \
             the windows over more days, or export less often",
        );
    }
}

fn sources_in_use(
    plans: &[PlanSummary],
    by_target: &HashMap<&EnvironmentKey, Vec<usize>>,
    out: &mut Vec<Diagnostic>,
) {
    for (index, plan) in plans.iter().enumerate() {
        let Some((source, source_place)) = &plan.source else {
            continue;
        };
        let Some(refreshers) = by_target.get(source) else {
            continue;
        };
        // A plan copying onto its own source is `same-source-target`, not this rule.
        for &other in refreshers.iter().filter(|&&other| other != index) {
            let other = &plans[other];
            if let Some((ours, _)) = first_overlap(plan.occurrences(), other.occurrences()) {
                push(
                    out,
                    plan,
                    Rule::SourceInUse,
                    *source_place,
                    format!(
                        "the source `{}` is refreshed by `{}` ({}) in a window that overlaps the \
                         one starting {}",
                        other.target_name,
                        other.name,
                        other.file,
                        format_utc(ours.start)
                    ),
                    "copy from the source after its own refresh has finished, or move one window",
                );
                break;
            }
        }
    }
}

/// Two plans that say different things of one environment: each place is an error, naming the
/// other plan and where it says otherwise. A fact a plan leaves out is looked up live and
/// agrees with anything.
fn inconsistent_facts(plans: &[PlanSummary], out: &mut Vec<Diagnostic>) {
    // Every declaration of a fact of an environment: which plan, the value, the place.
    type Said<'a> = Vec<(usize, &'a str, Option<Place>)>;
    let mut said: HashMap<(&EnvironmentKey, &str), Said<'_>> = HashMap::new();
    for (index, plan) in plans.iter().enumerate() {
        for declared in &plan.declared {
            for (fact, value, place) in &declared.facts {
                said.entry((&declared.environment, fact))
                    .or_default()
                    .push((index, value, *place));
            }
        }
    }
    for (index, plan) in plans.iter().enumerate() {
        for declared in &plan.declared {
            for (fact, value, place) in &declared.facts {
                let others = &said[&(&declared.environment, *fact)];
                let Some(&(other, theirs, their_place)) = others
                    .iter()
                    .find(|(other, theirs, _)| *other != index && *theirs != value.as_str())
                else {
                    continue;
                };
                let other = &plans[other];
                let at = their_place.map_or_else(String::new, |place| {
                    format!(":{}:{}", place.line, place.column)
                });
                push(
                    out,
                    plan,
                    Rule::InconsistentFacts,
                    *place,
                    format!(
                        "this plan says `{}` has {fact} `{value}`, but `{}` ({}{at}) says \
                         `{theirs}`",
                        declared.shown, other.name, other.file
                    ),
                    "an environment has one type, release, id and channel names: make the plans \
                     agree (the environment's page in LCS shows them), or leave the fact out to \
                     have it looked up",
                );
            }
        }
    }
}
