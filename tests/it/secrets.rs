//! Secrets that cannot leak: a `secret: true` capture is masked before its step is judged, a
//! cut never leaves a piece of a secret, library logs never print bodies, the command line,
//! `status` and `--show-settings` are redacted, and short values are not taken for secrets.

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};
use serde_json::json;

use crate::support::{Run, Runbook, Server, Test};

/// The API key of these tests (`OUTPOST_API_KEY`): the control plane accepts `op_test_` keys.
const KEY: &str = "op_test_k3y0123456789abcdef";
/// A value a `secret: true` step captures.
const TOKEN: &str = "tok_Secr3tValue_0123456789";

/// Everything a run left for someone to read: stdout, stderr, the state and the audit log.
fn everything(t: &Test, run: &Run) -> String {
    let mut text = format!("{}\n{}\n", run.stdout, run.stderr);
    for file in ["state.json", "audit.jsonl", "lock"] {
        text.push_str(&std::fs::read_to_string(t.state_dir().join(file)).unwrap_or_default());
    }
    text
}

#[track_caller]
fn assert_hidden(haystack: &str, secret: &str) {
    if let Some(at) = haystack.find(secret) {
        let line_start = haystack[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = haystack[at..].find('\n').map_or(haystack.len(), |i| at + i);
        panic!(
            "{secret:?} leaked in this line:\n{}",
            &haystack[line_start..line_end]
        );
    }
}

#[test]
fn a_secret_capture_whose_expectation_fails_is_masked_in_output_state_and_audit() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: read-token\n  shell: {{ command: printf {TOKEN} }}\n  mutates: false\n  secret: true\n  capture: {{ token: stdout }}\n  expect: [{{ query: stdout, equals: something-else }}]\n"
        ),
    ));
    let human = t.run(&["phase", "1", "--force"]);
    human
        .code(STEP_FAILED)
        .stdout_has("expected `stdout` to equal \"something-else\", found \"***\"");
    assert_hidden(&everything(&t, &human), TOKEN);
    let json = t.run(&["phase", "1", "--force", "--output", "json"]);
    json.code(STEP_FAILED);
    assert_hidden(&everything(&t, &json), TOKEN);
}

#[test]
fn captures_a_verify_probe_supplies_for_a_secret_step_are_masked() {
    // The step kills the tool, so the next run finds it in doubt and asks its probe.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            r#"- id: fetch-token
  shell: {{ command: 'kill -9 $PPID' }}
  secret: true
  capture: {{ token: stdout }}
  verify:
    shell: {{ command: printf {TOKEN} }}
    mutates: false
    capture: {{ token: stdout }}
- id: use-token
  shell: {{ command: 'echo {{{{ token }}}} >&2; exit 3' }}
"#
        ),
    ));
    let killed = t.run(&["phase", "1", "--force"]);
    assert_eq!(
        killed.code, -1,
        "the step kills the tool\n{}",
        killed.stdout
    );
    assert_eq!(t.step_state("fetch-token")["status"], "running");
    let run = t.run(&["phase", "1", "--force"]);
    run.code(STEP_FAILED)
        .stdout_has("its probe showed it had done its work")
        .stdout_has("exited with 3: ***");
    assert_hidden(&everything(&t, &run), TOKEN);
}

#[test]
fn the_found_column_is_redacted_before_it_is_cut_or_put_on_one_line() {
    let long = format!("tok_{}", "A1b2C3d4E5".repeat(15));
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: long\n  shell: {{ command: printf {long} }}\n  mutates: false\n  secret: true\n  capture: {{ token: stdout }}\n- id: two-lines\n  shell: {{ command: 'printf \"first-line-s3cret\\nsecond-line-s3cret\"' }}\n  mutates: false\n  secret: true\n  capture: {{ pair: stdout }}\n"
        ),
    ));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(SUCCESS)
        .stdout_has("✔ long")
        .stdout_has("✔ two-lines");
    let text = everything(&t, &run);
    assert_hidden(&text, &long[..20]);
    assert_hidden(&text, "first-line-s3cret");
    assert_hidden(&text, "second-line-s3cret");
}

