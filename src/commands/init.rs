//! `refreshctl init`: write a commented starter plan from a few flags, or from questions on a
//! terminal. The text is checked by the same rules as `validate` before anything is written,
//! so a starter plan is valid the moment it exists.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::cli::InitArgs;
use crate::error::{Error, exit};
use crate::rules::{Catalog, CheckSettings, Severity, check_file};

/// What the starter plan is made of, each value as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answers {
    name: String,
    project: String,
    environment: String,
    /// `None`: restore the target's own database to a point in time.
    source: Option<String>,
    cron: String,
    timezone: String,
    duration: String,
}

pub fn run(args: &InitArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let stdin = std::io::stdin();
    let answers = if stdin.is_terminal() {
        answers(args, &mut Asker::Terminal(stdin.lock()))?
    } else {
        answers(args, &mut Asker::<std::io::StdinLock>::Flags)?
    };
    let text = render(&answers);
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("plans").join(format!("{}.yaml", answers.name)));
    check(&target, &text)?;
    if target == Path::new("-") {
        out.write_all(text.as_bytes())?;
        return Ok(exit::SUCCESS);
    }
    write_new(&target, &text, args.force)?;
    writeln!(
        out,
        "wrote {}: preview it with `refreshctl plan {}`, rehearse it with `refreshctl apply {}`",
        target.display(),
        target.display(),
        target.display()
    )?;
    Ok(exit::SUCCESS)
}

/// Where missing values come from: questions on a terminal, or nowhere (then the flag is
/// required).
enum Asker<R> {
    Terminal(R),
    Flags,
}

impl<R: BufRead> Asker<R> {
    /// The value of `flag`, asked for when missing; `default` is taken on an empty answer.
    fn value(
        &mut self,
        given: Option<&String>,
        flag: &str,
        question: &str,
        default: Option<&str>,
    ) -> Result<String, Error> {
        if let Some(given) = given {
            return Ok(given.clone());
        }
        match self {
            Self::Flags => default.map(str::to_owned).ok_or_else(|| Error::Usage {
                message: format!(
                    "`--{flag}` is required without a terminal to ask on (init asks for it when \
                     run interactively)"
                ),
            }),
            Self::Terminal(input) => loop {
                let shown = default
                    .filter(|default| !default.is_empty())
                    .map(|default| format!(" [{default}]"))
                    .unwrap_or_default();
                eprint!("{question}{shown}: ");
                let mut line = String::new();
                if input.read_line(&mut line).map_err(Error::Output)? == 0 {
                    return Err(Error::Usage {
                        message: format!("no answer for `--{flag}` (standard input ended)"),
                    });
                }
                let line = line.trim();
                match (line.is_empty(), default) {
                    (false, _) => return Ok(line.to_owned()),
                    (true, Some(default)) => return Ok(default.to_owned()),
                    (true, None) => eprintln!("an answer is needed"),
                }
            },
        }
    }
}

fn answers<R: BufRead>(args: &InitArgs, asker: &mut Asker<R>) -> Result<Answers, Error> {
    let name = asker.value(args.name.as_ref(), "name", "Plan name (a-z, 0-9, -)", None)?;
    let project = asker.value(args.project.as_ref(), "project", "LCS project id", None)?;
    if project.is_empty() || !project.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Error::Usage {
            message: format!(
                "`--project` is the LCS project id, a positive integer, not `{project}`"
            ),
        });
    }
    let environment = asker.value(
        args.environment.as_ref(),
        "environment",
        "Target environment, whose database is replaced",
        None,
    )?;
    let source = if args.restore {
        None
    } else {
        let source = asker.value(
            args.source.as_ref(),
            "source",
            "Source environment to copy from (empty: restore the target to a point in time)",
            Some(""),
        )?;
        Some(source).filter(|source| !source.is_empty())
    };
    if args.restore && args.source.is_some() {
        return Err(Error::Usage {
            message: "`--restore` and `--source` exclude each other: a plan either copies from \
                      a source or restores the target's own database"
                .into(),
        });
    }
    let cron = asker.value(
        args.cron.as_ref(),
        "cron",
        "When each window starts (5-field cron)",
        Some("0 22 * * SAT"),
    )?;
    let timezone = asker.value(
        args.timezone.as_ref(),
        "timezone",
        "Time zone of the cron expression (IANA)",
        Some("UTC"),
    )?;
    let duration = asker.value(
        args.duration.as_ref(),
        "duration",
        "How long the target may be offline",
        Some("6h"),
    )?;
    Ok(Answers {
        name,
        project,
        environment,
        source,
        cron,
        timezone,
        duration,
    })
}

