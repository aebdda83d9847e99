//! Exit codes of `outpost-migrate`, one named constant each (documented in the README and,
//! from `ALL`, in the long help).

/// Everything that was asked for succeeded (a dry run: every read-only step passed).
pub const SUCCESS: i32 = 0;
/// A check or a step failed.
pub const STEP_FAILED: i32 = 1;
/// The command line or the runbook is invalid, or a `--plan` file is not a saved plan.
pub const USAGE_OR_RUNBOOK: i32 = 2;
/// AWS, credentials or network set-up is broken (nothing was judged).
pub const SETUP: i32 = 3;
/// The command refused to run: lock held, wrong order, nothing recorded to roll back, changed
/// runbook, approval missing, a saved plan that no longer holds.
pub const REFUSED: i32 = 4;
/// Interrupted by the operator (Ctrl-C).
pub const INTERRUPTED: i32 = 130;

/// An exit code as the help and the machine output name it.
#[derive(Debug, Clone, Copy)]
pub struct ExitCode {
    pub code: i32,
    pub name: &'static str,
    pub meaning: &'static str,
}

/// Every exit code, in order.
pub const ALL: &[ExitCode] = &[
    ExitCode {
        code: SUCCESS,
        name: "SUCCESS",
        meaning: "everything asked for succeeded (a dry run: every read-only step passed)",
    },
    ExitCode {
        code: STEP_FAILED,
        name: "STEP_FAILED",
        meaning: "a check or step failed",
    },
    ExitCode {
        code: USAGE_OR_RUNBOOK,
        name: "USAGE_OR_RUNBOOK",
        meaning: "bad command line or invalid runbook",
    },
    ExitCode {
        code: SETUP,
        name: "SETUP",
        meaning: "AWS, credentials, network or environment set-up error",
    },
    ExitCode {
        code: REFUSED,
        name: "REFUSED",
        meaning: "refused: lock held, phase order, changed runbook, step in doubt, approval missing...",
    },
    ExitCode {
        code: INTERRUPTED,
        name: "INTERRUPTED",
        meaning: "Ctrl-C: the running step finished, state was saved",
    },
];

/// The name of an exit code (`REFUSED`), for the machine output.
pub fn name(code: i32) -> &'static str {
    ALL.iter()
        .find(|c| c.code == code)
        .map_or("UNKNOWN", |c| c.name)
}
