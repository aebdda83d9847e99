//! Crash safety (cargo feature `failpoints`): the tool is killed with SIGKILL before each step,
//! after its effect but before its checkpoint, and after its checkpoint; resuming finishes the
//! run, no succeeded step runs again, captures survive, a step in doubt is re-checked by its
//! probe or left to the operator, and the end state equals that of an uninterrupted run.

use crate::support::{Runbook, Server, Test};
use outpost_migrate::exit_codes::{REFUSED, SUCCESS};

fn runbook(server: &Server) -> Runbook {
    Runbook::minimal()
        .vars(&format!("  api_url: {}\n", server.url))
        .phase(
            1,
            r#"- id: count
  http: { method: POST, url: "{{ api_url }}/counter" }
  capture: { counted: body.value }
  verify:
    http: { url: "{{ api_url }}/counter" }
    expect: [{ query: body.value, equals: 1 }]
    capture: { counted: body.value }
- id: append
  shell: { command: 'echo line >> log' }
- id: edit
  file:
    path: config.ts
    edits: [{ replace: "provider: 'ssm'", with: "provider: 'http'" }]
  verify:
    shell: { command: "grep -c \"provider: 'http'\" config.ts" }
    mutates: false
- id: use
  shell: { command: 'echo {{ counted }} > used' }
  idempotent: true
"#,
        )
}

const STEPS: [&str; 4] = ["count", "append", "edit", "use"];

/// Runs `args` with a crash point at `point` of `step`; the process must die there.
#[track_caller]
pub(crate) fn killed_at(t: &Test, args: &[&str], point: &str, step: &str) {
    let out = t
        .command(args)
        .env("FAILPOINTS", format!("{point}=return({step})"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        None,
        "{step} {point}: not killed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn fresh(server: &Server) -> Test {
    let t = Test::new().runbook(runbook(server));
    std::fs::write(t.path("config.ts"), "provider: 'ssm',\n").unwrap();
    t
}

fn end_state(t: &Test, server: &Server) -> (usize, String, String, String) {
    let read = |f: &str| std::fs::read_to_string(t.path(f)).unwrap_or_default();
    (
        server.counter(),
        read("log"),
        read("config.ts"),
        read("used"),
    )
}

#[test]
fn a_kill_at_every_step_boundary_resumes_to_the_same_end_state() {
    let reference_server = Server::start();
    let reference = fresh(&reference_server);
    reference.run(&["phase", "1", "--force"]).code(SUCCESS);
    let expected = end_state(&reference, &reference_server);
    assert_eq!(
        expected,
        (
            1,
            "line\n".into(),
            "provider: 'http',\n".into(),
            "1\n".into()
        )
    );

    for step in STEPS {
        for point in ["step-before", "step-after-effect", "step-after-checkpoint"] {
            let server = Server::start();
            let t = fresh(&server);
            killed_at(&t, &["phase", "1", "--force"], point, step);
            // Nothing saved yet is a valid state too (killed before the first step).
            let state: serde_json::Value =
                std::fs::read_to_string(t.state_dir().join("state.json"))
                    .map(|s| serde_json::from_str(&s).unwrap())
                    .unwrap_or_default();
            for done in STEPS.iter().take_while(|s| **s != step) {
                assert_eq!(
                    state["steps"][*done]["status"], "succeeded",
                    "{step} {point}: {done}"
                );
            }
            let mut resume = vec!["phase", "1", "--force"];
            let probed = step == "count" || step == "edit";
            if point == "step-after-effect" && step == "append" {
                // Neither a probe nor idempotent: the tool stops and asks, never repeating the
                // step on its own. The operator's answer: it did write its line.
                t.run(&resume)
                    .code(REFUSED)
                    .stderr_has("`append` was interrupted while running");
                resume.extend(["--mark-done", step]);
            }
            let run = t.run(&resume);
            run.code(SUCCESS);
            if point == "step-after-effect" && probed {
                run.stdout_has("its probe showed it had done its work");
            }
            if point == "step-after-effect" && step == "use" {
                // Run again, and said so: on screen and in the audit log.
                run.stdout_has("in doubt after a crash; idempotent, so it ran again");
                assert!(t.audit().iter().any(|r| {
                    r["step"] == "use"
                        && r["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("idempotent, so it ran again"))
                }));
            }
            assert_eq!(
                end_state(&t, &server),
                expected,
                "{step} {point}: the end state differs"
            );
        }
    }
}

/// The ECS `UpdateService` calls the emulator's request recorder wrote to `log`.
fn update_service_calls(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let entry: serde_json::Value = serde_json::from_str(l).unwrap();
            entry["headers"].as_object().is_some_and(|h| {
                h.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("x-amz-target")
                        && v.as_str().is_some_and(|t| t.ends_with(".UpdateService"))
                })
            })
        })
        .count()
}

