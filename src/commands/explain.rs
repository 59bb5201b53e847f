//! `refreshctl rules` and `refreshctl explain RULE`.

use std::io::Write;

use serde_json::json;

use crate::cli::{ExplainArgs, ListFormat, RulesArgs};
use crate::error::{Error, exit};
use crate::plan::load::did_you_mean;
use crate::rules::{EXAMPLE_NOW, Rule, Scope};

pub fn list(args: &RulesArgs, out: &mut dyn Write) -> Result<u8, Error> {
    match args.format {
        ListFormat::Text => {
            for rule in Rule::ALL {
                writeln!(
                    out,
                    "{:<26} {:<8} {:<9} {}",
                    rule.id(),
                    rule.severity(),
                    scope_name(rule.scope()),
                    rule.summary()
                )?;
            }
        }
        ListFormat::Json => {
            let rules: Vec<_> = Rule::ALL
                .iter()
                .map(|rule| {
                    json!({
                        "id": rule.id(),
                        "severity": rule.severity(),
                        "scope": rule.scope(),
                        "summary": rule.summary(),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rules).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    Ok(exit::SUCCESS)
}

pub fn explain(args: &ExplainArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let Some(rule) = Rule::from_id(args.rule.trim()) else {
        let ids: Vec<&str> = Rule::ALL.iter().map(|rule| rule.id()).collect();
        return Err(Error::UnknownRule {
            rule: args.rule.clone(),
            hint: format!(
                "{}; `refreshctl rules` lists them",
                did_you_mean(&args.rule, &ids, "rules")
            ),
        });
    };
    let explanation = rule.explanation();
    writeln!(
        out,
        "{} ({}, {})\n",
        rule.id(),
        rule.severity(),
        match rule.scope() {
            Scope::Plan => "checks one plan",
            Scope::PlanSet => "checks the plans validated together",
        }
    )?;
    writeln!(out, "Fires when {}\n", explanation.fires_when)?;
    writeln!(out, "Why: {}\n", explanation.why)?;
    let names: Vec<String> = (1..=explanation.example.len())
        .map(|number| {
            if explanation.example.len() == 1 {
                "example.yaml".to_owned()
            } else {
                format!("example-{number}.yaml")
            }
        })
        .collect();
    let flags: String = explanation
        .example_flags
        .iter()
        .flat_map(|flag| [" ", flag])
        .collect();
    writeln!(
        out,
        "Example (fires with `refreshctl validate --now {EXAMPLE_NOW}{flags} {}`):",
        names.join(" ")
    )?;
    for (name, plan) in names.iter().zip(explanation.example) {
        writeln!(out, "\n  # {name}")?;
        for line in plan.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(exit::SUCCESS)
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Plan => "plan",
        Scope::PlanSet => "plan-set",
    }
}
