//! Templates are data, never code: a value (a `--var`, a capture from an HTTP body) lands in a
//! shell command as one quoted word, in a URL as one path segment, in a pattern literally and
//! in a line as one line; templates in JMESPath, quotes around a value in a command, `raw` on
//! anything but a var and unknown filters are validation errors.

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::json;

use crate::support::{Runbook, Server, Test};

const HOSTILE_DOMAIN: &str = "domain=x.com; touch PWNED";

#[test]
fn a_var_is_one_shell_word_in_a_read_only_step_also_in_a_dry_run() {
    for (command, dry_run) in [
        ("echo dig +short {{ domain }}", false),
        ("echo dig +short {{ domain }}", true),
        ("echo dig +short {{ domain | tojson }}", false),
        ("echo dig +short {{ domain | e }}", false),
    ] {
        let t = Test::new().runbook(
            Runbook::minimal()
                .vars("  domain: api.outpost.dev\n")
                .phase(
                    1,
                    &format!(
                        "- id: resolve\n  shell: {{ command: \"{command}\" }}\n  mutates: false\n  capture: {{ said: stdout }}\n"
                    ),
                ),
        );
        let mut args = vec!["phase", "1", "--force", "--var", HOSTILE_DOMAIN];
        if dry_run {
            args.push("--dry-run");
        }
        t.run(&args).code(SUCCESS);
        assert!(
            !t.path("PWNED").exists(),
            "`{command}` (dry run: {dry_run}) ran the value as code"
        );
        if !dry_run {
            let said = t.step_state("resolve")["captures"]["said"].clone();
            assert!(
                said.as_str().unwrap().contains("x.com; touch PWNED"),
                "the value is passed whole: {said}"
            );
        }
    }
}

#[test]
fn a_value_captured_from_an_http_body_is_one_shell_word_and_one_url_segment() {
    let server = Server::start();
    let rb = Runbook::minimal()
        .vars(&format!("  api_url: {}\n", server.url))
        .phase(
            1,
            r#"- id: fetch
  http: { url: "{{ api_url }}/hostile" }
  capture: { name: body.name, where: body.path }
- id: greet
  shell: { command: "echo hello {{ name }}" }
  mutates: false
  capture: { said: stdout }
- id: follow
  http: { url: "{{ api_url }}/dispatch/{{ where }}" }
"#,
        );
    for dry_run in [true, false] {
        let t = Test::new().runbook(rb.clone());
        let mut args = vec!["phase", "1", "--force"];
        if dry_run {
            args.push("--dry-run");
        }
        t.run(&args).code(SUCCESS);
        assert!(
            !t.path("PWNED").exists(),
            "a captured value ran as code (dry run: {dry_run})"
        );
        assert_eq!(
            server.count("GET", "/admin"),
            0,
            "a captured value walked out of its path segment: {:?}",
            server.seen()
        );
        if !dry_run {
            assert_eq!(
                t.step_state("greet")["captures"]["said"],
                "hello a$(touch PWNED)b\n"
            );
        }
    }
    assert_eq!(server.count("GET", "/dispatch/"), 2);
}

fn config_edit(edit: &str) -> Test {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  name: mi-1\n  endpoint: https://api.outpost.dev\n")
            .phase(
                3,
                &format!("- id: edit\n  file:\n    path: config.ts\n    edits:\n      - {edit}\n"),
            ),
    );
    std::fs::write(
        t.path("config.ts"),
        "provider: 'ssm',\ninstanceId: 'mi-1',\n",
    )
    .unwrap();
    t
}

#[test]
fn a_var_in_a_replace_pattern_matches_literally() {
    let edit = r#"{ replace: "instanceId: '{{ name }}'", with: "instanceId: 'gone'" }"#;
    let t = config_edit(edit);
    // Taken literally, `.*` matches nothing: the edit fails and nothing is written.
    t.run(&["phase", "3", "--force", "--var", "name=.*"])
        .code(STEP_FAILED)
        .stdout_has("matches nothing");
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: 'ssm',\ninstanceId: 'mi-1',\n",
        "`.*` matched as a pattern"
    );
    let t = config_edit(edit);
    t.run(&["phase", "3", "--force"]).code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: 'ssm',\ninstanceId: 'gone',\n"
    );
}

#[test]
fn a_var_holding_a_newline_cannot_add_a_line() {
    let t = config_edit(r#"{ ensure_line: "endpoint: '{{ endpoint }}'," }"#);
    t.run(&[
        "phase",
        "3",
        "--force",
        "--var",
        "endpoint=x',\nadmin: true",
    ])
    .code(STEP_FAILED)
    .stdout_has("would break the line");
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: 'ssm',\ninstanceId: 'mi-1',\n"
    );
}

