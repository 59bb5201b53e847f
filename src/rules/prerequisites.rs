//! Rules about releases and the reprovisioning tool: `release-mismatch`, `unknown-release`,
//! `missing-hotfix`, `channel-names`, `reprovision-recommended`, `financial-reporting-reset`.

use super::context::PlanContext;
use super::{Findings, Rule};
use crate::plan::raw::RawStep;
use crate::plan::{Located, Place, Release};

pub fn check(context: &PlanContext<'_>, findings: &mut Findings) {
    let reprovisions = steps(context)
        .iter()
        .any(|step| matches!(step.value, RawStep::Reprovision(_)));
    unknown_releases(context, findings);
    release_mismatch(context, findings);
    // The hotfixes a release needs are LCS's prerequisites: only an adapter that declares
    // them (or none known) holds the plan to them.
    let release_prerequisites = context
        .adapter
        .is_none_or(|adapter| adapter.capabilities().release_prerequisites);
    if reprovisions && release_prerequisites {
        missing_hotfixes(context, findings);
    }
    if reprovisions {
        channel_names(context, findings);
    }
    recommended_steps(context, reprovisions, findings);
}

fn target_release<'a>(context: &PlanContext<'a>) -> Option<&'a Release> {
    context
        .resolved
        .environment
        .as_ref()
        .and_then(|environment| environment.release())
}

fn unknown_releases(context: &PlanContext<'_>, findings: &mut Findings) {
    let raw = context.raw;
    let environments = std::iter::once(&raw.environment.value)
        .chain(raw.source.as_ref().map(|source| &source.value));
    for environment in environments {
        if let Some(release) = &environment.release
            && context.catalog.lookup(&release.value).is_none()
        {
            findings.push(
                Rule::UnknownRelease,
                release.place,
                format!(
                    "the prerequisite catalog does not know release `{}`",
                    release.value
                ),
                format!(
                    "known spellings: {}; prerequisites cannot be checked for this release",
                    context.catalog.spellings().join(", ")
                ),
            );
        }
    }
}

fn release_mismatch(context: &PlanContext<'_>, findings: &mut Findings) {
    let source_release = match &context.resolved.source {
        Some(Some(source)) => source.release(),
        _ => None,
    };
    if let (Some(target_release), Some(source_release)) = (target_release(context), source_release)
        && !same_release(target_release, source_release)
    {
        findings.push(
            Rule::ReleaseMismatch,
            context
                .raw
                .environment
                .value
                .release
                .as_ref()
                .and_then(|release| release.place),
            format!(
                "the target is on release {} and the source on {}",
                target_release.text, source_release.text
            ),
            "a database is copied only between environments on the same application release; \
             update one of them first",
        );
    }
}

fn missing_hotfixes(context: &PlanContext<'_>, findings: &mut Findings) {
    let target = &context.raw.environment.value;
    let (Some(release), Some(environment)) = (
        target_release(context),
        context.resolved.environment.as_ref(),
    ) else {
        return;
    };
    let Some(known) = &release.known else {
        return;
    };
    let missing: Vec<&str> = context
        .catalog
        .requirements(known)
        .iter()
        .filter(|kb| !environment.hotfixes().contains(kb))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return;
    }
    let place = target
        .hotfixes
        .as_ref()
        .and_then(|hotfixes| hotfixes.place)
        .or(target.release.as_ref().and_then(|release| release.place));
    let (noun, pronoun) = if missing.len() == 1 {
        ("a hotfix", "it")
    } else {
        ("hotfixes", "them")
    };
    findings.push(
        Rule::MissingHotfix,
        place,
        format!(
            "release {} needs {noun} before the reprovisioning tool; not listed in `hotfixes`: {}",
            release.text,
            missing.join(", ")
        ),
        format!(
            "apply {} to the target and list {pronoun} in `hotfixes` (source: {})",
            missing.join(", "),
            context.catalog.source(known)
        ),
    );
}

fn channel_names(context: &PlanContext<'_>, findings: &mut Findings) {
    let target = &context.raw.environment.value;
    for (field, key) in [
        (&target.channel_database, "channel_database"),
        (&target.channel_data_group, "channel_data_group"),
    ] {
        if let Some(name) = field
            && name.value != "Default"
        {
            findings.push(
                Rule::ChannelNames,
                name.place,
                format!("`{key}` is `{}`, not `Default`", name.value),
                "the reprovisioning tool needs the default channel database and data group \
                 both named exactly `Default`; rename them back before the refresh",
            );
        }
    }
}

fn recommended_steps(context: &PlanContext<'_>, reprovisions: bool, findings: &mut Findings) {
    let resets_reporting = steps(context)
        .iter()
        .any(|step| matches!(step.value, RawStep::ResetFinancialReporting));
    let steps_place = context
        .raw
        .post_steps
        .as_ref()
        .and_then(|steps| steps.place)
        .or_else(|| root_place(context));
    // The tool is an LCS package; a Power Platform copy carries the code with the data (a plan
    // with `service: power-platform` or `power_platform` options is meant for it).
    if !reprovisions && !context.raw.for_power_platform() {
        findings.push(
            Rule::ReprovisionRecommended,
            steps_place,
            "the plan does not run the Environment reprovisioning tool",
            "add `- reprovision` to `post_steps`; Microsoft recommends it after every database \
             movement, whether or not Retail is used",
        );
    }
    // A Power Platform copy carries the Financial reporting database (MrDB) with the rest.
    if !resets_reporting && !context.raw.for_power_platform() {
        findings.push(
            Rule::FinancialReportingReset,
            steps_place,
            "the plan does not reset Financial reporting",
            "add `- reset-financial-reporting` to `post_steps`; the Financial reporting database \
             is not copied and must be reset after a refresh",
        );
    }
}

fn steps<'a>(context: &PlanContext<'a>) -> &'a [Located<RawStep>] {
    context
        .raw
        .post_steps
        .as_ref()
        .map_or(&[], |steps| steps.value.as_slice())
}

/// The place of the plan's top-level map, for problems about a key that is missing there.
pub fn root_place(context: &PlanContext<'_>) -> Option<Place> {
    context
        .raw
        .version
        .place
        .map(|place| Place::new(place.line, 1))
}

fn same_release(a: &Release, b: &Release) -> bool {
    match (&a.known, &b.known) {
        // "10.0" says less than "10.0.41": compare at the precision both give.
        (Some(a), Some(b)) if a.version.patch.is_none() || b.version.patch.is_none() => {
            (a.version.major, a.version.minor) == (b.version.major, b.version.minor)
        }
        (Some(a), Some(b)) => a.version == b.version,
        _ => a.text.eq_ignore_ascii_case(&b.text),
    }
}
