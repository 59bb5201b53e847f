//! The JSON Schema of the plan format, generated from the raw types (draft-07, so editors with
//! the YAML language server complete and check plans).

use schemars::generate::SchemaSettings;

use super::raw::RawPlan;

/// The schema as committed in `schemas/refresh-plan.schema.json`: pretty JSON and a newline.
///
/// # Panics
///
/// Never: a generated schema is a JSON object, which always serializes.
#[must_use]
pub fn json_schema() -> String {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawPlan>();
    schema.insert(
        "$id".into(),
        "https://refreshctl.dev/schemas/refresh-plan.schema.json".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
