//! Times and durations as plans write them: RFC 3339 with an offset, humantime durations.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta, Utc};

/// Parses an RFC 3339 time that has an offset (`Z` or `+01:00`).
pub fn parse_time(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text).map_err(|_| {
        let without_offset = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
            .iter()
            .any(|format| NaiveDateTime::parse_from_str(text, format).is_ok());
        if without_offset {
            format!("`{text}` has no offset; a time must say which zone it is in")
        } else {
            format!("`{text}` is not an RFC 3339 time")
        }
    })
}

/// The help text for a time that did not parse.
pub const TIME_HELP: &str = "write an RFC 3339 time with an offset, such as 2026-12-05T22:00:00+01:00 or 2026-12-05T21:00:00Z";

/// Parses a humantime duration such as `90m`, `3h`, `1h 30m` or `2d`.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|error| format!("`{text}` is not a duration: {error}"))?;
    TimeDelta::from_std(parsed).map_err(|_| format!("`{text}` is longer than any window could be"))
}

/// The help text for a duration that did not parse.
pub const DURATION_HELP: &str = "write a duration such as 90m, 3h, \"1h 30m\" or 2d";

/// Formats a duration the way plans write them: days from 3 days up (`28d`, `34d 21h`),
/// otherwise hours and minutes (`48h`, `1h 30m`, `45m`).
#[must_use]
pub fn format_duration(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds().max(0);
    let (days, hours, minutes, rest) = (
        seconds / 86_400,
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    let mut parts = Vec::new();
    let hours = if days >= 3 {
        parts.push(format!("{days}d"));
        hours % 24
    } else {
        hours
    };
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if rest > 0 || parts.is_empty() {
        parts.push(format!("{rest}s"));
    }
    parts.join(" ")
}

/// Formats a UTC time as RFC 3339 with `Z` and no fractions.
#[must_use]
pub fn format_utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_need_an_offset() {
        assert!(parse_time("2026-12-05T22:00:00+01:00").is_ok());
        assert!(parse_time("2026-12-05T21:00:00Z").is_ok());
        let error = parse_time("2026-12-05T22:00:00").expect_err("no offset");
        assert!(error.contains("has no offset"), "{error}");
        let error = parse_time("next saturday").expect_err("not a time");
        assert!(error.contains("not an RFC 3339 time"), "{error}");
    }

    #[test]
    fn durations_in_plan_spellings() {
        for (text, minutes) in [("90m", 90), ("3h", 180), ("1h 30m", 90), ("2d", 2880)] {
            assert_eq!(
                parse_duration(text),
                Ok(TimeDelta::minutes(minutes)),
                "{text}"
            );
        }
        assert!(parse_duration("three hours").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(TimeDelta::minutes(90)), "1h 30m");
        assert_eq!(format_duration(TimeDelta::hours(48)), "48h");
        assert_eq!(format_duration(TimeDelta::days(28)), "28d");
        assert_eq!(format_duration(TimeDelta::hours(837)), "34d 21h");
        assert_eq!(format_duration(TimeDelta::minutes(45)), "45m");
        assert_eq!(format_duration(TimeDelta::zero()), "0s");
    }
}
