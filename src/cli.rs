//! The command line (clap derive). Each subcommand takes only the arguments that mean
//! something to it, gathered in shared groups (`RunbookArgs`, `StateArgs`, `AwsArgs`,
//! `RunArgs`...), so clap rejects the rest; only the output and verbosity flags are global.
//! `settings::resolve` turns it into the settings the core uses.

pub mod docs;
mod help;
mod version;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use help::exit_codes_help;
pub use version::VERSION;

#[derive(Debug, Parser)]
#[command(
    name = "outpost-migrate",
    version = VERSION.as_str(),
    about = "Runs the Outpost SSM-to-ECS-Fargate migration runbook as a resumable program",
    long_about = "Runs the Outpost migration runbook (pre-flight checks, phases 1-5, rollback levels 1-3, post-verification) \
                  step by step, saving state after every step so an interrupted run resumes where it stopped.",
    after_help = help::TOP,
    after_long_help = help::long(help::TOP),
    subcommand_required = true,
    arg_required_else_help = true
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
    ///
    /// Loads every file of the runbook and reports every problem with file:line:col, then
    /// renders the vars with the `--var` overrides (an unknown var is an error, as in `plan`)
    /// and lists every field that writes a var unescaped (`| raw`).
    #[command(after_help = help::VALIDATE, after_long_help = help::long(help::VALIDATE))]
    Validate {
        #[command(flatten)]
        runbook: RunbookArgs,
    },
    /// Show the steps a command would run and what is already done.
    ///
    /// Each step is shown as `read`, `change` or `ask` (the operator), with its approvals,
    /// conditions and what the saved state says of it. Runs nothing and takes no lock.
    #[command(after_help = help::PLAN, after_long_help = help::long(help::PLAN))]
    Plan {
        /// What to plan: `preflight`, `phase N` (1-5), `rollback N` (1-3), `verify` or `all`
        /// (the default: everything, rollback levels included).
        #[arg(num_args = 0..=2, value_name = "TARGET")]
        target: Vec<String>,
        #[command(flatten)]
        runbook: RunbookArgs,
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// The run's own options: the preview counts the questions they answer and says
        /// whether they let a real run through (`--dry-run`: what a dry run would run).
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        force: ForceArgs,
        /// Also write the plan to FILE, the artifact to review, which `--plan FILE` applies
        /// (JSON, mode 0600, secrets redacted). For one command's target, not `all`.
        #[arg(long, value_name = "FILE", help_heading = "Saved plan")]
        out: Option<PathBuf>,
    },
    /// Run the pre-flight checks (concurrently).
    #[command(after_help = help::PREFLIGHT, after_long_help = help::long(help::PREFLIGHT))]
    Preflight {
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        jobs: JobsArgs,
    },
    /// Run one migration phase (1-5), its steps in order.
    ///
    /// Refused while pre-flight or an earlier phase has not succeeded, unless `--force`.
    #[command(after_help = help::PHASE, after_long_help = help::long(help::PHASE))]
    Phase {
        /// The phase: 1 deploy the ALB, 2 update DNS, 3 enable MCPify's HTTP provider,
        /// 4 disable the SSM-based provider, 5 verify the 7 MCP tools.
        #[arg(value_name = "NUMBER", value_parser = clap::value_parser!(u8).range(1..=5))]
        number: u8,
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        force: ForceArgs,
    },
    /// Roll back: level N runs levels 1..N (MCPify, then DNS, then infrastructure).
    ///
    /// Refused when the state records no forward run, unless `--force`; a step whose forward
    /// phase never ran is skipped.
    #[command(after_help = help::ROLLBACK, after_long_help = help::long(help::ROLLBACK))]
    Rollback {
        /// How far to roll back: 1 MCPify back to the SSM provider; 2 also the DNS record
        /// back to the legacy host; 3 also the infrastructure (the ALB destroyed, the
        /// control plane scaled down). Each level runs the levels below it first.
        #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(1..=3))]
        level: u8,
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        force: ForceArgs,
    },
    /// Run the post-migration verification (concurrently).
    #[command(after_help = help::VERIFY, after_long_help = help::long(help::VERIFY))]
    Verify {
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        jobs: JobsArgs,
    },
    /// Pre-flight, phases 1-5 and verification, resuming where a previous run stopped.
    #[command(after_help = help::RUN, after_long_help = help::long(help::RUN))]
    Run {
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        jobs: JobsArgs,
    },
    /// Watch the migration: the monitoring rows, each at its interval, for a window.
    ///
    /// A live table of each row's latest value, history, target, state and next check; the
    /// progress and history are saved, so a restart continues the window.
    Monitor {
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        jobs: JobsArgs,
        #[command(flatten)]
        monitor: MonitorArgs,
    },
    /// Show the saved state: a line per unit and the next command; TARGET or --all for steps.
    #[command(after_help = help::STATUS, after_long_help = help::long(help::STATUS))]
    Status {
        #[command(flatten)]
        runbook: RunbookArgs,
        #[command(flatten)]
        state: StateArgs,
        /// One unit's steps: preflight, phase N, verify, rollback N (default: the summary).
        #[arg(num_args = 0..=2, value_name = "TARGET")]
        target: Vec<String>,
        /// Every unit's steps: status, attempts, when, captures (secrets redacted).
        #[arg(long, conflicts_with = "target")]
        all: bool,
    },
    /// Render the migration's evidence for its change ticket from the state and the audit log.
    Report {
        #[command(flatten)]
        runbook: RunbookArgs,
        #[command(flatten)]
        state: StateArgs,
        /// markdown (default) or html (one self-contained page with a timeline).
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
        /// Write the report to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Diagnose a symptom of the troubleshooting guide: gather its evidence, name the cause.
    ///
    /// Runs the symptom's read-only unit (every symptom's without one) and prints each finding
    /// with its evidence and the guide's resolution. Exit 0: nothing abnormal; 1: a cause
    /// found. Takes no lock and writes no state.
    #[command(after_help = help::DIAGNOSE, after_long_help = help::long(help::DIAGNOSE))]
    Diagnose(DiagnoseArgs),
    /// Print the JSON Schema of the runbook's files, for editors to validate them.
    ///
    /// One schema for runbook.yaml, the unit files and included step files, generated from
    /// the types the loader reads them with. The repository keeps a copy in
    /// schema/runbook.schema.json, which the shipped files name on their first line.
    #[command(after_help = help::SCHEMA, after_long_help = help::long(help::SCHEMA))]
    Schema,
    /// Print the least-privilege IAM policy the target's `aws` steps need.
    ///
    /// Actions and resource ARNs come from the plan's `aws` steps with the vars rendered:
    /// the account is the runbook's `account`, the region its `region` var. What the policy
    /// cannot cover (values captured during the run, programs `shell` steps run) is noted on
    /// stderr. With OUTPOST_MIGRATE_STATE=s3://bucket/prefix it grants the S3 state backend's
    /// objects too. Never an action that reads a secret's value.
    #[command(name = "iam-policy", after_help = help::IAM_POLICY, after_long_help = help::long(help::IAM_POLICY))]
    IamPolicy {
        /// Whose steps: `preflight`, `phase N` (1-5), `rollback N` (1-3), `verify` or `all`
        /// (the default).
        #[arg(num_args = 0..=2, value_name = "TARGET")]
        target: Vec<String>,
        #[command(flatten)]
        runbook: RunbookArgs,
    },
    /// Remove a lock left behind by a run that is gone.
    #[command(after_help = help::UNLOCK, after_long_help = help::long(help::UNLOCK))]
    Unlock {
        /// The id shown by `status` or by the refused run; needed for a lock from another host.
        #[arg(long, value_name = "ID")]
        lock_id: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Approve, as the second person, a step a run waits at (`approval: second_person`).
    ///
    /// Run as an AWS identity other than the waiting run's operator, against the same state.
    /// It takes no lock (the waiting run holds it); it records the approval with your caller
    /// ARN in the audit log, for that step in that run only.
    #[command(after_help = help::APPROVE, after_long_help = help::long(help::APPROVE))]
    Approve {
        /// The id of the step the run waits at, as the run shows it.
        #[arg(value_name = "STEP_ID")]
        step: String,
        #[command(flatten)]
        runbook: RunbookArgs,
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// `completions SHELL` and `man`, answered before the settings (`cli/docs.rs`).
    #[command(flatten)]
    Docs(docs::DocsCommand),
}

/// `diagnose`'s arguments.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// control-plane, dispatch-pending, agent NAME, auth or artifacts DISPATCH_ID; none:
    /// every symptom (agent and artifacts only with their var set, else skipped).
    #[arg(value_name = "SYMPTOM")]
    pub symptom: Option<String>,
    /// agent: the agent's name (var diagnose_agent); artifacts: the dispatch id (var
    /// diagnose_dispatch_id).
    #[arg(value_name = "ARGUMENT", requires = "symptom")]
    pub argument: Option<String>,
    #[command(flatten)]
    pub runbook: RunbookArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub jobs: JobsArgs,
}

/// How `monitor` watches.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Monitoring")]
pub struct MonitorArgs {
    /// Run every row once and exit: 0 when all are within target, 1 on a breach (named).
    #[arg(long)]
    pub once: bool,
    /// How long to watch from the first check (a restart continues the window).
    #[arg(long = "for", value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub window: Option<std::time::Duration>,
    /// Run the rollback a row's sustained breach calls for without asking.
    #[arg(long)]
    pub auto_rollback: bool,
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

/// What every command takes, before or after its name: how it reports.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Output format: human lines, JSON lines (the last one holds `exit_code` and `error`),
    /// or a JUnit report; JSON and JUnit are written to stdout also when the command fails.
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// More logs on stderr (-v, -vv, -vvv).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only failures and the final line.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colours (also NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print the resolved settings as JSON and exit.
    #[arg(long, global = true, hide = true)]
    pub show_settings: bool,
}

/// Which runbook, and its vars.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Runbook")]
pub struct RunbookArgs {
    /// A runbook directory (holding runbook.yaml) or top file; default: the embedded runbook.
    #[arg(long, value_name = "PATH", env = "OUTPOST_MIGRATE_RUNBOOK")]
    pub runbook: Option<PathBuf>,
    /// Override a runbook var (repeatable); a JSON value keeps its type. An unknown var is an
    /// error.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

/// Where the state lives.
#[derive(Debug, Args)]
#[command(next_help_heading = "State")]
pub struct StateArgs {
    /// Where state, lock, audit log and file backups live.
    #[arg(
        long,
        value_name = "DIR",
        default_value = DEFAULT_STATE_DIR,
        env = "OUTPOST_MIGRATE_STATE_DIR"
    )]
    pub state_dir: PathBuf,
    /// Where the state lives: `s3://BUCKET/PREFIX` for state shared by a team (lock lease,
    /// encrypted objects), or a directory (as --state-dir).
    #[arg(
        long,
        value_name = "URL",
        env = "OUTPOST_MIGRATE_STATE",
        conflicts_with = "state_dir"
    )]
    pub state: Option<String>,
    /// The KMS key (id, ARN or alias) S3 state objects are encrypted with; default: SSE-S3.
    #[arg(long, value_name = "KEY", env = "OUTPOST_MIGRATE_STATE_KMS_KEY")]
    pub state_kms_key: Option<String>,
}

