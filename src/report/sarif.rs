//! SARIF 2.1.0, as GitHub code scanning accepts it: every rule with its descriptions, every
//! result with a region and a stable partial fingerprint.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::ValidationReport;
use crate::rules::{Diagnostic, Rule, Severity};

pub fn render(report: &ValidationReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(report))?;
    writeln!(out)
}

#[must_use]
pub fn document(report: &ValidationReport<'_>) -> Value {
    let rules: Vec<Value> = Rule::ALL.iter().map(|rule| describe_rule(*rule)).collect();
    let results: Vec<Value> = report.diagnostics.iter().map(result).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "refreshctl",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn describe_rule(rule: Rule) -> Value {
    let explanation = rule.explanation();
    json!({
        "id": rule.id(),
        "name": pascal_case(rule.id()),
        "shortDescription": { "text": rule.summary() },
        "fullDescription": { "text": format!("Fires when {}", explanation.fires_when) },
        "help": {
            "text": explanation.why,
            "markdown": format!("{}\n\nSee `refreshctl explain {}`.", explanation.why, rule.id()),
        },
        "defaultConfiguration": { "level": level(rule.severity()) },
    })
}

fn result(diagnostic: &Diagnostic) -> Value {
    let rule_index = Rule::ALL
        .iter()
        .position(|rule| *rule == diagnostic.rule)
        .unwrap_or_default();
    // Code scanning needs a region; a diagnostic without a place points at the file's start.
    let region = json!({
        "startLine": diagnostic.line.unwrap_or(1),
        "startColumn": diagnostic.column.unwrap_or(1),
    });
    json!({
        "ruleId": diagnostic.rule.id(),
        "ruleIndex": rule_index,
        "level": level(diagnostic.severity),
        "message": { "text": format!("{}\nhelp: {}", diagnostic.message, diagnostic.help) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(&diagnostic.file) },
                "region": region,
            }
        }],
        "partialFingerprints": { "refreshctlDiagnostic/v1": fingerprint(diagnostic) },
    })
}

fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A relative URI reference for a path: forward slashes, everything outside the unreserved set
/// percent-encoded.
#[must_use]
pub fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Stable across moves within the file: the rule, file, plan and message, hashed with FNV-1a
/// (fixed, unlike std's hasher, across Rust versions).
fn fingerprint(diagnostic: &Diagnostic) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        diagnostic.rule.id(),
        diagnostic.file.as_str(),
        diagnostic.plan.as_deref().unwrap_or(""),
        diagnostic.message.as_str(),
    ];
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(uri("./plans/uat weekly.yaml"), "plans/uat%20weekly.yaml");
        assert_eq!(uri("plans\\a.yaml"), "plans/a.yaml");
    }

    #[test]
    fn rule_names() {
        assert_eq!(pascal_case("lead-time"), "LeadTime");
    }
}
