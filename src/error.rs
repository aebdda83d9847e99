//! Expected failures, each variant with its exit code. `anyhow` is for the unexpected only.

use crate::engine::execution_plan::PlanError;
use crate::exit_codes;
use crate::runbook::Diagnostic;
use crate::state::StateError;

/// Every way a command ends other than success; [`Error::exit_code`] is the one place a
/// failure becomes an exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runbook does not load: exit 2.
    #[error("the runbook is invalid: {} problem{} found", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Runbook(Vec<Diagnostic>),
    /// The plan cannot be made from the runbook and the command line: exit 2.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The command line is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The command refused to run (wrong order, changed runbook, approval missing): exit 4.
    #[error("refused: {0}")]
    Refused(String),
    /// The state refused the command (lock held, stale or corrupt state): exit 4.
    #[error(transparent)]
    State(#[from] StateError),
    /// The environment is broken (the temporary directory cannot be written, AWS cannot be
    /// reached...): exit 3.
    #[error("{0}")]
    Setup(String),
    /// The state could not be saved in the middle of a run: exit 3.
    #[error("failed to save state: {0}")]
    Save(StateError),
    /// A step or a check failed; the run's report says which: exit 1.
    #[error("a step failed")]
    StepFailed,
    /// The operator pressed Ctrl-C: exit 130.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Runbook(_) | Error::Plan(_) | Error::Usage(_) => exit_codes::USAGE_OR_RUNBOOK,
            Error::State(StateError::Unreachable { .. }) => exit_codes::SETUP,
            Error::Refused(_) | Error::State(_) => exit_codes::REFUSED,
            Error::Setup(_) | Error::Save(_) => exit_codes::SETUP,
            Error::StepFailed => exit_codes::STEP_FAILED,
            Error::Interrupted => exit_codes::INTERRUPTED,
        }
    }

    /// What a run's summary says of why it stopped: the bare reason, without the `refused:`
    /// prefix a command's error line carries; nothing for a failed step, whose report says it.
    pub fn reason(&self) -> Option<String> {
        match self {
            Error::StepFailed => None,
            Error::Refused(m) | Error::Setup(m) | Error::Usage(m) => Some(m.clone()),
            other => Some(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_stopped_by_a_failed_save_exits_as_setup_and_says_so() {
        let e = Error::Save(StateError::NotLocked("/tmp/state".into()));
        assert_eq!(e.exit_code(), exit_codes::SETUP);
        assert!(e.reason().unwrap().starts_with("failed to save state: "));
    }

    #[test]
    fn a_refusal_s_reason_has_no_prefix_but_its_error_line_does() {
        let e = Error::Refused("lock held".into());
        assert_eq!(e.exit_code(), exit_codes::REFUSED);
        assert_eq!(e.reason().as_deref(), Some("lock held"));
        assert_eq!(e.to_string(), "refused: lock held");
    }

    #[test]
    fn a_failed_step_and_an_interrupt_have_their_own_codes() {
        assert_eq!(Error::StepFailed.exit_code(), exit_codes::STEP_FAILED);
        assert_eq!(Error::StepFailed.reason(), None);
        assert_eq!(Error::Interrupted.exit_code(), exit_codes::INTERRUPTED);
        assert_eq!(Error::Interrupted.reason().as_deref(), Some("interrupted"));
    }
}
