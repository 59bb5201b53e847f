//! Everything refreshctl writes to stderr besides a command's data: logs, run events and the
//! notices of the commands ("rehearsing on the simulator", warnings, errors).
//!
//! With `--log-format text` notices are plain lines and logs are tracing's text lines. With
//! `--log-format json` every stderr line is one JSON object from tracing's JSON formatter:
//! `timestamp` (the real time), `level`, `message`, then the fields (`run`, `step`, `kind`, and
//! `sim_time` for the simulated time of a rehearsal's event, `at` for a real one's). Notices
//! and a foreground run's events are shown at every verbosity, as in text; other logs by `-v`.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

use crate::cli::LogFormat;
use crate::executor::Event;
use crate::plan::time::format_utc;

/// The target of notices: shown at every verbosity.
const NOTICE: &str = "refreshctl::notice";
/// The target of a foreground run's events (`apply`, `resume`): shown at every verbosity.
const PROGRESS: &str = "refreshctl::progress";
/// The target of the events of a scheduler pass (`tick`, `daemon`): shown by `-v`.
const RUN: &str = "refreshctl::run";

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the subscriber: warnings by default, `-v` info, `-vv` debug.
pub fn init(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => Level::WARN,
        1 => Level::INFO,
        _ => Level::DEBUG,
    };
    // A second call (tests run commands in one process) keeps the first format and subscriber.
    let format = *FORMAT.get_or_init(|| format);
    let shown = filter_fn(move |metadata| {
        *metadata.level() <= level
            || (matches!(metadata.target(), NOTICE | PROGRESS) && *metadata.level() <= Level::INFO)
    })
    // Nothing more verbose than this is ever shown, so tracing skips it at the call site.
    .with_max_level_hint(level.max(Level::INFO));
    let _ = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .with_target(false)
                    .without_time()
                    .with_filter(shown),
            )
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_filter(shown),
            )
            .try_init(),
    };
}

/// Whether stderr lines are JSON objects.
#[must_use]
pub fn json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Writes one notice: as it is in text; in JSON as an object whose `message` is the text without
/// the `refreshctl: ` and `warning: ` prefixes that text lines carry. A notice of several lines
/// (a diagnostic with its excerpt) stays one object.
pub fn notice(severity: Severity, text: &str) {
    if !json() {
        eprintln!("{text}");
        return;
    }
    let message = text.strip_prefix("refreshctl: ").unwrap_or(text);
    let message = message
        .strip_prefix("warning: ")
        .or_else(|| message.strip_prefix("error: "))
        .unwrap_or(message);
    match severity {
        Severity::Info => tracing::info!(target: NOTICE, "{message}"),
        Severity::Warning => tracing::warn!(target: NOTICE, "{message}"),
        Severity::Error => tracing::error!(target: NOTICE, "{message}"),
    }
}

/// A notice with `format!` arguments: `say!("text {x}")`, `say!(warning, "text")`.
#[macro_export]
macro_rules! say {
    (warning, $($arg:tt)+) => {
        $crate::logs::notice($crate::logs::Severity::Warning, &format!($($arg)+))
    };
    (error, $($arg:tt)+) => {
        $crate::logs::notice($crate::logs::Severity::Error, &format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::logs::notice($crate::logs::Severity::Info, &format!($($arg)+))
    };
}

/// The fields of an executor event, as tracing records them.
struct Fields {
    kind: String,
    sim_time: Option<String>,
    until: Option<String>,
}

impl Fields {
    fn of(event: &Event, simulated: bool) -> Self {
        let kind = serde_json::to_value(&event.kind)
            .ok()
            .and_then(|kind| kind.as_str().map(str::to_owned))
            .unwrap_or_default();
        let time = |time: DateTime<Utc>| format_utc_precise(time);
        Self {
            kind,
            sim_time: simulated.then(|| time(event.at)),
            until: event.until.map(time),
        }
    }
}

/// A time with its fraction of a second when it has one (simulated polls fall between seconds).
fn format_utc_precise(time: DateTime<Utc>) -> String {
    if time.timestamp_subsec_nanos() == 0 {
        format_utc(time)
    } else {
        time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// A foreground run's event (`apply`, `resume` with `--log-format json`), at every verbosity.
/// A failed step is a warning; everything else is info.
pub fn progress_event(event: &Event, simulated: bool) {
    let fields = Fields::of(event, simulated);
    let (kind, step, sim_time, until) = (
        fields.kind.as_str(),
        event.step.as_deref(),
        fields.sim_time.as_deref(),
        fields.until.as_deref(),
    );
    let at = (!simulated).then(|| format_utc_precise(event.at));
    let at = at.as_deref();
    if event.kind == crate::executor::EventKind::StepFailed {
        tracing::warn!(target: PROGRESS, run = %event.run, kind, step, sim_time, at, until, "{}", event.message);
    } else {
        tracing::info!(target: PROGRESS, run = %event.run, kind, step, sim_time, at, until, "{}", event.message);
    }
}

/// An event of a scheduler pass (`tick`, `daemon`), shown by `-v`.
pub fn pass_event(event: &Event, simulated: bool) {
    let fields = Fields::of(event, simulated);
    let (kind, step, sim_time, until) = (
        fields.kind.as_str(),
        event.step.as_deref(),
        fields.sim_time.as_deref(),
        fields.until.as_deref(),
    );
    let at = (!simulated).then(|| format_utc_precise(event.at));
    let at = at.as_deref();
    if event.kind == crate::executor::EventKind::StepFailed {
        tracing::warn!(target: RUN, run = %event.run, kind, step, sim_time, at, until, "{}", event.message);
    } else {
        tracing::info!(target: RUN, run = %event.run, kind, step, sim_time, at, until, "{}", event.message);
    }
}

/// The error a command ended with, and the hint that goes with it: `error: …` and `hint: …`
/// lines in text, one object with a `hint` field in JSON.
pub fn error(message: &str, hint: Option<&str>) {
    if json() {
        tracing::error!(target: NOTICE, hint, "{message}");
        return;
    }
    eprintln!("error: {message}");
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

/// A diagnostic a run command found in its plan: the rendered excerpt in text (`rendered`), one
/// object with the diagnostic's fields in JSON.
pub fn diagnostic(diagnostic: &crate::rules::Diagnostic, rendered: &str) {
    if !json() {
        eprintln!("{rendered}\n");
        return;
    }
    let (rule, file, line, column, help) = (
        diagnostic.rule.id(),
        diagnostic.file.as_str(),
        diagnostic.line,
        diagnostic.column,
        diagnostic.help.as_str(),
    );
    let message = diagnostic.message.as_str();
    if diagnostic.severity == crate::rules::Severity::Error {
        tracing::error!(target: NOTICE, rule, file, line, column, help, "{message}");
    } else {
        tracing::warn!(target: NOTICE, rule, file, line, column, help, "{message}");
    }
}

/// Whether a command line asks for JSON logs (`--log-format json` or `--log-format=json`); for
/// the usage errors clap reports before there is a parsed command line.
pub fn json_requested(args: impl Iterator<Item = String>) -> bool {
    let mut previous_was_flag = false;
    for arg in args {
        if arg == "--log-format=json" || (previous_was_flag && arg == "json") {
            return true;
        }
        previous_was_flag = arg == "--log-format";
    }
    false
}
