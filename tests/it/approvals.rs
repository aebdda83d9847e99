//! Approvals: prompted on a terminal, given by flag, and failing closed without either.

use crate::support::{Runbook, Test};
use outpost_migrate::exit_codes::{REFUSED, SUCCESS};

fn approval_runbook() -> Runbook {
    Runbook::minimal().phase(1, "- id: apply\n  title: Apply ALB changes\n  approval: true\n  shell: { command: touch applied }\n- id: after\n  shell: { command: touch after }\n")
}

#[test]
fn approval_fails_closed_without_a_terminal() {
    let t = Test::new().runbook(approval_runbook());
    let run = t.run(&["phase", "1", "--force"]);
    run.code(REFUSED)
        .stdout_has("⊘ Apply ALB changes")
        .stdout_has("needs approval and there is no terminal to ask; rerun with --approve apply");
    assert!(!t.path("applied").exists());
    assert!(!t.path("after").exists());
    let recorded = std::fs::read_to_string(t.state_dir().join("state.json"))
        .map(|s| s.contains("\"apply\""))
        .unwrap_or(false);
    assert!(!recorded, "a refused step is not recorded as run");
}

#[test]
fn approve_flag_and_yes_approve() {
    let t = Test::new().runbook(approval_runbook());
    t.run(&["phase", "1", "--force", "--approve", "apply"])
        .code(SUCCESS);
    assert!(t.path("applied").exists());
    let t = Test::new().runbook(approval_runbook());
    t.run(&["phase", "1", "--force", "--yes"]).code(SUCCESS);
    assert!(t.path("after").exists());
}

#[test]
fn approval_is_prompted_on_a_terminal() {
    // `script` gives the binary a real pseudo-terminal; the answer is typed into it.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("`script` (util-linux) is needed for the terminal test");
    }
    for (answer, code, applied) in [("y", SUCCESS, true), ("n", REFUSED, false)] {
        let t = Test::new().runbook(approval_runbook());
        let cmd = t.command(&["phase", "1", "--force"]);
        let line = std::iter::once(cmd.get_program().to_string_lossy().into_owned())
            .chain(cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = std::process::Command::new("script")
            .args(["-qec", &format!("NO_COLOR=1 {line}"), "/dev/null"])
            .current_dir(t.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            writeln!(stdin, "{answer}").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Approve [y/N]"), "no prompt shown:\n{text}");
        assert_eq!(out.status.code(), Some(code), "answer {answer}:\n{text}");
        assert_eq!(t.path("applied").exists(), applied);
    }
}

#[test]
fn dry_run_never_asks_and_shows_the_rendered_action() {
    let t = Test::new().runbook(approval_runbook());
    t.run(&["phase", "1", "--force", "--dry-run"])
        .code(SUCCESS)
        .stdout_has("○ Apply ALB changes")
        .stdout_has("$ touch applied");
    assert!(!t.path("applied").exists());
}
