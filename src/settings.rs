//! Settings: the command line and environment resolved once into what the core receives.
//! Nothing past this point reads the environment or clap types.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{Cli, Command, Output};
use crate::error::Error;
use crate::kinds::aws::AwsConfig;
use crate::request::{Overrides, Target};
use crate::runbook::RunbookSource;
use crate::state::StateStore;
use crate::state::local::LocalStore;

pub use crate::cli::Output as OutputFormat;

/// What to do.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Action {
    Validate,
    Plan { target: String },
    Execute { target: String },
    Status,
    Unlock { lock_id: Option<String> },
}

/// The operator's `--profile` and `--region`; the runbook's vars and the environment join
/// them in [`Settings::aws_config`].
#[derive(Debug, Clone, Serialize)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub action: Action,
    #[serde(skip)]
    pub target: Option<Target>,
    #[serde(serialize_with = "describe_source")]
    pub runbook: RunbookSource,
    pub state_dir: PathBuf,
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
    pub show_settings: bool,
}

/// How the terminal is used: colour, spinners and prompts, decided here once from
/// `--no-color`, `NO_COLOR`, `--output`, `--quiet` and which streams are terminals. The
/// reporters and the error printer only read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TerminalSettings {
    /// Colour on stdout (the human report).
    pub color: bool,
    /// Colour on stderr (errors).
    pub color_stderr: bool,
    /// Spinners are drawn on stderr.
    pub live: bool,
    /// A person can be asked (stdin is a terminal).
    pub can_prompt: bool,
}

