//! `diagnose [SYMPTOM]`: the troubleshooting guide's read-only units find the rehearsal's
//! faults (an unhealthy control plane, an exhausted pool, an unavailable agent, a wrong key, a
//! dispatch without artifacts) and nothing in a healthy world; findings come with their
//! evidence and resolution, secrets redacted.

use serde_json::Value;

use crate::support::{Runbook, Test, rehearsal_script};
use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};

/// Runs `diagnose` in a rehearsal world (the plain emulator) with `fault`, once per entry of
/// `commands`; gives each command's exit code and everything printed.
fn diagnose_in(fault: Option<&str>, commands: &[&str], extra: &[&str]) -> (Vec<i32>, String) {
    let mut args = vec!["--plain"];
    if let Some(f) = fault {
        args.extend(["--fault", f]);
    }
    for c in commands {
        args.extend(["--diagnose", c]);
    }
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra);
    }
    let (_, text) = rehearsal_script("rehearse.py", &args);
    let codes = exit_codes(&text);
    assert_eq!(codes.len(), commands.len(), "{text}");
    (codes, text)
}

/// As `diagnose_in`, with every AWS request the emulator received recorded and the
/// rehearsal's directory kept (its path printed).
fn diagnose_in_recorded(fault: Option<&str>, commands: &[&str]) -> (Vec<i32>, String) {
    let mut args = vec!["--plain", "--record", "--keep"];
    if let Some(f) = fault {
        args.extend(["--fault", f]);
    }
    for c in commands {
        args.extend(["--diagnose", c]);
    }
    let (_, text) = rehearsal_script("rehearse.py", &args);
    let codes = exit_codes(&text);
    assert_eq!(codes.len(), commands.len(), "{text}");
    (codes, text)
}

