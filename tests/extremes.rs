//! Generated plans with extreme values (huge and negative durations, far years, odd offsets,
//! odd cron) driven through everything that reads a plan: the loader, every rule (one plan and a
//! set), the preview in every format, the validation reports, the occurrence expansion and the
//! scheduler's due times. Nothing may panic, and every plan that resolves must keep its times in
//! the range the state store can hold.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use refreshctl::plan::time::{EARLIEST, LATEST, MAX_DURATION};
use refreshctl::plan::{Plan, Window};
use refreshctl::report::preview::{Layout, Preview, render_builtin};
use refreshctl::report::{ValidationReport, azure, github, human, json, junit, sarif};
use refreshctl::rules::{Catalog, CheckSettings, CheckedFile, check_file, check_set};
use refreshctl::state::PlanMark;

/// Numbers that stress arithmetic: small, at the 100-year edge, huge, the largest.
fn number() -> BoxedStrategy<u64> {
    prop_oneof![
        0..100_u64,
        36_520..36_530_u64,
        Just(1_000_000_000),
        Just(300_000),
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        any::<u64>(),
    ]
    .boxed()
}

fn unit() -> BoxedStrategy<&'static str> {
    prop::sample::select(vec![
        "ns", "ms", "s", "m", "h", "d", "w", "months", "y", "years",
    ])
    .boxed()
}

fn duration() -> BoxedStrategy<String> {
    prop_oneof![
        (number(), unit()).prop_map(|(n, u)| format!("{n}{u}")),
        (number(), unit(), number(), unit()).prop_map(|(a, u, b, v)| format!("\"{a}{u} {b}{v}\"")),
        prop::sample::select(vec!["3h", "0s", "-5h", "\"\"", "90m", "1h 30m", "24h"])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn time() -> BoxedStrategy<String> {
    (
        prop_oneof![
            0..=9999_u32,
            1969..=1971_u32,
            2026..=2027_u32,
            9998..=9999_u32
        ],
        0..=13_u32,
        0..=32_u32,
        0..=24_u32,
        0..=60_u32,
        prop::sample::select(vec![
            "Z", "+00:00", "-23:59", "+23:59", "+01:00", "-12:00", "",
        ]),
    )
        .prop_map(|(year, month, day, hour, minute, offset)| {
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:00{offset}")
        })
        .boxed()
}

fn cron() -> BoxedStrategy<String> {
    (
        prop::sample::select(vec!["0", "59", "*", "*/15", "0-59/7", "60", "*/0", "5,10"]),
        prop::sample::select(vec!["0", "23", "*", "24", "*/4", "22"]),
        prop::sample::select(vec!["*", "1", "31", "L", "15W", "29", "30", "0"]),
        prop::sample::select(vec!["*", "2", "12", "FEB", "13", "1-12/5"]),
        prop::sample::select(vec!["*", "SAT", "0", "7", "MON-FRI", "5#3", "5L", "8"]),
    )
        .prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"))
        .boxed()
}

fn zone() -> BoxedStrategy<&'static str> {
    prop::sample::select(vec![
        "UTC",
        "Europe/Amsterdam",
        "America/New_York",
        "Pacific/Kiritimati",
        "Etc/GMT+12",
        "Nowhere/City",
    ])
    .boxed()
}

fn window() -> BoxedStrategy<String> {
    prop_oneof![
        (time(), duration()).prop_map(|(start, d)| format!("{{start: {start}, duration: {d}}}")),
        (time(), time()).prop_map(|(start, end)| format!("{{start: {start}, end: {end}}}")),
        (cron(), duration(), zone())
            .prop_map(|(c, d, z)| format!("{{cron: \"{c}\", duration: {d}, timezone: {z}}}")),
    ]
    .boxed()
}

fn point_in_time() -> BoxedStrategy<String> {
    prop_oneof![
        Just("latest".to_owned()),
        duration().prop_map(|d| format!("\"-{}\"", d.trim_matches('"'))),
        time(),
    ]
    .boxed()
}

/// A plan with a generated window, lead time, point in time and command timeout.
fn plan(name: &'static str) -> BoxedStrategy<String> {
    (
        window(),
        proptest::option::of(duration()),
        proptest::option::of(point_in_time()),
        proptest::option::of(duration()),
        any::<bool>(),
    )
        .prop_map(move |(window, lead, point, timeout, source)| {
            let mut text = format!(
                "version: 1\nname: {name}\nproject: 1234567\nenvironment: {{name: contoso-uat, \
                 type: sandbox, release: \"10.0.41\"}}\nwindow: {window}\nacknowledge: \
                 [target-database-erased, target-unavailable]\n"
            );
            if source {
                text.push_str(
                    "source: {name: contoso-prod, type: production, release: \"10.0.41\"}\n",
                );
            }
            if let Some(lead) = lead {
                let _ = writeln!(text, "lead_time: {lead}");
            }
            if let Some(point) = point {
                let _ = writeln!(text, "point_in_time: {point}");
            }
            text.push_str("post_steps:\n  - reprovision\n  - reset-financial-reporting\n");
            if let Some(timeout) = timeout {
                let _ = writeln!(
                    text,
                    "  - command: {{run: [\"true\", \"{{{{ environment.name }}}}\"], timeout: {timeout}}}"
                );
            }
            text
        })
    .boxed()
}

fn now() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        EARLIEST.timestamp()..=LATEST.timestamp(),
        Just(LATEST.timestamp()),
        Just(EARLIEST.timestamp()),
        1_795_000_000..1_800_000_000_i64,
    ]
    .prop_map(|seconds| DateTime::from_timestamp(seconds, 0).unwrap_or(EARLIEST))
}

