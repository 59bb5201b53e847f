//! The committed JSON Schema is the generated one, and every example plan passes it.

mod common;

use common::refreshctl;

fn committed() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/refresh-plan.schema.json"
    ))
    .expect("the committed schema")
}

#[test]
fn committed_schema_is_the_generated_one() {
    assert_eq!(
        refreshctl::plan::json_schema(),
        committed(),
        "schemas/refresh-plan.schema.json is stale: run `cargo run -- schema > schemas/refresh-plan.schema.json`"
    );
    let output = refreshctl(&["schema"]);
    assert_eq!(output.code, 0);
    assert_eq!(output.stdout, committed());
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&committed()).expect("schema is JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::validator_for(&schema).expect("a valid draft-07 schema")
}

fn as_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("plan");
    serde_saphyr::from_str(&text).expect("plan YAML")
}

#[test]
fn every_example_plan_passes_the_schema() {
    let validator = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/plans")).expect("plans/") {
        let path = entry.expect("entry").path();
        if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            let text = std::fs::read_to_string(&path).expect("plan");
            assert!(
                text.starts_with(
                    "# yaml-language-server: $schema=../schemas/refresh-plan.schema.json"
                ),
                "{} lacks the modeline",
                path.display()
            );
            let errors: Vec<String> = validator
                .iter_errors(&as_json(&path))
                .map(|error| error.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3);
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let validator = validator();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let clean = as_json(&root.join("tests/fixtures/rules/clean.yaml"));
    assert!(validator.is_valid(&clean));
    for fixture in ["schema", "unsupported-database"] {
        let plan = as_json(&root.join(format!("tests/fixtures/rules/{fixture}.yaml")));
        let expect_valid = fixture == "unsupported-database"; // a known value: a rule, not the schema
        assert_eq!(validator.is_valid(&plan), expect_valid, "{fixture}");
    }
    let mut both = clean.clone();
    both["window"]["end"] = "2026-12-06T01:00:00+01:00".into();
    assert!(!validator.is_valid(&both), "duration and end together");
    let mut bad_name = clean;
    bad_name["name"] = "Not A Name".into();
    assert!(!validator.is_valid(&bad_name));
}

fn schema_json() -> serde_json::Value {
    serde_json::from_str(&committed()).expect("schema is JSON")
}

/// Hover on `environment` shows its own words (the TARGET), not the shared definition's.
#[test]
fn environment_describes_itself_as_the_target() {
    let schema = schema_json();
    let environment = &schema["properties"]["environment"];
    assert!(
        environment["description"]
            .as_str()
            .is_some_and(|text| text.contains("TARGET"))
    );
    assert!(
        environment["markdownDescription"]
            .as_str()
            .is_some_and(|text| text.contains("**TARGET**"))
    );
    assert!(
        schema["properties"]["source"]["markdownDescription"]
            .as_str()
            .is_some_and(|text| text.contains("copied into the target"))
    );
    // The definition both share has no description of its own to show instead.
    assert!(
        schema["definitions"]["RawEnvironment"]
            .get("description")
            .is_none()
    );
}

/// Every enum value of the schema (step kinds, notification events, acknowledgements,
/// environment types, databases) is a `const` with a description, which editors show on
/// completion and hover.
#[test]
fn every_enum_value_has_a_description() {
    fn walk(value: &serde_json::Value, path: &str, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                assert!(
                    map.get("enum").is_none(),
                    "{path}: a bare enum, no descriptions"
                );
                if let Some(constant) = map.get("const")
                    && !path.contains("contains")
                {
                    assert!(
                        map.get("description")
                            .and_then(serde_json::Value::as_str)
                            .is_some_and(|text| text.len() > 10),
                        "{path}: `{constant}` has no description"
                    );
                    found.push(constant.as_str().unwrap_or_default().to_owned());
                }
                for (key, value) in map {
                    walk(value, &format!("{path}/{key}"), found);
                }
            }
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}/{index}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&schema_json(), "", &mut found);
    for value in [
        "reprovision",
        "reset-financial-reporting",
        "submitted",
        "awaiting-approval",
        "rescheduled",
        "target-database-erased",
        "target-unavailable",
        "sandbox",
        "finance-operations",
    ] {
        assert!(found.iter().any(|each| each == value), "{value}: {found:?}");
    }
    // Step kinds with options describe themselves too.
    let steps = schema_json()["definitions"]["PostStep"]["oneOf"].clone();
    for kind in ["deploy", "command", "manual"] {
        let form = steps
            .as_array()
            .expect("forms")
            .iter()
            .find(|form| form["required"][0] == kind)
            .unwrap_or_else(|| panic!("{kind}"));
        assert!(form["description"].is_string(), "{kind}");
        assert!(
            form["properties"][kind]["description"].is_string(),
            "{kind}"
        );
    }
}

