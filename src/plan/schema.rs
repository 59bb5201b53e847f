//! The JSON Schema of the plan format, generated from the raw types (draft-07, so editors with
//! the YAML language server complete and check plans).
//!
//! schemars gives the shape from `plan::raw`; [`for_editors`] then adds what an editor needs and
//! the types cannot say: the property's own description where a shared definition would show
//! its own on hover (`environment` is the TARGET), a description for every step kind, the
//! acknowledgements a plan must list (`contains`, so a missing one is flagged as `validate`
//! flags it), and patterns for durations, times, the point in time and cron expressions.

use schemars::generate::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::raw::RawPlan;
use super::vocabulary::{Acknowledgement, StepKind};

/// A humantime duration: `90m`, `3h`, `1h 30m`, `2d`.
pub const DURATION_PATTERN: &str = r"^\s*[0-9]+\s*[a-zA-Zµ]+(\s*[0-9]+\s*[a-zA-Zµ]+)*\s*$";
/// An RFC 3339 time with an offset: `2026-12-05T22:00:00+01:00`, `2026-12-05T21:00:00Z`.
pub const TIME_PATTERN: &str = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\s*$";
/// Five fields separated by spaces.
pub const CRON_PATTERN: &str = r"^\s*\S+(\s+\S+){4}\s*$";

/// The schema as committed in `schemas/refresh-plan.schema.json`: pretty JSON and a newline.
///
/// # Panics
///
/// Never: a generated schema is a JSON object, which always serializes.
#[must_use]
pub fn json_schema() -> String {
    let generator: SchemaGenerator = SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<RawPlan>();
    schema.insert(
        "$id".into(),
        "https://refreshctl.dev/schemas/refresh-plan.schema.json".into(),
    );
    // Edited as a value, serialized as a `Schema`, which orders the keywords for people.
    let mut value = schema.to_value();
    for_editors(&mut value);
    let schema = schemars::Schema::try_from(value).expect("still an object");
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

/// What the step kinds do, for hover and completion.
#[must_use]
pub const fn step_description(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Reprovision => {
            "Run the Environment reprovisioning tool: download it from the shared asset library \
             (or upload `file`), upload it to the project's asset library, apply it to the target \
             as an update and monitor the deployment."
        }
        StepKind::ResetFinancialReporting => {
            "Reset the Financial reporting database, which a refresh does not copy (a manual \
             step where the adapter cannot do it)."
        }
        StepKind::Deploy => {
            "Deploy a software deployable package: upload `file` or apply `asset` from the \
             project's asset library, then monitor the deployment."
        }
        StepKind::Command => "Run a local command; every argument is a tera template.",
        StepKind::Manual => {
            "An operator does something by hand, then approves it (`refreshctl approve RUN STEP`)."
        }
        StepKind::Export => {
            "Export the target's database to the project's asset library as a bacpac (LCS's \
             database export), under `name` (a template), and monitor it to the end; in \
             `pre_steps`, a copy kept before the refresh overwrites it."
        }
    }
}

fn for_editors(schema: &mut Value) {
    let properties = &mut schema["properties"];
    // The property's own description, and none on the shared definition, so that hover on
    // `environment` says TARGET and on `source` says source (editors show a definition's
    // description in place of, or beside, the property's).
    properties["environment"]["markdownDescription"] = json!(
        "The **TARGET** environment: its database is replaced (erased and unrecoverable). \
         Facts left out (`id`, `type`, `release`) are looked up through the adapter."
    );
    properties["source"]["markdownDescription"] = json!(
        "The **source** environment: its database is copied into the target. Leave it out to \
         restore the target's own database to `point_in_time`."
    );
    for definition in ["RawEnvironment", "RawWindow"] {
        if let Some(object) = schema["definitions"][definition].as_object_mut() {
            object.remove("description");
        }
    }
    let properties = &mut schema["properties"];
    properties["acknowledge"]["allOf"] = Value::Array(
        Acknowledgement::ALL
            .iter()
            .map(|statement| {
                json!({
                    "contains": { "const": statement.as_str() },
                    "description": format!("`{}`: {} (required)", statement.as_str(), statement.statement()),
                })
            })
            .collect(),
    );
    properties["lead_time"]["pattern"] = json!(DURATION_PATTERN);
    properties["point_in_time"]["pattern"] = json!(format!(
        r"^\s*(latest|-{}|{})\s*$",
        unanchored(DURATION_PATTERN),
        unanchored(TIME_PATTERN)
    ));
    let window = &mut schema["definitions"]["RawWindow"]["properties"];
    window["start"]["pattern"] = json!(TIME_PATTERN);
    window["end"]["pattern"] = json!(TIME_PATTERN);
    window["duration"]["pattern"] = json!(DURATION_PATTERN);
    window["cron"]["pattern"] = json!(CRON_PATTERN);
    schema["definitions"]["RawCommand"]["properties"]["timeout"]["pattern"] =
        json!(DURATION_PATTERN);
    describe_steps(&mut schema["definitions"]["PostStep"]);
}

/// A pattern without its anchors and surrounding spaces, to be part of a larger one.
fn unanchored(pattern: &str) -> &str {
    pattern
        .trim_start_matches(r"^\s*")
        .trim_end_matches(r"\s*$")
}

/// Every form of a post step described: a bare kind becomes one `const` per kind, each with its
/// description, and each one-key map says what its kind does.
fn describe_steps(post_step: &mut Value) {
    let Some(forms) = post_step["oneOf"].as_array_mut() else {
        return;
    };
    let mut described = Vec::new();
    for form in forms.drain(..) {
        if let Some(kinds) = form["enum"].as_array() {
            for kind in kinds {
                let name = kind.as_str().unwrap_or_default();
                let mut constant = Map::new();
                constant.insert("type".into(), json!("string"));
                constant.insert("const".into(), kind.clone());
                if let Some(kind) = StepKind::from_name(name) {
                    constant.insert("description".into(), json!(step_description(kind)));
                }
                described.push(Value::Object(constant));
            }
            continue;
        }
        let mut form = form;
        let key = form["required"][0].as_str().map(str::to_owned);
        if let Some(kind) = key.as_deref().and_then(StepKind::from_name) {
            let text = step_description(kind);
            form["description"] = json!(text);
            let options = &mut form["properties"][kind.as_str()];
            if options.get("$ref").is_some() {
                *options = json!({ "description": text, "allOf": [options.take()] });
            } else {
                options["description"] = json!(text);
            }
        }
        described.push(form);
    }
    *forms = described;
}
