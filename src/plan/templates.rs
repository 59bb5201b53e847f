//! The tera templates a plan carries: `command` arguments and notification bodies (SPEC 5.4).
//!
//! They are compiled, and rendered once against a sample context, while the plan is checked, so
//! a typo in a template or a variable name is a validation error, not a failure at 3 a.m.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use serde::Serialize;
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

/// The most a plan's template may write (a command argument, a notification body), and the
/// most any one value in it may hold.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// The most elements `range` gives in a plan's template (where there is no loop to feed).
const MAX_PLAN_RANGE: u64 = 1_000;

/// The tera engine with refreshctl's filters, made once. A plan's checks clone it (cloning a
/// prepared engine copies its filter table; building one hashes every filter's name again).
///
/// Rendering a plan's template must always end quickly, since every check renders each one: the
/// templates have no loops or assignments ([`check_bounded`]), and the functions and filters
/// that can make a value much larger than their input (`range`, `replace`, `join`) are replaced
/// by versions that refuse results over a cap, so a chain of them cannot grow without end.
fn engine() -> &'static tera::Tera {
    static BASE: LazyLock<tera::Tera> = LazyLock::new(|| {
        let mut tera = tera::Tera::new();
        // Notification bodies are JSON and arguments are argv items: nothing is HTML.
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter("json", json_filter);
        tera.register_function("range", bounded_range(MAX_PLAN_RANGE, None));
        tera.register_filter("replace", bounded_replace);
        tera.register_filter("join", bounded_join);
        tera
    });
    &BASE
}

/// Refuses what a plan's template may not use: any tag but `if`, `elif`, `else`, `endif`, `raw`
/// and `endraw`. Without loops, assignments, macros and includes, rendering takes time in
/// proportion to the template (with the capped filters of [`engine`]), so the trial rendering
/// of every check ends. Conservative: a `{%` inside a string literal counts as a tag.
pub fn check_bounded(source: &str) -> Result<(), String> {
    let mut rest = source;
    loop {
        let (tag, comment) = (rest.find("{%"), rest.find("{#"));
        let open = match (tag, comment) {
            (Some(tag), Some(comment)) if comment < tag => {
                match rest[comment + 2..].find("#}") {
                    Some(end) => rest = &rest[comment + 2 + end + 2..],
                    None => return Ok(()),
                }
                continue;
            }
            (Some(tag), _) => tag,
            (None, _) => return Ok(()),
        };
        let after = &rest[open + 2..];
        // An unclosed tag is a syntax error that compiling reports.
        let Some(close) = after.find("%}") else {
            return Ok(());
        };
        let word = tag_word(&after[..close]);
        rest = &after[close + 2..];
        match word {
            "if" | "elif" | "else" | "endif" => {}
            "raw" => {
                // Everything up to `{% endraw %}` is text.
                let mut end = None;
                let mut search = 0;
                while let Some(found) = rest[search..].find("{%") {
                    let start = search + found + 2;
                    let Some(close) = rest[start..].find("%}") else {
                        break;
                    };
                    if tag_word(&rest[start..start + close]) == "endraw" {
                        end = Some(start + close + 2);
                        break;
                    }
                    search = start;
                }
                match end {
                    Some(end) => rest = &rest[end..],
                    None => return Ok(()),
                }
            }
            word => {
                return Err(format!(
                    "`{{% {word} %}}` cannot be used in a plan's templates: they may use \
                     `{{% if %}}`, but no loops, assignments, macros or includes, so that \
                     checking them always ends"
                ));
            }
        }
    }
}

/// The keyword of a tag's inside (`- for x in y -` gives `for`).
fn tag_word(inside: &str) -> &str {
    let inside = inside.trim_start_matches(['-', '+', '~']).trim_start();
    let end = inside
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inside.len());
    &inside[..end]
}

