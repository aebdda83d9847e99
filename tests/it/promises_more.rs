//! More README promises held through the binary: a read-only check a crash left running is
//! run again, a dry run over an existing state directory writes nothing, a state that cannot
//! be saved mid-run exits 3 leaving nothing half-written, `show`, `max_interval`, approving a
//! `for_each` step by its base id, every page of ECR DescribeImages, and an AWS endpoint that
//! never answers timing out (exit 3) under `--cli-read-timeout`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use outpost_migrate::exit_codes::{REFUSED, SETUP, SUCCESS};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Moto, Runbook, Test};

/// A pre-flight of two read-only checks: `slow` reads (appending to `reads`) only once its own
/// `running` record is on disk, which `quick`'s save puts there; `quick` ends once `slow` has
/// started. So a kill after `slow`'s read leaves it `running` in the saved state.
#[cfg(feature = "failpoints")]
fn a_check_saved_while_running(t: &Test) -> Runbook {
    let state = t.state_dir().join("state.json");
    Runbook::minimal().preflight(&format!(
        "- title: Checks
  steps:
    - id: quick
      shell: {{ command: 'i=0; until [ -e slow-started ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done' }}
      mutates: false
    - id: slow
      shell: {{ command: 'touch slow-started; i=0; until grep -q slow {} || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; echo read >> reads' }}
      mutates: false
",
        state.display()
    ))
}

#[cfg(feature = "failpoints")]
#[test]
fn a_read_only_check_a_crash_left_running_is_run_again_without_asking() {
    let mut t = Test::new();
    let rb = a_check_saved_while_running(&t);
    t.rewrite(rb);
    crate::crash::killed_at(&t, &["preflight"], "step-after-effect", "slow");
    assert_eq!(t.step_state("quick")["status"], "succeeded");
    assert_eq!(
        t.step_state("slow")["status"],
        "running",
        "the crash left the check in doubt"
    );
    let resumed = t.run(&["preflight"]);
    resumed.code(SUCCESS).stdout_has("✔ slow");
    assert!(
        !resumed.stderr.contains("interrupted while running"),
        "a read-only step in doubt needs no operator:\n{}",
        resumed.stderr
    );
    assert_eq!(
        std::fs::read_to_string(t.path("reads")).unwrap(),
        "read\nread\n",
        "the check read again"
    );
    assert_eq!(t.step_state("slow")["status"], "succeeded");
}

/// What a file or directory is, as far as a write could change it: its bytes (a directory:
/// none), its mode, owner, and modification and change times.
#[derive(PartialEq, Eq)]
struct Entry {
    bytes: Option<Vec<u8>>,
    mode: u32,
    uid: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The bytes as text: the state directory's files are JSON.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("text", &self.bytes.as_deref().map(String::from_utf8_lossy))
            .field("mode", &format_args!("{:o}", self.mode))
            .field("uid", &self.uid)
            .field("mtime", &self.mtime)
            .field("ctime", &self.ctime)
            .finish()
    }
}

/// Every entry under `dir`, `dir` itself included (a file created and removed again changes
/// its directory's times).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let bytes = if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
            None
        } else {
            Some(std::fs::read(&path).unwrap())
        };
        let entry = Entry {
            bytes,
            mode: meta.mode(),
            uid: meta.uid(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        };
        out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), entry);
    }
    out
}

