//! The dry-run preview of a plan (`refreshctl plan`): one model, serialized as JSON or rendered
//! through tera templates kept in `templates/` and compiled into the binary.

use chrono::{DateTime, Utc};
use serde::Serialize;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::adapter::AdapterKind;
use crate::executor::{new_run, template_context};
use crate::plan::templates::{CappedOutput, bounded_range, describe};
use crate::plan::time::{format_duration, format_utc};
use crate::plan::{
    Environment, Occurrence, Operation, Plan, PostStep, StepOutline, Zone, command_description,
    inline_code,
};
use crate::rules::{Counts, Diagnostic, EXPECTED_DOWNTIME};
use crate::state::RunState;

const TEXT: &str = include_str!("../../templates/preview.txt.tera");
const MARKDOWN: &str = include_str!("../../templates/preview.md.tera");
const HTML: &str = include_str!("../../templates/preview.html.tera");

/// How many upcoming windows a recurring plan's preview lists.
pub const OCCURRENCES_SHOWN: usize = 5;

#[derive(Debug, Serialize)]
pub struct Preview {
    pub format_version: u32,
    /// False when the diagnostics hold an error: the plan cannot be submitted.
    pub valid: bool,
    pub plan: String,
    pub description: Option<String>,
    pub file: String,
    pub now: String,
    pub operation: Operation,
    /// The service the plan is meant for (`service:`), or null when it does not say.
    pub service: Option<&'static str>,
    /// None for a Power Platform plan.
    pub project: Option<u64>,
    pub environment: EnvironmentView,
    pub source: Option<EnvironmentView>,
    pub database: &'static str,
    /// For a recurring plan, the next occurrence that can still be submitted on time.
    pub window: Option<WindowView>,
    pub recurrence: Option<Recurrence>,
    pub submit_by: Option<String>,
    /// The submit-by time in the plan's zone.
    pub submit_by_local: Option<String>,
    pub lead_time: String,
    /// `latest`, or the UTC time restored to.
    pub point_in_time: String,
    /// The time restored to in the plan's zone, when it is a time.
    pub point_in_time_local: Option<String>,
    pub steps: Vec<StepOutline>,
    pub effects: Effects,
    pub notifications: Vec<NotificationView>,
    /// Recurring plans only: the next five windows that can still be submitted.
    pub occurrences: Option<Vec<WindowView>>,
    pub summary: Counts,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Serialize)]
pub struct EnvironmentView {
    pub name: String,
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    pub release: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    pub start: String,
    pub end: String,
    pub zone: String,
    pub start_local: String,
    pub end_local: String,
    pub duration: String,
}

#[derive(Debug, Serialize)]
pub struct Recurrence {
    pub cron: String,
    pub timezone: String,
}

