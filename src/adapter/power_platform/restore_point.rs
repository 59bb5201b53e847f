//! Which time a restore is sent with, and whether the service still holds it
//! (power-platform-api.md 2.3, 2.5, 4.4): backups of a production environment are kept 28 days,
//! of any other 7; a point in the future or older than that is refused before anything is sent.

use chrono::{DateTime, TimeDelta, Utc};

use crate::plan::EnvironmentType;

/// How far behind now `latest` restores: system backups are continuous, but a moment needs
/// time to become restorable (a manual backup "might take up to 10 minutes").
pub const LATEST_MARGIN: TimeDelta = TimeDelta::minutes(15);

/// How long the backups of an environment of this type are kept: 28 days for production (with
/// Dynamics 365 apps, as every F&O production environment is), 7 for any other.
#[must_use]
pub fn retention_of(source: Option<EnvironmentType>) -> TimeDelta {
    match source {
        Some(EnvironmentType::Production) => TimeDelta::days(28),
        _ => TimeDelta::days(7),
    }
}

/// The time to restore to: `requested`, or for `latest` (none) now less [`LATEST_MARGIN`];
/// refused when it is in the future or older than the source's retention (`source_kind` is
/// the source's live type).
pub fn restore_point(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    source_kind: Option<EnvironmentType>,
    source_name: &str,
) -> Result<DateTime<Utc>, String> {
    let point = requested.unwrap_or(now - LATEST_MARGIN);
    if point > now {
        return Err(format!(
            "the restore point {} is in the future",
            crate::plan::time::format_utc(point)
        ));
    }
    let retention = retention_of(source_kind);
    let earliest = now - retention;
    if point < earliest {
        return Err(format!(
            "the restore point {} is older than the {} days the backups of `{source_name}` are kept (a {} environment): the earliest point is {}",
            crate::plan::time::format_utc(point),
            retention.num_days(),
            source_kind.map_or("non-production", EnvironmentType::as_str),
            crate::plan::time::format_utc(earliest)
        ));
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (requested, source type, the point sent or the start of the refusal)
    type Row<'a> = (
        Option<&'a str>,
        Option<EnvironmentType>,
        Result<&'a str, &'a str>,
    );

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn retention_is_28_days_from_production_and_7_otherwise() {
        assert_eq!(
            retention_of(Some(EnvironmentType::Production)),
            TimeDelta::days(28)
        );
        for kind in [
            Some(EnvironmentType::Sandbox),
            Some(EnvironmentType::Development),
            Some(EnvironmentType::Build),
            None,
        ] {
            assert_eq!(retention_of(kind), TimeDelta::days(7), "{kind:?}");
        }
    }

    #[test]
    fn restore_points_are_resolved_and_checked_against_retention() {
        let now = at("2026-12-01T12:00:00Z");
        let production = Some(EnvironmentType::Production);
        let sandbox = Some(EnvironmentType::Sandbox);
        // (requested, source type, the point sent or the start of the refusal)
        let table: [Row<'_>; 9] = [
            (None, production, Ok("2026-12-01T11:45:00Z")),
            (None, sandbox, Ok("2026-12-01T11:45:00Z")),
            (
                Some("2026-12-01T06:00:00Z"),
                sandbox,
                Ok("2026-12-01T06:00:00Z"),
            ),
            (
                Some("2026-12-01T12:00:00Z"),
                sandbox,
                Ok("2026-12-01T12:00:00Z"),
            ),
            (
                Some("2026-11-24T12:00:00Z"),
                sandbox,
                Ok("2026-11-24T12:00:00Z"),
            ),
            (
                Some("2026-11-24T11:59:59Z"),
                sandbox,
                Err("the restore point 2026-11-24T11:59:59Z is older than the 7 days"),
            ),
            (
                Some("2026-11-10T00:00:00Z"),
                production,
                Ok("2026-11-10T00:00:00Z"),
            ),
            (
                Some("2026-11-03T11:00:00Z"),
                production,
                Err("the restore point 2026-11-03T11:00:00Z is older than the 28 days"),
            ),
            (
                Some("2026-12-01T12:00:01Z"),
                production,
                Err("the restore point 2026-12-01T12:00:01Z is in the future"),
            ),
        ];
        for (requested, kind, expected) in table {
            let got = restore_point(requested.map(at), now, kind, "contoso-prod");
            match (expected, got) {
                (Ok(point), Ok(got)) => assert_eq!(got, at(point), "{requested:?}"),
                (Err(start), Err(message)) => {
                    assert!(message.starts_with(start), "{requested:?}: {message}");
                }
                (expected, got) => panic!("{requested:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}