#[test]
fn a_dry_run_over_an_existing_state_directory_writes_nothing() {
    let rb = Runbook::minimal()
        .phase(
            1,
            "- id: edit\n  file: { path: conf, edits: [{ replace: old, with: new }] }\n- id: write\n  shell: { command: 'echo w >> writes' }\n",
        )
        .phase(
            2,
            "- id: look\n  shell: { command: 'cat conf' }\n  mutates: false\n- id: change\n  shell: { command: 'echo c >> writes' }\n",
        )
        .rollback(
            1,
            "reverts: 1\n",
            "- id: restore\n  file: { restore: edit }\n",
        );
    let t = Test::new().runbook(rb);
    std::fs::write(t.path("conf"), "old\n").unwrap();
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let dir = t.state_dir();
    for file in ["state.json", "audit.jsonl", "lock", "backups"] {
        assert!(dir.join(file).exists(), "the real run left no {file}");
    }
    let before = snapshot(&dir);
    // The dry run does run: the read-only step reads the file.
    t.run(&["phase", "2", "--dry-run", "--force"])
        .code(SUCCESS)
        .stdout_has("✔ look");
    let dry_runs: [&[&str]; 3] = [
        &["phase", "1", "--dry-run", "--force"],
        &["rollback", "--level", "1", "--dry-run", "--force"],
        &["run", "--dry-run", "--output", "json"],
    ];
    for args in dry_runs {
        t.run(args).code(SUCCESS);
    }
    let after = snapshot(&dir);
    for (path, entry) in &before {
        assert_eq!(
            after.get(path),
            Some(entry),
            "{} changed in a dry run",
            dir.join(path).display()
        );
    }
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "a dry run added a file"
    );
    assert_eq!(std::fs::read_to_string(t.path("writes")).unwrap(), "w\n");
    assert_eq!(std::fs::read_to_string(t.path("conf")).unwrap(), "new\n");
}

#[test]
fn state_that_cannot_be_saved_mid_run_exits_3_and_nothing_is_half_written() {
    let mut t = Test::new();
    let state = t.state_dir().join("state.json");
    // The second step puts a directory where the state file was: its result cannot be saved.
    let steps = format!(
        "- id: first\n  shell: {{ command: 'echo first >> ran' }}\n- id: swap\n  shell: {{ command: 'mv {s} saved-state.json && mkdir {s}' }}\n- id: third\n  shell: {{ command: 'echo third >> ran' }}\n",
        s = state.display()
    );
    t.rewrite(Runbook::minimal().phase(1, &steps));
    let run = t.run(&["phase", "1", "--force"]);
    run.code(SETUP);
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("failed to save state"),
        "the error names the save:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(t.path("ran")).unwrap(),
        "first\n",
        "no step runs after a failed save"
    );
    // Nothing half-written: no temporary file left, the last saved state whole (the step
    // checkpointed before it acted), every audit line whole.
    let mut names: Vec<String> = std::fs::read_dir(t.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["audit.jsonl", "backups", "lock", "state.json"]);
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(t.path("saved-state.json")).unwrap()).unwrap();
    assert_eq!(saved["steps"]["first"]["status"], "succeeded");
    assert_eq!(saved["steps"]["swap"]["status"], "running");
    assert!(saved["steps"].get("third").is_none());
    let audit = std::fs::read_to_string(t.state_dir().join("audit.jsonl")).unwrap();
    assert!(audit.ends_with('\n'));
    for line in audit.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    // Put back, the saved state resumes: the step that was running is in doubt.
    std::fs::remove_dir(&state).unwrap();
    std::fs::rename(t.path("saved-state.json"), &state).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("`swap` was interrupted while running");
}

/// Two read-only steps reading one JSON document: one shows a text, the other a list.
fn showing() -> Runbook {
    Runbook::minimal().phase(
        1,
        "- id: plan\n  shell: { command: 'cat plan.json' }\n  mutates: false\n  show: json.summary\n- id: resources\n  shell: { command: 'cat plan.json' }\n  mutates: false\n  show: json.resources\n",
    )
}

#[test]
fn show_prints_the_value_its_query_selects_under_the_steps_line() {
    let plan = r#"{"summary": "Plan: 3 to add, 0 to change", "resources": ["alb", "listener"]}"#;
    let t = Test::new().runbook(showing());
    std::fs::write(t.path("plan.json"), plan).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_has("│ Plan: 3 to add, 0 to change")
        .stdout_has("│   \"alb\",")
        .stdout_has("│   \"listener\"")
        .stdout_lacks("summary");
    let t = Test::new().runbook(showing());
    std::fs::write(t.path("plan.json"), plan).unwrap();
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("plan")["shown"],
        "Plan: 3 to add, 0 to change"
    );
}

