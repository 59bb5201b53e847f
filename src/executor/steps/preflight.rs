//! Preflight: the checks on live facts before anything is asked of the service (the window, the
//! files the steps need, the production guard, stale plan facts, hotfixes, the source, and what
//! only the adapter can tell), failing closed (SPEC 5.1).

use chrono::TimeDelta;

use crate::adapter::{Adapter, AdapterError};
use crate::executor::run::{Executor, Outcome};
use crate::plan::EnvironmentType;
use crate::plan::time::format_utc;
use crate::state::RunRecord;

impl<A: Adapter> Executor<'_, A> {
    /// What the `missing-file` rule would say now about the files the post steps need, as one
    /// message, or `None` when they are all there.
    pub(in crate::executor) fn missing_files(&self) -> Option<String> {
        let missing = crate::rules::missing_files(self.plan, &self.settings.plan_dir);
        let directory = self.settings.plan_dir.display().to_string();
        (!missing.is_empty()).then(|| {
            format!(
                "{}, relative to the plan's directory `{}`; nothing was changed",
                missing.join("; "),
                if directory.is_empty() {
                    "."
                } else {
                    &directory
                }
            )
        })
    }

    pub(in crate::executor) async fn preflight(&mut self, run: &mut RunRecord) -> Outcome {
        let project = self.plan.project();
        let now = self.clock.now();
        if now >= run.window_end {
            return Outcome::Fail(format!(
                "the window ended at {} before preflight could pass; nothing was changed",
                format_utc(run.window_end)
            ));
        }
        // The files the steps need are checked again before anything is asked of the service:
        // one deleted since `validate` stops the run here, not after the database was erased.
        if let Some(missing) = self.missing_files() {
            return Outcome::Reject(missing);
        }
        let target_key = self
            .plan
            .environment()
            .id()
            .unwrap_or(self.plan.environment().name())
            .to_owned();
        let target = match self.adapter.environment(project, &target_key).await {
            Ok(target) => target,
            Err(AdapterError::Throttled(wait)) => return self.throttled(wait),
            Err(error) if error.is_outage() => {
                return Outcome::Unreachable(format!("the target `{target_key}`: {error}"));
            }
            Err(error) => return Outcome::Reject(format!("the target `{target_key}`: {error}")),
        };
        // The production guard fails closed: only a type known to be non-production passes.
        if let Err(refusal) = target
            .kind
            .guard_on(self.adapter.service_name(), &target.name)
        {
            return Outcome::Reject(refusal);
        }
        if let Some(stale) = stale_facts(
            self.plan.environment(),
            &target,
            self.adapter.service_name(),
        ) {
            return Outcome::Reject(stale);
        }
        if let Some(missing) = self.missing_hotfixes(&target) {
            return Outcome::Reject(missing);
        }
        if target.busy == Some(true) {
            return Outcome::Reject(format!(
                "the target `{}` is busy with another operation",
                target.name
            ));
        }
        if let Some(source) = self.plan.source() {
            let source_key = source.id().unwrap_or(source.name()).to_owned();
            match self.adapter.environment(project, &source_key).await {
                Ok(facts) => {
                    if let Some(stale) = stale_facts(source, &facts, self.adapter.service_name()) {
                        return Outcome::Reject(stale);
                    }
                    if let Some(kind @ (EnvironmentType::Development | EnvironmentType::Build)) =
                        facts.kind.kind()
                    {
                        return Outcome::Reject(format!(
                            "the source `{}` is a {} environment; {} copies databases only from production or a sandbox",
                            facts.name,
                            kind.as_str(),
                            self.adapter.service_name()
                        ));
                    }
                    if let (Some(a), Some(b)) = (&facts.release, &target.release)
                        && a != b
                    {
                        return Outcome::Reject(format!(
                            "the source is on release {a} and the target on {b}; a copy needs the same release"
                        ));
                    }
                    run.source_id = Some(facts.id);
                }
                Err(AdapterError::Throttled(wait)) => {
                    return Outcome::Wait(
                        self.clock.now()
                            + TimeDelta::from_std(wait).unwrap_or(self.settings.poll_interval),
                    );
                }
                Err(error) if error.is_outage() => {
                    return Outcome::Unreachable(format!("the source `{source_key}`: {error}"));
                }
                Err(error) => {
                    return Outcome::Reject(format!("the source `{source_key}`: {error}"));
                }
            }
        }
        run.target_id = Some(target.id);
        // What only the adapter's service can tell (the Power Platform's candidates, region,
        // retention, running operations); nothing is sent.
        let mut request = self.database_request(run);
        request.not_before = Some(run.window_start);
        match self.adapter.preflight(project, &request).await {
            Ok(()) => Outcome::Done,
            Err(AdapterError::Throttled(wait)) => self.throttled(wait),
            Err(error) if error.is_outage() => Outcome::Unreachable(error.to_string()),
            Err(error) => Outcome::Reject(error.to_string()),
        }
    }

    /// The prerequisite rule on the live release, where the plan did not declare one (so
    /// `validate` could not check it): the reprovisioning tool needs the release's hotfixes.
    pub(in crate::executor) fn missing_hotfixes(
        &self,
        target: &crate::adapter::EnvironmentFacts,
    ) -> Option<String> {
        let declared = self.plan.environment();
        let reprovisions = self
            .plan
            .run_steps()
            .iter()
            .any(|step| step.id.starts_with("reprovision."));
        if declared.release().is_some()
            || !reprovisions
            || !self.adapter.capabilities().release_prerequisites
        {
            return None;
        }
        let catalog = crate::rules::Catalog::embedded();
        let known = catalog.lookup(target.release.as_deref()?)?;
        let missing: Vec<&str> = catalog
            .requirements(&known)
            .iter()
            .filter(|kb| !declared.hotfixes().contains(kb))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{} says `{}` is on release {}, which needs {} before the reprovisioning tool, and the plan's `hotfixes` does not list them: apply them, declare the release and hotfixes in the plan, and validate it again",
                self.adapter.service_name(),
                target.name,
                target.release.as_deref().unwrap_or_default(),
                missing.join(", ")
            )
        })
    }
}

