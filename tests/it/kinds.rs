//! Each step kind doing its real work: shell, http, confirm, file.

use crate::support::{Runbook, Server, Test};
use outpost_migrate::exit_codes::{REFUSED, SETUP, STEP_FAILED, SUCCESS};

#[test]
fn shell_output_is_captured_and_parsed_as_json() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        r#"- id: emit
  shell:
    command: 'printf "{\"alb_dns_name\": {\"value\": \"alb-1.local\"}}"; echo from-env=$GREETING >&2'
    env: { GREETING: "{{ greeting }}" }
  capture: { alb_dns: json.alb_dns_name.value, err: stderr }
- id: use
  shell: { command: 'test {{ alb_dns }} = alb-1.local && echo {{ err }} | grep -q from-env=hello' }
"#,
    ));
    t.run(&["phase", "1", "--force", "--output", "json"])
        .code(SUCCESS);
    assert_eq!(t.step_state("emit")["captures"]["alb_dns"], "alb-1.local");
    assert_eq!(t.step_state("use")["status"], "succeeded");
}

#[test]
fn shell_failure_names_the_command_exit_code_and_stderr() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: broken\n  shell: { command: 'echo boom >&2; exit 7' }\n",
    ));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(STEP_FAILED)
        .stdout_has("✘ broken")
        .stdout_has("exited with 7: boom")
        .stdout_has(&format!(
            "resume with: outpost-migrate phase 1 --force --runbook {} --state-dir {}",
            t.runbook_dir().display(),
            t.state_dir().display()
        ));
    assert_eq!(t.step_state("broken")["status"], "failed");
}

#[test]
fn shell_cwd_must_exist_and_is_used() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: pwd\n  shell: { command: pwd, cwd: rb/phases }\n  capture: { where: stdout }\n",
    ));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert!(
        t.step_state("pwd")["captures"]["where"]
            .as_str()
            .unwrap()
            .trim_end()
            .ends_with("rb/phases")
    );
    let missing = Test::new().runbook(
        Runbook::minimal().phase(1, "- id: pwd\n  shell: { command: pwd, cwd: nowhere }\n"),
    );
    missing
        .run(&["phase", "1", "--force"])
        .code(SETUP)
        .stdout_has("working directory `nowhere` does not exist");
}

#[test]
fn http_get_checks_status_and_body() {
    let server = Server::start();
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars(&format!("  api_url: {}\n", server.url))
            .verify(
                r#"- title: Health Check Commands
  steps:
    - id: live
      title: Liveness probe
      http: { url: "{{ api_url }}/health/live" }
      expect: [{ query: body.status, equals: ok }]
    - id: healthy
      http: { url: "{{ api_url }}/health" }
      expect: [{ query: body.status, equals: degraded }]
    - id: gateway
      http: { url: "{{ api_url }}/fail" }
    - id: gateway-accepted
      http: { url: "{{ api_url }}/fail", status: [502] }
      expect: [{ query: status, equals: 502 }]
"#,
            ),
    );
    let run = t.run(&["verify"]);
    run.code(STEP_FAILED)
        .stdout_has("✔ Liveness probe")
        .stdout_has("ok")
        .stdout_has("expected `body.status` to equal \"degraded\", found \"healthy\"")
        .stdout_has("answered 502: \"bad gateway\"")
        .stdout_has("✔ gateway-accepted");
    assert_eq!(server.count("GET", "/health"), 2);
}

#[test]
fn http_post_sends_json_and_authorization_and_redacts_it() {
    let server = Server::start();
    let key = "op_test_8f3b2c1d9e7a6f5b";
    let t = Test::new().env("OUTPOST_API_KEY", key).runbook(
        Runbook::minimal()
            .vars(&format!("  api_url: {}\n", server.url))
            .phase(
                1,
                r#"- id: dispatch
  http:
    method: POST
    url: "{{ api_url }}/dispatch"
    headers: { Authorization: "Bearer {{ env.OUTPOST_API_KEY }}" }
    json: { agent: claude, task: "echo hello world", repo: rgsuarez/outpost, timeoutSeconds: 300 }
  capture: { dispatch_id: body.data.dispatchId }
"#,
            ),
    );
    let run = t.run(&["phase", "1", "--force", "--output", "json", "-vvv"]);
    run.code(SUCCESS);
    assert_eq!(t.step_state("dispatch")["captures"]["dispatch_id"], "d-1");
    let seen = server.seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {key}").as_str())
    );
    let everything = format!(
        "{}{}{}",
        run.stdout,
        run.stderr,
        std::fs::read_to_string(t.state_dir().join("state.json")).unwrap()
    );
    assert!(!everything.contains(key), "the API key leaked");
}

