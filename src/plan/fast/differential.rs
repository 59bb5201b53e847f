//! The fast reader against serde-saphyr: wherever the fast reader accepts a text, it must give
//! the plan (places included) serde-saphyr gives, and it must not accept a text serde-saphyr
//! refuses. Run over every plan and fixture in the repository, a generated fleet, and random
//! plan-like texts with mutations.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::read;
use crate::plan::load::options;
use crate::plan::raw::RawPlan;

/// Whether the fast reader accepted `text`; panics when it disagrees with serde-saphyr.
fn agrees(text: &str) -> bool {
    let fast = read::<RawPlan>(text);
    let parser = serde_saphyr::from_str_with_options::<RawPlan>(text, options());
    match (fast, parser) {
        (None, _) => false,
        (Some(fast), Ok(parser)) => {
            assert_eq!(
                format!("{fast:#?}"),
                format!("{parser:#?}"),
                "the two readers differ on:\n{text}"
            );
            true
        }
        (Some(fast), Err(error)) => {
            panic!(
                "the fast reader accepted what serde-saphyr refuses ({error}):\n{text}\n{fast:#?}"
            )
        }
    }
}

fn yaml_files(directory: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
        {
            found.push(path);
        }
    }
}

#[test]
fn every_plan_and_fixture_in_the_repository_reads_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in ["plans", "tests", "examples", "deploy", "templates"] {
        yaml_files(&root.join(directory), &mut files);
    }
    assert!(files.len() > 30, "{files:?}");
    let mut accepted = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("a fixture");
        if let Ok(text) = std::str::from_utf8(&bytes)
            && agrees(text)
        {
            accepted.push(file.strip_prefix(root).expect("under the root").to_owned());
        }
    }
    // Every example plan is in the subset, so the comparison above is not empty.
    for example in [
        "plans/contoso-uat-weekly.yaml",
        "plans/contoso-test-restore.yaml",
        "plans/fabrikam-1611-monthly.yaml",
        "plans/fabrikam-test-restore.yaml",
        "plans/fabrikam-uat-copy.yaml",
    ] {
        assert!(
            accepted.contains(&PathBuf::from(example)),
            "{example}: {accepted:?}"
        );
    }
}

