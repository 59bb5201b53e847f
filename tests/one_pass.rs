//! Every shape problem of a file in one pass (issue 15, item 1), and wrong types said in the
//! plan's terms (item 6), through the binary in every output format.

mod common;
#[path = "common/skip.rs"]
mod skip;

use common::{NOW, refreshctl, temp_plan};

const THREE: &str = "tests/fixtures/shape/three-problems.yaml";

/// (line, column, start of the message) of the three problems of [`THREE`].
const EXPECTED: [(u64, u64, &str); 3] = [
    (
        3,
        10,
        "expected a positive integer (the LCS project id) for `project`, found the text `abc`",
    ),
    (7, 3, "unknown key `colour`"),
    (10, 13, "`3x` is not a duration"),
];

fn validate(format: &str) -> common::Output {
    let output = refreshctl(&["validate", "--now", NOW, "--format", format, THREE]);
    assert_eq!(output.code, 1, "{format}: {}", output.stderr);
    output
}

#[test]
fn json_reports_all_three_each_at_its_place() {
    let output = validate("json");
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert_eq!(json["summary"]["errors"], 3);
    let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 3, "{diagnostics:#?}");
    for (found, (line, column, message)) in diagnostics.iter().zip(EXPECTED) {
        assert_eq!(found["rule"], "schema");
        assert_eq!(found["severity"], "error");
        assert_eq!(found["file"], THREE);
        assert_eq!(
            (found["line"].as_u64(), found["column"].as_u64()),
            (Some(line), Some(column)),
            "{found}"
        );
        assert!(
            found["message"]
                .as_str()
                .expect("message")
                .starts_with(message),
            "{found}"
        );
        assert!(!found["help"].as_str().expect("help").is_empty());
    }
    assert!(
        diagnostics[1]["help"]
            .as_str()
            .expect("help")
            .starts_with("known keys here: `name`")
    );
}

#[test]
fn human_output_shows_all_three_with_their_excerpts() {
    let output = validate("human");
    for (line, column, message) in EXPECTED {
        assert!(
            output.stdout.contains(&format!("{THREE}:{line}:{column}")),
            "{}",
            output.stdout
        );
        assert!(output.stdout.contains(message), "{}", output.stdout);
    }
    assert!(output.stdout.contains("3 errors"), "{}", output.stdout);
}

#[test]
fn sarif_has_three_results_each_with_its_region() {
    let output = validate("sarif");
    let sarif: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    for (result, (line, column, message)) in results.iter().zip(EXPECTED) {
        assert_eq!(result["ruleId"], "schema");
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert_eq!(
            (region["startLine"].as_u64(), region["startColumn"].as_u64()),
            (Some(line), Some(column))
        );
        assert!(
            result["message"]["text"]
                .as_str()
                .expect("text")
                .starts_with(message)
        );
    }
}

#[test]
fn github_and_azure_annotate_each_place() {
    let github = validate("github");
    let annotations: Vec<&str> = github
        .stdout
        .lines()
        .filter(|line| line.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 3, "{}", github.stdout);
    for (annotation, (line, column, message)) in annotations.iter().zip(EXPECTED) {
        assert!(
            annotation.starts_with(&format!(
                "::error file={THREE},line={line},col={column},title=refreshctl schema::"
            )),
            "{annotation}"
        );
        assert!(annotation.contains(message), "{annotation}");
    }
    let azure = validate("azure");
    let issues: Vec<&str> = azure
        .stdout
        .lines()
        .filter(|line| line.starts_with("##vso[task.logissue type=error;"))
        .collect();
    assert_eq!(issues.len(), 3, "{}", azure.stdout);
    for (issue, (line, column, message)) in issues.iter().zip(EXPECTED) {
        assert!(
            issue.contains(&format!(
                "sourcepath={THREE};linenumber={line};columnnumber={column};code=schema;]"
            )),
            "{issue}"
        );
        assert!(issue.contains(message), "{issue}");
    }
    assert!(azure.stdout.contains("##vso[task.complete result=Failed;]"));
}

