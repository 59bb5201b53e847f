//! Rules that protect data: `acknowledgements`, `unsupported-database`, `production-target`,
//! `same-source-target`.

use super::context::PlanContext;
use super::{Findings, Rule};
use crate::plan::{Acknowledgement, Database, EnvironmentType};

pub fn check(context: &PlanContext<'_>, findings: &mut Findings) {
    let raw = context.raw;
    for statement in Acknowledgement::ALL {
        let given = raw
            .acknowledge
            .value
            .iter()
            .any(|acknowledgement| acknowledgement.value == statement);
        if !given {
            findings.push(
                Rule::Acknowledgements,
                raw.acknowledge.place,
                format!("`{}` is not acknowledged", statement.as_str()),
                format!(
                    "add `{}` to `acknowledge` to accept that {}",
                    statement.as_str(),
                    statement.statement()
                ),
            );
        }
    }
    if let Some(database) = &raw.database
        && matches!(
            database.value,
            Database::EntityStore | Database::FinancialReporting
        )
    {
        findings.push(
            Rule::UnsupportedDatabase,
            database.place,
            format!(
                "the `{}` database cannot be refreshed or restored",
                database.value.as_str()
            ),
            "only the F&O database (`finance-operations`) is copied; the Entity store and \
             Financial reporting are rebuilt or reset afterwards",
        );
    }
    if let Some(kind) = &raw.environment.value.kind
        && kind.value == EnvironmentType::Production
    {
        findings.push(
            Rule::ProductionTarget,
            kind.place,
            format!(
                "the target `{}` is a production environment",
                raw.environment.value.name.value
            ),
            "the target's database is erased; a production environment is never a refresh target",
        );
    }
    if let (Some(target), Some(Some(source))) =
        (&context.resolved.environment, &context.resolved.source)
        && target.same_as(source)
    {
        let raw_source = raw.source.as_ref().map(|source| &source.value);
        let same_name = target.name().eq_ignore_ascii_case(source.name());
        let place = raw_source.and_then(|source| {
            if same_name {
                source.name.place
            } else {
                source.id.as_ref().and_then(|id| id.place)
            }
        });
        findings.push(
            Rule::SameSourceTarget,
            place,
            format!(
                "the source `{}` is the target environment itself",
                source.name()
            ),
            "a refresh copies another environment's database; for a restore of the target's own \
             database, remove `source` and set `point_in_time`",
        );
    }
}
