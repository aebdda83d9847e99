//! Checks that can fail: each matcher holds and fails, missing data satisfies no matcher, the
//! fleet's agents must all be there, a `file` edit that matches nothing (or a missing file)
//! fails, and a rollback acts only on what a recorded forward run did.

use std::os::unix::fs::PermissionsExt;

use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::json;

use crate::support::{Runbook, Test, rehearsal_script};

/// The state of the embedded runbook recording a phase 1 that ran (and failed): a forward run
/// for rollback to act on, without running terraform.
pub(crate) fn record_a_failed_phase_1(t: &Test) {
    std::fs::create_dir_all(t.state_dir()).unwrap();
    std::fs::set_permissions(t.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = json!({
        "format": 1, "serial": 1, "runbook": "outpost-ssm-to-ecs",
        "created_at": "2026-11-28T02:00:00Z", "updated_at": "2026-11-28T02:00:00Z",
        "steps": {"alb-terraform-init": {
            "unit": "phase-1", "status": "failed", "attempts": 1, "hash": "0"
        }}
    });
    std::fs::write(t.state_dir().join("state.json"), state.to_string()).unwrap();
}

/// A phase 1 whose one step prints `json` and checks it with `expect`.
fn checking(json: &str, expect: &str) -> Test {
    Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: fleet\n  shell:\n    command: |\n      echo '{json}'\n  mutates: false\n  expect:\n{}",
            crate::support::indent(expect, 4)
        ),
    ))
}

#[test]
fn a_check_over_missing_data_fails_with_found_nothing() {
    // Before: null had length 0, so "no unavailable agent" passed with no fleet data at all.
    let t = checking(
        r#"{"data": {}}"#,
        "- query: 'json.data.agents[?!available].agent'\n  len: 0\n",
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("✘ fleet")
        .stdout_has("found nothing at `json.data.agents[?!available].agent`");
    // Before: a missing state was "not ALARM".
    let t = checking(
        r#"{"MetricAlarms": []}"#,
        "- query: 'json.MetricAlarms[0].StateValue'\n  not_equals: ALARM\n",
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("found nothing at `json.MetricAlarms[0].StateValue`");
    // Data that is there is judged as before, and `exists: false` requires absence.
    let t = checking(
        r#"{"data": {"agents": [{"agent": "claude", "available": true}]}}"#,
        "- query: 'json.data.agents[?!available].agent'\n  len: 0\n- query: json.data.gone\n  exists: false\n",
    );
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
}

#[test]
fn a_list_under_contains_names_each_item_missing() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  agents: [claude, codex, grok]\n")
            .phase(
                1,
                "- id: fleet\n  shell: { command: \"echo '{\\\"agents\\\": [{\\\"agent\\\": \\\"codex\\\"}]}'\" }\n  mutates: false\n  expect:\n    - query: 'json.agents[].agent'\n      contains: \"{{ agents }}\"\n",
            ),
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("missing \"claude\", \"grok\"");
}

#[test]
fn a_fleet_without_one_of_the_five_agents_fails_preflight_naming_it() {
    // Before: `data.agents[?!available]` only looked at the agents reported, so a fleet that
    // did not report grok passed phase 3. Now pre-flight asks for every agent, before any
    // phase (phase 3's checkpoint asks the same: the break matrix shows it failing).
    let (code, out) = rehearsal_script(
        "rehearse.py",
        &["--forward-only", "--fault", "agent-missing"],
    );
    assert_eq!(code, STEP_FAILED, "{out}");
    assert!(
        out.contains("✘ Every agent available (claude, codex, gemini, aider, grok)"),
        "{out}"
    );
    assert!(out.contains("missing \"grok\""), "{out}");
    assert!(
        out.contains("✘ run failed at step `control-plane-agents-available`"),
        "{out}"
    );
}

fn editing(config: Option<&str>, optional: bool) -> Test {
    let t = Test::new().runbook(Runbook::minimal().phase(
        3,
        &format!(
            "- id: switch-provider\n  optional: {optional}\n  file:\n    path: config.ts\n    edits:\n      - {{ replace: \"provider: 'ssm'\", with: \"provider: 'http'\" }}\n"
        ),
    ));
    if let Some(config) = config {
        std::fs::write(t.path("config.ts"), config).unwrap();
    }
    t
}

#[test]
fn a_file_edit_that_matches_nothing_fails_and_writes_nothing() {
    // Before: the edit did nothing and showed ✔.
    let t = editing(Some("provider: \"ssm\",\n"), false);
    t.run(&["phase", "3", "--force"])
        .code(STEP_FAILED)
        .stdout_has("✘ switch-provider")
        .stdout_has("edit 1 of config.ts: the pattern `provider: 'ssm'` matches nothing");
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: \"ssm\",\n"
    );
    assert!(!t.state_dir().join("backups/switch-provider").exists());
    // In an optional step the failure is reported and the run goes on.
    let t = editing(Some("provider: \"ssm\",\n"), true);
    t.run(&["phase", "3", "--force"])
        .code(SUCCESS)
        .stdout_has("matches nothing");
}

#[test]
fn a_missing_file_is_an_error_never_created_empty() {
    // Before: the file was created empty and the step showed ✔.
    let t = editing(None, false);
    t.run(&["phase", "3", "--force"])
        .code(STEP_FAILED)
        .stdout_has("cannot edit config.ts: it does not exist");
    assert!(!t.path("config.ts").exists());
}

#[test]
fn a_file_edit_already_made_is_done_not_a_mismatch() {
    // By hand before the run: the replacement is there, the pattern no longer matches.
    let t = editing(Some("provider: 'http',\n"), false);
    t.run(&["phase", "3", "--force"]).code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: 'http',\n"
    );
}

