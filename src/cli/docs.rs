//! `completions SHELL` and `man`: the command line's own documentation, generated from its
//! clap definition (clap_complete, clap_mangen), so neither can drift from the flags the
//! binary takes. Like `--help`, they need no runbook, state or AWS: `main` answers them
//! before the settings are resolved.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;

use super::{Cli, help};
use crate::error::Error;

const COMPLETIONS: &str = "\
Examples:
  outpost-migrate completions bash > ~/.local/share/bash-completion/completions/outpost-migrate
  outpost-migrate completions zsh > ~/.zfunc/_outpost-migrate      # with fpath+=(~/.zfunc)
  outpost-migrate completions fish > ~/.config/fish/completions/outpost-migrate.fish";

const MAN: &str = "\
Examples:
  outpost-migrate man | man -l -           # read it now
  outpost-migrate man > ~/.local/share/man/man1/outpost-migrate.1
  outpost-migrate man --out ~/.local/share/man/man1   # one page per command";

/// The commands that document the command line itself.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Print the shell completion script for SHELL on stdout.
    ///
    /// Completes the commands, their flags and the values clap knows (`--output`,
    /// `--format`, `phase`'s number...). Reads no runbook and no state.
    #[command(after_help = COMPLETIONS, after_long_help = help::long(COMPLETIONS))]
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff, section 1) on stdout, or one page per command in a directory.
    #[command(after_help = MAN, after_long_help = help::long(MAN))]
    Man {
        /// Write `outpost-migrate.1` and a page per command (`outpost-migrate-phase.1`...)
        /// into DIR, created when missing, and print their paths.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// What `settings::resolve` says if it is ever handed one of these commands: `main`
/// answers them first.
pub fn not_a_setting() -> Error {
    Error::Usage("`completions` and `man` are answered from the command line alone".into())
}

/// Runs a documentation command, writing the script, the page or the pages' paths to
/// `stdout`.
pub fn run(command: &DocsCommand, stdout: &mut dyn Write) -> Result<(), Error> {
    let written = match command {
        DocsCommand::Completions { shell } => completions(*shell, stdout),
        DocsCommand::Man { out: None } => clap_mangen::Man::new(man_command()).render(stdout),
        DocsCommand::Man { out: Some(dir) } => pages(dir).and_then(|paths| {
            paths
                .iter()
                .try_for_each(|p| writeln!(stdout, "{}", p.display()))
        }),
    };
    match written {
        // `outpost-migrate man | head`: the reader had what it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Setup(match command {
            DocsCommand::Man { out: Some(dir) } => format!("man --out {}: {e}", dir.display()),
            _ => format!("could not write to stdout: {e}"),
        })),
        Ok(()) => Ok(()),
    }
}

fn completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, &name, &mut script);
    if shell == Shell::Bash {
        script = bash_hyphen_fix(&name, &script).into_bytes();
    }
    out.write_all(&script)?;
    out.flush()
}

/// clap_complete's bash script spells a hyphenated binary's state two ways
/// (clap-rs/clap#6421, open): the loop over the words arrives at `outpost__migrate__subcmd__phase`,
/// the arms are labelled `outpost__subcmd__migrate__subcmd__phase`, so nothing after a command
/// completes. The arms are given the loop's spelling; once clap fixes it, nothing matches.
fn bash_hyphen_fix(name: &str, script: &[u8]) -> String {
    let script = String::from_utf8_lossy(script);
    script.replace(&name.replace('-', "__subcmd__"), &name.replace('-', "__"))
}

/// The command line as the man pages show it: without clap's `help` command, which has no
/// page of its own (`--help` is listed under each command).
fn man_command() -> clap::Command {
    Cli::command().disable_help_subcommand(true)
}

/// The top page and one page per visible command, as `clap_mangen::generate_to` writes
/// them, returning their paths.
fn pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = man_command();
    cmd.build();
    let mut written = vec![clap_mangen::Man::new(cmd.clone()).generate_to(dir)?];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.push(clap_mangen::Man::new(sub.clone()).generate_to(dir)?);
    }
    Ok(written)
}
