//! The moment a database is restored to: `latest`, an absolute time, or a time before the window.

use chrono::{DateTime, TimeDelta, Utc};

use super::time::{format_duration, format_utc, parse_duration, parse_time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInTime {
    /// The newest state of the database when the operation runs.
    Latest,
    At(DateTime<Utc>),
    /// This long before the window starts (written `-6h`).
    BeforeStart(TimeDelta),
}

impl PointInTime {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "latest" {
            return Ok(Self::Latest);
        }
        if let Some(before) = text.strip_prefix('-') {
            return parse_duration(before).map(Self::BeforeStart);
        }
        parse_time(text)
            .map(|time| Self::At(time.with_timezone(&Utc)))
            .map_err(|error| {
                format!("{error}; expected `latest`, a time, or a duration such as -6h")
            })
    }

    /// The time restored to for a window starting at `start`; `None` for latest. A time before
    /// the window further back than can be held is the earliest that can (a checked plan's is at
    /// most 100 years back; the `point-in-time` rule refuses anything beyond the retention).
    #[must_use]
    pub fn resolve(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Latest => None,
            Self::At(time) => Some(time),
            Self::BeforeStart(before) => Some(
                start
                    .checked_sub_signed(before)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            ),
        }
    }

    /// In words, for previews: "the latest state", "its state at …", "its state 6h before the
    /// window starts".
    #[must_use]
    pub fn in_words(self) -> String {
        match self {
            Self::Latest => "its latest state".into(),
            Self::At(time) => format!("its state at {}", format_utc(time)),
            Self::BeforeStart(before) => {
                format!(
                    "its state {} before the window starts",
                    format_duration(before)
                )
            }
        }
    }

    /// As the plan would write it.
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            Self::Latest => "latest".into(),
            Self::At(time) => format_utc(time),
            Self::BeforeStart(before) => format!("-{}", format_duration(before)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms() {
        assert_eq!(PointInTime::parse("latest"), Ok(PointInTime::Latest));
        assert_eq!(
            PointInTime::parse("-6h"),
            Ok(PointInTime::BeforeStart(TimeDelta::hours(6)))
        );
        let at = PointInTime::parse("2026-12-01T10:00:00+01:00").expect("absolute");
        assert_eq!(at.describe(), "2026-12-01T09:00:00Z");
        assert!(PointInTime::parse("yesterday").is_err());
        assert!(PointInTime::parse("-soon").is_err());
        assert!(PointInTime::parse("2026-12-01T10:00:00").is_err());
    }

    #[test]
    fn relative_points_resolve_against_the_window() {
        let start = DateTime::parse_from_rfc3339("2026-12-05T21:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let point = PointInTime::BeforeStart(TimeDelta::hours(6));
        assert_eq!(
            point.resolve(start).map(format_utc).as_deref(),
            Some("2026-12-05T15:00:00Z")
        );
        assert_eq!(PointInTime::Latest.resolve(start), None);
        assert_eq!(
            PointInTime::BeforeStart(TimeDelta::MAX).resolve(start),
            Some(DateTime::<Utc>::MIN_UTC)
        );
        assert!(PointInTime::parse("-1000000000d").is_err());
        assert!(PointInTime::parse("-300000y").is_err());
        assert!(PointInTime::parse("0001-01-01T00:00:00Z").is_err());
    }
}
