//! Bad input through the real binary: out-of-range times in every command that reads a plan,
//! files that are not regular files or are huge, templates that would never finish rendering,
//! and one bad file among good ones.

mod common;

use std::path::{Path, PathBuf};

use common::{NOW, Output, refreshctl_in};
use serde_json::Value;

const CLEAN: &str = include_str!("fixtures/rules/clean.yaml");

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let output = refreshctl_in(dir, args);
    assert_ne!(output.code, 101, "panicked: {args:?}\n{}", output.stderr);
    assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}\n{}", output.stdout, output.stderr))
}

/// The four cases of the issue, a window that ends after 9999 and one submitted before 1970,
/// with where the diagnostic must point.
fn out_of_range_plans() -> Vec<(&'static str, String, (u64, u64))> {
    vec![
        (
            "fixed-huge-duration",
            CLEAN.replace("duration: 3h", "duration: 1000000000d"),
            (14, 13),
        ),
        (
            "recurring-huge-duration",
            CLEAN.replace(
                "  start: 2026-12-05T22:00:00+01:00\n  duration: 3h",
                "  cron: \"0 22 * * SAT\"\n  duration: 99999999y",
            ),
            (14, 13),
        ),
        (
            "huge-lead-time",
            format!("{CLEAN}lead_time: 300000y\n"),
            (21, 12),
        ),
        (
            "huge-point-in-time",
            format!("{CLEAN}point_in_time: -1000000000d\n"),
            (21, 16),
        ),
        (
            "ends-after-9999",
            CLEAN.replace("2026-12-05T22:00:00+01:00", "9999-12-31T22:00:00Z"),
            (14, 13),
        ),
        (
            "submitted-before-1970",
            CLEAN.replace("2026-12-05T22:00:00+01:00", "1970-01-01T10:00:00Z"),
            (13, 10),
        ),
    ]
}

