//! Rollback 3, alarms and probe Scans against AWS as it behaves where moto does not: tasks
//! drain after a scale-down, DescribeAlarms answers composite alarms only when asked, and a
//! Scan is eventually consistent unless it asks otherwise.

use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS};
use serde_json::json;

use crate::support::{ACCOUNT, Moto, Test};

/// The fleet whose control-plane tasks keep running `seconds` after a scale-down.
fn draining(seconds: &str) -> Moto {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_ECS_DRAIN_SECONDS", seconds),
    ]);
    moto.seed(None);
    moto
}

fn running_count(moto: &Moto) -> serde_json::Value {
    moto.call(
        "ecs",
        "DescribeServices",
        json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
    )["services"][0]["runningCount"]
        .clone()
}

/// Rollback 3 with the scale-down approved and the drain read every 200 ms, `attempts` times.
fn rollback_3(t: &Test, attempts: &str) -> crate::support::Run {
    let attempts = format!("ecs_drain_attempts={attempts}");
    let module = format!("terraform_dir={}", t.terraform_module().display());
    t.run(&[
        "rollback",
        "--level",
        "3",
        "--approve",
        "rollback-scale-control-plane",
        "--var",
        &module,
        "--var",
        &attempts,
        "--var",
        "ecs_drain_interval=200ms",
        "--output",
        "json",
    ])
}

#[test]
fn rollback_3_waits_for_the_control_planes_tasks_to_drain() {
    let moto = draining("2");
    let t = Test::new().embedded().aws(&moto);
    crate::failing_checks::record_a_failed_phase_1(&t);
    let run = rollback_3(&t, "50");
    // Drained: the destroy now waits for its own approval.
    run.code(REFUSED)
        .stdout_has("--approve rollback-terraform-destroy-alb");
    assert_eq!(
        run.step_event("rollback-control-plane-scaled")["outcome"],
        "succeeded",
        "{}",
        run.stdout
    );
    assert_eq!(running_count(&moto), 0);
}

#[test]
fn tasks_still_running_after_the_drain_wait_fail_rollback_3_before_the_destroy() {
    let moto = draining("120");
    let t = Test::new().embedded().aws(&moto);
    crate::failing_checks::record_a_failed_phase_1(&t);
    let run = rollback_3(&t, "3");
    run.code(STEP_FAILED)
        .stdout_has("Tasks of outpost-control-plane still run")
        .stdout_lacks("rollback-terraform-destroy-alb");
    assert_eq!(
        run.step_event("rollback-control-plane-scaled")["outcome"],
        "failed"
    );
    assert_eq!(running_count(&moto), 1, "the tasks were still draining");
}

/// Runs terraform in `dir`, failing the test when it fails.
fn terraform(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("terraform is needed (see .ci/run)");
    assert!(
        out.status.success(),
        "terraform {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rollback_3_shows_the_destroy_plan_before_asking_to_destroy_the_alb() {
    let moto = Moto::start();
    moto.seed(None);
    let t = Test::new().embedded().aws(&moto);
    let module = t.terraform_module();
    terraform(&module, &["init", "-input=false", "-no-color"]);
    terraform(
        &module,
        &["apply", "-input=false", "-no-color", "-auto-approve"],
    );
    crate::failing_checks::record_a_failed_phase_1(&t);
    let dir = format!("terraform_dir={}", module.display());
    let run = t.run(&[
        "rollback",
        "--level",
        "3",
        "--approve",
        "rollback-scale-control-plane",
        "--var",
        &dir,
        "--var",
        "ecs_drain_interval=200ms",
    ]);
    run.code(REFUSED)
        .stdout_has("✔ Review destroy plan: module.alb");
    let plan = run
        .stdout
        .find("to destroy")
        .unwrap_or_else(|| panic!("no destroy plan shown:\n{}", run.stdout));
    let ask = run
        .stdout
        .find("--approve rollback-terraform-destroy-alb")
        .unwrap_or_else(|| panic!("the destroy did not ask:\n{}", run.stdout));
    assert!(
        plan < ask,
        "the plan comes before the approval:\n{}",
        run.stdout
    );
    let state = std::process::Command::new("terraform")
        .args(["state", "list"])
        .current_dir(&module)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&state.stdout).contains("module.alb."),
        "planning destroyed nothing"
    );
}

