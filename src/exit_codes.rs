//! Exit codes of `outpost-migrate`, one named constant each (documented in the README).

/// Everything that was asked for succeeded (a dry run: every read-only step passed).
pub const SUCCESS: i32 = 0;
/// A check or a step failed.
pub const STEP_FAILED: i32 = 1;
/// The command line or the runbook is invalid.
pub const USAGE_OR_RUNBOOK: i32 = 2;
/// AWS, credentials or network set-up is broken (nothing was judged).
pub const SETUP: i32 = 3;
/// The command refused to run: lock held, wrong order, nothing recorded to roll back, changed
/// runbook, approval missing.
pub const REFUSED: i32 = 4;
/// Interrupted by the operator (Ctrl-C).
pub const INTERRUPTED: i32 = 130;
