//! The state directory: atomic versioned state, the audit log, the run lock, status, unlock.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use outpost_migrate::exit_codes::{REFUSED, SUCCESS};

use crate::support::{Runbook, Test};

#[test]
fn state_is_versioned_private_and_audited() {
    let t = Test::new();
    t.run(&["preflight"]).code(SUCCESS);
    let state = t.state();
    assert_eq!(state["format"], 1);
    assert_eq!(
        state["serial"], 1,
        "a read-only step is saved once, with its result"
    );
    assert_eq!(state["steps"]["pre-noop"]["status"], "succeeded");
    assert_eq!(state["steps"]["pre-noop"]["attempts"], 1);
    for f in ["state.json", "audit.jsonl", "lock"] {
        let mode = std::fs::metadata(t.state_dir().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} is {mode:o}");
    }
    // A step that changes something is saved before it acts (so a crash leaves it in doubt)
    // and after.
    let mut t = t;
    t.rewrite(Runbook::minimal().phase(1, "- id: change\n  shell: { command: 'true' }\n"));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert_eq!(t.state()["serial"], 3);
    let t = Test::new();
    t.run(&["preflight"]).code(SUCCESS);
    let events: Vec<String> = t
        .audit()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        [
            "run_started",
            "step_started",
            "step_finished",
            "unit_finished",
            "run_finished"
        ]
    );
    assert!(t.audit()[1]["operator"].as_str().unwrap().contains('@'));
    let leftovers: Vec<_> = std::fs::read_dir(t.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_second_concurrent_run_is_refused_with_the_holders_details() {
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, "- id: slow\n  shell: { command: sleep 3 }\n"));
    let mut first = t
        .command(&["phase", "1", "--force"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = t.state_dir().join("lock");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&lock)
        .map(|s| s.is_empty())
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = t.run(&["phase", "1", "--force"]);
    second
        .code(REFUSED)
        .stderr_has("another run holds the lock")
        .stderr_has(&format!("(pid {})", first.id()))
        .stderr_has("phase 1 --force")
        .stderr_has("unlock --lock-id");
    let host = gethostname();
    second.stderr_has(&format!("on {host}"));
    assert!(first.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "the lock is released at the end"
    );
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
}

fn gethostname() -> String {
    std::process::Command::new("hostname")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap()
}

fn write_lock(t: &Test, host: &str, pid: u32) {
    std::fs::create_dir_all(t.state_dir()).unwrap();
    let info = serde_json::json!({"id": "lock-123", "pid": pid, "host": host, "user": "alice", "command": "outpost-migrate phase 3", "started_at": "2026-11-28T02:00:00Z"});
    std::fs::write(t.state_dir().join("lock"), info.to_string()).unwrap();
}

#[test]
fn a_stale_lock_on_this_host_is_reclaimed_with_a_warning() {
    let t = Test::new();
    write_lock(&t, &gethostname(), 999_999);
    t.run(&["preflight"])
        .code(SUCCESS)
        .stderr_has("warning: reclaimed a stale lock: process 999999");
}

#[test]
fn a_lock_from_another_host_is_never_broken_automatically() {
    let t = Test::new();
    write_lock(&t, "bastion-2", 4242);
    t.run(&["preflight"])
        .code(REFUSED)
        .stderr_has("`outpost-migrate phase 3` run by alice on bastion-2 (pid 4242)");
    t.run(&["status"])
        .code(SUCCESS)
        .stdout_has("locked: `outpost-migrate phase 3` run by alice on bastion-2");
    t.run(&["unlock"])
        .code(REFUSED)
        .stderr_has("--lock-id lock-123");
    t.run(&["unlock", "--lock-id", "wrong"]).code(REFUSED);
    t.run(&["unlock", "--lock-id", "lock-123"])
        .code(SUCCESS)
        .stdout_has("removed the lock");
    t.run(&["preflight"]).code(SUCCESS);
}

#[test]
fn status_shows_steps_attempts_and_captures_with_secrets_redacted() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: read-token\n  shell: { command: echo tok_9b8c7d6e5f }\n  mutates: false\n  secret: true\n  capture: { token: stdout }\n- id: read-name\n  shell: { command: printf alb-123 }\n  mutates: false\n  capture: { alb: stdout }\n- id: use-token\n  shell: { command: 'test {{ token }} = \"tok_9b8c7d6e5f\n\" || test -n {{ token }}' }\n",
    ));
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_lacks("tok_9b8c7d6e5f");
    let status = t.run(&["status", "phase", "1"]);
    status
        .code(SUCCESS)
        .stdout_has("read-name")
        .stdout_has("alb=alb-123 ")
        .stdout_has("token=***")
        .stdout_lacks("tok_9b8c7d6e5f")
        .stdout_has("succeeded");
    let state = std::fs::read_to_string(t.state_dir().join("state.json")).unwrap();
    assert!(
        !state.contains("tok_9b8c7d6e5f"),
        "a secret capture was saved"
    );
    let json = t.run(&["status", "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let phase1 = doc["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == "phase-1")
        .unwrap();
    assert_eq!(phase1["status"], "done");
    assert_eq!(phase1["steps"][1]["captures"]["alb"], "alb-123");
}

