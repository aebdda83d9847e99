//! Issue 12, "fail before the point of no return": the rehearsal's faults that pre-flight
//! used to pass (a wrong API key, an unhealthy control plane, an exhausted warm pool, an
//! unavailable agent), failing only after phases 1–5 had changed DNS, MCPify and SSM, now fail
//! pre-flight, naming the check, and nothing has changed: the emulator received no request
//! that changes anything, the control plane no POST or DELETE, MCPify no tool call and its
//! files are as they were, and terraform never ran. And the two reads pre-flight gained for it:
//! `file: { check: STEP_ID }` and an `mcp` step without a `tool`.

use std::collections::BTreeSet;

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::Value;

use crate::rehearsal::nothing_was_changed;
use crate::support::{Runbook, Server, Test, mcpify_files_before, rehearsal_script};

/// A forward rehearsal with `fault`, its AWS requests recorded and its directory kept; checks
/// that it failed in pre-flight with exactly the checks `failing` failed (each with its hint)
/// and that nothing changed. Returns everything it printed.
fn fails_preflight_changing_nothing(fault: &str, failing: &[&str]) -> String {
    let (code, out) = rehearsal_script(
        "rehearse.py",
        &[
            "--forward-only",
            "--fault",
            fault,
            "--record",
            "--keep",
            "--",
            "--output",
            "json",
        ],
    );
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("rehearsal files kept in "))
        .unwrap_or_else(|| panic!("no kept directory in:\n{out}"))
        .trim()
        .to_owned();
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_default();
    let (aws, control_plane, mcp_calls) = (
        read("aws-requests.jsonl"),
        read("control-plane.log"),
        read("mcpify-calls.log"),
    );
    let mcpify_after: Vec<(String, String)> = mcpify_files_before()
        .into_iter()
        .map(|(name, _)| (name.clone(), read(&format!("mcpify/{name}"))))
        .collect();
    let terraform_ran = std::path::Path::new(&format!("{dir}/terraform/terraform.tfstate"))
        .exists()
        || std::path::Path::new(&format!("{dir}/terraform/.terraform")).exists();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, STEP_FAILED, "{out}");

    let events: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let started_outside: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "step_started" && e["unit"] != "preflight")
        .collect();
    assert!(
        started_outside.is_empty(),
        "a step after pre-flight started: {started_outside:?}"
    );
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["outcome"] == "failed")
        .collect();
    let failed_ids: BTreeSet<&str> = failed.iter().filter_map(|e| e["step"].as_str()).collect();
    assert_eq!(
        failed_ids,
        failing.iter().copied().collect(),
        "the pre-flight checks that failed:\n{out}"
    );
    for event in &failed {
        assert_eq!(event["unit"], "preflight", "{event}");
        assert!(
            event["hint"].as_str().is_some_and(|h| !h.trim().is_empty()),
            "no hint: {event}"
        );
    }

    nothing_was_changed(&aws, &control_plane);
    assert!(
        control_plane.contains("\"GET /health"),
        "pre-flight asked it"
    );
    assert_eq!(mcp_calls, "", "MCPify received tool calls");
    assert_eq!(
        mcpify_after,
        mcpify_files_before(),
        "MCPify's files changed"
    );
    assert!(!terraform_ran, "terraform ran");
    out
}

#[test]
fn a_wrong_api_key_fails_preflight_and_nothing_changes() {
    let out = fails_preflight_changing_nothing(
        "wrong-key",
        &[
            "api-key-set",
            "api-key-scope-read",
            "api-key-scope-artifacts",
        ],
    );
    assert!(out.contains("found \\\"malformed"), "{out}");
    // The control plane's 401 and the hint telling it from a 403.
    assert!(out.contains("expected `status` not to equal 401"), "{out}");
    assert!(
        out.contains("401: OUTPOST_API_KEY is missing, malformed"),
        "{out}"
    );
    assert!(
        out.contains("403: the key is valid but lacks the `read` scope"),
        "{out}"
    );
    assert!(
        !out.contains("sk_live_not_an_outpost_key"),
        "the API key leaked"
    );
}

#[test]
fn an_unhealthy_control_plane_fails_preflight_and_nothing_changes() {
    let out = fails_preflight_changing_nothing("unhealthy", &["control-plane-healthy"]);
    assert!(out.contains("answered 503"), "{out}");
    // The hint names the troubleshooting symptom to run.
    assert!(
        out.contains("Diagnose: `outpost-migrate diagnose control-plane`"),
        "{out}"
    );
}

#[test]
fn an_exhausted_warm_pool_fails_preflight_and_nothing_changes() {
    let out = fails_preflight_changing_nothing("pool-exhausted", &["control-plane-warm-pool"]);
    assert!(out.contains("body.data.pool.warmTasks"), "{out}");
    assert!(
        out.contains("Diagnose: `outpost-migrate diagnose dispatch-pending`"),
        "{out}"
    );
}