/// The state directory of a command that has none (`validate`).
pub const DEFAULT_STATE_DIR: &str = ".outpost-migrate";

impl Default for StateArgs {
    fn default() -> Self {
        StateArgs {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            state: None,
            state_kms_key: None,
        }
    }
}

/// Where AWS calls go.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS profile, with its own credentials only (default: AWS_PROFILE, else the runbook's `profile`).
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region (default: the runbook's `region`; an environment region that differs is refused).
    #[arg(long)]
    pub region: Option<String>,
    /// Seconds an AWS call waits to connect (as the AWS CLI's flag; default 5).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub cli_connect_timeout: Option<u64>,
    /// Seconds an AWS call waits for the answer to start, per attempt (as the AWS CLI's flag;
    /// default: the attempt's own limit, 20, CloudTrail 60).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub cli_read_timeout: Option<u64>,
}

/// What every command that runs steps takes.
#[derive(Debug, Default, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub runbook: RunbookArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Send no notification (Slack, PagerDuty, SNS) for this run.
    #[arg(long, help_heading = "Running")]
    pub no_notify: bool,
    #[command(flatten)]
    pub saved: SavedPlanArgs,
}

/// `--plan FILE`: run what a reviewed saved plan says, or nothing.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Saved plan")]
pub struct SavedPlanArgs {
    /// Run only while the saved plan (`plan TARGET --out FILE`) still matches: runbook, steps,
    /// vars, state serial, AWS account and region, command. Otherwise refused (exit 4),
    /// naming what changed.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
}

