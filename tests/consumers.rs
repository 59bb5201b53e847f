//! The outputs checked by the tools that consume them, installed by `.ci/run` (each test says
//! so and skips when its tool is missing): Microsoft's SARIF Multitool with its SARIF and
//! GitHub rule sets.

mod common;
#[path = "common/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;

use common::NOW;

/// The SARIF Multitool (`Sarif.Multitool`, from npm's `@microsoft/sarif-multitool-linux`).
fn multitool() -> Option<String> {
    let tool = std::env::var("REFRESHCTL_TEST_SARIF_MULTITOOL").ok();
    if tool.is_none() {
        skip::skip("REFRESHCTL_TEST_SARIF_MULTITOOL is not set (.ci/run installs it)");
    }
    tool
}

/// Runs the validator's `rule_kind` rules over `log`; the results at warning level or above.
fn multitool_findings(tool: &str, log: &Path, rule_kind: &str) -> Vec<String> {
    let out = log.with_extension(format!("{rule_kind}.out.sarif"));
    let _ = std::fs::remove_file(&out);
    let status = Command::new(tool)
        .args([
            "validate",
            "--rule-kind",
            rule_kind,
            "--level",
            "Error;Warning",
        ])
        .arg(log)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("the Multitool runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("its log")).expect("JSON");
    report["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| format!("{}: {}", result["ruleId"], result["message"]))
        .collect()
}

/// SARIF from a relative path, an absolute path and another directory: code scanning maps
/// every location, and neither rule set finds anything.
#[test]
fn sarif_passes_the_multitool_sarif_and_github_rules() {
    let Some(tool) = multitool() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let absolute = root.join("tests/fixtures/formats");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    for (dir, target) in [
        (root, "tests/fixtures/formats".to_owned()),
        (root, absolute.display().to_string()),
        (elsewhere.path(), absolute.display().to_string()),
    ] {
        let output = common::refreshctl_in(
            dir,
            &["validate", "--format", "sarif", "--now", NOW, &target],
        );
        assert_eq!(output.code, 1, "{}", output.stderr);
        let log: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
        let run = &log["runs"][0];
        for result in run["results"].as_array().expect("results") {
            let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
            let uri = artifact["uri"].as_str().expect("uri");
            if dir == root {
                assert_eq!(artifact["uriBaseId"], "%SRCROOT%", "{artifact}");
                assert!(uri.starts_with("tests/fixtures/formats/"), "{uri}");
            } else {
                assert!(uri.starts_with("file:///"), "{uri}");
            }
        }
        let path = elsewhere.path().join("log.sarif");
        std::fs::write(&path, &output.stdout).expect("write");
        for rule_kind in ["Sarif", "Gh"] {
            assert_eq!(
                multitool_findings(&tool, &path, rule_kind),
                Vec::<String>::new(),
                "{rule_kind} rules on SARIF of `{target}` from {}",
                dir.display()
            );
        }
    }
}

/// A Python with `xmlschema` (`.ci/run` makes a virtual environment under `target/`).
fn python() -> Option<String> {
    let python = std::env::var("REFRESHCTL_TEST_PYTHON").ok();
    if python.is_none() {
        skip::skip("REFRESHCTL_TEST_PYTHON is not set (.ci/run installs it)");
    }
    python
}

/// `JUnit` output, clean, failing, with a file that did not parse and with `--deny-warnings`,
/// is valid against the strict Jenkins/Surefire schema.
#[test]
fn junit_is_valid_against_the_strict_surefire_schema() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "version: 1\nname: [unclosed\n").expect("write");
    let broken = broken.display().to_string();
    for extra in [&[][..], &["--deny-warnings"]] {
        let mut args = vec!["validate", "--format", "junit", "--now", NOW];
        args.extend_from_slice(extra);
        args.extend([
            "tests/fixtures/formats",
            "tests/fixtures/rules/clean.yaml",
            &broken,
        ]);
        let output = common::refreshctl(&args);
        assert_eq!(output.code, 1, "{}", output.stderr);
        let report = dir.path().join("junit.xml");
        std::fs::write(&report, &output.stdout).expect("write");
        let checked = Command::new(&python)
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
            "{extra:?}: {}\n{}",
            String::from_utf8_lossy(&checked.stderr),
            output.stdout
        );
    }
}