#[test]
fn junit_fails_the_schema_case_with_all_three() {
    let output = validate("junit");
    let start = output
        .stdout
        .find("name=\"tests/fixtures/shape/three-problems.yaml: schema\"")
        .expect("the schema case");
    let case = &output.stdout[start..];
    let case = &case[..case.find("</testcase>").expect("its end")];
    assert_eq!(case.matches("<failure").count(), 1, "{case}");
    for (line, column, message) in EXPECTED {
        assert!(
            case.contains(&format!("{THREE}:{line}:{column}: error: ")),
            "{case}"
        );
        assert!(case.contains(message), "{case}");
    }
    // Valid against the strict Jenkins/Surefire schema, where `.ci/run` made its Python venv.
    let Some(python) = std::env::var_os("REFRESHCTL_TEST_PYTHON") else {
        skip::skip_part("the JUnit schema check: REFRESHCTL_TEST_PYTHON is not set");
        return;
    };
    let directory = tempfile::tempdir().expect("temp");
    let report = directory.path().join("junit.xml");
    std::fs::write(&report, &output.stdout).expect("write");
    let checked = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/junit/junit-10.xsd"
            ),
        ])
        .arg(&report)
        .output()
        .expect("python runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// (the text of the clean fixture to replace, what to put there, the message's start).
const WRONG_TYPES: &[(&str, &str, &str)] = &[
    (
        "version: 1",
        "version: [1]",
        "expected the format version (1) for `version`, found a list",
    ),
    (
        "version: 1",
        "version: one",
        "expected the format version (1) for `version`, found the text `one`",
    ),
    (
        "name: uat-refresh",
        "name: {a: 1}",
        "expected a plan name such as `contoso-uat-weekly` for `name`, found a map",
    ),
    (
        "project: 1234567",
        "project: -3",
        "expected a positive integer (the LCS project id) for `project`, found the number -3",
    ),
    (
        "project: 1234567",
        "project: 12.5",
        "expected a positive integer (the LCS project id) for `project`, found the number 12.5",
    ),
    (
        "project: 1234567",
        "project: [1]",
        "expected a positive integer (the LCS project id) for `project`, found a list",
    ),
    (
        "environment:\n  name: contoso-uat\n  type: sandbox\n  release: \"10.0.41\"\n",
        "environment: contoso-uat\n",
        "expected the target environment (a map) for `environment`, found the text `contoso-uat`",
    ),
    (
        "  name: contoso-uat",
        "  name: [a, b]",
        "expected text for `name`, found a list",
    ),
    (
        "  name: contoso-uat",
        "  name:",
        "expected text for `name`, found nothing",
    ),
    (
        "  type: sandbox",
        "  type: {a: 1}",
        "expected an environment type (`production`, `sandbox`, `development`, `build`) for `type`, found a map",
    ),
    (
        "  release: \"10.0.41\"\nsource",
        "  release: {a: 1}\nsource",
        "expected text for `release`, found a map",
    ),
    (
        "  release: \"10.0.41\"\nsource",
        "  hotfixes: KB1\nsource",
        "expected a list of KB numbers for `hotfixes`, found the text `KB1`",
    ),
    (
        "source:\n  name: contoso-prod\n  type: production\n  release: \"10.0.41\"\n",
        "source: [contoso-prod]\n",
        "expected the source environment (a map) for `source`, found a list",
    ),
    (
        "window:\n",
        "database: [x]\nwindow:\n",
        "expected a database (`finance-operations`, `entity-store`, `financial-reporting`) for `database`, found a list",
    ),
    (
        "window:\n",
        "point_in_time: {a: 1}\nwindow:\n",
        "expected `latest`, an RFC 3339 time or a duration such as -6h for `point_in_time`, found a map",
    ),
    (
        "window:\n",
        "lead_time: [48h]\nwindow:\n",
        "expected a duration such as 90m for `lead_time`, found a list",
    ),
    (
        "window:\n  start: 2026-12-05T22:00:00+01:00\n  duration: 3h\n",
        "window: tomorrow\n",
        "expected the window (a map) for `window`, found the text `tomorrow`",
    ),
    (
        "  start: 2026-12-05T22:00:00+01:00",
        "  start: [2026]",
        "expected an RFC 3339 time with an offset, such as 2026-12-05T22:00:00+01:00 for `start`, found a list",
    ),
    (
        "  duration: 3h",
        "  duration: {h: 3}",
        "expected a duration such as 90m for `duration`, found a map",
    ),
    (
        "  duration: 3h",
        "  duration: 3h\n  timezone: [UTC]",
        "expected an IANA time zone such as Europe/Amsterdam for `timezone`, found a list",
    ),
    (
        "  duration: 3h",
        "  duration: 3h\n  cron: {a: 1}",
        "expected text for `cron`, found a map",
    ),
    (
        "acknowledge:\n  - target-database-erased\n  - target-unavailable",
        "acknowledge: all",
        "expected a list of statements the operator accepts for `acknowledge`, found the text `all`",
    ),
    (
        "  - target-unavailable",
        "  - [target-unavailable]",
        "expected a statement (`target-database-erased`, `target-unavailable`) for `acknowledge`, found a list",
    ),
    (
        "post_steps:\n  - reprovision\n  - reset-financial-reporting",
        "post_steps: reprovision",
        "expected a list of steps for `post_steps`, found the text `reprovision`",
    ),
    (
        "  - reprovision\n",
        "  - [reprovision]\n",
        "expected a step: a step kind, or a map with one key, the step kind, found a list",
    ),
    (
        "  - reprovision\n",
        "  - reprovision: [a]\n",
        "expected the options of `reprovision` (a map) for `reprovision`, found a list",
    ),
    (
        "  - reprovision\n",
        "  - deploy: pkg.zip\n",
        "expected the options of `deploy` (a map) for `deploy`, found the text `pkg.zip`",
    ),
    (
        "  - reprovision\n",
        "  - deploy: {file: [a]}\n",
        "expected text for `file`, found a list",
    ),
    (
        "  - reprovision\n",
        "  - command: {run: ./x.sh}\n",
        "expected a list of arguments for `run`, found the text `./x.sh`",
    ),
    (
        "  - reprovision\n",
        "  - command: {run: [./x.sh], timeout: [1m]}\n",
        "expected a duration such as 90m for `timeout`, found a list",
    ),
    (
        "  - reprovision\n",
        "  - manual: {instructions: [a]}\n",
        "expected text for `instructions`, found a list",
    ),
    (
        "  - reprovision\n",
        "  - manual:\n",
        "expected the options of `manual` (a map) for `manual`, found nothing",
    ),
    (
        "post_steps:",
        "notifications: {url: x}\npost_steps:",
        "expected a list of notifications for `notifications`, found a map",
    ),
    (
        "post_steps:",
        "notifications: [x]\npost_steps:",
        "expected a notification (a map) for `notifications`, found the text `x`",
    ),
    (
        "post_steps:",
        "notifications: [{url: [x]}]\npost_steps:",
        "expected text for `url`, found a list",
    ),
    (
        "post_steps:",
        "notifications: [{url: x, on: started}]\npost_steps:",
        "expected a list of notification events for `on`, found the text `started`",
    ),
    (
        "post_steps:",
        "notifications: [{url: x, on: [[started]]}]\npost_steps:",
        "expected a notification event (`submitted`",
    ),
    (
        "post_steps:",
        "notifications: [{url: x, template: {a: 1}}]\npost_steps:",
        "expected text for `template`, found a map",
    ),
];

/// Each typed field of the plan format given a value of the wrong type: the message says what
/// was expected in the plan's terms, at the value, and never in serde's or Rust's words.
#[test]
fn every_wrong_type_says_what_was_expected_in_the_plans_terms() {
    for (from, to, message) in WRONG_TYPES {
        let (_directory, path) = temp_plan(|clean| {
            assert!(clean.contains(from), "{from}");
            clean.replacen(from, to, 1)
        });
        let output = refreshctl(&["validate", "--now", NOW, "--format", "json", &path]);
        assert_eq!(output.code, 1, "{to}: {}", output.stderr);
        let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
        let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
        let found = diagnostics
            .iter()
            .find(|found| {
                found["message"]
                    .as_str()
                    .is_some_and(|text| text.starts_with(message))
            })
            .unwrap_or_else(|| panic!("{to}: no `{message}` in {diagnostics:#?}"));
        assert_eq!(found["rule"], "schema");
        assert!(
            found["line"].is_u64() && found["column"].is_u64(),
            "{found}"
        );
        for found in diagnostics {
            let text = format!("{} {}", found["message"], found["help"]);
            for word in [
                "u64",
                "u32",
                "i64",
                "string scalar",
                "sequence",
                "invalid type",
                "Option<",
                "serde",
            ] {
                assert!(!text.contains(word), "{to}: {text}");
            }
        }
    }
}
