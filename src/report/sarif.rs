//! SARIF 2.1.0, as GitHub code scanning and Microsoft's SARIF Multitool accept it: every rule
//! with its descriptions and help, every result with a region and a stable partial fingerprint,
//! and file locations relative to `%SRCROOT%` (the repository root, else the current directory),
//! so the log does not depend on where it was made.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::ValidationReport;
use crate::plan::time::format_utc;
use crate::rules::{Diagnostic, Rule, Severity};

/// The base every relative location is resolved against.
const SOURCE_ROOT: &str = "%SRCROOT%";

/// Where people learn about the tool and its rules.
const HOME: &str = env!("CARGO_PKG_REPOSITORY");

pub fn render(report: &ValidationReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    let current = std::env::current_dir()?;
    let root = repository_root(&current).unwrap_or_else(|| current.clone());
    serde_json::to_writer_pretty(&mut *out, &document(report, &current, &root))?;
    writeln!(out)
}

/// The log for `report`; paths are read relative to `current` and shown relative to `root`.
#[must_use]
pub fn document(report: &ValidationReport<'_>, current: &Path, root: &Path) -> Value {
    let rules: Vec<Value> = Rule::ALL.iter().map(|rule| describe_rule(*rule)).collect();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|diagnostic| result(diagnostic, &location(&diagnostic.file, current, root)))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "refreshctl",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": HOME,
                    "rules": rules,
                }
            },
            "automationDetails": {
                "id": format!("refreshctl/validate/{}", format_utc(report.now)),
            },
            "originalUriBaseIds": {
                SOURCE_ROOT: { "uri": directory_uri(root) },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// The nearest directory at or above `start` that holds `.git`.
fn repository_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|directory| directory.join(".git").exists())
        .map(Path::to_path_buf)
}

/// An artifact location: relative to `%SRCROOT%` when the file lies under `root`, else an
/// absolute `file:` URI.
fn location(file: &str, current: &Path, root: &Path) -> Value {
    let absolute = lexical(&current.join(file));
    match absolute.strip_prefix(root) {
        Ok(relative) => json!({
            "uri": uri(&relative.to_string_lossy()),
            "uriBaseId": SOURCE_ROOT,
        }),
        Err(_) => json!({ "uri": format!("file://{}", uri(&absolute.to_string_lossy())) }),
    }
}

/// `path` without `.` and with `..` applied, as written (links are not followed: the user's
/// path is what code scanning shows).
fn lexical(path: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

/// A `file:` URI of a directory, ending in `/` as SARIF requires of a base.
fn directory_uri(directory: &Path) -> String {
    let mut text = format!("file://{}", uri(&lexical(directory).to_string_lossy()));
    if !text.ends_with('/') {
        text.push('/');
    }
    text
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
        "name": name(rule),
        "shortDescription": { "text": rule.summary() },
        "fullDescription": { "text": format!("Fires when {}", explanation.fires_when) },
        "help": {
            "text": explanation.why,
            "markdown": format!("{}\n\nSee `refreshctl explain {}`.", explanation.why, rule.id()),
        },
        "helpUri": format!("{HOME}/blob/main/README.md#rules"),
        "defaultConfiguration": { "level": level(rule.severity()) },
    })
}

fn result(diagnostic: &Diagnostic, artifact: &Value) -> Value {
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
                "artifactLocation": artifact,
                "region": region,
            }
        }],
        "partialFingerprints": { "refreshctlDiagnostic/v1": fingerprint(diagnostic) },
    })
}

/// A name for people, different from the id (SARIF1001): the id in `PascalCase`, or for the
/// one-word ids, what they are about.
fn name(rule: Rule) -> String {
    match rule {
        Rule::Syntax => "UnreadableYaml".to_owned(),
        Rule::Schema => "InvalidPlanShape".to_owned(),
        Rule::Acknowledgements => "MissingAcknowledgements".to_owned(),
        _ => pascal_case(rule.id()),
    }
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
    fn rule_names_differ_from_ids_in_more_than_case() {
        assert_eq!(name(Rule::LeadTime), "LeadTime");
        for rule in Rule::ALL {
            assert!(!name(rule).eq_ignore_ascii_case(rule.id()), "{rule}");
        }
    }

    #[test]
    fn locations_are_relative_to_the_root_or_absolute() {
        let root = Path::new("/repo");
        assert_eq!(
            location("plans/a b.yaml", Path::new("/repo"), root),
            json!({ "uri": "plans/a%20b.yaml", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            location("/repo/./plans/x/../a.yaml", Path::new("/elsewhere"), root),
            json!({ "uri": "plans/a.yaml", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            location("../a.yaml", Path::new("/repo/plans"), root),
            json!({ "uri": "a.yaml", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            location("/tmp/a.yaml", Path::new("/repo"), root),
            json!({ "uri": "file:///tmp/a.yaml" })
        );
        assert_eq!(directory_uri(root), "file:///repo/");
    }
}
