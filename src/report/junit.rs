//! `JUnit` XML as the strict Jenkins/Surefire schema (`junit-10.xsd`) has it: a test suite per
//! plan file, a test case per plan and rule (`plan: rule`, with a class name per file). Errors
//! fail their case; warnings fail it only with `--deny-warnings` and are otherwise reported as
//! output.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::ValidationReport;
use crate::rules::{Diagnostic, Rule, Severity};

pub fn render(report: &ValidationReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut suites = String::new();
    let (mut total, mut total_failures) = (0, 0);
    let mut by_file: HashMap<&str, Vec<&Diagnostic>> = HashMap::new();
    for diagnostic in report.diagnostics {
        by_file
            .entry(&diagnostic.file)
            .or_default()
            .push(diagnostic);
    }
    let plans: HashMap<&str, &str> = report.plans.iter().copied().collect();
    let timestamp = report.now.format("%Y-%m-%dT%H:%M:%S");
    for file in &report.file_names {
        let diagnostics = by_file.remove(file).unwrap_or_default();
        let plan = plans.get(file).copied();
        let (mut cases, mut failures, mut skipped) = (String::new(), 0, 0);
        for rule in Rule::ALL {
            let found: Vec<&&Diagnostic> = diagnostics.iter().filter(|d| d.rule == rule).collect();
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}: {}\"",
                escape(&classname(file)),
                escape(plan.unwrap_or(file)),
                rule.id(),
            );
            let fails = found
                .iter()
                .any(|d| d.severity == Severity::Error || report.deny_warnings);
            let body = found
                .iter()
                .map(|d| {
                    let place = d
                        .place()
                        .map(|place| format!("{file}:{place}: "))
                        .unwrap_or_default();
                    format!("{place}{}: {}\nhelp: {}", d.severity, d.message, d.help)
                })
                .collect::<Vec<_>>()
                .join("\n");
            if fails {
                failures += 1;
                let _ = write!(
                    cases,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    found[0].severity,
                    escape(&found[0].message),
                    escape(&body)
                );
            } else if !found.is_empty() {
                let _ = write!(
                    cases,
                    ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    escape(&body)
                );
            } else if plan.is_none() && !matches!(rule, Rule::Syntax | Rule::Schema) {
                skipped += 1;
                cases.push_str(
                    ">\n      <skipped message=\"the file did not parse\"/>\n    </testcase>\n",
                );
            } else {
                cases.push_str("/>\n");
            }
        }
        total += Rule::ALL.len();
        total_failures += failures;
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{timestamp}\">\n{cases}  </testsuite>",
            escape(file),
            Rule::ALL.len()
        );
    }
    // `testsuites` has no `skipped` in the schema: the suites count theirs.
    write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"refreshctl validate\" tests=\"{total}\" failures=\"{total_failures}\" errors=\"0\" time=\"{:.3}\">\n{suites}</testsuites>\n",
        report.elapsed.as_secs_f64()
    )
}

/// A class name per plan file, stable while the file stays where it is: its path without the
/// extension, in dots (`plans/uat.yaml` is `plans.uat`), as test reports group classes.
fn classname(file: &str) -> String {
    let file = file.strip_prefix("./").unwrap_or(file);
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
        .unwrap_or(file);
    stem.trim_start_matches('/').replace(['/', '\\'], ".")
}

/// Escapes text for XML content and attributes, dropping characters XML 1.0 cannot hold.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\t' | '\r' => escaped.push(' '),
            character if (character as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            character => escaped.push(character),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(escape("x\ny"), "x&#10;y");
    }

    #[test]
    fn class_names_are_paths_in_dots() {
        assert_eq!(classname("plans/uat weekly.yaml"), "plans.uat weekly");
        assert_eq!(classname("./a/b.yml"), "a.b");
        assert_eq!(classname("/abs/c.yaml"), "abs.c");
    }
}
