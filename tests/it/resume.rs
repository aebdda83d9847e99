//! Checkpoints and resume: captures surviving restarts, rerunning only from the failed step,
//! retries, dry runs, order, rollback escalation, changed and in-doubt steps.

use std::os::unix::process::CommandExt;

use outpost_migrate::exit_codes::{INTERRUPTED, REFUSED, STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::json;

use crate::support::{Runbook, Server, Test};

fn dispatch_phase(server: &Server) -> Runbook {
    Runbook::minimal()
        .vars(&format!("  api_url: {}\n", server.url))
        .phase(
            1,
            r#"- id: create
  http:
    method: POST
    url: "{{ api_url }}/dispatch"
    headers: { Authorization: "Bearer {{ env.OUTPOST_API_KEY }}" }
    json: { agent: claude, task: "Create a simple hello.py" }
  capture: { dispatch_id: body.data.dispatchId }
- id: gate
  shell: { command: test -f ready }
- id: poll
  http: { url: "{{ api_url }}/dispatch/{{ dispatch_id }}" }
  retry:
    attempts: 5
    interval: 100ms
    until: [{ query: body.data.status, matches: "^(success|failed|timeout|cancelled)$" }]
  expect: [{ query: body.data.status, equals: success }]
- id: artifacts
  http: { url: "{{ api_url }}/artifacts/{{ dispatch_id }}" }
  expect: [{ query: body.data.files, contains: hello.py }]
"#,
        )
}

#[test]
fn interrupted_run_resumes_from_the_failed_step_with_its_captures() {
    let server = Server::start();
    let t = Test::new()
        .env("OUTPOST_API_KEY", "op_test_resume")
        .runbook(dispatch_phase(&server));
    let first = t.run(&["phase", "1", "--force"]);
    first.code(STEP_FAILED).stdout_has("✘ gate");
    assert_eq!(t.step_state("create")["captures"]["dispatch_id"], "d-1");
    assert_eq!(t.step_state("gate")["status"], "failed");
    assert!(
        t.step_state("poll").is_null(),
        "steps after the failure must not run"
    );

    std::fs::write(t.path("ready"), "").unwrap();
    let second = t.run(&["phase", "1", "--force"]);
    second
        .code(SUCCESS)
        .stdout_has("↷ create")
        .stdout_has("already succeeded")
        .stdout_has("✔ gate")
        .stdout_has("[3 attempts]");
    // The capture from the first process flowed into the second: one POST, polls of d-1.
    assert_eq!(server.count("POST", "/dispatch"), 1);
    assert_eq!(server.count("GET", "/dispatch/d-1"), 3);
    assert_eq!(server.count("GET", "/artifacts/d-1"), 1);
    assert_eq!(t.step_state("poll")["attempts"], 3);
    assert_eq!(t.step_state("gate")["attempts"], 2);
}

#[test]
fn retry_gives_up_after_its_attempts_and_says_why() {
    let server = Server::start();
    let t = Test::new().runbook(Runbook::minimal().vars(&format!("  api_url: {}\n", server.url)).phase(
        1,
        "- id: wait\n  http: { url: \"{{ api_url }}/dispatch/x\" }\n  retry: { attempts: 2, interval: 100ms, until: [{ query: body.data.status, equals: success }] }\n",
    ));
    t.run(&["phase", "1", "--force"]).code(STEP_FAILED).stdout_has("still waiting: expected `body.data.status` to equal \"success\", found \"running\" (after 2 attempts)");
}

#[test]
fn retry_with_backoff_recovers_from_transient_errors() {
    let server = Server::start();
    let t = Test::new().runbook(Runbook::minimal().vars(&format!("  api_url: {}\n", server.url)).phase(
        1,
        "- id: flaky\n  http: { url: \"{{ api_url }}/flaky\" }\n  retry: { attempts: 4, interval: 100ms, backoff: 2 }\n",
    ));
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(SUCCESS);
    let retries: Vec<_> = run
        .json_lines()
        .into_iter()
        .filter(|e| e["event"] == "step_retrying")
        .collect();
    assert_eq!(retries.len(), 2);
    // The interval, then twice it: the factor is applied, not taken as 1.
    let delays: Vec<u64> = retries
        .iter()
        .map(|e| e["delay_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(delays, [100, 200]);
    assert_eq!(server.count("GET", "/flaky"), 3);
}

#[test]
fn timeout_fails_the_attempt() {
    let server = Server::start();
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars(&format!("  api_url: {}\n", server.url))
            .phase(
                1,
                "- id: slow\n  http: { url: \"{{ api_url }}/slow\" }\n  timeout: 200ms\n",
            ),
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("timed out after 200ms");
}

#[test]
fn dry_run_runs_reads_shows_writes_and_reports_unknown_captures() {
    let server = Server::start();
    let t = Test::new().env("OUTPOST_API_KEY", "op_test_dry").runbook(dispatch_phase(&server).verify(&format!(
        "- title: Health\n  steps:\n    - id: health\n      http: {{ url: \"{}/health\" }}\n      expect: [{{ query: body.status, equals: healthy }}]\n",
        server.url
    )));
    let run = t.run(&["run", "--dry-run", "--output", "json"]);
    run.code(SUCCESS);
    assert_eq!(server.count("POST", "/"), 0, "a dry run sent a POST");
    assert_eq!(
        server.count("GET", "/health"),
        1,
        "a dry run must still run read-only checks"
    );
    let create = run.step_event("create");
    assert_eq!(create["outcome"], "would_run");
    assert!(
        create["would_run"]
            .as_str()
            .unwrap()
            .starts_with(&format!("POST {}/dispatch", server.url))
    );
    // What follows a change the dry run skipped is shown, not run.
    let gate = run.step_event("gate");
    assert_eq!(gate["outcome"], "unknown");
    assert!(
        gate["message"]
            .as_str()
            .unwrap()
            .contains("it follows `create`")
    );
    let poll = run.step_event("poll");
    assert_eq!(poll["outcome"], "unknown");
    assert!(
        poll["message"]
            .as_str()
            .unwrap()
            .contains("needs `dispatch_id`, which step `create` makes")
    );
    assert!(!t.state_dir().exists(), "a dry run must not write state");
}

#[test]
fn phase_refuses_until_earlier_phases_succeeded() {
    let t = Test::new();
    t.run(&["phase", "2"])
        .code(REFUSED)
        .stderr_has("phase 2 needs pre-flight to have succeeded first")
        .stderr_has("outpost-migrate preflight");
    t.run(&["preflight"]).code(SUCCESS);
    t.run(&["phase", "2"])
        .code(REFUSED)
        .stderr_has("needs phase 1 to have succeeded first, but step `p1-noop` has not");
    t.run(&["phase", "2", "--force"]).code(SUCCESS);
    t.run(&["phase", "1"]).code(SUCCESS);
    t.run(&["phase", "3"]).code(SUCCESS);
}

#[test]
fn run_does_preflight_phases_and_verify_then_resumes_as_skipped() {
    let t = Test::new();
    let first = t.run(&["run", "--output", "json"]);
    first.code(SUCCESS);
    let units: Vec<_> = first
        .json_lines()
        .into_iter()
        .filter(|e| e["event"] == "unit_finished")
        .map(|e| e["unit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        units,
        [
            "preflight",
            "phase-1",
            "phase-2",
            "phase-3",
            "phase-4",
            "phase-5",
            "verify"
        ]
    );
    let again = t.run(&["run", "--output", "json"]);
    again.code(SUCCESS);
    let summary = again.json_lines().pop().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["counts"]["skipped"], 7);
    assert_eq!(summary["counts"]["succeeded"], 0);
}

#[test]
fn rollback_levels_escalate_and_skip_what_never_ran() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .rollback(
                1,
                "reverts: 3\n",
                "- id: mcpify-back\n  shell: { command: echo r1 >> rollback.log }\n",
            )
            .rollback(
                2,
                "reverts: 2\n",
                "- id: dns-back\n  shell: { command: echo r2 >> rollback.log }\n",
            )
            .rollback(
                3,
                "",
                "- id: infra-back\n  shell: { command: echo r3 >> rollback.log }\n  reverts: 1\n",
            ),
    );
    t.run(&["phase", "2", "--force"]).code(SUCCESS);
    let run = t.run(&["rollback", "--level", "3", "--output", "json"]);
    run.code(SUCCESS);
    assert_eq!(run.step_event("mcpify-back")["outcome"], "skipped");
    assert!(
        run.step_event("mcpify-back")["message"]
            .as_str()
            .unwrap()
            .contains("phase 3 never ran")
    );
    assert_eq!(run.step_event("dns-back")["outcome"], "succeeded");
    assert_eq!(run.step_event("infra-back")["outcome"], "skipped");
    assert_eq!(
        std::fs::read_to_string(t.path("rollback.log")).unwrap(),
        "r2\n"
    );
    let order: Vec<_> = run
        .json_lines()
        .into_iter()
        .filter(|e| e["event"] == "unit_started")
        .map(|e| e["unit"].clone())
        .collect();
    assert_eq!(
        order,
        [
            json!("rollback-1"),
            json!("rollback-2"),
            json!("rollback-3")
        ]
    );
}

#[test]
fn a_changed_succeeded_step_is_refused_until_accepted() {
    let mut t = Test::new().runbook(Runbook::minimal().phase(1, "- id: apply\n  shell: { command: echo v1 >> applied }\n- id: after\n  shell: { command: 'false' }\n"));
    t.run(&["phase", "1", "--force"]).code(STEP_FAILED);
    t.rewrite(Runbook::minimal().phase(1, "- id: apply\n  shell: { command: echo v2 >> applied }\n- id: after\n  shell: { command: 'true' }\n"));
    let refused = t.run(&["phase", "1", "--force"]);
    refused
        .code(REFUSED)
        .stderr_has("step that already succeeded: `apply` (ran as ")
        .stderr_has("--accept-changed");
    let saved = t.step_state("apply")["hash"].as_str().unwrap().to_string();
    assert!(
        refused.stderr.contains(&saved[..12]),
        "the refusal shows the old hash"
    );
    t.run(&["phase", "1", "--force", "--accept-changed", "apply"])
        .code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("applied")).unwrap(),
        "v1\n",
        "the accepted step must not run again"
    );
    assert!(
        t.audit()
            .iter()
            .any(|r| r["event"] == "accepted_change" && r["step"] == "apply")
    );
}

