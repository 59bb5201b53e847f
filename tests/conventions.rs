//! Shell conventions of issue 15, item 6: `validate -` reads a plan from standard input, and
//! `--state`'s help names every form the state store accepts.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::NOW;

fn validate_stdin(dir: &Path, input: &[u8], args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("refreshctl")
        .expect("binary")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["validate", "--now", NOW])
        .args(args)
        .write_stdin(input.to_vec())
        .timeout(std::time::Duration::from_mins(1))
        .output()
        .expect("runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_dash_reads_a_plan_from_stdin_named_stdin() {
    let three =
        std::fs::read(root().join("tests/fixtures/shape/three-problems.yaml")).expect("fixture");
    let (code, stdout, stderr) = validate_stdin(root(), &three, &["--format", "json", "-"]);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["summary"]["files"], 1);
    let places: Vec<(String, u64, u64)> = json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|found| {
            (
                found["file"].as_str().expect("file").to_owned(),
                found["line"].as_u64().expect("line"),
                found["column"].as_u64().expect("column"),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            ("<stdin>".to_owned(), 3, 10),
            ("<stdin>".to_owned(), 7, 3),
            ("<stdin>".to_owned(), 10, 13)
        ]
    );
    // Human output shows the excerpt from the text read.
    let (code, stdout, _) = validate_stdin(root(), &three, &["-"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("<stdin>:3:10"), "{stdout}");
    assert!(stdout.contains("project: abc"), "{stdout}");
}

#[test]
fn validate_dash_goes_with_files_and_a_clean_plan_passes() {
    let clean = std::fs::read(root().join("tests/fixtures/rules/clean.yaml")).expect("fixture");
    let (code, stdout, stderr) = validate_stdin(
        root(),
        &clean,
        &[
            "--format",
            "json",
            "-",
            "tests/fixtures/shape/three-problems.yaml",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["summary"]["files"], 2);
    assert_eq!(
        json["summary"]["plans"], 1,
        "the plan from stdin has a name"
    );
    let files: Vec<&str> = json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|found| found["file"].as_str().expect("file"))
        .collect();
    assert!(
        files
            .iter()
            .all(|file| *file == "tests/fixtures/shape/three-problems.yaml"),
        "{files:?}"
    );
}

#[test]
fn relative_paths_of_a_plan_on_stdin_start_at_the_current_directory() {
    let weekly = std::fs::read(root().join("plans/contoso-uat-weekly.yaml")).expect("plan");
    // From plans/, its template, script and package paths resolve as they do for the file.
    let (code, stdout, stderr) =
        validate_stdin(&root().join("plans"), &weekly, &["--deny-warnings", "-"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // From the repository root, they do not: the template is not found there.
    let (code, stdout, _) = validate_stdin(root(), &weekly, &["--format", "json", "-"]);
    assert_eq!(code, 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert!(
        json["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .any(|found| found["file"] == "<stdin>"
                && found["message"]
                    .as_str()
                    .is_some_and(|text| text.contains("templates/teams.json.tera"))),
        "{json:#}"
    );
}

#[test]
fn an_empty_or_oversized_stdin_is_a_located_syntax_diagnostic() {
    let (code, stdout, _) = validate_stdin(root(), b"", &["--format", "json", "-"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["diagnostics"][0]["rule"], "syntax");
    assert_eq!(json["diagnostics"][0]["message"], "the file is empty");
    let huge = vec![b'#'; 2 * 1024 * 1024];
    let (code, stdout, _) = validate_stdin(root(), &huge, &["--format", "json", "-"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["diagnostics"][0]["rule"], "syntax");
    assert!(
        json["diagnostics"][0]["message"]
            .as_str()
            .is_some_and(|text| text.contains("larger than the 1 MiB")),
        "{json:#}"
    );
}

/// Each form the help names is one the state store takes (not refused as a usage error, exit
/// 2), and the forms `state::url` refuses are refused.
#[test]
fn state_help_names_every_accepted_form_and_each_is_accepted() {
    let help = common::refreshctl(&["--help"]).stdout;
    let state = &help[help.find("--state <URL>").expect("--state")..];
    let state = &state[..state.find("--log-format").expect("next flag")];
    for form in [
        "sqlite:PATH",
        "sqlite://PATH",
        "`/`",
        "`\\`",
        "`.db`",
        "`.sqlite`",
        "`.sqlite3`",
        "postgres://",
        "postgresql://",
        "key/value",
        "sslmode=",
        "sslrootcert=",
        "schema=",
        "REFRESHCTL_STATE",
        "refused",
    ] {
        assert!(
            state.contains(form),
            "`{form}` is not in the help of --state:\n{state}"
        );
    }
    let directory = tempfile::tempdir().expect("temp");
    let at = |name: &str| directory.path().join(name).display().to_string();
    let accepted = [
        format!("sqlite:{}", at("a")),
        format!("sqlite://{}", at("b")),
        at("c"),
        "runs.sqlite".to_owned(),
        "runs.sqlite3".to_owned(),
        "runs.db".to_owned(),
        "postgres://refreshctl@127.0.0.1:1/refreshctl?sslmode=disable".to_owned(),
        "postgresql://refreshctl@127.0.0.1:1/refreshctl".to_owned(),
        "host=127.0.0.1 port=1 user=refreshctl dbname=refreshctl sslmode=disable".to_owned(),
    ];
    for form in &accepted {
        let output = common::refreshctl_in(directory.path(), &["--state", form, "runs"]);
        assert_ne!(output.code, 2, "`{form}` refused: {}", output.stderr);
    }
    for refused in ["state", "mysql://db/x", "file:state"] {
        let output = common::refreshctl_in(directory.path(), &["--state", refused, "runs"]);
        assert_eq!(output.code, 2, "`{refused}`: {}", output.stderr);
        assert!(output.stderr.contains("sqlite:PATH"), "{}", output.stderr);
    }
}
