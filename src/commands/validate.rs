//! `validate`: load and check the runbook; run nothing.

use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::settings::{OutputFormat, Settings};

pub fn run(settings: &Settings, term: &Terminal) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let steps = runbook.steps().count();
    // The trusted fragments: written as they are, so a reviewer reads them first.
    let raw: Vec<_> = runbook
        .steps()
        .flat_map(|(_, step)| {
            step.raw_uses()
                .into_iter()
                .map(move |(field, text)| (step, field, text))
        })
        .collect();
    match settings.output {
        OutputFormat::Json => term.out(
            &serde_json::json!({
                "valid": true,
                "runbook": runbook.name,
                "description": runbook.description,
                "source": settings.runbook.describe(),
                "units": runbook.units.len(),
                "steps": steps,
                "raw": raw.iter().map(|(step, field, text)| serde_json::json!({
                    "step": step.id,
                    "field": field,
                    "template": text,
                    "file": step.file,
                    "line": step.loc.line,
                })).collect::<Vec<_>>(),
            })
            .to_string(),
        ),
        _ => {
            if !settings.quiet {
                term.out(&format!(
                    "{} runbook `{}` is valid: {} units, {steps} steps ({})",
                    term.style("✔", console::Style::new().green().bold()),
                    runbook.name,
                    runbook.units.len(),
                    settings.runbook.describe()
                ));
                if !raw.is_empty() {
                    term.out(&format!(
                        "{} field(s) write a var unescaped (`| raw`):",
                        raw.len()
                    ));
                }
                for (step, field, text) in &raw {
                    term.out(&format!(
                        "  {}:{}  step `{}` {field}: {text}",
                        step.file, step.loc.line, step.id
                    ));
                }
            }
        }
    }
    Ok(exit_codes::SUCCESS)
}