#[test]
fn a_generated_fleet_reads_the_same_and_all_of_it_fast() {
    let directory = std::env::temp_dir().join(format!("refreshctl-fast-{}", std::process::id()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("python3")
        .arg(root.join("benches/generate_plans.py"))
        .arg(&directory)
        .arg("400")
        .status()
        .expect("python3 runs benches/generate_plans.py");
    assert!(status.success());
    let mut files = Vec::new();
    yaml_files(&directory, &mut files);
    assert_eq!(files.len(), 400);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a generated plan");
        assert!(agrees(&text), "not read fast: {}\n{text}", file.display());
    }
    std::fs::remove_dir_all(&directory).expect("clean up");
}

/// Edge cases of the subset, each compared.
#[test]
fn edge_cases_read_the_same() {
    let base = "version: 1\nname: x\nenvironment:\n  name: e\nwindow:\n  cron: c\n  duration: d\nacknowledge: [target-unavailable]\n";
    let accepted = [
        "---\nversion: 1\nname: x\nenvironment:\n  name: e\nwindow:\n  cron: c\nacknowledge:\n- target-unavailable\n".to_owned(),
        base.replace("name: x", "name: 'it''s'"),
        base.replace("name: x", r#"name: "a\tb\x41\u00e9\U0001F600\\\"\/\ \_""#),
        base.replace("name: x", "name: |\n  a\n\n  b\n"),
        base.replace("name: x", "name: |-\n  a\n   b\n"),
        base.replace("name: x", "name: |+\n  a\n\n"),
        base.replace("name: x", "name: >\n  a\n  b\n\n  c\n"),
        base.replace("name: x", "name: >-\n    a\n    b\n"),
        base.replace("name: x", "name: a b  # c"),
        base.replace("name: x", "name: é中 x"),
        base.replace("name: x", "name: a#b"),
        base.replace("name: x", "name: http://x:1/y"),
        base.replace("  name: e", "    name: e"),
        base.replace("[target-unavailable]", "[ target-unavailable , 'target-database-erased' ]"),
        base.replace("[target-unavailable]", "[]"),
        format!("{base}post_steps:\n  - reprovision\n  - command:\n      run: [\"é\", b]\n  -   manual:\n        instructions: >\n          x\n"),
        format!("{base}post_steps:\n- deploy:\n    file: a\n  # comment\n    name: b\n"),
        format!("{base}power_platform:\n  transaction_less: true\n  enable_after: false\n"),
        format!("{base}project: 12345\n"),
        format!("{base}# end\n\n"),
    ];
    for text in &accepted {
        assert!(agrees(text), "not read fast:\n{text}");
    }
    let refused = [
        format!("{base}project: 0x10\n"),
        format!("{base}project: 012\n"),
        format!("{base}power_platform:\n  transaction_less: yes\n"),
        format!("{base}description:\n"),
        format!("{base}description: ~\n"),
        base.replace("name: x", "name: |\n\n  a\n"),
        base.replace("name: x", "name: >\n  a\n   b\n"),
    ];
    for text in &refused {
        assert!(
            !agrees(text),
            "read fast, but should be left to serde-saphyr:\n{text}"
        );
    }
}

/// A scalar's text: words plans use and, when `risky`, also words YAML gives a type and
/// characters that matter to the syntax.
fn text(risky: bool) -> BoxedStrategy<String> {
    const SAFE: &[&str] = &[
        "a",
        "contoso-uat",
        " ",
        "é",
        "中",
        "\u{a0}",
        "😀",
        "-6h",
        "{{ run.id }}",
        "10.0.41",
        "2027-01-01T00:00:00+01:00",
        "0 22 * * SAT",
        "x.y/z",
        "a,b",
        "(weekly)",
    ];
    const RISKS: &[&str] = &[
        "  ", ":", ": ", "#", " #", "-", "- ", "'", "\"", "\\", "[", "]", "{", ",", "&", "*", "!",
        "|", ">", "?", "%", "~", "null", "yes", "true", "1", "0x1f", "1e3", ".inf",
    ];
    let piece = if risky {
        prop_oneof![
            3 => proptest::sample::select(SAFE),
            1 => proptest::sample::select(RISKS),
        ]
        .boxed()
    } else {
        proptest::sample::select(SAFE).boxed()
    };
    let count = if risky { 0..5 } else { 1..5 };
    proptest::collection::vec(piece, count)
        .prop_map(|pieces| pieces.concat())
        .boxed()
}

/// A scalar written in one of YAML's styles, as it follows `key:` or `- ` in a node at
/// indentation `indent` (a block scalar's lines are indented further).
fn scalar(indent: usize, risky: bool) -> impl Strategy<Value = String> {
    (
        text(risky),
        proptest::collection::vec(text(risky), 1..4),
        0..9_u8,
        1..3_usize,
        any::<bool>(),
    )
        .prop_map(move |(first, lines, style, extra, comment)| {
            let trailing = if comment { " # note" } else { "" };
            match style {
                0..=2 => {
                    if risky {
                        format!(" {first}{trailing}")
                    } else {
                        // A plain scalar cannot start with `{`, and spaces alone are a null.
                        format!(" x{first}{trailing}")
                    }
                }
                3 => format!(" '{}'{trailing}", first.replace('\'', "''")),
                4 => format!(
                    " \"{}\"{trailing}",
                    first
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('é', "\\u00e9")
                        .replace('a', "\\x61")
                        .replace(' ', "\\ ")
                ),
                5 => format!(" \"{first}\"{trailing}"),
                _ => {
                    let header = ["|", "|-", "|+", ">", ">-", ">+"][usize::from(style) % 6];
                    let pad = " ".repeat(indent + extra);
                    let mut block = format!(" {header}{trailing}");
                    for (index, line) in lines.iter().enumerate() {
                        // A first line indented further than the rest is an error, which
                        // only risky plans should have.
                        let line = if index == 0 && !risky {
                            line.trim_start()
                        } else {
                            line
                        };
                        if line.trim().is_empty() {
                            block.push('\n');
                        } else {
                            let _ = write!(block, "\n{pad}{line}");
                        }
                    }
                    block
                }
            }
        })
}

/// A list of `words` at indentation `indent`: flow, or block at the same indentation or
/// `width` further; when `risky`, also of any scalars.
fn list(
    indent: usize,
    width: usize,
    words: &'static [&'static str],
    risky: bool,
) -> impl Strategy<Value = String> {
    let word =
        (proptest::sample::select(words), 0..3_u8).prop_map(move |(word, quoting)| match quoting {
            // A plain scalar cannot start with `{`.
            0 if risky || !word.starts_with('{') => word.to_owned(),
            1 => format!("'{word}'"),
            _ => format!("\"{word}\""),
        });
    let item = if risky {
        prop_oneof![
            word.clone().prop_map(|word| format!(" {word}")),
            scalar(indent + width, risky),
        ]
        .boxed()
    } else {
        word.clone().prop_map(|word| format!(" {word}")).boxed()
    };
    (
        proptest::collection::vec(item, 0..4),
        proptest::collection::vec(word, 0..4),
        0..3_u8,
        any::<bool>(),
    )
        .prop_map(move |(items, words, form, comment)| {
            let trailing = if comment { " # note" } else { "" };
            if form == 0 || items.is_empty() {
                format!(" [{}]{trailing}", words.join(", "))
            } else {
                let pad = " ".repeat(if form == 1 { indent } else { indent + width });
                let mut list = String::new();
                for item in &items {
                    let _ = write!(list, "\n{pad}-{item}");
                }
                list
            }
        })
}

const EVENTS: &[&str] = &["submitted", "started", "failed", "succeeded"];

/// A plan-like text: the plan's keys with random scalars, styles, indentation, comments and
/// blank lines, some keys left out; half of them `risky`.
fn plan() -> impl Strategy<Value = String> {
    any::<bool>()
        .prop_flat_map(|risky| (1..5_usize).prop_flat_map(move |width| plan_of(risky, width)))
}

/// A plan-like text indented by `width`; when `risky`, with words and characters that may
/// take it out of the fast reader's subset or make it no plan at all.
#[expect(clippy::too_many_lines, reason = "one plan, key by key")]
fn plan_of(risky: bool, width: usize) -> impl Strategy<Value = String> {
    let number = if risky {
        proptest::sample::select(&[" 1", " 01", " 0x1", " +1", " \"1\"", " 1.0", " 4294967296"][..])
            .boxed()
    } else {
        Just(" 1").boxed()
    };
    let boolean = if risky {
        proptest::sample::select(&[" true", " false", " yes", " True", " \"true\""][..]).boxed()
    } else {
        proptest::sample::select(&[" true", " false"][..]).boxed()
    };
    let kind = if risky {
        proptest::sample::select(&[" sandbox", " 'production'", " sandbx", " null"][..]).boxed()
    } else {
        proptest::sample::select(&[" sandbox", " 'production'", " \"build\""][..]).boxed()
    };
    let acknowledgements: &'static [&'static str] = if risky {
        &["target-database-erased", "target-unavailable", "target"]
    } else {
        &["target-database-erased", "target-unavailable"]
    };
    // The column of a step's key after `- `, and of its options.
    let item = width + 2;
    let options = item + width;
    let scalars = (
        proptest::collection::vec(scalar(0, risky), 4),
        proptest::collection::vec(scalar(width, risky), 5),
        scalar(options, risky),
        scalar(options, risky),
        scalar(item, risky),
        scalar(width * 2, risky),
    );
    let lists = (
        list(0, width, acknowledgements, risky),
        list(item, width, EVENTS, risky),
        list(options, width, &["./x.sh", "{{ run.id }}"], risky),
    );
    (
        scalars,
        lists,
        proptest::collection::vec(any::<bool>(), 16),
        number,
        boolean,
        kind,
        proptest::sample::select(&["reprovision", "export", "reset-financial-reporting"][..]),
    )
        .prop_map(
            move |(
                (top, level, instructions, timeout, url, database),
                (acknowledge, on, run),
                flags,
                number,
                boolean,
                kind,
                step,
            )| {
                let p1 = " ".repeat(width);
                let p2 = " ".repeat(width * 2);
                let p_item = " ".repeat(item);
                let p_options = " ".repeat(options);
                let mut text = String::new();
                if flags[0] {
                    text.push_str("---\n");
                }
                if flags[1] {
                    text.push_str("# a plan\n\n");
                }
                let _ = writeln!(text, "version:{number}");
                let _ = writeln!(text, "name:{}", top[0]);
                if flags[2] {
                    let _ = writeln!(text, "description:{}", top[1]);
                }
                if flags[3] {
                    let _ = writeln!(text, "project:{number}");
                }
                let _ = writeln!(text, "environment:\n{p1}name:{}\n{p1}type:{kind}", level[0]);
                if flags[4] {
                    let _ = writeln!(text, "{p1}channel_database:{}", level[1]);
                }
                if flags[5] {
                    text.push_str("  # between\n\n   \n");
                }
                let _ = writeln!(
                    text,
                    "window:\n{p1}cron:{}\n{p1}duration:{}",
                    level[2], level[3]
                );
                if flags[6] {
                    let _ = writeln!(text, "{p1}timezone:{}", level[4]);
                }
                if flags[7] {
                    let _ = writeln!(text, "point_in_time:{}", top[2]);
                }
                let _ = writeln!(text, "acknowledge:{acknowledge}");
                if flags[8] {
                    let _ = writeln!(text, "post_steps:\n{p1}- {step}");
                    let _ = writeln!(
                        text,
                        "{p1}- manual:\n{p_options}instructions:{instructions}"
                    );
                    if flags[9] {
                        let _ = writeln!(text, "{p_options}timeout:{timeout}");
                    }
                    let _ = writeln!(text, "{p1}- command:\n{p_options}run:{run}");
                }
                if flags[10] {
                    let _ = writeln!(text, "notifications:\n{p1}- url:{url}");
                    let _ = writeln!(text, "{p_item}on:{on}");
                }
                if flags[11] {
                    let _ = writeln!(text, "power_platform:\n{p2}transaction_less:{boolean}");
                }
                if flags[12] {
                    let _ = writeln!(text, "source:\n{p2}name:{database}");
                }
                if flags[13] {
                    let _ = writeln!(text, "lead_time:{}", top[3]);
                }
                if risky && flags[14] {
                    text.push_str("colour: blue\n");
                }
                if flags[15] {
                    text.pop();
                }
                text
            },
        )
}

