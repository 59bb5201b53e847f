//! Rules across the plans validated together (SPEC 3.2): `duplicate-name`, `window-overlap`,
//! `source-in-use`, `operation-limit`, `inconsistent-facts`.
//!
//! Plans are grouped by target environment first, so the work grows with the plans that share an
//! environment, not with the square of all plans.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{Diagnostic, Findings, Rule};
use crate::adapter::{LCS_OPERATION_LIMIT, OperationLimit};
use crate::plan::time::format_utc;
use crate::plan::{Occurrence, Place, Window, cron_at_most_daily, parse_cron};

/// How far ahead recurring windows are expanded.
pub const HORIZON: TimeDelta = TimeDelta::days(35);

/// An environment within a project, compared by name without case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// What the cross-plan rules need of one plan. Validation keeps one for every plan until all are
/// checked, so it is kept small: the target and the source are the environments of `declared`,
/// not copies of them.
#[derive(Debug, Clone)]
pub struct PlanSummary {
    pub file: String,
    pub name: String,
    pub name_place: Option<Place>,
    /// Where the plan names its source, when it has one.
    source_place: Option<Place>,
    pub window_place: Option<Place>,
    /// `None` when the window did not resolve: the plan still counts for `duplicate-name`.
    pub window: Option<WindowFacts>,
    pub now: DateTime<Utc>,
    /// Database operations each run starts on the target: the refresh and every export.
    pub operations_per_run: usize,
    /// The limit on database operations that the plan's service declares, with the service's
    /// name; `None`: no limit holds.
    pub operation_limit: Option<(OperationLimit, &'static str)>,
    /// What the plan says of the environments it names: its target, then its source if it has
    /// one.
    declared: Box<[Declared]>,
    /// Expanded on first use: most plans share no environment with another and need none.
    occurrences: OnceLock<Vec<Occurrence>>,
}

/// A plan's window as the rules across plans keep it: a recurring one by its cron expression's
/// text, parsed again only when its occurrences are needed. A parsed expression takes 5 KB, and
/// most plans share no environment with another, so most are never parsed again.
#[derive(Debug, Clone)]
pub enum WindowFacts {
    Fixed(Occurrence),
    Recurring {
        pattern: Box<str>,
        zone: Tz,
        duration: TimeDelta,
    },
}

impl WindowFacts {
    #[must_use]
    pub fn of(window: &Window) -> Self {
        match window {
            Window::Fixed { occurrence, .. } => Self::Fixed(*occurrence),
            Window::Recurring {
                pattern,
                zone,
                duration,
                ..
            } => Self::Recurring {
                pattern: pattern.as_str().into(),
                zone: *zone,
                duration: *duration,
            },
        }
    }

    /// Whether windows start at most once a calendar day (see [`Window::at_most_daily`]).
    #[must_use]
    pub fn at_most_daily(&self) -> bool {
        match self {
            Self::Fixed(_) => true,
            Self::Recurring { pattern, .. } => cron_at_most_daily(pattern),
        }
    }

