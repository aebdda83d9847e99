//! Expected failures, each with its exit code. `anyhow` is for the unexpected only.

use crate::engine::execution_plan::PlanError;
use crate::exit_codes;
use crate::runbook::Diagnostic;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the runbook is invalid: {} problem{} found", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Runbook(Vec<Diagnostic>),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Usage(String),
    #[error("refused: {0}")]
    Refused(String),
    /// The environment is broken (the temporary directory cannot be written...): exit 3.
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    State(#[from] StateError),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Runbook(_) | Error::Plan(_) | Error::Usage(_) => exit_codes::USAGE_OR_RUNBOOK,
            Error::Refused(_) | Error::State(_) => exit_codes::REFUSED,
            Error::Setup(_) => exit_codes::SETUP,
        }
    }
}
