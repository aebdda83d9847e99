//! One file per command; `run` dispatches the resolved settings to it.

mod execute;
mod plan;
mod report;
mod status;
mod unlock;
mod validate;

use std::sync::Arc;

use crate::error::Error;
use crate::reporter::terminal::Terminal;
use crate::runbook::{self, Runbook};
use crate::secrets::Redactor;
use crate::settings::{Action, Settings};

/// Runs the command; returns the exit code of a command that ran to its end.
pub fn run(settings: Settings, redactor: Arc<Redactor>) -> Result<i32, Error> {
    let term = Arc::new(Terminal::new(
        settings.terminal,
        settings.quiet,
        settings.verbose,
    ));
    match &settings.action {
        Action::Validate => validate::run(&settings, &term),
        Action::Plan { .. } => plan::run(&settings, &term, &redactor),
        Action::Execute { .. } => execute::run(&settings, term, redactor),
        Action::Status => status::run(&settings, &term, &redactor),
        Action::Unlock { lock_id } => unlock::run(&settings, &term, lock_id.as_deref()),
        Action::Report(request) => report::run(&settings, &term, &redactor, request),
    }
}

fn load(settings: &Settings) -> Result<Runbook, Error> {
    runbook::load(&settings.runbook).map_err(Error::Runbook)
}

/// A report as one JSON line. Through `serde_json::Value`, so its keys come out sorted, as
/// they did when the reports were built as `json!` values.
fn json_line<T: serde::Serialize>(report: &T) -> String {
    serde_json::to_value(report)
        .map(|v| v.to_string())
        .unwrap_or_default()
}
