//! The diagnostic model: one problem, with its rule, severity, file, plan and place.

use serde::Serialize;

use super::rule::{Rule, Severity};
use crate::plan::Place;

/// One problem found in a plan. Serialized exactly as SPEC section 4 shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub rule: Rule,
    pub severity: Severity,
    /// The path as the user gave it, or as found under a given directory.
    pub file: String,
    /// The plan's name; `None` when the file did not parse far enough.
    pub plan: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
    pub help: String,
}

impl Diagnostic {
    #[must_use]
    pub fn place(&self) -> Option<Place> {
        Some(Place::new(self.line?, self.column?))
    }

    /// Orders diagnostics by file, then place, then rule, so output is stable.
    #[must_use]
    pub fn sort_key(&self) -> (&str, u32, u32, Rule) {
        (
            &self.file,
            self.line.unwrap_or(0),
            self.column.unwrap_or(0),
            self.rule,
        )
    }
}

/// Collects the diagnostics of one plan file.
#[derive(Debug)]
pub struct Findings {
    file: String,
    plan: Option<String>,
    list: Vec<Diagnostic>,
}

impl Findings {
    #[must_use]
    pub fn new(file: &str, plan: Option<&str>) -> Self {
        Self {
            file: file.to_owned(),
            plan: plan.map(str::to_owned),
            list: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        rule: Rule,
        place: Option<Place>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.list.push(Diagnostic {
            rule,
            severity: rule.severity(),
            file: self.file.clone(),
            plan: self.plan.clone(),
            line: place.map(|place| place.line),
            column: place.map(|place| place.column),
            message: message.into(),
            help: help.into(),
        });
    }

    #[must_use]
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.list
    }
}

/// Counts of a diagnostic list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

impl Counts {
    #[must_use]
    pub fn of(diagnostics: &[Diagnostic]) -> Self {
        let errors = diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == Severity::Error)
            .count();
        Self {
            errors,
            warnings: diagnostics.len() - errors,
        }
    }
}
