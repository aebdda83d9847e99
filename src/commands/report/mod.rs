//! `report`: the migration's evidence for its change ticket (who ran what and when, approvals,
//! each step's outcome and captures, failures with their hints, rollbacks), rendered from the
//! state and the audit log as Markdown or as one self-contained HTML page with a timeline.

mod evidence;
mod monitoring;
mod render;
mod timeline;

use crate::engine::execution_plan;
use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::request::Target;
use crate::secrets::Redactor;
use crate::settings::{ReportRequest, Settings};

pub fn run(
    settings: &Settings,
    term: &Terminal,
    redactor: &Redactor,
    request: &ReportRequest,
) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let store = settings.state_store_for(&vars);
    let Some(state) = store.load()? else {
        return Err(Error::Refused(format!(
            "no run has been recorded in {}: there is nothing to report (give --state-dir the directory the migration ran with)",
            settings.state_dir.display()
        )));
    };
    let audit = store.read_audit()?;
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let watch = execution_plan::build(&runbook, Target::Monitor, vars.clone(), &settings.env)?;
    let plan = execution_plan::build(&runbook, Target::All, vars, &settings.env)?;
    let sources = evidence::Sources {
        plan: &plan,
        watch: &watch,
        state: &state,
        audit: &audit,
        env: &settings.env,
        state_dir: settings.state_dir.display().to_string(),
    };
    let evidence = evidence::gather(&sources, redactor);
    let text = render::render(&evidence, request.format)
        .map_err(|e| Error::Setup(format!("failed to render the report: {e}")))?;
    // Every value was redacted before rendering; this pass also catches a secret the
    // template's own text put together.
    let text = redactor.redact(&text);
    match &request.out {
        None => term.out(text.trim_end()),
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| {
                Error::Setup(format!(
                    "failed to write the report to {}: {e}",
                    path.display()
                ))
            })?;
            term.err(&format!("report written to {}", path.display()));
        }
    }
    Ok(exit_codes::SUCCESS)
}
