//! `calendar` and `history` through the real binary, over a state store with runs in several
//! states: succeeded, skipped, canceled, rescheduled, submitted and not yet submitted.
//!
//! The feed is read twice: by this file's own unfolding parser, which checks the RFC's framing
//! (CRLF, lines of at most 75 octets), and by a real iCalendar library (the `icalendar` package
//! from `PyPI`, in the virtual environment `.ci/run` makes), which checks every field.

#[path = "common/skip.rs"]
mod skip;

use std::collections::HashMap;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp"))
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::cargo_bin("refreshctl")
            .expect("binary")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("USER", "oscar")
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", self.0.path().join("state.db"))
            .args(args)
            .timeout(std::time::Duration::from_mins(2))
            .output()
            .expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        stdout
    }

    /// The example plans rehearsed from 24 November to 3 December; then nobody ticks until
    /// 16 December (two weeks of occurrences are skipped), the next UAT window is submitted
    /// and canceled, and Fabrikam's January window is submitted and moved a week.
    fn season() -> Self {
        let home = Self::new();
        home.ok(&[
            "tick",
            "--yes",
            "--plans",
            "plans",
            "--now",
            "2026-11-24T12:00:00Z",
            "--until",
            "2026-12-03T00:00:00Z",
        ]);
        home.ok(&[
            "tick",
            "--yes",
            "--plans",
            "plans",
            "--now",
            "2026-12-16T00:00:00Z",
        ]);
        let uat = home.ok(&[
            "submit",
            "--now",
            "2026-12-16T00:00:00Z",
            "plans/contoso-uat-weekly.yaml",
        ]);
        assert_eq!(uat.trim(), "contoso-uat-weekly@20261219T2100Z");
        home.ok(&["cancel", uat.trim(), "--reason", "UAT sign-off"]);
        let fabrikam = home.ok(&[
            "submit",
            "--now",
            "2026-12-16T00:00:00Z",
            "plans/fabrikam-1611-monthly.yaml",
        ]);
        assert_eq!(fabrikam.trim(), "fabrikam-training-monthly@20270101T2000Z");
        home.ok(&[
            "reschedule",
            fabrikam.trim(),
            "--start",
            "2027-01-08T20:00:00Z",
            "--now",
            "2026-12-16T00:00:00Z",
        ]);
        home
    }
}

/// Unfolds an iCalendar text into its content lines, checking the framing on the way.
fn content_lines(text: &str) -> Vec<String> {
    assert!(text.ends_with("\r\n"), "ends with CRLF");
    let mut lines: Vec<String> = Vec::new();
    for physical in text.split("\r\n").filter(|line| !line.is_empty()) {
        assert!(!physical.contains('\n'), "a bare LF in {physical:?}");
        assert!(
            physical.len() <= 75,
            "{} octets: {physical}",
            physical.len()
        );
        match physical.strip_prefix(' ') {
            Some(rest) => lines
                .last_mut()
                .expect("a folded line follows one")
                .push_str(rest),
            None => lines.push(physical.to_owned()),
        }
    }
    lines
}

