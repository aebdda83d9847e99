//! `status`: a line per unit, the step in progress or failed and the next command; one unit's
//! steps with `status TARGET`, every unit's with `--all`; tables that fit the terminal; a step
//! of a live run shown running, not in doubt. And a run's end names its first failure before
//! its refusals.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Run, Runbook, Test};
use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};

/// Stdout with the test's directory replaced, for snapshots.
fn text(t: &Test, run: &Run) -> String {
    run.stdout
        .replace(&t.dir.path().display().to_string(), "[DIR]")
}

/// Every line of a table at most `width` characters wide (the state line and the next
/// command are not cut: they name paths to copy).
#[track_caller]
fn fits(stdout: &str, width: usize) {
    let tables = stdout
        .lines()
        .filter(|l| l.starts_with(['┌', '│', '╞', '├', '└']));
    assert!(tables.clone().count() > 3, "no table:\n{stdout}");
    for line in tables {
        assert!(
            line.chars().count() <= width,
            "a line of {} characters:\n{line}\n--- in\n{stdout}",
            line.chars().count()
        );
    }
}

/// A runbook whose phase 1 step fails with a long message, under a long title.
fn failing() -> Runbook {
    Runbook::minimal().phase(
        1,
        "- id: deploy-the-new-control-plane-service-behind-the-load-balancer\n  title: Deploy the new control plane service behind the application load balancer of the account\n  shell: { command: 'echo \"the service outpost-control-plane has no healthy targets in target group outpost-tg after 30 attempts\" >&2; exit 3' }\n",
    )
}

#[test]
fn status_before_any_run_is_a_line_per_unit_and_the_next_command() {
    let t = Test::new().env("COLUMNS", "80");
    let run = t.run(&["status"]);
    run.code(SUCCESS);
    fits(&run.stdout, 80);
    assert!(run.stdout.lines().count() < 20, "{}", run.stdout);
    insta::assert_snapshot!(text(&t, &run));
}

#[test]
fn status_names_the_failed_step_and_the_command_that_resumes() {
    let t = Test::new().runbook(failing()).env("COLUMNS", "80");
    t.run(&["preflight"]).code(SUCCESS);
    t.run(&["phase", "1"]).code(STEP_FAILED);
    let run = t.run(&["status"]);
    run.code(SUCCESS);
    fits(&run.stdout, 80);
    insta::assert_snapshot!(
        text(&t, &run)
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let doc: Value = serde_json::from_str(&t.run(&["status", "--output", "json"]).stdout).unwrap();
    assert_eq!(
        doc["current"]["step"],
        "deploy-the-new-control-plane-service-behind-the-load-balancer"
    );
    assert_eq!(doc["current"]["status"], "failed");
    assert!(
        doc["next"]
            .as_str()
            .unwrap()
            .starts_with("outpost-migrate phase 1 --runbook ")
    );
    assert_eq!(doc["units"].as_array().unwrap().len(), 10);
}

#[test]
fn status_target_shows_one_units_steps_and_all_shows_every_unit() {
    let t = Test::new().env("COLUMNS", "100");
    t.run(&["preflight"]).code(SUCCESS);
    t.run(&["status", "preflight"])
        .code(SUCCESS)
        .stdout_has("pre checks — done")
        .stdout_has("Group / pre-noop")
        .stdout_lacks("p1 unit");
    t.run(&["status", "phase", "3"])
        .code(SUCCESS)
        .stdout_has("p3 unit — not started")
        .stdout_has("p3-noop")
        .stdout_lacks("pre-noop");
    t.run(&["status", "rollback", "2"])
        .code(SUCCESS)
        .stdout_has("r2 unit — not started")
        .stdout_lacks("r1 unit");
    let all = t.run(&["status", "--all"]);
    all.code(SUCCESS);
    for unit in ["pre checks", "p1 unit", "p5 unit", "ver checks", "r3 unit"] {
        all.stdout_has(&format!("{unit} — "));
    }
    t.run(&["status", "phase", "9"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("unknown target `phase 9`");
    let doc: Value =
        serde_json::from_str(&t.run(&["status", "phase", "3", "--output", "json"]).stdout).unwrap();
    assert_eq!(doc["view"], "phase 3");
    assert_eq!(doc["units"].as_array().unwrap().len(), 1);
}

#[test]
fn tables_fit_columns_and_cut_long_cells_with_an_ellipsis() {
    let t = Test::new().runbook(failing());
    t.run(&["phase", "1", "--force"]).code(STEP_FAILED);
    for (columns, width) in [(Some("100"), 100), (None, 80)] {
        let mut cmd = t.command(&["status", "--all"]);
        match columns {
            Some(c) => cmd.env("COLUMNS", c),
            None => cmd.env_remove("COLUMNS"),
        };
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(SUCCESS), "{stdout}");
        fits(&stdout, width);
        assert!(stdout.contains('…'), "nothing was cut:\n{stdout}");
        assert!(stdout.contains("failed"), "{stdout}");
    }
}

#[test]
fn the_status_table_fits_an_80_column_terminal() {
    // `script` gives the binary a real pseudo-terminal, 80 columns wide (`stty`); COLUMNS
    // says otherwise, and the terminal wins.
    let t = Test::new().runbook(failing());
    t.run(&["phase", "1", "--force"]).code(STEP_FAILED);
    let cmd = t.command(&["status", "--all"]);
    let line = std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("stty cols 80 rows 40; NO_COLOR=1 COLUMNS=200 {line}"),
            "/dev/null",
        ])
        .current_dir(t.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) is needed for the terminal test");
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(SUCCESS), "{stdout}");
    assert!(stdout.contains("deploy-the-new"), "{stdout}");
    assert!(stdout.contains('…'), "nothing was cut:\n{stdout}");
    fits(&stdout, 80);
}

