//! Integration tests: the real binary against real local servers, one test binary for all.

mod support;

mod approvals;
mod at_the_terminal;
mod aws;
mod aws_cli_parity;
mod aws_operations;
mod aws_region;
mod bad_runbooks;
mod bounds;
mod break_matrix;
mod cli_surface;
#[cfg(feature = "failpoints")]
mod crash;
mod dns;
mod dry_run;
mod failing_checks;
mod guidance;
mod infra;
mod kinds;
mod latency;
mod mcpify_env;
mod notify;
mod output;
mod plan_preview;
mod preflight;
mod processes;
mod promises;
mod promises_more;
mod reads;
mod realistic;
mod rehearsal;
mod report;
mod resume;
mod runbook_errors;
mod s3_state;
mod secrets;
mod ssm_cutover;
mod state_dir;
mod state_lock;
mod status_summary;
mod templates;