fn settings(now: DateTime<Utc>) -> CheckSettings {
    CheckSettings {
        now,
        catalog: Catalog::embedded(),
        adapter: Some(refreshctl::adapter::AdapterKind::Lcs),
    }
}

/// Every time a checked plan holds is one the state store can write and read back.
fn assert_in_range(plan: &Plan, now: DateTime<Utc>) {
    let in_range = |time: DateTime<Utc>| (EARLIEST..=LATEST).contains(&time);
    assert!(
        plan.lead_time() <= MAX_DURATION,
        "lead time {}",
        plan.lead_time()
    );
    assert!(plan.window().duration() <= MAX_DURATION);
    if let Window::Fixed { occurrence, .. } = plan.window() {
        assert!(
            in_range(occurrence.start) && in_range(occurrence.end),
            "{occurrence:?}"
        );
        let submit = occurrence.start.checked_sub_signed(plan.lead_time());
        assert!(submit.is_some_and(in_range), "submit {submit:?}");
    }
    for occurrence in plan.window().occurrences_from(now).take(3) {
        assert!(
            in_range(occurrence.start) && in_range(occurrence.end),
            "{occurrence:?}"
        );
    }
}

/// Everything downstream of the loader that reads the plan.
fn drive(checked: &[CheckedFile], texts: &[String], now: DateTime<Utc>) {
    let diagnostics = check_set(checked);
    for file in checked {
        let Some(plan) = &file.plan else { continue };
        assert_in_range(plan, now);
        let preview = Preview::build(plan, now, diagnostics.clone());
        let context = serde_json::to_value(&preview).expect("a preview serializes");
        for layout in [Layout::Text, Layout::Markdown, Layout::Html] {
            let _ = render_builtin(layout, &context);
        }
        for from in [now, EARLIEST, LATEST, DateTime::<Utc>::MIN_UTC] {
            let _ = plan.window().occurrences_from(from).take(3).count();
        }
        let _ = plan.next_window(now);
        let _ = plan.next_window(DateTime::<Utc>::MAX_UTC);
        let _ = plan.window().occurrences_between(
            now,
            now.checked_add_signed(TimeDelta::days(2)).unwrap_or(LATEST),
        );
        let mark = PlanMark {
            first_seen: now,
            latest_decided: None,
        };
        let _ = refreshctl::schedule::due(plan.window(), plan.lead_time(), mark, now);
        if let Some(window) = plan.next_window(now) {
            let _ = refreshctl::executor::new_run(
                plan,
                window,
                now,
                None,
                refreshctl::adapter::AdapterKind::Simulator,
            );
            let _ = plan.point_in_time().resolve(window.start);
        }
        let _ = plan.point_in_time().resolve(EARLIEST);
        let _ = plan.point_in_time().in_words();
    }
    let sources: HashMap<String, String> = checked
        .iter()
        .zip(texts)
        .map(|(file, text)| (file.file.clone(), text.clone()))
        .collect();
    let report = ValidationReport {
        now,
        files: checked.len(),
        plans: checked
            .iter()
            .filter_map(|file| Some((file.file.as_str(), file.plan_name.as_deref()?)))
            .collect(),
        file_names: checked.iter().map(|file| file.file.as_str()).collect(),
        diagnostics: &diagnostics,
        sources: &sources,
        deny_warnings: false,
        elapsed: std::time::Duration::ZERO,
    };
    let mut out = Vec::new();
    human::render(&report, false, &mut out).expect("human");
    json::render(&report, &mut out).expect("json");
    github::render(&report, &mut out).expect("github");
    sarif::render(&report, &mut out).expect("sarif");
    junit::render(&report, &mut out).expect("junit");
    azure::render(&report, &mut out).expect("azure");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Two generated plans on one target, checked alone and as a set, at a generated `now`.
    #[test]
    fn extreme_plans_never_panic_and_keep_their_times_in_range(
        first in plan("first"),
        second in plan("second"),
        now in now(),
    ) {
        let settings = settings(now);
        let texts = vec![first, second];
        let checked: Vec<CheckedFile> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let file = format!("plan-{index}.yaml");
                check_file(&file, Path::new(&file), text.as_bytes(), &settings)
            })
            .collect();
        for file in &checked {
            prop_assert!(file.plan.is_some() || !file.diagnostics.is_empty());
        }
        drive(&checked, &texts, now);
    }
}

