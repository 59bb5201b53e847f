//! Checking plans: one file from bytes to diagnostics (and a plan when it resolved), then the
//! rules across a set of files.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::catalog::Catalog;
use super::context::PlanContext;
use super::plan_set::{self, Declared, EnvironmentKey, Fact, FactName, PlanSummary};
use super::{
    Diagnostic, Findings, Rule, adapter_support, cron, local_files, prerequisites, safety,
    scheduling, timing,
};
use crate::adapter::AdapterKind;
use crate::input::InputError;
use crate::plan::resolve::{Resolved, resolve};
use crate::plan::{Plan, RawPlan, load};

/// What every check needs besides the file.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub now: DateTime<Utc>,
    pub catalog: Catalog,
    /// The adapter of the command (`--adapter`; the run commands always give theirs): what it
    /// supports is checked for a plan without `service`, and a real one must agree with a
    /// plan's `service`.
    pub adapter: Option<AdapterKind>,
}

/// One file after checking.
#[derive(Debug)]
pub struct CheckedFile {
    /// The path as shown to the user.
    pub file: String,
    /// The plan's name when the file parsed far enough to have one.
    pub plan_name: Option<String>,
    pub plan: Option<Plan>,
    pub summary: Option<PlanSummary>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks one plan file. `path` is where it was read from (relative template paths start at its
/// directory); `file` is how it is shown.
#[must_use]
pub fn check_file(file: &str, path: &Path, bytes: &[u8], settings: &CheckSettings) -> CheckedFile {
    let raw = match load::parse(file, bytes) {
        Ok(raw) => raw,
        Err(diagnostics) => {
            return CheckedFile {
                file: file.to_owned(),
                plan_name: None,
                plan: None,
                summary: None,
                diagnostics,
            };
        }
    };
    let mut findings = Findings::new(file, Some(&raw.name.value));
    let plan_dir = crate::plan::discover::directory_of(path);
    let resolved = resolve(&raw, &plan_dir, &settings.catalog, &mut findings);
    let context = PlanContext {
        raw: &raw,
        resolved: &resolved,
        now: settings.now,
        catalog: &settings.catalog,
        plan_dir: &plan_dir,
        adapter: adapter_support::checked_against(&raw, settings.adapter),
    };
    timing::check(&context, &mut findings);
    cron::check(&context, &mut findings);
    local_files::check(&context, &mut findings);
    scheduling::check(&context, &mut findings);
    safety::check(&context, &mut findings);
    prerequisites::check(&context, &mut findings);
    adapter_support::check_project(&context, settings.adapter, &mut findings);
    adapter_support::check_service(&context, settings.adapter, &mut findings);
    let summary = Some(summarize(file, &raw, &resolved, &context));
    CheckedFile {
        file: file.to_owned(),
        plan_name: Some(raw.name.value.clone()),
        plan: resolved.into_plan(file, &raw),
        summary,
        diagnostics: findings.into_vec(),
    }
}

/// A plan file that could not be read: one `syntax` diagnostic for it, saying why (a dangling
/// link, a link loop, not a regular file, too large, an I/O error).
#[must_use]
pub fn unreadable(file: &str, error: &InputError) -> CheckedFile {
    let mut findings = Findings::new(file, None);
    let help = match error {
        InputError::TooLarge { .. } => "a plan is a few dozen lines; is this the right file?",
        InputError::DanglingLink { .. } | InputError::LinkLoop { .. } => {
            "point the link at a plan file, or remove it"
        }
        InputError::NotRegular { .. } => {
            "a plan is a regular file; rename this one so that it does not end in .yaml or .yml"
        }
        _ => "check that the file exists and can be read",
    };
    findings.push(Rule::Syntax, None, error.reason(), help);
    CheckedFile {
        file: file.to_owned(),
        plan_name: None,
        plan: None,
        summary: None,
        diagnostics: findings.into_vec(),
    }
}

fn summarize(
    file: &str,
    raw: &RawPlan,
    resolved: &Resolved,
    context: &PlanContext<'_>,
) -> PlanSummary {
    // Without a known adapter, the plan is held to LCS's limit, as it always was.
    let limit = context.adapter.map_or(
        Some((crate::adapter::LCS_OPERATION_LIMIT, "LCS")),
        |adapter| {
            adapter
                .capabilities()
                .operation_limit
                .map(|limit| (limit, adapter.service_name()))
        },
    );
    let project = raw.project.as_ref().map_or(0, |project| project.value);
    PlanSummary::new(
        file.to_owned(),
        raw.name.value.clone(),
        raw.name.place,
        declared(project, &raw.environment.value),
        raw.source
            .as_ref()
            .map(|source| (declared(project, &source.value), source.value.name.place)),
        raw.window.place,
        resolved.window.as_ref(),
        context.now,
    )
    .with_operations_per_run(1 + exports(raw))
    .with_operation_limit(limit)
}

/// What the plan says of one environment, for `inconsistent-facts`: values as compared (an id
/// in lower case, text trimmed).
fn declared(project: u64, environment: &crate::plan::raw::RawEnvironment) -> Declared {
    let name = environment.name.value.trim();
    let mut facts = Vec::new();
    if let Some(kind) = &environment.kind {
        facts.push(Fact {
            name: FactName::Type,
            value: kind.value.as_str().into(),
            place: kind.place,
        });
    }
    for (fact, value) in [
        (FactName::Release, &environment.release),
        (FactName::Id, &environment.id),
        (FactName::ChannelDatabase, &environment.channel_database),
        (FactName::ChannelDataGroup, &environment.channel_data_group),
    ] {
        if let Some(value) = value {
            let text = value.value.trim();
            let text = if fact == FactName::Id {
                text.to_lowercase().into_boxed_str()
            } else {
                text.into()
            };
            facts.push(Fact {
                name: fact,
                value: text,
                place: value.place,
            });
        }
    }
    Declared {
        environment: EnvironmentKey::new(project, name),
        shown: name.to_owned(),
        // Kept until every plan is checked: no spare room.
        facts: facts.into_boxed_slice(),
    }
}

/// How many `export` steps the plan has, before and after the refresh.
fn exports(raw: &RawPlan) -> usize {
    [&raw.pre_steps, &raw.post_steps]
        .into_iter()
        .flatten()
        .flat_map(|steps| &steps.value)
        .filter(|step| matches!(step.value, crate::plan::raw::RawStep::Export(_)))
        .count()
}

/// Runs the cross-plan rules over checked files and returns every diagnostic, sorted.
#[must_use]
pub fn check_set(files: &[CheckedFile]) -> Vec<Diagnostic> {
    let summaries: Vec<&PlanSummary> = files
        .iter()
        .filter_map(|file| file.summary.as_ref())
        .collect();
    sorted(
        files
            .iter()
            .flat_map(|file| file.diagnostics.iter().cloned())
            .chain(plan_set::check(&summaries))
            .collect(),
    )
}

/// What validation keeps of a checked file once its plan is dropped: the summary that the rules
/// across plans compare (which names the file and the plan), or the file's name when it did not
/// parse, and its own diagnostics.
#[derive(Debug)]
pub struct FileRecord {
    kept: Kept,
    diagnostics: Vec<Diagnostic>,
}

#[derive(Debug)]
enum Kept {
    Summary(Box<PlanSummary>),
    Unparsed(Box<str>),
}

impl From<CheckedFile> for FileRecord {
    fn from(checked: CheckedFile) -> Self {
        let mut diagnostics = checked.diagnostics;
        diagnostics.shrink_to_fit();
        Self {
            kept: match checked.summary {
                Some(summary) => Kept::Summary(Box::new(summary)),
                None => Kept::Unparsed(checked.file.into_boxed_str()),
            },
            diagnostics,
        }
    }
}

impl FileRecord {
    /// The path as shown to the user.
    #[must_use]
    pub fn file(&self) -> &str {
        match &self.kept {
            Kept::Summary(summary) => &summary.file,
            Kept::Unparsed(file) => file,
        }
    }

    /// The plan's name when the file parsed far enough to have one.
    #[must_use]
    pub fn plan_name(&self) -> Option<&str> {
        match &self.kept {
            Kept::Summary(summary) => Some(&summary.name),
            Kept::Unparsed(_) => None,
        }
    }

    fn summary(&self) -> Option<&PlanSummary> {
        match &self.kept {
            Kept::Summary(summary) => Some(summary),
            Kept::Unparsed(_) => None,
        }
    }
}

/// [`check_set`] over what validation kept: the same diagnostics in the same order. The
/// records' own diagnostics are moved out, not copied.
#[must_use]
pub fn check_records(records: &mut [FileRecord]) -> Vec<Diagnostic> {
    let mut per_file: Vec<Diagnostic> =
        Vec::with_capacity(records.iter().map(|record| record.diagnostics.len()).sum());
    for record in records.iter_mut() {
        per_file.append(&mut record.diagnostics);
    }
    let summaries: Vec<&PlanSummary> = records.iter().filter_map(FileRecord::summary).collect();
    per_file.extend(plan_set::check(&summaries));
    sorted(per_file)
}

/// Diagnostics by file, then place, then rule; the sort is stable, so the diagnostics of one
/// place and rule keep the order they were found in.
fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics
}