/// tera's `range(start, end, step_by)`, giving at most `per_call` elements, and with a
/// `budget`, drawing on it: each call takes what it gives, and a call that would exceed what is
/// left is refused (so nested loops over ranges are bounded in all, not only each).
pub fn bounded_range(
    per_call: u64,
    budget: Option<Arc<AtomicU64>>,
) -> impl Fn(tera::Kwargs, &tera::State) -> tera::TeraResult<Vec<i64>> + Send + Sync + 'static {
    move |kwargs, _| {
        let start = kwargs.get::<i64>("start")?.unwrap_or_default();
        let end = kwargs.must_get::<i64>("end")?;
        let step = kwargs.get::<i64>("step_by")?.unwrap_or(1);
        if step == 0 {
            return Err(tera::Error::message("`range` was called with `step_by` 0"));
        }
        let span = i128::from(end) - i128::from(start);
        let step_wide = i128::from(step);
        let length = if span.signum() == step_wide.signum() {
            (span + step_wide - step_wide.signum()) / step_wide
        } else {
            0
        };
        let length = u64::try_from(length).unwrap_or(u64::MAX);
        if length > per_call {
            return Err(tera::Error::message(format!(
                "`range` would give {length} elements; it may give at most {per_call}"
            )));
        }
        if let Some(budget) = &budget {
            let left = budget.load(Ordering::Relaxed);
            if length > left {
                return Err(tera::Error::message(format!(
                    "`range` would give {length} elements; this template may use at most {left} \
                     more in all"
                )));
            }
            budget.fetch_sub(length, Ordering::Relaxed);
        }
        Ok(
            std::iter::successors(Some(start), |value| value.checked_add(step))
                .take(usize::try_from(length).unwrap_or(usize::MAX))
                .collect(),
        )
    }
}

fn too_large(what: &str) -> tera::Error {
    tera::Error::message(format!(
        "`{what}` would make a value larger than {} KiB",
        MAX_RENDERED_BYTES / 1024
    ))
}

/// tera's `replace(from, to)`, refusing a result over [`MAX_RENDERED_BYTES`] before making it.
#[expect(
    clippy::needless_pass_by_value,
    reason = "tera passes filter arguments by value"
)]
fn bounded_replace(value: &str, kwargs: tera::Kwargs, _: &tera::State) -> tera::TeraResult<String> {
    let from = kwargs.must_get::<&str>("from")?;
    let to = kwargs.must_get::<&str>("to")?;
    let count = if from.is_empty() {
        value.chars().count() + 1
    } else {
        value.matches(from).count()
    };
    let size = count.saturating_mul(to.len()).saturating_add(value.len());
    if size > MAX_RENDERED_BYTES {
        return Err(too_large("replace"));
    }
    Ok(value.replace(from, to))
}

/// tera's `join(sep)`, refusing a result over [`MAX_RENDERED_BYTES`] as it is made.
#[expect(
    clippy::needless_pass_by_value,
    reason = "tera passes filter arguments by value"
)]
fn bounded_join(
    values: &[tera::Value],
    kwargs: tera::Kwargs,
    _: &tera::State,
) -> tera::TeraResult<String> {
    let separator = kwargs.get::<&str>("sep")?.unwrap_or_default();
    let mut joined = String::new();
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            joined.push_str(separator);
        }
        if !value.is_undefined() {
            use std::fmt::Write as _;
            let _ = write!(joined, "{value}");
        }
        if joined.len() > MAX_RENDERED_BYTES {
            return Err(too_large("join"));
        }
    }
    Ok(joined)
}

/// A buffer that refuses to grow past a cap, so a template's output is bounded as it is written.
pub struct CappedOutput {
    bytes: Vec<u8>,
    cap: usize,
    /// Whether a write was refused for the cap (the renderer's error then says only "io").
    pub overflowed: bool,
}

impl CappedOutput {
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            bytes: Vec::new(),
            cap,
            overflowed: false,
        }
    }

    /// The text written; invalid UTF-8 (never written by tera) is replaced.
    #[must_use]
    pub fn into_string(self) -> String {
        String::from_utf8(self.bytes)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }

    /// The error for a rendering that failed: the cap when that was why, else tera's.
    #[must_use]
    pub fn explain(&self, error: &tera::Error) -> String {
        if self.overflowed {
            format!("the template renders to more than {} KiB", self.cap / 1024)
        } else {
            describe(error)
        }
    }
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buffer.len()) > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("the output is over its cap"));
        }
        self.bytes.extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Collects templates while a plan is checked. The tera engine and the sample context are made