#[derive(Debug, Serialize)]
pub struct Effects {
    pub erased: Vec<String>,
    pub unavailable: Vec<String>,
    pub changed: Vec<String>,
    pub untouched: Vec<String>,
    pub reset_afterwards: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct NotificationView {
    /// Scheme and host only: web hook URLs often carry a secret in their path or query.
    pub url: String,
    pub events: Vec<crate::plan::NotificationEvent>,
}

impl Preview {
    #[must_use]
    pub fn build(plan: &Plan, now: DateTime<Utc>, diagnostics: Vec<Diagnostic>) -> Self {
        let zone = plan.window().zone();
        let next = plan.next_window(now);
        let occurrences = plan.window().is_recurring().then(|| {
            now.checked_add_signed(plan.lead_time())
                .map(|from| {
                    plan.window()
                        .occurrences_from(from)
                        .take(OCCURRENCES_SHOWN)
                        .map(|occurrence| window_view(occurrence, zone))
                        .collect()
                })
                .unwrap_or_default()
        });
        let restored_to = next.and_then(|window| plan.point_in_time().resolve(window.start));
        let point_in_time = match next {
            Some(_) => restored_to.map_or_else(|| "latest".to_owned(), format_utc),
            None => plan.point_in_time().describe(),
        };
        let submit_by = next.and_then(|occurrence| {
            occurrence
                .start
                .checked_sub_signed(plan.lead_time())
                .filter(|time| crate::plan::time::in_range(*time))
        });
        let mut steps = plan.step_outline();
        if let Some(window) = next {
            render_commands(plan, window, now, &mut steps);
        }
        let summary = Counts::of(&diagnostics);
        Self {
            format_version: 1,
            valid: summary.errors == 0,
            plan: plan.name().to_owned(),
            description: plan.description().map(str::to_owned),
            file: plan.file().to_owned(),
            now: format_utc(now),
            operation: plan.operation(),
            service: plan.service().map(crate::plan::Service::as_str),
            project: plan.has_project().then(|| plan.project()),
            environment: environment_view(plan.environment()),
            source: plan.source().map(environment_view),
            database: plan.database().as_str(),
            window: next.map(|occurrence| window_view(occurrence, zone)),
            recurrence: plan.window().cron_pattern().map(|cron| Recurrence {
                cron: cron.to_owned(),
                timezone: zone.name(),
            }),
            submit_by: submit_by.map(format_utc),
            submit_by_local: submit_by.map(|time| zone.show(time)),
            lead_time: format_duration(plan.lead_time()),
            point_in_time,
            point_in_time_local: restored_to.map(|time| zone.show(time)),
            steps,
            effects: effects(plan),
            notifications: plan
                .notifications()
                .iter()
                .map(|notification| NotificationView {
                    url: redact_url(notification.url()),
                    events: notification.events().to_vec(),
                })
                .collect(),
            occurrences,
            summary,
            diagnostics,
        }
    }
}

/// Shows each `command` step's arguments as the run of `window` would render them (with the
/// executor's template context), not as the plan writes them. What the preview cannot know yet
/// stands as a placeholder (`{target id}`, as the calls write it); an argument that does not
/// render is shown as written.
fn render_commands(plan: &Plan, window: Occurrence, now: DateTime<Utc>, steps: &mut [StepOutline]) {
    let mut run = new_run(plan, window, now, None, AdapterKind::Simulator);
    run.state = RunState::Running;
    run.target_id
        .get_or_insert_with(|| "{target id}".to_owned());
    if plan.source().is_some() {
        run.source_id
            .get_or_insert_with(|| "{source id}".to_owned());
    }
    for (base, index, step) in plan.numbered_post_steps() {
        let PostStep::Command {
            run: arguments,
            timeout,
        } = step
        else {
            continue;
        };
        // Which adapter will run it is not known here, as the ids LCS gives are not.
        let context = template_context(plan, &run, Some(&base), "started", "{adapter}");
        let rendered: Vec<String> = arguments
            .iter()
            .enumerate()
            .map(|(position, argument)| {
                plan.templates()
                    .render(&format!("post_steps[{index}].run[{position}]"), &context)
                    .unwrap_or_else(|_| argument.clone())
            })
            .collect();
        if let Some(outline) = steps.iter_mut().find(|outline| outline.id == base) {
            outline.description = command_description(&rendered, *timeout);
        }
    }
}

fn environment_view(environment: &Environment) -> EnvironmentView {
    EnvironmentView {
        name: environment.name().to_owned(),
        id: environment.id().map(str::to_owned),
        kind: environment.kind().map(crate::plan::EnvironmentType::as_str),
        release: environment.release().map(|release| release.text.clone()),
    }
}

fn window_view(occurrence: Occurrence, zone: Zone) -> WindowView {
    WindowView {
        start: format_utc(occurrence.start),
        end: format_utc(occurrence.end),
        zone: zone.name(),
        start_local: zone.show(occurrence.start),
        end_local: zone.show(occurrence.end),
        duration: format_duration(occurrence.end - occurrence.start),
    }
}

/// What a run of the plan does to the environments (the preview's effects).
#[must_use]
pub fn effects(plan: &Plan) -> Effects {
    let target = inline_code(plan.environment().name());
    let database = plan.database().as_str();
    let resets_reporting = plan
        .post_steps()
        .iter()
        .any(|step| matches!(step, crate::plan::PostStep::ResetFinancialReporting));
    let erased = match plan.source() {
        Some(source) => format!(
            "the {database} database of {target}, replaced by a copy of {}; it cannot be recovered",
            inline_code(source.name())
        ),
        None => format!(
            "the {database} database of {target} as it is now, replaced by its state at the \
             point in time; changes after that point are lost"
        ),
    };
    Effects {
        erased: vec![erased],
        unavailable: vec![format!(
            "{target} from the window start until the operation has finished (expect about {}, \
             up to the end of the window or longer)",
            format_duration(EXPECTED_DOWNTIME)
        )],
        changed: vec![
            format!("on {target}, every user but Admin is disabled"),
            "batch jobs are set to Withhold".into(),
            "email (SMTP) and print management settings are removed".into(),
            "encrypted fields, dual-write configuration, change tracking and business event \
             endpoints are cleared"
                .into(),
        ],
        untouched: vec![
            "documents in Azure blob storage (document handling attachments, X++ \
             customisations) stay as they are"
                .into(),
            "the Entity store is not restored".into(),
            "the Financial reporting database is not copied".into(),
        ],
        reset_afterwards: vec![if resets_reporting {
            "Financial reporting: reset by the `reset-financial-reporting` step".into()
        } else {
            "Financial reporting: must be reset afterwards, and the plan has no \
             `reset-financial-reporting` step"
                .into()
        }],
    }
}

/// Keeps the scheme and host of a URL; the rest may be a secret.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let hidden = rest.len() > host.len();
    format!("{scheme}://{host}{}", if hidden { "/…" } else { "" })
}