#[test]
fn the_runbooks_scale_down_killed_after_its_effect_is_verified_not_repeated() {
    let calls = tempfile::tempdir().unwrap();
    let log = calls.path().join("aws-requests.jsonl");
    let moto = crate::support::Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", crate::support::ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_ENABLE_RECORDING", "true"),
        ("MOTO_RECORDER_FILEPATH", log.to_str().unwrap()),
    ]);
    moto.seed(None);
    let t = Test::new().embedded().aws(&moto);
    // A forward run to roll back, and the module the ALB's destroy (optional) runs in.
    crate::failing_checks::record_a_failed_phase_1(&t);
    t.terraform_module();
    killed_at(
        &t,
        &["rollback", "--level", "3", "--yes"],
        "step-after-effect",
        "rollback-scale-control-plane",
    );
    assert_eq!(
        t.step_state("rollback-scale-control-plane")["status"],
        "running"
    );
    assert_eq!(update_service_calls(&log), 1, "the killed run scaled down");
    let run = t.run(&["rollback", "--level", "3", "--yes", "--output", "json"]);
    run.code(SUCCESS);
    assert_eq!(
        update_service_calls(&log),
        1,
        "the resumed run sent no second UpdateService"
    );
    let event = run.step_event("rollback-scale-control-plane");
    assert_eq!(event["outcome"], "succeeded");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("its probe showed it had done its work")
    );
    let service = moto.call(
        "ecs",
        "DescribeServices",
        serde_json::json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
    );
    assert_eq!(service["services"][0]["desiredCount"], 0);
}

#[test]
fn a_dns_delete_killed_after_its_effect_is_verified_not_repeated() {
    // No record before phase 2, so rollback 2 deletes the alias (rather than restoring one).
    let moto = crate::aws::without_legacy_record();
    let server = Server::start();
    let before = crate::aws::records(&moto);
    let t = crate::aws::through_phase_1(&moto, &server);
    t.run(&["phase", "2", "--yes", "--var", "verify_public_dns=false"])
        .code(SUCCESS);
    let rollback_2 = [
        "rollback",
        "--level",
        "2",
        "--yes",
        "--var",
        "verify_public_dns=false",
    ];
    killed_at(
        &t,
        &rollback_2,
        "step-after-effect",
        "rollback-dns-delete-alias",
    );
    let run = t.run(&[&rollback_2[..], &["--output", "json"]].concat());
    run.code(SUCCESS);
    assert!(
        run.step_event("rollback-dns-delete-alias")["message"]
            .as_str()
            .unwrap()
            .contains("its probe showed")
    );
    assert_eq!(
        run.step_event("rollback-dns-change-insync")["outcome"],
        "skipped"
    );
    assert_eq!(
        run.step_event("rollback-dns-record-gone")["outcome"],
        "succeeded"
    );
    assert_eq!(crate::aws::records(&moto), before);
}

/// The rehearsal (rehearsal/crash_every_step.py): every step of `run` (pre-flight, phases 1-5,
/// post-verification) and of `rollback --level 3` is killed before it, after its effect and
/// after its checkpoint, in chains of resumed processes; every step in doubt settles itself
/// (probe, idempotent or read-only), no succeeded step starts again, captures are kept, and
/// the emulator, MCPify's files and terraform's state equal an uninterrupted run's.
#[test]
fn the_rehearsal_killed_at_every_step_boundary_ends_as_an_uninterrupted_run() {
    every_boundary_crossed(&[]);
}

/// The same with the state on the emulator's S3 (`--state s3://...`): each killed run's lock
/// is removed with `unlock --lock-id`, and nothing is written in a local state directory.
#[test]
fn the_rehearsal_killed_at_every_step_boundary_with_its_state_on_s3_ends_as_an_uninterrupted_run() {
    every_boundary_crossed(&["--s3-state"]);
}

#[track_caller]
fn every_boundary_crossed(args: &[&str]) {
    let (code, text) = crate::support::rehearsal_script("crash_every_step.py", args);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("every step boundary crossed by a kill"),
        "{text}"
    );
    // "N of N boundaries crossed", with every step of both commands (3 boundaries each).
    let line = text
        .lines()
        .find(|l| l.contains(" boundaries crossed by a kill;"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], words[2], "{line}");
    let crossed: usize = words[0].parse().unwrap();
    assert!(crossed >= 3 * 80, "{line}");
}
