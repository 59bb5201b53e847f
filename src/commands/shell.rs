//! `refreshctl completions SHELL` and `refreshctl man`: generated from the command line's own
//! definition, so they say exactly what the binary accepts.

use std::io::Write;

use clap::CommandFactory as _;

use crate::cli::{Cli, Shell};
use crate::error::{Error, exit};

pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<u8, Error> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
        Shell::Elvish => clap_complete::Shell::Elvish,
    };
    // The generators write through a `Write` that cannot report failure; render into memory,
    // then write, so a full disk is an error rather than a truncated script.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "refreshctl", &mut script);
    out.write_all(&script)?;
    Ok(exit::SUCCESS)
}

/// The manual page of refreshctl, or of one of its commands (`refreshctl-validate(1)`).
pub fn man(command: Option<&str>, out: &mut dyn Write) -> Result<u8, Error> {
    let root = Cli::command();
    let page = match command {
        None => root,
        Some(name) => {
            let Some(found) = root.find_subcommand(name) else {
                let known: Vec<&str> = root
                    .get_subcommands()
                    .map(clap::Command::get_name)
                    .collect();
                return Err(Error::Usage {
                    message: format!("no command `{name}`; the commands are {}", known.join(", ")),
                });
            };
            found.clone().name(format!("refreshctl-{name}"))
        }
    };
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut text)
        .map_err(Error::Output)?;
    out.write_all(&text)?;
    Ok(exit::SUCCESS)
}
