//! `validate`: load and check the runbook; run nothing.

use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::settings::{OutputFormat, Settings};

pub fn run(settings: &Settings, term: &Terminal) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let steps = runbook.steps().count();
    match settings.output {
        OutputFormat::Json => term.out(
            &serde_json::json!({
                "valid": true,
                "runbook": runbook.name,
                "description": runbook.description,
                "source": settings.runbook.describe(),
                "units": runbook.units.len(),
                "steps": steps,
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
            }
        }
    }
    Ok(exit_codes::SUCCESS)
}