/// on the first template: most plans have none, and validation of thousands of plans should not
/// pay for an engine per plan.
pub struct TemplateBuilder<'a> {
    sample: &'a dyn Fn() -> tera::Context,
    context: Option<tera::Context>,
    /// The compiled engine of each template added, by name.
    compiled: Vec<Arc<tera::Tera>>,
    sources: Vec<(String, String)>,
}

/// The most compiled templates [`compiled`] keeps (an engine with one template takes about
/// 8 KB, so the table stays under about 2 MB whatever the plans hold).
const MAX_COMPILED: usize = 256;

/// An engine holding the one template `source` under `name`, compiled once per process for a
/// given name and text: plan sets repeat their templates (`post_steps[0].run[1]` is
/// `{{ environment.name }}` in plan after plan), and compiling took half of checking them.
/// A template cannot reach another (no includes, imports or macros, see [`check_bounded`]), so
/// rendering it alone is rendering it beside the plan's others. Only templates that compile are
/// kept; an error is made again each time, as it was. When the table is full, a template not
/// in it is compiled for its plan only.
fn compiled(name: &str, source: &str) -> Result<Arc<tera::Tera>, tera::Error> {
    type Table = HashMap<(String, String), Arc<tera::Tera>>;
    static COMPILED: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);
    let key = (name.to_owned(), source.to_owned());
    if let Some(tera) = COMPILED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Arc::clone(tera));
    }
    let mut tera = engine().clone();
    tera.add_raw_template(name, source)?;
    let tera = Arc::new(tera);
    let mut table = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    if table.len() < MAX_COMPILED {
        table.insert(key, Arc::clone(&tera));
    }
    Ok(tera)
}

impl<'a> TemplateBuilder<'a> {
    /// `sample` makes a context of the real shape (see [`sample_tera_context`]).
    #[must_use]
    pub fn new(sample: &'a dyn Fn() -> tera::Context) -> Self {
        Self {
            sample,
            context: None,
            compiled: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Compiles `source` under `name` and renders it against the sample context. The error is a
    /// lowercase sentence fit for a diagnostic.
    pub fn add(&mut self, name: &str, source: &str) -> Result<(), String> {
        let sample = self.sample;
        let context = self.context.get_or_insert_with(sample);
        check_bounded(source)?;
        let tera = compiled(name, source).map_err(|error| describe(&error))?;
        self.sources.push((name.to_owned(), source.to_owned()));
        let mut output = CappedOutput::new(MAX_RENDERED_BYTES);
        let rendered = tera
            .render_to(name, context, &mut output)
            .map_err(|error| output.explain(&error));
        self.compiled.push(tera);
        rendered
    }

    /// What a template added before renders to against the sample context.
    pub fn render_sample(&self, name: &str) -> Result<String, String> {
        let missing = || format!("no template `{name}` was added");
        let context = self.context.as_ref().ok_or_else(missing)?;
        let tera = self
            .sources
            .iter()
            .zip(&self.compiled)
            .rev()
            .find_map(|((known, _), tera)| (known == name).then_some(tera))
            .ok_or_else(missing)?;
        let mut output = CappedOutput::new(MAX_RENDERED_BYTES);
        tera.render_to(name, context, &mut output)
            .map_err(|error| output.explain(&error))?;
        Ok(output.into_string())
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
        check_bounded(source)?;
        let context = tera::Context::from_serialize(context).map_err(|error| describe(&error))?;
        let mut output = CappedOutput::new(MAX_RENDERED_BYTES);
        engine()
            .render_str_to(source, &context, false, &mut output)
            .map_err(|error| output.explain(&error))?;
        Ok(output.into_string())
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
        "run": { "id": format!("{plan_name}@20261205T2100Z"), "state": "running", "reason": "", "adapter": "simulator" },
        "step": { "id": "command", "state": "running" },
        "event": "started",
        "operator": { "by": "alice", "reason": "" },
        "previous_window": { "start": "2026-11-28T21:00:00Z", "end": "2026-11-29T00:00:00Z", "run": format!("{plan_name}@20261128T2100Z") },
        "detail": "",
    })
}

// The maps of `sample_tera_context`, each with its fields in sorted order.

#[derive(Serialize)]
struct SamplePlan<'a> {
    description: &'a str,
    name: &'a str,
    operation: &'a str,
    project: u64,
}
#[derive(Serialize)]
struct SampleEnvironment<'a> {
    id: &'a str,
    name: &'a str,
    release: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}