#[test]
fn max_interval_caps_every_wait_between_attempts() {
    // Fails three times, then succeeds; the waits would be 100ms, 1s, 10s uncapped.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: settle\n  shell: { command: 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 4 ]' }\n  retry: { attempts: 4, interval: 100ms, backoff: 10, max_interval: 250ms }\n",
    ));
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(SUCCESS);
    let delays: Vec<u64> = run
        .json_lines()
        .into_iter()
        .filter(|e| e["event"] == "step_retrying")
        .map(|e| e["delay_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(delays, [100, 250, 250], "grown by 10, each capped at 250ms");
    assert_eq!(std::fs::read_to_string(t.path("n")).unwrap(), "4\n");
    assert_eq!(run.step_event("settle")["attempts"], 4);
}

fn pushes() -> Runbook {
    Runbook::minimal().phase(
        1,
        "- id: push\n  title: \"Push {{ item }}\"\n  for_each: [a, b]\n  approval: true\n  shell: { command: 'echo {{ item }} >> pushed' }\n",
    )
}

#[test]
fn approving_a_for_each_steps_base_id_approves_every_item() {
    let t = Test::new().runbook(pushes());
    t.run(&["phase", "1", "--force", "--approve", "push"])
        .code(SUCCESS);
    assert_eq!(std::fs::read_to_string(t.path("pushed")).unwrap(), "a\nb\n");
    // One item's id approves that item only.
    let t = Test::new().runbook(pushes());
    t.run(&["phase", "1", "--force", "--approve", "push.a"])
        .code(REFUSED)
        .stdout_has("step `push.b` needs approval");
    assert_eq!(std::fs::read_to_string(t.path("pushed")).unwrap(), "a\n");
}

/// An image manifest of its own for each `n` (the emulator keys images by its digest).
fn manifest(n: usize) -> String {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {}, "layers": [], "annotations": {"n": n.to_string()}})
    .to_string()
}

#[test]
fn the_image_check_reads_every_page_of_describe_images_and_finds_latest_on_the_last() {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_ECR_PAGE_SIZE", "2"),
    ]);
    // outpost-codex starts with an image tagged v1 only; `latest` is pushed last, after three
    // more, so it is on the third page of two images each.
    moto.seed(Some("image"));
    for n in 2..=4 {
        moto.call(
            "ecr",
            "PutImage",
            json!({"repositoryName": "outpost-codex", "imageManifest": manifest(n), "imageTag": format!("v{n}")}),
        );
    }
    moto.call(
        "ecr",
        "PutImage",
        json!({"repositoryName": "outpost-codex", "imageManifest": manifest(5), "imageTag": "latest"}),
    );
    let first = moto.call(
        "ecr",
        "DescribeImages",
        json!({"repositoryName": "outpost-codex"}),
    );
    assert_eq!(first["imageDetails"].as_array().unwrap().len(), 2);
    assert!(first["nextToken"].is_string(), "the emulator pages");
    assert!(!first.to_string().contains("latest"));
    let t = Test::new().embedded().aws(&moto);
    t.run(&["preflight", "--yes"])
        .code(SUCCESS)
        .stdout_has("✔ outpost-codex tagged latest");
}

#[test]
fn an_aws_endpoint_that_never_answers_times_out_as_a_setup_error() {
    // Bound but never accepted: the kernel completes the handshake, nobody ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let t = Test::new()
        .runbook(Runbook::minimal().phase(
            1,
            "- id: who\n  aws: { service: sts, operation: GetCallerIdentity }\n",
        ))
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .isolated_aws_files();
    // The SDK's own message names the timeout it applied: the flag reached it.
    t.run(&[
        "phase",
        "1",
        "--force",
        "--cli-read-timeout",
        "1",
        "--cli-connect-timeout",
        "1",
    ])
    .code(SETUP)
    .stdout_has("sts GetCallerIdentity failed: the call timed out")
    .stdout_has("read timeout occurred after 1s");
    drop(silent);
}