/// The built-in preview formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Text,
    Markdown,
    Html,
}

/// Renders a preview (or just diagnostics, when the plan did not resolve) with a built-in
/// template.
///
/// # Panics
///
/// When a built-in template fails to render: they are tested with every kind of context, so
/// that is a bug.
#[must_use]
pub fn render_builtin(layout: Layout, context: &serde_json::Value) -> String {
    let (name, source) = match layout {
        Layout::Text => ("preview.txt", TEXT),
        Layout::Markdown => ("preview.md", MARKDOWN),
        Layout::Html => ("preview.html", HTML),
    };
    // Their output is in proportion to the plan (which is at most 1 MiB): no cap, so that no
    // plan's preview can fail for its size.
    render_capped(name, source, context, usize::MAX)
        .expect("the built-in preview templates render (tested)")
}

/// Renders a preview with any template. `name` decides escaping: names ending in `.html` are
/// HTML-escaped.
///
/// A preview template may loop (over steps, occurrences, diagnostics), so its rendering is
/// bounded differently from a plan's templates: `range` gives at most [`MAX_PREVIEW_RANGE`]
/// elements in all, over every call of one rendering, and the output at most
/// [`MAX_PREVIEW_BYTES`].
pub fn render(name: &str, source: &str, context: &serde_json::Value) -> Result<String, String> {
    render_capped(name, source, context, MAX_PREVIEW_BYTES)
}

fn render_capped(
    name: &str,
    source: &str,
    context: &serde_json::Value,
    cap: usize,
) -> Result<String, String> {
    let mut tera = tera::Tera::new();
    tera.register_filter("md", markdown_text_filter);
    tera.register_filter("md_code", markdown_code_filter);
    tera.register_filter("with_weekday", with_weekday_filter);
    tera.register_function(
        "range",
        bounded_range(
            MAX_PREVIEW_RANGE,
            Some(Arc::new(AtomicU64::new(MAX_PREVIEW_RANGE))),
        ),
    );
    tera.add_raw_template(name, source)
        .map_err(|error| describe(&error))?;
    let context = tera::Context::from_serialize(context).map_err(|error| describe(&error))?;
    let mut output = CappedOutput::new(cap);
    tera.render_to(name, &context, &mut output)
        .map_err(|error| output.explain(&error))?;
    Ok(output.into_string())
}

/// Plan text (a description, a name, instructions, a message) made safe for a Markdown table
/// cell or list item: HTML is escaped (nothing the plan says becomes markup), `|` cannot end a
/// cell, and a line break is `<br>`, so the text stays in its cell. Code spans (a run of
/// backticks up to the next run of the same length, as Markdown reads them) are kept as code
/// spans: their text is shown as written there, so only `|` is escaped and line breaks become
/// spaces. The previews' own texts put plan values in such spans with
/// [`crate::plan::inline_code`], whose fence is longer than any backticks inside.
#[must_use]
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            let fence = rest.len() - rest.trim_start_matches('`').len();
            if let Some(length) = code_span_length(rest, fence) {
                out.push_str(&markdown_code_span(&rest[..length]));
                rest = &rest[length..];
            } else {
                out.push_str(&rest[..fence]);
                rest = &rest[fence..];
            }
            continue;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '\r' => {
                rest = rest.strip_prefix('\n').unwrap_or(rest);
                out.push_str("<br>");
            }
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The length of the code span at the start of `text`, which opens with `fence` backticks: up
/// to and with the next run of exactly as many, if there is one.
fn code_span_length(text: &str, fence: usize) -> Option<usize> {
    let mut position = fence;
    while let Some(offset) = text[position..].find('`') {
        let start = position + offset;
        let run = text[start..].len() - text[start..].trim_start_matches('`').len();
        if run == fence {
            return Some(start + run);
        }
        position = start + run;
    }
    None
}

/// A code span as written, kept in its table cell: `|` escaped, line breaks as spaces.
fn markdown_code_span(span: &str) -> String {
    span.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|")
}

/// Plan text as a complete Markdown code span that stays in its table cell: the fence is longer
/// than any run of backticks inside, `|` is escaped, and line breaks become spaces.
#[must_use]
pub fn markdown_code(text: &str) -> String {
    markdown_code_span(&inline_code(text))
}

/// An RFC 3339 time with its weekday in its own offset: `2026-12-05T21:00:00Z (Sat)`. Any
/// other text (`latest`, a description) is returned as it is.
#[must_use]
pub fn with_weekday(text: &str) -> String {
    DateTime::parse_from_rfc3339(text).map_or_else(
        |_| text.to_owned(),
        |time| format!("{text} ({})", time.format("%a")),
    )
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "tera passes filter arguments by value"
)]
fn with_weekday_filter(value: tera::Value, _: tera::Kwargs, _: &tera::State) -> String {
    // A template may apply it to a value that is not there (`null`): that shows as nothing
    // rather than failing the whole preview.
    value.as_str().map(with_weekday).unwrap_or_default()
}

