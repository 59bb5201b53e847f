//! What a run in the foreground (`apply`, `resume`) needs besides the executor: the signals
//! that stop it at a safe point, the manual step's prompt, and what is said when it stops.

use std::io::Write as _;

use tokio::sync::mpsc::UnboundedReceiver;

use super::apply::Globals;
use crate::cli::RunOptions;
use crate::error::{Error, exit};
use crate::plan::time::{format_duration, format_utc};
use crate::state::{RunRecord, RunState, StepState};

/// A signal that stops a foreground run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// 130 for SIGINT, 143 for SIGTERM (128 + the signal's number, as shells report it).
    #[must_use]
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Interrupt => exit::INTERRUPTED,
            Self::Terminate => exit::TERMINATED,
        }
    }
}

/// Listens for SIGINT and SIGTERM from now on (the runtime must be entered); each one that
/// comes is sent to the receiver, and `say` tells the operator at once that it was heard (a call
/// under way may take a while to be answered). The process no longer ends at once on them: the
/// run stops at its next safe point and says how it stands.
pub fn listen(say: impl Fn(&str) + Send + 'static) -> Result<UnboundedReceiver<Signal>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return Err(Error::Usage {
            message: "cannot listen for signals".into(),
        });
    };
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut heard = 0_u32;
        loop {
            let signal = tokio::select! {
                Some(()) = interrupt.recv() => Signal::Interrupt,
                Some(()) = terminate.recv() => Signal::Terminate,
                else => break,
            };
            heard += 1;
            say(&if heard == 1 {
                format!(
                    "refreshctl: {}: stopping at the next safe point, once a call under way is answered (again to stop at once)",
                    signal.name()
                )
            } else {
                format!("refreshctl: {} again: stopping at once", signal.name())
            });
            if sender.send(signal).is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}

/// What the operator answered at a manual step's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `yes` or `done`: the step is done.
    Approve,
    /// `no`, `later`, or the end of the input: the step stays waiting.
    Later,
    Stopped(Signal),
}

/// Asks on the terminal whether the waiting manual step `step` is done, asking again after an
/// answer it does not know (and saying which it knows), until an answer or a signal comes.
pub async fn ask(run: &str, step: &str, signals: &mut UnboundedReceiver<Signal>) -> Answer {
    loop {
        eprint!(
            "refreshctl: `{step}` waits for you. Is it done? Type `yes` when it is, or `no` to leave it waiting: "
        );
        let _ = std::io::stderr().flush();
        let line = tokio::select! {
            line = read_line() => line,
            Some(signal) = signals.recv() => {
                eprintln!();
                return Answer::Stopped(signal);
            }
        };
        let Some(line) = line else {
            eprintln!();
            return Answer::Later;
        };
        match line.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "done" => return Answer::Approve,
            "no" | "n" | "later" => return Answer::Later,
            other => eprintln!(
                "refreshctl: `{other}` is not an answer here: `yes` (or `done`) approves `{step}`, `no` (or `later`) leaves it waiting for `refreshctl approve {run} {step}`"
            ),
        }
    }
}

/// One line of the standard input, read on a thread of its own so that a signal can end the
/// wait (the thread is left blocked; the process ends soon after). `None` at the end of the
/// input.
async fn read_line() -> Option<String> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line);
        let _ = sender.send(match read {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        });
    });
    receiver.await.ok().flatten()
}

/// Says on stderr how a run stopped by `signal` stands and the command that goes on with it;
/// returns the exit code.
pub fn stopped(run: &RunRecord, signal: Signal, globals: &Globals<'_>, options: &RunOptions) -> u8 {
    crate::say!(
        warning,
        "refreshctl: stopped by {}: run `{}` is {}; everything so far is saved{}",
        signal.name(),
        run.id,
        where_it_stands(run),
        if globals.adapter.is_real() && run.state == RunState::Running {
            format!(
                ", and {} goes on with what it was asked to do",
                globals.adapter.service_name()
            )
        } else {
            String::new()
        }
    );
    crate::say!(
        warning,
        "refreshctl: to go on: {}",
        resume_command(run, globals, options)
    );
    if let RunState::AwaitingApproval { step } = &run.state {
        crate::say!(
            warning,
            "refreshctl: (or approve it without a terminal: `refreshctl approve {} {step}`, then resume)",
            run.id
        );
    }
    signal.exit_code()
}

/// `running, at `deploy.monitor` (running since …, operation …)`.
fn where_it_stands(run: &RunRecord) -> String {
    let state = run.state.name();
    let current = run.steps.iter().find(|step| {
        !matches!(
            step.state,
            StepState::Succeeded { .. } | StepState::Skipped { .. }
        )
    });
    let Some(step) = current else {
        return state.to_owned();
    };
    let mut about = match &step.state {
        StepState::Running { started } => vec![format!("running since {}", format_utc(*started))],
        StepState::Pending => vec!["not started".to_owned()],
        StepState::Failed { error, .. } => vec![format!("failed: {error}")],
        StepState::Succeeded { .. } | StepState::Skipped { .. } => Vec::new(),
    };
    // A monitor step watches the operation the step before it started.
    let index = run
        .steps
        .iter()
        .position(|candidate| candidate.id == step.id)
        .unwrap_or_default();
    let activity = step.remote.activity.as_ref().or_else(|| {
        step.id
            .contains("monitor")
            .then(|| index.checked_sub(1))
            .flatten()
            .and_then(|before| run.steps[before].remote.activity.as_ref())
    });
    if let Some(activity) = activity {
        about.push(format!("operation {activity}"));
    }
    if let Some(asset) = &step.remote.asset {
        about.push(format!("asset {asset}"));
    }
    if step.intent.is_some() && step.remote.activity.is_none() {
        about.push("its call recorded as an intent".to_owned());
    }
    format!("{state}, at `{}` ({})", step.id, about.join(", "))
}

/// `refreshctl resume RUN` with the flags that make it find the same run the same way.
fn resume_command(run: &RunRecord, globals: &Globals<'_>, options: &RunOptions) -> String {
    let mut words = vec!["refreshctl".to_owned(), "resume".to_owned(), run.id.clone()];
    if globals.adapter.is_real() {
        words.extend(["--adapter".to_owned(), globals.adapter.name().to_owned()]);
    }
    if let Some(state) = globals.state {
        // A password in the URL is never shown.
        words.extend([
            "--state".to_owned(),
            shell_word(&crate::state::mask_state(state)),
        ]);
    }
    let defaults = [
        (
            options.poll_interval,
            chrono::TimeDelta::seconds(60),
            "--poll-interval",
        ),
        (
            options.step_deadline,
            chrono::TimeDelta::hours(30),
            "--step-deadline",
        ),
    ];
    for (value, default, flag) in defaults {
        if value != default {
            // humantime keeps every unit (`200ms`, `1m 30s`), so the flag means what it did.
            let shown = value.to_std().map_or_else(
                |_| format_duration(value),
                |value| {
                    humantime::format_duration(value)
                        .to_string()
                        .replace(' ', "")
                },
            );
            words.extend([flag.to_owned(), shown]);
        }
    }
    words.join(" ")
}

/// `text` quoted for a POSIX shell where it needs it.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_they_need_it() {
        let cases = [
            ("/tmp/state.db", "/tmp/state.db"),
            ("sqlite:/a b/state.db", "'sqlite:/a b/state.db'"),
            ("it's", r"'it'\''s'"),
            ("", "''"),
        ];
        for (text, expected) in cases {
            assert_eq!(shell_word(text), expected, "{text}");
        }
    }

    #[test]
    fn signals_exit_as_a_shell_reports_them() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }
}
