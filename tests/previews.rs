//! The previews a reviewer approves from (`plan` in every format) and the `runs` table, on the
//! real binary: weekdays, the plan's zone, notifications, environment facts, rendered command
//! arguments, escaped backticks, and the flag on an invalid plan.

mod common;

use assert_cmd::Command;
use common::{NOW, refreshctl};

const WEEKLY: &str = "plans/contoso-uat-weekly.yaml";

fn preview(format: &str, plan: &str) -> (i32, String) {
    let output = refreshctl(&["plan", "--now", NOW, "--format", format, plan]);
    (output.code, output.stdout)
}

#[test]
fn every_date_shows_its_weekday_and_the_window_and_submit_by_show_the_zone() {
    for format in ["text", "markdown", "html"] {
        let (code, stdout) = preview(format, WEEKLY);
        assert_eq!(code, 0, "{format}: {stdout}");
        for expected in [
            // The window, in UTC and in Europe/Amsterdam.
            "2026-11-28T21:00:00Z (Sat) to 2026-11-29T03:00:00Z (Sun)",
            "2026-11-28T22:00:00+01:00 (Sat) to 2026-11-29T04:00:00+01:00 (Sun)",
            // The submit-by time, in UTC and in the zone.
            "2026-11-26T21:00:00Z (Thu)",
            "2026-11-26T22:00:00+01:00 (Thu)",
            // A later occurrence.
            "2026-12-05T22:00:00+01:00 (Sat)",
            "Europe/Amsterdam",
        ] {
            assert!(
                stdout.contains(expected),
                "{format}: no {expected:?}\n{stdout}"
            );
        }
    }
    // A restore's point in time, also in the plan's zone (Friday evening in New York).
    let (code, stdout) = preview("markdown", "plans/contoso-test-restore.yaml");
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(
            "| Point in time | 2026-11-28T01:00:00Z (Sat)<br>2026-11-27T20:00:00-05:00 (Fri) (America/New_York) |"
        ),
        "{stdout}"
    );
}

#[test]
fn markdown_and_html_show_notifications_environments_and_rendered_commands() {
    for format in ["markdown", "html"] {
        let (code, stdout) = preview(format, WEEKLY);
        assert_eq!(code, 0, "{format}: {stdout}");
        for expected in [
            "Notifications",
            "https://contoso.webhook.office.com/…",
            "on submitted, started, awaiting-approval, succeeded, failed, canceled, rejected",
            "(production, 10.0.41)",
            "(sandbox, 10.0.41)",
            // The arguments as the run of the previewed window renders them.
            "./scripts/anonymize.sh contoso-uat --run=contoso-uat-weekly@20261128T2100Z",
        ] {
            assert!(
                stdout.contains(expected),
                "{format}: no {expected:?}\n{stdout}"
            );
        }
        assert!(!stdout.contains("{{"), "{format}: a raw template\n{stdout}");
        assert!(
            !stdout.contains("webhookb2"),
            "{format}: the notification URL's path is shown\n{stdout}"
        );
    }
}

#[test]
fn backticks_in_plan_text_stay_inside_their_code_span() {
    let (code, stdout) = preview("markdown", "tests/fixtures/previews/backticks.yaml");
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(
            "| `command` | run ``sh -c echo `date` \\| tee contoso-uat.log`` (timeout 30m) | `` local program `sh` `` |"
        ),
        "{stdout}"
    );
}

#[test]
fn an_invalid_plan_is_flagged_at_the_top_of_every_format_and_exits_1() {
    // One plan that resolves but has an error, and one that does not load at all.
    for plan in [
        "tests/fixtures/rules/lead-time.yaml",
        "tests/fixtures/rules/schema.yaml",
    ] {
        for (format, flag) in [
            ("text", "INVALID PLAN: 1 error"),
            ("markdown", "> **Invalid plan:** 1 error"),
            (
                "html",
                "<p class=\"error invalid\"><strong>Invalid plan:</strong> 1 error",
            ),
        ] {
            let (code, stdout) = preview(format, plan);
            assert_eq!(code, 1, "{plan} {format}: {stdout}");
            let flagged = stdout.find(flag).unwrap_or_else(|| {
                panic!("{plan} {format}: no {flag:?}\n{stdout}");
            });
            // At the top: before the plan's name, its table and its diagnostics.
            let body = stdout.find("<body>").map_or(0, |at| at + "<body>".len());
            assert!(
                stdout[body..flagged].trim().len() <= "> [!CAUTION]".len(),
                "{plan} {format}: the flag is not at the top\n{stdout}"
            );
        }
        let (code, stdout) = preview("json", plan);
        assert_eq!(code, 1, "{plan} json: {stdout}");
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        assert_eq!(json["valid"], false, "{plan}: {json}");
    }
    for format in ["text", "markdown", "html"] {
        let (code, stdout) = preview(format, WEEKLY);
        assert_eq!(code, 0, "{format}");
        assert!(!stdout.to_lowercase().contains("invalid plan"), "{stdout}");
    }
    let (code, stdout) = preview("json", WEEKLY);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["valid"], true, "{json}");
}

#[test]
fn the_runs_table_shows_each_window_with_its_weekday() {
    let home = tempfile::tempdir().expect("temp");
    let state = home.path().join("state.db").display().to_string();
    let run = |args: &[&str]| {
        let output = Command::cargo_bin("refreshctl")
            .expect("binary")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env_remove("REFRESHCTL_ADAPTER")
            .env("REFRESHCTL_STATE", &state)
            .args(args)
            .timeout(std::time::Duration::from_mins(1))
            .output()
            .expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, stdout) = run(&["submit", "--now", NOW, WEEKLY]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout) = run(&["runs"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(
            "contoso-uat-weekly@20261128T2100Z  simulator  submitted          2026-11-28T21:00:00Z (Sat) to 2026-11-29T03:00:00Z (Sun)"
        ),
        "{stdout}"
    );
}

#[test]
fn a_plan_that_names_the_power_platform_previews_its_calls_without_a_flag() {
    // contoso-test-restore has an LCS project (its production lives there) but says
    // `service: power-platform`: the preview follows the plan, as `validate` does.
    let output = refreshctl(&[
        "plan",
        "--now",
        NOW,
        "--format",
        "json",
        "plans/contoso-test-restore.yaml",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let preview: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    let calls: Vec<&str> = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .flat_map(|step| step["calls"].as_array().into_iter().flatten())
        .filter_map(|call| call.as_str())
        .collect();
    assert!(
        calls
            .iter()
            .any(|call| call.contains("environmentmanagement/environments/{target id}/restore")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|call| call.contains("databasemovement")),
        "an LCS call in a Power Platform preview: {calls:?}"
    );
}