#[derive(Serialize)]
struct SampleWindow<'a> {
    end: &'a str,
    start: &'a str,
    zone: &'a str,
}
#[derive(Serialize)]
struct SampleRun<'a> {
    adapter: &'a str,
    id: &'a str,
    reason: &'a str,
    state: &'a str,
}
#[derive(Serialize)]
struct SampleStep<'a> {
    id: &'a str,
    state: &'a str,
}
#[derive(Serialize)]
struct SampleOperator<'a> {
    by: &'a str,
    reason: &'a str,
}
#[derive(Serialize)]
struct SamplePreviousWindow<'a> {
    end: &'a str,
    run: &'a str,
    start: &'a str,
}

/// [`sample_context`] as tera's context, made without the JSON value in between (making the
/// JSON value and converting it took two thirds of checking a plan's templates once each was
/// compiled once per process). The fields of every map are in sorted order, the order of
/// `serde_json`'s maps, so a template that writes a whole map writes it as before.
#[must_use]
pub fn sample_tera_context(
    plan_name: &str,
    environment: &str,
    source: Option<&str>,
) -> tera::Context {
    let describe = |name| SampleEnvironment {
        id: "00000000-0000-0000-0000-000000000000",
        name,
        release: "10.0.41",
        kind: "sandbox",
    };
    let mut context = tera::Context::new();
    context.insert(
        "plan",
        &SamplePlan {
            description: "",
            name: plan_name,
            operation: "refresh",
            project: 1,
        },
    );
    context.insert("environment", &describe(environment_or(environment)));
    context.insert("source", &source.map(describe));
    context.insert(
        "window",
        &SampleWindow {
            end: "2026-12-06T00:00:00Z",
            start: "2026-12-05T21:00:00Z",
            zone: "UTC",
        },
    );
    context.insert("point_in_time", "latest");
    context.insert(
        "run",
        &SampleRun {
            adapter: "simulator",
            id: &format!("{plan_name}@20261205T2100Z"),
            reason: "",
            state: "running",
        },
    );
    context.insert(
        "step",
        &SampleStep {
            id: "command",
            state: "running",
        },
    );
    context.insert("event", "started");
    context.insert(
        "operator",
        &SampleOperator {
            by: "alice",
            reason: "",
        },
    );
    context.insert(
        "previous_window",
        &SamplePreviousWindow {
            end: "2026-11-29T00:00:00Z",
            run: &format!("{plan_name}@20261128T2100Z"),
            start: "2026-11-28T21:00:00Z",
        },
    );
    context.insert("detail", "");
    context
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
        TemplateBuilder::new(&|| sample_tera_context("uat", "contoso-uat", Some("contoso-prod")))
    }

    #[test]
    fn the_sample_context_is_the_json_sample() {
        for (plan, environment, source) in [
            ("uat", "contoso-uat", Some("contoso-prod")),
            ("nightly", "", None),
        ] {
            assert_eq!(
                sample_tera_context(plan, environment, source),
                tera::Context::from_serialize(&sample_context(plan, environment, source))
                    .expect("a map")
            );
        }
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
    fn only_if_and_raw_tags_are_allowed() {
        let refused = [
            (
                "{% for i in range(end=100000) %}{% for j in range(end=100000) %}x{% endfor %}{% endfor %}",
                "for",
            ),
            ("{%- for c in \"abc\" -%}{{ c }}{%- endfor -%}", "for"),
            ("{% set s = \"a\" %}{{ s }}", "set"),
            ("{% set_global s = 1 %}", "set_global"),
            ("{% include \"other\" %}", "include"),
            (
                "{% if true %}{% for x in [1] %}{% endfor %}{% endif %}",
                "for",
            ),
            (
                "{% raw %}ok{% endraw %}{% filter upper %}x{% endfilter %}",
                "filter",
            ),
        ];
        for (source, word) in refused {
            let error = check_bounded(source).expect_err(source);
            assert!(
                error.starts_with(&format!("`{{% {word} %}}` cannot be used")),
                "{source}: {error}"
            );
            assert!(builder().add("t", source).is_err(), "{source}");
        }
        for source in [
            "{% if run.state == \"running\" %}a{% elif true %}b{% else %}c{% endif %}",
            "{# {% for x in y %} #}{{ plan.name }}",
            "{% raw %}{% for x in y %}{% endraw %}",
            "{%- if true -%}x{%- endif -%}",
            "no tags at all {{ environment.name | upper }}",
        ] {
            check_bounded(source).unwrap_or_else(|error| panic!("{source}: {error}"));
            builder()
                .add("t", source)
                .unwrap_or_else(|error| panic!("{source}: {error}"));
        }
    }

    #[test]
    fn growing_values_are_refused_before_they_are_made() {
        let started = std::time::Instant::now();
        let cases = [
            // Ten chained replacements would make 10^10 bytes.
            (
                format!(
                    "{{{{ \"aaaaaaaaaa\"{} }}}}",
                    " | replace(from=\"a\", to=\"aaaaaaaaaa\")".repeat(10)
                ),
                "`replace` would make a value larger than 256 KiB",
            ),
            // Splitting into characters and joining with a long separator, again and again.
            (
                format!(
                    "{{{{ range(end=1000) | join(sep=\"xxxxxxxxxx\"){} }}}}",
                    " | split(pat=\"\") | join(sep=\"xxxxxxxxxx\")".repeat(8)
                ),
                "`join` would make a value larger than 256 KiB",
            ),
            (
                "{{ range(end=100000) | length }}".to_owned(),
                "`range` would give 100000 elements; it may give at most 1000",
            ),
            (
                "{{ range(end=1000) | join(sep=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\") }}"
                    .repeat(20),
                "the template renders to more than 256 KiB",
            ),
        ];
        for (source, expected) in cases {
            let error = builder().add("t", &source).expect_err(&source);
            assert!(error.contains(expected), "{source}: {error}");
        }
        // Generous: each case is refused in microseconds; a missing bound takes minutes or more.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let templates = builder();
        let mut templates = templates;
        templates
            .add("ok", "{{ range(start=1, end=4) | join(sep=\",\") }} {{ \"a-b\" | replace(from=\"-\", to=\"+\") }}")
            .expect("small values are fine");
        assert_eq!(
            templates.finish().render("ok", &sample()).expect("renders"),
            "1,2,3 a+b"
        );
    }

    #[test]
    fn range_counts_like_tera() {
        let range = bounded_range(100, None);
        let mut tera = tera::Tera::new();
        tera.register_function("range", range);
        let cases = [
            ("range(end=5)", "0,1,2,3,4"),
            ("range(start=5, end=1, step_by=-2)", "5,3"),
            ("range(start=1, end=10, step_by=4)", "1,5,9"),
            ("range(start=3, end=3)", ""),
            ("range(start=5, end=1)", ""),
        ];
        for (call, expected) in cases {
            let rendered = tera
                .render_str(
                    &format!("{{{{ {call} | join(sep=\",\") }}}}"),
                    &tera::Context::new(),
                    false,
                )
                .unwrap_or_else(|error| panic!("{call}: {}", describe(&error)));
            assert_eq!(rendered, expected, "{call}");
        }
        let error = tera
            .render_str(
                "{{ range(end=1, step_by=0) }}",
                &tera::Context::new(),
                false,
            )
            .expect_err("step 0");
        assert!(describe(&error).contains("`step_by` 0"));
        let error = tera
            .render_str(
                "{{ range(start=-9223372036854775807, end=9223372036854775807) }}",
                &tera::Context::new(),
                false,
            )
            .expect_err("huge");
        assert!(
            describe(&error).contains("at most 100"),
            "{}",
            describe(&error)
        );
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