#[test]
fn the_stderr_tail_of_a_failed_command_keeps_no_piece_of_a_secret_it_cuts() {
    // stderr: the key, then 590 zeros; the 600-character tail cuts the key.
    let t = Test::new()
        .env("OUTPOST_API_KEY", KEY)
        .runbook(Runbook::minimal().phase(
            1,
            "- id: noisy\n  shell: { command: 'printf %s \"$OUTPOST_API_KEY\" >&2; printf %0590d 0 >&2; exit 1' }\n",
        ));
    let cut = KEY.len() + 590 - 600;
    let run = t.run(&["phase", "1", "--force"]);
    run.code(STEP_FAILED).stdout_has("exited with 1: …***000");
    assert_hidden(&everything(&t, &run), &KEY[cut..]);
}

#[test]
fn the_http_error_snippet_keeps_no_piece_of_a_secret_it_cuts() {
    // The server echoes the body with a 400; the 300-character snippet ends inside the key.
    let server = Server::start();
    let pad = "x".repeat(276);
    let t = Test::new()
        .env("OUTPOST_API_KEY", KEY)
        .runbook(Runbook::minimal().phase(
            1,
            &format!(
                "- id: echo\n  http:\n    method: POST\n    url: {}/echo\n    json: {{ a: {pad}, b: \"{{{{ env.OUTPOST_API_KEY }}}}\" }}\n",
                server.url
            ),
        ));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(STEP_FAILED)
        .stdout_has("answered 400:")
        .stdout_has("***…");
    assert_hidden(&everything(&t, &run), &KEY[..11]);
}

#[test]
fn library_logs_at_the_highest_verbosity_never_print_a_response_body() {
    let moto = crate::aws::healthy();
    let secret = "sk_ScanSecret_0123456789";
    moto.call(
        "dynamodb",
        "PutItem",
        json!({"TableName": "outpost-dispatches", "Item": {
            "id": {"S": "dsp_secret"}, "secret": {"S": secret}}}),
    );
    let t = Test::new()
        .runbook(Runbook::minimal().phase(
            1,
            "- id: read-secret\n  aws:\n    service: dynamodb\n    operation: Scan\n    input: { TableName: outpost-dispatches }\n  secret: true\n  capture: { value: \"Items[?id.S=='dsp_secret'] | [0].secret.S\" }\n",
        ))
        .aws(&moto);
    let run = t.run(&["phase", "1", "--force", "-vvv"]);
    run.code(SUCCESS).stderr_has("DEBUG");
    assert_hidden(&everything(&t, &run), secret);
}

#[test]
fn mcp_client_logs_at_the_highest_verbosity_never_print_a_tool_result() {
    // MCPify's stand-in echoes the dispatch's agent in its result; the step captures it as a
    // secret only once the result has arrived.
    let server = Server::start();
    let secret = "agent_Secr3t_0123456789";
    let config = "config.ts";
    let t = Test::new()
        .env("OUTPOST_API_KEY", KEY)
        .env("AWS_REGION", "us-east-1");
    std::fs::write(
        t.path(config),
        format!(
            "export const outpostConfig = {{\n  provider: 'http',\n  endpoint: '{}',\n}};\n",
            server.url
        ),
    )
    .unwrap();
    let command = format!(
        "python3 {}/rehearsal/mcpify.py --stdio --config {}",
        env!("CARGO_MANIFEST_DIR"),
        t.path(config).display()
    );
    let t = t.runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: dispatch\n  mcp: {{ command: \"{command}\", tool: outpost_dispatch, arguments: {{ agent: {secret}, task: hi }} }}\n  secret: true\n  capture: {{ agent: data.agent }}\n"
        ),
    ));
    let run = t.run(&["phase", "1", "--force", "-vvv"]);
    run.code(SUCCESS).stdout_has("✔ dispatch");
    assert_eq!(server.count("POST", "/dispatch"), 1);
    assert_hidden(&everything(&t, &run), secret);
}

