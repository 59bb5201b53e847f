//! Times and durations as plans write them: RFC 3339 with an offset, humantime durations.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta, Utc};

/// The earliest time a plan, a window or a submission may have: 1970-01-01T00:00:00Z.
pub const EARLIEST: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

/// The latest: 9999-12-31T23:59:59Z, the last second RFC 3339 can write (and the state store
/// read back).
pub const LATEST: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(time) => time,
    None => DateTime::<Utc>::MAX_UTC,
};

/// The longest duration a plan may give (a window, a lead time, a point in time before the
/// window, a timeout): 100 years. Anything longer is a typo, and bounding it keeps every sum of
/// a time and a duration far inside what `chrono` can hold.
pub const MAX_DURATION: TimeDelta = TimeDelta::days(36_525);

/// Whether `time` is within [`EARLIEST`, `LATEST`].
#[must_use]
pub fn in_range(time: DateTime<Utc>) -> bool {
    (EARLIEST..=LATEST).contains(&time)
}

/// `time + delta`, when the sum is within [`EARLIEST`, `LATEST`].
#[must_use]
pub fn add_in_range(time: DateTime<Utc>, delta: TimeDelta) -> Option<DateTime<Utc>> {
    time.checked_add_signed(delta).filter(|sum| in_range(*sum))
}

/// `time - delta`, when the difference is within [`EARLIEST`, `LATEST`].
#[must_use]
pub fn sub_in_range(time: DateTime<Utc>, delta: TimeDelta) -> Option<DateTime<Utc>> {
    time.checked_sub_signed(delta).filter(|sum| in_range(*sum))
}

/// The message for a time outside [`EARLIEST`, `LATEST`]; `what` names it ("the window end").
#[must_use]
pub fn out_of_range(what: &str) -> String {
    format!("{what} is out of range: times must fall between 1970-01-01 and 9999-12-31 (UTC)")
}

/// Parses an RFC 3339 time that has an offset (`Z` or `+01:00`), between 1970 and 9999 in UTC.
pub fn parse_time(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    let time = parse_rfc3339(text)?;
    if in_range(time.with_timezone(&Utc)) {
        Ok(time)
    } else {
        Err(out_of_range(&format!("`{text}`")))
    }
}

fn parse_rfc3339(text: &str) -> Result<DateTime<FixedOffset>, String> {
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
    let out_of_range = || {
        format!(
            "`{}` is out of range: a duration may be at most 100 years",
            text.trim()
        )
    };
    // humantime panics on some sums near `u64::MAX` seconds (`18446744073709551615s 1000000000ns`):
    // anything that could come near is refused before it is parsed.
    if rough_seconds(text) > 1_000_000_000_000_000 {
        return Err(out_of_range());
    }
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|error| format!("`{text}` is not a duration: {error}"))?;
    TimeDelta::from_std(parsed)
        .ok()
        .filter(|duration| *duration <= MAX_DURATION)
        .ok_or_else(out_of_range)
}

/// An upper bound of the seconds a humantime duration means: each number times its unit (a
/// year where the unit is unknown; one unit for a fraction), summed without overflow.
fn rough_seconds(text: &str) -> u128 {
    let mut total: u128 = 0;
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let fraction = rest[..start].ends_with('.');
        let digits = &rest[start..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        let number: u128 = if fraction {
            1
        } else {
            digits[..end].parse().unwrap_or(u128::MAX)
        };
        let after = digits[end..]
            .trim_start_matches(|c: char| c.is_whitespace() || c == '.' || c.is_ascii_digit());
        let unit_end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let unit: u128 = match &after[..unit_end] {
            "nanos" | "nsec" | "ns" | "usec" | "us" | "µs" | "millis" | "msec" | "ms"
            | "seconds" | "second" | "secs" | "sec" | "s" => 1,
            "minutes" | "minute" | "min" | "mins" | "m" => 60,
            "hours" | "hour" | "hr" | "hrs" | "h" => 3_600,
            "days" | "day" | "d" => 86_400,
            "weeks" | "week" | "wk" | "wks" | "w" => 604_800,
            "months" | "month" | "M" => 2_630_016,
            _ => 31_557_600,
        };
        total = total.saturating_add(number.saturating_mul(unit));
        rest = &digits[end..];
    }
    total
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
    UtcText::new(time).as_str().to_owned()
}