/// One small edit: a character deleted, doubled or inserted, or a line doubled (a repeated
/// key) or deleted.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Double(usize),
    Insert(usize, char),
    DoubleLine(usize),
    DeleteLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Double),
        (
            any::<usize>(),
            proptest::sample::select(
                &[
                    ' ', '\t', '\n', ':', '-', '#', '"', '\'', '[', ']', '|', '>', '&', '\r',
                    '\u{feff}', 'x'
                ][..]
            )
        )
            .prop_map(|(at, character)| Mutation::Insert(at, character)),
        any::<usize>().prop_map(Mutation::DoubleLine),
        any::<usize>().prop_map(Mutation::DeleteLine),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let characters: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = |index: usize, length: usize| if length == 0 { 0 } else { index % length };
    match *mutation {
        Mutation::Delete(index) => {
            let mut characters = characters;
            if !characters.is_empty() {
                characters.remove(at(index, characters.len()));
            }
            characters.into_iter().collect()
        }
        Mutation::Double(index) => {
            let mut characters = characters;
            if !characters.is_empty() {
                let index = at(index, characters.len());
                characters.insert(index, characters[index]);
            }
            characters.into_iter().collect()
        }
        Mutation::Insert(index, character) => {
            let mut characters = characters;
            characters.insert(at(index, characters.len() + 1), character);
            characters.into_iter().collect()
        }
        Mutation::DoubleLine(index) => {
            if !lines.is_empty() {
                let index = at(index, lines.len());
                lines.insert(index, lines[index]);
            }
            lines.concat()
        }
        Mutation::DeleteLine(index) => {
            if !lines.is_empty() {
                lines.remove(at(index, lines.len()));
            }
            lines.concat()
        }
    }
}