#[test]
fn out_of_range_times_are_located_schema_errors_in_every_command() {
    for (name, text, (line, column)) in out_of_range_plans() {
        let directory = tempfile::tempdir().expect("temp dir");
        let dir = directory.path();
        std::fs::create_dir(dir.join("plans")).expect("plans");
        std::fs::write(dir.join("plans/plan.yaml"), &text).expect("plan");

        let validate = run(
            dir,
            &[
                "validate",
                "--format",
                "json",
                "--now",
                NOW,
                "plans/plan.yaml",
            ],
        );
        assert_eq!(validate.code, 1, "{name}: {}", validate.stdout);
        let schema: Vec<Value> = json(&validate)["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter(|d| d["rule"] == "schema")
            .cloned()
            .collect();
        assert_eq!(schema.len(), 1, "{name}: {schema:?}");
        assert_eq!(
            (schema[0]["line"].as_u64(), schema[0]["column"].as_u64()),
            (Some(line), Some(column)),
            "{name}"
        );
        assert!(
            schema[0]["message"]
                .as_str()
                .is_some_and(|message| message.contains("out of range")),
            "{name}: {schema:?}"
        );

        let plan = run(
            dir,
            &["plan", "--format", "json", "--now", NOW, "plans/plan.yaml"],
        );
        assert_eq!(plan.code, 1, "{name}: {}", plan.stdout);
        assert!(
            json(&plan)["diagnostics"]
                .as_array()
                .is_some_and(|list| list
                    .iter()
                    .any(|d| d["rule"] == "schema" && d["line"].as_u64() == Some(line))),
            "{name}: {}",
            plan.stdout
        );

        let apply = run(
            dir,
            &[
                "--state",
                "apply.db",
                "apply",
                "--yes",
                "--now",
                NOW,
                "plans/plan.yaml",
            ],
        );
        assert_eq!(apply.code, 1, "{name}: {}", apply.stderr);
        assert!(
            apply.stderr.contains("out of range") && apply.stderr.contains("nothing was run"),
            "{name}: {}",
            apply.stderr
        );

        let tick = run(
            dir,
            &[
                "--state", "tick.db", "tick", "--yes", "--plans", "plans", "--now", NOW,
            ],
        );
        assert_eq!(tick.code, 1, "{name}: {}", tick.stderr);
        assert!(
            tick.stderr
                .contains("`plans/plan.yaml` is not scheduled: 1 error(s)"),
            "{name}: {}",
            tick.stderr
        );
        // Nothing unreadable was stored: the store still lists its runs.
        let runs = run(dir, &["--state", "tick.db", "runs", "--format", "json"]);
        assert_eq!(runs.code, 0, "{name}: {}", runs.stderr);
        assert_eq!(json(&runs), serde_json::json!([]), "{name}");
    }
}

#[test]
fn files_that_are_not_regular_or_too_large_are_refused_without_reading_them() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    mkfifo(&dir.join("fifo.yaml"));
    std::fs::File::create(dir.join("huge.yaml"))
        .and_then(|file| file.set_len(300 * 1024 * 1024))
        .expect("a sparse 300 MB file");
    std::fs::write(dir.join("plan.yaml"), CLEAN).expect("plan");

    for (path, message) in [
        (
            "/dev/zero",
            "the file is a character device, not a regular file",
        ),
        (
            "fifo.yaml",
            "the file is a FIFO (named pipe), not a regular file",
        ),
        (
            "huge.yaml",
            "the file is larger than the 1 MiB a plan may be",
        ),
    ] {
        let validate = run(dir, &["validate", "--format", "json", "--now", NOW, path]);
        assert_eq!(validate.code, 1, "{path}: {}", validate.stderr);
        let report = json(&validate);
        assert_eq!(report["diagnostics"][0]["rule"], "syntax", "{path}");
        assert_eq!(report["diagnostics"][0]["file"], path);
        assert_eq!(report["diagnostics"][0]["message"], message, "{path}");
        // The human format reads the file again for excerpts: that too must not block.
        let human = run(dir, &["validate", "--now", NOW, path]);
        assert_eq!(human.code, 1, "{path}: {}", human.stderr);
        assert!(human.stdout.contains(message), "{path}: {}", human.stdout);
    }

    // A plan named alone to `plan` or `apply` that is not a regular file is an input error.
    for args in [
        vec!["plan", "--now", NOW, "fifo.yaml"],
        vec![
            "--state",
            "s.db",
            "apply",
            "--yes",
            "--now",
            NOW,
            "/dev/zero",
        ],
    ] {
        let output = run(dir, &args);
        assert_eq!(output.code, 2, "{args:?}: {}", output.stderr);
        assert!(
            output.stderr.contains("not a regular file"),
            "{}",
            output.stderr
        );
    }

    // Every other file a user names: the catalog, the simulator's inventory, a preview template.
    for special in ["/dev/zero", "fifo.yaml"] {
        let what = if special == "/dev/zero" {
            "a character device"
        } else {
            "a FIFO (named pipe)"
        };
        let expected = format!("error: `{special}` is {what}, not a regular file");
        for args in [
            vec!["validate", "--catalog", special, "--now", NOW, "plan.yaml"],
            vec!["plan", "--template", special, "--now", NOW, "plan.yaml"],
            vec![
                "--state",
                "s.db",
                "apply",
                "--yes",
                "--sim-inventory",
                special,
                "--now",
                NOW,
                "plan.yaml",
            ],
        ] {
            let output = run(dir, &args);
            assert_eq!(output.code, 2, "{args:?}: {}", output.stderr);
            assert!(
                output.stderr.contains(&expected),
                "{args:?}: {}",
                output.stderr
            );
        }
    }
    std::fs::File::create(dir.join("huge.tera"))
        .and_then(|file| file.set_len(300 * 1024 * 1024))
        .expect("a sparse template");
    let output = run(
        dir,
        &["plan", "--template", "huge.tera", "--now", NOW, "plan.yaml"],
    );
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("`huge.tera` is larger than the 256 KiB a template may be"),
        "{}",
        output.stderr
    );
}

/// A plan whose notification uses `template`, with the template file beside it.
fn plan_with_template(dir: &Path, template: &str) -> PathBuf {
    let plan = dir.join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "{CLEAN}notifications:\n  - url: https://hooks.example.com/refresh\n    template: {template}\n"
        ),
    )
    .expect("plan");
    plan
}

