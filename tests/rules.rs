//! One fixture per rule: each fires exactly its rule, at the expected line and column.

mod common;

use std::collections::HashSet;

use common::{NOW, findings, refreshctl_in, validate_json};
use refreshctl::rules::Rule;

/// (fixture, rule, severity, line, column): each fixture is tests/fixtures/rules/<fixture>.yaml.
const SINGLE: &[(&str, &str, &str, u64, u64)] = &[
    ("syntax", "syntax", "error", 3, 8),
    ("schema", "schema", "error", 14, 3),
    ("schema-time", "schema", "error", 13, 10),
    ("lead-time", "lead-time", "error", 13, 10),
    ("window-passed", "window-passed", "warning", 13, 10),
    ("window-too-short", "window-too-short", "warning", 14, 13),
    ("acknowledgements", "acknowledgements", "error", 16, 3),
    (
        "unsupported-database",
        "unsupported-database",
        "error",
        12,
        11,
    ),
    ("production-target", "production-target", "error", 6, 9),
    ("same-source-target", "same-source-target", "error", 9, 9),
    ("release-mismatch", "release-mismatch", "error", 7, 12),
    ("point-in-time", "point-in-time", "error", 12, 16),
    ("missing-hotfix", "missing-hotfix", "error", 8, 13),
    ("channel-names", "channel-names", "error", 9, 23),
    (
        "reprovision-recommended",
        "reprovision-recommended",
        "warning",
        19,
        3,
    ),
    (
        "financial-reporting-reset",
        "financial-reporting-reset",
        "warning",
        19,
        3,
    ),
    ("cron-day-fields", "cron-day-fields", "warning", 14, 9),
    ("missing-file", "missing-file", "error", 20, 13),
    ("scheduler-slack", "scheduler-slack", "warning", 13, 12),
];

#[test]
fn each_rule_fixture_fires_exactly_its_rule_at_its_place() {
    for (fixture, rule, severity, line, column) in SINGLE {
        let path = format!("tests/fixtures/rules/{fixture}.yaml");
        let (code, json) = validate_json(&[&path]);
        assert_eq!(
            findings(&json),
            [((*rule).to_owned(), (*severity).to_owned(), *line, *column)],
            "{fixture}"
        );
        assert_eq!(json["diagnostics"][0]["file"], path.as_str());
        assert_eq!(code, i32::from(*severity == "error"), "{fixture}");
    }
}

#[test]
fn unknown_release_warns_for_each_side() {
    let (code, json) = validate_json(&["tests/fixtures/rules/unknown-release.yaml"]);
    assert_eq!(
        findings(&json),
        [
            ("unknown-release".to_owned(), "warning".to_owned(), 7, 12),
            ("unknown-release".to_owned(), "warning".to_owned(), 11, 12),
        ]
    );
    assert_eq!(code, 0, "warnings alone pass");
}