    /// Windows that start within `[from, until)`. The pattern parsed when the plan was
    /// checked, so it parses again; were it not to, the plan would have no window to compare.
    fn occurrences_between(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Occurrence> {
        match self {
            Self::Fixed(occurrence) => (occurrence.start >= from && occurrence.start < until)
                .then_some(*occurrence)
                .into_iter()
                .collect(),
            Self::Recurring {
                pattern,
                zone,
                duration,
            } => parse_cron(pattern).map_or_else(
                |_| Vec::new(),
                |cron| {
                    Window::Recurring {
                        cron: Some(cron),
                        pattern: String::new(),
                        zone: *zone,
                        duration: *duration,
                    }
                    .occurrences_between(from, until)
                },
            ),
        }
    }
}

/// The facts one plan declares of one environment: `type`, `release`, `id`, the channel
/// names; each with the value as compared and where the plan writes it.
#[derive(Debug, Clone)]
pub struct Declared {
    pub environment: EnvironmentKey,
    /// The name as the plan writes it.
    pub shown: String,
    pub facts: Box<[Fact]>,
}

/// One fact a plan declares of an environment.
#[derive(Debug, Clone)]
pub struct Fact {
    pub name: FactName,
    /// The value as compared (an id in lower case, text trimmed).
    pub value: Box<str>,
    pub place: Option<Place>,
}

/// The facts of an environment that plans must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FactName {
    Type,
    Release,
    Id,
    ChannelDatabase,
    ChannelDataGroup,
}

impl FactName {
    /// The plan's key for the fact.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Release => "release",
            Self::Id => "id",
            Self::ChannelDatabase => "channel_database",
            Self::ChannelDataGroup => "channel_data_group",
        }
    }
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
        target: Declared,
        source: Option<(Declared, Option<Place>)>,
        window_place: Option<Place>,
        window: Option<&Window>,
        now: DateTime<Utc>,
    ) -> Self {
        let (declared, source_place): (Box<[Declared]>, _) = match source {
            None => (Box::new([target]), None),
            Some((source, place)) => (Box::new([target, source]), place),
        };
        Self {
            file,
            name,
            name_place,
            source_place,
            window_place,
            window: window.map(WindowFacts::of),
            now,
            operations_per_run: 1,
            operation_limit: Some((LCS_OPERATION_LIMIT, "LCS")),
            declared,
            occurrences: OnceLock::new(),
        }
    }

    /// The environment the plan refreshes.
    #[must_use]
    pub fn target(&self) -> &EnvironmentKey {
        &self.declared[0].environment
    }

    /// The target's name as the plan writes it.
    #[must_use]
    pub fn target_name(&self) -> &str {
        &self.declared[0].shown
    }

    /// The environment the plan copies from, and where it names it.
    #[must_use]
    pub fn source(&self) -> Option<(&EnvironmentKey, Option<Place>)> {
        self.declared
            .get(1)
            .map(|source| (&source.environment, self.source_place))
    }

    /// What the plan says of its target, then of its source.
    #[must_use]
    pub fn declared(&self) -> &[Declared] {
        &self.declared
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

    /// Windows that have not ended by `now` and start within the horizon.
    pub fn occurrences(&self) -> &[Occurrence] {
        self.occurrences.get_or_init(|| match &self.window {
            None => Vec::new(),
            Some(WindowFacts::Fixed(occurrence)) => (occurrence.end > self.now)
                .then_some(*occurrence)
                .into_iter()
                .collect(),
            Some(window @ WindowFacts::Recurring { .. }) => window.occurrences_between(
                self.now,
                self.now
                    .checked_add_signed(HORIZON)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
        })
    }
}

/// Checks a set of plans; the summaries come in the order the files were given (they are
/// borrowed: the caller keeps them wherever it keeps what it checked).
#[must_use]
pub fn check(plans: &[&PlanSummary]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    duplicate_names(plans, &mut out);
    let targets = Targets::of(plans);
    for group in targets.groups() {
        window_overlaps(plans, group, &mut out);
        operation_limit(plans, group, &mut out);
    }
    sources_in_use(plans, &targets, &mut out);
    inconsistent_facts(plans, &mut out);
    out
}

/// The plans grouped by target environment: their indices sorted by target, then by index, so
/// that each group is a run of one list, in the order of the files. A word per plan: a map of a
/// list per target took some 300 bytes a plan, more than the summaries themselves.
struct Targets<'a> {
    plans: &'a [&'a PlanSummary],
    order: Vec<usize>,
}

impl<'a> Targets<'a> {
    fn of(plans: &'a [&'a PlanSummary]) -> Self {
        let mut order: Vec<usize> = (0..plans.len()).collect();
        order.sort_unstable_by(|&a, &b| plans[a].target().cmp(plans[b].target()).then(a.cmp(&b)));
        Self { plans, order }
    }

    fn groups(&self) -> impl Iterator<Item = &[usize]> {
        self.order
            .chunk_by(|&a, &b| self.plans[a].target() == self.plans[b].target())
    }

    /// The plans that target `environment`, in the order of the files.
    fn targeting(&self, environment: &EnvironmentKey) -> &[usize] {
        let start = self
            .order
            .partition_point(|&index| self.plans[index].target() < environment);
        let end = self
            .order
            .partition_point(|&index| self.plans[index].target() <= environment);
        &self.order[start..end]
    }
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

fn duplicate_names(plans: &[&PlanSummary], out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<&str, &PlanSummary> = HashMap::new();
    for plan in plans {
        match first.get(plan.name.as_str()) {
            None => {
                first.insert(&plan.name, *plan);
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

fn window_overlaps(plans: &[&PlanSummary], group: &[usize], out: &mut Vec<Diagnostic>) {
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
                        b.target_name()
                    ),
                    "only one database operation runs on an environment at a time; move one of \
                     the windows",
                );
                break;
            }
        }
    }
}

