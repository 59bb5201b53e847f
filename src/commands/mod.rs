//! One file per command; each resolves its settings from the arguments and calls the core.

mod apply;
mod calendar;
mod emulator;
mod explain;
mod foreground;
mod history;
mod init;
mod live;
mod notify_preview;
mod plan;
mod runs;
mod runtime;
mod schedule;
mod schema;
mod shell;
mod status_page;
mod validate;

use std::io::{IsTerminal, Write};
use std::path::Path;

use chrono::Utc;

use crate::adapter::AdapterKind;
use crate::cli::{CheckArgs, Cli, ColorChoice, Command};
use crate::error::Error;
use crate::input::{InputError, MAX_DATA_BYTES, read_capped, read_text_capped};
use crate::plan::load::MAX_PLAN_BYTES;
use crate::rules::{Catalog, CheckSettings, CheckedFile, check_file, unreadable};

/// The password the emulator's token endpoints accept unless `--password` says otherwise.
pub const DEFAULT_EMULATOR_PASSWORD: &str = "emulator";

/// Runs a parsed command line; returns the exit code, or the error that stopped the command.
pub fn run(cli: Cli, stdout: &mut dyn Write) -> Result<u8, Error> {
    let color = color_enabled(cli.color, std::io::stdout().is_terminal());
    let globals = apply::Globals {
        adapter: cli.adapter.unwrap_or(AdapterKind::Simulator),
        state: cli.state.as_deref(),
        log_format: cli.log_format,
        color,
        allow_rehearsal: cli.allow_rehearsal_in_real_store,
    };
    match cli.command {
        Command::Validate(args) => validate::run(&args, cli.adapter, color, stdout),
        Command::Plan(args) => plan::run(&args, cli.adapter, stdout),
        Command::Rules(args) => explain::list(&args, stdout),
        Command::Explain(args) => explain::explain(&args, stdout),
        Command::Schema => schema::run(stdout),
        Command::Init(args) => init::run(&args, stdout),
        Command::Completions(args) => shell::completions(args.shell, stdout),
        Command::Man(args) => shell::man(args.command.as_deref(), stdout),
        Command::NotifyPreview(args) => notify_preview::run(&args, globals.adapter, color, stdout),
        Command::Apply(args) => apply::apply(&args, &globals, stdout),
        Command::Submit(args) => apply::submit(&args, &globals, stdout),
        Command::Resume(args) => apply::resume(&args, &globals, stdout),
        Command::Calendar(args) => calendar::run(&args, &globals, stdout),
        Command::History(args) => history::run(&args, &globals, stdout),
        Command::Runs(args) => runs::runs(&args, &globals, stdout),
        Command::Status(args) => runs::status(&args, &globals, stdout),
        Command::Reschedule(args) => runs::reschedule(&args, &globals, stdout),
        Command::Cancel(args) => runs::cancel(&args, &globals, stdout),
        Command::Approve(args) => runs::approve(&args, &globals, stdout),
        Command::Tick(args) => schedule::tick(&args, &globals, stdout),
        Command::Daemon(args) => schedule::daemon(&args, &globals, stdout),
        Command::Emulator(args) => emulator::run(&args, stdout),
    }
}

/// Colour only on a terminal, unless forced; `NO_COLOR` (set and not empty) and `TERM=dumb`
/// turn it off.
#[must_use]
pub fn color_enabled(choice: ColorChoice, terminal: bool) -> bool {
    color_wanted(
        choice,
        terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn color_wanted(
    choice: ColorChoice,
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal
                && no_color.is_none_or(std::ffi::OsStr::is_empty)
                && term.is_none_or(|term| term != "dumb")
        }
    }
}

/// The settings every check needs: `--now` (default: the current time), the catalog and the
/// adapter to check support for.
fn check_settings(args: &CheckArgs, adapter: Option<AdapterKind>) -> Result<CheckSettings, Error> {
    let catalog = match &args.catalog {
        None => Catalog::embedded(),
        Some(path) => {
            let text = read_text_capped(path, MAX_DATA_BYTES, "catalog")?;
            Catalog::parse(&text).map_err(|error| Error::Catalog {
                path: path.clone(),
                place: error.place,
                message: error.message,
            })?
        }
    };
    Ok(CheckSettings {
        now: args.now.unwrap_or_else(Utc::now),
        catalog,
        adapter,
    })
}

/// Reads one plan file and checks it. A file too large to be a plan is its `syntax` diagnostic
/// (SPEC 3.1); with `lenient` (a set of files is checked), so is every other reason it cannot be
/// read, so that one bad file does not stop the others. Otherwise a file that cannot be read is
/// an input error. The bytes are returned for excerpts (empty when the file was not read).
fn read_and_check(
    path: &Path,
    shown: &str,
    settings: &CheckSettings,
    lenient: bool,
) -> Result<(CheckedFile, Vec<u8>), Error> {
    match read_capped(path, MAX_PLAN_BYTES, "plan") {
        Ok(bytes) => Ok((check_file(shown, path, &bytes, settings), bytes)),
        Err(error) if lenient || matches!(error, InputError::TooLarge { .. }) => {
            Ok((unreadable(shown, &error), Vec::new()))
        }
        Err(InputError::NotFound { path }) => Err(Error::NotFound { path }),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colour_needs_a_terminal_that_is_not_dumb_and_no_no_color() {
        let xterm = Some(OsStr::new("xterm-256color"));
        let dumb = Some(OsStr::new("dumb"));
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        for (choice, terminal, no_color, term, wanted) in [
            (ColorChoice::Auto, true, None, xterm, true),
            (ColorChoice::Auto, true, None, None, true),
            (ColorChoice::Auto, false, None, xterm, false),
            (ColorChoice::Auto, true, set, xterm, false),
            (ColorChoice::Auto, true, empty, xterm, true),
            (ColorChoice::Auto, true, None, dumb, false),
            (ColorChoice::Always, false, set, dumb, true),
            (ColorChoice::Never, true, None, xterm, false),
        ] {
            assert_eq!(
                color_wanted(choice, terminal, no_color, term),
                wanted,
                "{choice:?} terminal={terminal} NO_COLOR={no_color:?} TERM={term:?}"
            );
        }
    }
}