#[test]
fn for_each_expands_ids_and_when_skips() {
    let t = Test::new().runbook(Runbook::minimal().vars("  images: [outpost-base, outpost-claude]\n  domain: ''\n").phase(
        1,
        "- id: image\n  title: \"Image {{ item }} tagged latest\"\n  for_each: \"{{ images }}\"\n  shell: { command: 'echo {{ item }} >> images' }\n- id: dns\n  when: domain != ''\n  shell: { command: 'echo dns > dns' }\n",
    ));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(SUCCESS)
        .stdout_has("✔ Image outpost-base tagged latest")
        .stdout_has("✔ Image outpost-claude tagged latest")
        .stdout_has("condition `domain != ''` is false");
    assert_eq!(
        std::fs::read_to_string(t.path("images")).unwrap(),
        "outpost-base\noutpost-claude\n"
    );
    assert!(!t.path("dns").exists());
    assert_eq!(t.step_state("image.outpost-claude")["status"], "succeeded");
    assert_eq!(t.step_state("dns")["status"], "skipped");
}

#[test]
fn var_overrides_apply_and_unknown_ones_are_rejected() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: greet\n  shell: { command: 'echo {{ greeting }} > greeting' }\n",
    ));
    t.run(&["phase", "1", "--force", "--var", "greeting=bonjour"])
        .code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("greeting")).unwrap(),
        "bonjour\n"
    );
    t.run(&["phase", "1", "--force", "--var", "nope=1"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("unknown var `nope`");
}

/// A phase 1 whose one step, `apply`, a crash left `running` after it had run once.
pub(crate) fn a_step_left_running() -> Test {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: apply\n  shell: { command: echo applied >> applied }\n",
    ));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    // What a crash mid-step leaves behind.
    let mut state = t.state();
    state["steps"]["apply"]["status"] = json!("running");
    std::fs::write(
        t.state_dir().join("state.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    t
}

#[test]
fn a_step_left_running_is_in_doubt() {
    let t = a_step_left_running();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("`apply` was interrupted while running")
        .stderr_has("--retry-in-doubt apply")
        .stderr_has("--mark-done apply");
    t.run(&["phase", "1", "--force", "--mark-done", "apply"])
        .code(SUCCESS)
        .stdout_has("↷ apply");
    assert_eq!(
        std::fs::read_to_string(t.path("applied")).unwrap(),
        "applied\n"
    );
    assert_eq!(t.step_state("apply")["status"], "succeeded");
}

/// A real Ctrl-C signals the terminal's whole foreground process group, so the tool runs in a
/// group of its own here and the test signals that group: the running step's processes, in
/// their own group, do not see it and finish.
#[test]
fn ctrl_c_lets_the_running_step_finish_then_stops_with_130_and_resumes() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: slow\n  shell: { command: 'touch started; sleep 1.5; echo done > slow' }\n- id: after\n  shell: { command: 'touch after' }\n",
    ));
    let child = t
        .command(&["phase", "1", "--force"])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&t.path("started"));
    // SAFETY: kill(2) with a negative pid signals the group our child leads.
    let sent = unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(INTERRUPTED), "{stdout}");
    assert!(
        stdout.contains("was interrupted at step `after`")
            && stdout.contains(&format!(
                "resume with: outpost-migrate phase 1 --force --runbook {} --state-dir {}",
                t.runbook_dir().display(),
                t.state_dir().display()
            )),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("slow")).unwrap(),
        "done\n",
        "the running step finished"
    );
    assert!(!t.path("after").exists(), "nothing ran after the interrupt");
    assert_eq!(t.step_state("slow")["status"], "succeeded");
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_has("↷ slow");
    assert!(t.path("after").exists());
}

