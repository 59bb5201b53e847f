//! Reading a plan file into its raw form, with budgets so hostile input fails fast.
//!
//! Everything that stops a file from being read at all is a `syntax` diagnostic; a file that is
//! YAML but not a plan's shape (unknown key, wrong type, missing key, unknown word) is a
//! `schema` diagnostic. A file that cannot be read gets exactly one diagnostic; a file of the
//! wrong shape gets one for every shape problem (found by `plan::shape` on the YAML tree, since
//! serde stops at the first), and no plan either way.

use serde_saphyr::{Error as YamlError, Options};

use super::fast;
use super::located::{Located, Place};
use super::raw::RawPlan;
use super::shape::{self, Node};
use crate::rules::{Diagnostic, Findings, Rule};

/// The largest plan file read (SPEC 3.1, `syntax`).
pub const MAX_PLAN_BYTES: usize = 1024 * 1024;

/// Parses the bytes of one plan file. `file` is the path as it will be shown. On failure the
/// list holds at least one diagnostic, in the order of their places.
pub fn parse(file: &str, bytes: &[u8]) -> Result<RawPlan, Vec<Diagnostic>> {
    let fail = |rule: Rule, place: Option<Place>, message: String, help: String| {
        let mut findings = Findings::new(file, None);
        findings.push(rule, place, message, help);
        findings.into_vec()
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
    // Most plans are in the subset `plan::fast` reads, several times faster; it gives up on
    // anything else, which serde-saphyr then reads (and reports on) as it always did.
    if let Some(plan) = fast::read::<RawPlan>(text) {
        return Ok(plan);
    }
    serde_saphyr::from_str_with_options::<RawPlan>(text, options()).map_err(|error| {
        // A shape error can stand in front of a syntax error (`name: [unclosed` is first a
        // sequence where a string belongs). Only when the file is well-formed YAML is the
        // shape error the one to report; this second parse runs only for failing files.
        let syntax =
            serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(text, options()).err();
        if syntax.is_none() {
            let every = shape_problems(file, text);
            if !every.is_empty() {
                return every;
            }
        }
        let error = syntax.as_ref().unwrap_or(&error);
        let (rule, message, help) = describe(error.without_snippet());
        let place = error.location().and_then(Place::from_location);
        if is_about_a_tab(&message) {
            return fail(
                rule,
                place.map(|place| tab_place(text, place).unwrap_or(place)),
                "a tab is used for indentation; YAML indents with spaces only".into(),
                "replace the tab with spaces".into(),
            );
        }
        fail(rule, place, message, help)
    })
}

/// Every shape problem of a well-formed file, from a walk of its YAML tree. Empty when the tree
/// could not be read (the parser's own error is then reported) or the walk found nothing (serde
/// found a problem the walk does not know, reported as serde says it).
fn shape_problems(file: &str, text: &str) -> Vec<Diagnostic> {
    let Ok(root) = serde_saphyr::from_str_with_options::<Located<Node>>(text, options()) else {
        return Vec::new();
    };
    let mut findings = Findings::new(file, None);
    shape::check(&root, &mut findings);
    let mut found = findings.into_vec();
    found.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    found.dedup();
    found
}

/// Whether the parser's message is about a tab (the scanner's "while scanning a plain scalar,
/// found a tab" and "tabs disallowed within this context").
fn is_about_a_tab(message: &str) -> bool {
    message.contains("found a tab") || message.contains("tabs disallowed")
}

/// Where the offending tab is. The parser reports a tab error at the scalar it was scanning
/// (the line before the tab) or just after the tab; the tab the user must fix is the first one
/// in the indentation of that line or a line after it. The column is the 1-based character
/// column of the tab, counting it as one character, as editors' "column" counts do.
fn tab_place(text: &str, reported: Place) -> Option<Place> {
    let first = usize::try_from(reported.line).ok()?.checked_sub(1)?;
    text.lines()
        .enumerate()
        .skip(first)
        .find_map(|(index, line)| {
            let indentation = line.len() - line.trim_start_matches([' ', '\t']).len();
            let column = line[..indentation].find('\t')? + 1;
            Some(Place::new(
                u32::try_from(index + 1).ok()?,
                u32::try_from(column).ok()?,
            ))
        })
}

/// Parser budgets sized for plan files (tens of lines), far below serde-saphyr's defaults, so
/// alias bombs and deep nesting are refused after a few thousand events.
pub(super) fn options() -> Options {
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
            in_plan_terms(&format!("expected {expected}, found {unexpected}")),
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
        | YamlError::InvalidBooleanStrict { .. } => (
            Rule::Schema,
            in_plan_terms(&plain_message(error)),
            "see `refreshctl schema` for the shape of a plan".into(),
        ),
        YamlError::NonFiniteFloat { value, .. } => (
            Rule::Schema,
            format!("`{value}` is not a finite number"),
            "write a number within range, or quote the value to make it a string".into(),
        ),
        YamlError::Budget { breach, .. } => (
            Rule::Syntax,
            budget_message(breach),
            "a plan needs no deep nesting and few aliases; the parser refuses input that would \
             cost far more than any plan"
                .into(),
        ),
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => (
            Rule::Syntax,
            plain_message(error),
            "a plan needs no deep nesting and few aliases; the parser refuses input that would \
             cost far more than any plan"
                .into(),
        ),
        YamlError::DuplicateMappingKey { key, .. } => (
            Rule::Syntax,
            key.as_ref().map_or_else(
                || "duplicate key in a map".to_owned(),
                |key| format!("duplicate key `{key}`"),
            ),
            "each key may appear once in a map; this is its second appearance: remove one, or \
             merge the two"
                .into(),
        ),
        _ => (
            Rule::Syntax,
            plain_message(error),
            "the file must be one well-formed YAML document".into(),
        ),
    }
}