#[test]
fn a_step_of_a_live_run_is_running_and_once_the_run_is_killed_in_doubt() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: long\n  shell: { command: 'echo $$ > pgid; sleep 60' }\n",
    ));
    t.run(&["preflight"]).code(SUCCESS);
    let mut child = t
        .command(&["phase", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !t.path("pgid").exists() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let live = t.run(&["status"]);
    live.code(SUCCESS)
        .stdout_has("running long")
        .stdout_has("next: wait: `outpost-migrate")
        .stdout_lacks("in doubt");
    t.run(&["status", "phase", "1"])
        .stdout_has("running")
        .stdout_lacks("in doubt");

    child.kill().unwrap();
    child.wait().unwrap();
    let pgid: i32 = std::fs::read_to_string(t.path("pgid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill(2) on the process group the step's shell leads.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    t.run(&["status"])
        .code(SUCCESS)
        .stdout_has("in doubt long")
        .stdout_has("--retry-in-doubt long");
}

#[test]
fn a_failed_check_comes_before_refused_confirmations() {
    // Without a terminal the four confirmations are refused; the failed check is the
    // pre-flight's failure all the same.
    let t = Test::new().runbook(Runbook::minimal().preflight(
        r#"- title: Checks
  steps:
    - id: api-healthy
      shell: { command: 'sleep 1; echo degraded; exit 1' }
      mutates: false
    - { id: confirm-window, confirm: The maintenance window has started }
    - { id: confirm-backup, confirm: The database backup is done }
    - { id: confirm-team, confirm: The team is told }
    - { id: confirm-rollback, confirm: The rollback owner is on call }
"#,
    ));
    let run = t.run(&["preflight"]);
    run.code(STEP_FAILED)
        .stdout_has("✘ preflight failed at step `api-healthy`: also refused: `confirm-")
        .stdout_has("(exit code 1)");
    let json = t.run(&["preflight", "--output", "json"]);
    let summary = json.json_lines().pop().unwrap();
    assert_eq!(summary["exit_code"], STEP_FAILED);
    assert_eq!(summary["stopped_at"], "api-healthy");
}
