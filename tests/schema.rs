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