/// Each `diagnose` command's exit code, as rehearse.py prints them.
fn exit_codes(text: &str) -> Vec<i32> {
    text.lines()
        .filter(|l| l.starts_with("diagnose ") && l.contains(": exit code "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[track_caller]
fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
}

/// The JSON documents `diagnose --output json` printed, in order.
fn documents(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn diagnose_finds_nothing_abnormal_in_a_healthy_world() {
    let (codes, text) = diagnose_in(
        None,
        &["", "agent codex", "artifacts @dispatch"],
        &["--output", "json"],
    );
    assert_eq!(codes, [SUCCESS, SUCCESS, SUCCESS], "{text}");
    let docs = documents(&text);
    assert_eq!(docs.len(), 3, "{text}");
    for d in &docs {
        assert_eq!(d["exit_code"], SUCCESS, "{d}");
        assert_eq!(d["findings"], 0, "{d}");
        assert_eq!(d["error"], Value::Null, "{d}");
    }
    let all = &docs[0]["symptoms"];
    let status = |name: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|s| s["symptom"] == name)
            .map(|s| s["status"].clone())
            .unwrap()
    };
    assert_eq!(status("control-plane"), "nothing_abnormal");
    assert_eq!(status("dispatch-pending"), "nothing_abnormal");
    assert_eq!(status("auth"), "nothing_abnormal");
    // Without their argument, the two symptoms that need one are skipped, saying so.
    assert_eq!(status("agent"), "skipped");
    assert_eq!(status("artifacts"), "skipped");
    has(&docs[0].to_string(), "needs NAME");
    // The evidence: the control plane's log lines, read from the emulator's CloudWatch Logs.
    has(
        &docs[0].to_string(),
        "INFO pool: replenished, 3 warm tasks of 10",
    );
    // A completed dispatch's artifacts, listed under dispatches/ID/ in S3.
    has(&docs[2].to_string(), "hello.py");
}

#[test]
fn diagnose_control_plane_finds_it_unhealthy_with_its_error_log_lines_first() {
    let (codes, text) = diagnose_in(Some("unhealthy"), &["control-plane"], &[]);
    assert_eq!(codes, [STEP_FAILED], "{text}");
    has(&text, "✘ GET /health answers \"healthy\"");
    has(&text, "found \"unhealthy\"");
    has(
        &text,
        "resolution: The control plane is not healthy. Check the ECS task status",
    );
    let errors = text
        .find("│ ERROR dispatcher not responding")
        .unwrap_or_else(|| panic!("no error line shown:\n{text}"));
    let info = text.rfind("│ INFO control plane started").unwrap();
    assert!(errors < info, "errors come first:\n{text}");
    has(
        &text,
        "cause found: 2 finding(s) in control-plane (diagnose-cp-health, diagnose-cp-log-errors)",
    );
}

#[test]
fn diagnose_dispatch_pending_and_artifacts_find_the_pool_exhausted() {
    let (codes, text) = diagnose_in(
        Some("pool-exhausted"),
        &["dispatch-pending", "artifacts @dispatch"],
        &[],
    );
    assert_eq!(codes, [STEP_FAILED, STEP_FAILED], "{text}");
    has(
        &text,
        "expected `body.data.pool.warmTasks` to be >= 1, found 0",
    );
    has(
        &text,
        "resolution: The warm pool is exhausted (warmTasks = 0)",
    );
    has(&text, "│ ERROR pool: replenishment failed: no capacity");
    // The dispatch made in that world stays pending: no artifacts yet.
    has(&text, "found \"pending\"");
    has(
        &text,
        "cause found: 2 finding(s) in artifacts (diagnose-artifacts-status, diagnose-artifacts-objects)",
    );
}

#[test]
fn diagnose_agent_finds_it_unavailable_and_never_reads_its_secret() {
    let (codes, text) =
        diagnose_in_recorded(Some("agent-unavailable"), &["agent codex", "agent claude"]);
    assert_eq!(codes, [STEP_FAILED, SUCCESS], "{text}");
    has(&text, "✘ Agent codex reported and available");
    has(
        &text,
        "cause found: 1 finding(s) in agent (diagnose-agent-health)",
    );
    // The secret is described, never read: its name is shown, its value nowhere.
    has(&text, "/outpost/system/OPENAI_API_KEY");
    assert!(
        !text.contains("sentinel-"),
        "a secret's value was shown:\n{text}"
    );
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("rehearsal files kept in "))
        .unwrap_or_else(|| panic!("no kept directory in:\n{text}"))
        .trim()
        .to_owned();
    let requests = std::fs::read_to_string(format!("{dir}/aws-requests.jsonl")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        requests.contains("secretsmanager.DescribeSecret"),
        "{requests}"
    );
    assert!(
        !requests.contains("GetSecretValue"),
        "a secret's value was read"
    );
}

#[test]
fn diagnose_auth_finds_the_wrong_key_and_the_logs_never_show_it() {
    let (codes, text) = diagnose_in(Some("wrong-key"), &["auth", "control-plane"], &[]);
    assert_eq!(codes[0], STEP_FAILED, "{text}");
    has(&text, "found \"another prefix (not op_live_ or op_test_)\"");
    has(&text, "expected `status` not to equal 401, found 401");
    has(
        &text,
        "resolution: 401: the key is missing, malformed, unknown, expired or revoked",
    );
    // The control plane logged the key it rejected; the log lines shown redact it.
    has(&text, "│ WARN auth: rejected API key ***");
    assert!(
        !text.contains("sk_live_not_an_outpost_key"),
        "the key was shown:\n{text}"
    );
}

