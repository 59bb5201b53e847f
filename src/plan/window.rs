//! Downtime windows: fixed, or recurring by cron in an IANA zone.
//!
//! Recurring windows are expanded in their zone. Daylight-saving changes follow cron convention
//! (croner implements it): a start in a skipped hour runs at the first valid time after it, and a
//! start in a repeated hour runs once.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, CronIterator, Direction};

/// One window: when the target goes offline and when it must be back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Occurrence {
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The zone times are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// A fixed window's own offset, when the plan names no zone.
    Offset(FixedOffset),
    Named(Tz),
}

impl Zone {
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Offset(offset) => offset.to_string(),
            Self::Named(zone) => zone.name().to_owned(),
        }
    }

    /// The time in this zone, RFC 3339.
    #[must_use]
    pub fn show(&self, time: DateTime<Utc>) -> String {
        let format = "%Y-%m-%dT%H:%M:%S%:z";
        match self {
            Self::Offset(offset) => time.with_timezone(offset).format(format).to_string(),
            Self::Named(zone) => time.with_timezone(zone).format(format).to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Window {
    Fixed {
        occurrence: Occurrence,
        zone: Zone,
    },
    Recurring {
        /// The parsed expression, shared: it takes 5 KB (croner keeps a byte per year of its
        /// range), and a plan's window is copied into its checks and summaries. `None` once the
        /// plan has let it go ([`Window::without_parsed_cron`]): each expansion then parses the
        /// pattern for itself.
        cron: Option<Arc<Cron>>,
        /// The cron expression as the plan wrote it (croner normalises its own copy).
        pattern: String,
        zone: Tz,
        duration: TimeDelta,
    },
}

impl Window {
    #[must_use]
    pub fn zone(&self) -> Zone {
        match self {
            Self::Fixed { zone, .. } => *zone,
            Self::Recurring { zone, .. } => Zone::Named(*zone),
        }
    }

    #[must_use]
    pub fn duration(&self) -> TimeDelta {
        match self {
            Self::Fixed { occurrence, .. } => occurrence.end - occurrence.start,
            Self::Recurring { duration, .. } => *duration,
        }
    }

    #[must_use]
    pub fn is_recurring(&self) -> bool {
        matches!(self, Self::Recurring { .. })
    }

    /// The cron pattern of a recurring window.
    #[must_use]
    pub fn cron_pattern(&self) -> Option<&str> {
        match self {
            Self::Fixed { .. } => None,
            Self::Recurring { pattern, .. } => Some(pattern),
        }
    }

    /// The same window without its parsed cron expression, which takes 5 KB: `tick` and
    /// `daemon` keep thousands of plans and expand each window about once a pass, where a parse
    /// costs about as much as the copy of the expression that every expansion makes anyway.
    #[must_use]
    pub fn without_parsed_cron(self) -> Self {
        match self {
            Self::Recurring {
                pattern,
                zone,
                duration,
                ..
            } => Self::Recurring {
                cron: None,
                pattern,
                zone,
                duration,
            },
            fixed @ Self::Fixed { .. } => fixed,
        }
    }

    /// Windows starting at or after `from`, in order. A fixed window yields itself once (if it
    /// starts at or after `from`). The expansion stops at the first window whose end could not
    /// be held (never the case for a checked plan, whose durations are at most 100 years).
    #[must_use]
    pub fn occurrences_from(
        &self,
        from: DateTime<Utc>,
    ) -> Box<dyn Iterator<Item = Occurrence> + '_> {
        match self {
            Self::Fixed { occurrence, .. } => Box::new(
                (occurrence.start >= from)
                    .then_some(*occurrence)
                    .into_iter(),
            ),
            Self::Recurring {
                cron,
                pattern,
                zone,
                duration,
            } => {
                // Every occurrence falls within `CRON_YEARS`, inside the range of plan times;
                // moving `from` into that range changes nothing and keeps the conversion to the
                // zone's local time from overflowing at the ends of `chrono`'s range.
                if from > super::time::LATEST {
                    return Box::new(std::iter::empty());
                }
                let from = from.max(super::time::EARLIEST);
                let duration = *duration;
                // The iterator owns its expression: a copy of the one held (as croner's
                // `iter_from` makes), or one parsed for it. A checked plan's pattern parses.
                let cron = match cron {
                    Some(cron) => Cron::clone(cron),
                    None => match parse_uncached(pattern) {
                        Ok(cron) => cron,
                        Err(_) => return Box::new(std::iter::empty()),
                    },
                };
                Box::new(
                    CronIterator::new(cron, from.with_timezone(zone), true, Direction::Forward)
                        .map_while(move |start| {
                            let start = start.with_timezone(&Utc);
                            Some(Occurrence {
                                start,
                                end: start.checked_add_signed(duration)?,
                            })
                        }),
                )
            }
        }
    }

    /// Whether windows start at most once a calendar day: a fixed window, or a cron with one
    /// minute and one hour (daylight-saving changes move such a start, never double it).
    #[must_use]
    pub fn at_most_daily(&self) -> bool {
        match self {
            Self::Fixed { .. } => true,
            Self::Recurring { pattern, .. } => cron_at_most_daily(pattern),
        }
    }

    /// Windows that start within `[from, until)`.
    #[must_use]
    pub fn occurrences_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<Occurrence> {
        self.occurrences_from(from)
            .take_while(|occurrence| occurrence.start < until)
            .collect()
    }
}

/// The years recurring windows are expanded in. croner fills one bit per year of its range on
/// every parse (5,000 of them for `*`, about 250,000 instructions); a bounded range makes a parse
/// twenty times cheaper. No window of a plan starts before 1970 or after 2199.
pub const CRON_YEARS: &str = "1970-2199";

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week).
///
/// A parsed expression is shared by every plan that holds it: plan sets repeat patterns, and
/// `tick` and `daemon` check the same plans again and again. The table of shared expressions
/// holds them weakly, so an expression no plan holds any more is freed (`validate` keeps no
/// plan, and a parsed expression takes 5 KB: a process-wide table of strong references grew
/// with the plans, by 18 MB over 10,000 generated plans). Errors are not kept.
pub fn parse_cron(pattern: &str) -> Result<Arc<Cron>, String> {
    static PARSED: LazyLock<Mutex<SharedCrons>> = LazyLock::new(Mutex::default);
    let pattern = pattern.trim();
    let fields = pattern.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "`{pattern}` has {fields} fields; a plan's cron expression has exactly 5 (minute hour \
             day-of-month month day-of-week)"
        ));
    }
    let shared = PARSED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern);
    if let Some(cron) = shared {
        return Ok(cron);
    }
    let cron = Arc::new(parse_uncached(pattern)?);
    PARSED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(pattern, &cron);
    Ok(cron)
}