/// The cases the issue names, each a located `schema` diagnostic (never a panic).
#[test]
fn the_named_cases_are_located_schema_errors() {
    let clean = include_str!("fixtures/rules/clean.yaml");
    let cases = [
        (
            clean.replace("duration: 3h", "duration: 1000000000d"),
            (14, 13),
        ),
        (
            clean.replace(
                "  start: 2026-12-05T22:00:00+01:00\n  duration: 3h",
                "  cron: \"0 22 * * SAT\"\n  duration: 99999999y",
            ),
            (14, 13),
        ),
        (format!("{clean}lead_time: 300000y\n"), (21, 12)),
        (format!("{clean}point_in_time: -1000000000d\n"), (21, 16)),
        (
            clean.replace("2026-12-05T22:00:00+01:00", "9999-12-31T22:00:00Z"),
            (14, 13),
        ),
        (
            clean.replace("2026-12-05T22:00:00+01:00", "1970-01-01T10:00:00Z"),
            (13, 10),
        ),
        (
            clean.replace("duration: 3h", "end: 9999-12-31T23:59:59-01:00"),
            (14, 8),
        ),
    ];
    let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
        .expect("now")
        .to_utc();
    for (text, (line, column)) in cases {
        let checked = check_file(
            "plan.yaml",
            Path::new("plan.yaml"),
            text.as_bytes(),
            &settings(now),
        );
        let schema: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.rule == refreshctl::rules::Rule::Schema)
            .collect();
        assert_eq!(schema.len(), 1, "{text}\n{:?}", checked.diagnostics);
        assert!(
            schema[0].message.contains("out of range"),
            "{}",
            schema[0].message
        );
        assert_eq!(
            (schema[0].line, schema[0].column),
            (Some(line), Some(column)),
            "{text}"
        );
        assert!(checked.plan.is_none());
    }
    // Within range at both edges, still a plan.
    let edge = clean.replace("duration: 3h", "duration: 36525d");
    let checked = check_file(
        "plan.yaml",
        Path::new("plan.yaml"),
        edge.as_bytes(),
        &settings(now),
    );
    assert!(checked.plan.is_some(), "{:?}", checked.diagnostics);
}
