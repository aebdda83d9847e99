//! `completions SHELL` and `man` through the binary: each shell's script names every command
//! and the shells that are installed accept it (bash completes a command's flags from it),
//! and the man page is well-formed roff that `man` renders, as one page or one per command.
//! Neither reads a runbook or a state: they run with both pointing at nothing.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::BIN;
use outpost_migrate::exit_codes::{SETUP, SUCCESS, USAGE_OR_RUNBOOK};

/// Every command of the command line, as `--help` lists them.
const COMMANDS: &[&str] = &[
    "validate",
    "plan",
    "preflight",
    "phase",
    "rollback",
    "verify",
    "run",
    "monitor",
    "status",
    "report",
    "diagnose",
    "schema",
    "iam-policy",
    "unlock",
    "approve",
    "completions",
    "man",
];

/// The binary in `dir`, with a runbook and a state directory that do not exist.
fn docs(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("OUTPOST_MIGRATE_RUNBOOK", dir.join("no-runbook"))
        .env("OUTPOST_MIGRATE_STATE_DIR", dir.join("no-state"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn ok(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(SUCCESS),
        "{what}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(out)
}

/// Runs `program ARGS FILE` if the program is installed: `None` when it is not.
fn check_with(program: &str, args: &[&str], file: &Path) -> Option<Output> {
    Command::new(program).args(args).arg(file).output().ok()
}

#[test]
fn each_shell_gets_a_completion_script_naming_every_command() {
    let dir = tempfile::tempdir().unwrap();
    // What marks each shell's own completion machinery, so a script for another shell fails.
    let shells = [
        ("bash", "complete -F _outpost__migrate"),
        ("zsh", "#compdef outpost-migrate"),
        ("fish", "complete -c outpost-migrate"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'outpost-migrate'",
        ),
        (
            "elvish",
            "set edit:completion:arg-completer[outpost-migrate]",
        ),
    ];
    for (shell, marker) in shells {
        let script = ok(&docs(dir.path(), &["completions", shell]), shell);
        assert!(script.contains(marker), "{shell}: lacks {marker:?}");
        for command in COMMANDS {
            assert!(script.contains(command), "{shell}: lacks {command}");
        }
        for flag in ["state-dir", "dry-run", "level", "approve"] {
            assert!(script.contains(flag), "{shell}: lacks --{flag}");
        }
        let file = dir.path().join(format!("completions.{shell}"));
        std::fs::write(&file, &script).unwrap();
        // Each installed shell parses its script without running it.
        let parsed = match shell {
            "bash" | "zsh" | "fish" => check_with(shell, &["-n"], &file),
            _ => None,
        };
        if let Some(parsed) = parsed {
            assert!(
                parsed.status.success(),
                "{shell} -n: {}",
                String::from_utf8_lossy(&parsed.stderr)
            );
        }
    }
}

/// What bash's completion function offers for the words typed so far (the last one being
/// completed), with the script sourced as `bash-completion` sources it.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; \
         _outpost__migrate outpost-migrate {} {}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        quoted[cword],
        quoted[cword - 1],
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_commands_their_flags_and_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("outpost-migrate.bash");
    std::fs::write(
        &script,
        ok(&docs(dir.path(), &["completions", "bash"]), "bash"),
    )
    .unwrap();
    assert_eq!(
        bash_completes(&script, &["outpost-migrate", "ro"]),
        ["rollback"]
    );
    // After a command, its own flags: the binary's hyphen must not break them (see
    // `bash_hyphen_fix` in src/cli/docs.rs).
    assert_eq!(
        bash_completes(&script, &["outpost-migrate", "rollback", "--le"]),
        ["--level"]
    );
    assert_eq!(
        bash_completes(&script, &["outpost-migrate", "report", "--format", ""]),
        ["markdown", "html"]
    );
    assert_eq!(
        bash_completes(&script, &["outpost-migrate", "completions", "f"]),
        ["fish"]
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_shells() {
    let dir = tempfile::tempdir().unwrap();
    let out = docs(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(USAGE_OR_RUNBOOK));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{stderr}"
    );
}

/// The page's structure: title, name, synopsis, and each command in its COMMANDS section.
#[track_caller]
fn assert_man_page(page: &str, name: &str) {
    assert!(
        page.lines()
            .any(|l| l.starts_with(&format!(".TH {name} 1 "))),
        "{name}: no .TH line:\n{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS"] {
        assert!(page.contains(section), "{name}: lacks {section}");
    }
}

/// `man` renders the page without a warning, when `man` is installed.
fn rendered(file: &Path) -> Option<String> {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "man: {stderr}"
    );
    Some(stdout(&out))
}

#[test]
fn the_man_page_names_every_command_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let page = ok(&docs(dir.path(), &["man"]), "man");
    assert_man_page(&page, "outpost-migrate");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for command in COMMANDS {
        assert!(
            page.contains(&format!(
                "outpost\\-migrate\\-{}(1)",
                command.replace('-', "\\-")
            )),
            "the page lacks {command}"
        );
    }
    let file = dir.path().join("outpost-migrate.1");
    std::fs::write(&file, &page).unwrap();
    if let Some(text) = rendered(&file) {
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
        assert!(text.contains("outpost-migrate-rollback(1)"), "{text}");
    }
}

#[test]
fn man_out_writes_a_page_per_command_and_prints_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("share/man/man1");
    let out = docs(dir.path(), &["man", "--out", pages.to_str().unwrap()]);
    let listed: Vec<String> = ok(&out, "man --out").lines().map(str::to_owned).collect();
    let mut names = vec!["outpost-migrate".to_owned()];
    names.extend(COMMANDS.iter().map(|c| format!("outpost-migrate-{c}")));
    assert_eq!(listed.len(), names.len(), "{listed:?}");
    for name in names {
        let file = pages.join(format!("{name}.1"));
        assert!(
            listed.contains(&file.display().to_string()),
            "{name}: {listed:?}"
        );
        let page = std::fs::read_to_string(&file).unwrap();
        assert_man_page(&page, &name);
        rendered(&file);
    }
    // Each page the top page refers to is one of them.
    let top = std::fs::read_to_string(pages.join("outpost-migrate.1")).unwrap();
    for reference in top.split("outpost\\-migrate\\-").skip(1) {
        let name = reference.split("(1)").next().unwrap().replace("\\-", "-");
        let file = pages.join(format!("outpost-migrate-{name}.1"));
        assert!(
            file.exists(),
            "the top page refers to a page that is not there: {name}"
        );
    }
    let rollback = std::fs::read_to_string(pages.join("outpost-migrate-rollback.1")).unwrap();
    assert!(rollback.contains("\\-\\-level"), "{rollback}");
    assert!(rollback.contains("Exit codes:"), "{rollback}");
}

#[test]
fn man_out_into_a_file_exits_3_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = docs(dir.path(), &["man", "--out", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(SETUP));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("man --out {}", file.display())),
        "{stderr}"
    );
}
