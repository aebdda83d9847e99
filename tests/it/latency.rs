//! Pre-flight against a region's round trip (the emulator's `MOTO_LATENCY_MS`): concurrent
//! checks share their state saves, and still every check reported finished is on disk.

use outpost_migrate::exit_codes::SUCCESS;
use serde_json::Value;

use crate::support::{ACCOUNT, Moto, Test};

#[test]
fn concurrent_checks_share_saves_yet_each_is_on_disk_before_it_is_reported() {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_LATENCY_MS", "50"),
    ]);
    moto.seed(None);
    let t = Test::new().embedded().aws(&moto);
    // Killed as by a power cut right after the check the longest chain runs through is saved,
    // with other checks in flight and others finished around it.
    let out = t
        .command(&["preflight", "--yes", "--output", "json"])
        .env(
            "FAILPOINTS",
            "step-after-checkpoint=return(alb-target-group)",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), None, "not killed:\n{stdout}");
    let reported: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "step_finished" && e["outcome"] == "succeeded")
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .collect();
    let state = t.state();
    for id in reported
        .iter()
        .chain(["alb-target-group".to_owned()].iter())
    {
        assert_eq!(
            state["steps"][id]["status"], "succeeded",
            "{id} was reported (or checkpointed) before the crash but is not saved: {state}"
        );
    }
    assert!(
        state["steps"]["alb-target-group"]["captures"]["target_group_arn"]
            .as_str()
            .is_some_and(|arn| arn.contains(":targetgroup/")),
        "{state}"
    );
    // The run again keeps what was saved and the checks needing the saved capture pass.
    let again = t.run(&["preflight", "--yes", "--output", "json"]);
    again.code(SUCCESS);
    assert_eq!(
        again.step_event("alb-target-group")["outcome"],
        "skipped",
        "{}",
        again.stdout
    );
    assert_eq!(
        again.step_event("alb-targets-healthy")["outcome"],
        "succeeded"
    );
}