#[test]
fn status_before_any_run_says_so() {
    Test::new()
        .run(&["status"])
        .code(SUCCESS)
        .stdout_has("no run has been recorded");
}

#[test]
fn an_unwritable_state_directory_is_refused_before_running_anything() {
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, "- id: touch\n  shell: { command: touch touched }\n"));
    // A path under a regular file can never become a directory, whoever runs the test.
    std::fs::write(t.path("not-a-dir"), "").unwrap();
    let run = t
        .command(&["phase", "1", "--force", "--state-dir", "not-a-dir/state"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(REFUSED));
    assert!(String::from_utf8_lossy(&run.stderr).contains("the state directory cannot be written"));
    assert!(
        !t.path("touched").exists(),
        "a step ran without a place to save its result"
    );
}

#[test]
fn a_state_file_of_another_format_is_refused_clearly() {
    let t = Test::new();
    std::fs::create_dir_all(t.state_dir()).unwrap();
    std::fs::write(
        t.state_dir().join("state.json"),
        r#"{"format": 7, "serial": 3}"#,
    )
    .unwrap();
    t.run(&["preflight"])
        .code(REFUSED)
        .stderr_has("has format 7; this outpost-migrate reads format 1");
}

#[test]
fn the_state_file_is_never_torn_by_kills_during_writes() {
    let steps: String = (0..60)
        .map(|i| format!("- id: s{i}\n  shell: {{ command: 'true' }}\n  mutates: false\n"))
        .collect();
    let t = Test::new().runbook(Runbook::minimal().phase(1, &steps));
    t.run(&["validate"]).code(SUCCESS);
    let state_file = t.state_dir().join("state.json");
    let (mut kills, mut last_serial, mut rounds) = (0, 0u64, 0);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    while kills < 1000 {
        rounds += 1;
        assert!(rounds < 5000, "too few kills landed");
        let mut child = t
            .command(&["phase", "1", "--force"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // xorshift: a kill somewhere in the first 40 ms, while steps are being saved.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(std::time::Duration::from_micros(rng % 40_000));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !finished && status.code().is_none() {
            kills += 1;
        }
        if let Ok(text) = std::fs::read_to_string(&state_file) {
            let state: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("torn state after {kills} kills ({e}):\n{text}"));
            let serial = state["serial"].as_u64().unwrap();
            assert!(
                serial >= last_serial,
                "the state went back from serial {last_serial} to {serial}"
            );
            last_serial = serial;
            let mode = std::fs::metadata(&state_file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let temporaries = std::fs::read_dir(t.state_dir())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(".state.json.")
                })
                .count();
            assert!(
                temporaries <= 1,
                "{temporaries} temporary files left behind"
            );
            if state["steps"]["s59"]["status"] == "succeeded" {
                // Done: start over so that the kills keep landing on writes.
                std::fs::remove_dir_all(t.state_dir()).unwrap();
                last_serial = 0;
            }
        }
    }
}

/// A tiny tmpfs, unmounted when dropped (the tests run as root, as CI does).
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn full(at: std::path::PathBuf) -> Self {
        std::fs::create_dir_all(&at).unwrap();
        let mounted = std::process::Command::new("mount")
            // Private, as a state directory must be (a tmpfs root is 1777 by default).
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
            .arg(&at)
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting a tmpfs needs root");
        // Fill it to the last byte.
        let mut f = std::fs::File::create(at.join("filler")).unwrap();
        use std::io::Write;
        while f.write_all(&[0u8; 1024]).is_ok() {}
        TinyDisk(at)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_state_directory_is_refused_before_running_anything() {
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, "- id: touch\n  shell: { command: touch touched }\n"));
    let disk = TinyDisk::full(t.path("disk"));
    let out = t
        .command(&["phase", "1", "--force", "--state-dir", "disk"])
        .output()
        .unwrap();
    drop(disk);
    assert_eq!(
        out.status.code(),
        Some(REFUSED),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the state directory cannot be written")
            && stderr.contains("No space left"),
        "{stderr}"
    );
    assert!(
        !t.path("touched").exists(),
        "a step ran without a place to save its result"
    );
}
