//! Issue 13.1, `monitor --for`: rounds of the rows that are due, each at its own interval, a
//! table after each round (printed as lines off a terminal), the window and the history kept
//! in the state so a restart continues them, and the window's end judged on the rows' last
//! checks. The rows here are local commands, their intervals seconds.

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};
use serde_json::Value;

use crate::support::{Runbook, Test};

/// A runbook whose `monitor:` rows are `rows` (a YAML list of steps at column 0).
fn watching(rows: &str) -> Test {
    let mut rb = Runbook::minimal().file(
        "checks/monitor.yaml",
        &format!(
            "title: Watch\ngroups:\n  - title: Rows\n    steps:\n{}",
            crate::support::indent(rows, 6)
        ),
    );
    rb.files
        .get_mut("runbook.yaml")
        .unwrap()
        .push_str("monitor: checks/monitor.yaml\n");
    Test::new().runbook(rb)
}

const STEADY_AND_HOURLY: &str = "\
- id: steady
  every: 1s
  shell: { command: 'echo 7' }
  mutates: false
  capture: { load: json }
  expect: [{ query: json, lte: 50 }]
  hint: too high
- id: hourly
  every: 1h
  shell: { command: \"echo '\\\"fine\\\"'\" }
  mutates: false
  capture: { word: json }
  expect: [{ query: json, equals: fine }]
  hint: not fine
";

fn samples(t: &Test, row: &str) -> Vec<Value> {
    t.state()["monitor"]["rows"][row]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn monitor_checks_each_row_at_its_interval_for_the_window_and_prints_its_table_as_lines() {
    let t = watching(STEADY_AND_HOURLY);
    let run = t.run(&["monitor", "--for", "6s"]);
    run.code(SUCCESS)
        .stdout_has("monitoring until")
        .stdout_has("next check")
        .stdout_has("│ steady")
        .stdout_has("│ hourly");
    // Off a terminal the table is printed whole after each round: no cursor movement.
    assert!(!run.stdout.contains('\u{1b}'), "{}", run.stdout);
    let steady = samples(&t, "steady");
    assert!(steady.len() >= 2, "{steady:?}");
    assert!(steady.iter().all(|s| s["ok"] == true && s["value"] == 7));
    // Due once an hour: checked once in the window.
    assert_eq!(samples(&t, "hourly").len(), 1);
    assert!(t.state()["monitor"]["window_started_at"].is_string());

    // JSON: a `monitor_table` event after each round, each row with its history.
    let t = watching(STEADY_AND_HOURLY);
    let run = t.run(&["monitor", "--for", "1s", "--output", "json"]);
    assert_eq!(run.code, SUCCESS, "{}", run.stdout);
    let table = run
        .json_lines()
        .into_iter()
        .find(|e| e["event"] == "monitor_table")
        .expect("a monitor_table event");
    assert_eq!(table["rows"][0]["row"], "steady");
    assert_eq!(table["rows"][0]["state"], "ok");
    assert_eq!(table["rows"][0]["value"], "7");
}

#[test]
fn a_restarted_monitor_continues_its_window_and_keeps_the_history() {
    let t = watching(STEADY_AND_HOURLY);
    t.run(&["monitor", "--for", "3s"]).code(SUCCESS);
    let started = t.state()["monitor"]["window_started_at"].clone();
    let before = samples(&t, "steady").len();

    // Started again with the same window, which has ended, once the steady row's second
    // has passed: one round of the rows that are due, then the end. The window is the one
    // saved, the history grows from where it was.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    t.run(&["monitor", "--for", "3s"]).code(SUCCESS);
    assert_eq!(t.state()["monitor"]["window_started_at"], started);
    assert_eq!(samples(&t, "steady").len(), before + 1);
    assert_eq!(samples(&t, "hourly").len(), 1, "the hourly row was not due");
}

#[test]
fn a_row_still_breaching_when_the_window_ends_fails_the_watch_naming_it() {
    let t = watching(
        "- id: hot\n  every: 1s\n  shell: { command: 'echo 99' }\n  mutates: false\n  \
         capture: { load: json }\n  expect: [{ query: json, lte: 50 }]\n  hint: too hot\n",
    );
    let run = t.run(&["monitor", "--for", "2s"]);
    run.code(STEP_FAILED)
        .stdout_has("breach since")
        .stderr_has("the monitoring window ended with rows breaching: hot");
    assert!(samples(&t, "hot").iter().all(|s| s["ok"] == false));
}
