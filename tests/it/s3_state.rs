//! State on S3 (`--state s3://bucket/prefix`) against the emulator's S3: one run at a time
//! across working directories, a stale writer refused, a killed run resumed elsewhere, the
//! lease, `status` and `unlock`, encryption, and nothing written locally.

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_migrate::exit_codes::{REFUSED, SETUP, SUCCESS};
use serde_json::{Value, json};

use crate::support::{Moto, Runbook, Test};

const BUCKET: &str = "team-state";
const PREFIX: &str = "outpost/prod";
const URL: &str = "s3://team-state/outpost/prod";

fn emulator() -> Moto {
    let moto = Moto::start();
    moto.call("s3", "CreateBucket", json!({ "Bucket": BUCKET }));
    moto
}

/// A working directory of its own, with the emulator's AWS settings.
fn operator(moto: &Moto, rb: &Runbook) -> Test {
    Test::new().runbook(rb.clone()).aws(moto)
}

/// `args`, then `--state URL`.
fn with_state<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--state", URL]);
    all
}

fn keys(moto: &Moto) -> Vec<String> {
    let listed = moto.call(
        "s3",
        "ListObjectsV2",
        json!({ "Bucket": BUCKET, "Prefix": format!("{PREFIX}/") }),
    );
    listed["Contents"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .map(|o| {
                    o["Key"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches(&format!("{PREFIX}/"))
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn object(moto: &Moto, name: &str) -> Value {
    moto.call(
        "s3",
        "GetObject",
        json!({ "Bucket": BUCKET, "Key": format!("{PREFIX}/{name}") }),
    )
}

fn state(moto: &Moto) -> Value {
    serde_json::from_str(object(moto, "state.json")["Body"].as_str().unwrap()).unwrap()
}

/// Waits until `ready` holds, for a background run to get somewhere.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the run wrote in its working directory besides what the test put there.
fn written_locally(t: &Test) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !["rb", "aws-config", "aws-credentials"].contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

/// A phase whose `wait` step runs until the file `go` appears in `dir`.
fn waiting_runbook(dir: &Path) -> Runbook {
    Runbook::minimal().phase(
        1,
        &format!(
            "- id: mark\n  shell: {{ command: 'echo ran >> {marks}' }}\n- id: wait\n  shell: {{ command: 'while [ ! -e {go} ]; do sleep 0.1; done' }}\n",
            marks = dir.join("marks").display(),
            go = dir.join("go").display()
        ),
    )
}

#[test]
fn two_working_directories_sharing_one_s3_state_let_exactly_one_run_proceed() {
    let moto = emulator();
    let signals = tempfile::tempdir().unwrap();
    let rb = waiting_runbook(signals.path());
    let (a, b) = (operator(&moto, &rb), operator(&moto, &rb));
    let mut first = a
        .command(&with_state(&["phase", "1", "--force"]))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first run takes the lock", || {
        keys(&moto).contains(&"lock.json".to_owned())
    });
    let lock: Value =
        serde_json::from_str(object(&moto, "lock.json")["Body"].as_str().unwrap()).unwrap();
    for field in [
        "id",
        "pid",
        "host",
        "user",
        "command",
        "started_at",
        "lease",
    ] {
        assert!(lock.get(field).is_some(), "the lock lacks {field}: {lock}");
    }
    b.run(&with_state(&["phase", "1", "--force"]))
        .code(REFUSED)
        .stderr_has("another run holds the lock on s3://team-state/outpost/prod")
        .stderr_has(&format!("(pid {})", first.id()))
        .stderr_has("unlock --lock-id");
    std::fs::write(signals.path().join("go"), "").unwrap();
    assert!(first.wait().unwrap().success());
    assert!(
        !keys(&moto).contains(&"lock.json".to_owned()),
        "the lock is removed at the end"
    );
    assert_eq!(
        std::fs::read_to_string(signals.path().join("marks")).unwrap(),
        "ran\n",
        "the refused run ran nothing"
    );
    // The other directory sees where the migration stands, and goes on from there.
    b.run(&with_state(&["status", "phase", "1"]))
        .code(SUCCESS)
        .stdout_has("wait");
    b.run(&with_state(&["phase", "2", "--force"])).code(SUCCESS);
    assert_eq!(state(&moto)["steps"]["p2-noop"]["status"], "succeeded");
    for t in [&a, &b] {
        assert_eq!(
            written_locally(t),
            Vec::<String>::new(),
            "nothing is written locally"
        );
    }
}

#[test]
fn a_writer_whose_view_is_stale_is_refused_and_overwrites_nothing() {
    let moto = emulator();
    let signals = tempfile::tempdir().unwrap();
    let t = operator(&moto, &waiting_runbook(signals.path()));
    let run = t
        .command(&with_state(&["phase", "1", "--force"]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the run saves `wait` as started", || {
        keys(&moto).contains(&"state.json".to_owned())
            && state(&moto)["steps"]["wait"]["status"] == "running"
    });
    // Someone else writes the state meanwhile (another tool, a run that broke the lock).
    let mut other = state(&moto);
    other["serial"] = json!(other["serial"].as_u64().unwrap() + 7);
    other["operator"] = json!("someone-else");
    let written = serde_json::to_string_pretty(&other).unwrap();
    moto.call(
        "s3",
        "PutObject",
        json!({ "Bucket": BUCKET, "Key": format!("{PREFIX}/state.json"), "Body": written }),
    );
    std::fs::write(signals.path().join("go"), "").unwrap();
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(SETUP), "{stdout}{stderr}");
    assert!(
        stdout.contains("the state changed underneath this run"),
        "{stdout}{stderr}"
    );
    assert_eq!(
        object(&moto, "state.json")["Body"].as_str().unwrap(),
        written,
        "the stale writer overwrote nothing"
    );
}

#[test]
fn a_run_killed_mid_step_is_reported_stale_and_resumed_from_another_directory() {
    let moto = emulator();
    let signals = tempfile::tempdir().unwrap();
    let rb = waiting_runbook(signals.path());
    let a = operator(&moto, &rb).env("OUTPOST_MIGRATE_LEASE", "1s");
    let b = operator(&moto, &rb);
    let mut killed = a
        .command(&with_state(&["phase", "1", "--force"]))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the run starts `wait`", || {
        keys(&moto).contains(&"state.json".to_owned())
            && state(&moto)["steps"]["wait"]["status"] == "running"
    });
    killed.kill().unwrap();
    killed.wait().unwrap();
    let lock_id = {
        let lock: Value =
            serde_json::from_str(object(&moto, "lock.json")["Body"].as_str().unwrap()).unwrap();
        lock["id"].as_str().unwrap().to_owned()
    };
    // Not renewed any more: once its term has passed, the lease is reported stale, with its
    // owner, and never broken by a run.
    wait_for("status reports the lock stale", || {
        b.run(&with_state(&["status"]))
            .stdout
            .contains("stale lock:")
    });
    // `status` calls a lock of this host whose process is gone stale at once; a run judges
    // the lease alone, which runs out a term after its last renewal.
    wait_for("a run finds the lease run out", || {
        b.run(&with_state(&["phase", "1", "--force"]))
            .stderr
            .contains("whose lease ran out")
    });
    b.run(&with_state(&["phase", "1", "--force"]))
        .code(REFUSED)
        .stderr_has("whose lease ran out")
        .stderr_has(&format!("unlock --lock-id {lock_id}"));
    b.run(&with_state(&["unlock"]))
        .code(REFUSED)
        .stderr_has(&format!("--lock-id {lock_id}"));
    b.run(&with_state(&["unlock", "--lock-id", "another"]))
        .code(REFUSED);
    b.run(&with_state(&["unlock", "--lock-id", &lock_id]))
        .code(SUCCESS)
        .stdout_has("removed the lock");
    b.run(&with_state(&["status"]))
        .code(SUCCESS)
        .stdout_lacks("lock:");
    // `wait` changes things and was cut off: in doubt, refused until the operator says.
    b.run(&with_state(&["phase", "1", "--force"]))
        .code(REFUSED)
        .stderr_has("wait");
    std::fs::write(signals.path().join("go"), "").unwrap();
    b.run(&with_state(&[
        "phase",
        "1",
        "--force",
        "--retry-in-doubt",
        "wait",
    ]))
    .code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(signals.path().join("marks")).unwrap(),
        "ran\n",
        "the step that had succeeded did not run again"
    );
    assert_eq!(state(&moto)["steps"]["wait"]["status"], "succeeded");
    assert_eq!(written_locally(&b), Vec::<String>::new());
}