/// Each `VEVENT`'s properties by name, keyed by `UID`.
fn events(lines: &[String]) -> HashMap<String, HashMap<String, String>> {
    let mut events = HashMap::new();
    let mut current: Option<HashMap<String, String>> = None;
    for line in lines {
        match line.as_str() {
            "BEGIN:VEVENT" => current = Some(HashMap::new()),
            "END:VEVENT" => {
                let event = current.take().expect("an event ends after it begins");
                events.insert(event["UID"].clone(), event);
            }
            _ => {
                if let Some(event) = current.as_mut() {
                    let (name, value) = line.split_once(':').expect("name:value");
                    event.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }
    events
}

const FROM: &str = "2026-11-28T00:00:00Z";

#[test]
fn every_window_is_an_event_whose_status_says_what_became_of_it() {
    let home = Home::season();
    let feed = home.ok(&[
        "calendar", "--plans", "plans", "--from", FROM, "--days", "42",
    ]);
    let lines = content_lines(&feed);
    assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
    assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
    for required in ["VERSION:2.0", "METHOD:PUBLISH", "CALSCALE:GREGORIAN"] {
        assert!(lines.iter().any(|line| line == required), "{required}");
    }
    // Two plans of three are in European zones, one in New York; each zone has its block.
    for zone in ["Europe/Amsterdam", "Europe/London", "America/New_York"] {
        assert!(lines.contains(&format!("TZID:{zone}")), "{zone}");
    }
    let events = events(&lines);
    let expect = |uid: &str, status: &str, sequence: &str| {
        let event = events
            .get(uid)
            .unwrap_or_else(|| panic!("{uid} in {:?}", events.keys()));
        assert_eq!(event["STATUS"], status, "{uid}");
        assert_eq!(event["SEQUENCE"], sequence, "{uid}");
        event
    };
    // Ran: confirmed once submitted.
    let ran = expect("contoso-uat-weekly@20261128T2100Z", "CONFIRMED", "1");
    assert_eq!(ran["DTSTART"], "20261128T210000Z");
    assert_eq!(ran["DTEND"], "20261129T030000Z");
    assert_eq!(
        ran["SUMMARY"],
        "contoso-uat offline: database replaced from contoso-prod"
    );
    assert!(ran["DESCRIPTION"].contains("Run: contoso-uat-weekly@20261128T2100Z (succeeded)"));
    assert!(ran["DESCRIPTION"].contains("every user but Admin is disabled"));
    assert!(ran["DESCRIPTION"].contains("\\n- start-refresh: copy"));
    // A restore names the time it restores to.
    let restore = expect("contoso-test-restore@20261130T1100Z", "CONFIRMED", "1");
    assert_eq!(
        restore["SUMMARY"],
        "contoso-test offline: database restored to 2026-11-28T01:00:00Z"
    );
    // Skipped: the environment stays up.
    let skipped = expect("contoso-uat-weekly@20261205T2100Z", "CANCELLED", "1");
    assert!(skipped["DESCRIPTION"].starts_with("Skipped: its submission was due"));
    assert_eq!(skipped["TRANSP"], "TRANSPARENT");
    // Canceled after submission.
    expect("contoso-uat-weekly@20261219T2100Z", "CANCELLED", "2");
    // Rescheduled: the old window canceled, the new one confirmed, both bumped.
    expect("fabrikam-training-monthly@20270101T2000Z", "CANCELLED", "3");
    let moved = expect("fabrikam-training-monthly@20270108T2000Z", "CONFIRMED", "2");
    assert_eq!(moved["DTSTART"], "20270108T200000Z");
    // Not submitted yet.
    let planned = expect("contoso-uat-weekly@20261226T2100Z", "TENTATIVE", "0");
    assert_eq!(planned["TRANSP"], "OPAQUE");
    assert!(
        planned["DESCRIPTION"].contains("Window (Europe/Amsterdam): 2026-12-26T22:00:00+01:00")
    );
    // Nothing after the range (42 days from 28 November: up to 9 January).
    assert!(!events.contains_key("contoso-uat-weekly@20270109T2100Z"));
    assert!(events.contains_key("contoso-uat-weekly@20270102T2100Z"));

    // One environment's own feed.
    let uat = home.ok(&[
        "calendar",
        "--plans",
        "plans",
        "--from",
        FROM,
        "--days",
        "42",
        "--environment",
        "CONTOSO-UAT",
    ]);
    let lines = content_lines(&uat);
    let only = self::events(&lines);
    assert!(!only.is_empty());
    assert!(
        only.keys()
            .all(|uid| uid.starts_with("contoso-uat-weekly@")),
        "{:?}",
        only.keys()
    );
    assert!(lines.contains(&"X-WR-TIMEZONE:Europe/Amsterdam".to_owned()));
    assert!(lines.contains(&"X-WR-CALNAME:CONTOSO-UAT: planned downtime (refreshctl)".to_owned()));
    assert!(!lines.contains(&"TZID:America/New_York".to_owned()));
}

/// Windows in the season: id, start, end, status, sequence.
const EXPECTED: &[(&str, &str, &str, &str, u32)] = &[
    (
        "contoso-uat-weekly@20261128T2100Z",
        "2026-11-28T21:00:00+00:00",
        "2026-11-29T03:00:00+00:00",
        "CONFIRMED",
        1,
    ),
    (
        "contoso-test-restore@20261130T1100Z",
        "2026-11-30T11:00:00+00:00",
        "2026-11-30T14:00:00+00:00",
        "CONFIRMED",
        1,
    ),
    (
        "fabrikam-training-monthly@20261201T2000Z",
        "2026-12-01T20:00:00+00:00",
        "2026-12-02T00:00:00+00:00",
        "CONFIRMED",
        1,
    ),
    (
        "contoso-uat-weekly@20261205T2100Z",
        "2026-12-05T21:00:00+00:00",
        "2026-12-06T03:00:00+00:00",
        "CANCELLED",
        1,
    ),
    (
        "contoso-test-restore@20261207T1100Z",
        "2026-12-07T11:00:00+00:00",
        "2026-12-07T14:00:00+00:00",
        "CANCELLED",
        1,
    ),
    (
        "contoso-uat-weekly@20261219T2100Z",
        "2026-12-19T21:00:00+00:00",
        "2026-12-20T03:00:00+00:00",
        "CANCELLED",
        2,
    ),
    (
        "fabrikam-training-monthly@20270101T2000Z",
        "2027-01-01T20:00:00+00:00",
        "2027-01-02T00:00:00+00:00",
        "CANCELLED",
        3,
    ),
    (
        "fabrikam-training-monthly@20270108T2000Z",
        "2027-01-08T20:00:00+00:00",
        "2027-01-09T00:00:00+00:00",
        "CONFIRMED",
        2,
    ),
    (
        "contoso-uat-weekly@20261226T2100Z",
        "2026-12-26T21:00:00+00:00",
        "2026-12-27T03:00:00+00:00",
        "TENTATIVE",
        0,
    ),
    (
        "contoso-test-restore@20261221T1100Z",
        "2026-12-21T11:00:00+00:00",
        "2026-12-21T14:00:00+00:00",
        "TENTATIVE",
        0,
    ),
];

/// Reads a feed with the `icalendar` package and prints what it read as JSON.
const READER: &str = r#"
import json, sys, datetime
try:
    import icalendar
except ImportError:
    print("NO-ICALENDAR"); sys.exit(0)
calendar = icalendar.Calendar.from_ical(open(sys.argv[1], "rb").read())
out = {"calname": str(calendar["X-WR-CALNAME"]), "zone": str(calendar["X-WR-TIMEZONE"]),
       "zones": {}, "events": {}, "errors": []}
for component in calendar.walk():
    for error in getattr(component, "errors", []):
        out["errors"].append([component.name, str(error)])
for zone in calendar.walk("VTIMEZONE"):
    tz = zone.to_tz()
    summer = datetime.datetime(2026, 7, 1, 12, tzinfo=datetime.timezone.utc).astimezone(tz)
    winter = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc).astimezone(tz)
    out["zones"][str(zone["TZID"])] = [summer.utcoffset().total_seconds(),
                                       winter.utcoffset().total_seconds()]
for event in calendar.walk("VEVENT"):
    start, end, stamp = (event.decoded(key) for key in ("DTSTART", "DTEND", "DTSTAMP"))
    out["events"][str(event["UID"])] = {
        "start": start.isoformat(), "end": end.isoformat(), "stamp_utc": stamp.utcoffset().total_seconds() == 0,
        "summary": str(event["SUMMARY"]), "description": str(event["DESCRIPTION"]),
        "status": str(event["STATUS"]), "sequence": int(event["SEQUENCE"]),
        "transp": str(event["TRANSP"]),
    }
print(json.dumps(out))
"#;

/// The feed as a real iCalendar library reads it: every event's fields, the zones.
#[test]
fn a_real_icalendar_library_reads_every_field() {
    let Some(python) = std::env::var("REFRESHCTL_TEST_PYTHON").ok() else {
        skip::skip("REFRESHCTL_TEST_PYTHON is not set (.ci/run installs icalendar into it)");
        return;
    };
    let home = Home::season();
    let feed = home.ok(&[
        "calendar", "--plans", "plans", "--from", FROM, "--days", "42",
    ]);
    let path = home.0.path().join("feed.ics");
    std::fs::write(&path, &feed).expect("feed");
    let output = std::process::Command::new(&python)
        .args(["-c", READER])
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.trim() == "NO-ICALENDAR" {
        skip::skip("the icalendar package is not installed in REFRESHCTL_TEST_PYTHON");
        return;
    }
    let read: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(read["errors"], Value::Array(vec![]), "{read}");
    assert_eq!(read["calname"], "Planned downtime (refreshctl)");
    // Two plans are in Europe; the feed is shown in the zone most plans use, of the first seen.
    assert!(
        ["Europe/Amsterdam", "Europe/London", "America/New_York"]
            .contains(&read["zone"].as_str().expect("zone")),
        "{read}"
    );
    // The library's own zone objects, built from our VTIMEZONE blocks, give the real offsets.
    assert_eq!(
        read["zones"]["Europe/Amsterdam"],
        serde_json::json!([7200.0, 3600.0])
    );
    assert_eq!(
        read["zones"]["Europe/London"],
        serde_json::json!([3600.0, 0.0])
    );
    assert_eq!(
        read["zones"]["America/New_York"],
        serde_json::json!([-14400.0, -18000.0])
    );

    let events = read["events"].as_object().expect("events");
    for &(uid, start, end, status, sequence) in EXPECTED {
        let event = &events.get(uid).unwrap_or_else(|| panic!("{uid}: {read}"));
        check_event(uid, event, (start, end, status, sequence));
    }
    assert!(
        events["contoso-uat-weekly@20261128T2100Z"]["description"]
            .as_str()
            .is_some_and(
                |text| text.contains("replaced by a copy of contoso-prod; it cannot be recovered")
            ),
    );
}

/// One event as the library read it: its times, status, sequence, and its texts unescaped.
fn check_event(uid: &str, event: &Value, (start, end, status, sequence): (&str, &str, &str, u32)) {
    assert_eq!(event["start"], start, "{uid}");
    assert_eq!(event["end"], end, "{uid}");
    assert_eq!(event["status"], status, "{uid}");
    assert_eq!(event["sequence"], sequence, "{uid}");
    assert_eq!(event["stamp_utc"], true, "{uid}");
    let busy = if status == "CANCELLED" {
        "TRANSPARENT"
    } else {
        "OPAQUE"
    };
    assert_eq!(event["transp"], busy, "{uid}");
    let environment = uid.split('-').take(2).collect::<Vec<_>>().join("-");
    let summary = event["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with(&format!("{environment} offline: database ")),
        "{summary}"
    );
    // Escapes are undone by the library: line breaks read back as written.
    let description = event["description"].as_str().expect("description");
    assert!(description.contains("Plan: "), "{description}");
    assert!(
        description.contains("\n- preflight: look up"),
        "{description}"
    );
}

#[test]
fn history_shows_when_how_long_offline_and_the_outcome_in_every_format() {
    let home = Home::season();
    let json: Value =
        serde_json::from_str(&home.ok(&["history", "--format", "json"])).expect("json");
    // The season's LCS plans (the Power Platform examples run beside them, untouched here).
    let rows: Vec<&Value> = json
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| {
            let id = row["run"].as_str().expect("id");
            id.starts_with("contoso-") || id.starts_with("fabrikam-training")
        })
        .collect();
    let ids: Vec<&str> = rows
        .iter()
        .map(|row| row["run"].as_str().expect("id"))
        .collect();
    // Finished runs only, oldest window first; the moved Fabrikam run is still submitted.
    assert_eq!(
        ids,
        [
            "contoso-uat-weekly@20261128T2100Z",
            "contoso-test-restore@20261130T1100Z",
            "fabrikam-training-monthly@20261201T2000Z",
            "contoso-uat-weekly@20261219T2100Z",
            "fabrikam-training-monthly@20270101T2000Z",
        ]
    );
    let ran = rows[0];
    assert_eq!(ran["environment"], "contoso-uat");
    assert_eq!(ran["outcome"], "succeeded");
    assert_eq!(ran["started"], "2026-11-28T21:00:00Z");
    let offline = ran["offline_seconds"].as_i64().expect("offline");
    let refresh = ran["refresh_seconds"].as_i64().expect("refresh");
    // The refresh is part of the time offline; the deployments after it make up the rest,
    // and everything ended inside the six-hour window.
    assert!(
        refresh > 0 && offline > refresh && offline <= 6 * 3600,
        "{ran}"
    );
    let finished =
        chrono::DateTime::parse_from_rfc3339(ran["finished"].as_str().expect("end")).expect("time");
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-28T21:00:00Z").expect("time");
    assert!((finished - start).num_seconds() >= offline, "{ran}");
    // A canceled run never took the environment down.
    let canceled = rows[3];
    assert_eq!(canceled["outcome"], "canceled");
    assert_eq!(canceled["offline_seconds"], Value::Null);
    assert_eq!(canceled["refresh_seconds"], Value::Null);
    assert_eq!(canceled["started"], Value::Null);

    let csv = home.ok(&["history", "--format", "csv", "--environment", "contoso-uat"]);
    let records: Vec<&str> = csv.split("\r\n").filter(|line| !line.is_empty()).collect();
    assert!(
        records[0].starts_with("run,plan,environment,window_start,"),
        "{csv}"
    );
    assert_eq!(records.len(), 3, "{csv}");
    assert!(
        records[1].starts_with("contoso-uat-weekly@20261128T2100Z,contoso-uat-weekly,contoso-uat,")
    );
    assert!(
        records[1].contains(&format!(",{offline},{refresh},succeeded,")),
        "{csv}"
    );

    let table = home.ok(&["history", "--environment", "contoso-test"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("RUN"), "{table}");
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[1].contains("2026-11-30T11:00:00Z (Mon)"), "{table}");
    assert!(lines[1].ends_with("succeeded"), "{table}");

    // An empty store says so rather than printing nothing.
    let empty = Home::new();
    assert!(empty.ok(&["history"]).contains("(no finished runs)"));
    assert_eq!(empty.ok(&["history", "--format", "json"]).trim(), "[]");
}

#[test]
fn bad_calendar_arguments_are_clear_errors() {
    let home = Home::new();
    let (code, _, stderr) = home.run(&["calendar", "--days", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--days"), "{stderr}");
    let (code, _, stderr) = home.run(&["calendar", "--plans", "no-such-dir"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no-such-dir"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, feed, stderr) = home.run(&["calendar", "--environment", "contoso-uta"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no plan targets `contoso-uta`"), "{stderr}");
    assert!(!feed.contains("BEGIN:VEVENT"), "{feed}");
    let missing = Path::new("plans").join("contoso-uat-weekly.yaml");
    let feed = home.ok(&[
        "calendar",
        "--plans",
        missing.to_str().expect("utf-8"),
        "--from",
        FROM,
        "--days",
        "1",
    ]);
    // 28 November is a Saturday: that night's window, nothing else.
    let events = events(&content_lines(&feed));
    assert_eq!(events.len(), 1, "{feed}");
    assert_eq!(
        events["contoso-uat-weekly@20261128T2100Z"]["STATUS"],
        "TENTATIVE"
    );
}
