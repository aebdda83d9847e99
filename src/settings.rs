//! Settings: the command line and environment resolved once into what the core receives.
//! Nothing past this point reads the environment or clap types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{
    AwsArgs, Cli, Command, ExecArgs, ForceArgs, JobsArgs, MonitorArgs, Output, RunArgs,
    RunbookArgs, StateArgs,
};
use crate::error::Error;
use crate::kinds::aws::AwsConfig;
use crate::request::{Overrides, Target};
use crate::runbook::RunbookSource;

mod aws;
mod diagnose;
mod monitor;
mod notify;
mod state;
mod target;
mod terminal;
mod typed;
mod user;

pub use aws::AwsSettings;
pub use monitor::MonitorSettings;
pub use notify::NotifySettings;
pub use state::StateSettings;
pub use target::parse_target;
#[cfg(test)]
use terminal::HEARTBEAT_ENV;
pub use terminal::{HEARTBEAT, TerminalSettings, Ttys};

pub use crate::cli::Output as OutputFormat;
pub use crate::cli::ReportFormat;

/// What to do.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Action {
    Validate,
    Plan {
        target: String,
        /// `--out FILE`: where the saved plan is written.
        #[serde(skip_serializing_if = "Option::is_none")]
        out: Option<PathBuf>,
    },
    Execute {
        target: String,
        /// `--plan FILE`: the saved plan the command must match.
        #[serde(skip_serializing_if = "Option::is_none")]
        plan: Option<PathBuf>,
    },
    /// `target`: one unit's steps (`phase 3`...), `all` for every unit's, `None` for the
    /// summary.
    Status {
        target: Option<String>,
    },
    Unlock {
        lock_id: Option<String>,
    },
    Report(ReportRequest),
    Approve {
        step: String,
    },
    /// `diagnose [SYMPTOM]`.
    Diagnose(diagnose::DiagnoseRequest),
    Schema,
    IamPolicy {
        target: String,
    },
}

impl Action {
    /// The command as the machine output names it: `validate`, `plan`, `phase 3`,
    /// `rollback --level 2`, `status`, `unlock`.
    pub fn name(&self) -> String {
        match self {
            Action::Validate => "validate".into(),
            Action::Plan { .. } => "plan".into(),
            Action::Execute { target, .. } => target.clone(),
            Action::Status { .. } => "status".into(),
            Action::Unlock { .. } => "unlock".into(),
            Action::Report(_) => "report".into(),
            Action::Approve { .. } => "approve".into(),
            Action::Diagnose(_) => "diagnose".into(),
            Action::Schema => "schema".into(),
            Action::IamPolicy { .. } => "iam-policy".into(),
        }
    }
}

/// What `report` renders, and where (stdout when `out` is `None`).
#[derive(Debug, Clone, Serialize)]
pub struct ReportRequest {
    pub format: ReportFormat,
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub action: Action,
    #[serde(skip)]
    pub target: Option<Target>,
    #[serde(serialize_with = "describe_source")]
    pub runbook: RunbookSource,
    /// The state as messages name it: the directory, or the `s3://` URL.
    pub state_dir: PathBuf,
    pub state: StateSettings,
    pub dry_run: bool,
    pub yes: bool,
    pub approve: BTreeSet<String>,
    #[serde(serialize_with = "output_name")]
    pub output: OutputFormat,
    pub vars: Vec<(String, String)>,
    pub aws: AwsSettings,
    pub verbose: u8,
    pub quiet: bool,
    pub terminal: TerminalSettings,
    #[serde(skip)]
    pub overrides: Overrides,
    pub jobs: usize,
    /// Where notifications go, and their secrets (never printed).
    pub notify: NotifySettings,
    pub monitor: MonitorSettings,
    /// The environment as templates see it (`env.NAME`); never printed.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// Environment variables whose values are secrets and must be redacted: name, value.
    #[serde(skip)]
    pub secret_env: Vec<(String, String)>,
    pub user: String,
    pub host: String,
    /// The command as typed, recorded in the lock and audit log (redacted once the secrets
    /// are known, in `main`).
    pub command_line: String,
    /// The command as typed, word by word, for the hints that repeat it (redacted in `main`).
    #[serde(skip)]
    pub typed: crate::command_line::TypedCommand,
    pub show_settings: bool,
}