#[test]
fn records_go_to_append_only_encrypted_objects_and_a_kms_key_is_used_when_named() {
    let moto = emulator();
    let t = operator(&moto, &Runbook::minimal());
    t.run(&with_state(&["preflight"])).code(SUCCESS);
    let audit: Vec<String> = keys(&moto)
        .into_iter()
        .filter(|k| k.starts_with("audit/"))
        .collect();
    assert_eq!(audit.len(), 5, "one object per record: {audit:?}");
    let events: Vec<String> = audit
        .iter()
        .map(|k| {
            let record: Value =
                serde_json::from_str(object(&moto, k)["Body"].as_str().unwrap()).unwrap();
            record["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        events,
        [
            "run_started",
            "step_started",
            "step_finished",
            "unit_finished",
            "run_finished"
        ],
        "the keys sort as the records were written"
    );
    for key in ["state.json", &audit[0]] {
        assert_eq!(
            object(&moto, key)["ServerSideEncryption"],
            "AES256",
            "{key}"
        );
    }
    let kms = operator(&moto, &Runbook::minimal());
    kms.run(&[
        "verify",
        "--state",
        "s3://team-state/kms",
        "--state-kms-key",
        "alias/outpost-state",
    ])
    .code(SUCCESS);
    let head = moto.call(
        "s3",
        "HeadObject",
        json!({ "Bucket": BUCKET, "Key": "kms/state.json" }),
    );
    assert_eq!(head["ServerSideEncryption"], "aws:kms");
    assert!(
        head["SSEKMSKeyId"]
            .as_str()
            .unwrap()
            .contains("alias/outpost-state"),
        "{head}"
    );
    // `report` reads the records back, oldest first.
    t.run(&with_state(&["report", "--format", "markdown"]))
        .code(SUCCESS)
        .stdout_has("pre-noop");
    assert_eq!(written_locally(&t), Vec::<String>::new());
}

#[test]
fn a_missing_bucket_or_refused_credentials_exit_3_with_a_hint_and_write_nothing() {
    let moto = emulator();
    let t = operator(&moto, &Runbook::minimal());
    for args in [
        vec!["preflight"],
        vec!["status"],
        vec!["unlock", "--lock-id", "x"],
    ] {
        let mut args = args;
        args.extend(["--state", "s3://no-such-bucket/x"]);
        t.run(&args)
            .code(SETUP)
            .stderr_has("bucket `no-such-bucket`: it does not exist")
            .stderr_has("Hint: create it");
    }
    let strict = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let denied = operator(&strict, &Runbook::minimal());
    denied
        .run(&with_state(&["status"]))
        .code(SETUP)
        .stderr_has("check your AWS credentials");
    for t in [&t, &denied] {
        assert_eq!(written_locally(t), Vec::<String>::new());
    }
}

#[test]
fn a_file_steps_backup_goes_to_the_bucket_and_another_directory_restores_it() {
    let moto = emulator();
    let shared = tempfile::tempdir().unwrap();
    let config = shared.path().join("config.ts");
    let original = "export const outpostConfig = {\n  provider: 'ssm',\n};\n";
    std::fs::write(&config, original).unwrap();
    let rb = Runbook::minimal()
        .vars(&format!("  config: {}\n", config.display()))
        .phase(
            3,
            "- id: switch-provider\n  file:\n    path: \"{{ config }}\"\n    edits: [{ replace: \"provider: 'ssm'\", with: \"provider: 'http'\" }]\n",
        )
        .rollback(
            1,
            "reverts: 3\n",
            "- id: restore-provider\n  file: { restore: switch-provider }\n",
        );
    let (a, b) = (operator(&moto, &rb), operator(&moto, &rb));
    a.run(&with_state(&["phase", "3", "--force"])).code(SUCCESS);
    assert!(std::fs::read_to_string(&config).unwrap().contains("'http'"));
    assert_eq!(
        object(&moto, "backups/switch-provider")["Body"]
            .as_str()
            .unwrap(),
        original
    );
    b.run(&with_state(&["rollback", "--level", "1"]))
        .code(SUCCESS)
        .stdout_has("restore-provider");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    for t in [&a, &b] {
        assert_eq!(written_locally(t), Vec::<String>::new());
    }
}

#[test]
fn a_live_runs_lease_is_renewed_and_never_reported_stale() {
    let moto = emulator();
    let signals = tempfile::tempdir().unwrap();
    let rb = waiting_runbook(signals.path());
    let a = operator(&moto, &rb).env("OUTPOST_MIGRATE_LEASE", "3s");
    let b = operator(&moto, &rb);
    let mut running = a
        .command(&with_state(&["phase", "1", "--force"]))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let renewed_at = || -> Option<String> {
        keys(&moto).contains(&"lock.json".to_owned()).then(|| {
            let body = object(&moto, "lock.json")["Body"]
                .as_str()
                .unwrap_or("{}")
                .to_owned();
            let lock: Value = serde_json::from_str(&body).unwrap_or_default();
            lock["lease"]["renewed_at"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
    };
    // Five renewals, a quarter of the term apart at least: more than the whole term has passed
    // since the lock was taken.
    let mut seen = Vec::new();
    wait_for("the holder renews its lease five times", || {
        if let Some(at) = renewed_at()
            && seen.last() != Some(&at)
        {
            seen.push(at);
        }
        seen.len() > 5
    });
    b.run(&with_state(&["phase", "1", "--force"]))
        .code(REFUSED)
        .stderr_has("another run holds the lock")
        .stderr_has("lease of 3s");
    b.run(&with_state(&["status"]))
        .code(SUCCESS)
        .stdout_has("locked:")
        .stdout_lacks("stale lock:");
    let lock: Value =
        serde_json::from_str(object(&moto, "lock.json")["Body"].as_str().unwrap()).unwrap();
    b.run(&with_state(&[
        "unlock",
        "--lock-id",
        lock["id"].as_str().unwrap(),
    ]))
    .code(REFUSED)
    .stderr_has("its lease is being renewed");
    std::fs::write(signals.path().join("go"), "").unwrap();
    assert!(running.wait().unwrap().success());
    assert!(!keys(&moto).contains(&"lock.json".to_owned()));
}

#[test]
fn a_run_whose_lock_is_taken_away_says_so_and_stops_at_its_next_checkpoint() {
    let moto = emulator();
    let signals = tempfile::tempdir().unwrap();
    let t = operator(&moto, &waiting_runbook(signals.path())).env("OUTPOST_MIGRATE_LEASE", "1s");
    let stderr = t.path("stderr");
    let mut run = t
        .command(&with_state(&["phase", "1", "--force"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    wait_for("the run starts `wait`", || {
        keys(&moto).contains(&"state.json".to_owned())
            && state(&moto)["steps"]["wait"]["status"] == "running"
    });
    // Someone removes the lock (as `unlock` would once the lease ran out).
    moto.call(
        "s3",
        "DeleteObject",
        json!({ "Bucket": BUCKET, "Key": format!("{PREFIX}/lock.json") }),
    );
    wait_for("the run notices at its next renewal", || {
        std::fs::read_to_string(&stderr)
            .unwrap()
            .contains("this run lost its lock at s3://team-state/outpost/prod")
    });
    let before = state(&moto);
    std::fs::write(signals.path().join("go"), "").unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(SETUP));
    assert_eq!(
        state(&moto),
        before,
        "nothing was saved after the lock was lost"
    );
    assert!(
        !keys(&moto).contains(&"lock.json".to_owned()),
        "no lock was recreated"
    );
}
