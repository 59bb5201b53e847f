//! Reading a plan file into its raw form, with budgets so hostile input fails fast.
//!
//! Everything that stops a file from being read at all is a `syntax` diagnostic; a file that is
//! YAML but not a plan's shape (unknown key, wrong type, missing key, unknown word) is a
//! `schema` diagnostic. Either way the caller gets exactly one diagnostic and no plan.

use serde_saphyr::{Error as YamlError, Options};

use super::located::Place;
use super::raw::RawPlan;
use crate::rules::{Diagnostic, Findings, Rule};

/// The largest plan file read (SPEC 3.1, `syntax`).
pub const MAX_PLAN_BYTES: usize = 1024 * 1024;

/// Parses the bytes of one plan file. `file` is the path as it will be shown.
pub fn parse(file: &str, bytes: &[u8]) -> Result<RawPlan, Diagnostic> {
    let fail = |rule: Rule, place: Option<Place>, message: String, help: String| {
        let mut findings = Findings::new(file, None);
        findings.push(rule, place, message, help);
        findings.into_vec().remove(0)
    };
    if bytes.len() > MAX_PLAN_BYTES {
        return Err(fail(
            Rule::Syntax,
            None,
            format!(
                "the file is {} bytes, larger than the 1 MiB a plan may be",
                bytes.len()
            ),
            "a plan is a few dozen lines; is this the right file?".into(),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let place = place_of_offset(valid);
            let what = if bytes.contains(&0) {
                "the file is binary, not UTF-8 text"
            } else {
                "the file is not valid UTF-8"
            };
            return Err(fail(
                Rule::Syntax,
                Some(place),
                format!(
                    "{what} (first invalid byte at line {}, column {})",
                    place.line, place.column
                ),
                "save the plan as UTF-8".into(),
            ));
        }
    };
    if text.contains('\0') {
        return Err(fail(
            Rule::Syntax,
            Some(place_of_offset(&bytes[..text.find('\0').unwrap_or(0)])),
            "the file contains a NUL character; it is not a text file".into(),
            "save the plan as UTF-8 text".into(),
        ));
    }
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Err(fail(
            Rule::Syntax,
            None,
            "the file is empty".into(),
            "a plan needs at least `version`, `name`, `project`, `environment`, `window` and \
             `acknowledge`; see `refreshctl explain schema`"
                .into(),
        ));
    }
    serde_saphyr::from_str_with_options::<RawPlan>(text, options()).map_err(|error| {
        // A shape error can stand in front of a syntax error (`name: [unclosed` is first a
        // sequence where a string belongs). Only when the file is well-formed YAML is the
        // shape error the one to report; this second parse runs only for failing files.
        let syntax =
            serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(text, options()).err();
        let error = syntax.as_ref().unwrap_or(&error);
        let (rule, message, help) = describe(error.without_snippet());
        fail(
            rule,
            error.location().and_then(Place::from_location),
            message,
            help,
        )
    })
}

/// Parser budgets sized for plan files (tens of lines), far below serde-saphyr's defaults, so
/// alias bombs and deep nesting are refused after a few thousand events.
fn options() -> Options {
    let mut options = Options::default();
    options.with_snippet = false;
    options.budget = serde_saphyr::budget! {
        max_depth: 32,
        max_events: 200_000,
        max_nodes: 50_000,
        max_aliases: 1_000,
        max_anchors: 1_000,
        max_documents: 1,
        max_total_scalar_bytes: MAX_PLAN_BYTES,
    };
    options.alias_limits.max_total_replayed_events = 20_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options
}