#[test]
fn diagnose_auth_tells_a_missing_scope_403_from_an_invalid_key() {
    let (codes, text) = diagnose_in(Some("scope-revoked"), &["auth"], &["--output", "json"]);
    assert_eq!(codes, [STEP_FAILED], "{text}");
    let doc = &documents(&text)[0];
    let findings = doc["symptoms"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{doc}");
    assert_eq!(findings[0]["step"], "diagnose-auth-artifacts");
    assert_eq!(
        findings[0]["message"],
        "expected `status` not to equal 403, found 403"
    );
    has(
        findings[0]["resolution"].as_str().unwrap(),
        "403: the key lacks the `artifacts` scope",
    );
}

/// A runbook whose `auth` symptom has a failing check and an evidence step echoing a secret.
fn local_symptom() -> Runbook {
    let rb = Runbook::minimal().vars("  greeting: hello\n");
    let root = format!(
        "{}diagnose:\n  - {{ symptom: auth, file: checks/d.yaml }}\n",
        rb.files["runbook.yaml"]
    );
    rb.file("runbook.yaml", &root).file(
        "checks/d.yaml",
        r#"title: Local auth
groups:
  - title: G
    steps:
      - id: d-evidence
        title: What the service logged
        shell: { command: "echo \"line with $OUTPOST_API_KEY\"" }
        mutates: false
        show: stdout
      - id: d-check
        title: Says yes
        shell: { command: "echo no" }
        mutates: false
        expect: [{ query: stdout, equals: "yes" }]
        hint: Make it say yes.
"#,
    )
}

#[test]
fn a_finding_comes_with_its_resolution_and_evidence_redacted_exit_one() {
    let t = Test::new()
        .runbook(local_symptom())
        .env("OUTPOST_API_KEY", "op_test_secret_value_42");
    let run = t.run(&["diagnose", "auth"]);
    run.code(STEP_FAILED)
        .stdout_has("✘ Says yes")
        .stdout_has("resolution: Make it say yes.")
        .stdout_has("│ line with ***")
        .stdout_lacks("op_test_secret_value_42");
    let json = t.run(&["diagnose", "--output", "json"]);
    json.code(STEP_FAILED)
        .stdout_lacks("op_test_secret_value_42");
    let doc: Value = serde_json::from_str(json.stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(doc["exit_code"], STEP_FAILED);
    assert_eq!(doc["symptoms"][0]["findings"][0]["step"], "d-check");
    assert_eq!(
        doc["symptoms"][0]["findings"][0]["resolution"],
        "Make it say yes."
    );
    assert_eq!(doc["symptoms"][0]["evidence"][0]["shown"], "line with ***");
    let junit = t.run(&["diagnose", "auth", "--output", "junit"]);
    junit
        .code(STEP_FAILED)
        .stdout_has("<failure message=\"expected `stdout` to equal &quot;yes&quot;")
        .stdout_has("Make it say yes.")
        .stdout_lacks("op_test_secret_value_42");
    // It keeps no state.
    assert!(!t.state_dir().join("state.json").exists());
}

#[test]
fn diagnose_refuses_an_unknown_symptom_a_missing_argument_and_an_extra_one() {
    let t = Test::new();
    let shipped = env!("CARGO_MANIFEST_DIR");
    t.run(&["diagnose", "network", "--runbook", shipped])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("unknown symptom `network`");
    t.run(&["diagnose", "agent", "--runbook", shipped])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("`diagnose agent` needs NAME");
    t.run(&["diagnose", "auth", "x", "--runbook", shipped])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("`diagnose auth` takes no argument");
    // A runbook without the symptom (the builder's has no `diagnose:` list).
    t.run(&["diagnose", "agent", "codex"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("the runbook has no unit for symptom `agent`");
    t.run(&["diagnose"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("the runbook lists no symptom under `diagnose:`");
}

#[test]
fn a_symptom_step_that_changes_something_is_refused_at_load() {
    let rb = local_symptom().file(
        "checks/d.yaml",
        "title: T\ngroups:\n  - title: G\n    steps:\n      - id: d-write\n        shell: { command: \"touch x\" }\n",
    );
    let t = Test::new().runbook(rb);
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("checks/d.yaml:5:13")
        .stderr_has("step `d-write` of diagnose auth does not only read");
}