/// Waits (up to a minute, for a loaded machine) until a step has written `path`.
fn wait_for_file(path: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_leaves_the_step_in_doubt() {
    let t = Test::new().runbook(Runbook::minimal().phase(1, "- id: slow\n  shell: { command: 'sleep 30' }\n- id: after\n  shell: { command: 'touch after' }\n"));
    let child = t
        .command(&["phase", "1", "--force"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    for _ in 0..2 {
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(INTERRUPTED));
    // It did not wait for `sleep 30`: the step is left running, in doubt.
    assert_eq!(t.step_state("slow")["status"], "running");
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("`slow` was interrupted while running");
    // The operator checked that it had done its work: record it done and go on.
    t.run(&["phase", "1", "--force", "--mark-done", "slow"])
        .code(SUCCESS)
        .stdout_has("↷ slow");
    assert!(t.path("after").exists());
}

#[test]
fn a_control_plane_answering_502_gets_bounded_retries_then_fails_naming_the_step() {
    let server = Server::start();
    let t = Test::new().runbook(Runbook::minimal().vars(&format!("  api_url: {}\n", server.url)).phase(
        1,
        "- id: live\n  title: ALB health\n  http: { url: \"{{ api_url }}/fail\" }\n  retry: { attempts: 3, interval: 100ms }\n",
    ));
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(STEP_FAILED);
    let event = run.step_event("live");
    assert_eq!(event["outcome"], "failed");
    assert_eq!(event["attempts"], 3);
    assert!(event["message"].as_str().unwrap().contains("answered 502"));
    assert_eq!(
        server.count("GET", "/fail"),
        3,
        "exactly the attempts allowed"
    );
    assert_eq!(run.json_lines().pop().unwrap()["stopped_at"], "live");
}