fn place_of_offset(prefix: &[u8]) -> Place {
    let line = prefix.split(|&byte| byte == b'\n').count();
    let line_start = prefix
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let column = String::from_utf8_lossy(&prefix[line_start..])
        .chars()
        .count()
        + 1;
    Place::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Classifies a parser error and phrases it for a person.
fn describe(error: &YamlError) -> (Rule, String, String) {
    match error {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => (
            Rule::Schema,
            format!("unknown key `{field}`"),
            did_you_mean(field, expected, "keys"),
        ),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            Rule::Schema,
            format!("unknown value `{variant}`"),
            did_you_mean(variant, expected, "values"),
        ),
        YamlError::SerdeMissingField { field, .. } => (
            Rule::Schema,
            format!("missing required key `{field}`"),
            format!("add `{field}:` to this map"),
        ),
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            Rule::Schema,
            format!("expected {expected}, found {unexpected}"),
            if expected.contains("string") {
                "quote the value, for example \"10.0\"".into()
            } else {
                "see `refreshctl schema` for the shape of a plan".into()
            },
        ),
        YamlError::SerdeInvalidValue { .. }
        | YamlError::SerdeInvalidLength { .. }
        | YamlError::Message { .. }
        | YamlError::InvalidScalar { .. }
        | YamlError::NullIntoString { .. }
        | YamlError::Unexpected { .. }
        | YamlError::ExpectedStringKeyForExternallyTaggedEnum { .. }
        | YamlError::ExternallyTaggedEnumExpectedScalarOrMapping { .. }
        | YamlError::UnexpectedValueForUnitEnumVariant { .. }
        | YamlError::TaggedEnumMismatch { .. }
        | YamlError::SerdeVariantId { .. }
        | YamlError::ExpectedMappingEndAfterEnumVariantValue { .. }
        | YamlError::InvalidBooleanStrict { .. }
        | YamlError::NonFiniteFloat { .. } => (
            Rule::Schema,
            plain_message(error),
            "see `refreshctl schema` for the shape of a plan".into(),
        ),
        YamlError::Budget { .. }
        | YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => (
            Rule::Syntax,
            plain_message(error),
            "a plan needs no deep nesting and few aliases; the parser refuses input that would \
             cost far more than any plan"
                .into(),
        ),
        YamlError::DuplicateMappingKey { .. } => (
            Rule::Syntax,
            plain_message(error),
            "each key may appear once in a map".into(),
        ),
        _ => (
            Rule::Syntax,
            plain_message(error),
            "the file must be one well-formed YAML document".into(),
        ),
    }
}

/// The error's text without the place, which the diagnostic carries separately.
fn plain_message(error: &YamlError) -> String {
    let text = error.to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let text = match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => text,
    };
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// A hint naming the closest known word, and the words known here.
#[must_use]
pub fn did_you_mean(given: &str, known: &[&str], what: &str) -> String {
    let closest = known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(given, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let list = known
        .iter()
        .map(|word| format!("`{word}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match closest {
        Some((_, word)) => format!("did you mean `{word}`? known {what} here: {list}"),
        None => format!("known {what} here: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(text: &str) -> Diagnostic {
        parse("plan.yaml", text.as_bytes()).expect_err("should not parse")
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let found = diagnostic("version: 1\nnmae: x\n");
        assert_eq!(found.rule, Rule::Schema);
        assert_eq!(found.message, "unknown key `nmae`");
        assert!(
            found.help.starts_with("did you mean `name`?"),
            "{}",
            found.help
        );
        assert_eq!((found.line, found.column), (Some(2), Some(1)));
    }

    #[test]
    fn empty_and_comment_only_files_are_syntax_errors() {
        for text in ["", "   \n\n", "# only a comment\n"] {
            let found = diagnostic(text);
            assert_eq!(found.rule, Rule::Syntax);
            assert_eq!(found.message, "the file is empty");
        }
    }

    #[test]
    fn invalid_utf8_points_at_the_first_bad_byte() {
        let found = parse("plan.yaml", b"version: 1\nname: \xff\n").expect_err("not utf-8");
        assert_eq!(found.rule, Rule::Syntax);
        assert_eq!((found.line, found.column), (Some(2), Some(7)));
    }

    #[test]
    fn malformed_yaml_is_syntax() {
        let found = diagnostic("version: 1\nname: [unclosed\n");
        assert_eq!(found.rule, Rule::Syntax);
        assert!(found.line.is_some());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let found = diagnostic("version: 1\nversion: 1\n");
        assert_eq!(found.rule, Rule::Syntax);
        assert_eq!(found.line, Some(2));
    }

    #[test]
    fn did_you_mean_without_a_close_word_lists_the_words() {
        assert_eq!(
            did_you_mean("zzz", &["a", "b"], "keys"),
            "known keys here: `a`, `b`"
        );
    }
}
