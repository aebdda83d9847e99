//! A second pair of eyes: a step marked `approval: second_person` waits until another AWS
//! identity (two IAM users in the emulator) runs `approve`; its own operator cannot approve,
//! `--yes` does not stand in, the wait times out refused and resumes, Ctrl-C stops it, and
//! the approval is in the audit log and the report; on S3 state, the approver works from
//! another machine's working directory.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use outpost_migrate::exit_codes::{INTERRUPTED, REFUSED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Moto, Runbook, Test};

/// An IAM user of the emulator with an access key: (key id, secret, ARN).
struct Identity {
    key: String,
    secret: String,
    arn: String,
}

fn identity(moto: &Moto, name: &str) -> Identity {
    moto.call("iam", "CreateUser", json!({ "UserName": name }));
    let key = moto.call("iam", "CreateAccessKey", json!({ "UserName": name }));
    Identity {
        key: key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
    }
}

/// Phase 1 has the marked step `switch` (it touches `switched`), then `after`.
fn marked(timeout: &str) -> Runbook {
    Runbook::minimal()
        .vars(&format!(
            "  greeting: hello\n  second_person_approval: true\n  second_person_timeout: {timeout}\n  second_person_poll_interval: 100ms\n"
        ))
        .phase(
            1,
            "- id: switch\n  title: Switch the DNS\n  approval: second_person\n  shell: { command: touch switched }\n- id: after\n  shell: { command: touch after }\n",
        )
}

/// The emulator, the operator (alice) and the second person (bob).
fn world() -> (Moto, Identity, Identity) {
    let moto = Moto::start();
    let alice = identity(&moto, "alice");
    let bob = identity(&moto, "bob");
    (moto, alice, bob)
}

/// A test whose commands run as `who`.
fn as_identity(rb: Runbook, moto: &Moto, who: &Identity) -> Test {
    Test::new()
        .runbook(rb)
        .aws(moto)
        .env("AWS_ACCESS_KEY_ID", &who.key)
        .env("AWS_SECRET_ACCESS_KEY", &who.secret)
}

/// `outpost-migrate approve STEP` against `t`'s state, as `who`: (exit code, stdout, stderr).
fn approve(t: &Test, step: &str, who: &Identity) -> (i32, String, String) {
    approve_with(t, &["approve", step], who)
}

