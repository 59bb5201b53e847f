//! The tera templates a plan carries: `command` arguments and notification bodies (SPEC 5.4).
//!
//! They are compiled, and rendered once against a sample context, while the plan is checked, so
//! a typo in a template or a variable name is a validation error, not a failure at 3 a.m.

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};

/// A plan's templates, each under a name such as `post_steps[2].run[1]`. They were compiled and
/// tried while the plan was checked; only their text is kept (an engine with its compiled
/// templates takes about 8 KB, and `tick` holds thousands of plans), and a template is compiled
/// again when it is rendered, which happens once per command or notification.
#[derive(Clone, Default)]
pub struct Templates {
    sources: Option<Arc<[(String, String)]>>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .sources
            .iter()
            .flat_map(|sources| sources.iter().map(|(name, _)| name.as_str()))
            .collect();
        f.debug_struct("Templates").field("names", &names).finish()
    }
}

/// The tera engine with refreshctl's filters, made once. A plan's checks clone it (cloning a
/// prepared engine copies its filter table; building one hashes every filter's name again).
fn engine() -> &'static tera::Tera {
    static BASE: LazyLock<tera::Tera> = LazyLock::new(|| {
        let mut tera = tera::Tera::new();
        // Notification bodies are JSON and arguments are argv items: nothing is HTML.
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter("json", json_filter);
        tera
    });
    &BASE
}

/// Collects templates while a plan is checked. The tera engine and the sample context are made
/// on the first template: most plans have none, and validation of thousands of plans should not
/// pay for an engine per plan.
pub struct TemplateBuilder<'a> {
    sample: &'a dyn Fn() -> Value,
    started: Option<(tera::Tera, tera::Context)>,
    sources: Vec<(String, String)>,
}

impl<'a> TemplateBuilder<'a> {
    /// `sample` makes a context of the real shape (see [`sample_context`]).
    #[must_use]
    pub fn new(sample: &'a dyn Fn() -> Value) -> Self {
        Self {
            sample,
            started: None,
            sources: Vec::new(),
        }
    }

    /// Compiles `source` under `name` and renders it against the sample context. The error is a
    /// lowercase sentence fit for a diagnostic.
    pub fn add(&mut self, name: &str, source: &str) -> Result<(), String> {
        let sample = self.sample;
        let (tera, context) = self.started.get_or_insert_with(|| {
            (
                engine().clone(),
                tera::Context::from_serialize(&sample()).unwrap_or_default(),
            )
        });
        tera.add_raw_template(name, source)
            .map_err(|error| describe(&error))?;
        self.sources.push((name.to_owned(), source.to_owned()));
        tera.render(name, context)
            .map(drop)
            .map_err(|error| describe(&error))
    }

    #[must_use]
    pub fn finish(self) -> Templates {
        Templates {
            sources: (!self.sources.is_empty()).then(|| self.sources.into()),
        }
    }
}

impl Templates {
    /// Renders a template of the plan.
    pub fn render(&self, name: &str, context: &Value) -> Result<String, String> {
        let source = self
            .sources
            .iter()
            .flat_map(|sources| sources.iter())
            .find_map(|(known, source)| (known == name).then_some(source))
            .ok_or_else(|| format!("the plan has no template `{name}`"))?;
        let context = tera::Context::from_serialize(context).map_err(|error| describe(&error))?;
        engine()
            .render_str(source, &context, false)
            .map_err(|error| describe(&error))
    }
}

/// `{{ value | json }}` writes a value as JSON, so notification bodies stay valid JSON whatever
/// the strings hold.
#[expect(
    clippy::needless_pass_by_value,
    reason = "tera passes filter arguments by value"
)]
fn json_filter(value: tera::Value, _: tera::Kwargs, _: &tera::State) -> tera::TeraResult<String> {
    serde_json::to_string(&value).map_err(tera::Error::message)
}

/// A tera error as one sentence, without tera's source excerpt (diagnostics carry their own).
#[must_use]
pub fn describe(error: &tera::Error) -> String {
    match error.kind() {
        tera::ErrorKind::SyntaxError(report) | tera::ErrorKind::RenderingError(report) => {
            report.message().to_owned()
        }
        other => other.to_string(),
    }
}

/// A context with every variable templates may use, filled with sample values of the right shape
/// (SPEC 5.4: `plan`, `environment`, `source`, `window`, `point_in_time`, `run`, `step`).
#[must_use]
pub fn sample_context(plan_name: &str, environment: &str, source: Option<&str>) -> Value {
    let describe = |name: &str| json!({ "name": name, "id": "00000000-0000-0000-0000-000000000000", "type": "sandbox", "release": "10.0.41" });
    json!({
        "plan": { "name": plan_name, "description": "", "project": 1, "operation": "refresh" },
        "environment": describe(environment_or(environment)),
        "source": source.map(describe),
        "window": { "start": "2026-12-05T21:00:00Z", "end": "2026-12-06T00:00:00Z", "zone": "UTC" },
        "point_in_time": "latest",
        "run": { "id": format!("{plan_name}@20261205T2100Z"), "state": "running", "reason": "" },
        "step": { "id": "command", "state": "running" },
        "event": "started",
    })
}

fn environment_or(name: &str) -> &str {
    if name.is_empty() { "target" } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        sample_context("uat", "contoso-uat", Some("contoso-prod"))
    }

    fn builder() -> TemplateBuilder<'static> {
        TemplateBuilder::new(&sample)
    }

    #[test]
    fn good_templates_compile_and_render() {
        let mut templates = builder();
        templates
            .add("arg", "--env={{ environment.name }}")
            .expect("valid");
        templates
            .add("body", r#"{"text": {{ run.id | json }}}"#)
            .expect("valid");
        let templates = templates.finish();
        let rendered = templates
            .render("body", &sample_context("uat", "contoso-uat", None))
            .expect("renders");
        assert_eq!(rendered, r#"{"text": "uat@20261205T2100Z"}"#);
    }

    #[test]
    fn syntax_errors_and_unknown_variables_are_caught_when_checked() {
        let mut templates = builder();
        let error = templates
            .add("a", "{{ environment.name ")
            .expect_err("unclosed");
        assert!(!error.is_empty());
        let error = templates
            .add("b", "{{ enviroment.name }}")
            .expect_err("typo");
        assert!(error.to_lowercase().contains("enviroment"), "{error}");
    }
}