#[test]
fn a_header_value_cannot_hold_a_line_break() {
    let server = Server::start();
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars(&format!("  api_url: {}\n  who: me\n", server.url))
            .phase(
                1,
                "- id: live\n  http: { url: \"{{ api_url }}/health/live\", headers: { X-Who: \"{{ who }}\" } }\n",
            ),
    );
    t.run(&["phase", "1", "--force", "--var", "who=me\r\nX-Admin: 1"])
        .code(STEP_FAILED)
        .stdout_has("holds a line break");
    assert_eq!(server.count("GET", "/health/live"), 0);
}

#[test]
fn a_base_url_must_be_an_absolute_http_url() {
    let server = Server::start();
    let rb = Runbook::minimal()
        .vars(&format!("  api_url: {}\n", server.url))
        .phase(
            1,
            "- id: live\n  http: { url: \"{{ api_url }}/health/live\" }\n",
        );
    let t = Test::new().runbook(rb.clone());
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let t = Test::new().runbook(rb);
    t.run(&[
        "phase",
        "1",
        "--force",
        "--var",
        &format!("api_url={}/x?y=1", server.url),
    ])
    .code(STEP_FAILED)
    .stdout_has("must be an absolute http(s) URL without query or fragment");
    assert_eq!(server.count("GET", "/health/live"), 1);
}

/// `validate` on a runbook whose phase 1 has these steps: its exit code and stderr.
fn validate(steps: &str) -> (i32, String) {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  domain: api.outpost.dev\n  restart: systemctl restart mcpify\n")
            .phase(1, steps),
    );
    let run = t.run(&["validate"]);
    (run.code, run.stderr)
}

#[track_caller]
fn invalid(steps: &str, at: &str, message: &str, hint: &str) {
    let (code, stderr) = validate(steps);
    assert_eq!(code, USAGE_OR_RUNBOOK, "{stderr}");
    assert!(
        stderr.contains(&format!("phases/1.yaml:{at}")),
        "not at {at}:\n{stderr}"
    );
    assert!(stderr.contains(message), "no {message:?}:\n{stderr}");
    assert!(stderr.contains(hint), "no hint {hint:?}:\n{stderr}");
}

#[test]
fn a_template_in_any_jmespath_expression_is_a_located_error() {
    let hint = "equals: \"{{ domain }}.\"";
    let message = "is a JMESPath expression and may not hold a template";
    let read = "shell: { command: 'true' }\n  mutates: false\n";
    invalid(
        &format!(
            "- id: q\n  {read}  expect:\n    - query: \"stdout[?Name=='{{{{ domain }}}}.']\"\n      len: 0\n"
        ),
        "7:32",
        &format!("`query` {message}"),
        hint,
    );
    invalid(
        &format!("- id: c\n  {read}  capture: {{ x: \"[?n=='{{{{ domain }}}}']\" }}\n"),
        "6:26",
        &format!("capture `x` {message}"),
        hint,
    );
    invalid(
        &format!("- id: s\n  {read}  show: \"[?n=='{{{{ domain }}}}']\"\n"),
        "6:18",
        &format!("`show` {message}"),
        hint,
    );
    invalid(
        &format!(
            "- id: u\n  {read}  retry:\n    attempts: 2\n    until:\n      - {{ query: \"{{{{ domain }}}}\", exists: true }}\n"
        ),
        "9:21",
        &format!("`query` {message}"),
        hint,
    );
    invalid(
        "- id: p\n  shell: { command: 'true' }\n  verify:\n    shell: { command: 'true' }\n    mutates: false\n    expect: [{ query: \"a == '{{ domain }}'\", exists: true }]\n",
        "8:32",
        &format!("`query` {message}"),
        hint,
    );
}

#[test]
fn quotes_around_a_value_in_a_shell_command_are_a_located_error() {
    invalid(
        "- id: q\n  shell: { command: \"echo '{{ domain }}'\" }\n",
        "4:30",
        "`{{ domain }}` inside quotes in a shell command",
        "use \"$NAME\"",
    );
    invalid(
        "- id: m\n  mcp: { command: 'server --name \"{{ domain }}\"', tool: t }\n",
        "4:37",
        "inside quotes in a shell command",
        "values are quoted for you",
    );
}