/// serde's and Rust's words for types in the plan's terms (`invalid u64` is "expected a positive
/// integer"). Only a problem the shape walk did not find is phrased by serde, so this is the
/// fallback, not the rule.
fn in_plan_terms(message: &str) -> String {
    let integer = [
        "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128", "usize",
    ];
    if let Some(kind) = message.strip_prefix("invalid ")
        && integer.contains(&kind.trim())
    {
        return "expected a positive integer".into();
    }
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
            if integer.contains(&bare) {
                word.replace(bare, "a positive integer")
            } else {
                match bare {
                    "sequence" => word.replace(bare, "a list"),
                    "struct" | "mapping" => word.replace(bare, "a map"),
                    _ => word.to_owned(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("string scalar", "text")
        .replace("a string", "text")
        .replace("a a ", "a ")
        .replace("an a ", "a ")
}

/// A breached parser budget in words.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach;
    match breach {
        BudgetBreach::Depth { .. } => "the file nests deeper than a plan can (32 levels)".into(),
        BudgetBreach::Events { .. } | BudgetBreach::Nodes { .. } => {
            "the file has far more YAML nodes than a plan can".into()
        }
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => {
            "the file uses more aliases (`*name`) than a plan can".into()
        }
        BudgetBreach::Anchors { .. } => {
            "the file defines more anchors (`&name`) than a plan can".into()
        }
        BudgetBreach::Documents { .. } => "the file has more than one YAML document".into(),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => {
            "the file holds more text than a plan can".into()
        }
        _ => "the file is larger or more complex than a plan can be".into(),
    }
}

/// The error's text without the place, which the diagnostic carries separately, and without
/// the parser's advice to its own callers (its options and types mean nothing to a user).
fn plain_message(error: &YamlError) -> String {
    let is_advice = |text: &str| {
        [
            "Options",
            "Option<",
            "configured policy",
            "DuplicateKeyPolicy",
        ]
        .iter()
        .any(|word| text.contains(word))
    };
    let text = error_text(error);
    let mut sentences = text.split(". ");
    let first = sentences.next().unwrap_or_default();
    // In the first sentence, the advice is a trailing clause; a later sentence with advice is
    // advice throughout.
    let mut kept: Vec<&str> = Vec::new();
    for clause in first.split_inclusive([',', ';']) {
        if is_advice(clause) {
            break;
        }
        kept.push(clause);
    }
    let mut message = kept.concat().trim_end_matches([',', ';', ' ']).to_owned();
    if message.is_empty() {
        // The advice is woven into the only clause: keep the clause, without the advice.
        message = [
            " by the configured policy",
            " by configured policy",
            " in Options",
            " if acceptable",
        ]
        .iter()
        .fold(first.to_owned(), |text, advice| text.replace(advice, ""));
    }
    for sentence in sentences {
        if is_advice(sentence) {
            break;
        }
        message.push_str(". ");
        message.push_str(sentence);
    }
    message.trim_end_matches(['.', ' ']).to_owned()
}

fn error_text(error: &YamlError) -> String {
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
        parse("plan.yaml", text.as_bytes())
            .expect_err("should not parse")
            .remove(0)
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let every = parse("plan.yaml", b"version: 1\nnmae: x\n").expect_err("not a plan");
        let found = every
            .iter()
            .find(|found| found.message.starts_with("unknown key"))
            .expect("the unknown key")
            .clone();
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
        let found =
            parse("plan.yaml", b"version: 1\nname: \xff\n").expect_err("not utf-8")[0].clone();
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
    fn duplicate_keys_are_named_in_the_users_terms_at_the_second() {
        for (text, key, place) in [
            ("version: 1\nversion: 1\n", "version", (2, 1)),
            ("version: 1\nname: a\nproject: 1\nname: b\n", "name", (4, 1)),
            (
                "version: 1\nenvironment:\n  name: a\n  type: sandbox\n  name: b\n",
                "name",
                (5, 3),
            ),
        ] {
            let found = diagnostic(text);
            assert_eq!(found.rule, Rule::Syntax);
            assert_eq!(found.message, format!("duplicate key `{key}`"), "{text}");
            assert_eq!(
                (found.line, found.column),
                (Some(place.0), Some(place.1)),
                "{text}"
            );
            assert!(found.help.contains("second appearance"), "{}", found.help);
            for word in ["Options", "Policy", "serde", "saphyr"] {
                assert!(!found.message.contains(word) && !found.help.contains(word));
            }
        }
    }

    #[test]
    fn the_parsers_advice_to_programmers_is_cut() {
        for (text, expected) in [
            (
                "duplicate mapping key: name, set DuplicateKeyPolicy in Options if acceptable",
                "duplicate mapping key: name",
            ),
            (
                "invalid char: cannot deserialize null; use Option<char>",
                "invalid char: cannot deserialize null",
            ),
            (
                "!!binary scalar is not valid UTF-8 so cannot be stored into string. If you just \
                 use !!binary for documentation/annotation, set ignore_binary_tag_for_string in \
                 Options",
                "!!binary scalar is not valid UTF-8 so cannot be stored into string",
            ),
            (
                "expected a string, found a map",
                "expected a string, found a map",
            ),
            (
                "YAML merge keys are not allowed by configured policy",
                "YAML merge keys are not allowed",
            ),
            (
                "non-finite float `1e999` rejected by the configured policy",
                "non-finite float `1e999` rejected",
            ),
        ] {
            let error = YamlError::Message {
                msg: text.to_owned(),
                location: serde_saphyr::Location::UNKNOWN,
            };
            assert_eq!(plain_message(&error), expected);
        }
    }

    #[test]
    fn a_number_out_of_range_says_so() {
        let found = diagnostic("version: 1\nname: x\nproject: 1e34567\n");
        assert_eq!(found.message, "`1e34567` is not a finite number");
        assert_eq!((found.line, found.column), (Some(3), Some(10)));
    }

    #[test]
    fn a_tab_is_reported_at_its_own_character_column() {
        for (text, place) in [
            // The parser reports these at the scalar before the tab (2:7, 3:9, 2:5).
            ("version: 1\nname: x\n\tproject: 1\n", (3, 1)),
            (
                "version: 1\nenvironment:\n  name: x\n\ttype: sandbox\n",
                (4, 1),
            ),
            ("a:\n  - b\n\t- c\n", (3, 1)),
            // And these just after it (3:2, 4:3).
            ("version: 1\nenvironment:\n\tname: x\n", (3, 1)),
            ("version: 1\nname: x\nenvironment:\n\t\tname: y\n", (4, 1)),
            // A tab that separates a value is not the one at fault.
            ("version: 1\nname:\tx\n\tproject: 1\n", (3, 1)),
            ("version: 1\nname: x \t\n\tproject: 1\n", (3, 1)),
            ("version: 1\nname: \"a\tb\" \n\tproject: 1\n", (3, 1)),
        ] {
            let found = diagnostic(text);
            assert_eq!(found.rule, Rule::Syntax, "{text:?}");
            assert_eq!(
                found.message, "a tab is used for indentation; YAML indents with spaces only",
                "{text:?}"
            );
            assert_eq!(
                (found.line, found.column),
                (Some(place.0), Some(place.1)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn did_you_mean_without_a_close_word_lists_the_words() {
        assert_eq!(
            did_you_mean("zzz", &["a", "b"], "keys"),
            "known keys here: `a`, `b`"
        );
    }

    const WEEKLY: &str = include_str!("../../plans/contoso-uat-weekly.yaml");

    /// Files of the wrong shape, each made from the weekly example by one edit.
    const BROKEN: &[(&str, &str)] = &[
        ("version: 1", "version: one"),
        ("version: 1", "version: [1]"),
        ("name: contoso-uat-weekly", "name: {a: 1}"),
        ("name: contoso-uat-weekly", "name:"),
        ("project: 1234567", "project: abc"),
        ("project: 1234567", "project: -3"),
        ("project: 1234567", "project: 1.5"),
        ("project: 1234567", "projet: 1234567"),
        ("  type: sandbox", "  type: sandbx"),
        ("  type: sandbox", "  type: [sandbox]"),
        ("  type: sandbox", "  kind: sandbox"),
        (
            "  release: \"10.0.41\"\n  channel",
            "  release: [10]\n  channel",
        ),
        ("  name: contoso-uat\n", "  nam: contoso-uat\n"),
        ("  name: contoso-uat\n", "  name: {}\n"),
        ("source:\n", "source: contoso-prod\nx:\n"),
        ("  duration: 6h", "  duration: {hours: 6}"),
        ("  duration: 6h", "  duraton: 6h"),
        ("lead_time: 48h", "lead_time: [48h]"),
        ("lead_time: 48h", "database: entity-stor"),
        ("  - target-unavailable", "  - target-unavailabe"),
        ("  - target-unavailable", "  - {a: b}"),
        (
            "acknowledge:\n  - target-database-erased\n  - target-unavailable",
            "acknowledge: yes",
        ),
        ("  - reprovision\n", "  - reprovison\n"),
        ("  - reprovision\n", "  - deploy\n"),
        ("  - reprovision\n", "  - reprovision: {pakage: x}\n"),
        ("  - reprovision\n", "  - reprovision: [x]\n"),
        ("  - reprovision\n", "  - {}\n"),
        ("  - reprovision\n", "  - 5\n"),
        (
            "  - reset-financial-reporting\n",
            "  - reset-financial-reporting: {now: true}\n",
        ),
        (
            "      name: Contoso customizations (weekly UAT build)",
            "      nme: x",
        ),
        ("      timeout: 30m", "      timeout: [30m]"),
        ("      timeout: 30m", "      tmeout: 30m"),
        ("      run: [", "      rn: ["),
        (
            "  - manual:\n      instructions:",
            "  - manual:\n      instruction:",
        ),
        (
            "  - manual:\n      instructions: Re-activate the POS devices of store 042 and confirm the register opens.\n      # Until it is approved UAT stays locked for next week's refresh: remind the store team\n      # from Monday morning on, twice a day.\n      timeout: 28h\n      on_timeout: remind\n      remind_every: 12h\n",
            "  - manual:\n",
        ),
        ("    on: [submitted,", "    on: [submited,"),
        (
            "    on: [submitted, started, awaiting-approval, succeeded, failed, canceled, rejected]",
            "    on: started",
        ),
        ("  - url: https", "  - uri: https"),
        ("notifications:\n  - url", "notifications: {}\nx:\n  - url"),
        ("post_steps:\n", "post_steps: reprovision\nx:\n"),
        ("window:\n", "window: weekly\nx:\n"),
        ("  cron: \"0 22 * * SAT\"", "  cron: [0, 22]"),
    ];

    /// The walk of the tree agrees with serde: it finds nothing in a plan serde reads, and on a
    /// file serde refuses it reports serde's problem at serde's place (and the rest besides).
    #[test]
    fn the_shape_walk_agrees_with_serde() {
        let good = [
            WEEKLY,
            include_str!("../../plans/contoso-test-restore.yaml"),
            include_str!("../../plans/fabrikam-1611-monthly.yaml"),
            include_str!("../../tests/fixtures/rules/clean.yaml"),
        ];
        for text in good {
            assert!(parse("plan.yaml", text.as_bytes()).is_ok());
            assert_eq!(shape_problems("plan.yaml", text), Vec::new(), "{text}");
        }
        for (from, to) in BROKEN {
            assert!(WEEKLY.contains(from), "{from}");
            let text = WEEKLY.replacen(from, to, 1);
            let serde =
                serde_saphyr::from_str_with_options::<RawPlan>(&text, options()).expect_err(to);
            let place = serde.location().and_then(Place::from_location);
            let every = parse("plan.yaml", text.as_bytes()).expect_err(to);
            assert!(
                every.iter().all(|found| found.rule == Rule::Schema),
                "{to}: {every:#?}"
            );
            // The same line: serde points into a map where a word belongs (`- {a: b}`), the
            // walk at the map.
            let lines: Vec<_> = every.iter().map(|found| found.line).collect();
            assert!(
                lines.contains(&place.map(|place| place.line)) || to.contains("\nx:"),
                "{to}: serde at {place:?}: {serde}; the walk: {every:#?}"
            );
            for found in &every {
                for word in [
                    "u64",
                    "u32",
                    "i64",
                    "string scalar",
                    "sequence",
                    "a struct",
                    "Option<",
                ] {
                    assert!(!found.message.contains(word), "{to}: {}", found.message);
                }
            }
        }
    }

    #[test]
    fn every_shape_problem_is_reported_in_one_pass_each_at_its_place() {
        let text = WEEKLY
            .replacen("project: 1234567", "project: abc", 1)
            .replacen("  type: sandbox", "  colour: blue\n  type: sandbox", 1)
            .replacen("lead_time: 48h", "lead_time: 48 hrs x", 1)
            .replacen("      timeout: 30m", "      timeout: [30m]", 1)
            .replacen("    on: [submitted,", "    on: [submited,", 1);
        let every = parse("plan.yaml", text.as_bytes()).expect_err("five problems");
        let found: Vec<(u32, u32, &str)> = every
            .iter()
            .map(|found| {
                (
                    found.line.expect("line"),
                    found.column.expect("column"),
                    found.message.as_str(),
                )
            })
            .collect();
        assert_eq!(found.len(), 5, "{found:#?}");
        // Each problem's line, wherever the example plan has it.
        let line_of = |needle: &str| {
            let at = text.find(needle).expect(needle);
            u32::try_from(text[..at].lines().count()).expect("lines") + 1
        };
        assert_eq!(
            (found[0].0, found[0].1),
            (line_of("project: abc"), 10),
            "project, the value: {found:#?}"
        );
        assert_eq!(
            found[0].2,
            "expected a positive integer (the LCS project id) for `project`, found the text `abc`"
        );
        assert_eq!(
            (found[1].0, found[1].1, found[1].2),
            (line_of("  colour: blue"), 3, "unknown key `colour`")
        );
        assert_eq!((found[2].0, found[2].1), (line_of("lead_time: 48 hrs"), 12));
        assert!(found[2].2.contains("is not a duration"), "{}", found[2].2);
        assert_eq!(
            (found[3].0, found[3].1),
            (line_of("      timeout: [30m]"), 16)
        );
        assert_eq!(
            found[3].2,
            "expected a duration such as 90m for `timeout`, found a list"
        );
        assert_eq!(
            (found[4].0, found[4].1, found[4].2),
            (
                line_of("    on: [submited,"),
                10,
                "unknown value `submited`"
            )
        );
        assert!(every[4].help.starts_with("did you mean `submitted`?"));
    }

    #[test]
    fn serdes_words_for_types_become_the_plans() {
        for (given, shown) in [
            ("invalid u64", "expected a positive integer"),
            ("invalid u32", "expected a positive integer"),
            (
                "expected u64, found string",
                "expected a positive integer, found string",
            ),
            ("expected string scalar", "expected text"),
            ("expected sequence start", "expected a list start"),
            ("expected a sequence", "expected a list"),
        ] {
            assert_eq!(in_plan_terms(given), shown, "{given}");
        }
    }
}
