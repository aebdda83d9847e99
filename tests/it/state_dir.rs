//! The state directory against someone who can plant files in it or beside it: links,
//! foreign or open directories, forged backups and locks, absurd counters, huge files.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use outpost_migrate::exit_codes::{REFUSED, SUCCESS, USAGE_OR_RUNBOOK};

use crate::support::{Runbook, Test};

/// A phase 1 that leaves a mark when it runs.
fn marking() -> Runbook {
    Runbook::minimal().phase(1, "- id: touch\n  shell: { command: touch touched }\n")
}

fn private_state_dir(t: &Test) {
    std::fs::create_dir_all(t.state_dir()).unwrap();
    std::fs::set_permissions(t.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_symlinked_audit_log_is_refused_and_the_file_it_points_at_is_untouched() {
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    std::fs::write(t.path("victim"), "original\n").unwrap();
    std::os::unix::fs::symlink(t.path("victim"), t.state_dir().join("audit.jsonl")).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("audit.jsonl")
        .stderr_has("symbolic link")
        .stderr_has("rm ");
    assert_eq!(
        std::fs::read_to_string(t.path("victim")).unwrap(),
        "original\n"
    );
    assert!(!t.path("touched").exists(), "a step ran");
}

#[test]
fn a_hard_linked_audit_log_is_refused_and_the_other_file_untouched() {
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    std::fs::write(t.path("victim"), "original\n").unwrap();
    std::fs::hard_link(t.path("victim"), t.state_dir().join("audit.jsonl")).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("audit.jsonl")
        .stderr_has("hard links");
    assert_eq!(
        std::fs::read_to_string(t.path("victim")).unwrap(),
        "original\n"
    );
}

#[test]
fn a_symlinked_lock_is_refused_and_its_target_never_created() {
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    std::os::unix::fs::symlink(t.path("created-by-lock"), t.state_dir().join("lock")).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("lock")
        .stderr_has("symbolic link");
    assert!(!t.path("created-by-lock").exists());
    assert!(!t.path("touched").exists(), "a step ran");
    // Read-only commands refuse it too rather than read through it.
    t.run(&["status"]).code(REFUSED).stderr_has("symbolic link");
    t.run(&["unlock"]).code(REFUSED).stderr_has("symbolic link");
    assert!(!t.path("created-by-lock").exists());
}

#[test]
fn a_symlinked_state_file_is_refused() {
    let t = Test::new().runbook(marking());
    t.run(&["preflight"]).code(SUCCESS);
    std::fs::rename(t.state_dir().join("state.json"), t.path("elsewhere.json")).unwrap();
    std::os::unix::fs::symlink(t.path("elsewhere.json"), t.state_dir().join("state.json")).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("state.json")
        .stderr_has("symbolic link");
    t.run(&["phase", "1", "--force", "--dry-run"])
        .code(REFUSED)
        .stderr_has("symbolic link");
    assert!(!t.path("touched").exists(), "a step ran");
}

#[test]
fn a_state_directory_writable_by_group_or_others_is_refused() {
    for mode in [0o777, 0o770, 0o702] {
        let t = Test::new().runbook(marking());
        std::fs::create_dir_all(t.state_dir()).unwrap();
        std::fs::set_permissions(t.state_dir(), std::fs::Permissions::from_mode(mode)).unwrap();
        t.run(&["phase", "1", "--force"])
            .code(REFUSED)
            .stderr_has(&format!("mode {mode:o}"))
            .stderr_has(&format!("chmod go-w {}", t.state_dir().display()));
        assert!(
            !t.path("touched").exists(),
            "a step ran in a {mode:o} state directory"
        );
        t.run(&["status"]).code(REFUSED).stderr_has("chmod go-w");
        t.run(&["plan"]).code(REFUSED).stderr_has("chmod go-w");
        t.run(&["phase", "1", "--force", "--dry-run"])
            .code(REFUSED)
            .stderr_has("chmod go-w");
        assert!(
            !t.state_dir().join("state.json").exists(),
            "state was written into a {mode:o} directory"
        );
    }
}

#[test]
fn a_state_directory_owned_by_another_user_is_refused() {
    // The tests run as root (as CI does), which may give a directory away; root could still
    // write into it, so this proves the refusal rests on the owner, not on a failed write.
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    std::os::unix::fs::chown(t.state_dir(), Some(65534), Some(65534))
        .expect("giving a directory to another user needs root");
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("owned by uid 65534")
        .stderr_has("chown");
    assert!(!t.path("touched").exists(), "a step ran");
    assert!(!t.state_dir().join("state.json").exists());
    assert!(!t.state_dir().join("lock").exists());
}

/// The binary run under `umask 000`, so that only the tool's own modes protect its files.
fn run_with_open_umask(t: &Test, args: &[&str]) -> i32 {
    let base = t.command(args);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(base.get_program())
        .args(base.get_args())
        .current_dir(base.get_current_dir().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.status().unwrap().code().unwrap_or(-1)
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn backups_are_private_whatever_the_umask() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: edit-config\n  file: { path: config.ts, edits: [{ replace: ssm, with: http }] }\n",
    ));
    std::fs::write(t.path("config.ts"), "provider: ssm\n").unwrap();
    assert_eq!(run_with_open_umask(&t, &["phase", "1", "--force"]), SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: http\n"
    );
    assert_eq!(mode(&t.state_dir()), 0o700);
    assert_eq!(mode(&t.state_dir().join("backups")), 0o700);
    for f in ["backups/edit-config", "backups/edit-config.json"] {
        assert_eq!(mode(&t.state_dir().join(f)), 0o600, "{f}");
    }
}

#[test]
fn a_symlinked_backups_directory_is_refused() {
    let t = Test::new().runbook(restorable());
    std::fs::write(t.path("config.ts"), "provider: ssm\n").unwrap();
    private_state_dir(&t);
    std::fs::create_dir(t.path("elsewhere")).unwrap();
    std::os::unix::fs::symlink(t.path("elsewhere"), t.state_dir().join("backups")).unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("backups")
        .stderr_has("symbolic link");
    assert_eq!(std::fs::read_dir(t.path("elsewhere")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: ssm\n"
    );
}

#[test]
fn an_existing_open_backups_directory_is_made_private() {
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    std::fs::create_dir(t.state_dir().join("backups")).unwrap();
    std::fs::set_permissions(
        t.state_dir().join("backups"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert_eq!(mode(&t.state_dir().join("backups")), 0o700);
}

fn restorable() -> Runbook {
    Runbook::minimal()
        .phase(
            1,
            "- id: edit-config\n  file: { path: config.ts, edits: [{ replace: ssm, with: http }] }\n",
        )
        .rollback(
            1,
            "reverts: 1\n",
            "- id: put-back\n  file: { restore: edit-config }\n",
        )
}

#[test]
fn a_forged_backup_record_cannot_point_a_restore_at_another_file() {
    let t = Test::new().runbook(restorable());
    std::fs::write(t.path("config.ts"), "provider: ssm\n").unwrap();
    std::fs::write(t.path("victim"), "original\n").unwrap();
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let record = t.state_dir().join("backups/edit-config.json");
    let forged = serde_json::json!({"path": t.path("victim"), "existed": true});
    std::fs::write(&record, forged.to_string()).unwrap();
    std::fs::write(t.state_dir().join("backups/edit-config"), "pwned\n").unwrap();
    t.run(&["rollback", "--level", "1"])
        .code(REFUSED)
        .stdout_has("says it was taken of")
        .stdout_has("nothing was restored");
    assert_eq!(
        std::fs::read_to_string(t.path("victim")).unwrap(),
        "original\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: http\n",
        "a forged backup's content was written"
    );
    assert_eq!(t.step_state("put-back")["status"], "pending");
}

#[test]
fn a_restore_writes_the_file_its_step_edited() {
    let t = Test::new().runbook(restorable());
    std::fs::write(t.path("config.ts"), "provider: ssm\n").unwrap();
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    t.run(&["rollback", "--level", "1"]).code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: ssm\n"
    );
}

#[test]
fn a_symlinked_backup_record_is_not_followed() {
    let t = Test::new().runbook(restorable());
    std::fs::write(t.path("config.ts"), "provider: ssm\n").unwrap();
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let record = t.state_dir().join("backups/edit-config.json");
    std::fs::rename(&record, t.path("record.json")).unwrap();
    std::os::unix::fs::symlink(t.path("record.json"), &record).unwrap();
    t.run(&["rollback", "--level", "1"])
        .code(REFUSED)
        .stdout_has("symbolic link");
    assert_eq!(
        std::fs::read_to_string(t.path("config.ts")).unwrap(),
        "provider: http\n"
    );
}

#[test]
fn a_restore_naming_no_file_step_is_a_located_validation_error() {
    let t = Test::new().runbook(Runbook::minimal().rollback(
        1,
        "",
        "- id: put-back\n  file: { restore: never-was }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("phases/r1.yaml:4:")
        .stderr_has("`restore: never-was` names no `file` step")
        .stderr_has("hint:");
}

fn write_state(t: &Test, serial: &str, attempts: &str) {
    private_state_dir(t);
    let state = format!(
        r#"{{"format": 1, "serial": {serial}, "runbook": "test-runbook",
            "created_at": "2026-11-28T02:00:00Z", "updated_at": "2026-11-28T02:00:00Z",
            "steps": {{"touch": {{"unit": "phase-1", "status": "failed", "attempts": {attempts},
            "hash": "0"}}}}}}"#
    );
    std::fs::write(t.state_dir().join("state.json"), state).unwrap();
}

#[test]
fn a_serial_at_its_limit_is_a_clean_refusal_not_a_panic() {
    let t = Test::new().runbook(marking());
    write_state(&t, "18446744073709551615", "1");
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("serial 18446744073709551615 is beyond");
    assert!(!t.path("touched").exists(), "a step ran");
    t.run(&["status"]).code(REFUSED).stderr_has("serial");
}

#[test]
fn an_attempt_count_at_its_limit_is_a_clean_refusal_not_a_panic() {
    let t = Test::new().runbook(marking());
    write_state(&t, "3", "4294967295");
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("step `touch` records 4294967295 attempts");
    assert!(!t.path("touched").exists(), "a step ran");
}

#[test]
fn a_huge_state_file_is_refused_without_being_loaded() {
    let t = Test::new().runbook(marking());
    write_state(&t, "3", "1");
    // Valid JSON (trailing blanks), just too big to be a state this tool wrote.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(t.state_dir().join("state.json"))
        .unwrap();
    use std::io::Write;
    let blanks = vec![b' '; 1024 * 1024];
    for _ in 0..65 {
        f.write_all(&blanks).unwrap();
    }
    drop(f);
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("state.json is 68157")
        .stderr_has("more than the 67108864");
    assert!(!t.path("touched").exists(), "a step ran");
}

fn hostname() -> String {
    Command::new("hostname")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap()
}

/// Field 22 of `/proc/PID/stat`: the process's start time.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn write_lock(t: &Test, pid: u32, process_start: Option<u64>) {
    private_state_dir(t);
    let mut info = serde_json::json!({"id": "lock-7", "pid": pid, "host": hostname(), "user": "alice", "command": "outpost-migrate phase 3", "started_at": "2026-11-28T02:00:00Z"});
    if let Some(start) = process_start {
        info["process_start"] = start.into();
    }
    std::fs::write(t.state_dir().join("lock"), info.to_string()).unwrap();
}

#[test]
fn a_lock_naming_a_live_process_of_this_host_is_not_called_gone() {
    // pid 1 is always alive; the lock records no start time, so it cannot be told apart from
    // the holder: it is kept, and only an explicit --lock-id removes it.
    let t = Test::new().runbook(marking());
    write_lock(&t, 1, None);
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("another run holds the lock")
        .stderr_has("(pid 1)");
    assert!(!t.path("touched").exists(), "a step ran");
    t.run(&["unlock"])
        .code(REFUSED)
        .stderr_has("--lock-id lock-7");
    t.run(&["unlock", "--lock-id", "lock-7"]).code(SUCCESS);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
}

#[test]
fn a_live_process_with_the_recorded_start_time_holds_the_lock() {
    let t = Test::new().runbook(marking());
    let mut holder = Command::new("sleep").arg("60").spawn().unwrap();
    write_lock(&t, holder.id(), Some(start_time(holder.id())));
    let run = t.run(&["phase", "1", "--force"]);
    let _ = holder.kill();
    let _ = holder.wait();
    run.code(REFUSED)
        .stderr_has(&format!("(pid {})", holder.id()));
    assert!(!t.path("touched").exists(), "a step ran");
}

#[test]
fn a_reused_pid_does_not_keep_a_lock_alive() {
    let t = Test::new().runbook(marking());
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    // The lock's holder had this pid but started earlier: the pid now belongs to `other`.
    write_lock(&t, other.id(), Some(start_time(other.id()) - 1));
    let run = t.run(&["phase", "1", "--force"]);
    let _ = other.kill();
    let _ = other.wait();
    run.code(SUCCESS)
        .stderr_has("reclaimed a stale lock")
        .stderr_has("its pid now belongs to another process");
    assert!(t.path("touched").exists());
}

#[test]
fn an_unreadable_lock_says_what_to_do_and_unlock_clears_it() {
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    std::fs::write(t.state_dir().join("lock"), "garbage{").unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("cannot be read")
        .stderr_has("`outpost-migrate unlock` clears it");
    assert!(!t.path("touched").exists(), "a step ran");
    t.run(&["status"])
        .code(SUCCESS)
        .stdout_has("lock: the lock file")
        .stdout_has("outpost-migrate unlock");
    t.run(&["unlock"])
        .code(SUCCESS)
        .stdout_has("removed an unreadable lock file");
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert!(t.path("touched").exists());
}

#[test]
fn an_unreadable_lock_a_process_holds_is_not_cleared() {
    let t = Test::new().runbook(marking());
    private_state_dir(&t);
    let lock = t.state_dir().join("lock");
    std::fs::write(&lock, "garbage{").unwrap();
    // The shell takes the same OS lock (flock(2)) the tool does on an fd `sleep` inherits, and
    // says so once it holds it: one process, killed at the end, holds the lock meanwhile.
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg("exec 9<\"$0\" && flock --shared 9 && echo held && exec sleep 60")
        .arg(&lock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    let refused = t.run(&["unlock"]);
    let _ = holder.kill();
    let _ = holder.wait();
    refused
        .code(REFUSED)
        .stderr_has("a running process holds it");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "garbage{");
}
