//! Azure Pipelines logging commands (`##vso[task.logissue ...]`).

use std::io::{self, Write};

use super::ValidationReport;
use crate::rules::Severity;

pub fn render(report: &ValidationReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    for diagnostic in report.diagnostics {
        let kind = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = vec![
            format!("type={kind}"),
            format!("sourcepath={}", escape_property(&diagnostic.file)),
        ];
        if let (Some(line), Some(column)) = (diagnostic.line, diagnostic.column) {
            properties.push(format!("linenumber={line}"));
            properties.push(format!("columnnumber={column}"));
        }
        properties.push(format!("code={}", diagnostic.rule));
        writeln!(
            out,
            "##vso[task.logissue {};]{}",
            properties.join(";"),
            escape_data(&format!(
                "{} [{}] (help: {})",
                diagnostic.message, diagnostic.rule, diagnostic.help
            ))
        )?;
    }
    writeln!(out, "{}", report.summary_line())?;
    // The step's result: a script step with warnings only would otherwise show as a plain
    // success, and one with errors relies on its exit code alone.
    let counts = report.counts();
    let result = if counts.errors > 0 || (report.deny_warnings && counts.warnings > 0) {
        Some("Failed")
    } else if counts.warnings > 0 {
        Some("SucceededWithIssues")
    } else {
        None
    };
    if let Some(result) = result {
        writeln!(
            out,
            "##vso[task.complete result={result};]{}",
            escape_data(&report.summary_line())
        )?;
    }
    Ok(())
}

/// Escapes a logging command's message, as azure-pipelines-task-lib does.
#[must_use]
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%AZP25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a logging command's property value.
#[must_use]
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(';', "%3B").replace(']', "%5D")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_task_lib_rules() {
        assert_eq!(escape_data("100%\nok"), "100%AZP25%0Aok");
        assert_eq!(escape_property("a;b]c"), "a%3Bb%5Dc");
    }
}