#[test]
fn raw_is_only_for_a_var_and_validate_and_plan_list_it() {
    let capture =
        "- id: read\n  shell: { command: 'true' }\n  mutates: false\n  capture: { out: stdout }\n";
    invalid(
        &format!("{capture}- id: use\n  shell: {{ command: \"{{{{ out | raw }}}}\" }}\n"),
        "8:27",
        "`raw` on `out`, which is not a var",
        "a capture, `env.NAME` or `item` is always escaped",
    );
    invalid(
        "- id: use\n  shell: { command: \"{{ env.HOME | raw }}\" }\n",
        "4:",
        "`raw` applies to one var alone",
        "drop it",
    );
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  restart: echo restarted > restarted\n")
            .phase(
                1,
                "- id: restart\n  shell: { command: \"{{ restart | raw }}\" }\n",
            ),
    );
    t.run(&["validate"])
        .code(SUCCESS)
        .stdout_has("phases/1.yaml:3  step `restart` shell.command: {{ restart | raw }}");
    let plan = t.run(&["plan", "phase", "1", "--output", "json"]);
    plan.code(SUCCESS);
    let steps = &plan.json_lines()[0]["units"][0]["steps"][0];
    assert_eq!(
        steps["raw"],
        json!([{"field": "shell.command", "template": "{{ restart | raw }}"}])
    );
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("restarted")).unwrap(),
        "restarted\n"
    );
}

#[test]
fn unknown_filters_and_jmespath_functions_fail_validate() {
    invalid(
        "- id: f\n  shell: { command: \"dig {{ domain | urlencode }}\" }\n",
        "4:",
        "unknown filter `urlencode`",
        "",
    );
    invalid(
        "- id: j\n  shell: { command: 'true' }\n  mutates: false\n  expect: [{ query: \"to_upper(stdout)\", exists: true }]\n",
        "6:",
        "unknown function `to_upper()`",
        "",
    );
}

/// Marks rollback 2's DELETE as in doubt, as a crash after its checkpoint and before its
/// request leaves it.
fn delete_in_doubt(t: &Test) {
    let path = t.state_dir().join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["steps"]["rollback-dns-delete-alias"] = json!({
        "unit": "rollback-2",
        "status": "running",
        "attempts": 0,
        "started_at": "2026-01-01T00:00:00Z",
        "hash": "crashed-before-the-request",
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

/// The shipped rollback 2 matches the record by value: with the record still in Route53 its
/// probe does not call the DELETE done and its "No A record left" check fails; once the
/// record is gone both pass.
#[test]
fn rollback_2_finds_the_record_it_must_delete() {
    let moto = crate::aws::without_legacy_record();
    let server = Server::start();
    let before = crate::aws::records(&moto);
    let t = crate::aws::through_phase_1(&moto, &server);
    let no_dns = ["--var", "verify_public_dns=false"];
    t.run(&[&["phase", "2", "--yes"][..], &no_dns].concat())
        .code(SUCCESS);
    let with_record = crate::aws::records(&moto);
    assert_ne!(with_record, before);
    let rollback = [
        &["rollback", "--level", "2", "--yes", "--output", "json"][..],
        &no_dns,
    ]
    .concat();

    // Recorded done without its request: the check sees the record still there.
    delete_in_doubt(&t);
    let run = t.run(&[&rollback[..], &["--mark-done", "rollback-dns-delete-alias"]].concat());
    run.code(STEP_FAILED);
    assert_eq!(
        run.step_event("rollback-dns-record-gone")["outcome"],
        "failed"
    );
    assert_eq!(crate::aws::records(&moto), with_record);

    // In doubt: the probe finds the record, so the DELETE is sent; then the check passes.
    delete_in_doubt(&t);
    let run = t.run(&rollback);
    run.code(SUCCESS);
    assert!(
        run.step_event("rollback-dns-delete-alias")["message"]
            .as_str()
            .unwrap()
            .contains("its probe did not show its work"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.step_event("rollback-dns-record-gone")["outcome"],
        "succeeded"
    );
    assert_eq!(crate::aws::records(&moto), before);
}

#[test]
fn a_var_is_one_word_in_an_mcp_server_command() {
    let command = format!(
        "python3 {}/rehearsal/mcpify.py --stdio --config {{{{ config }}}}",
        env!("CARGO_MANIFEST_DIR")
    );
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  config: mcpify/config.ts\n")
            .phase(
                1,
                &format!("- id: health\n  mcp: {{ command: \"{command}\", tool: outpost_health }}\n  mutates: false\n"),
            ),
    );
    t.run(&["phase", "1", "--force", "--var", "config=x; touch PWNED"])
        .code(STEP_FAILED);
    assert!(
        !t.path("PWNED").exists(),
        "the value ran as code beside the server"
    );
}