/// Durations, times, the point in time and cron expressions carry patterns.
#[test]
fn durations_and_times_carry_patterns() {
    let schema = schema_json();
    let window = &schema["definitions"]["RawWindow"]["properties"];
    for pattern in [
        &schema["properties"]["lead_time"]["pattern"],
        &schema["properties"]["point_in_time"]["pattern"],
        &window["start"]["pattern"],
        &window["end"]["pattern"],
        &window["duration"]["pattern"],
        &window["cron"]["pattern"],
        &schema["definitions"]["RawCommand"]["properties"]["timeout"]["pattern"],
    ] {
        assert!(
            pattern.as_str().is_some_and(|text| text.starts_with('^')),
            "{pattern}"
        );
    }
}

/// (what to replace in `plans/contoso-uat-weekly.yaml`, with what, the JSON pointer the schema
/// flags, the rule `validate` flags it with at the same line).
const BROKEN: &[(&str, &str, &str, &str)] = &[
    (
        "  - target-unavailable\n",
        "",
        "/acknowledge",
        "acknowledgements",
    ),
    (
        "  - target-database-erased\n",
        "",
        "/acknowledge",
        "acknowledgements",
    ),
    (
        "lead_time: 48h",
        "lead_time: 48 hours or so",
        "/lead_time",
        "schema",
    ),
    (
        "  duration: 6h",
        "  duration: six hours",
        "/window/duration",
        "schema",
    ),
    (
        "  cron: \"0 22 * * SAT\"",
        "  cron: \"0 22 * SAT\"",
        "/window/cron",
        "schema",
    ),
    (
        "  duration: 6h",
        "  duration: 6h\n  end: 2026-12-06T04:00:00",
        "/window",
        "schema",
    ),
    (
        "lead_time: 48h",
        "point_in_time: yesterday",
        "/point_in_time",
        "schema",
    ),
    (
        "  - reprovision\n",
        "  - reprovison\n",
        "/post_steps/0",
        "schema",
    ),
    (
        "      timeout: 30m",
        "      timeout: half an hour",
        "/post_steps/3",
        "schema",
    ),
    (
        "on: [submitted,",
        "on: [submited,",
        "/notifications/0/on/0",
        "schema",
    ),
    (
        "  type: sandbox",
        "  type: sandbx",
        "/environment/type",
        "schema",
    ),
    (
        "  type: sandbox",
        "  colour: blue",
        "/environment",
        "schema",
    ),
];

/// The schema flags a broken plan where `validate` does: the same node, by the rule that the
/// loader or the rules give it.
#[test]
fn the_schema_flags_broken_plans_where_the_rules_do() {
    let validator = validator();
    let weekly = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/plans/contoso-uat-weekly.yaml"
    ))
    .expect("the weekly plan");
    let directory = tempfile::tempdir().expect("temp");
    for (from, to, pointer, rule) in BROKEN {
        assert!(weekly.contains(from), "{from}");
        let text = weekly.replacen(from, to, 1);
        let path = directory.path().join("broken.yaml");
        std::fs::write(&path, &text).expect("write");
        let plan: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let flagged: Vec<String> = validator
            .iter_errors(&plan)
            .map(|error| error.instance_path().to_string())
            .collect();
        assert!(
            flagged.iter().any(|path| path == pointer),
            "{to}: the schema flags {flagged:?}, not {pointer}"
        );
        let (_, json) = common::validate_json(&[path.to_str().expect("path")]);
        let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
        assert!(
            diagnostics.iter().any(|found| found["rule"] == *rule),
            "{to}: {diagnostics:#?}"
        );
        // Where the edit made a line, validate points at it (or, for a removed statement, at
        // the list).
        let line = text[..text.find(to.trim_start_matches(['\n', ' '])).unwrap_or(0)]
            .lines()
            .count();
        if !to.is_empty() && *rule == "schema" {
            assert!(
                diagnostics.iter().any(|found| {
                    found["line"]
                        .as_u64()
                        .is_some_and(|at| (line as u64..=line as u64 + 2).contains(&at))
                }),
                "{to}: not near line {line}: {diagnostics:#?}"
            );
        }
    }
}