/// How a run runs: dry, approvals, and the answers to the guards' questions.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Running")]
pub struct RunArgs {
    /// Run read-only steps, show mutating ones without running them; change nothing, take no lock.
    #[arg(long)]
    pub dry_run: bool,
    /// Approve every step that needs approval and answer every confirmation yes.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Approve one step by id (repeatable).
    #[arg(long, value_name = "ID")]
    pub approve: Vec<String>,
    /// Keep the earlier result of a succeeded step whose definition changed (repeatable).
    #[arg(long, value_name = "ID")]
    pub accept_changed: Vec<String>,
    /// Run again a step left in doubt by a crash (repeatable).
    #[arg(long, value_name = "ID")]
    pub retry_in_doubt: Vec<String>,
    /// Record a step left in doubt as done without running it (repeatable).
    #[arg(long, value_name = "ID")]
    pub mark_done: Vec<String>,
}

/// `--force`: for the commands whose order it overrides.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Running")]
pub struct ForceArgs {
    /// Run a phase even though earlier phases have not succeeded; roll back with no forward
    /// run recorded in the state.
    #[arg(long)]
    pub force: bool,
}

/// `--jobs`: for the commands that run check units.
#[derive(Debug, Args)]
#[command(next_help_heading = "Running")]
pub struct JobsArgs {
    /// How many checks may run at once (pre-flight and verification run their checks
    /// concurrently).
    #[arg(
        long,
        value_name = "N",
        env = "OUTPOST_MIGRATE_JOBS",
        default_value_t = DEFAULT_JOBS,
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub jobs: u16,
}

