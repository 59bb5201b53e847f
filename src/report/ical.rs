//! iCalendar (RFC 5545) for the downtime calendar: one `VEVENT` per window, text escaped and
//! lines folded as the RFC says, and a `VTIMEZONE` for each plan zone with the zone's real
//! transitions around the feed's range.

use chrono::{DateTime, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

/// What a calendar client shows of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Planned, not yet submitted: the window may still move.
    Tentative,
    /// Submitted (or under way, or over).
    Confirmed,
    /// Canceled, skipped or refused: the environment stays up.
    Cancelled,
}

impl EventStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tentative => "TENTATIVE",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One window.
#[derive(Debug, Clone)]
pub struct CalendarEvent {
    /// The run's id: stable for a window, so a client updates the event it already has.
    pub uid: String,
    /// When the event last changed (the run's last write, or when the feed was made).
    pub stamp: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: String,
    pub status: EventStatus,
    /// Bumped each time the event changed after it was first published.
    pub sequence: u32,
}

/// A whole feed.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub name: String,
    /// `X-WR-TIMEZONE`: the zone clients show the feed in.
    pub zone: Option<Tz>,
    /// A `VTIMEZONE` is written for each, with its transitions within `range`.
    pub zones: Vec<Tz>,
    pub range: (DateTime<Utc>, DateTime<Utc>),
    pub events: Vec<CalendarEvent>,
}

impl Calendar {
    /// The feed as RFC 5545 text: CRLF line ends, lines folded at 75 octets.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = Lines::default();
        out.line("BEGIN:VCALENDAR");
        out.line("VERSION:2.0");
        out.line(&format!(
            "PRODID:-//refreshctl//refreshctl {}//EN",
            env!("CARGO_PKG_VERSION")
        ));
        out.line("CALSCALE:GREGORIAN");
        out.line("METHOD:PUBLISH");
        out.property("X-WR-CALNAME", &text(&self.name));
        if let Some(zone) = self.zone {
            out.property("X-WR-TIMEZONE", zone.name());
        }
        for zone in &self.zones {
            vtimezone(&mut out, *zone, self.range);
        }
        for event in &self.events {
            out.line("BEGIN:VEVENT");
            out.property("UID", &text(&event.uid));
            out.property("DTSTAMP", &utc(event.stamp));
            out.property("DTSTART", &utc(event.start));
            out.property("DTEND", &utc(event.end));
            out.property("SUMMARY", &text(&event.summary));
            out.property("DESCRIPTION", &text(&event.description));
            out.property("STATUS", event.status.as_str());
            out.property("SEQUENCE", &event.sequence.to_string());
            // The environment is unavailable: busy time, whatever the status says.
            let busy = if event.status == EventStatus::Cancelled {
                "TRANSPARENT"
            } else {
                "OPAQUE"
            };
            out.property("TRANSP", busy);
            out.line("END:VEVENT");
        }
        out.line("END:VCALENDAR");
        out.0
    }
}

#[derive(Default)]
struct Lines(String);

impl Lines {
    fn property(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{value}"));
    }

    /// Folds a content line at 75 octets (RFC 5545 3.1), never inside a character.
    fn line(&mut self, line: &str) {
        let mut width = 0;
        for character in line.chars() {
            let octets = character.len_utf8();
            if width + octets > 75 {
                self.0.push_str("\r\n ");
                width = 1;
            }
            self.0.push(character);
            width += octets;
        }
        self.0.push_str("\r\n");
    }
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped; other
/// control characters, which the RFC does not allow, dropped.
#[must_use]
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            character if character.is_control() => {}
            character => out.push(character),
        }
    }
    out
}

/// `20261205T210000Z`.
fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `+0100`, `-0330`, `+054517` (seconds only when there are any).
fn offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.unsigned_abs();
    let (hours, minutes, rest) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if rest == 0 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}{rest:02}")
    }
}

/// One offset change of a zone: from which offset to which, at what instant.
struct Transition {
    at: DateTime<Utc>,
    from: i32,
    to: i32,
    daylight: bool,
    name: Option<String>,
}

