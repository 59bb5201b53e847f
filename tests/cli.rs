//! Every command of the real binary, and every exit code it documents.

mod common;
#[path = "common/skip.rs"]
mod skip;

use common::{NOW, refreshctl, refreshctl_in, temp_plan};

#[test]
fn version_and_help() {
    let output = refreshctl(&["--version"]);
    assert_eq!(output.code, 0);
    assert_eq!(
        output.stdout,
        format!("refreshctl {}\n", env!("CARGO_PKG_VERSION"))
    );
    let output = refreshctl(&["--help"]);
    assert_eq!(output.code, 0);
    assert!(output.stdout.contains("validate") && output.stdout.contains("Exit codes"));
}

#[test]
fn usage_errors_exit_2() {
    let output = refreshctl(&["validate", "--no-such-flag"]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("--no-such-flag"));
    let output = refreshctl(&["validate", "--now", "tomorrow", "plans"]);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains("`tomorrow` is not an RFC 3339 time"),
        "{}",
        output.stderr
    );
    let output = refreshctl(&["validate", "--now", "2026-11-24T12:00:00", "plans"]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("has no offset"), "{}", output.stderr);
    let output = refreshctl(&["validate", "--format", "xml", "plans"]);
    assert_eq!(output.code, 2);
}

#[test]
fn validate_defaults_to_plans_and_passes_the_examples_at_any_time() {
    for now in [
        NOW,
        "2027-03-28T00:30:00Z",
        "2028-02-29T12:00:00+05:30",
        "2026-10-25T01:30:00Z",
    ] {
        let output = refreshctl(&["validate", "--deny-warnings", "--now", now]);
        assert_eq!(output.code, 0, "at {now}: {}", output.stdout);
        assert_eq!(output.stdout, "checked 5 files (5 plans): no problems\n");
    }
    let output = refreshctl(&["validate", "--deny-warnings"]);
    assert_eq!(output.code, 0, "at the real now: {}", output.stdout);
}

#[test]
fn validate_exit_codes_follow_errors_and_warnings() {
    let errors = refreshctl(&[
        "validate",
        "--now",
        NOW,
        "tests/fixtures/rules/lead-time.yaml",
    ]);
    assert_eq!(errors.code, 1);
    let warnings = [
        "validate",
        "--now",
        NOW,
        "tests/fixtures/rules/window-too-short.yaml",
    ];
    assert_eq!(refreshctl(&warnings).code, 0, "warnings pass by default");
    let mut denied = warnings.to_vec();
    denied.insert(1, "--deny-warnings");
    assert_eq!(refreshctl(&denied).code, 1);
}

#[test]
fn validate_input_errors_exit_2_and_say_what() {
    let output = refreshctl(&["validate", "no/such/dir"]);
    assert_eq!(output.code, 2);
    assert_eq!(
        output.stderr,
        "error: `no/such/dir` does not exist\nhint: check the path; directories are searched recursively\n"
    );
    let empty = tempfile::tempdir().expect("temp");
    std::fs::write(empty.path().join("notes.txt"), "not a plan").expect("write");
    let output = refreshctl_in(empty.path(), &["validate", "."]);
    assert_eq!(output.code, 2);
    assert!(
        output
            .stderr
            .starts_with("error: no plan files (*.yaml, *.yml) found in `.`")
    );
}

#[test]
fn a_catalog_can_replace_the_embedded_one() {
    let directory = tempfile::tempdir().expect("temp");
    let catalog = directory.path().join("catalog.yaml");
    std::fs::write(
        &catalog,
        "format_version: 1\nreleases:\n  - release: \"10.0\"\n    service_updates: true\n    requires: [KB1234567]\n    source: an internal note\n",
    )
    .expect("write");
    let catalog = catalog.to_str().expect("utf-8");
    let clean = "tests/fixtures/rules/clean.yaml";
    let output = refreshctl(&[
        "validate",
        "--format",
        "json",
        "--now",
        NOW,
        "--catalog",
        catalog,
        clean,
    ]);
    assert_eq!(output.code, 1);
    assert!(output.stdout.contains("\"rule\": \"missing-hotfix\""));
    assert!(output.stdout.contains("KB1234567"));

    std::fs::write(
        directory.path().join("bad.yaml"),
        "format_version: 1\nreleases:\n  - release: seven\n    requires: []\n    source: x\n",
    )
    .expect("write");
    let bad = directory.path().join("bad.yaml");
    let output = refreshctl(&["validate", "--catalog", bad.to_str().expect("utf-8"), clean]);
    assert_eq!(output.code, 2);
    assert!(
        output
            .stderr
            .contains("is not valid at 3:14: release `seven` is not major.minor"),
        "{}",
        output.stderr
    );
}

#[test]
fn plan_previews_and_exit_codes() {
    let output = refreshctl(&["plan", "--now", NOW, "plans/contoso-uat-weekly.yaml"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.starts_with("Plan contoso-uat-weekly"));

    let output = refreshctl(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "json",
        "tests/fixtures/rules/lead-time.yaml",
    ]);
    assert_eq!(output.code, 1, "a plan with errors previews but fails");
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert_eq!(json["diagnostics"][0]["rule"], "lead-time");
    assert_eq!(json["window"]["start"], "2026-11-25T08:00:00Z");

    let output = refreshctl(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "json",
        "tests/fixtures/rules/schema.yaml",
    ]);
    assert_eq!(output.code, 1);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert!(
        json.get("steps").is_none(),
        "no preview of a plan that did not load"
    );
    assert_eq!(json["diagnostics"][0]["rule"], "schema");

    let output = refreshctl(&["plan", "no-such-plan.yaml"]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("`no-such-plan.yaml` does not exist"));
}