/// Which of the standard streams are terminals.
#[derive(Debug, Clone, Copy)]
pub struct Ttys {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Ttys {
    pub fn detect() -> Self {
        Ttys {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }
}

impl TerminalSettings {
    /// Colour unless `--no-color` or a non-empty `NO_COLOR` (no-color.org) says otherwise, and
    /// only on a stream that is a terminal; stdout is coloured only for the human output.
    pub fn resolve(
        no_color_flag: bool,
        env: &BTreeMap<String, String>,
        output: OutputFormat,
        quiet: bool,
        ttys: Ttys,
    ) -> Self {
        let no_color_env = env.get("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !no_color_flag && !no_color_env;
        TerminalSettings {
            color: color && ttys.stdout && output == Output::Human,
            color_stderr: color && ttys.stderr,
            live: ttys.stderr && !quiet,
            can_prompt: ttys.stdin,
        }
    }
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
];

/// Environment variables that give the SDK credentials without a profile, each set complete:
/// static keys, a web identity token, a container's credentials endpoint.
const CREDENTIAL_ENV: &[&[&str]] = &[
    &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    &["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"],
    &["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
    &["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
];

/// Where a region or profile named by the runbook comes from, as messages name it.
const RUNBOOK_REGION: &str = "the runbook's vars.region";
const RUNBOOK_PROFILE: &str = "the runbook's vars.profile";

/// The profiles of the AWS config and credentials files: name, and the profile's region.
#[derive(Debug, Default)]
struct Profiles {
    regions: BTreeMap<String, Option<String>>,
    /// The files, as messages name them.
    files: String,
    /// The files could not be read or parsed.
    error: Option<String>,
}

impl Profiles {
    /// Reads the files the SDK reads (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/config` and `~/.aws/credentials`) with the SDK's own parser, so a profile is
    /// found here exactly when the SDK finds it.
    fn load(env: &BTreeMap<String, String>) -> Self {
        let file = |var: &str, default: &str| {
            env.get(var)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_owned())
        };
        let files = format!(
            "{} or {}",
            file("AWS_CONFIG_FILE", "~/.aws/config"),
            file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        );
        let sdk_env = aws_types::os_shim_internal::Env::from(
            env.clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        // The parser does its reads directly, not on a runtime: blocking on it is a plain
        // file read.
        let loaded = futures::executor::block_on(aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &sdk_env,
            &aws_runtime::env_config::file::EnvConfigFiles::default(),
            None,
        ));
        match loaded {
            Ok(set) => Profiles {
                regions: set
                    .profiles()
                    .map(|name| {
                        let region = set
                            .get_profile(name)
                            .and_then(|p| p.get("region"))
                            .map(str::to_owned);
                        (name.to_owned(), region)
                    })
                    .collect(),
                files,
                error: None,
            },
            Err(e) => Profiles {
                error: Some(format!(
                    "the AWS config files ({files}) cannot be read: {e}"
                )),
                files,
                ..Profiles::default()
            },
        }
    }
}

impl Settings {
    /// The AWS configuration of a run whose plan calls AWS, from `--profile`/`--region`, the
    /// environment and the runbook's vars `profile` and `region` (the rules are in the
    /// README's "AWS configuration"). An environment region that differs from the runbook's,
    /// with no `--region` to say which, is refused.
    pub fn aws_config(&self, vars: &Map<String, Value>) -> Result<AwsConfig, Error> {
        resolve_aws(&self.aws, &self.env, &Profiles::load(&self.env), vars)
    }

    /// The state backend the commands read and write: the one place a backend is chosen.
    /// Only the local directory exists today; a team backend is picked here when it comes.
    pub fn state_store(&self) -> Box<dyn StateStore> {
        Box::new(LocalStore::new(&self.state_dir))
    }
}

fn resolve_aws(
    flags: &AwsSettings,
    env: &BTreeMap<String, String>,
    profiles: &Profiles,
    vars: &Map<String, Value>,
) -> Result<AwsConfig, Error> {
    let var = |name: &str| {
        vars.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let env_var = |name: &str| env.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let env_credentials = CREDENTIAL_ENV
        .iter()
        .any(|set| set.iter().all(|name| env_var(name).is_some()));
    let mut unusable = None;

    // The profile: --profile, else AWS_PROFILE, else the runbook's.
    let named = match (&flags.profile, env_var("AWS_PROFILE"), var("profile")) {
        (Some(p), _, _) => Some((p.as_str(), "--profile")),
        (None, Some(p), _) => Some((p, "AWS_PROFILE")),
        (None, None, Some(p)) => Some((p, RUNBOOK_PROFILE)),
        (None, None, None) => None,
    };
    let mut profile = None;
    if let Some((name, source)) = named {
        if let Some(error) = &profiles.error {
            // Whether the profile exists cannot be known; the SDK would not find it either.
            unusable = Some(error.clone());
        } else if profiles.regions.contains_key(name) {
            profile = Some(name.to_owned());
        } else if source == RUNBOOK_PROFILE && env_credentials {
            // The runbook's profile is a default for the operator's machine; where it is not
            // configured, the environment's credentials (which the SDK takes before any
            // profile's anyway) are used.
        } else {
            let hint = if source == RUNBOOK_PROFILE {
                " and the environment holds no AWS credentials: pass --profile NAME or --var profile=NAME (--var profile= for the SDK's default chain), or set AWS_PROFILE"
            } else {
                ": check its name"
            };
            unusable = Some(format!(
                "the AWS profile `{name}` ({source}) is not in {}{hint}",
                profiles.files
            ));
        }
    }

    // The region the environment would choose: AWS_REGION, AWS_DEFAULT_REGION, the profile's
    // (with none selected, the SDK reads the `default` profile's).
    let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| env_var(name).map(|v| (v.to_owned(), (*name).to_owned())))
        .or_else(|| {
            let p = profile.as_deref().unwrap_or("default");
            let region = profiles.regions.get(p)?.clone()?;
            Some((region, format!("the region of profile `{p}`")))
        });
    let region = match (&flags.region, var("region")) {
        (Some(r), _) => Some((r.clone(), "--region".to_owned())),
        (None, Some(runbook)) => {
            if let Some((other, source)) = env_region.filter(|(r, _)| r != runbook) {
                let or_else = if source.starts_with("AWS_") {
                    format!("unset {source}")
                } else {
                    "change the profile's region".to_owned()
                };
                return Err(Error::Refused(format!(
                    "the runbook runs in {runbook} ({RUNBOOK_REGION}), but {source} says {other}; nothing was run. Pass --region {runbook} to run in the runbook's region or --region {other} to run in {other}, or {or_else}"
                )));
            }
            Some((runbook.to_owned(), RUNBOOK_REGION.to_owned()))
        }
        (None, None) => env_region,
    };
    Ok(AwsConfig {
        profile_credentials_only: flags.profile.is_some() && profile.is_some(),
        profile,
        region,
        unusable,
    })
}

/// Parses a `plan` target: `preflight`, `phase N`, `rollback N`, `verify`, `all`.
pub fn parse_target(words: &[String]) -> Result<Target, Error> {
    let joined = words
        .join(" ")
        .to_ascii_lowercase()
        .replace(['-', '_'], " ");
    let parts: Vec<&str> = joined.split_whitespace().collect();
    let number = |s: Option<&&str>, max: u8| {
        s.and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=max).contains(n))
    };
    let target = match parts.as_slice() {
        [] | ["all"] => Some(Target::All),
        ["preflight" | "pre flight"] => Some(Target::Preflight),
        ["pre", "flight"] => Some(Target::Preflight),
        ["verify"] => Some(Target::Verify),
        ["run"] => Some(Target::Run),
        ["phase", n] => number(Some(n), 5).map(Target::Phase),
        ["rollback", n] => number(Some(n), 3).map(Target::Rollback),
        _ => None,
    };
    target.ok_or_else(|| {
        Error::Usage(format!(
            "unknown plan target `{}`; use preflight, phase 1-5, rollback 1-3, verify or all",
            words.join(" ")
        ))
    })
}

/// Resolves the command line and environment into settings.
pub fn resolve(
    cli: Cli,
    env: BTreeMap<String, String>,
    args: Vec<String>,
) -> Result<Settings, Error> {
    let g = cli.global;
    let (action, target) = match cli.command {
        Command::Validate => (Action::Validate, None),
        Command::Plan { target } => {
            let t = parse_target(&target)?;
            (
                Action::Plan {
                    target: t.to_string(),
                },
                Some(t),
            )
        }
        Command::Preflight => exec(Target::Preflight),
        Command::Phase { number } => exec(Target::Phase(number)),
        Command::Rollback { level } => exec(Target::Rollback(level)),
        Command::Verify => exec(Target::Verify),
        Command::Run => exec(Target::Run),
        Command::Status => (Action::Status, None),
        Command::Unlock { lock_id } => (Action::Unlock { lock_id }, None),
    };
    let terminal = TerminalSettings::resolve(g.no_color, &env, g.output, g.quiet, Ttys::detect());
    let runbook = match &g.runbook {
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
        .unwrap_or_else(current_user);
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let secret_env = SECRET_ENV
        .iter()
        .filter_map(|k| env.get(*k).map(|v| (k.to_string(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    Ok(Settings {
        action,
        target,
        runbook,
        state_dir: g.state_dir,
        dry_run: g.dry_run,
        yes: g.yes,
        approve: g.approve.into_iter().collect(),
        output: g.output,
        vars: g.vars,
        aws: AwsSettings {
            profile: g.profile,
            region: g.region,
        },
        verbose: g.verbose,
        quiet: g.quiet,
        terminal,
        overrides: Overrides {
            force: g.force,
            accept_changed: g.accept_changed.into_iter().collect(),
            retry_in_doubt: g.retry_in_doubt.into_iter().collect(),
            mark_done: g.mark_done.into_iter().collect(),
        },
        jobs: usize::from(g.jobs),
        env,
        secret_env,
        user,
        host,
        command_line: shell_words(&args),
        show_settings: g.show_settings,
    })
}

/// The login name of the current uid, for locks and the audit log when USER is unset (cron, CI).
fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; it is read at once,
    // before any other call that could overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return format!("uid-{}", libc::getuid());
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

fn exec(t: Target) -> (Action, Option<Target>) {
    (
        Action::Execute {
            target: t.to_string(),
        },
        Some(t),
    )
}

fn shell_words(args: &[String]) -> String {
    let mut words = vec!["outpost-migrate".to_string()];
    words.extend(args.iter().skip(1).map(|a| {
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
        {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    }));
    words.join(" ")
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

    fn profiles(list: &[(&str, Option<&str>)]) -> Profiles {
        Profiles {
            regions: list
                .iter()
                .map(|(n, r)| ((*n).to_owned(), r.map(str::to_owned)))
                .collect(),
            files: "CONFIG or CREDENTIALS".into(),
            error: None,
        }
    }

    fn resolve(
        flags: (Option<&str>, Option<&str>),
        env: &[(&str, &str)],
        known: &[(&str, Option<&str>)],
    ) -> Result<AwsConfig, Error> {
        let flags = AwsSettings {
            profile: flags.0.map(str::to_owned),
            region: flags.1.map(str::to_owned),
        };
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let vars = serde_json::json!({"profile": "soc", "region": "us-east-1"});
        resolve_aws(&flags, &env, &profiles(known), vars.as_object().unwrap())
    }

    const KEYS: &[(&str, &str)] = &[
        ("AWS_ACCESS_KEY_ID", "AKIA"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key"),
    ];

    #[test]
    fn the_profile_is_the_flag_then_aws_profile_then_the_runbooks() {
        let known = [("soc", None), ("ops", None), ("cli", None)];
        let with = |flag, env: &[(&str, &str)]| resolve((flag, None), env, &known).unwrap();
        assert_eq!(with(None, &[]).profile.as_deref(), Some("soc"));
        let env = with(None, &[("AWS_PROFILE", "ops")]);
        assert_eq!(env.profile.as_deref(), Some("ops"));
        assert!(
            !env.profile_credentials_only,
            "AWS_PROFILE yields to env keys"
        );
        let flag = with(Some("cli"), &[("AWS_PROFILE", "ops")]);
        assert_eq!(flag.profile.as_deref(), Some("cli"));
        assert!(flag.profile_credentials_only, "--profile ignores env keys");
    }

    #[test]
    fn a_missing_runbook_profile_yields_to_environment_credentials_only() {
        let with_keys = resolve((None, None), KEYS, &[]).unwrap();
        assert_eq!((with_keys.profile, with_keys.unusable), (None, None));
        let bare = resolve((None, None), &[], &[]).unwrap();
        assert!(
            bare.unusable
                .unwrap()
                .contains("`soc` (the runbook's vars.profile)")
        );
        // Named by the operator, a missing profile is an error even with keys (the CLI's rule).
        let env = resolve((None, None), &[KEYS[0], KEYS[1], ("AWS_PROFILE", "x")], &[]).unwrap();
        assert!(env.unusable.unwrap().contains("`x` (AWS_PROFILE)"));
    }

    #[test]
    fn the_runbooks_region_unless_the_flag_and_a_contradiction_is_refused() {
        let region = |c: AwsConfig| c.region.unwrap();
        assert_eq!(
            region(resolve((None, None), KEYS, &[]).unwrap()),
            ("us-east-1".into(), RUNBOOK_REGION.into())
        );
        assert_eq!(
            region(resolve((None, None), &[("AWS_REGION", "us-east-1")], &[]).unwrap()).0,
            "us-east-1"
        );
        for env in [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ] {
            let Err(Error::Refused(m)) = resolve((None, None), &[env], &[]) else {
                panic!("{env:?} must be refused");
            };
            assert!(m.contains(&format!("but {} says eu-west-1", env.0)), "{m}");
        }
        assert!(matches!(
            resolve((None, None), &[], &[("soc", Some("eu-west-1"))]),
            Err(Error::Refused(_))
        ));
        // The runbook's profile not configured: the `default` profile's region is the SDK's.
        let Err(Error::Refused(m)) = resolve((None, None), KEYS, &[("default", Some("eu-west-1"))])
        else {
            panic!("the default profile's region must be refused");
        };
        assert!(
            m.contains("the region of profile `default` says eu-west-1"),
            "{m}"
        );
        assert_eq!(
            region(
                resolve(
                    (None, Some("eu-west-1")),
                    &[("AWS_REGION", "ap-south-1")],
                    &[]
                )
                .unwrap()
            ),
            ("eu-west-1".into(), "--region".into())
        );
    }
}