/// `args` (an `approve` command) in `t`'s working directory, as `who`.
fn approve_with(t: &Test, args: &[&str], who: &Identity) -> (i32, String, String) {
    let out = t
        .command(args)
        .env("AWS_ACCESS_KEY_ID", &who.key)
        .env("AWS_SECRET_ACCESS_KEY", &who.secret)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The audit lines of `event`.
fn audit_of(t: &Test, event: &str) -> Vec<Value> {
    t.audit()
        .into_iter()
        .filter(|r| r["event"] == event)
        .collect()
}

/// Starts `phase 1 --force --yes` and returns once it waits at `switch` (its audit line).
fn start_waiting(t: &Test, waits_before: usize) -> Child {
    let child = t
        .command(&["phase", "1", "--force", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while audit_of(t, "awaiting_approval").len() <= waits_before {
        assert!(
            Instant::now() < deadline,
            "the run never waited at `switch`"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_emulator_tells_the_two_identities_apart() {
    let (moto, alice, bob) = world();
    for who in [&alice, &bob] {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import boto3, sys; print(boto3.client('sts', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3]).get_caller_identity()['Arn'])",
                &moto.url,
                &who.key,
                &who.secret,
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), who.arn);
    }
}

#[test]
fn a_marked_step_waits_despite_yes_refuses_its_operator_and_runs_once_another_identity_approves() {
    let (moto, alice, bob) = world();
    let t = as_identity(marked("5m"), &moto, &alice);
    let child = start_waiting(&t, 0);
    assert!(!t.path("switched").exists(), "--yes ran a marked step");
    let waiting = &audit_of(&t, "awaiting_approval")[0];
    assert_eq!(waiting["step"], "switch");
    assert_eq!(waiting["arn"], alice.arn.as_str());

    let (code, _, err) = approve(&t, "switch", &alice);
    assert_eq!(code, REFUSED, "{err}");
    assert!(
        err.contains(&format!("{} is the operator of the waiting run", alice.arn)),
        "{err}"
    );
    let (code, _, err) = approve(&t, "after", &bob);
    assert_eq!(code, REFUSED, "{err}");
    assert!(
        err.contains("is not waiting for step `after`; it waits at `switch`"),
        "{err}"
    );
    assert!(
        audit_of(&t, "approved").is_empty(),
        "a refused approval was recorded"
    );

    let (code, out, err) = approve(&t, "switch", &bob);
    assert_eq!(code, SUCCESS, "{out}{err}");
    assert!(
        out.contains(&format!("approved step `switch` as {}", bob.arn)),
        "{out}"
    );
    let (code, text) = finish(child);
    assert_eq!(code, SUCCESS, "{text}");
    assert!(
        text.contains(&format!(
            "Switch the DNS: waiting up to 5m for a second person: run `outpost-migrate approve switch` against this state as an AWS identity other than {}",
            alice.arn
        )),
        "{text}"
    );
    assert!(t.path("switched").exists() && t.path("after").exists());

    let approved = audit_of(&t, "approved");
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert_eq!(approved[0]["arn"], bob.arn.as_str());
    assert_eq!(approved[0]["operator"], bob.arn.as_str());
    assert_eq!(approved[0]["run"], waiting["run"]);
    let report = t.run(&["report"]);
    report.code(SUCCESS).stdout_has(&format!(
        "second person {}, for the run {} of {}",
        bob.arn,
        waiting["run"].as_str().unwrap(),
        alice.arn
    ));
}

#[test]
fn an_unapproved_wait_times_out_refused_and_the_command_resumes_there() {
    let (moto, alice, bob) = world();
    let mut t = as_identity(marked("1s"), &moto, &alice);
    t.run(&["phase", "1", "--force", "--yes"])
        .code(REFUSED)
        .stdout_has("no second person approved step `switch` within 1s");
    assert!(!t.path("switched").exists());
    assert!(
        audit_of(&t, "step_started").is_empty(),
        "a step started while waiting"
    );
    // With no run waiting, an approval has nothing to apply to.
    let (code, _, err) = approve(&t, "switch", &bob);
    assert_eq!(code, REFUSED, "{err}");
    assert!(err.contains("no run holds the lock"), "{err}");

    t.rewrite(marked("5m"));
    let child = start_waiting(&t, 1);
    let (code, out, err) = approve(&t, "switch", &bob);
    assert_eq!(code, SUCCESS, "{out}{err}");
    let (code, text) = finish(child);
    assert_eq!(code, SUCCESS, "{text}");
    assert!(t.path("switched").exists() && t.path("after").exists());
    // Each run waited under its own id; the approval is the second run's.
    let waits = audit_of(&t, "awaiting_approval");
    assert_ne!(waits[0]["run"], waits[1]["run"]);
    assert_eq!(audit_of(&t, "approved")[0]["run"], waits[1]["run"]);
}

#[test]
fn ctrl_c_while_waiting_stops_the_run_cleanly() {
    let (moto, alice, _) = world();
    let t = as_identity(marked("5m"), &moto, &alice);
    let child = start_waiting(&t, 0);
    let sent = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(sent, 0);
    let (code, text) = finish(child);
    assert_eq!(code, INTERRUPTED, "{text}");
    assert!(
        text.contains("stopped (Ctrl-C) while waiting for a second person's approval"),
        "{text}"
    );
    assert!(!t.path("switched").exists());
    let lock = std::fs::read_to_string(t.state_dir().join("lock")).unwrap_or_default();
    assert!(lock.is_empty(), "the lock was left held: {lock}");
}

#[test]
fn a_dry_run_and_the_plan_say_a_real_run_would_wait_for_a_second_person() {
    let (moto, alice, _) = world();
    let t = as_identity(marked("5m"), &moto, &alice);
    t.run(&["phase", "1", "--force", "--dry-run"])
        .code(SUCCESS)
        .stdout_has(
            "a real run would wait for a second person to approve it (`outpost-migrate approve switch`)",
        );
    assert!(t.audit().is_empty(), "a dry run wrote to the audit log");
    t.run(&["plan", "phase", "1", "--yes"])
        .code(SUCCESS)
        .stdout_has("needs a second person (`outpost-migrate approve`)");
}

#[test]
fn with_the_second_person_turned_off_the_operators_approval_runs_it_and_says_so() {
    let (moto, alice, _) = world();
    let t = as_identity(marked("5m"), &moto, &alice);
    t.run(&[
        "phase",
        "1",
        "--force",
        "--yes",
        "--var",
        "second_person_approval=false",
    ])
    .code(SUCCESS);
    assert!(t.path("switched").exists());
    let approved = audit_of(&t, "approved");
    assert_eq!(
        approved[0]["message"],
        "--yes (second person off: var second_person_approval)"
    );
}

#[test]
fn an_approval_value_other_than_true_false_or_second_person_is_located() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: switch\n  approval: second-person\n  shell: { command: 'true' }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("phases/1.yaml:4:15")
        .stderr_has("expected `true`, `false` or `second_person`");
}

#[test]
fn a_timeout_that_is_not_a_duration_is_refused_before_anything_runs() {
    let t = Test::new().runbook(marked("5m"));
    t.run(&[
        "phase",
        "1",
        "--force",
        "--var",
        "second_person_timeout=soon",
    ])
    .code(USAGE_OR_RUNBOOK)
    .stderr_has("var `second_person_timeout` is `soon`, not a duration like 30m or 5s");
    assert!(t.audit().is_empty(), "it ran");
}

const BUCKET: &str = "team-state";
const PREFIX: &str = "outpost/prod";
const STATE: &str = "s3://team-state/outpost/prod";

/// The audit records of `event` in the S3 state, one object each, in the order written.
fn s3_audit_of(moto: &Moto, event: &str) -> Vec<Value> {
    let listed = moto.call(
        "s3",
        "ListObjectsV2",
        json!({ "Bucket": BUCKET, "Prefix": format!("{PREFIX}/audit/") }),
    );
    let objects = listed["Contents"].as_array().cloned().unwrap_or_default();
    objects
        .iter()
        .map(|o| {
            let body = moto.call(
                "s3",
                "GetObject",
                json!({ "Bucket": BUCKET, "Key": o["Key"] }),
            );
            serde_json::from_str::<Value>(body["Body"].as_str().unwrap()).unwrap()
        })
        .filter(|r| r["event"] == event)
        .collect()
}

/// What a command wrote in `t`'s working directory besides what the test put there.
fn written_locally(t: &Test) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !["rb", "aws-config", "aws-credentials"].contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

#[test]
fn on_s3_state_a_second_person_in_another_working_directory_approves_the_waiting_run() {
    let (moto, alice, bob) = world();
    moto.call("s3", "CreateBucket", json!({ "Bucket": BUCKET }));
    // Two machines: the operator's and the second person's, sharing only the bucket.
    let here = as_identity(marked("5m"), &moto, &alice);
    let there = as_identity(marked("5m"), &moto, &bob);
    let child = here
        .command(&["phase", "1", "--force", "--yes", "--state", STATE])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let waiting = loop {
        if let Some(w) = s3_audit_of(&moto, "awaiting_approval").pop() {
            break w;
        }
        assert!(
            Instant::now() < deadline,
            "the run never waited at `switch`"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(waiting["step"], "switch");
    assert_eq!(waiting["arn"], alice.arn.as_str());
    assert!(!here.path("switched").exists(), "--yes ran a marked step");

    let (code, _, err) = approve_with(&here, &["approve", "switch", "--state", STATE], &alice);
    assert_eq!(code, REFUSED, "{err}");
    assert!(
        err.contains(&format!("{} is the operator of the waiting run", alice.arn)),
        "{err}"
    );
    assert!(
        s3_audit_of(&moto, "approved").is_empty(),
        "a refused approval was recorded"
    );

    let (code, out, err) = approve_with(&there, &["approve", "switch", "--state", STATE], &bob);
    assert_eq!(code, SUCCESS, "{out}{err}");
    assert!(
        out.contains(&format!("approved step `switch` as {}", bob.arn)),
        "{out}"
    );
    let (code, text) = finish(child);
    assert_eq!(code, SUCCESS, "{text}");
    assert!(here.path("switched").exists() && here.path("after").exists());

    let approved = s3_audit_of(&moto, "approved");
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert_eq!(approved[0]["step"], "switch");
    assert_eq!(approved[0]["arn"], bob.arn.as_str());
    assert_eq!(approved[0]["run"], waiting["run"]);
    there
        .run(&["report", "--state", STATE])
        .code(SUCCESS)
        .stdout_has(&format!(
            "second person {}, for the run {} of {}",
            bob.arn,
            waiting["run"].as_str().unwrap(),
            alice.arn
        ));
    assert_eq!(
        written_locally(&here),
        ["after", "switched"],
        "only the steps' own files"
    );
    assert_eq!(
        written_locally(&there),
        Vec::<String>::new(),
        "nothing is written locally"
    );
}
