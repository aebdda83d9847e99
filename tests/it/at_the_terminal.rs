//! What the operator sees while a run waits: attempt N of M and the time left (the spinner,
//! `-v` and the JSON events), a heartbeat line without a terminal, the first Ctrl-C
//! acknowledged at once, titles as wide as the terminal; and the rehearsal as the operator
//! meets it (answered at the terminal, its environment kept to run its commands again).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use outpost_migrate::exit_codes::{INTERRUPTED, SUCCESS};

use crate::support::{BIN, Runbook, Test};

/// Long enough for a loaded machine; a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(120);

/// A phase-1 step polling (100ms apart, at most `attempts` times) until the test writes `go`.
fn poll_until_go(attempts: u32) -> Runbook {
    Runbook::minimal().phase(
        1,
        &format!(
            "- id: poll\n  title: Wait for the go file\n  shell: {{ command: 'test -f go' }}\n  retry: {{ attempts: {attempts}, interval: 100ms }}\n"
        ),
    )
}

/// The lines of a pipe, as they come.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The first line containing `needle` (the lines before it are dropped).
fn line_with(lines: &Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("no line with {needle:?}: {e}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// What a pipe gives, chunk by chunk (a terminal's output has no lines to wait for).
fn chunks_of(pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// The binary's command line for `sh`, each argument quoted.
fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(
            cmd.get_args()
                .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''"))),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// `line` run by `sh` on a pseudo-terminal of `cols` columns (`script`, util-linux).
fn on_a_terminal(line: &str, cols: u16, dir: &Path) -> Child {
    Command::new("script")
        .args([
            "-qec",
            &format!("stty cols {cols} rows 50; NO_COLOR=1 exec {line}"),
            "/dev/null",
        ])
        .current_dir(dir)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) is needed for the terminal tests")
}

/// Everything a terminal showed until its program ended, handing each new stretch of it to
/// `answer` (which may type into the terminal).
fn watch_terminal(child: &mut Child, mut answer: impl FnMut(&str, &mut dyn Write)) -> String {
    let chunks = chunks_of(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = Vec::new();
    loop {
        match chunks.recv_timeout(PATIENCE) {
            Ok(chunk) => {
                seen.extend(chunk);
                answer(&String::from_utf8_lossy(&seen), &mut stdin);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!(
                    "the terminal showed nothing new for {PATIENCE:?}:\n{}",
                    String::from_utf8_lossy(&seen)
                );
            }
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn attempt_events_carry_the_attempt_of_how_many_the_time_spent_and_the_time_left() {
    let succeeds_third = "- id: poll\n  shell: { command: 'echo x >> tries; test $(wc -l < tries) -ge 3' }\n  retry: { attempts: 5, interval: 100ms }\n";
    let t = Test::new().runbook(Runbook::minimal().phase(1, succeeds_third));
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(SUCCESS);
    let retries: Vec<Value> = run
        .json_lines()
        .into_iter()
        .filter(|e| e["event"] == "step_retrying")
        .collect();
    assert_eq!(retries.len(), 2, "{}", run.stdout);
    let field = |i: usize, name: &str| retries[i][name].as_u64().unwrap();
    for (i, (attempt, left)) in [(1, 400), (2, 300)].into_iter().enumerate() {
        assert_eq!(field(i, "attempt"), attempt, "{}", retries[i]);
        assert_eq!(field(i, "max_attempts"), 5, "{}", retries[i]);
        assert_eq!(field(i, "delay_ms"), 100, "{}", retries[i]);
        // The waits still ahead, this one included: 4 then 3 of 100ms.
        assert_eq!(field(i, "remaining_ms"), left, "{}", retries[i]);
    }
    // The second attempt began after the first wait of 100ms.
    assert!(
        field(1, "elapsed_ms") >= field(0, "elapsed_ms") + 100,
        "{retries:?}"
    );

    let t = Test::new().runbook(Runbook::minimal().phase(1, succeeds_third));
    t.run(&["phase", "1", "--force", "-v"])
        .code(SUCCESS)
        .stderr_has("↻ poll: attempt 1/5 failed, retrying in 100ms, 400ms left: `echo x")
        .stderr_has("↻ poll: attempt 2/5 failed, retrying in 100ms, 300ms left");
}

#[test]
fn without_a_terminal_a_heartbeat_says_what_a_poll_waits_for_at_most_once_a_period() {
    let period = Duration::from_millis(300);
    let t = Test::new()
        .runbook(poll_until_go(600))
        .env("OUTPOST_MIGRATE_HEARTBEAT", "300ms");
    let started = Instant::now();
    let mut child = t
        .command(&["phase", "1", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stderr.take().unwrap());
    // Nothing else is printed while the step polls, and it polls until the line has come.
    let first = line_with(&lines, "… waiting for poll: attempt ");
    assert!(
        first.contains("/600, ") && first.ends_with(" left"),
        "not attempt N of M and the time left: {first}"
    );
    std::fs::write(t.path("go"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(SUCCESS));
    let beats = 1 + lines
        .iter()
        .filter(|l| l.contains("… waiting for "))
        .count();
    // The first line comes a period after the start at the earliest, each next a period later.
    let most = (elapsed.as_millis() / period.as_millis()) as usize;
    assert!(
        beats <= most,
        "{beats} heartbeat lines in {elapsed:?}: more than one every {period:?}"
    );

    // The default period is 30 s: a run shorter than that says nothing while it polls.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: poll\n  shell: { command: 'echo x >> tries; test $(wc -l < tries) -ge 5' }\n  retry: { attempts: 5, interval: 100ms }\n",
    ));
    let started = Instant::now();
    let run = t.run(&["phase", "1", "--force"]);
    run.code(SUCCESS);
    let beats = run.stderr.matches("… waiting for ").count();
    let most = (started.elapsed().as_secs() / 30) as usize;
    assert!(
        beats <= most,
        "{beats} lines in {:?}:\n{}",
        started.elapsed(),
        run.stderr
    );
}

#[test]
fn on_a_terminal_the_spinner_shows_the_attempt_of_how_many_and_the_time_left() {
    let t = Test::new().runbook(poll_until_go(600));
    let line = shell_line(&t.command(&["phase", "1", "--force"]));
    let mut child = on_a_terminal(&line, 200, t.dir.path());
    let go = t.path("go");
    let shown = watch_terminal(&mut child, |seen, _| {
        if seen.contains("/600 failed, retrying in 100ms, ") && !go.exists() {
            std::fs::write(&go, "").unwrap();
        }
    });
    assert_eq!(child.wait().unwrap().code(), Some(SUCCESS), "{shown}");
    assert!(
        shown.contains("Wait for the go file: attempt ")
            && shown.contains(" left (`test -f go` exited with 1)"),
        "the spinner's line:\n{shown}"
    );
}

#[test]
fn titles_use_the_terminals_width() {
    let title = format!("A long title {} and its end", "that goes on ".repeat(10));
    let runbook = Runbook::minimal().phase(
        1,
        &format!("- id: long\n  title: {title}\n  shell: {{ command: 'true' }}\n"),
    );
    let shown = |cols: u16| {
        let t = Test::new().runbook(runbook.clone());
        let line = shell_line(&t.command(&["phase", "1", "--force"]));
        let mut child = on_a_terminal(&line, cols, t.dir.path());
        let shown = watch_terminal(&mut child, |_, _| {});
        assert_eq!(child.wait().unwrap().code(), Some(SUCCESS), "{shown}");
        shown
    };
    // The step's result line (the spinner before it is drawn on the same terminal).
    let result_line = |shown: &str| {
        shown
            .split(['\n', '\r'])
            .find(|l| l.contains("✔ A long title"))
            .unwrap_or_else(|| panic!("no result line:\n{shown}"))
            .to_owned()
    };
    let wide = result_line(&shown(250));
    assert!(
        wide.contains(&format!("✔ {title}")),
        "cut on 250 columns: {wide}"
    );
    let narrow = result_line(&shown(100));
    assert!(!narrow.contains(&title), "not cut on 100 columns: {narrow}");
    assert!(
        narrow.contains(&format!("✔ {}", &title[..60])) && narrow.contains('…'),
        "100 columns give more than the 58 of the title column: {narrow}"
    );
}

/// Runs a step that waits for `go`, signals the tool's process group as a terminal's Ctrl-C
/// does, and returns the acknowledgement (the first line of stdout or stderr holding
/// `needle`) read while the step still runs; then lets the step end and checks that the run
/// stopped after it.
fn ctrl_c_during_a_step(args: &[&str], from_stdout: bool, needle: &str) -> String {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: wait\n  shell: { command: 'touch started; while [ ! -f go ]; do sleep 0.05; done; touch finished' }\n- id: after\n  shell: { command: 'touch after' }\n",
    ));
    let mut child = t
        .command(&[&["phase", "1", "--force"][..], args].concat())
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    let lines = if from_stdout { &stdout } else { &stderr };
    let deadline = Instant::now() + PATIENCE;
    while !t.path("started").exists() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) with a negative pid signals the group our child leads.
    let sent = unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
    // The step is still running: it ends only once the acknowledgement has been read.
    let ack = line_with(lines, needle);
    assert!(!t.path("finished").exists());
    std::fs::write(t.path("go"), "").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(INTERRUPTED));
    assert!(t.path("finished").exists(), "the running step finished");
    assert!(!t.path("after").exists(), "nothing ran after the Ctrl-C");
    ack
}

#[test]
fn the_first_ctrl_c_is_acknowledged_at_once_naming_the_step_that_finishes_first() {
    let ack = ctrl_c_during_a_step(&[], false, "Ctrl-C");
    assert_eq!(
        ack,
        "Ctrl-C: finishing step `wait`, then stopping; Ctrl-C again to abort"
    );
    let event = ctrl_c_during_a_step(&["--output", "json"], true, "stop_requested");
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        event,
        serde_json::json!({"event": "stop_requested", "running": ["wait"]})
    );
}

fn rehearse_py() -> String {
    format!("{}/rehearsal/rehearse.py", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_interactive_rehearsal_asks_its_confirmations_and_approvals_at_the_terminal() {
    let line = format!(
        "python3 '{}' --binary '{BIN}' --interactive --plain --forward-only",
        rehearse_py()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = on_a_terminal(&line, 200, dir.path());
    let mut answered = 0;
    // The operator answers each question as it appears, and only then.
    let shown = watch_terminal(&mut child, |seen, keys| {
        while answered < seen.matches("[y/N]").count() {
            keys.write_all(b"y\n").unwrap();
            keys.flush().unwrap();
            answered += 1;
        }
    });
    assert_eq!(child.wait().unwrap().code(), Some(SUCCESS), "{shown}");
    assert!(shown.contains("rehearsal passed"), "{shown}");
    assert!(
        !shown.contains(" --yes"),
        "the tool ran with --yes:\n{shown}"
    );
    // Pre-flight's 4 confirmations, phase 1's approval and checkpoint, phases 2 and 4's.
    assert!(answered >= 8, "{answered} questions asked:\n{shown}");
    assert!(
        shown.contains("Approve [y/N]") && shown.contains("MCPify HTTP provider code complete?"),
        "{shown}"
    );
}

#[test]
fn a_kept_rehearsals_env_file_runs_its_printed_command_again() {
    let mut child = Command::new("python3")
        .arg(rehearse_py())
        .args(["--binary", BIN, "--plain", "--forward-only", "--hold"])
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let _stderr = lines_of(child.stderr.take().unwrap());
    let mut printed = Vec::new();
    loop {
        let line = stdout.recv_timeout(PATIENCE).unwrap_or_else(|e| {
            panic!("the rehearsal did not hold ({e}):\n{}", printed.join("\n"))
        });
        let done = line.contains("press Enter here to stop it");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(text.contains("rehearsal passed"), "{text}");
    let env_file = printed
        .iter()
        .find_map(|l| l.strip_prefix("rehearsal environment: source "))
        .unwrap_or_else(|| panic!("no env file named:\n{text}"))
        .to_owned();
    let command = printed
        .iter()
        .find_map(|l| {
            l.strip_prefix("$ ")
                .filter(|c| c.starts_with("outpost-migrate run"))
        })
        .unwrap_or_else(|| panic!("no command printed:\n{text}"))
        .to_owned();
    let in_a_shell = |what: &str| {
        let out = Command::new("bash")
            .args(["-c", &format!("source '{env_file}' && {what}")])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (status, status_text) = in_a_shell("outpost-migrate status");
    // The run again, in the world the rehearsal holds: every step done, skipped.
    let (again, again_text) = in_a_shell(&command);
    writeln!(child.stdin.take().unwrap()).unwrap();
    let code = child.wait().unwrap().code();
    let kept = Path::new(&env_file).parent().unwrap().to_owned();
    std::fs::remove_dir_all(&kept).unwrap();
    assert_eq!(code, Some(SUCCESS), "{text}");
    assert_eq!(status, Some(SUCCESS), "{status_text}");
    assert_eq!(again, Some(SUCCESS), "{command}:\n{again_text}");
    assert!(again_text.contains("↷ "), "nothing skipped:\n{again_text}");
}

#[test]
fn a_ctrl_c_typed_while_an_approval_waits_is_acknowledged_before_the_answer() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: apply\n  title: Apply ALB changes\n  approval: true\n  shell: { command: touch applied }\n- id: after\n  shell: { command: touch after }\n",
    ));
    let line = shell_line(&t.command(&["phase", "1", "--force"]));
    let mut child = on_a_terminal(&line, 200, t.dir.path());
    let (mut interrupted, mut answered) = (false, false);
    let shown = watch_terminal(&mut child, |seen, keys| {
        if !interrupted && seen.contains("Approve [y/N]") {
            // Ctrl-C as typed: the terminal sends SIGINT to its foreground process group.
            keys.write_all(b"\x03").unwrap();
            keys.flush().unwrap();
            interrupted = true;
        }
        if interrupted
            && !answered
            && seen.contains("Ctrl-C: finishing step `apply`, then stopping")
        {
            keys.write_all(b"y\n").unwrap();
            keys.flush().unwrap();
            answered = true;
        }
    });
    assert_eq!(child.wait().unwrap().code(), Some(INTERRUPTED), "{shown}");
    assert!(
        answered,
        "no acknowledgement while the question waited:\n{shown}"
    );
    assert!(t.path("applied").exists(), "the approved step ran");
    assert!(!t.path("after").exists(), "the run stopped after it");
}

#[test]
fn a_ctrl_c_in_the_interactive_rehearsal_reaches_the_tool_which_finishes_its_step() {
    let line = format!(
        "python3 '{}' --binary '{BIN}' --interactive --plain --forward-only",
        rehearse_py()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = on_a_terminal(&line, 200, dir.path());
    let (mut interrupted, mut answered) = (false, 0);
    let shown = watch_terminal(&mut child, |seen, keys| {
        if !interrupted && seen.contains("[y/N]") {
            keys.write_all(b"\x03").unwrap();
            keys.flush().unwrap();
            interrupted = true;
        }
        // The questions already asked are answered once the tool has said it is stopping.
        if interrupted && seen.contains("Ctrl-C: finishing step") {
            while answered < seen.matches("[y/N]").count() {
                keys.write_all(b"y\n").unwrap();
                keys.flush().unwrap();
                answered += 1;
            }
        }
    });
    assert_eq!(child.wait().unwrap().code(), Some(INTERRUPTED), "{shown}");
    assert!(
        shown.contains("was interrupted") && shown.contains("rehearsal failed (exit code 130)"),
        "the tool was not left to stop by itself:\n{shown}"
    );
}