/// Where the plan's facts about an environment disagree with what the adapter reports: the
/// rules (prerequisites, production targets, same release) were checked against stale facts.
fn stale_facts(
    declared: &crate::plan::Environment,
    live: &crate::adapter::EnvironmentFacts,
    service: &str,
) -> Option<String> {
    let fix = "update the plan's facts and validate it again";
    if let (Some(declared), Some(live_kind)) = (declared.kind(), live.kind.kind())
        && declared != live_kind
    {
        return Some(format!(
            "the plan says `{}` is a {} environment; {service} says {}: {fix}",
            live.name,
            declared.as_str(),
            live_kind.as_str()
        ));
    }
    if let (Some(release), Some(live_release)) = (declared.release(), &live.release)
        && !same_release(release, live_release)
    {
        return Some(format!(
            "the plan says `{}` is on release {}; {service} says {live_release}: {fix}",
            live.name, release.text
        ));
    }
    None
}

/// Whether a declared release and the one LCS reports agree, at the precision both give
/// (`10.0` agrees with `10.0.41`; `1611` is `7.1` in LCS).
fn same_release(declared: &crate::plan::Release, live: &str) -> bool {
    let canonical = declared
        .known
        .as_ref()
        .map_or_else(|| declared.text.clone(), |known| known.version.to_string());
    let parts = |text: &str| -> Vec<String> {
        text.trim()
            .split('.')
            .map(|part| part.trim_start_matches('0').to_owned())
            .collect()
    };
    let (a, b) = (parts(&canonical), parts(live));
    let shared = a.len().min(b.len());
    shared > 0 && a[..shared] == b[..shared]
}