#[cfg(feature = "failpoints")]
#[test]
fn a_file_edit_killed_after_writing_is_found_done_when_run_again() {
    let t = editing(Some("provider: 'ssm',\n"), false);
    let out = t
        .command(&["phase", "3", "--force"])
        .env("FAILPOINTS", "step-after-effect=return(switch-provider)")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "not killed");
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: 'http',\n"
    );
    // In doubt, idempotent: run again, its backup proves the edit made.
    t.run(&["phase", "3", "--force"])
        .code(SUCCESS)
        .stdout_has("✔ switch-provider");
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: 'http',\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.state_dir().join("backups/switch-provider")).unwrap(),
        "provider: 'ssm',\n"
    );
}

#[test]
fn a_rollback_with_no_forward_run_recorded_is_refused_naming_the_state_it_read() {
    // Before: run from another directory, rollback 3 skipped levels 1 and 2 ("phase never
    // ran") and scaled the control plane to 0.
    let moto = crate::aws::healthy();
    let t = Test::new().embedded().aws(&moto);
    let state = t.state_dir();
    t.run(&["rollback", "--level", "3", "--yes"])
        .code(REFUSED)
        .stderr_has(&format!("the state in {}", state.display()))
        .stderr_has("records no phase ever run")
        .stderr_has("--force");
    let service = moto.call(
        "ecs",
        "DescribeServices",
        json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
    );
    assert_eq!(service["services"][0]["desiredCount"], 1);
}

#[test]
fn a_rollback_runs_after_a_forward_run_or_when_forced() {
    let t = Test::new().runbook(Runbook::minimal());
    t.run(&["rollback", "--level", "1"]).code(REFUSED);
    t.run(&["rollback", "--level", "1", "--force"])
        .code(SUCCESS);
    let t = Test::new().runbook(Runbook::minimal());
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    t.run(&["rollback", "--level", "1"]).code(SUCCESS);
}

#[test]
fn a_rollback_step_that_changes_something_must_say_what_it_reverts() {
    let t = Test::new().runbook(Runbook::minimal().rollback(
        3,
        "",
        "- id: scale-down\n  shell: { command: \"true\" }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("phases/r3.yaml:3:")
        .stderr_has(
            "rollback step `scale-down` changes something but does not say what it `reverts`",
        )
        .stderr_has("hint:");
}

/// Each matcher both ways: `(matcher, holds on the data, does not hold)`, each case a step
/// over `{"n": 5, "s": "hello", "l": [1, 2, 3], "o": {"k": "v"}}`.
const MATCHER_CASES: &[(&str, &str, &str)] = &[
    (
        "equals",
        "{ query: json.n, equals: 5 }",
        "{ query: json.n, equals: 6 }",
    ),
    (
        "not_equals",
        "{ query: json.s, not_equals: bye }",
        "{ query: json.s, not_equals: hello }",
    ),
    (
        "contains",
        "{ query: json.s, contains: ell }",
        "{ query: json.s, contains: xyz }",
    ),
    (
        "contains-list",
        "{ query: json.l, contains: 2 }",
        "{ query: json.l, contains: 9 }",
    ),
    (
        "matches",
        "{ query: json.s, matches: '^h.*o$' }",
        "{ query: json.s, matches: '^x' }",
    ),
    (
        "gte",
        "{ query: json.n, gte: 5 }",
        "{ query: json.n, gte: 6 }",
    ),
    (
        "lte",
        "{ query: json.n, lte: 5 }",
        "{ query: json.n, lte: 4 }",
    ),
    (
        "len",
        "{ query: json.l, len: 3 }",
        "{ query: json.l, len: 2 }",
    ),
    (
        "len-nested",
        "{ query: json.l, len: { gte: 3 } }",
        "{ query: json.l, len: { lte: 2 } }",
    ),
    (
        "all",
        "{ query: json.l, all: { gte: 1 } }",
        "{ query: json.l, all: { gte: 2 } }",
    ),
    (
        "any",
        "{ query: json.l, any: { equals: 3 } }",
        "{ query: json.l, any: { equals: 4 } }",
    ),
    (
        "exists",
        "{ query: json.o.k, exists: true }",
        "{ query: json.o.gone, exists: true }",
    ),
    (
        "exists-false",
        "{ query: json.o.gone, exists: false }",
        "{ query: json.o.k, exists: false }",
    ),
];

#[test]
fn every_matcher_passes_when_it_holds_and_fails_when_it_does_not() {
    let steps: String = MATCHER_CASES
        .iter()
        .flat_map(|(name, holds, fails)| [(format!("{name}-holds"), holds), (format!("{name}-fails"), fails)])
        .map(|(id, expectation)| {
            format!(
                "- id: {id}\n  shell: {{ command: 'cat data.json' }}\n  mutates: false\n  optional: true\n  expect: [{expectation}]\n"
            )
        })
        .collect();
    let t = Test::new().runbook(Runbook::minimal().phase(1, &steps));
    std::fs::write(
        t.path("data.json"),
        r#"{"n": 5, "s": "hello", "l": [1, 2, 3], "o": {"k": "v"}}"#,
    )
    .unwrap();
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(SUCCESS);
    let mut wrong = Vec::new();
    for (name, _, _) in MATCHER_CASES {
        for (id, want) in [
            (format!("{name}-holds"), "succeeded"),
            (format!("{name}-fails"), "failed_optional"),
        ] {
            let got = run.step_event(&id)["outcome"].clone();
            if got != want {
                wrong.push(format!("{id}: {got} (want {want})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
