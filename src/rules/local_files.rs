//! `missing-file`: the local files a plan's steps name (a package to upload, a program to run)
//! exist where the run will look for them, relative to the plan's directory. Otherwise the run
//! would fail after the target's database was already erased.

use std::path::Path;

use super::context::PlanContext;
use super::{Findings, Rule};
use crate::plan::raw::RawStep;
use crate::plan::{Located, PackageSource, Plan, PostStep};

/// The rule's check again, on a checked plan whose files are looked for in `plan_dir`: what is
/// missing or unusable now, one message per file naming it as the plan writes it (relative to
/// the plan's directory). Preflight runs it, so a file deleted after `validate` stops the run
/// before anything destructive.
#[must_use]
pub fn missing_files(plan: &Plan, plan_dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let mut look = |file: &str, key: &str, executable: bool| {
        if let Some(problem) = problem(&plan_dir.join(file), executable) {
            missing.push(format!("`{file}` ({key}) {problem}"));
        }
    };
    for step in plan.post_steps() {
        match step {
            PostStep::Reprovision {
                file: Some(file), ..
            } => look(file, "reprovision.file", false),
            PostStep::Deploy {
                package: PackageSource::File(file),
                ..
            } => look(file, "deploy.file", false),
            PostStep::Command { run, .. } => {
                if let Some(program) = run.first().filter(|program| is_checked_program(program)) {
                    look(program, "command.run", true);
                }
            }
            _ => {}
        }
    }
    missing
}

/// Whether a command's program is a path that can be checked here: one with a `/` (a bare name
/// is looked up on the `PATH` of the machine that runs the plan) and no template.
fn is_checked_program(program: &str) -> bool {
    program.contains('/') && !program.contains("{{")
}

pub fn check(context: &PlanContext<'_>, findings: &mut Findings) {
    let Some(steps) = &context.raw.post_steps else {
        return;
    };
    for step in &steps.value {
        match &step.value {
            RawStep::Reprovision(options) => {
                if let Some(file) = &options.file {
                    package(context, file, "reprovision.file", findings);
                }
            }
            RawStep::Deploy(options) => {
                if let Some(file) = &options.file {
                    package(context, file, "deploy.file", findings);
                }
            }
            RawStep::Command(options) => {
                if let Some(program) = options.run.value.first() {
                    command(context, program, findings);
                }
            }
            RawStep::ResetFinancialReporting | RawStep::Manual(_) | RawStep::Export(_) => {}
        }
    }
}

/// A package file to upload: a regular file.
fn package(context: &PlanContext<'_>, file: &Located<String>, key: &str, findings: &mut Findings) {
    if let Some(problem) = problem(&context.plan_dir.join(&file.value), false) {
        push(context, file, key, &problem, findings);
    }
}

/// The program of a `command` step, when it is a path (with a `/`; a bare name is looked up on
/// the `PATH` of the machine that runs the plan, which need not be this one) and no template.
fn command(context: &PlanContext<'_>, program: &Located<String>, findings: &mut Findings) {
    if !is_checked_program(&program.value) {
        return;
    }
    if let Some(problem) = problem(&context.plan_dir.join(&program.value), true) {
        push(context, program, "command.run", &problem, findings);
    }
}

fn push(
    context: &PlanContext<'_>,
    file: &Located<String>,
    key: &str,
    problem: &str,
    findings: &mut Findings,
) {
    findings.push(
        Rule::MissingFile,
        file.place,
        format!("`{}` ({key}) {problem}", file.value),
        format!(
            "paths are relative to the plan's directory `{}`; the run would fail there after \
             the target's database was replaced",
            shown_directory(context.plan_dir)
        ),
    );
}

/// What is wrong with the file at `path`, if anything.
fn problem(path: &Path, executable: bool) -> Option<String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!("does not exist (looked for `{}`)", path.display()));
        }
        Err(error) => return Some(format!("cannot be read at `{}`: {error}", path.display())),
    };
    if !metadata.is_file() {
        return Some(format!(
            "is {}, not a regular file (`{}`)",
            crate::input::describe_kind(metadata.file_type()),
            path.display()
        ));
    }
    if executable && !is_executable(&metadata) {
        return Some(format!(
            "is not executable (`{}`); `chmod +x` it",
            path.display()
        ));
    }
    None
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    true
}

fn shown_directory(directory: &Path) -> String {
    if directory.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        directory.display().to_string()
    }
}
