//! Each output format of `validate`, parsed and checked field by field.

mod common;

use common::{NOW, refreshctl};
use quick_xml::Reader;
use quick_xml::events::Event;

const MIXED: &[&str] = &[
    "tests/fixtures/formats/lead-time.yaml",
    "tests/fixtures/formats/window-too-short.yaml",
    "tests/fixtures/formats/clean.yaml",
];

fn validate(format: &str, extra: &[&str]) -> common::Output {
    let mut args = vec!["validate", "--now", NOW, "--format", format];
    args.extend_from_slice(extra);
    args.extend_from_slice(MIXED);
    refreshctl(&args)
}

#[test]
fn json_has_exactly_the_documented_shape() {
    let output = validate("json", &[]);
    assert_eq!(output.code, 1);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("one JSON object");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["now"], NOW);
    assert_eq!(
        json["summary"],
        serde_json::json!({ "files": 3, "plans": 3, "errors": 1, "warnings": 1 })
    );
    let first = &json["diagnostics"][0];
    let keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "rule", "severity", "file", "plan", "line", "column", "message", "help",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    assert_eq!(first["rule"], "lead-time");
    assert_eq!(first["plan"], "uat-late");
    assert_eq!(first["file"], "tests/fixtures/formats/lead-time.yaml");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(13), Some(10))
    );
}

#[test]
fn json_reports_null_plan_and_place_when_unknown() {
    let directory = tempfile::tempdir().expect("temp");
    let empty = directory.path().join("empty.yaml");
    std::fs::write(&empty, "").expect("write");
    let output = refreshctl(&[
        "validate",
        "--format",
        "json",
        "--now",
        NOW,
        empty.to_str().expect("utf-8 path"),
    ]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["rule"], "syntax");
    assert!(
        diagnostic["plan"].is_null()
            && diagnostic["line"].is_null()
            && diagnostic["column"].is_null()
    );
    assert_eq!(json["summary"]["plans"], 0);
}

#[test]
fn sarif_is_a_complete_2_1_0_log() {
    let output = validate("sarif", &[]);
    assert_eq!(output.code, 1);
    let sarif: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["$schema"]
            .as_str()
            .is_some_and(|uri| uri.contains("sarif-2.1.0"))
    );
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), refreshctl::rules::Rule::ALL.len());
    for rule in rules {
        for field in ["id", "name"] {
            assert!(rule[field].is_string(), "{rule}");
        }
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].is_string());
        assert!(matches!(
            rule["defaultConfiguration"]["level"].as_str(),
            Some("error" | "warning")
        ));
    }
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    let lead_time = &results[0];
    assert_eq!(lead_time["ruleId"], "lead-time");
    assert_eq!(lead_time["level"], "error");
    let index = usize::try_from(lead_time["ruleIndex"].as_u64().expect("index")).expect("fits");
    assert_eq!(
        rules[index]["id"], "lead-time",
        "ruleIndex points at the rule"
    );
    let location = &lead_time["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "tests/fixtures/formats/lead-time.yaml"
    );
    assert_eq!(location["region"]["startLine"], 13);
    assert_eq!(location["region"]["startColumn"], 10);
    let fingerprint = lead_time["partialFingerprints"]["refreshctlDiagnostic/v1"]
        .as_str()
        .expect("fingerprint");
    assert_eq!(fingerprint.len(), 16);
    assert_eq!(results[1]["level"], "warning");
    assert_ne!(
        results[1]["partialFingerprints"],
        lead_time["partialFingerprints"]
    );
}

#[test]
fn github_annotations_carry_file_line_col_and_title() {
    let summary_dir = tempfile::tempdir().expect("temp");
    let summary = summary_dir.path().join("summary.md");
    let output = assert_cmd::Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["validate", "--now", NOW, "--format", "github"])
        .args(MIXED)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(
            "::error file=tests/fixtures/formats/lead-time.yaml,line=13,col=10,title=refreshctl lead-time::the window starts"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("%0Ahelp: "),
        "the help follows on an escaped new line"
    );
    assert!(lines[1].starts_with(
        "::warning file=tests/fixtures/formats/window-too-short.yaml,line=14,col=13,"
    ));
    assert_eq!(lines[2], "checked 3 files (3 plans): 1 error and 1 warning");
    let summary = std::fs::read_to_string(summary).expect("the step summary was written");
    assert!(
        summary.contains(
            "| :x: | `lead-time` | tests/fixtures/formats/lead-time.yaml:13:10 | uat-late |"
        ),
        "{summary}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn azure_logging_commands() {
    let output = validate("azure", &[]);
    let first = output.stdout.lines().next().expect("a line");
    assert!(
        first.starts_with(
            "##vso[task.logissue type=error;sourcepath=tests/fixtures/formats/lead-time.yaml;linenumber=13;columnnumber=10;code=lead-time;]the window starts"
        ),
        "{first}"
    );
    assert!(output.stdout.contains("##vso[task.logissue type=warning;"));
    let last = output.stdout.lines().last().expect("a line");
    assert!(
        last.starts_with("##vso[task.complete result=Failed;]checked "),
        "{last}"
    );
}