/// Random plans without mutations: compared, and enough of them read fast that the
/// comparison means something.
#[test]
fn random_plans_read_the_same() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = plan();
    let total = 1500;
    let mut accepted = 0;
    for _ in 0..total {
        let text = strategy.new_tree(&mut runner).expect("a plan").current();
        if agrees(&text) {
            accepted += 1;
        }
    }
    eprintln!("read fast: {accepted} of {total}");
    assert!(accepted * 3 > total, "read fast: {accepted} of {total}");
}

/// Mutated example plans: compared, and some of them still read fast (a mutation inside a
/// value or a comment leaves a plan in the subset).
#[test]
fn mutated_examples_are_often_still_read_fast() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (0..3_usize, proptest::collection::vec(mutation(), 1..3));
    let total = 1000;
    let mut accepted = 0;
    for _ in 0..total {
        let (index, mutations) = strategy.new_tree(&mut runner).expect("mutations").current();
        let text = mutations
            .iter()
            .fold(EXAMPLES[index].to_owned(), |text, mutation| {
                mutate(&text, mutation)
            });
        if agrees(&text) {
            accepted += 1;
        }
    }
    eprintln!("read fast: {accepted} of {total}");
    assert!(accepted * 10 > total, "read fast: {accepted} of {total}");
}

