//! `refreshctl plan PLAN`: the dry-run preview. Nothing is called and nothing is stored.

use std::io::Write;

use serde::Serialize;

use super::{check_settings, read_and_check};
use crate::adapter::AdapterKind;
use crate::cli::{PlanArgs, PreviewFormat};
use crate::error::{Error, exit};
use crate::input::{MAX_TEMPLATE_BYTES, read_text_capped};
use crate::plan::time::format_utc;
use crate::report::preview::{Layout, Preview, render, render_builtin};
use crate::report::preview_power_platform;
use crate::rules::{Counts, check_set};

pub fn run(
    args: &PlanArgs,
    adapter: Option<AdapterKind>,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let settings = check_settings(&args.check, adapter)?;
    let shown = args.plan.display().to_string();
    let (checked, _) = read_and_check(&args.plan, &shown, &settings, false)?;
    let diagnostics = check_set(std::slice::from_ref(&checked));
    let counts = Counts::of(&diagnostics);
    let output = match &checked.plan {
        Some(plan) => {
            let mut preview = Preview::build(plan, settings.now, diagnostics);
            if preview_power_platform::applies(plan, adapter) {
                preview_power_platform::adapt(&mut preview, plan);
            }
            Output::Preview(Box::new(preview))
        }
        // A plan that did not resolve has no preview; its diagnostics say why.
        None => Output::Unresolved(Unresolved {
            format_version: 1,
            valid: false,
            plan: checked.plan_name.clone(),
            file: shown,
            now: format_utc(settings.now),
            summary: counts,
            diagnostics,
        }),
    };
    let context = serde_json::to_value(&output).map_err(std::io::Error::from)?;
    let rendered = match (&args.template, args.format) {
        (Some(path), _) => {
            let source = read_text_capped(path, MAX_TEMPLATE_BYTES, "template")?;
            let name = path.file_name().map_or_else(
                || "template".to_owned(),
                |name| name.to_string_lossy().into_owned(),
            );
            render(&name, &source, &context).map_err(|message| Error::Template {
                path: path.clone(),
                message,
            })?
        }
        (None, PreviewFormat::Json) => {
            let mut text = serde_json::to_string_pretty(&output).map_err(std::io::Error::from)?;
            text.push('\n');
            text
        }
        (None, PreviewFormat::Text) => render_builtin(Layout::Text, &context),
        (None, PreviewFormat::Markdown) => render_builtin(Layout::Markdown, &context),
        (None, PreviewFormat::Html) => render_builtin(Layout::Html, &context),
    };
    out.write_all(rendered.as_bytes())?;
    Ok(if counts.errors > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// What `plan` shows: the preview, or only the diagnostics of a plan that did not resolve.
#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Preview(Box<Preview>),
    Unresolved(Unresolved),
}

#[derive(Serialize)]
struct Unresolved {
    format_version: u32,
    /// Always false: a plan that did not resolve has errors.
    valid: bool,
    plan: Option<String>,
    file: String,
    now: String,
    summary: Counts,
    diagnostics: Vec<crate::rules::Diagnostic>,
}