/// The step's result as Azure shows it: warnings only make it "succeeded with issues" (or
/// failed with `--deny-warnings`); a clean run adds nothing.
#[test]
fn azure_completes_the_task_with_issues_or_failed() {
    let warnings_only = [
        "--now",
        "2026-11-24T12:00:00Z",
        "tests/fixtures/rules/window-too-short.yaml",
    ];
    let output = refreshctl(&[&["validate", "--format", "azure"][..], &warnings_only].concat());
    assert_eq!(output.code, 0, "{}", output.stdout);
    let last = output.stdout.lines().last().expect("a line");
    assert!(
        last.starts_with("##vso[task.complete result=SucceededWithIssues;]"),
        "{last}"
    );
    let output = refreshctl(
        &[
            &["validate", "--format", "azure", "--deny-warnings"][..],
            &warnings_only,
        ]
        .concat(),
    );
    assert_eq!(output.code, 1);
    assert!(
        output
            .stdout
            .lines()
            .last()
            .expect("a line")
            .starts_with("##vso[task.complete result=Failed;]")
    );
    let output = refreshctl(&[
        "validate",
        "--format",
        "azure",
        "tests/fixtures/rules/clean.yaml",
        "--now",
        "2026-11-24T12:00:00Z",
    ]);
    assert_eq!(output.code, 0);
    assert!(
        !output.stdout.contains("task.complete"),
        "{}",
        output.stdout
    );
}

#[test]
fn junit_is_well_formed_with_one_case_per_plan_and_rule() {
    let output = validate("junit", &[]);
    let mut reader = Reader::from_str(&output.stdout);
    reader.config_mut().check_end_names = true;
    let (mut cases, mut failures, mut suites) = (0, 0, 0);
    let mut failed_cases = Vec::new();
    let mut current = String::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(tag) | Event::Empty(tag) => match tag.name().as_ref() {
                b"testsuite" => suites += 1,
                b"testcase" => {
                    cases += 1;
                    let name = tag.try_get_attribute("name").expect("attr").expect("name");
                    current = String::from_utf8_lossy(&name.value).into_owned();
                }
                b"failure" => {
                    failures += 1;
                    failed_cases.push(current.clone());
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    let rules = refreshctl::rules::Rule::ALL.len();
    assert_eq!((suites, cases), (3, 3 * rules));
    assert_eq!(
        failed_cases,
        ["lead-time"],
        "warnings do not fail without --deny-warnings"
    );
    assert_eq!(failures, 1);
    let denied = validate("junit", &["--deny-warnings"]);
    assert_eq!(denied.stdout.matches("<failure").count(), 2);
    assert_eq!(denied.code, 1);
}

#[test]
fn human_output_points_at_the_value_and_summarises() {
    let output = validate("human", &[]);
    assert!(
        output
            .stdout
            .contains("error[lead-time]: the window starts at 2026-11-25T08:00:00Z")
    );
    assert!(
        output
            .stdout
            .contains("--> tests/fixtures/formats/lead-time.yaml:13:10")
    );
    assert!(output.stdout.contains("13 |   start: 2026-11-25T08:00:00Z"));
    assert!(
        output.stdout.contains("^^^^^^^^^^^^^^^^^^^^"),
        "a caret under the whole value"
    );
    assert!(
        output
            .stdout
            .ends_with("checked 3 files (3 plans): 1 error and 1 warning\n")
    );
    assert!(
        !output.stdout.contains('\u{1b}'),
        "no colour when not a terminal"
    );
    let forced = validate("human", &[]);
    assert_eq!(forced.stdout, output.stdout, "deterministic");
    let colored = refreshctl(&["--color", "always", "validate", "--now", NOW, MIXED[0]]);
    assert!(colored.stdout.contains('\u{1b}'), "--color always colours");
}