#[test]
fn plan_json_has_the_documented_fields() {
    let output = refreshctl(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "json",
        "plans/contoso-uat-weekly.yaml",
    ]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    for field in [
        "format_version",
        "plan",
        "operation",
        "project",
        "environment",
        "source",
        "window",
        "submit_by",
        "point_in_time",
        "steps",
        "effects",
        "diagnostics",
        "occurrences",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
    assert_eq!(json["operation"], "refresh");
    // The next Saturday 22:00 in Amsterdam that is at least the 48h lead time away.
    assert_eq!(json["window"]["start"], "2026-11-28T21:00:00Z");
    assert_eq!(json["window"]["end"], "2026-11-29T03:00:00Z");
    assert_eq!(json["window"]["start_local"], "2026-11-28T22:00:00+01:00");
    assert_eq!(json["submit_by"], "2026-11-26T21:00:00Z");
    assert_eq!(json["point_in_time"], "latest");
    assert_eq!(json["occurrences"].as_array().map(Vec::len), Some(5));
    let ids: Vec<&str> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| step["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "preflight",
            "submit",
            "wait-for-window",
            "start-refresh",
            "monitor-refresh",
            "reprovision.download",
            "reprovision.upload",
            "reprovision.apply",
            "reprovision.monitor",
            "reset-financial-reporting",
            "deploy.upload",
            "deploy.apply",
            "deploy.monitor",
            "command",
            "manual",
        ]
    );
    assert!(
        !output.stdout.contains("uat-refresh\""),
        "the web hook path is not shown"
    );
}

#[test]
fn repeated_step_kinds_are_numbered() {
    let (_directory, plan) = temp_plan(|clean| {
        clean
            + "  - command: {run: [\"true\"]}\n  - command: {run: [\"false\"]}\n  - deploy: {asset: 3a1f, name: hotfix}\n  - deploy: {asset: 3a20}\n  - reprovision: {file: erp.zip}\n"
    });
    let output = refreshctl(&["plan", "--now", NOW, "--format", "json", &plan]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    let ids: Vec<&str> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        &ids[5..],
        [
            "reprovision.download",
            "reprovision.upload",
            "reprovision.apply",
            "reprovision.monitor",
            "reset-financial-reporting",
            "command",
            "command#2",
            "deploy.apply",
            "deploy.monitor",
            "deploy#2.apply",
            "deploy#2.monitor",
            "reprovision#2.upload",
            "reprovision#2.apply",
            "reprovision#2.monitor",
        ]
    );
}

#[test]
fn plan_with_a_user_template() {
    let directory = tempfile::tempdir().expect("temp");
    let template = directory.path().join("mine.tera");
    std::fs::write(
        &template,
        "{{ plan }} starts {{ window.start }}; {{ steps | length }} steps\n",
    )
    .expect("write");
    let output = refreshctl(&[
        "plan",
        "--now",
        NOW,
        "--template",
        template.to_str().expect("utf-8"),
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        output.stdout,
        "contoso-uat-weekly starts 2026-11-28T21:00:00Z; 15 steps\n"
    );

    std::fs::write(&template, "{{ plan.no_such_field }}").expect("write");
    let output = refreshctl(&[
        "plan",
        "--now",
        NOW,
        "--template",
        template.to_str().expect("utf-8"),
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.starts_with("error: the template"),
        "{}",
        output.stderr
    );
}

#[test]
fn html_preview_escapes_plan_text() {
    let (_directory, plan) = temp_plan(|clean| {
        clean.replace(
            "version: 1\n",
            "version: 1\ndescription: \"<script>alert(1)</script>\"\n",
        )
    });
    let output = refreshctl(&["plan", "--now", NOW, "--format", "html", &plan]);
    assert_eq!(output.code, 0);
    assert!(output.stdout.contains("&lt;script&gt;"));
    assert!(!output.stdout.contains("<script>"));
}

#[test]
fn rules_and_explain() {
    let output = refreshctl(&["rules"]);
    assert_eq!(output.code, 0);
    assert_eq!(
        output.stdout.lines().count(),
        refreshctl::rules::Rule::ALL.len()
    );
    assert!(
        output
            .stdout
            .lines()
            .any(|line| line.starts_with("lead-time") && line.contains("error"))
    );
    let output = refreshctl(&["rules", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert_eq!(json[0]["id"], "syntax");

    let output = refreshctl(&["explain", "lead-time"]);
    assert_eq!(output.code, 0);
    assert!(
        output
            .stdout
            .starts_with("lead-time (error, checks one plan)\n")
    );
    assert!(
        output
            .stdout
            .contains(&format!("refreshctl validate --now {NOW} example.yaml"))
    );
    let output = refreshctl(&["explain", "lead-tme"]);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains("did you mean `lead-time`?"),
        "{}",
        output.stderr
    );
}

#[test]
fn the_adapter_comes_from_the_environment_too() {
    let output = assert_cmd::Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("REFRESHCTL_ADAPTER", "lcs")
        .args(["validate", "--now", NOW, "plans/contoso-test-restore.yaml"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("adapter-unsupported"));
}

#[test]
fn output_that_cannot_be_written_is_an_environment_failure() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        skip::skip("this system has no /dev/full");
        return;
    };
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin!("refreshctl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("rules")
        .stdout(std::process::Stdio::from(full))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot write the output:"),
        "{stderr}"
    );
}
