//! refreshctl: database refreshes of Dynamics 365 Finance and Operations environments as
//! checked-in YAML plans, validated in CI and previewed before anything runs.

pub mod adapter;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod emulator;
pub mod error;
pub mod executor;
pub mod input;
pub mod lcs;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod power_platform;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod sim;
pub mod state;

use std::io::Write;

/// The one entry point: runs a parsed command line and returns the process exit code. Errors
/// are rendered here, once, to stderr.
#[must_use]
pub fn run(cli: cli::Cli) -> u8 {
    logs::init(cli.verbose, cli.log_format);
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    match commands::run(cli, &mut stdout).and_then(|code| {
        stdout.flush()?;
        Ok(code)
    }) {
        Ok(code) => code,
        // A closed pipe (`refreshctl rules | head`) is not an error worth a message.
        Err(error::Error::Output(io)) if io.kind() == std::io::ErrorKind::BrokenPipe => {
            error::exit::SUCCESS
        }
        Err(error) => {
            logs::error(&error.to_string(), error.hint().as_deref());
            error.exit_code()
        }
    }
}

/// Prints what clap answered instead of a command line (help and the version on stdout, a usage
/// error on stderr) and returns the exit code: clap's (0 or 2), or 3 when the text could not be
/// written (`refreshctl --help > /dev/full`); a reader that closed the pipe early is no error.
#[must_use]
pub fn parse_failed(error: &clap::Error) -> u8 {
    let printed = if error.use_stderr() && logs::json_requested(std::env::args()) {
        // A usage error with `--log-format json`: one JSON line like every other stderr line.
        logs::init(0, cli::LogFormat::Json);
        let text = error.render().to_string();
        let text = text.trim();
        logs::error(text.strip_prefix("error: ").unwrap_or(text), None);
        Ok(())
    } else {
        error.print().and_then(|()| std::io::stdout().flush())
    };
    match printed {
        Err(io) if io.kind() != std::io::ErrorKind::BrokenPipe => {
            let _ = writeln!(std::io::stderr(), "error: cannot write the output: {io}");
            error::exit::ENVIRONMENT
        }
        _ => u8::try_from(error.exit_code()).unwrap_or(error::exit::USAGE),
    }
}
