//! Pre-flight's and post-verification's reads held to how real AWS behaves: a secret needs a
//! current version, the bucket must be the runbook account's, log searches read every page
//! and match errors whatever their case, and the target group checked is the service's.

use outpost_migrate::exit_codes::STEP_FAILED;

use crate::support::{ACCOUNT, Moto, Test};

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