#[test]
fn post_verification_checks_composite_alarms_too() {
    let moto = Moto::start();
    moto.seed(None);
    // Two of the four alarms are composite: one in ALARM, one OK.
    for (name, state) in [("PoolExhausted", "ALARM"), ("ControlPlaneUnhealthy", "OK")] {
        moto.call("cloudwatch", "DeleteAlarms", json!({"AlarmNames": [name]}));
        moto.call(
            "cloudwatch",
            "PutCompositeAlarm",
            json!({"AlarmName": name, "AlarmRule": "ALARM(\"HighDispatchFailureRate\")"}),
        );
        moto.call(
            "cloudwatch",
            "SetAlarmState",
            json!({"AlarmName": name, "StateValue": state, "StateReason": "set by the test"}),
        );
    }
    let t = Test::new().embedded().aws(&moto);
    // The control plane is not part of this test: a closed local port keeps its checks off the network.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = t.run(&[
        "verify",
        "--output",
        "json",
        "--var",
        &format!("api_url=http://127.0.0.1:{closed}"),
    ]);
    let alarm = |name: &str| run.step_event(&format!("cloudwatch-alarm-not-triggered.{name}"));
    assert_eq!(
        alarm("ControlPlaneUnhealthy")["outcome"],
        "succeeded",
        "{}",
        run.stdout
    );
    assert_eq!(alarm("PoolExhausted")["outcome"], "failed");
    assert!(
        alarm("PoolExhausted")["message"]
            .as_str()
            .unwrap()
            .contains("not to equal \"ALARM\""),
        "{}",
        alarm("PoolExhausted")
    );
}

#[test]
fn a_consistent_scan_finds_the_item_just_written_that_an_eventual_one_misses() {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_DYNAMODB_STALE_SECONDS", "600"),
    ]);
    moto.seed(None);
    moto.call(
        "dynamodb",
        "PutItem",
        json!({"TableName": "outpost-dispatches", "Item": {
            "id": {"S": "dsp_just_made"}, "agent": {"S": "claude"}, "task": {"S": "echo hello world"},
            "created_at": {"S": "9999999999.5"}, "status": {"S": "pending"}}}),
    );
    let scan = |id: &str, consistent: bool| {
        format!(
            "- id: {id}\n  aws:\n    service: dynamodb\n    operation: Scan\n    input:\n      \
             TableName: outpost-dispatches\n      ConsistentRead: {consistent}\n      \
             FilterExpression: \"#task = :task\"\n      ExpressionAttributeNames: {{ \"#task\": task }}\n      \
             ExpressionAttributeValues: {{ \":task\": {{ S: echo hello world }} }}\n  \
             capture: {{ {id}_found: \"Items[].id.S\" }}\n"
        )
    };
    let steps = scan("eventual", false) + &scan("consistent", true);
    let t = Test::new()
        .runbook(crate::support::Runbook::minimal().phase(1, &steps))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert_eq!(
        t.step_state("eventual")["captures"]["eventual_found"],
        json!([])
    );
    assert_eq!(
        t.step_state("consistent")["captures"]["consistent_found"],
        json!(["dsp_just_made"])
    );
}

#[test]
fn every_scan_of_the_shipped_runbook_reads_consistently() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scans = 0;
    for file in ["phases/5-verify-tools.yaml", "checks/post-verify.yaml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for block in text.split("operation: Scan").skip(1) {
            scans += 1;
            let input = block.split("capture:").next().unwrap();
            assert!(
                input.contains("ConsistentRead: true"),
                "a Scan in {file} reads eventually consistent:{input}"
            );
        }
    }
    assert_eq!(scans, 3, "the probes for the three test dispatches");
}
