//! The human renderer: rustc-style excerpts with a caret under the value at fault.

use std::io::{self, Write};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::ValidationReport;
use super::text::token_range;
use crate::rules::{Diagnostic, Severity};

pub fn render(report: &ValidationReport<'_>, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    for diagnostic in report.diagnostics {
        let source = report.sources.get(&diagnostic.file).map(String::as_str);
        writeln!(out, "{}\n", render_one(&renderer, diagnostic, source))?;
    }
    writeln!(out, "{}", report.summary_line())
}

/// Renders one diagnostic; `source` is the file's text when it is available.
#[must_use]
pub fn render_one(renderer: &Renderer, diagnostic: &Diagnostic, source: Option<&str>) -> String {
    let level = match diagnostic.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let title = level
        .primary_title(diagnostic.message.as_str())
        .id(diagnostic.rule.id());
    let range =
        source
            .zip(diagnostic.line.zip(diagnostic.column))
            .and_then(|(source, (line, column))| {
                token_range(source, line, column).map(|range| (source, range))
            });
    let mut groups = Vec::with_capacity(2);
    if let Some((source, range)) = range {
        groups.push(
            title.element(
                Snippet::source(source)
                    .path(diagnostic.file.as_str())
                    .fold(true)
                    .annotation(AnnotationKind::Primary.span(range)),
            ),
        );
    } else {
        let mut origin = annotate_snippets::Origin::path(diagnostic.file.as_str());
        if let (Some(line), Some(column)) = (diagnostic.line, diagnostic.column) {
            origin = origin.line(line as usize).char_column(column as usize);
        }
        groups.push(title.element(origin));
    }
    if !diagnostic.help.is_empty() {
        groups.push(Group::with_title(
            Level::HELP.secondary_title(diagnostic.help.as_str()),
        ));
    }
    renderer.render(&groups)
}