#[test]
fn the_clean_fixture_has_no_diagnostics() {
    let (code, json) = validate_json(&["tests/fixtures/rules/clean.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(findings(&json), []);
    assert_eq!(json["summary"]["plans"], 1);
}

/// (directory under tests/fixtures/plan-sets, rule, severity, file, line, column).
const SETS: &[(&str, &str, &str, &str, u64, u64)] = &[
    ("duplicate-name", "duplicate-name", "error", "b.yaml", 2, 7),
    ("window-overlap", "window-overlap", "error", "b.yaml", 11, 3),
    ("source-in-use", "source-in-use", "warning", "a.yaml", 8, 9),
    (
        "operation-limit",
        "operation-limit",
        "error",
        "d.yaml",
        11,
        3,
    ),
];

#[test]
fn cross_plan_rules_fire_over_plan_sets() {
    for (set, rule, severity, file, line, column) in SETS {
        let directory = format!("tests/fixtures/plan-sets/{set}");
        let (_, json) = validate_json(&[&directory]);
        assert_eq!(
            findings(&json),
            [((*rule).to_owned(), (*severity).to_owned(), *line, *column)],
            "{set}"
        );
        assert_eq!(
            json["diagnostics"][0]["file"],
            format!("{directory}/{file}")
        );
    }
    let (code, json) = validate_json(&["tests/fixtures/plan-sets/no-conflict"]);
    assert_eq!(
        (code, findings(&json)),
        (0, vec![]),
        "back-to-back windows do not overlap"
    );
}

/// Two plans that say different things of one environment: an error at each place, naming the
/// other plan and where it says otherwise; each plan alone is clean, and a fact left out agrees
/// with anything.
#[test]
fn plans_that_disagree_on_an_environment_are_errors_at_both_places() {
    let directory = "tests/fixtures/plan-sets/inconsistent-facts";
    let (code, json) = validate_json(&[directory]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(
        findings(&json),
        [
            ("inconsistent-facts".to_owned(), "error".to_owned(), 11, 12),
            ("inconsistent-facts".to_owned(), "error".to_owned(), 11, 12),
        ]
    );
    let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
    let files: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["file"].as_str().expect("file"))
        .collect();
    assert!(
        files[0].ends_with("a.yaml") && files[1].ends_with("b.yaml"),
        "{files:?}"
    );
    let message = diagnostics[0]["message"].as_str().expect("message");
    assert!(
        message.contains("`contoso-prod` has release `10.0.41`")
            && message.contains("`test-weekly` (")
            && message.contains("b.yaml:11:12) says `10.0.40`"),
        "{message}"
    );
    for file in ["a.yaml", "b.yaml"] {
        let (code, json) = validate_json(&[&format!("{directory}/{file}")]);
        assert_eq!((code, findings(&json)), (0, vec![]), "{file} alone");
    }
    // Leaving the release out of one plan: nothing to disagree with.
    let dir = tempfile::tempdir().expect("temp");
    for file in ["a.yaml", "b.yaml"] {
        let text = std::fs::read_to_string(format!("{directory}/{file}")).expect("fixture");
        let text = if file == "b.yaml" {
            text.replace("  release: \"10.0.40\"\nwindow", "window")
        } else {
            text
        };
        std::fs::write(dir.path().join(file), text).expect("write");
    }
    let (_, json) = validate_json(&[dir.path().to_str().expect("utf-8")]);
    assert!(
        !findings(&json)
            .iter()
            .any(|(rule, ..)| rule == "inconsistent-facts"),
        "{json}"
    );
}

/// Validation keeps only a summary of each plan while it checks the others: the rules across
/// plans still find a conflict between the first and the last file of a large directory, the
/// same diagnostics at the same places as in the small set.
#[test]
fn cross_plan_rules_fire_between_the_first_and_the_last_of_many_files() {
    let filler = std::fs::read_to_string("tests/fixtures/rules/clean.yaml").expect("fixture");
    let sets = SETS
        .iter()
        .map(|(set, ..)| *set)
        .chain(["inconsistent-facts"]);
    for set in sets {
        let small = format!("tests/fixtures/plan-sets/{set}");
        let dir = tempfile::tempdir().expect("temp");
        let mut names: Vec<String> = std::fs::read_dir(&small)
            .expect("fixture set")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .collect();
        names.sort();
        // The set's first file sorts first; the others after 400 plans of another project.
        let renamed = |name: &str| {
            if *name == names[0] {
                name.to_owned()
            } else {
                format!("z-{name}")
            }
        };
        for name in &names {
            std::fs::copy(format!("{small}/{name}"), dir.path().join(renamed(name))).expect("copy");
        }
        for index in 0..400 {
            let text = filler
                .replace("name: uat-refresh", &format!("name: filler-{index:04}"))
                .replace("project: 1234567", "project: 7654321")
                .replace("name: contoso-uat", &format!("name: filler-uat-{index:04}"));
            std::fs::write(dir.path().join(format!("m-{index:04}.yaml")), text).expect("write");
        }
        let big = dir.path().to_str().expect("utf-8");
        let (_, expected) = validate_json(&[&small]);
        let (_, found) = validate_json(&[big]);
        assert_eq!(findings(&found), findings(&expected), "{set}");
        let files = |json: &serde_json::Value, prefix: &str| -> Vec<String> {
            json["diagnostics"]
                .as_array()
                .expect("diagnostics")
                .iter()
                .map(|d| {
                    let file = d["file"].as_str().expect("file");
                    let name = file.strip_prefix(prefix).expect("in the set");
                    name.trim_start_matches('/').to_owned()
                })
                .collect()
        };
        let renamed_expected: Vec<String> = files(&expected, &small)
            .iter()
            .map(|name| renamed(name))
            .collect();
        assert_eq!(files(&found, big), renamed_expected, "{set}");
        assert_eq!(found["summary"]["files"], names.len() + 400, "{set}");
    }
}

#[test]
fn cross_plan_rules_need_the_plans_together() {
    // Each plan of a conflicting set is clean on its own.
    for file in ["a.yaml", "b.yaml"] {
        let path = format!("tests/fixtures/plan-sets/window-overlap/{file}");
        let (code, json) = validate_json(&[&path]);
        assert_eq!((code, findings(&json)), (0, vec![]), "{file}");
    }
}

#[test]
fn every_rule_has_a_fixture() {
    let covered: HashSet<&str> = SINGLE
        .iter()
        .map(|row| row.1)
        .chain(SETS.iter().map(|row| row.1))
        .chain([
            "unknown-release",
            "adapter-unsupported",
            "inconsistent-facts",
        ])
        .collect();
    for rule in Rule::ALL {
        assert!(covered.contains(rule.id()), "no fixture for {rule}");
    }
}

#[test]
fn adapter_unsupported_only_with_an_adapter_that_lacks_the_capability() {
    let dir = tempfile::tempdir().expect("temp");
    let restore = dir.path().join("restore.yaml");
    // The example as an LCS plan would be (with reprovisioning, which the Power Platform has
    // not), without its `service`: only `--adapter` says what to check.
    let text = std::fs::read_to_string("plans/contoso-test-restore.yaml")
        .expect("example")
        .replace("post_steps:\n", "post_steps:\n  - reprovision\n");
    std::fs::write(
        &restore,
        text.lines()
            .filter(|line| !line.starts_with("service:"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect("write");
    let restore = restore.to_str().expect("utf-8");
    let (code, json) = validate_json(&["--adapter", "lcs", restore]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&json),
        [("adapter-unsupported".to_owned(), "error".to_owned(), 16, 16)]
    );
    let (code, json) = validate_json(&["--adapter", "simulator", restore]);
    assert_eq!((code, findings(&json)), (0, vec![]));
    let (code, _) = validate_json(&[restore]);
    assert_eq!(code, 0, "no service and no adapter, no adapter rule");
}

/// A plan that names its service is checked for that service's adapter without a flag, so CI
/// catches a plan only the simulator can run.
#[test]
fn a_plans_service_applies_adapter_unsupported_without_a_flag() {
    let dir = tempfile::tempdir().expect("temp");
    let text = std::fs::read_to_string("plans/contoso-test-restore.yaml")
        .expect("example")
        .replace("service: power-platform", "service: lcs           ")
        .replace("post_steps:\n", "post_steps:\n  - reprovision\n");
    let path = dir.path().join("restore-on-lcs.yaml");
    std::fs::write(&path, text).expect("write");
    let path = path.to_str().expect("utf-8");
    let (code, json) = validate_json(&[path]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(
        findings(&json),
        [("adapter-unsupported".to_owned(), "error".to_owned(), 17, 16)]
    );
    assert!(
        json["diagnostics"][0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("the `lcs` adapter cannot restore")),
        "{json}"
    );
    // Every example plan names its service and is clean for it, with no flag.
    let (code, json) = validate_json(&["--deny-warnings", "plans/"]);
    assert_eq!((code, findings(&json)), (0, vec![]));
}

/// A real `--adapter` that is not the plan's `service` is an error at `service`, in `validate`
/// and when a run would start; the simulator rehearses any plan.
#[test]
fn an_adapter_that_contradicts_the_plans_service_is_an_error_at_service() {
    let (code, json) = validate_json(&["--adapter", "lcs", "plans/contoso-test-restore.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&json),
        [("adapter-unsupported".to_owned(), "error".to_owned(), 11, 10)]
    );
    let message = json["diagnostics"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("meant for `service: power-platform`, not for the `lcs` adapter"),
        "{message}"
    );
    let (code, json) =
        validate_json(&["--adapter", "simulator", "plans/contoso-test-restore.yaml"]);
    assert_eq!(
        (code, findings(&json)),
        (0, vec![]),
        "a rehearsal of any plan"
    );
    let applied = common::refreshctl(&[
        "--adapter",
        "lcs",
        "apply",
        "--yes",
        "plans/contoso-test-restore.yaml",
    ]);
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    assert!(
        applied
            .stderr
            .contains("plans/contoso-test-restore.yaml:11:10")
            && applied.stderr.contains("not for the `lcs` adapter"),
        "{}",
        applied.stderr
    );
    let dir = tempfile::tempdir().expect("temp");
    let ticked = common::refreshctl(&[
        "--adapter",
        "lcs",
        "--state",
        dir.path().join("state.db").to_str().expect("utf-8"),
        "tick",
        "--plans",
        "plans/contoso-test-restore.yaml",
    ]);
    // Left out, saying where and what (then the pass stops: no LCS is configured here).
    assert!(
        ticked.stderr.contains(
            "`plans/contoso-test-restore.yaml` is not scheduled: 1 error(s), the first at \
             plans/contoso-test-restore.yaml:11:10: [adapter-unsupported] this plan is meant for \
             `service: power-platform`, not for the `lcs` adapter"
        ),
        "{}",
        ticked.stderr
    );
}

/// `explain` shows an example for each rule; validating it as `explain` says must fire the rule.
#[test]
fn every_explain_example_fires_its_rule() {
    for rule in Rule::ALL {
        let explanation = rule.explanation();
        let directory = tempfile::tempdir().expect("temp dir");
        let mut args = vec!["validate", "--format", "json", "--now", NOW];
        args.extend_from_slice(explanation.example_flags);
        let mut names = Vec::new();
        for (index, plan) in explanation.example.iter().enumerate() {
            let name = format!("example-{index}.yaml");
            std::fs::write(directory.path().join(&name), plan).expect("write example");
            names.push(name);
        }
        args.extend(names.iter().map(String::as_str));
        let output = refreshctl_in(directory.path(), &args);
        let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
        let fired: Vec<String> = findings(&json)
            .into_iter()
            .map(|finding| finding.0)
            .collect();
        assert!(
            fired.contains(&rule.id().to_owned()),
            "{rule}: example fired {fired:?}"
        );
    }
}

#[test]
fn templates_are_checked_while_validating() {
    use std::os::unix::fs::PermissionsExt as _;
    let (directory, plan) = common::temp_plan(|clean| {
        clean + "  - command:\n      run: [\"./anonymize.sh\", \"{{ enviroment.name }}\"]\n"
    });
    let script = directory.path().join("anonymize.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, json) = validate_json(&[&plan]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&json),
        [("schema".to_owned(), "error".to_owned(), 22, 31)]
    );
    let message = json["diagnostics"][0]["message"].as_str().expect("message");
    assert!(
        message.starts_with("template error:") && message.contains("enviroment"),
        "{message}"
    );

    let (directory, plan) = common::temp_plan(|clean| {
        clean
            + "notifications:\n  - url: https://hooks.example.com/x\n    template: body.json.tera\n"
    });
    let (code, json) = validate_json(&[&plan]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&json),
        [("schema".to_owned(), "error".to_owned(), 23, 15)]
    );
    assert!(
        json["diagnostics"][0]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("cannot read template `body.json.tera`"))
    );

    std::fs::write(
        directory.path().join("body.json.tera"),
        "{\"text\": {{ (plan.name ~ \" on \" ~ environment.name) | json }}}",
    )
    .expect("write the template");
    let (code, json) = validate_json(&[&plan]);
    assert_eq!(
        (code, findings(&json)),
        (0, vec![]),
        "the template sits beside the plan"
    );
}

#[test]
fn a_plan_with_a_broken_window_still_counts_for_duplicate_names() {
    let (_a, first) = common::temp_plan(|clean| clean);
    let (_b, second) = common::temp_plan(|clean| {
        clean
            .replace("name: contoso-uat\n", "name: contoso-test\n")
            .replace("duration: 3h", "duration: soon")
    });
    let (_, json) = validate_json(&[&first, &second]);
    let mut rules: Vec<String> = findings(&json)
        .into_iter()
        .map(|finding| finding.0)
        .collect();
    rules.sort_unstable();
    assert_eq!(rules, ["duplicate-name", "schema"]);
}

/// Cron's rule, which the plans follow: with both day fields restricted a window starts on a day
/// that matches either; `SUN#1` is the first Sunday only.
#[test]
fn both_day_fields_mean_either_and_the_hash_form_means_the_nth_weekday() {
    let (_, json) = validate_json(&["tests/fixtures/rules/cron-day-fields.yaml"]);
    let message = json["diagnostics"][0]["message"].as_str().expect("message");
    // From 2026-11-24: Nov 29; Dec 1-7 (the 6th a Sunday); Dec 13, 20.
    assert!(
        message.contains(": 10 windows in the next 30 days"),
        "{message}"
    );
    let help = json["diagnostics"][0]["help"].as_str().expect("help");
    assert!(help.contains("`* * SUN#1`"), "{help}");
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = std::fs::read_to_string("tests/fixtures/rules/cron-day-fields.yaml")
        .expect("fixture")
        .replace("0 1 1-7 * SUN", "0 1 * * SUN#1");
    std::fs::write(dir.path().join("plan.yaml"), plan).expect("write");
    let output = refreshctl_in(
        dir.path(),
        &["plan", "--format", "json", "--now", NOW, "plan.yaml"],
    );
    assert_eq!(output.code, 0, "{}", output.stderr);
    let preview: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    let starts: Vec<&str> = preview["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .map(|occurrence| occurrence["start"].as_str().expect("start"))
        .collect();
    assert_eq!(
        starts,
        [
            "2026-12-06T01:00:00Z",
            "2027-01-03T01:00:00Z",
            "2027-02-07T01:00:00Z",
            "2027-03-07T01:00:00Z",
            "2027-04-04T01:00:00Z"
        ]
    );
    assert!(preview["diagnostics"].as_array().expect("list").is_empty());
}

/// A program named by a path must exist and be executable, relative to the plan's directory
/// (not the current one); a bare name (looked up on the runner's `PATH`) or a template is left
/// alone.
#[test]
fn a_command_program_is_looked_for_beside_the_plan() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(plans.join("scripts")).expect("dirs");
    let script = plans.join("scripts/clean.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("script");
    let plan = std::fs::read_to_string("tests/fixtures/rules/clean.yaml").expect("fixture")
        + "  - command:\n      run: [./scripts/clean.sh]\n  - command:\n      run: [psql, -c, select]\n  - command:\n      run: [\"{{ environment.name }}/x.sh\"]\n";
    std::fs::write(plans.join("plan.yaml"), plan).expect("plan");
    let (code, json) = validate_in(dir.path(), "plans/plan.yaml");
    assert_eq!(code, 1);
    assert_eq!(
        findings(&json),
        [("missing-file".to_owned(), "error".to_owned(), 22, 13)]
    );
    let message = json["diagnostics"][0]["message"].as_str().expect("message");
    assert!(message.contains("is not executable"), "{message}");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, json) = validate_in(dir.path(), "plans/plan.yaml");
    assert_eq!((code, findings(&json)), (0, Vec::new()));
    std::fs::remove_file(&script).expect("remove");
    std::fs::create_dir(&script).expect("a directory in its place");
    let (_, json) = validate_in(dir.path(), "plans/plan.yaml");
    let message = json["diagnostics"][0]["message"].as_str().expect("message");
    assert!(
        message.contains("is a directory, not a regular file"),
        "{message}"
    );
}

fn validate_in(dir: &std::path::Path, plan: &str) -> (i32, serde_json::Value) {
    let output = refreshctl_in(dir, &["validate", "--format", "json", "--now", NOW, plan]);
    (
        output.code,
        serde_json::from_str(&output.stdout).expect("one JSON object"),
    )
}

/// The 3-per-24h limit and the hotfixes a release needs are LCS's rules, declared by its adapter
/// (and the simulator's): a Power Platform plan is held to neither, an LCS plan still is.
#[test]
fn lcs_rules_hold_only_for_the_adapters_that_declare_them() {
    let with_service = |text: &str, service: &str| {
        text.replacen("project:", &format!("service: {service}\nproject:"), 1)
    };
    let rules = |json: &serde_json::Value| -> Vec<String> {
        findings(json)
            .into_iter()
            .map(|finding| finding.0)
            .collect()
    };
    for service in ["lcs", "power-platform"] {
        // Four windows on one environment within 24 hours (without reprovisioning, which the
        // Power Platform has not, so that only the limit is in question).
        let dir = tempfile::tempdir().expect("temp");
        for file in ["a.yaml", "b.yaml", "c.yaml", "d.yaml"] {
            let text =
                std::fs::read_to_string(format!("tests/fixtures/plan-sets/operation-limit/{file}"))
                    .expect("fixture")
                    .replace(
                        "[reprovision, reset-financial-reporting]",
                        "[reset-financial-reporting]",
                    );
            std::fs::write(dir.path().join(file), with_service(&text, service)).expect("write");
        }
        let (_, json) = validate_json(&[dir.path().to_str().expect("utf-8")]);
        let limited = rules(&json).contains(&"operation-limit".to_owned());
        assert_eq!(limited, service == "lcs", "{service}: {json}");
        // A release whose hotfixes the target lacks, before the reprovisioning tool.
        let dir = tempfile::tempdir().expect("temp");
        let text =
            std::fs::read_to_string("tests/fixtures/rules/missing-hotfix.yaml").expect("fixture");
        let path = dir.path().join("plan.yaml");
        std::fs::write(&path, with_service(&text, service)).expect("write");
        let (_, json) = validate_json(&[path.to_str().expect("utf-8")]);
        let held = rules(&json).contains(&"missing-hotfix".to_owned());
        assert_eq!(held, service == "lcs", "{service}: {json}");
    }
    // Without a service or an adapter, today's rules: LCS's.
    let (_, json) = validate_json(&["tests/fixtures/plan-sets/operation-limit"]);
    assert_eq!(rules(&json), ["operation-limit"]);
}