/// A trimmed 5-field pattern parsed on its own, shared with nothing (see [`parse_cron`]).
fn parse_uncached(pattern: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .build()
        .parse(&format!("0 {pattern} {CRON_YEARS}"))
        .map_err(|error| format!("`{pattern}` is not a valid cron expression: {error}"))
}

/// Parsed cron expressions by text, held weakly: an entry lives as long as some plan holds its
/// expression. Entries whose expression was freed are swept when the table has doubled since
/// the last sweep, so the table stays the size of the expressions in use.
#[derive(Default)]
struct SharedCrons {
    by_pattern: HashMap<String, Weak<Cron>>,
    sweep_at: usize,
}

impl SharedCrons {
    fn get(&self, pattern: &str) -> Option<Arc<Cron>> {
        self.by_pattern.get(pattern).and_then(Weak::upgrade)
    }

    fn insert(&mut self, pattern: &str, cron: &Arc<Cron>) {
        if self.by_pattern.len() >= self.sweep_at {
            self.by_pattern.retain(|_, cron| cron.strong_count() > 0);
            self.sweep_at = (self.by_pattern.len() * 2).max(64);
        }
        self.by_pattern
            .insert(pattern.to_owned(), Arc::downgrade(cron));
    }
}

/// Whether a cron pattern starts at most once a calendar day: one minute and one hour
/// (daylight-saving changes move such a start, never double it).
#[must_use]
pub fn cron_at_most_daily(pattern: &str) -> bool {
    let mut fields = pattern.split_whitespace();
    let single = |field: Option<&str>| {
        field.is_some_and(|field| field.bytes().all(|byte| byte.is_ascii_digit()))
    };
    single(fields.next()) && single(fields.next())
}