#[test]
fn notification_templates_are_bounded_files_and_bounded_renderings() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    mkfifo(&dir.join("pipe.tera"));
    let looping =
        "{% for i in range(end=100000) %}{% for j in range(end=100000) %}x{% endfor %}{% endfor %}";
    std::fs::write(dir.join("loop.tera"), looping).expect("template");
    std::fs::write(
        dir.join("growing.tera"),
        format!(
            "{{{{ \"aaaaaaaaaa\"{} }}}}",
            " | replace(from=\"a\", to=\"aaaaaaaaaa\")".repeat(12)
        ),
    )
    .expect("template");
    for (template, message) in [
        (
            "/dev/zero",
            "cannot read template `/dev/zero`: the file is a character device, not a regular file",
        ),
        (
            "pipe.tera",
            "cannot read template `pipe.tera`: the file is a FIFO (named pipe), not a regular file",
        ),
        (
            "loop.tera",
            "template `loop.tera` does not compile: `{% for %}` cannot be used in a plan's templates",
        ),
        (
            "growing.tera",
            "template `growing.tera` does not compile: `replace` would make a value larger than 256 KiB",
        ),
    ] {
        plan_with_template(dir, template);
        let started = std::time::Instant::now();
        let output = run(
            dir,
            &["validate", "--format", "json", "--now", NOW, "plan.yaml"],
        );
        assert_eq!(output.code, 1, "{template}: {}", output.stderr);
        let report = json(&output);
        let found = &report["diagnostics"][0];
        assert_eq!(found["rule"], "schema", "{template}: {report}");
        assert_eq!(
            (found["line"].as_u64(), found["column"].as_u64()),
            (Some(23), Some(15)),
            "{template}"
        );
        assert!(
            found["message"]
                .as_str()
                .is_some_and(|text| text.starts_with(message)),
            "{template}: {found}"
        );
        // A hang would be caught by the one-minute timeout of every run; this is generous.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    // A command argument that would loop is refused at its place too.
    std::fs::write(
        dir.join("plan.yaml"),
        format!("{CLEAN}  - command: {{run: [\"echo\", \"{looping}\"]}}\n"),
    )
    .expect("plan");
    let output = run(
        dir,
        &["validate", "--format", "json", "--now", NOW, "plan.yaml"],
    );
    assert_eq!(output.code, 1);
    let found = &json(&output)["diagnostics"][0];
    assert_eq!(
        (found["rule"].as_str(), found["line"].as_u64()),
        (Some("schema"), Some(21))
    );
    // A preview template that loops without end is cut off with a clear error.
    std::fs::write(dir.join("plan.yaml"), CLEAN).expect("plan");
    let output = run(
        dir,
        &["plan", "--template", "loop.tera", "--now", NOW, "plan.yaml"],
    );
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(
        output.stderr.contains(
            "`range` would give 100000 elements; this template may use at most 0 more in all"
        ),
        "{}",
        output.stderr
    );
}

/// A directory with one good plan and every kind of bad file that fails even for root (mode 000
/// does not stop root from reading, so it is not among them).
fn mixed_directory(dir: &Path) -> Vec<(&'static str, &'static str)> {
    let plans = dir.join("plans");
    std::fs::create_dir(&plans).expect("plans");
    std::fs::write(
        plans.join("a-good.yaml"),
        CLEAN.replace("duration: 3h", "duration: 3h\nlead_time: 48h"),
    )
    .expect("good plan");
    std::os::unix::fs::symlink(plans.join("gone.yaml"), plans.join("b-dangling.yaml"))
        .expect("dangling link");
    std::os::unix::fs::symlink(plans.join("c-loop.yaml"), plans.join("c-loop.yaml"))
        .expect("link loop");
    mkfifo(&plans.join("d-fifo.yaml"));
    vec![
        (
            "plans/b-dangling.yaml",
            "the file is a dangling symbolic link (its target does not exist)",
        ),
        ("plans/c-loop.yaml", "the file is a symbolic link loop"),
        (
            "plans/d-fifo.yaml",
            "the file is a FIFO (named pipe), not a regular file",
        ),
    ]
}

