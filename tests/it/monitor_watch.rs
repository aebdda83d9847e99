//! Issue 13.1, `monitor --for`: rounds of the rows that are due, each at its own interval, a
//! table after each round (printed as lines off a terminal), the window and the history kept
//! in the state so a restart continues them, and the window's end judged on the rows' last
//! checks. The rows here are local commands, their intervals seconds.

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::Value;

use crate::support::{Runbook, Server, Test};

/// A runbook whose `monitor:` rows are `rows` (a YAML list of steps at column 0).
fn watching(rows: &str) -> Test {
    watching_with(rows, "")
}

/// `watching`, with `more` at the end of `runbook.yaml`.
fn watching_with(rows: &str, more: &str) -> Test {
    Test::new().runbook(monitor_runbook(rows, more))
}

/// The minimal runbook with `monitor:` rows `rows` and `more` at the end of `runbook.yaml`.
fn monitor_runbook(rows: &str, more: &str) -> Runbook {
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
        .push_str(&format!("monitor: checks/monitor.yaml\n{more}"));
    rb
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

    // The report shows the rows with their history, not as steps the runbook lacks.
    let md = t.run(&["report"]);
    md.code(SUCCESS)
        .stdout_has("## Monitoring")
        .stdout_has("Watched from ")
        .stdout_has("| `steady` steady | ")
        .stdout_has("### `steady` history")
        .stdout_has("| within target | `7` |")
        .stdout_lacks("No monitoring recorded.")
        .stdout_lacks("(recorded in monitor)");
    let html = t.run(&["report", "--format", "html"]);
    html.code(SUCCESS)
        .stdout_has("<h3><code>steady</code> history</h3>")
        .stdout_has("<td>within target</td><td><code>7</code></td>");
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

/// A watch whose row `down` breaches at once and calls for rollback level 1 at once, with a
/// Slack channel at `slack`, after a forward run that rollback can undo.
fn breaching_with_a_rollback(slack: &str) -> Test {
    let t = watching_with(
        "- id: down\n  every: 1s\n  breach: { rollback: 1, after: 0s }\n  \
         shell: { command: \"echo '\\\"unhealthy\\\"'\" }\n  mutates: false\n  \
         capture: { status: json }\n  expect: [{ query: json, equals: healthy }]\n  hint: down\n",
        "notify:\n  slack_channel: '#outpost-alerts'\n",
    )
    .env("OUTPOST_SLACK_WEBHOOK_URL", slack);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    t
}

fn breach_audit(t: &Test) -> Vec<Value> {
    t.audit()
        .into_iter()
        .filter(|a| a["event"] == "monitor_breach")
        .collect()
}

#[test]
fn with_auto_rollback_a_sustained_breach_runs_its_rollback_and_records_it() {
    let slack = Server::start();
    let t = breaching_with_a_rollback(&format!("{}/slack", slack.url));
    let run = t.run(&["monitor", "--for", "1h", "--auto-rollback"]);
    run.code(STEP_FAILED).stderr_has(
        "monitoring stopped: `down` breached and `rollback --level 1` ran (exit code 0)",
    );
    assert_eq!(t.step_state("r1-noop")["status"], "succeeded");
    let decided = &t.state()["monitor"]["rollbacks"][0];
    assert_eq!(decided["row"], "down");
    assert_eq!(decided["level"], 1);
    assert_eq!(
        decided["outcome"],
        "rollback ran (--auto-rollback), exit code 0"
    );
    let audit = breach_audit(&t);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["step"], "down");
    assert!(
        slack
            .seen()
            .iter()
            .any(|s| s.method == "POST" && s.path == "/slack"),
        "no notification sent"
    );
}

#[test]
fn without_auto_rollback_or_a_terminal_a_breach_is_announced_and_its_rollback_not_run() {
    let slack = Server::start();
    let t = breaching_with_a_rollback(&format!("{}/slack", slack.url));
    t.run(&["monitor", "--for", "2s"])
        .code(STEP_FAILED)
        .stderr_has("rows breaching: down");
    assert_eq!(t.step_state("r1-noop"), Value::Null, "the rollback ran");
    let decided = &t.state()["monitor"]["rollbacks"];
    assert_eq!(
        decided.as_array().map(Vec::len),
        Some(1),
        "asked once: {decided}"
    );
    assert_eq!(
        decided[0]["outcome"],
        "not run: no terminal to ask (--auto-rollback runs it)"
    );
    assert_eq!(breach_audit(&t).len(), 1);
    assert!(slack.seen().iter().any(|s| s.path == "/slack"));
}

#[test]
fn every_and_breach_are_checked_at_load_time_naming_file_line_and_column() {
    let rb = monitor_runbook(
        "- id: bare\n  shell: { command: 'true' }\n  mutates: false\n\
         - id: daily-twice\n  every: 2d\n  shell: { command: 'true' }\n  mutates: false\n\
         - id: far\n  every: 1m\n  breach: { rollback: 7, after: 1m }\n  \
         shell: { command: 'true' }\n  mutates: false\n",
        "",
    )
    .phase(
        1,
        "- id: p\n  every: 5m\n  shell: { command: 'true' }\n  mutates: false\n",
    );
    Test::new()
        .runbook(rb)
        .run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("monitoring row `bare` has no `every`")
        .stderr_has("checks/monitor.yaml:5:")
        .stderr_has("`every: 2d` is out of bounds")
        .stderr_has("checks/monitor.yaml:9:")
        .stderr_has("there is no rollback level 7")
        .stderr_has("checks/monitor.yaml:14:")
        .stderr_has("`every` on step `p` of phase 1")
        .stderr_has("phases/1.yaml:4:12");
}
