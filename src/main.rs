use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = refreshctl::cli::Cli::parse();
    ExitCode::from(refreshctl::run(cli))
}