#[test]
fn http_unauthorized_fails_the_step() {
    let server = Server::start();
    let t = Test::new().env("OUTPOST_API_KEY", "sk_wrong_prefix").runbook(Runbook::minimal().vars(&format!("  api_url: {}\n", server.url)).phase(
        1,
        "- id: dispatch\n  http:\n    method: POST\n    url: \"{{ api_url }}/dispatch\"\n    headers: { Authorization: \"Bearer {{ env.OUTPOST_API_KEY }}\" }\n    json: { agent: claude, task: test }\n",
    ));
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("answered 401")
        .stdout_lacks("sk_wrong_prefix");
}

#[test]
fn confirm_fails_closed_without_a_terminal() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: checkpoint\n  confirm: ALB responding to health checks\n",
    ));
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stdout_has("⊘ checkpoint")
        .stdout_has("--approve checkpoint");
    assert_ne!(t.step_state("checkpoint")["status"], "succeeded");
    t.run(&["phase", "1", "--force", "--approve", "checkpoint"])
        .code(SUCCESS)
        .stdout_has("✔ checkpoint");
}

#[test]
fn file_edit_keeps_a_backup_that_rollback_restores() {
    let config = "export const outpostConfig = {\n  provider: 'ssm',\n  instanceId: 'mi-0bbd8fed3f0650ddb',\n};\n";
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  config: mcpify/config.ts\n")
            .phase(
                3,
                r#"- id: switch-provider
  file:
    path: "{{ config }}"
    edits:
      - { replace: "provider: 'ssm'", with: "provider: 'http'" }
      - { remove_line: "instanceId: 'mi-0bbd8fed3f0650ddb'," }
      - { ensure_line: "// endpoint: https://api.outpost.dev" }
"#,
            )
            .rollback(
                1,
                "reverts: 3\n",
                "- id: restore-provider\n  file: { restore: switch-provider }\n",
            ),
    );
    std::fs::create_dir_all(t.path("mcpify")).unwrap();
    std::fs::write(t.path("mcpify/config.ts"), config).unwrap();
    t.run(&["phase", "3", "--force"]).code(SUCCESS);
    let edited = std::fs::read_to_string(t.path("mcpify/config.ts")).unwrap();
    assert_eq!(
        edited,
        "export const outpostConfig = {\n  provider: 'http',\n};\n// endpoint: https://api.outpost.dev\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.state_dir().join("backups/switch-provider")).unwrap(),
        config
    );
    let leftovers: Vec<_> = std::fs::read_dir(t.path("mcpify"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files left behind: {leftovers:?}"
    );

    t.run(&["rollback", "--level", "1"])
        .code(SUCCESS)
        .stdout_has("✔ restore-provider");
    assert_eq!(
        std::fs::read_to_string(t.path("mcpify/config.ts")).unwrap(),
        config
    );
}

#[test]
fn file_restore_without_a_backup_fails_clearly() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .phase(
                3,
                "- id: never-ran\n  file: { path: config.ts, edits: [{ ensure_line: x }] }\n",
            )
            .rollback(
                1,
                "reverts: 3\n",
                "- id: restore\n  file: { restore: never-ran }\n",
            ),
    );
    // Phase 3 ran, then its backups were lost.
    std::fs::write(t.path("config.ts"), "a\n").unwrap();
    t.run(&["phase", "3", "--force"]).code(SUCCESS);
    std::fs::remove_dir_all(t.state_dir().join("backups")).unwrap();
    t.run(&["rollback", "--level", "1"])
        .code(STEP_FAILED)
        .stdout_has("no backup from step `never-ran`");
}
