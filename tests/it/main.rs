//! Integration tests: the real binary against real local servers, one test binary for all.

mod support;

mod approvals;
mod aws;
mod bad_runbooks;
#[cfg(feature = "failpoints")]
mod crash;
mod kinds;
mod output;
mod processes;
mod rehearsal;
mod resume;
mod runbook_errors;
mod state_lock;