fn describe_source<S: serde::Serializer>(s: &RunbookSource, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.describe())
}

fn output_name<S: serde::Serializer>(o: &OutputFormat, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(match o {
        Output::Human => "human",
        Output::Json => "json",
        Output::Junit => "junit",
    })
}

/// Environment variables whose values are secrets wherever they appear.
const SECRET_ENV: &[&str] = &[
    "OUTPOST_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    notify::SLACK_WEBHOOK_ENV,
    notify::PAGERDUTY_KEY_ENV,
];

/// The environment's secrets (name, value), to be redacted wherever they appear.
pub fn secret_env(env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    SECRET_ENV
        .iter()
        .filter_map(|k| env.get(*k).map(|v| (k.to_string(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

impl Settings {
    /// The AWS configuration of a run whose plan calls AWS, from `--profile`/`--region`, the
    /// environment and the runbook's vars `profile` and `region` (the rules are in the
    /// README's "AWS configuration"). An environment region that differs from the runbook's,
    /// with no `--region` to say which, is refused.
    pub fn aws_config(&self, vars: &Map<String, Value>) -> Result<AwsConfig, Error> {
        aws::config(&self.aws, &self.env, vars)
    }
}

/// The argument groups of a command; a group the command does not take keeps its default.
#[derive(Default)]
struct Groups {
    runbook: RunbookArgs,
    state: StateArgs,
    aws: AwsArgs,
    run: RunArgs,
    force: bool,
    jobs: JobsArgs,
    no_notify: bool,
    saved_plan: Option<PathBuf>,
    monitor: MonitorArgs,
}

impl Groups {
    fn exec(exec: ExecArgs) -> Self {
        Groups {
            runbook: exec.runbook,
            state: exec.state,
            aws: exec.aws,
            run: exec.run,
            no_notify: exec.no_notify,
            saved_plan: exec.saved.plan,
            ..Groups::default()
        }
    }

    fn with_jobs(self, jobs: JobsArgs) -> Self {
        Groups { jobs, ..self }
    }

    fn with(self, monitor: MonitorArgs) -> Self {
        Groups { monitor, ..self }
    }

    fn with_force(self, force: ForceArgs) -> Self {
        Groups {
            force: force.force,
            ..self
        }
    }
}

/// What the command asks for, and the argument groups it was given.
fn split(command: Command) -> Result<(Action, Option<Target>, Groups), Error> {
    let exec_of = |t: Target, mut groups: Groups| {
        let plan = groups.saved_plan.take();
        (exec(t, plan), Some(t), groups)
    };
    Ok(match command {
        Command::Validate { runbook } => (
            Action::Validate,
            None,
            Groups {
                runbook,
                ..Groups::default()
            },
        ),
        Command::Plan {
            target,
            runbook,
            state,
            aws,
            run,
            force,
            out,
        } => {
            let t = parse_target(&target)?;
            let groups = Groups {
                runbook,
                state,
                aws,
                run,
                force: force.force,
                ..Groups::default()
            };
            (
                Action::Plan {
                    target: t.to_string(),
                    out,
                },
                Some(t),
                groups,
            )
        }
        Command::Preflight { exec, jobs } => {
            exec_of(Target::Preflight, Groups::exec(exec).with_jobs(jobs))
        }
        Command::Phase {
            number,
            exec,
            force,
        } => exec_of(Target::Phase(number), Groups::exec(exec).with_force(force)),
        Command::Rollback { level, exec, force } => exec_of(
            Target::Rollback(level),
            Groups::exec(exec).with_force(force),
        ),
        Command::Verify { exec, jobs } => {
            exec_of(Target::Verify, Groups::exec(exec).with_jobs(jobs))
        }
        Command::Run { exec, jobs } => exec_of(Target::Run, Groups::exec(exec).with_jobs(jobs)),
        Command::Monitor {
            exec,
            jobs,
            monitor,
        } => exec_of(
            Target::Monitor,
            Groups::exec(exec).with_jobs(jobs).with(monitor),
        ),
        Command::Status {
            runbook,
            state,
            target,
            all,
        } => {
            let (action, target) = status_target(&target, all)?;
            (
                action,
                target,
                Groups {
                    runbook,
                    state,
                    ..Groups::default()
                },
            )
        }
        Command::Report {
            runbook,
            state,
            format,
            out,
        } => (
            Action::Report(ReportRequest { format, out }),
            None,
            Groups {
                runbook,
                state,
                ..Groups::default()
            },
        ),
        Command::Approve {
            step,
            runbook,
            state,
            aws,
        } => {
            let groups = Groups {
                runbook,
                state,
                aws,
                ..Groups::default()
            };
            (Action::Approve { step }, None, groups)
        }
        Command::Diagnose(args) => diagnose::split(args)?,
        Command::Docs(_) => return Err(crate::cli::docs::not_a_setting()),
        Command::Schema => (Action::Schema, None, Groups::default()),
        Command::IamPolicy { target, runbook } => {
            let t = parse_target(&target)?;
            let action = Action::IamPolicy {
                target: t.to_string(),
            };
            (
                action,
                Some(t),
                Groups {
                    runbook,
                    ..Groups::default()
                },
            )
        }
        Command::Unlock { lock_id, state } => (
            Action::Unlock { lock_id },
            None,
            Groups {
                state,
                ..Groups::default()
            },
        ),
    })
}

/// Resolves the command line and environment into settings.
pub fn resolve(
    cli: Cli,
    env: BTreeMap<String, String>,
    args: Vec<String>,
) -> Result<Settings, Error> {
    let g = cli.global;
    let (action, target, groups) = split(cli.command)?;
    let Groups {
        runbook: RunbookArgs { runbook, vars },
        state: state_args,
        aws,
        run,
        force,
        jobs: JobsArgs { jobs },
        no_notify,
        saved_plan: _,
        monitor,
    } = groups;
    let terminal = TerminalSettings::resolve(g.no_color, &env, g.output, g.quiet, Ttys::detect());
    let runbook = match &runbook {
        Some(path) => {
            if !path.exists() {
                return Err(Error::Usage(format!(
                    "--runbook {}: no such file or directory",
                    path.display()
                )));
            }
            RunbookSource::from_path(path)
        }
        None => RunbookSource::Embedded,
    };
    let user = env
        .get("USER")
        .or_else(|| env.get("LOGNAME"))
        .cloned()
        .unwrap_or_else(user::current_user);
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let secret_env = secret_env(&env);
    let (state, state_dir) = state::resolve(state_args, &env)?;
    Ok(Settings {
        action,
        target,
        runbook,
        state_dir,
        state,
        dry_run: run.dry_run,
        yes: run.yes,
        approve: run.approve.into_iter().collect(),
        output: g.output,
        vars,
        aws: AwsSettings {
            profile: aws.profile,
            region: aws.region,
            connect_timeout: aws.cli_connect_timeout,
            read_timeout: aws.cli_read_timeout,
        },
        verbose: g.verbose,
        quiet: g.quiet,
        terminal,
        overrides: Overrides {
            force,
            accept_changed: run.accept_changed.into_iter().collect(),
            retry_in_doubt: run.retry_in_doubt.into_iter().collect(),
            mark_done: run.mark_done.into_iter().collect(),
        },
        jobs: usize::from(jobs),
        notify: NotifySettings::resolve(no_notify, &env),
        monitor: MonitorSettings::from(monitor),
        env,
        secret_env,
        user,
        host,
        command_line: crate::command_line::shell_words(&args),
        typed: typed::typed(&args),
        show_settings: g.show_settings,
    })
}

/// `status` alone: the summary; `status TARGET`: that unit's steps (`rollback N` is level N
/// alone); `status --all` (or `status all`): every unit's.
fn status_target(words: &[String], all: bool) -> Result<(Action, Option<Target>), Error> {
    let target = match (words.is_empty(), all) {
        (true, false) => None,
        (true, true) => Some(Target::All),
        (false, _) => Some(parse_target(words)?),
    };
    Ok((
        Action::Status {
            target: target.map(|t| t.to_string()),
        },
        target,
    ))
}

fn exec(t: Target, plan: Option<PathBuf>) -> Action {
    Action::Execute {
        target: t.to_string(),
        plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_targets() {
        let t = |s: &str| parse_target(&s.split_whitespace().map(String::from).collect::<Vec<_>>());
        assert_eq!(t("").unwrap(), Target::All);
        assert_eq!(t("phase 3").unwrap(), Target::Phase(3));
        assert_eq!(t("phase-3").unwrap(), Target::Phase(3));
        assert_eq!(t("rollback 2").unwrap(), Target::Rollback(2));
        assert_eq!(t("preflight").unwrap(), Target::Preflight);
        assert!(t("phase 6").is_err());
        assert!(t("rollback 4").is_err());
    }

    #[test]
    fn colour_is_off_for_the_flag_a_non_empty_no_color_a_pipe_and_machine_output() {
        let all = Ttys {
            stdin: true,
            stdout: true,
            stderr: true,
            columns: Some(250),
        };
        let env = |v: &str| BTreeMap::from([("NO_COLOR".to_owned(), v.to_owned())]);
        let none = BTreeMap::new();
        let on = TerminalSettings::resolve(false, &none, Output::Human, false, all);
        assert!(on.color && on.color_stderr && on.live && on.can_prompt);
        let flag = TerminalSettings::resolve(true, &none, Output::Human, false, all);
        assert!(!flag.color && !flag.color_stderr);
        let no_color = TerminalSettings::resolve(false, &env("1"), Output::Human, false, all);
        assert!(!no_color.color && !no_color.color_stderr);
        // An empty NO_COLOR is no request (no-color.org).
        let empty = TerminalSettings::resolve(false, &env(""), Output::Human, false, all);
        assert!(empty.color && empty.color_stderr);
        let json = TerminalSettings::resolve(false, &none, Output::Json, false, all);
        assert!(!json.color && json.color_stderr);
        let piped = Ttys {
            stdout: false,
            ..all
        };
        let piped = TerminalSettings::resolve(false, &none, Output::Human, false, piped);
        assert!(!piped.color && piped.color_stderr);
        let quiet = TerminalSettings::resolve(false, &none, Output::Human, true, all);
        assert!(!quiet.live && quiet.color);
    }

    #[test]
    fn titles_get_stdouts_width_and_the_heartbeat_its_default_unless_shortened() {
        let all = Ttys {
            stdin: true,
            stdout: true,
            stderr: true,
            columns: Some(250),
        };
        let none = BTreeMap::new();
        let on = TerminalSettings::resolve(false, &none, Output::Human, false, all);
        assert_eq!((on.width, on.heartbeat), (Some(250), HEARTBEAT));
        let piped = Ttys {
            stdout: false,
            ..all
        };
        let piped = TerminalSettings::resolve(false, &none, Output::Human, false, piped);
        assert_eq!(piped.width, None, "a pipe has no width");
        let short = |v: &str| {
            let env = BTreeMap::from([(HEARTBEAT_ENV.to_owned(), v.to_owned())]);
            TerminalSettings::resolve(false, &env, Output::Human, false, all).heartbeat
        };
        assert_eq!(short("200ms"), std::time::Duration::from_millis(200));
        assert_eq!(short("1ms"), crate::runbook::schedule::MIN_INTERVAL);
        assert_eq!(short("soon"), HEARTBEAT);
    }
}
