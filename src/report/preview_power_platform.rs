//! The preview of a plan run through the Power Platform API: the calls each step makes there,
//! what the API cannot do (said in the step, as `validate` says it in a diagnostic), and what a
//! unified copy or restore changes. It rewrites the parts of the LCS preview that differ.

use super::preview::Preview;
use crate::plan::{Plan, Service, reset_financial_reporting_instructions};

/// Whether the preview is for the Power Platform: the adapter chosen, or (none chosen) the
/// plan's `service:`, or (neither) a plan without an LCS project.
#[must_use]
pub fn applies(plan: &Plan, adapter: Option<crate::adapter::AdapterKind>) -> bool {
    match (adapter, plan.service()) {
        (Some(kind), _) => kind == crate::adapter::AdapterKind::PowerPlatform,
        (None, Some(service)) => service == Service::PowerPlatform,
        (None, None) => !plan.has_project(),
    }
}

/// Rewrites `preview` for the Power Platform.
pub fn adapt(preview: &mut Preview, plan: &Plan) {
    let base = "environmentmanagement/environments";
    let target = plan.environment().name();
    let options = plan.power_platform();
    let restore = plan.source().is_none() || preview.point_in_time != "latest";
    let candidates = if restore {
        "restoreCandidates"
    } else {
        "copyCandidates"
    };
    for step in &mut preview.steps {
        let kind = step.id.split(['.', '#']).next().unwrap_or_default();
        match kind {
            "preflight" => {
                step.description = format!(
                    "look up `{target}`{} in the Power Platform and check the live facts: the target is a sandbox or developer environment, both are linked to finance and operations and in one region, the target is a {} candidate of the source, {}no operation runs on the target; nothing is sent if one fails",
                    plan.source()
                        .map(|source| format!(" and `{}`", source.name()))
                        .unwrap_or_default(),
                    if restore { "restore" } else { "copy" },
                    if restore {
                        "the restore point is within the source's retention (28 days from production, 7 otherwise) and not in the future, "
                    } else {
                        ""
                    }
                );
                step.calls = vec![
                    format!("GET {base}?api-version=…"),
                    format!("GET {base}/{{source id}}/{candidates}?api-version=…"),
                    format!("GET {base}/{{target id}}/operations?api-version=…"),
                ];
            }
            "start-refresh" | "start-restore" if restore => {
                step.description = match plan.source() {
                    Some(source) => format!(
                        "restore the database of `{}` as it was at the point in time into `{target}` (checked again live first); the target's database is erased",
                        source.name()
                    ),
                    None => format!(
                        "restore the database of `{target}` to its state at the point in time (checked again live first); changes after that point are lost"
                    ),
                };
                step.calls = vec![format!("POST {base}/{{target id}}/restore?api-version=…")];
            }
            "start-refresh" | "start-restore" => {
                step.description = format!(
                    "copy `{}` into `{target}` ({} copy{}; checked again live first); the target's database is erased",
                    plan.source().map_or(target, |source| source.name()),
                    options.copy_type.wire(),
                    if options.transaction_less {
                        ", transaction-less"
                    } else {
                        ""
                    }
                );
                step.calls = vec![format!("POST {base}/{{target id}}/copy?api-version=…")];
            }
            "monitor-refresh" | "monitor-restore" => {
                step.description = format!(
                    "poll the operation until it succeeds or fails, then report the target's administration mode{}",
                    if options.enable_after {
                        " and switch it off (as `enable_after` asks)"
                    } else {
                        ""
                    }
                );
                step.calls = vec![format!(
                    "GET {{operation URL}} or {base}/{{target id}}/operations/{{id}}"
                )];
            }
            "reprovision" | "deploy" => {
                step.description = format!(
                    "cannot run: the Power Platform API has no call for deployable packages (adapter-unsupported); deploy with `pac package deploy` instead. Was: {}",
                    step.description
                );
                step.calls = Vec::new();
            }
            // The operator's calls (Report designer, `approve`) stay as the outline has them.
            "reset-financial-reporting" => {
                step.description = format!(
                    "a manual step (the Power Platform API has no call for it either, and a rehearsal waits for it as a real run does): {}",
                    reset_financial_reporting_instructions(target)
                );
            }
            _ => {}
        }
    }
    adapt_effects(preview, plan, restore);
}

/// What a unified copy or restore changes, in place of the LCS effects.
fn adapt_effects(preview: &mut Preview, plan: &Plan, restore: bool) {
    let target = plan.environment().name();
    let options = plan.power_platform();
    let effects = &mut preview.effects;
    if restore && let Some(source) = plan.source() {
        effects.erased = vec![format!(
            "the {} database of `{target}`, replaced by the database of `{}` as it was at the point in time; it cannot be recovered",
            plan.database().as_str(),
            source.name()
        )];
    }
    effects.changed = vec![
        format!("`{target}` is left in administration mode with background operations disabled{}", if options.enable_after { "; administration mode is switched off afterwards" } else { "" }),
        "Microsoft does not document the F&O clean-up after a unified copy or restore; expect the LCS rules (users but Admin disabled, batch jobs withheld, email settings removed) and check".into(),
    ];
    if options.transaction_less && !restore {
        effects
            .changed
            .push("transaction tables are truncated (a transaction-less copy)".into());
    }
    effects.untouched = vec!["documents in Azure blob storage stay as they are".into()];
}
