//! `validate`: load and check the runbook, and the `--var` overrides as `plan` does; run
//! nothing.

use crate::engine::execution_plan;
use crate::error::Error;
use crate::exit_codes;
use crate::reporter::document::Case;
use crate::reporter::terminal::Terminal;
use crate::settings::{OutputFormat, Settings};

pub fn run(settings: &Settings, term: &Terminal) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    // An unknown `--var` is refused here as `plan` refuses it. (A templated `for_each` is
    // expanded, and bounded, by the commands that plan.)
    execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
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
        OutputFormat::Json => term.out(&crate::reporter::document::json_success(
            serde_json::json!({
                "valid": true,
                "runbook": runbook.name,
                "description": runbook.description,
                "source": settings.runbook.describe(),
                "sha256": runbook.digest,
                "units": runbook.units.len(),
                "steps": steps,
                "raw": raw.iter().map(|(step, field, text)| serde_json::json!({
                    "step": step.id,
                    "field": field,
                    "template": text,
                    "file": step.file,
                    "line": step.loc.line,
                })).collect::<Vec<_>>(),
            }),
        )),
        OutputFormat::Junit => super::junit_out(
            term,
            "validate",
            vec![
                Case::passed(format!("runbook `{}` is valid", runbook.name))
                    .property("source", settings.runbook.describe())
                    .property("sha256", &runbook.digest)
                    .property("units", runbook.units.len())
                    .property("steps", steps)
                    .property("unescaped", raw.len()),
            ],
        ),
        OutputFormat::Human => {
            if !settings.quiet {
                term.out(&format!(
                    "{} runbook `{}` is valid: {} units, {steps} steps ({}, sha256:{})",
                    term.style("✔", console::Style::new().green().bold()),
                    runbook.name,
                    runbook.units.len(),
                    settings.runbook.describe(),
                    &runbook.digest[..12]
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
