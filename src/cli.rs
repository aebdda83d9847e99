//! The command line (clap derive). `settings::resolve` turns it into the settings the core uses.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "outpost-migrate",
    version,
    about = "Runs the Outpost SSM-to-ECS-Fargate migration runbook as a resumable program",
    long_about = "Runs the Outpost migration runbook (pre-flight checks, phases 1-5, rollback levels 1-3, post-verification) \
                  step by step, saving state after every step so an interrupted run resumes where it stopped."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the runbook: syntax, fields, ids, templates, JMESPath. Runs nothing.
    Validate,
    /// Show the steps a command would run and what is already done.
    Plan {
        /// preflight, phase N, rollback N, verify or all (default).
        #[arg(num_args = 0..=2, value_name = "TARGET")]
        target: Vec<String>,
    },
    /// Run the pre-flight checks.
    Preflight,
    /// Run one migration phase (1-5).
    Phase {
        #[arg(value_parser = clap::value_parser!(u8).range(1..=5))]
        number: u8,
    },
    /// Roll back: level N runs levels 1..N (MCPify, then DNS, then infrastructure).
    Rollback {
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        level: u8,
    },
    /// Run the post-migration verification.
    Verify,
    /// Pre-flight, phases 1-5 and verification, resuming where a previous run stopped.
    Run,
    /// Show the saved state: each unit and step, when, attempts, captures.
    Status,
    /// Render the migration's evidence for its change ticket from the state and the audit log.
    Report {
        /// markdown (default) or html (one self-contained page with a timeline).
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
        /// Write the report to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Remove a lock left behind by a run that is gone.
    Unlock {
        /// The id shown by `status` or by the refused run; needed for a lock from another host.
        #[arg(long, value_name = "ID")]
        lock_id: Option<String>,
    },
}

/// What `report` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Markdown,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
    Junit,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// A runbook directory (holding runbook.yaml) or top file; default: the embedded runbook.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "OUTPOST_MIGRATE_RUNBOOK"
    )]
    pub runbook: Option<PathBuf>,
    /// Where state, lock and audit log live.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = ".outpost-migrate",
        env = "OUTPOST_MIGRATE_STATE_DIR"
    )]
    pub state_dir: PathBuf,
    /// Run read-only steps, show mutating ones without running them; change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Approve every step that needs approval and answer every confirmation yes.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Approve one step by id (repeatable).
    #[arg(long, global = true, value_name = "ID")]
    pub approve: Vec<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Override a runbook var (repeatable); a JSON value keeps its type.
    #[arg(long = "var", global = true, value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// AWS profile, with its own credentials only (default: AWS_PROFILE, else the runbook's `profile`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (default: the runbook's `region`; an environment region that differs is refused).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Seconds an AWS call waits to connect (as the AWS CLI's flag; default 5).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub cli_connect_timeout: Option<u64>,
    /// Seconds an AWS call waits for the answer to start, per attempt (as the AWS CLI's flag;
    /// default: the attempt's own limit, 20, CloudTrail 60).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub cli_read_timeout: Option<u64>,
    /// More logs on stderr (-v, -vv, -vvv).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only failures and the final line.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colours (also NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Run a phase even though earlier phases have not succeeded; roll back with no forward
    /// run recorded in the state.
    #[arg(long, global = true)]
    pub force: bool,
    /// Keep the earlier result of a succeeded step whose definition changed (repeatable).
    #[arg(long, global = true, value_name = "ID")]
    pub accept_changed: Vec<String>,
    /// Run again a step left in doubt by a crash (repeatable).
    #[arg(long, global = true, value_name = "ID")]
    pub retry_in_doubt: Vec<String>,
    /// Record a step left in doubt as done without running it (repeatable).
    #[arg(long, global = true, value_name = "ID")]
    pub mark_done: Vec<String>,
    /// Check runs at most this many checks at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Print the resolved settings as JSON and exit.
    #[arg(long, global = true, hide = true)]
    pub show_settings: bool,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}
