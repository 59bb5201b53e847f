//! `refreshctl init` through the real binary: the starter plan it writes passes `validate` and
//! rehearses on the simulator; it never overwrites a file by accident.

mod common;

use common::refreshctl_in;

const FLAGS: [&str; 9] = [
    "init",
    "--name",
    "uat-weekly",
    "--project",
    "1234567",
    "--environment",
    "contoso-uat",
    "--source",
    "contoso-prod",
];

#[test]
fn the_starter_plan_validates_without_warnings_and_rehearses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = refreshctl_in(dir.path(), &FLAGS);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stdout.starts_with("wrote plans/uat-weekly.yaml"),
        "{}",
        output.stdout
    );
    let text = std::fs::read_to_string(dir.path().join("plans/uat-weekly.yaml")).expect("written");
    assert!(text.contains("name: \"contoso-prod\""), "{text}");
    assert!(
        text.contains("\nservice: lcs "),
        "a copy names its service: {text}"
    );
    let output = refreshctl_in(dir.path(), &["validate", "--deny-warnings"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    let state = dir.path().join("state.db");
    let state = format!("sqlite:{}", state.display());
    let output = refreshctl_in(
        dir.path(),
        &["--state", &state, "apply", "--yes", "plans/uat-weekly.yaml"],
    );
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
}

#[test]
fn a_restore_plan_to_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = FLAGS[..7].to_vec();
    args.extend([
        "--restore",
        "--output",
        "-",
        "--timezone",
        "Europe/Amsterdam",
    ]);
    let output = refreshctl_in(dir.path(), &args);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stdout.contains("point_in_time: -6h"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("\nsource:"), "{}", output.stdout);
    assert!(
        output.stdout.contains("\n# service: power-platform ")
            && !output.stdout.contains("\nservice:"),
        "LCS has no point-in-time restore: {}",
        output.stdout
    );
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "nothing written beside stdout"
    );
}

#[test]
fn an_existing_file_is_kept_unless_forced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mine.yaml");
    std::fs::write(&path, "keep me\n").expect("write");
    let mut args = FLAGS.to_vec();
    args.extend(["--output", "mine.yaml"]);
    let output = refreshctl_in(dir.path(), &args);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("already exists"),
        "{}",
        output.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "keep me\n");
    args.push("--force");
    let output = refreshctl_in(dir.path(), &args);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .starts_with("# yaml-language-server")
    );
}

#[test]
fn bad_or_missing_values_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = refreshctl_in(dir.path(), &FLAGS[..5]);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains("`--environment` is required"),
        "{}",
        output.stderr
    );
    let mut args = FLAGS.to_vec();
    args.extend(["--cron", "every saturday"]);
    let output = refreshctl_in(dir.path(), &args);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains("nothing was written"),
        "{}",
        output.stderr
    );
    let mut args = FLAGS.to_vec();
    args[4] = "12ab";
    let output = refreshctl_in(dir.path(), &args);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains("positive integer"),
        "{}",
        output.stderr
    );
    assert!(!dir.path().join("plans").exists());
}