/// Checks run at once when `--jobs` is not given.
pub const DEFAULT_JOBS: u16 = 16;

impl Default for JobsArgs {
    fn default() -> Self {
        JobsArgs { jobs: DEFAULT_JOBS }
    }
}

/// The `--output` a command line asks for, read from the words themselves: a command line
/// clap refused still gets its JSON or JUnit document.
pub fn requested_output(args: &[String]) -> Output {
    let mut output = Output::Human;
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let value = match word.strip_prefix("--output") {
            Some("") => words.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(o) = value.and_then(|v| Output::from_str(v, true).ok()) {
            output = o;
        }
    }
    output
}

/// The subcommand a command line names, as far as it can be told (`validate`, `phase`...).
pub fn command_word(args: &[String]) -> String {
    use clap::CommandFactory;
    let cli = Cli::command();
    args.iter()
        .skip(1)
        .find(|w| cli.find_subcommand(w.as_str()).is_some())
        .cloned()
        .unwrap_or_else(|| "outpost-migrate".to_owned())
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_requested_output_is_read_from_the_words() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let of = |s: &str| requested_output(&words(s));
        assert_eq!(of("x validate --output json --bogus"), Output::Json);
        assert_eq!(of("x --output=junit plan"), Output::Junit);
        assert_eq!(of("x run --output xml"), Output::Human);
        assert_eq!(of("x run -- --output json"), Output::Human);
        assert_eq!(command_word(&words("x --output json phase 9")), "phase");
    }
}
