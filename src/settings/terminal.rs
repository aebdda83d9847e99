//! How the terminal is used (colour, spinners, prompts, the heartbeat), resolved once from
//! the flags, the environment and which streams are terminals.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use serde::Serialize;

use super::OutputFormat;
use crate::cli::Output;

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
    /// The columns of the terminal stdout is, if it is one: step titles use them.
    pub width: Option<usize>,
    /// Without spinners, how often at most a line says what a long wait is for.
    #[serde(skip)]
    pub heartbeat: std::time::Duration,
}

/// How often at most, without a terminal, a line says what the run waits for.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

/// A hidden setting (for the tests) that shortens the heartbeat, e.g. `200ms`.
pub(super) const HEARTBEAT_ENV: &str = "OUTPOST_MIGRATE_HEARTBEAT";

/// `HEARTBEAT`, or what `HEARTBEAT_ENV` says (at least 100ms; not a duration: ignored).
fn heartbeat(env: &BTreeMap<String, String>) -> std::time::Duration {
    env.get(HEARTBEAT_ENV)
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .map_or(HEARTBEAT, |d| d.max(crate::runbook::schedule::MIN_INTERVAL))
}

/// Which of the standard streams are terminals.
#[derive(Debug, Clone, Copy)]
pub struct Ttys {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The columns of stdout's terminal.
    pub columns: Option<u16>,
}

impl Ttys {
    pub fn detect() -> Self {
        Ttys {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
            columns: console::Term::stdout().size_checked().map(|(_, cols)| cols),
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
            width: ttys.columns.filter(|_| ttys.stdout).map(usize::from),
            heartbeat: heartbeat(env),
        }
    }
}
