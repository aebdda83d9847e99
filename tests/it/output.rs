//! Output formats: human lines without escape codes off a terminal, JSON lines, JUnit XML.

use crate::support::{Runbook, Test};
use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};

fn mixed() -> Runbook {
    Runbook::minimal().phase(1, "- id: good\n  shell: { command: echo fine }\n  capture: { said: stdout }\n- id: optional-bad\n  optional: true\n  shell: { command: 'false' }\n- id: bad\n  shell: { command: 'echo nope >&2; exit 3' }\n")
}

#[test]
fn human_output_off_a_terminal_has_no_escape_codes() {
    let t = Test::new().runbook(mixed());
    let run = t.run(&["phase", "1", "--force"]);
    run.code(STEP_FAILED)
        .stdout_has("✔ good")
        .stdout_has("! optional-bad")
        .stdout_has("✘ bad")
        .stdout_has("exited with 3: nope");
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'),
        "escape codes in plain output:\n{}",
        run.stdout
    );
}

/// Runs the binary on a pseudo-terminal (`script`), where colour is on by default, without
/// NO_COLOR; returns what the terminal showed.
fn on_a_terminal(t: &Test, args: &[&str]) -> String {
    let cmd = t.command(args);
    let line = std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(t.dir.path())
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("`script` (util-linux) is needed for the terminal test");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when `text` holds a colour or style escape (SGR, `ESC [ ... m`); the progress line's
/// erase-line codes are not colour.
fn has_colour(text: &str) -> bool {
    text.split('\u{1b}').skip(1).any(|rest| {
        rest.strip_prefix('[').is_some_and(|params| {
            let end = params.find(|c: char| !c.is_ascii_digit() && c != ';');
            end.is_some_and(|i| params[i..].starts_with('m'))
        })
    })
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let t = Test::new().runbook(mixed());
    let coloured = on_a_terminal(&t, &["phase", "1", "--force"]);
    assert!(coloured.contains("nope"), "{coloured}");
    assert!(
        has_colour(&coloured),
        "a terminal gets colour by default:\n{coloured}"
    );
    let t = Test::new().runbook(mixed());
    let plain = on_a_terminal(&t, &["phase", "1", "--force", "--no-color"]);
    assert!(plain.contains("exited with 3: nope"), "{plain}");
    assert!(!has_colour(&plain), "colour with --no-color:\n{plain}");
}

#[test]
fn json_output_is_one_event_per_line_then_a_summary() {
    let t = Test::new().runbook(mixed());
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(STEP_FAILED);
    let events = run.json_lines();
    assert_eq!(events[0]["event"], "run_started");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"step_started") && kinds.contains(&"unit_finished"));
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["exit_code"], STEP_FAILED);
    assert_eq!(summary["stopped_at"], "bad");
    assert_eq!(
        summary["resume"],
        format!(
            "outpost-migrate phase 1 --force --output json --runbook {} --state-dir {}",
            t.runbook_dir().display(),
            t.state_dir().display()
        )
    );
    assert_eq!(run.step_event("good")["found"], "fine");
    assert_eq!(run.step_event("optional-bad")["outcome"], "failed_optional");
}

#[test]
fn junit_output_has_a_testcase_per_step_with_failure_messages() {
    let t = Test::new().runbook(mixed());
    let run = t.run(&["phase", "1", "--force", "--output", "junit"]);
    run.code(STEP_FAILED);
    let doc = roxmltree::Document::parse(&run.stdout)
        .unwrap_or_else(|e| panic!("not XML ({e}):\n{}", run.stdout));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, ["good", "optional-bad", "bad"]);
    let failure = cases[2]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("the failed step carries a failure");
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("exited with 3: nope")
    );
    assert!(cases[0].children().all(|n| !n.has_tag_name("failure")));
    assert!(cases[1].children().any(|n| n.has_tag_name("skipped")));
}

#[test]
fn the_embedded_runbook_plans_the_whole_migration() {
    let run = Test::new().command(&[]).output().unwrap();
    assert_eq!(
        run.status.code(),
        Some(USAGE_OR_RUNBOOK),
        "no command is a usage error"
    );
    let plan = std::process::Command::new(crate::support::BIN)
        .arg("plan")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(SUCCESS), "{text}");
    for unit in [
        "(preflight,",
        "(phase-1,",
        "(phase-2,",
        "(phase-3,",
        "(phase-4,",
        "(phase-5,",
        "(verify,",
        "(rollback-1,",
        "(rollback-2,",
        "(rollback-3,",
    ] {
        assert!(text.contains(unit), "plan lacks {unit}:\n{text}");
    }
    assert!(
        text.contains("terraform plan -input=false -no-color -target=module.alb -out=alb.plan")
    );
    let json = std::process::Command::new(crate::support::BIN)
        .args(["plan", "phase", "1", "--output", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["units"].as_array().unwrap().len(), 1);
    let apply = doc["units"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "alb-terraform-apply")
        .expect("phase 1 applies the plan");
    assert_eq!(apply["approval"], true);
}

#[test]
fn the_embedded_runbook_validates() {
    let out = std::process::Command::new(crate::support::BIN)
        .arg("validate")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(SUCCESS));
    assert!(String::from_utf8_lossy(&out.stdout).contains("runbook `outpost-ssm-to-ecs` is valid"));
}

#[test]
fn every_mutating_step_of_the_embedded_runbook_settles_its_own_doubt() {
    let json = std::process::Command::new(crate::support::BIN)
        .args(["plan", "all", "--output", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let mutating: Vec<(String, String)> = doc["units"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["steps"].as_array().unwrap())
        .filter(|s| s["access"] == "mutating")
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["in_doubt"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(mutating.len() >= 18, "{mutating:?}");
    let by_hand: Vec<_> = mutating
        .iter()
        .filter(|(_, how)| how.starts_with("you decide"))
        .collect();
    assert!(by_hand.is_empty(), "left to the operator: {by_hand:?}");
    let how = |id: &str| &mutating.iter().find(|(s, _)| s == id).unwrap().1;
    assert_eq!(how("tool-outpost-dispatch"), "probed");
    assert_eq!(how("rollback-ssm-test-command"), "probed");
    assert_eq!(how("dns-upsert-alias"), "probed");
    // `file` steps are idempotent by construction.
    assert_eq!(how("mcpify-config-http-provider"), "run again (idempotent)");

    // A step that is neither is shown as the operator's to settle.
    let t = Test::new().runbook(
        crate::support::Runbook::minimal()
            .phase(1, "- id: append\n  shell: { command: 'echo x >> log' }\n"),
    );
    t.run(&["plan", "phase", "1"])
        .code(SUCCESS)
        .stdout_has("[after a crash: you decide (--retry-in-doubt / --mark-done)]");
}
