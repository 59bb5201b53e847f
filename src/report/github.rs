//! GitHub Actions workflow commands: one annotation per diagnostic, and a markdown summary of all
//! of them for the job page (GitHub shows only the first few annotations of a step).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::ValidationReport;
use crate::rules::Severity;

pub fn render(report: &ValidationReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    for diagnostic in report.diagnostics {
        let command = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = vec![format!("file={}", escape_property(&diagnostic.file))];
        if let (Some(line), Some(column)) = (diagnostic.line, diagnostic.column) {
            properties.push(format!("line={line}"));
            properties.push(format!("col={column}"));
        }
        properties.push(format!(
            "title={}",
            escape_property(&format!("refreshctl {}", diagnostic.rule))
        ));
        writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            escape_data(&format!(
                "{}\nhelp: {}",
                diagnostic.message, diagnostic.help
            ))
        )?;
    }
    writeln!(out, "{}", report.summary_line())
}

/// The markdown step summary: every diagnostic in one table.
#[must_use]
pub fn step_summary(report: &ValidationReport<'_>) -> String {
    let mut text = format!("### refreshctl validate\n\n{}\n", report.summary_line());
    if !report.diagnostics.is_empty() {
        text.push_str("\n| | rule | file | plan | message |\n|---|---|---|---|---|\n");
        for diagnostic in report.diagnostics {
            let icon = match diagnostic.severity {
                Severity::Error => ":x:",
                Severity::Warning => ":warning:",
            };
            let place = match (diagnostic.line, diagnostic.column) {
                (Some(line), Some(column)) => format!("{}:{line}:{column}", diagnostic.file),
                _ => diagnostic.file.clone(),
            };
            let _ = writeln!(
                text,
                "| {icon} | `{}` | {} | {} | {} |",
                diagnostic.rule,
                table_cell(&place),
                table_cell(diagnostic.plan.as_deref().unwrap_or("")),
                table_cell(&diagnostic.message)
            );
        }
    }
    text
}

fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Escapes the message of a workflow command.
#[must_use]
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command.
#[must_use]
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_workflow_command_rules() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }
}