#[test]
fn the_command_line_is_redacted_in_the_lock_the_audit_log_and_run_started() {
    let t = Test::new()
        .env("OUTPOST_API_KEY", KEY)
        .runbook(Runbook::minimal().phase(
            1,
            "- id: see-lock\n  shell: { command: 'cp state/lock lock-seen' }\n",
        ));
    let var = format!("greeting={KEY}");
    let run = t.run(&["phase", "1", "--force", "--var", &var, "--output", "json"]);
    run.code(SUCCESS);
    let started = run
        .json_lines()
        .into_iter()
        .find(|e| e["event"] == "run_started")
        .unwrap();
    assert!(
        started["command"]
            .as_str()
            .unwrap()
            .contains("greeting=***"),
        "{started}"
    );
    let lock = std::fs::read_to_string(t.path("lock-seen")).unwrap();
    assert!(lock.contains("greeting=***"), "{lock}");
    assert_hidden(&lock, KEY);
    let audit = t.audit();
    assert!(
        audit
            .iter()
            .all(|r| r["command"].as_str().unwrap().contains("greeting=***"))
    );
    assert_hidden(&everything(&t, &run), KEY);
}

#[test]
fn status_in_every_output_and_show_settings_are_redacted() {
    let t = Test::new()
        .env("OUTPOST_API_KEY", KEY)
        .runbook(Runbook::minimal().phase(
            1,
            "- id: greet\n  title: \"Greet {{ greeting }}\"\n  shell: { command: 'true' }\n",
        ));
    let var = format!("greeting={KEY}");
    t.run(&["phase", "1", "--force", "--var", &var])
        .code(SUCCESS);
    for output in ["human", "json"] {
        let status = t.run(&["status", "--var", &var, "--output", output]);
        status.code(SUCCESS);
        assert_hidden(&status.stdout, KEY);
        assert_hidden(&status.stderr, KEY);
    }
    let json = t.run(&["status", "--var", &var, "--output", "json"]);
    assert!(json.stdout.contains("Greet ***"), "{}", json.stdout);
    let settings = t.run(&["status", "--var", &var, "--show-settings"]);
    settings.code(SUCCESS).stdout_has("greeting=***");
    assert_hidden(&settings.stdout, KEY);
}

#[test]
fn values_shorter_than_eight_characters_are_not_masked_and_a_warning_says_so() {
    let t = Test::new()
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .runbook(Runbook::minimal().phase(
            1,
            "- id: tag\n  title: Provider unit tests passing\n  shell: { command: printf latest }\n  mutates: false\n  capture: { tag: stdout }\n- id: pin\n  title: Read the PIN\n  shell: { command: printf 4711 }\n  mutates: false\n  secret: true\n  capture: { pin: stdout }\n",
        ));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(SUCCESS)
        .stdout_has("Provider unit tests passing")
        .stdout_has("latest")
        .stderr_has("AWS_SECRET_ACCESS_KEY is shorter than 8 characters, so it is not masked")
        .stderr_has(
            "capture `pin` of step `pin` is shorter than 8 characters, so it is not masked",
        );
}

#[test]
fn an_mcp_command_servers_stderr_reaches_only_the_redacted_failure() {
    // A server that prints the API key from its environment on stderr, then dies without
    // answering: its stderr used to go straight to the tool's stderr, unredacted.
    let t = Test::new().env("OUTPOST_API_KEY", KEY).runbook(Runbook::minimal().phase(
        1,
        "- id: health\n  mcp: { command: 'echo \"starting with $OUTPOST_API_KEY\" >&2; echo server-went-away >&2; exit 1', tool: outpost_health }\n  mutates: false\n",
    ));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(STEP_FAILED)
        .stdout_has("server stderr:")
        .stdout_has("server-went-away")
        .stdout_has("starting with ***");
    assert_hidden(&everything(&t, &run), KEY);
}
