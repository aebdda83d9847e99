//! Rollback 3 against ECS as AWS behaves: tasks drain for a while after the scale-down, and
//! the ALB is destroyed only once they have.

use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED};
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
    t.run(&[
        "rollback",
        "--level",
        "3",
        "--approve",
        "rollback-scale-control-plane",
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