/// A YAML scalar that means exactly `value` (a JSON string is a YAML string).
fn quoted(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// The starter plan: every required key, the safe defaults, and comments that say what to
/// change.
fn render(answers: &Answers) -> String {
    let source = match &answers.source {
        Some(source) => format!(
            "source:                         # copied into the target\n  name: {}\n  type: production\n",
            quoted(source)
        ),
        None => "# No source: the target's own database is restored to `point_in_time`.\n\
                 point_in_time: -6h              # 6 hours before the window starts\n"
            .to_owned(),
    };
    // A copy is done through LCS; LCS has no point-in-time restore, so a restore names no
    // service (`power-platform` is where one would run).
    let service = match &answers.source {
        Some(_) => "service: lcs                     # CI checks what the lcs adapter can do\n",
        None => "# service: power-platform       # LCS has no point-in-time restore\n",
    };
    let description = match &answers.source {
        Some(source) => format!("Refresh {} from {}", answers.environment, source),
        None => format!("Restore {} to a point in time", answers.environment),
    };
    format!(
        "# yaml-language-server: $schema=../schemas/refresh-plan.schema.json\n\
         #\n\
         # A starter plan written by `refreshctl init`. Check it with `refreshctl validate`, preview\n\
         # it with `refreshctl plan`, and rehearse it on the simulator with `refreshctl apply`.\n\
         version: 1\n\
         name: {name}\n\
         description: {description}\n\
         {service}\
         project: {project}                  # the LCS project id\n\
         environment:                     # the TARGET: its database is erased and replaced\n\
         \x20 name: {environment}\n\
         \x20 type: sandbox                  # checked again live: a production target is refused\n\
         {source}\
         window:\n\
         \x20 cron: {cron}           # when each window starts\n\
         \x20 timezone: {timezone}\n\
         \x20 duration: {duration}                  # how long the target may be offline\n\
         lead_time: 48h                   # notice to the environment's users; at least 24h\n\
         acknowledge:                     # what the operator accepts\n\
         \x20 - target-database-erased\n\
         \x20 - target-unavailable\n\
         post_steps:\n\
         \x20 - reprovision                 # the Environment reprovisioning tool\n\
         \x20 - reset-financial-reporting   # a manual step on LCS\n\
         \x20 # - deploy: {{file: packages/customizations.zip, name: Customizations}}\n\
         \x20 # - command: {{run: [\"./scripts/anonymize.sh\", \"{{{{ environment.name }}}}\"], timeout: 30m}}\n\
         \x20 # - manual: {{instructions: Re-activate the POS devices.}}\n\
         # notifications:\n\
         #   - url: https://hooks.example.com/refresh\n",
        name = quoted(&answers.name),
        description = quoted(&description),
        project = answers.project,
        environment = quoted(&answers.environment),
        cron = quoted(&answers.cron),
        timezone = quoted(&answers.timezone),
        duration = quoted(&answers.duration),
    )
}

/// Refuses a starter plan that `validate` would refuse, naming each problem (they come from the
/// values given).
fn check(target: &Path, text: &str) -> Result<(), Error> {
    let settings = CheckSettings {
        now: Utc::now(),
        catalog: Catalog::embedded(),
        adapter: None,
    };
    let shown = target.display().to_string();
    let checked = check_file(&shown, target, text.as_bytes(), &settings);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.severity == Severity::Error)
        .map(|diagnostic| format!("{}: {}", diagnostic.rule.id(), diagnostic.message))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage {
            message: format!(
                "the values given do not make a valid plan; nothing was written:\n  {}",
                errors.join("\n  ")
            ),
        })
    }
}

/// Writes a new file (and its directory); an existing file is kept unless `force`.
fn write_new(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Refused {
                message: format!("`{}` already exists; nothing was written", path.display()),
                hint: Some("pass `--force` to overwrite it, or `--output` another path".into()),
            }
        } else {
            Error::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> InitArgs {
        InitArgs {
            output: None,
            name: Some("uat-weekly".into()),
            project: Some("1234567".into()),
            environment: Some("contoso-uat".into()),
            source: Some("contoso-prod".into()),
            restore: false,
            cron: None,
            timezone: None,
            duration: None,
            force: false,
        }
    }

    #[test]
    fn flags_and_defaults_make_a_plan_without_errors() {
        let answers = answers(&flags(), &mut Asker::<&[u8]>::Flags).expect("answers");
        assert_eq!(answers.cron, "0 22 * * SAT");
        check(Path::new("plans/uat-weekly.yaml"), &render(&answers)).expect("valid");
    }

    #[test]
    fn a_restore_plan_has_no_source_and_a_point_in_time() {
        let mut args = flags();
        args.source = None;
        args.restore = true;
        let answers = answers(&args, &mut Asker::<&[u8]>::Flags).expect("answers");
        let text = render(&answers);
        assert!(!text.contains("\nsource:"), "{text}");
        assert!(text.contains("point_in_time: -6h"), "{text}");
        check(Path::new("x.yaml"), &text).expect("valid");
    }

    #[test]
    fn a_missing_required_flag_is_named() {
        let mut args = flags();
        args.environment = None;
        let error = answers(&args, &mut Asker::<&[u8]>::Flags).expect_err("refused");
        assert!(error.to_string().contains("`--environment`"), "{error}");
    }

    #[test]
    fn answers_on_a_terminal_fill_what_flags_left_out() {
        let mut args = flags();
        args.name = None;
        args.source = None;
        // An empty answer is asked again where there is no default; the source may be empty,
        // and the schedule's questions take their defaults.
        let input: &[u8] = b"\nfin-uat\n\n\nEurope/Amsterdam\n\n";
        let answers = answers(&args, &mut Asker::Terminal(input)).expect("answers");
        assert_eq!(answers.name, "fin-uat");
        assert_eq!(answers.source, None);
        assert_eq!(answers.cron, "0 22 * * SAT");
        assert_eq!(answers.timezone, "Europe/Amsterdam");
    }

    #[test]
    fn bad_values_are_refused_with_the_rule_that_refuses_them() {
        let mut args = flags();
        args.name = Some("UAT Weekly".into());
        args.cron = Some("every saturday".into());
        let answers = answers(&args, &mut Asker::<&[u8]>::Flags).expect("answers");
        let error = check(Path::new("x.yaml"), &render(&answers)).expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("schema:"), "{message}");
        assert!(message.contains("nothing was written"), "{message}");
    }

    #[test]
    fn values_that_look_like_yaml_stay_text() {
        let mut args = flags();
        args.environment = Some("uat: #1".into());
        let answers = answers(&args, &mut Asker::<&[u8]>::Flags).expect("answers");
        let text = render(&answers);
        assert!(text.contains("name: \"uat: #1\""), "{text}");
        check(Path::new("x.yaml"), &text).expect("valid");
    }
}