fn markdown_text_filter(value: &str, _: tera::Kwargs, _: &tera::State) -> String {
    markdown_text(value)
}

fn markdown_code_filter(value: &str, _: tera::Kwargs, _: &tera::State) -> String {
    markdown_code(value)
}

/// The most elements `range` gives over one rendering of a preview template.
pub const MAX_PREVIEW_RANGE: u64 = 100_000;

/// The most a preview template may write.
pub const MAX_PREVIEW_BYTES: usize = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_text_stays_text_in_markdown() {
        let cases = [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a | b", "a &#124; b"),
            (
                "line one\nline two\r\nthree\rfour",
                "line one<br>line two<br>three<br>four",
            ),
            ("tab\tand bell\u{7}", "tab and bell "),
            ("Tom & Jerry", "Tom &amp; Jerry"),
            ("`code` stays", "`code` stays"),
            ("run `a | b <c>`", "run `a \\| b <c>`"),
            ("run ``a`b`` & c", "run ``a`b`` &amp; c"),
            ("an `unclosed <b>", "an `unclosed &lt;b&gt;"),
            ("`x\ny`", "`x y`"),
        ];
        for (text, expected) in cases {
            assert_eq!(markdown_text(text), expected, "{text:?}");
        }
        let spans = [
            ("contoso-uat", "`contoso-uat`"),
            ("a`b", "``a`b``"),
            ("`x", "`` `x ``"),
            ("a|b\nc", "`a\\|b c`"),
            ("<img src=x>", "`<img src=x>`"),
        ];
        for (text, expected) in spans {
            assert_eq!(markdown_code(text), expected, "{text:?}");
        }
    }

    #[test]
    fn built_in_previews_of_any_size_render_and_user_templates_are_capped() {
        // A plan of 1 MiB can have a preview far larger than the cap on user templates.
        let message = "x".repeat(MAX_PREVIEW_BYTES + 1);
        let context = serde_json::json!({
            "summary": {"errors": 1, "warnings": 0},
            "diagnostics": [{
                "rule": "syntax", "severity": "error", "file": "plan.yaml", "plan": null,
                "line": 1, "column": 1, "message": message, "help": "h"
            }],
        });
        for layout in [Layout::Text, Layout::Markdown, Layout::Html] {
            assert!(render_builtin(layout, &context).len() > MAX_PREVIEW_BYTES);
        }
        let error = render("t.txt", "{{ diagnostics[0].message }}", &context).expect_err("cap");
        assert_eq!(error, "the template renders to more than 16384 KiB");
    }

    #[test]
    fn preview_templates_are_bounded_in_all() {
        let context = serde_json::json!({});
        let nested = "{% for i in range(end=100000) %}{% for j in range(end=100000) %}x{% endfor %}{% endfor %}";
        let error = render("t.txt", nested, &context).expect_err("nested ranges");
        assert!(error.contains("at most 0 more in all"), "{error}");
        let squares =
            "{% for i in range(end=400) %}{% for j in range(end=400) %}{% endfor %}{% endfor %}";
        let error = render("t.txt", squares, &context).expect_err("400 x 400");
        assert!(error.contains("more in all"), "{error}");
        let output = "{% for i in range(end=100000) %}{{ \"x\" ~ i ~ \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" }}{% endfor %}";
        let error = render("t.txt", output, &context).expect_err("17 MB");
        assert_eq!(error, "the template renders to more than 16384 KiB");
        assert_eq!(
            render(
                "t.txt",
                "{% for i in range(end=3) %}{{ i }}{% endfor %}",
                &context
            ),
            Ok("012".to_owned())
        );
    }

    #[test]
    fn times_show_their_weekday_in_their_own_offset() {
        let cases = [
            ("2026-12-05T21:00:00Z", "2026-12-05T21:00:00Z (Sat)"),
            (
                "2026-12-06T00:30:00+01:00",
                "2026-12-06T00:30:00+01:00 (Sun)",
            ),
            (
                "2026-12-05T19:00:00-05:00",
                "2026-12-05T19:00:00-05:00 (Sat)",
            ),
            ("latest", "latest"),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(with_weekday(text), expected, "{text:?}");
        }
    }

    #[test]
    fn urls_keep_only_scheme_and_host() {
        assert_eq!(
            redact_url("https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x"),
            "https://contoso.webhook.office.com/…"
        );
        assert_eq!(
            redact_url("https://user:pw@example.com"),
            "https://example.com/…"
        );
        assert_eq!(redact_url("http://example.com"), "http://example.com");
    }
}