/// A UTC time as [`format_utc`] writes it, made without the heap for four-digit years: chrono's
/// `format` parses its pattern on every call, and `runs --format json` shows some thirty times
/// of each of 10,000 runs (it was a quarter of its instructions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtcText {
    /// `2026-12-05T21:00:00Z`.
    Short([u8; 20]),
    /// A year before 0 or after 9999, as chrono writes it.
    Long(String),
}

impl UtcText {
    #[must_use]
    pub fn new(time: DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        let Ok(year) = u32::try_from(time.year()) else {
            return Self::Long(time.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        };
        if year > 9999 {
            return Self::Long(time.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        let mut bytes = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, value: u32| {
            let mut value = value;
            for index in (at..at + width).rev() {
                bytes[index] = b'0' + u8::try_from(value % 10).unwrap_or(0);
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, time.month());
        put(8, 2, time.day());
        put(11, 2, time.hour());
        put(14, 2, time.minute());
        put(17, 2, time.second());
        Self::Short(bytes)
    }

    /// The text's bytes, without checking the short form's digits again as UTF-8 (that check
    /// was a twentieth of `runs --format json`).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Short(bytes) => bytes,
            Self::Long(text) => text.as_bytes(),
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Short(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
            Self::Long(text) => text,
        }
    }
}

impl serde::Serialize for UtcText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_are_formatted_as_chrono_would() {
        for text in [
            "2026-12-05T21:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "1969-07-20T20:17:40.5Z",
        ] {
            let time = DateTime::parse_from_rfc3339(text).expect("a time").to_utc();
            assert_eq!(
                format_utc(time),
                time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
        }
        for time in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            assert_eq!(
                format_utc(time),
                time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
        }
    }

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
    fn times_and_durations_out_of_range_are_refused() {
        for text in [
            "1969-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-00:01",
            "1970-01-01T00:30:00+01:00",
        ] {
            let error = parse_time(text).expect_err(text);
            assert!(error.contains("is out of range"), "{text}: {error}");
        }
        for text in [
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59+01:00",
        ] {
            assert!(parse_time(text).is_ok(), "{text}");
        }
        for text in [
            "1000000000d",
            "300000y",
            "101y",
            "36526d",
            "18446744073709551615s",
            // humantime itself panics on this one (a carry of nanoseconds past `u64::MAX`).
            "18446744073709551615s 1000000000ns",
            "18446744073709551614s 1999999999ns",
            "999999999999999999999999s",
            "584542046090y 1s",
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains("is out of range"), "{text}: {error}");
        }
        assert_eq!(parse_duration("36525d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("100y"), Ok(MAX_DURATION));
        assert_eq!(
            parse_duration("99.5y 1000000000ns").map(|d| d.num_days()),
            Ok(36_342)
        );
        assert_eq!(parse_duration("1.5h"), Ok(TimeDelta::minutes(90)));
        assert_eq!(LATEST.to_rfc3339(), "9999-12-31T23:59:59+00:00");
        assert_eq!(add_in_range(LATEST, TimeDelta::seconds(1)), None);
        assert_eq!(sub_in_range(EARLIEST, TimeDelta::seconds(1)), None);
        assert_eq!(add_in_range(LATEST, TimeDelta::MAX), None);
        assert_eq!(sub_in_range(EARLIEST, TimeDelta::MIN), None);
        assert_eq!(add_in_range(EARLIEST, TimeDelta::zero()), Some(EARLIEST));
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