/// Parses an IANA zone name such as `Europe/Amsterdam`.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name.trim()).map_err(|_| format!("`{name}` is not an IANA time zone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn recurring(pattern: &str, zone: &str) -> Window {
        Window::Recurring {
            cron: Some(parse_cron(pattern).expect("cron")),
            pattern: pattern.to_owned(),
            zone: parse_zone(zone).expect("zone"),
            duration: TimeDelta::hours(3),
        }
    }

    fn starts(window: &Window, from: &str, count: usize) -> Vec<String> {
        window
            .occurrences_from(utc(from))
            .take(count)
            .map(|occurrence| super::super::time::format_utc(occurrence.start))
            .collect()
    }

    #[test]
    fn weekly_window_keeps_local_time_across_dst_in_amsterdam() {
        // Europe/Amsterdam leaves summer time on 2026-10-25 (UTC+2 to UTC+1).
        let window = recurring("0 22 * * SAT", "Europe/Amsterdam");
        assert_eq!(
            starts(&window, "2026-10-15T00:00:00Z", 3),
            [
                "2026-10-17T20:00:00Z",
                "2026-10-24T20:00:00Z",
                "2026-10-31T21:00:00Z"
            ]
        );
    }

    #[test]
    fn start_in_a_skipped_hour_runs_at_the_first_valid_time_after_it() {
        // New York skips 02:00-03:00 on 2027-03-14; 02:30 runs at 03:00 EDT (07:00Z).
        let window = recurring("30 2 * * *", "America/New_York");
        assert_eq!(
            starts(&window, "2027-03-13T00:00:00Z", 3),
            [
                "2027-03-13T07:30:00Z",
                "2027-03-14T07:00:00Z",
                "2027-03-15T06:30:00Z"
            ]
        );
    }

    #[test]
    fn start_in_a_repeated_hour_runs_once() {
        // New York repeats 01:00-02:00 on 2026-11-01; 01:30 runs once, at the first pass (EDT).
        let window = recurring("30 1 * * *", "America/New_York");
        assert_eq!(
            starts(&window, "2026-10-31T00:00:00Z", 3),
            [
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z"
            ]
        );
    }

    #[test]
    fn amsterdam_spring_forward_gap() {
        // Amsterdam skips 02:00-03:00 on 2027-03-28; 02:15 runs at 03:00 CEST (01:00Z).
        let window = recurring("15 2 * * SUN", "Europe/Amsterdam");
        assert_eq!(
            starts(&window, "2027-03-20T00:00:00Z", 2),
            ["2027-03-21T01:15:00Z", "2027-03-28T01:00:00Z"]
        );
    }

    #[test]
    fn at_most_daily_windows() {
        assert!(recurring("0 22 * * SAT", "UTC").at_most_daily());
        assert!(recurring("30 2 * * *", "America/New_York").at_most_daily());
        assert!(!recurring("0 */4 * * *", "UTC").at_most_daily());
        assert!(!recurring("0,30 2 * * *", "UTC").at_most_daily());
        assert!(!recurring("0 1-3 * * *", "UTC").at_most_daily());
    }

    #[test]
    fn a_parsed_cron_is_shared_while_held_and_freed_after() {
        let pattern = "17 3 * * TUE";
        let first = parse_cron(pattern).expect("cron");
        let second = parse_cron(&format!(" {pattern} ")).expect("cron");
        assert!(Arc::ptr_eq(&first, &second), "held: one parsed expression");
        let weak = Arc::downgrade(&first);
        drop((first, second));
        assert_eq!(weak.strong_count(), 0, "the table does not keep it alive");
        let again = parse_cron(pattern).expect("parsed again");
        let from = utc("2026-12-01T00:00:00Z").with_timezone(&Tz::UTC);
        assert_eq!(
            again
                .iter_from(from, Direction::Forward)
                .next()
                .map(|start| start.to_rfc3339()),
            Some("2026-12-01T03:17:00+00:00".to_owned())
        );
    }

    #[test]
    fn bad_cron_and_zone_are_refused() {
        assert!(parse_cron("0 22 * *").is_err());
        assert!(
            parse_cron("0 0 22 * * SAT").is_err(),
            "six fields (seconds) are not plan cron"
        );
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_zone("Europe/Atlantis").is_err());
        assert!(parse_zone("UTC").is_ok());
        let error = parse_cron("@weekly").expect_err("nicknames are not 5 fields");
        assert!(error.contains("has 1 fields"), "{error}");
    }

    #[test]
    fn occurrences_stop_after_the_last_supported_year() {
        let window = recurring("0 0 1 1 *", "UTC");
        let starts = starts(&window, "2198-06-01T00:00:00Z", 5);
        assert_eq!(starts, ["2199-01-01T00:00:00Z"]);
    }

    #[test]
    fn an_end_that_cannot_be_held_stops_the_expansion() {
        let window = Window::Recurring {
            cron: Some(parse_cron("0 22 * * SAT").expect("cron")),
            pattern: "0 22 * * SAT".into(),
            zone: Tz::UTC,
            duration: TimeDelta::MAX,
        };
        assert_eq!(
            window.occurrences_from(utc("2026-01-01T00:00:00Z")).count(),
            0
        );
    }

    #[test]
    fn expansion_from_the_ends_of_time_does_not_overflow() {
        for zone in ["America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"] {
            let window = recurring("0 0 * * *", zone);
            assert_eq!(
                starts(&window, "1970-01-01T00:00:00Z", 1),
                starts(&window, "1969-01-01T00:00:00Z", 1)
            );
            assert!(
                window
                    .occurrences_from(DateTime::<Utc>::MIN_UTC)
                    .next()
                    .is_some()
            );
            assert_eq!(window.occurrences_from(DateTime::<Utc>::MAX_UTC).count(), 0);
        }
    }

    #[test]
    fn fixed_window_yields_itself_once() {
        let occurrence = Occurrence {
            start: utc("2026-12-05T21:00:00Z"),
            end: utc("2026-12-06T00:00:00Z"),
        };
        let window = Window::Fixed {
            occurrence,
            zone: Zone::Named(Tz::UTC),
        };
        assert_eq!(
            window.occurrences_from(utc("2026-12-01T00:00:00Z")).count(),
            1
        );
        assert_eq!(
            window.occurrences_from(utc("2026-12-06T00:00:00Z")).count(),
            0
        );
    }
}
