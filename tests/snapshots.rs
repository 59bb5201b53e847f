//! Snapshots of what people read: the human diagnostics and the preview in each format.

mod common;

use common::{NOW, refreshctl};

fn snapshot_of(args: &[&str]) -> String {
    let output = refreshctl(args);
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.code, output.stdout, output.stderr
    )
}

#[test]
fn human_diagnostics() {
    insta::assert_snapshot!(snapshot_of(&[
        "validate",
        "--now",
        NOW,
        "tests/fixtures/rules/missing-hotfix.yaml",
        "tests/fixtures/rules/schema.yaml",
        "tests/fixtures/rules/syntax.yaml",
        "tests/fixtures/formats/window-too-short.yaml",
    ]));
}

#[test]
fn preview_text() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "plans/contoso-uat-weekly.yaml"
    ]));
}

#[test]
fn preview_markdown_of_a_restore() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "markdown",
        "plans/contoso-test-restore.yaml"
    ]));
}

#[test]
fn preview_text_of_a_plan_with_problems() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "tests/fixtures/rules/lead-time.yaml"
    ]));
}

#[test]
fn preview_of_a_plan_that_did_not_load() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "tests/fixtures/rules/schema.yaml"
    ]));
}

#[test]
fn preview_markdown() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "markdown",
        "plans/contoso-uat-weekly.yaml"
    ]));
}

#[test]
fn preview_html() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "html",
        "plans/contoso-uat-weekly.yaml"
    ]));
}

#[test]
fn preview_markdown_of_a_plan_with_problems() {
    insta::assert_snapshot!(snapshot_of(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "markdown",
        "tests/fixtures/rules/lead-time.yaml"
    ]));
}