#[test]
fn an_unavailable_agent_fails_preflight_naming_it_and_nothing_changes() {
    let out =
        fails_preflight_changing_nothing("agent-unavailable", &["control-plane-agents-available"]);
    assert!(out.contains("found [\\\"codex\\\"]"), "{out}");
}

/// A pre-flight check of phase 3's config edit, and that edit.
fn config_check() -> Runbook {
    Runbook::minimal()
        .vars("  config: mcpify/config.ts\n")
        .preflight(
            r#"- title: Files
  steps:
    - id: config-editable
      file: { check: switch-provider }
      expect: [{ query: mismatches, len: 0 }]
      hint: Point the config var at MCPify's config.
"#,
        )
        .phase(
            3,
            r#"- id: switch-provider
  file:
    path: "{{ config }}"
    edits:
      - { replace: "provider: 'ssm'", with: "provider: 'http'" }
      - { remove_line: "instanceId: 'mi-0bbd8fed3f0650ddb'," }
"#,
        )
}

#[test]
fn a_file_check_tries_a_phases_edits_and_writes_nothing() {
    let config = |t: &Test| t.path("mcpify/config.ts");
    // Missing: the check fails with its hint, and the file is not created.
    let t = Test::new().runbook(config_check());
    t.run(&["preflight"])
        .code(STEP_FAILED)
        .stdout_has("edited by step `switch-provider`): it does not exist")
        .stdout_has("hint: Point the config var at MCPify's config.");
    assert!(!config(&t).exists());

    // Another layout: the edits the phase would fail on are counted, the first named; nothing
    // is written.
    let t = Test::new().runbook(config_check());
    std::fs::create_dir_all(t.path("mcpify")).unwrap();
    let other = "export const outpostConfig = {\n  provider: \"ssm\",\n};\n";
    std::fs::write(config(&t), other).unwrap();
    t.run(&["preflight"])
        .code(STEP_FAILED)
        .stdout_has("expected `mismatches` to have a length")
        .stdout_has("(length 2), found [\"edit 1: the pattern `provider: 'ssm'` matches nothing");
    assert_eq!(std::fs::read_to_string(config(&t)).unwrap(), other);
    let backups = std::fs::read_dir(t.state_dir().join("backups"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(backups, 0, "no backup taken");

    // The layout the phase edits: the check passes, also in a dry run (it only reads), and
    // the file is untouched until the phase runs.
    let t = Test::new().runbook(config_check());
    std::fs::create_dir_all(t.path("mcpify")).unwrap();
    let before = "export const outpostConfig = {\n  provider: 'ssm',\n  instanceId: 'mi-0bbd8fed3f0650ddb',\n};\n";
    std::fs::write(config(&t), before).unwrap();
    t.run(&["preflight", "--dry-run"])
        .code(SUCCESS)
        .stdout_has("✔ config-editable");
    t.run(&["preflight"]).code(SUCCESS);
    assert_eq!(std::fs::read_to_string(config(&t)).unwrap(), before);
    let plan = t.run(&["plan", "preflight", "--output", "json"]);
    let plan: Value = serde_json::from_str(plan.stdout.trim()).unwrap();
    let step = &plan["units"][0]["steps"][0];
    assert_eq!(step["access"], "read_only", "{step}");
    assert_eq!(step["expectations"], 1, "{step}");
}

#[test]
fn a_file_check_must_name_a_file_step_and_takes_nothing_else() {
    let t = Test::new().runbook(Runbook::minimal().preflight(
        "- title: Files\n  steps:\n    - id: lost\n      file: { check: nothing }\n    - id: both\n      file: { check: nothing, path: x.ts }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("`check: nothing` names no `file` step that edits a `path`")
        .stderr_has("`check` takes no `path`, `edits` or `restore`");
}

#[test]
fn an_mcp_step_without_a_tool_lists_the_tools_and_only_reads() {
    let server = Server::start();
    let steps = format!(
        "- id: tools\n  mcp: {{ url: \"{}/mcp\" }}\n  expect: [{{ query: tools, contains: outpost_health }}]\n",
        server.url
    );
    let t = Test::new().runbook(Runbook::minimal().phase(1, &steps));
    // Read-only by nature: it runs in a dry run.
    t.run(&["phase", "1", "--force", "--dry-run"])
        .code(SUCCESS)
        .stdout_has("✔ tools");
    assert!(server.count("POST", "/mcp") >= 2, "initialize, tools/list");
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: tools\n  mcp: { url: \"http://127.0.0.1:9/mcp\", arguments: { a: 1 } }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("`arguments` are for a `tool`");
}
