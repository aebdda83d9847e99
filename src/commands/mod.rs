//! One file per command; `run` dispatches the resolved settings to it.

mod approve;
mod diagnose;
mod execute;
mod iam_policy;
mod monitor;
mod monitor_breach;
mod plan;
mod plan_human;
mod plan_junit;
mod plan_preview;
mod report;
mod saved_plan;
mod schema;
mod status;
mod status_human;
mod status_next;
mod unlock;
mod validate;

use std::sync::Arc;

use crate::error::Error;
use crate::reporter::document::{self, Case};
use crate::reporter::terminal::Terminal;
use crate::request::Target;
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
        Action::Execute { .. } if settings.target == Some(Target::Monitor) => {
            monitor::run(&settings, term, redactor)
        }
        Action::Execute { .. } => execute::run(&settings, term, redactor),
        Action::Diagnose(_) => diagnose::run(&settings, term, redactor),
        Action::Status { .. } => status::run(&settings, &term, &redactor),
        Action::Unlock { lock_id } => unlock::run(&settings, &term, lock_id.as_deref()),
        Action::Report(request) => report::run(&settings, &term, &redactor, request),
        Action::Approve { step } => approve::run(&settings, &term, step),
        Action::Schema => schema::run(&settings, &term),
        Action::IamPolicy { .. } => iam_policy::run(&settings, &term),
    }
}

fn load(settings: &Settings) -> Result<Runbook, Error> {
    runbook::load(&settings.runbook).map_err(Error::Runbook)
}

/// A report as one JSON line, with `exit_code` 0 and no `error` as every command's last
/// line has them. Through `serde_json::Value`, so its keys come out sorted, as they did when
/// the reports were built as `json!` values.
fn json_line<T: serde::Serialize>(report: &T) -> String {
    document::json_success(serde_json::to_value(report).unwrap_or_default())
}

/// A command's JUnit report on stdout (`--output junit`).
fn junit_out(term: &Terminal, command: &str, cases: Vec<Case>) {
    match document::junit(command, crate::exit_codes::SUCCESS, cases) {
        Ok(xml) => term.out(&xml),
        Err(e) => term.err(&format!("error: {e}")),
    }
}
