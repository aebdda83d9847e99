//! One file per command; `run` dispatches the resolved settings to it.

mod execute;
mod plan;
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
        settings.color,
        settings.quiet,
        settings.verbose,
    ));
    match &settings.action {
        Action::Validate => validate::run(&settings, &term),
        Action::Plan { .. } => plan::run(&settings, &term, &redactor),
        Action::Execute { .. } => execute::run(&settings, term, redactor),
        Action::Status => status::run(&settings, &term, &redactor),
        Action::Unlock { lock_id } => unlock::run(&settings, &term, lock_id.as_deref()),
    }
}

/// Where a step writes a var unescaped (`{{ name | raw }}`): the field and its template, its
/// `verify` probe's included, for `validate` and `plan` to list.
fn raw_uses(step: &runbook::Step) -> Vec<(String, String)> {
    let mut uses: Vec<(String, String)> = crate::template::spec_strings(&step.spec)
        .into_iter()
        .filter(|(_, text)| crate::template::raw_names(text).is_ok_and(|names| !names.is_empty()))
        .map(|(path, text)| {
            let mut field = step.kind.name().to_owned();
            path.iter().for_each(|p| {
                field.push('.');
                field.push_str(p);
            });
            (field, text.to_owned())
        })
        .collect();
    if let Some(probe) = &step.verify {
        uses.extend(
            raw_uses(probe)
                .into_iter()
                .map(|(field, text)| (format!("verify.{field}"), text)),
        );
    }
    uses
}

fn load(settings: &Settings) -> Result<Runbook, Error> {
    runbook::load(&settings.runbook).map_err(Error::Runbook)
}
