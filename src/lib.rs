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
pub mod metrics;
pub mod notify;
pub mod plan;
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
    init_logs(cli.verbose, cli.log_format);
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
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {error}");
            if let Some(hint) = error.hint() {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            error.exit_code()
        }
    }
}

/// Prints what clap answered instead of a command line (help and the version on stdout, a usage
/// error on stderr) and returns the exit code: clap's (0 or 2), or 3 when the text could not be
/// written (`refreshctl --help > /dev/full`); a reader that closed the pipe early is no error.
#[must_use]
pub fn parse_failed(error: &clap::Error) -> u8 {
    let printed = error.print().and_then(|()| std::io::stdout().flush());
    match printed {
        Err(io) if io.kind() != std::io::ErrorKind::BrokenPipe => {
            let _ = writeln!(std::io::stderr(), "error: cannot write the output: {io}");
            error::exit::ENVIRONMENT
        }
        _ => u8::try_from(error.exit_code()).unwrap_or(error::exit::USAGE),
    }
}

/// Logs (the `lcs` adapter's attempts and warnings, the emulator) go to stderr: warnings by
/// default, `-v` info, `-vv` debug; as JSON lines with `--log-format json`.
fn init_logs(verbose: u8, format: cli::LogFormat) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false);
    // A second call (tests run commands in one process) keeps the first subscriber.
    let _ = match format {
        cli::LogFormat::Text => builder.without_time().try_init(),
        cli::LogFormat::Json => builder.json().try_init(),
    };
}
