//! Processes: a timeout, the end of an attempt and the second Ctrl-C stop a step's whole process
//! group; no attempt overlaps an earlier one's processes; Ctrl-C in a retry wait exits 130 with
//! the step resumable; timeouts and retry schedules are bounded.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use outpost_migrate::exit_codes::{INTERRUPTED, STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};

use crate::support::{Runbook, Test};

/// True while a process of group `pgid` runs (zombies, which this container's pid 1 may
/// never reap, do not count), from /proc.
fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            let rest = &stat[stat.rfind(')').unwrap() + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[2].parse::<i32>() == Ok(pgid) && f[0] != "Z" && f[0] != "X"
        })
}

/// True while process `pid` runs (not a zombie).
fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        !matches!(rest.split_whitespace().next(), Some("Z" | "X"))
    })
}

/// Kills the process groups whose ids a test's steps wrote down, whatever the test found: a
/// failing test leaves no `sleep 30` behind.
struct Reap(Vec<std::path::PathBuf>);

impl Drop for Reap {
    fn drop(&mut self) {
        for file in &self.0 {
            for pgid in pgids(file) {
                // SAFETY: kill(2) with a negative pid > 1 signals one process group.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

fn pgids(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p| *p > 1)
        .collect()
}

/// Waits (up to a minute, for a loaded machine) until `path` exists.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The binary running in the background, its stderr read line by line.
struct Background {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Background {
    fn start(t: &Test, args: &[&str]) -> Self {
        let mut child = t
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Background { child, stderr: rx }
    }

    fn sigint(&self) {
        // SAFETY: kill(2) on the pid of our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    /// Waits for a stderr line containing `needle`.
    fn stderr_line(&self, needle: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no stderr line with {needle:?}: {e}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn finish(self) -> (i32, String) {
        let out = self.child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

#[test]
fn a_timeout_stops_the_steps_whole_process_group() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: slow\n  shell: { command: 'echo $$ > pgid; (sleep 30; touch late)' }\n  timeout: 1s\n",
    ));
    let _reap = Reap(vec![t.path("pgid")]);
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("timed out after 1s");
    let pgid = pgids(&t.path("pgid"))[0];
    assert!(
        !group_alive(pgid),
        "the subshell of a timed-out step outlived the run"
    );
}

#[test]
fn no_attempt_starts_while_an_earlier_attempts_processes_live() {
    // Each attempt takes a lock its own `sleep` holds; an attempt that finds it taken runs
    // beside an earlier one.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: apply\n  shell: { command: 'echo $$ >> pgids; flock -n held sleep 30 || { echo overlap >> overlaps; exit 1; }' }\n  timeout: 1s\n  retry: { attempts: 3, interval: 100ms }\n",
    ));
    let _reap = Reap(vec![t.path("pgids")]);
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("timed out after 1s (after 3 attempts)");
    assert!(
        !t.path("overlaps").exists(),
        "an attempt ran beside an earlier one's processes"
    );
    for pgid in pgids(&t.path("pgids")) {
        assert!(!group_alive(pgid), "attempt group {pgid} outlived the run");
    }
}

#[test]
fn what_a_step_leaves_in_its_group_is_stopped_and_a_setsid_daemon_is_not() {
    // The background `sleep` holds the step's output pipes: the step ends when `sh` does all
    // the same, well within its timeout. The daemon writes its pid once it leads its own
    // session: the step waits for that, as the rehearsal's restart script waits for its server
    // to answer.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: start\n  timeout: 10s\n  shell:\n    command: |\n      echo $$ > pgid\n      sleep 30 &\n      setsid sh -c 'echo $$ > daemon; exec sleep 30' >/dev/null 2>&1 &\n      while [ ! -s daemon ]; do sleep 0.01; done\n",
    ));
    let _reap = Reap(vec![t.path("pgid"), t.path("daemon")]);
    let run = t.run(&["phase", "1", "--force"]);
    run.code(SUCCESS)
        .stderr_has("step `start` left processes running in its process group");
    assert!(
        !group_alive(pgids(&t.path("pgid"))[0]),
        "a background process of a finished step outlived it"
    );
    // setsid made the daemon the leader of a session and group of its own (its pid).
    let daemon = pgids(&t.path("daemon"))[0];
    assert!(group_alive(daemon), "the setsid daemon was stopped");
}

#[test]
fn ctrl_c_in_a_retry_wait_exits_130_and_the_step_resumes() {
    // Fails on its first run (one line in `tries`), succeeds on the next.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: flaky\n  shell: { command: 'echo x >> tries; test $(wc -l < tries) -ge 2' }\n  retry: { attempts: 5, interval: 10m }\n",
    ));
    let bg = Background::start(&t, &["phase", "1", "--force"]);
    wait_for(&t.path("tries"));
    bg.sigint();
    let (code, stdout) = bg.finish();
    assert_eq!(code, INTERRUPTED, "{stdout}");
    assert!(
        stdout.contains("was interrupted at step `flaky`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "resume with: outpost-migrate phase 1 --force --runbook {} --state-dir {}",
            t.runbook_dir().display(),
            t.state_dir().display()
        )),
        "{stdout}"
    );
    let saved = t.step_state("flaky");
    assert_eq!(saved["status"], "pending", "{saved}");
    assert_eq!(saved["attempts"], 1, "{saved}");
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_lacks("in doubt");
}

