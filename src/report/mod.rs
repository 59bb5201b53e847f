//! Renderers: validation results in every CI format, and the preview of a plan.
//!
//! Each renderer writes to the writer it is given; none decides what is printed where.

pub mod azure;
pub mod github;
pub mod human;
pub mod ical;
pub mod json;
pub mod junit;
pub mod preview;
pub mod sarif;
mod text;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::rules::{Counts, Diagnostic};

/// Everything a validation renderer needs.
pub struct ValidationReport<'a> {
    pub now: DateTime<Utc>,
    pub files: usize,
    /// Files that parsed far enough to name a plan, with that name.
    pub plans: Vec<(&'a str, &'a str)>,
    /// Every file checked, in order.
    pub file_names: Vec<&'a str>,
    pub diagnostics: &'a [Diagnostic],
    /// The text of each file, for source excerpts.
    pub sources: &'a HashMap<String, String>,
    pub deny_warnings: bool,
    /// How long checking took (`JUnit`'s `time`).
    pub elapsed: std::time::Duration,
}

impl ValidationReport<'_> {
    #[must_use]
    pub fn counts(&self) -> Counts {
        Counts::of(self.diagnostics)
    }

    /// One line: what was checked and what was found.
    #[must_use]
    pub fn summary_line(&self) -> String {
        let counts = self.counts();
        let found = match (counts.errors, counts.warnings) {
            (0, 0) => "no problems".to_owned(),
            (errors, 0) => text::plural(errors, "error"),
            (0, warnings) => text::plural(warnings, "warning"),
            (errors, warnings) => format!(
                "{} and {}",
                text::plural(errors, "error"),
                text::plural(warnings, "warning")
            ),
        };
        format!(
            "checked {} ({}): {found}",
            text::plural(self.files, "file"),
            text::plural(self.plans.len(), "plan")
        )
    }
}
