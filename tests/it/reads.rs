//! Pre-flight's and post-verification's reads held to how real AWS behaves: a secret needs a
//! current version, the bucket must be the runbook account's, log searches read every page
//! and match errors whatever their case, and the target group checked is the service's.

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Moto, Runbook, Test};

#[test]
fn a_secret_without_a_current_version_fails_its_check_naming_it() {
    // Before: ListSecrets proved the name existed, so a secret with no value passed.
    let moto = Moto::start();
    moto.seed(Some("secret-no-value"));
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(&["preflight", "--yes"]);
    run.code(STEP_FAILED)
        .stdout_has("✘ /outpost/system/XAI_API_KEY")
        .stdout_has("✔ /outpost/system/GITHUB_PAT")
        .stdout_has("put-secret-value --secret-id /outpost/system/XAI_API_KEY")
        // The seeded values never reach the output: only metadata is read.
        .stdout_lacks("sentinel-");
    assert!(!run.stderr.contains("sentinel-"), "{}", run.stderr);
    assert!(
        !std::fs::read_to_string(t.state_dir().join("state.json"))
            .unwrap()
            .contains("sentinel-")
    );
}

#[test]
fn a_bucket_of_that_name_owned_by_another_account_fails_the_bucket_check() {
    // Before: bucket names are global and the check asked only that the name answered, so a
    // bucket someone else owned passed.
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_S3_BUCKET_OWNER", "999999999999"),
    ]);
    moto.seed(None);
    let t = Test::new().embedded().aws(&moto);
    t.run(&["preflight", "--yes"])
        .code(STEP_FAILED)
        .stdout_has(&format!("✘ outpost-artifacts-{ACCOUNT} reachable"))
        .stdout_has("AccessDenied")
        .stdout_has(&format!("another account than {ACCOUNT}"))
        .stdout_has("✔ /outpost/system/GITHUB_PAT");
}

/// Post-verification's shipped "Troubleshooting Data" group (with `control-plane-errors`) as
/// the only verify group of a runbook aimed at the emulator.
fn shipped_troubleshooting_checks() -> Runbook {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/checks/post-verify.yaml"
    ))
    .unwrap();
    let group = &shipped[shipped.find("  - title: Troubleshooting Data").unwrap()..];
    Runbook::minimal()
        .vars("  cluster: outpost-dev\n  service: outpost-control-plane\n  log_group: /outpost/control-plane\n")
        .file(
            "checks/verify.yaml",
            &format!("title: Verify\ngroups:\n{group}"),
        )
}

fn log(moto: &Moto, messages: &[&str]) {
    moto.call(
        "logs",
        "CreateLogStream",
        json!({"logGroupName": "/outpost/control-plane", "logStreamName": "task-1"}),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"timestamp": now - 60_000 + i as u64, "message": m}))
        .collect();
    moto.call(
        "logs",
        "PutLogEvents",
        json!({"logGroupName": "/outpost/control-plane", "logStreamName": "task-1", "logEvents": events}),
    );
}

#[test]
fn the_log_search_reads_every_page_and_matches_errors_in_any_case() {
    // Before: one page was read (the first, empty here) and `ERROR` missed "Error: ...".
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_LOGS_PAGE_SIZE", "2"),
    ]);
    moto.seed(None);
    log(
        &moto,
        &[
            "GET /health 200",
            "dispatch d-1 started",
            "dispatch d-1 succeeded",
            "GET /health/fleet 200",
            "Error: pool refill failed: ThrottlingException",
        ],
    );
    let t = Test::new()
        .runbook(shipped_troubleshooting_checks())
        .aws(&moto);
    let run = t.run(&["verify", "--output", "json"]);
    let errors = run.step_event("control-plane-errors");
    assert_eq!(errors["outcome"], "failed_optional", "{}", run.stdout);
    assert!(
        errors.to_string().contains("Error: pool refill failed"),
        "{errors}"
    );
}

#[test]
fn the_log_search_passes_when_no_page_holds_an_error() {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_LOGS_PAGE_SIZE", "2"),
    ]);
    moto.seed(None);
    log(
        &moto,
        &[
            "GET /health 200",
            "dispatch d-1 started",
            "dispatch d-1 succeeded",
        ],
    );
    let t = Test::new()
        .runbook(shipped_troubleshooting_checks())
        .aws(&moto);
    let run = t.run(&["verify", "--output", "json"]);
    assert_eq!(
        run.step_event("control-plane-errors")["outcome"],
        "succeeded",
        "{}",
        run.stdout
    );
    run.code(SUCCESS);
}

#[test]
fn the_target_group_checked_is_the_one_the_ecs_service_uses() {
    // Before: `TargetGroups[0]` of the ALB was checked, here a healthy group the service does
    // not use, so pre-flight passed while the service's own target was stopped.
    let moto = Moto::start();
    moto.seed(Some("service-target-group"));
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(&["preflight", "--yes", "--output", "json"]);
    run.code(STEP_FAILED);
    assert_eq!(run.step_event("alb-target-group")["outcome"], "succeeded");
    assert_eq!(
        run.step_event("alb-target-group-on-alb")["outcome"],
        "succeeded"
    );
    let healthy = run.step_event("alb-targets-healthy");
    assert_eq!(healthy["outcome"], "failed", "{}", run.stdout);
    assert!(healthy.to_string().contains("unused"), "{healthy}");
}
