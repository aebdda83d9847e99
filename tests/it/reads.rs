//! Pre-flight's and post-verification's reads held to how real AWS behaves: a secret needs a
//! current version, the bucket must be the runbook account's, log searches read every page
//! and match errors whatever their case, and the target group checked is the service's.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A stand-in for a new ALB: 503 for the first `starting` requests, then healthy.
fn new_alb(starting: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if n < starting {
                ("503 Service Unavailable", "starting")
            } else {
                ("200 OK", r#"{"status":"ok"}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn phase_1_waits_for_a_new_alb_longer_than_ten_tries() {
    // Before: 10 tries 5 s apart, less than a new ALB's DNS and health checks take, so
    // phase 1 failed on an ALB that would have answered a minute later.
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/phases/1-alb.yaml")).unwrap();
    let start = shipped.find("  - id: alb-health-live").unwrap();
    let end = shipped.find("  - id: alb-checkpoint").unwrap();
    let step: String = shipped[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    // The shipped runbook's wait vars, as they are.
    let root =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbook.yaml")).unwrap();
    let wait: String = root
        .lines()
        .filter(|l| l.starts_with("  alb_health_"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(wait.contains("alb_health_interval: 10s"), "{wait}");
    let (url, seen) = new_alb(20);
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars(&format!("  alb_endpoint: {url}\n  alb_dns: unused\n{wait}"))
            .phase(1, &step),
    );
    // The shipped step with its default attempts, only the interval shortened for the test.
    t.run(&[
        "phase",
        "1",
        "--force",
        "--var",
        "alb_health_interval=100ms",
    ])
    .code(SUCCESS)
    .stdout_has("✔ Test health endpoint via ALB");
    assert_eq!(seen.load(Ordering::SeqCst), 21);
}