fn offset_at(zone: Tz, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The zone's offset changes within `[from, until)`: looked for a day at a time, then narrowed
/// to the second (zones change offset at most a few times a year, never twice in a day).
fn transitions(zone: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Transition> {
    let mut found = Vec::new();
    let mut at = from;
    let mut current = offset_at(zone, at);
    while at < until {
        let Some(next) = at.checked_add_signed(TimeDelta::days(1)) else {
            break;
        };
        let next_offset = offset_at(zone, next);
        if next_offset != current {
            // The offset at `low` is `current`, at `high` it is not.
            let (mut low, mut high) = (at, next);
            while high - low > TimeDelta::seconds(1) {
                let middle = low + (high - low) / 2;
                if offset_at(zone, middle) == current {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            let after = zone.offset_from_utc_datetime(&high.naive_utc());
            found.push(Transition {
                at: high,
                from: current,
                to: after.fix().local_minus_utc(),
                daylight: after.dst_offset() != TimeDelta::zero(),
                name: after.abbreviation().map(str::to_owned),
            });
            current = after.fix().local_minus_utc();
        }
        at = next;
    }
    found
}

/// A `VTIMEZONE` with the zone's transitions from a year before the feed's range to a year after
/// it; a zone without any in that time gets one `STANDARD` with its offset.
fn vtimezone(out: &mut Lines, zone: Tz, (from, until): (DateTime<Utc>, DateTime<Utc>)) {
    let year = TimeDelta::days(366);
    let from = from.checked_sub_signed(year).unwrap_or(from);
    let until = until.checked_add_signed(year).unwrap_or(until);
    out.line("BEGIN:VTIMEZONE");
    out.property("TZID", zone.name());
    let found = transitions(zone, from, until);
    if found.is_empty() {
        let now = zone.offset_from_utc_datetime(&from.naive_utc());
        let seconds = now.fix().local_minus_utc();
        out.line("BEGIN:STANDARD");
        out.property("DTSTART", "19700101T000000");
        out.property("TZOFFSETFROM", &offset(seconds));
        out.property("TZOFFSETTO", &offset(seconds));
        if let Some(name) = now.abbreviation() {
            out.property("TZNAME", &text(name));
        }
        out.line("END:STANDARD");
    }
    for transition in found {
        let kind = if transition.daylight {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        // The onset in local time before the change (RFC 5545 3.6.5).
        let local: NaiveDateTime =
            transition.at.naive_utc() + TimeDelta::seconds(i64::from(transition.from));
        out.line(&format!("BEGIN:{kind}"));
        out.property("DTSTART", &local.format("%Y%m%dT%H%M%S").to_string());
        out.property("TZOFFSETFROM", &offset(transition.from));
        out.property("TZOFFSETTO", &offset(transition.to));
        if let Some(name) = &transition.name {
            out.property("TZNAME", &text(name));
        }
        out.line(&format!("END:{kind}"));
    }
    out.line("END:VTIMEZONE");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn text_values_are_escaped_as_the_rfc_says() {
        assert_eq!(text("a\\b;c,d\ne\r\u{7}f\tg"), "a\\\\b\\;c\\,d\\nef g");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let mut lines = Lines::default();
        let value = "é".repeat(100);
        lines.property("SUMMARY", &value);
        for line in lines.0.split("\r\n").filter(|line| !line.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = lines.0.replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{value}\r\n"));
    }

    #[test]
    fn offsets_are_signed_hours_and_minutes() {
        assert_eq!(offset(3600), "+0100");
        assert_eq!(offset(-12_600), "-0330");
        assert_eq!(offset(0), "+0000");
        assert_eq!(offset(20_117), "+053517");
    }

    #[test]
    fn amsterdam_changes_offset_on_the_last_sundays_of_march_and_october() {
        let zone: Tz = "Europe/Amsterdam".parse().expect("zone");
        let found = transitions(zone, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        let shown: Vec<(String, i32, i32, bool, Option<String>)> = found
            .iter()
            .map(|t| (utc(t.at), t.from, t.to, t.daylight, t.name.clone()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    "20260329T010000Z".into(),
                    3600,
                    7200,
                    true,
                    Some("CEST".into())
                ),
                (
                    "20261025T010000Z".into(),
                    7200,
                    3600,
                    false,
                    Some("CET".into())
                ),
            ]
        );
    }

    #[test]
    fn a_zone_without_transitions_gets_one_standard_block() {
        let mut lines = Lines::default();
        let zone: Tz = "Asia/Kolkata".parse().expect("zone");
        vtimezone(
            &mut lines,
            zone,
            (at("2026-12-01T00:00:00Z"), at("2026-12-31T00:00:00Z")),
        );
        let text = lines.0;
        assert!(text.contains("TZID:Asia/Kolkata\r\n"), "{text}");
        assert!(text.contains("BEGIN:STANDARD\r\n"), "{text}");
        assert!(text.contains("TZOFFSETTO:+0530\r\n"), "{text}");
        assert!(!text.contains("DAYLIGHT"), "{text}");
    }
}