fn operation_limit(plans: &[&PlanSummary], group: &[usize], out: &mut Vec<Diagnostic>) {
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
    plans: &[&PlanSummary],
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
            .is_none_or(WindowFacts::at_most_daily)
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
                plan.target_name(),
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

fn sources_in_use(plans: &[&PlanSummary], targets: &Targets<'_>, out: &mut Vec<Diagnostic>) {
    for (index, plan) in plans.iter().enumerate() {
        let Some((source, source_place)) = plan.source() else {
            continue;
        };
        let refreshers = targets.targeting(source);
        // A plan copying onto its own source is `same-source-target`, not this rule.
        for &other in refreshers.iter().filter(|&&other| other != index) {
            let other = &plans[other];
            if let Some((ours, _)) = first_overlap(plan.occurrences(), other.occurrences()) {
                push(
                    out,
                    plan,
                    Rule::SourceInUse,
                    source_place,
                    format!(
                        "the source `{}` is refreshed by `{}` ({}) in a window that overlaps the \
                         one starting {}",
                        other.target_name(),
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
fn inconsistent_facts(plans: &[&PlanSummary], out: &mut Vec<Diagnostic>) {
    // Every declaration of a fact, as (plan, declaration, fact) positions, after its subject:
    // the environment's number (in the order first declared) and the fact. Sixteen bytes each,
    // sorted as integers, so that each fact of an environment is a run of one list in the
    // order of the plans. (Sorting eight-byte positions by the environment's name they lead
    // to was three quarters of the rule: 10,000 plans, 105 M instructions.)
    type At = (u32, u16, u16);
    let fact_at = |&(plan, declared, fact): &At| {
        let declared = &plans[plan as usize].declared[usize::from(declared)];
        (declared, &declared.facts[usize::from(fact)])
    };
    let mut numbers: HashMap<&EnvironmentKey, u32> = HashMap::new();
    let mut said: Vec<((u32, FactName), At)> = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        let Ok(index) = u32::try_from(index) else {
            break;
        };
        for (position, declared) in plan.declared.iter().enumerate() {
            let next = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
            let environment = *numbers.entry(&declared.environment).or_insert(next);
            for (fact, said_fact) in declared.facts.iter().enumerate() {
                if let (Ok(position), Ok(fact)) = (u16::try_from(position), u16::try_from(fact)) {
                    said.push(((environment, said_fact.name), (index, position, fact)));
                }
            }
        }
    }
    drop(numbers);
    said.sort_unstable();
    // Each declaration that another plan contradicts, with the first such declaration.
    let mut contradicted: Vec<(At, At)> = Vec::new();
    let value = |at: &At| &*fact_at(at).1.value;
    for group in said.chunk_by(|a, b| a.0 == b.0) {
        let first = group[0].1;
        // Plans that agree (the usual case) need no comparison of each with every other.
        if group.iter().all(|(_, at)| value(at) == value(&first)) {
            continue;
        }
        for (_, at) in group {
            if let Some((_, other)) = group
                .iter()
                .find(|(_, other)| other.0 != at.0 && value(other) != value(at))
            {
                contradicted.push((*at, *other));
            }
        }
    }
    // In the order of the plans, then of what each says, as the rule always reported them.
    contradicted.sort_unstable();
    for (at, other_at) in contradicted {
        let plan = plans[at.0 as usize];
        let (declared, said) = fact_at(&at);
        let (fact, value) = (said.name.as_str(), &said.value);
        let other = plans[other_at.0 as usize];
        let (_, theirs) = fact_at(&other_at);
        let (theirs, their_place) = (&theirs.value, theirs.place);
        let at = their_place.map_or_else(String::new, |place| {
            format!(":{}:{}", place.line, place.column)
        });
        push(
            out,
            plan,
            Rule::InconsistentFacts,
            said.place,
            format!(
                "this plan says `{}` has {fact} `{value}`, but `{}` ({}{at}) says `{theirs}`",
                declared.shown, other.name, other.file
            ),
            "an environment has one type, release, id and channel names: make the plans \
             agree (the environment's page in LCS shows them), or leave the fact out to \
             have it looked up",
        );
    }
}
