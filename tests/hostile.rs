//! Hostile input: every case ends in a diagnostic or a clear error, never a panic or a hang.
//! (`assert_cmd` kills a run after 60 s, so a hang fails the test.)

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{NOW, refreshctl_in};
use proptest::prelude::*;
use refreshctl::rules::{Catalog, CheckSettings, Rule, check_file};

fn validate_file(name: &str, bytes: &[u8]) -> (i32, serde_json::Value, String) {
    let directory = tempfile::tempdir().expect("temp");
    std::fs::write(directory.path().join(name), bytes).expect("write");
    let output = refreshctl_in(
        directory.path(),
        &["validate", "--format", "json", "--now", NOW, name],
    );
    assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    let json = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|_| panic!("no JSON for {name}: {}", output.stderr));
    (output.code, json, output.stderr)
}

fn only_diagnostic(json: &serde_json::Value) -> (&str, &str) {
    let diagnostics = json["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1, "{json}");
    (
        diagnostics[0]["rule"].as_str().expect("rule"),
        diagnostics[0]["message"].as_str().expect("message"),
    )
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut bomb = String::from("version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 0..12 {
        let previous = if level == 0 {
            "a".to_owned()
        } else {
            format!("b{}", level - 1)
        };
        let items = vec![format!("*{previous}"); 10].join(", ");
        let _ = writeln!(bomb, "b{level}: &b{level} [{items}]");
    }
    let (code, json, _) = validate_file("bomb.yaml", bomb.as_bytes());
    assert_eq!(code, 1);
    let (rule, message) = only_diagnostic(&json);
    assert_eq!(rule, "syntax", "{message}");
}

#[test]
fn ten_thousand_levels_of_nesting() {
    let flow = "[".repeat(10_000) + &"]".repeat(10_000);
    let (code, json, _) = validate_file("flow.yaml", format!("version: {flow}\n").as_bytes());
    assert_eq!((code, only_diagnostic(&json).0), (1, "syntax"));

    let mut block = String::new();
    for depth in 0..10_000 {
        block.push_str(&" ".repeat(depth));
        block.push_str("a:\n");
    }
    let (code, json, _) = validate_file("block.yaml", block.as_bytes());
    assert_eq!((code, only_diagnostic(&json).0), (1, "syntax"));
}

#[test]
fn five_mebibyte_file() {
    let big = format!(
        "version: 1\ndescription: \"{}\"\n",
        "x".repeat(5 * 1024 * 1024)
    );
    let (code, json, _) = validate_file("big.yaml", big.as_bytes());
    assert_eq!(code, 1);
    let (rule, message) = only_diagnostic(&json);
    assert_eq!(rule, "syntax");
    assert!(message.contains("larger than the 1 MiB"), "{message}");
}

#[test]
fn invalid_utf8_empty_and_binary_files() {
    let (code, json, _) = validate_file("latin1.yaml", b"version: 1\nname: caf\xe9\n");
    assert_eq!(code, 1);
    let (rule, message) = only_diagnostic(&json);
    assert_eq!(rule, "syntax");
    assert!(message.contains("not valid UTF-8"), "{message}");
    assert_eq!(json["diagnostics"][0]["line"], 2);

    let (code, json, _) = validate_file("empty.yaml", b"");
    assert_eq!(
        (code, only_diagnostic(&json)),
        (1, ("syntax", "the file is empty"))
    );

    let binary: Vec<u8> = (0..4096u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (code, json, _) = validate_file("blob.yaml", &binary);
    assert_eq!(code, 1);
    let (rule, message) = only_diagnostic(&json);
    assert_eq!(rule, "syntax");
    assert!(message.contains("binary"), "{message}");
}

#[test]
fn a_directory_of_a_thousand_plans() {
    let directory = tempfile::tempdir().expect("temp");
    let plans = directory.path().join("plans");
    for team in 0..10 {
        let folder = plans.join(format!("team-{team}"));
        std::fs::create_dir_all(&folder).expect("mkdir");
        for number in 0..100 {
            let text = format!(
                "version: 1\nname: plan-{team}-{number}\nproject: {}\nenvironment: {{name: env-{number}, type: sandbox}}\nsource: {{name: prod-{number}, type: production}}\nwindow: {{cron: \"0 22 * * SAT\", duration: 3h}}\nlead_time: 48h\nacknowledge: [target-database-erased, target-unavailable]\npost_steps: [reprovision, reset-financial-reporting]\n",
                1000 + team
            );
            std::fs::write(folder.join(format!("plan-{number:03}.yaml")), text).expect("write");
        }
    }
    let output = refreshctl_in(
        directory.path(),
        &[
            "validate",
            "--format",
            "json",
            "--deny-warnings",
            "--now",
            NOW,
            "plans",
        ],
    );
    assert_eq!(output.code, 0, "{}", output.stdout);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert_eq!(json["summary"]["files"], 1000);
    assert_eq!(json["summary"]["plans"], 1000);
}

#[test]
fn an_unreadable_path_is_an_input_error() {
    let directory = tempfile::tempdir().expect("temp");
    let output = refreshctl_in(directory.path(), &["validate", "missing.yaml"]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("`missing.yaml` does not exist"));
}

const VALID: &str = include_str!("fixtures/rules/clean.yaml");

fn settings() -> CheckSettings {
    CheckSettings {
        now: chrono::DateTime::parse_from_rfc3339(NOW)
            .expect("now")
            .to_utc(),
        catalog: Catalog::embedded(),
        adapter: Some(refreshctl::adapter::AdapterKind::Lcs),
    }
}

/// One edit of a byte string: insert, delete or replace a byte at a position.
fn mutate(bytes: &mut Vec<u8>, edits: &[(usize, u8, u8)]) {
    for &(position, kind, byte) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let position = position % bytes.len();
        match kind % 3 {
            0 => bytes.insert(position, byte),
            1 => {
                bytes.remove(position);
            }
            _ => bytes[position] = byte,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes at all: the loader answers with diagnostics or a plan, and never panics.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let checked = check_file("random.yaml", Path::new("random.yaml"), &bytes, &settings());
        prop_assert!(checked.plan.is_some() || !checked.diagnostics.is_empty());
    }

    /// A valid plan with random edits, biased to YAML's structural bytes.
    #[test]
    fn mutated_plans_never_panic(
        edits in proptest::collection::vec(
            (any::<usize>(), any::<u8>(), prop_oneof![
                Just(b':'), Just(b'-'), Just(b' '), Just(b'\n'), Just(b'['), Just(b'{'),
                Just(b'&'), Just(b'*'), Just(b'"'), Just(b'#'), any::<u8>()
            ]),
            1..12,
        )
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        mutate(&mut bytes, &edits);
        let checked = check_file("mutated.yaml", Path::new("mutated.yaml"), &bytes, &settings());
        let has_error = checked.diagnostics.iter().any(|d| d.severity == refreshctl::rules::Severity::Error);
        // A plan that did not resolve always says why.
        prop_assert!(checked.plan.is_some() || has_error);
        for diagnostic in &checked.diagnostics {
            prop_assert!(Rule::ALL.contains(&diagnostic.rule));
            prop_assert!(!diagnostic.message.is_empty());
        }
    }
}