#[test]
fn one_bad_file_does_not_stop_validate_from_reporting_the_rest() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    let bad = mixed_directory(dir);
    let output = run(
        dir,
        &["validate", "--format", "json", "--now", NOW, "plans"],
    );
    assert_eq!(output.code, 1, "{}", output.stderr);
    let report = json(&output);
    assert_eq!(report["summary"]["files"], 4, "{report}");
    assert_eq!(report["summary"]["plans"], 1, "{report}");
    let syntax: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["rule"] == "syntax")
        .map(|d| {
            (
                d["file"].as_str().unwrap_or_default().to_owned(),
                d["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = bad
        .iter()
        .map(|(file, message)| ((*file).to_owned(), (*message).to_owned()))
        .collect();
    assert_eq!(syntax, expected);
    // The good plan was checked as usual (its only findings are about itself, not errors).
    assert!(
        report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .all(|d| d["file"] != "plans/a-good.yaml" || d["severity"] == "warning"),
        "{report}"
    );
    // Every machine format is complete.
    let sarif = run(
        dir,
        &["validate", "--format", "sarif", "--now", NOW, "plans"],
    );
    assert_eq!(sarif.code, 1);
    let sarif = json(&sarif);
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(3)
    );
    for format in ["junit", "github", "azure", "human"] {
        let output = run(
            dir,
            &["validate", "--format", format, "--now", NOW, "plans"],
        );
        assert_eq!(output.code, 1, "{format}");
        for (file, _) in &bad {
            assert!(output.stdout.contains(file), "{format}: {}", output.stdout);
        }
    }
}

#[test]
fn one_bad_file_does_not_stop_tick_from_scheduling_the_rest() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    let bad = mixed_directory(dir);
    // The good plan's window starts 2026-12-05T21:00Z; 48h before is its submit time.
    let output = run(
        dir,
        &[
            "--state",
            "state.db",
            "tick",
            "--yes",
            "--format",
            "json",
            "--plans",
            "plans",
            "--now",
            "2026-12-03T21:01:00Z",
        ],
    );
    assert_eq!(output.code, 1, "{}\n{}", output.stdout, output.stderr);
    let pass: Value =
        serde_json::from_str(output.stdout.lines().next().expect("a pass")).expect("a JSON line");
    assert_eq!(
        pass["submitted"],
        serde_json::json!(["uat-refresh@20261205T2100Z"]),
        "{pass}"
    );
    for (file, message) in bad {
        assert!(
            output
                .stderr
                .contains(&format!("`{file}` is not scheduled: {message}")),
            "{file}: {}",
            output.stderr
        );
    }
}

/// A running daemon keeps running when a plan with out-of-range times, and a dangling link, are
/// added to its directory: the reload names them and schedules the good plan added with them.
#[test]
fn a_running_daemon_survives_bad_plans_added_to_its_directory() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let directory = tempfile::tempdir().expect("temp dir");
    let plans = directory.path().join("plans");
    std::fs::create_dir(&plans).expect("dir");
    let state = directory.path().join("state.db");
    // A fixed window 30 hours from now with a 48-hour lead: due for submission at once.
    let plan = |name: &str| {
        let start =
            (chrono::Utc::now() + chrono::TimeDelta::hours(30)).format("%Y-%m-%dT%H:00:00Z");
        format!(
            "version: 1\nname: {name}\nproject: 1234567\nenvironment:\n  name: {name}-env\n  type: sandbox\n  release: \"10.0.41\"\nsource:\n  name: contoso-prod\n  type: production\n  release: \"10.0.41\"\nwindow:\n  start: {start}\n  duration: 4h\nlead_time: 48h\nacknowledge:\n  - target-database-erased\n  - target-unavailable\n"
        )
    };
    std::fs::write(plans.join("first.yaml"), plan("daemon-first")).expect("write");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_refreshctl"))
        .args([
            "--state",
            state.to_str().expect("utf-8"),
            "daemon",
            "--plans",
        ])
        .arg(&plans)
        .args(["--recheck", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daemon");
    let mut lines = BufReader::new(daemon.stdout.take().expect("stdout")).lines();
    let mut next_line = || lines.next().expect("a line").expect("text");
    assert!(next_line().contains("submitted daemon-first@"));
    assert!(next_line().contains(": accepted, next at"));
    for (file, text) in [
        (
            "huge-duration.yaml",
            plan("huge-duration").replace("duration: 4h", "duration: 1000000000d"),
        ),
        (
            "huge-lead.yaml",
            plan("huge-lead").replace("lead_time: 48h", "lead_time: 300000y"),
        ),
        ("second.yaml", plan("daemon-second")),
    ] {
        std::fs::write(plans.join(file), text).expect("write");
    }
    std::os::unix::fs::symlink(plans.join("gone.yaml"), plans.join("dangling.yaml"))
        .expect("dangling link");
    let pid = daemon.id().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    signal("HUP");
    assert!(next_line().contains("submitted daemon-second@"));
    signal("TERM");
    let status = daemon.wait().expect("exit");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(status.success(), "a clean stop: {status:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for file in ["huge-duration.yaml", "huge-lead.yaml", "dangling.yaml"] {
        assert!(
            stderr.contains(&format!("{file}` is not scheduled")),
            "{file}: {stderr}"
        );
    }
    assert!(stderr.contains("reloaded 2 plan(s)"), "{stderr}");
}

/// Raw HTML and line breaks in plan text (the description, names, instructions) stay text in
/// the Markdown and HTML previews, and every Markdown table row stays one line.
#[test]
fn plan_text_cannot_inject_markup_into_previews() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    let text = CLEAN
        .replace(
            "name: uat-refresh\n",
            "name: uat-refresh\ndescription: \"<script>alert(1)</script>\\n| forged | row |\"\n",
        )
        .replace("name: contoso-prod", "name: \"prod<img src=x onerror=alert(2)>`|\"")
        .replace(
            "  - reset-financial-reporting\n",
            "  - reset-financial-reporting\n  - manual: {instructions: \"check <b>this</b>\\n| and | this |\"}\n",
        );
    std::fs::write(dir.join("plan.yaml"), text).expect("plan");
    let markdown = run(
        dir,
        &["plan", "--format", "markdown", "--now", NOW, "plan.yaml"],
    );
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    // Inside a code span (fenced longer than the name's backtick), HTML is literal text.
    let span = "``prod<img src=x onerror=alert(2)>`\\|``";
    assert!(markdown.stdout.contains(span), "{}", markdown.stdout);
    let out = &markdown.stdout.replace(span, "");
    for raw in ["<script>", "<b>", "<img", "| forged |", "| and |"] {
        assert!(!out.contains(raw), "{raw} passed through:\n{out}");
    }
    assert!(
        out.contains("&lt;script&gt;alert(1)&lt;/script&gt;<br>&#124; forged &#124; row &#124;"),
        "{out}"
    );
    assert!(
        out.contains("check &lt;b&gt;this&lt;/b&gt;<br>&#124; and &#124; this &#124;"),
        "{out}"
    );
    // Every line of a table has the table's columns: nothing broke out of its cell.
    for line in out.lines().filter(|line| line.starts_with("| ")) {
        assert!(line.ends_with(" |"), "{line}");
        let columns = line.matches(" | ").count();
        assert!(columns == 1 || columns == 3, "{columns} separators: {line}");
    }
    let html = run(
        dir,
        &["plan", "--format", "html", "--now", NOW, "plan.yaml"],
    );
    assert_eq!(html.code, 0, "{}", html.stderr);
    for raw in ["<script>", "<b>this", "<img src"] {
        assert!(
            !html.stdout.contains(raw),
            "{raw} passed through:\n{}",
            html.stdout
        );
    }
    assert!(html.stdout.contains("&lt;script&gt;"), "{}", html.stdout);
}

/// A tab is reported at its own line and 1-based character column, and a duplicate key in the
/// user's terms at its second appearance, with none of the parser's advice to programmers.
#[test]
fn tabs_and_duplicate_keys_are_reported_where_and_as_the_user_sees_them() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    for (text, expected) in [
        (
            CLEAN.replace("  type: sandbox", "\ttype: sandbox"),
            (
                6,
                1,
                "a tab is used for indentation; YAML indents with spaces only",
            ),
        ),
        (
            CLEAN.replace("project: 1234567\n", "project: 1234567\nname: again\n"),
            (4, 1, "duplicate key `name`"),
        ),
    ] {
        std::fs::write(dir.join("plan.yaml"), &text).expect("plan");
        let output = run(
            dir,
            &["validate", "--format", "json", "--now", NOW, "plan.yaml"],
        );
        assert_eq!(output.code, 1);
        let found = &json(&output)["diagnostics"][0];
        assert_eq!(
            (
                found["rule"].as_str(),
                found["line"].as_u64(),
                found["column"].as_u64(),
                found["message"].as_str()
            ),
            (
                Some("syntax"),
                Some(expected.0),
                Some(expected.1),
                Some(expected.2)
            ),
            "{found}"
        );
        assert!(!output.stdout.contains("Options") && !output.stdout.contains("Policy"));
    }
}

/// A package a deploy step names is a FIFO: the run is refused, saying what the file is (by the
/// `missing-file` rule before anything runs; were it to become one later, the upload opens it
/// through `input::open_regular`, which refuses it too), and nothing blocks.
#[test]
fn a_package_that_is_not_a_regular_file_fails_the_upload_without_blocking() {
    let directory = tempfile::tempdir().expect("temp dir");
    let dir = directory.path();
    mkfifo(&dir.join("package.zip"));
    std::fs::write(
        dir.join("plan.yaml"),
        // Without `reprovision`, nothing is downloaded to the user's cache.
        format!(
            "{}  - deploy: {{file: package.zip}}\n",
            CLEAN.replace("  - reprovision\n", "")
        ),
    )
    .expect("plan");
    let output = run(
        dir,
        &[
            "--state",
            "state.db",
            "apply",
            "--yes",
            "--start-now",
            "--reason",
            "test",
            "plan.yaml",
        ],
    );
    assert_eq!(output.code, 1, "{}\n{}", output.stdout, output.stderr);
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(
        all.contains("package.zip") && all.contains("is a FIFO (named pipe), not a regular file"),
        "{all}"
    );
}
