//! `validate --format json`: exactly one JSON object (SPEC 4).

use std::io::{self, Write};

use serde::Serialize;

use super::ValidationReport;
use crate::plan::time::format_utc;
use crate::rules::Diagnostic;

#[derive(Serialize)]
struct Output<'a> {
    format_version: u32,
    now: String,
    summary: Summary,
    diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    plans: usize,
    errors: usize,
    warnings: usize,
}

pub fn render(report: &ValidationReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    let counts = report.counts();
    let output = Output {
        format_version: 1,
        now: format_utc(report.now),
        summary: Summary {
            files: report.files,
            plans: report.plans.len(),
            errors: counts.errors,
            warnings: counts.warnings,
        },
        diagnostics: report.diagnostics,
    };
    serde_json::to_writer_pretty(&mut *out, &output)?;
    writeln!(out)
}