const EXAMPLES: [&str; 3] = [
    include_str!("../../../plans/contoso-uat-weekly.yaml"),
    include_str!("../../../plans/fabrikam-1611-monthly.yaml"),
    include_str!("../../../plans/fabrikam-uat-copy.yaml"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_plans_read_the_same(
        text in plan(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let text = mutations.iter().fold(text, |text, mutation| mutate(&text, mutation));
        agrees(&text);
    }

    #[test]
    fn mutated_examples_read_the_same(
        index in 0..3_usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let text = mutations
            .iter()
            .fold(EXAMPLES[index].to_owned(), |text, mutation| mutate(&text, mutation));
        agrees(&text);
    }

    /// Any text at all, and text made of YAML's syntax characters: no panic, and no
    /// disagreement.
    #[test]
    fn any_text_reads_the_same_without_a_panic(
        text in prop_oneof![
            any::<String>().boxed(),
            r#"[a-z0-9_:#&*!|>'"\\\[\]{},?%@`~. \t\r\n-]{0,80}"#.boxed(),
            r#"(([ ]{0,3}(- )?[a-z]{1,3}:( [a-z0-9'"|>\[\],-]{0,6})?)?( #)?\n){0,8}"#.boxed(),
        ]
    ) {
        agrees(&text);
    }
}

/// The escapes `\L` and `\P` are two bytes that read as three, so a plan under the size limit
/// can have more scalar bytes than serde-saphyr's budget allows: the parser refuses it, and
/// the fast reader must leave it to the parser.
#[test]
fn scalars_over_the_parsers_budget_are_left_to_it() {
    let plan = |hotfixes: usize| {
        let hotfix = format!("  - \"{}\"\n", "\\L".repeat(2000));
        format!(
            "version: 1\nname: x\nenvironment:\n  name: e\n  hotfixes:\n{}window:\n  cron: c\n  \
             duration: d\nacknowledge: [target-unavailable]\n",
            hotfix.repeat(hotfixes)
        )
    };
    // 4,007 bytes of text and 6,002 of scalar per hotfix.
    let over = plan(250);
    assert!(over.len() < crate::plan::load::MAX_PLAN_BYTES);
    assert!(serde_saphyr::from_str_with_options::<RawPlan>(&over, options()).is_err());
    assert!(!agrees(&over), "read fast, but over the parser's budget");
    assert!(agrees(&plan(150)), "within the budget, and read fast");
}