#[test]
fn the_second_ctrl_c_stops_the_running_steps_processes() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: long\n  shell: { command: 'echo $$ > pgid; sleep 30' }\n",
    ));
    let _reap = Reap(vec![t.path("pgid")]);
    let bg = Background::start(&t, &["phase", "1", "--force"]);
    wait_for(&t.path("pgid"));
    bg.sigint();
    bg.stderr_line("Ctrl-C: finishing step `long`, then stopping");
    bg.sigint();
    let (code, stdout) = bg.finish();
    assert_eq!(code, INTERRUPTED, "{stdout}");
    assert!(
        !group_alive(pgids(&t.path("pgid"))[0]),
        "the step's processes outlived the second Ctrl-C"
    );
    // Stopped, not failed: its effect is unknown, so it stays in doubt for the operator.
    assert_eq!(t.step_state("long")["status"], "running");
}

fn validate(phase: &str) -> (i32, String) {
    let t = Test::new().runbook(Runbook::minimal().phase(1, phase));
    let run = t.run(&["validate"]);
    let root = format!("{}/", t.runbook_dir().display());
    (run.code, run.stderr.replace(&root, ""))
}

#[test]
fn a_zero_timeout_is_a_located_validation_error() {
    let (code, stderr) = validate("- id: a\n  shell: { command: 'true' }\n  timeout: 0s\n");
    assert_eq!(code, USAGE_OR_RUNBOOK, "{stderr}");
    assert!(stderr.contains("--> phases/1.yaml:5:14"), "{stderr}");
    assert!(
        stderr.contains("`timeout` must be more than zero"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn a_retry_that_does_not_wait_is_a_located_validation_error() {
    let (code, stderr) = validate(
        "- id: a\n  shell: { command: 'true' }\n  retry: { attempts: 1000000, interval: 0s }\n",
    );
    assert_eq!(code, USAGE_OR_RUNBOOK, "{stderr}");
    assert!(stderr.contains("--> phases/1.yaml:5:"), "{stderr}");
    assert!(
        stderr.contains("retry `interval` of 0s is below the minimum of 100ms"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn a_retry_schedule_waiting_more_than_a_day_is_a_validation_error() {
    let (code, stderr) = validate(
        "- id: a\n  shell: { command: 'true' }\n  retry: { attempts: 1000000, interval: 1s }\n",
    );
    assert_eq!(code, USAGE_OR_RUNBOOK, "{stderr}");
    assert!(stderr.contains("--> phases/1.yaml:5:"), "{stderr}");
    assert!(stderr.contains("more than the maximum of 24h"), "{stderr}");
    let (code, stderr) = validate(
        "- id: a\n  shell: { command: 'true' }\n  retry: { attempts: 100, interval: 1s, backoff: 2 }\n",
    );
    assert_eq!(code, USAGE_OR_RUNBOOK, "backoff counts too: {stderr}");
}

#[test]
fn a_templated_retry_schedule_is_bounded_when_rendered() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  polls: 1000000\n  every: 0s\n")
            .phase(
                1,
                "- id: poll\n  shell: { command: 'touch ran' }\n  retry: { attempts: \"{{ polls }}\", interval: \"{{ every }}\" }\n",
            ),
    );
    t.run(&["validate"]).code(SUCCESS);
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("step `poll`: retry `interval` of 0s is below the minimum of 100ms");
    assert!(
        !t.path("ran").exists(),
        "the step ran with an unbounded schedule"
    );
}

#[test]
fn a_stdio_mcp_servers_group_is_stopped_after_the_call() {
    let t = Test::new().env("AWS_REGION", "us-east-1");
    let config = t.path("config.ts");
    std::fs::write(&config, "export const outpostConfig = {\n  provider: 'ssm',\n  endpoint: 'http://127.0.0.1:9',\n  instanceId: 'mi-0bbd8fed3f0650ddb',\n};\n").unwrap();
    // The server leaves a process behind, as a wrapper script might.
    let command = format!(
        "sleep 30 >/dev/null 2>&1 & echo $! > leftover; exec python3 {}/rehearsal/mcpify.py --stdio --config {}",
        env!("CARGO_MANIFEST_DIR"),
        config.display()
    );
    let t = t.runbook(Runbook::minimal().phase(
        1,
        &format!("- id: artifacts\n  mcp: {{ command: \"{command}\", tool: outpost_get_artifacts, arguments: {{ dispatchId: x }} }}\n"),
    ));
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("tool outpost_get_artifacts answered an error");
    let leftover = pgids(&t.path("leftover"))[0];
    let alive = process_alive(leftover);
    if alive {
        // SAFETY: kill(2) on the pid of a process this test's step started.
        unsafe {
            libc::kill(leftover, libc::SIGKILL);
        }
    }
    assert!(!alive, "what the MCP server left behind outlived its call");
}
