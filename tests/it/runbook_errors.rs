//! Runbook errors: every class is located (file:line:col), shows the line, hints, exits 2.

use crate::support::{Runbook, Test};
use outpost_migrate::exit_codes::{SUCCESS, USAGE_OR_RUNBOOK};

fn validate(rb: Runbook) -> (i32, String) {
    let t = Test::new().runbook(rb);
    let run = t.run(&["validate"]);
    // Paths are the test's temporary directory; keep what follows it.
    let root = format!("{}/", t.runbook_dir().display());
    (run.code, run.stderr.replace(&root, ""))
}

#[track_caller]
fn assert_error(rb: Runbook, location: &str, message: &str) -> String {
    let (code, stderr) = validate(rb);
    assert_eq!(code, USAGE_OR_RUNBOOK, "{stderr}");
    assert!(
        stderr.contains(&format!("--> {location}")),
        "no location {location}:\n{stderr}"
    );
    assert!(
        stderr.contains(message),
        "no message {message:?}:\n{stderr}"
    );
    stderr
}

#[test]
fn yaml_syntax_error() {
    assert_error(
        Runbook::minimal().phase(1, "- id: a\n  shell: { command: 'true' \n"),
        "phases/1.yaml:",
        "invalid YAML",
    );
}

#[test]
fn unknown_field_in_the_envelope_is_snapshotted() {
    let rb = Runbook::minimal().phase(
        1,
        "- id: apply\n  retries: 3\n  shell: { command: 'true' }\n",
    );
    let stderr = assert_error(
        rb,
        "phases/1.yaml:4:5",
        "unknown step field or kind `retries`",
    );
    insta::assert_snapshot!(stderr, @r"
    error: unknown step field or kind `retries` (step `apply`)
     --> phases/1.yaml:4:5
      |
    4 |     retries: 3
      |     ^^^^^^^
      = hint: did you mean `retry`? kinds: shell, http, confirm, file, aws, mcp

    error: the runbook is invalid: 1 problem found
    ");
}

#[test]
fn unknown_kind() {
    assert_error(
        Runbook::minimal().phase(1, "- id: a\n  shel: { command: 'true' }\n"),
        "phases/1.yaml:4:5",
        "unknown step field or kind `shel`",
    );
}

#[test]
fn unknown_field_inside_a_kind() {
    let stderr = assert_error(
        Runbook::minimal().phase(1, "- id: a\n  shell: { command: 'true', cmd: x }\n"),
        "phases/1.yaml:4:36",
        "unknown field `cmd` in `shell`",
    );
    assert!(
        stderr.contains("expected one of: command, cwd, env"),
        "{stderr}"
    );
}

#[test]
fn wrong_type() {
    assert_error(
        Runbook::minimal().phase(
            1,
            "- id: a\n  optional: maybe\n  shell: { command: 'true' }\n",
        ),
        "phases/1.yaml:4:15",
        "invalid type: string \"maybe\", expected a boolean",
    );
    assert_error(
        Runbook::minimal().phase(
            1,
            "- id: a\n  retry: { attempts: many }\n  shell: { command: 'true' }\n",
        ),
        "phases/1.yaml:4:24",
        "`attempts` must be a number of at least 1",
    );
}

#[test]
fn duplicate_ids_point_at_both() {
    let stderr = assert_error(
        Runbook::minimal()
            .phase(1, "- id: same\n  shell: { command: 'true' }\n")
            .phase(2, "- id: same\n  shell: { command: 'true' }\n"),
        "phases/2.yaml:3:9",
        "duplicate step id `same`",
    );
    assert!(
        stderr.contains("first used at") && stderr.contains("phases/1.yaml:3:9"),
        "{stderr}"
    );
}

#[test]
fn undefined_variable() {
    let stderr = assert_error(
        Runbook::minimal().phase(1, "- id: a\n  shell: { command: 'echo {{ greting }}' }\n"),
        "phases/1.yaml:4:32",
        "undefined variable `greting`",
    );
    assert!(stderr.contains("did you mean `greeting`?"), "{stderr}");
}

#[test]
fn capture_used_before_it_exists() {
    let stderr = assert_error(
        Runbook::minimal()
            .phase(
                1,
                "- id: early\n  shell: { command: 'echo {{ alb_dns }}' }\n",
            )
            .phase(
                2,
                "- id: late\n  shell: { command: 'echo x' }\n  capture: { alb_dns: stdout }\n",
            ),
        "phases/1.yaml:4:32",
        "undefined variable `alb_dns`",
    );
    assert!(
        stderr.contains("captured by step `late`, which runs after this one"),
        "{stderr}"
    );
}

#[test]
fn bad_jmespath_in_capture_and_expect() {
    assert_error(
        Runbook::minimal().phase(
            1,
            "- id: a\n  shell: { command: 'true' }\n  capture: { x: 'clusters[0' }\n",
        ),
        "phases/1.yaml:5:19",
        "invalid JMESPath in capture `x`",
    );
    assert_error(Runbook::minimal().phase(1, "- id: a\n  shell: { command: 'true' }\n  expect:\n    - query: 'a.[b'\n      equals: 1\n"), "phases/1.yaml:6:9", "invalid JMESPath");
}

#[test]
fn missing_phase_and_rollback_level() {
    let mut rb = Runbook::minimal();
    let root = rb.files["runbook.yaml"]
        .replace("  - { phase: 3, file: phases/3.yaml }\n", "")
        .replace("  - { level: 2, file: phases/r2.yaml }\n", "");
    rb.files.insert("runbook.yaml".into(), root);
    let stderr = assert_error(rb, "runbook.yaml:", "phase 3 is missing from `phases`");
    assert!(
        stderr.contains("level 2 is missing from `rollback`"),
        "{stderr}"
    );
}

#[test]
fn missing_file() {
    let mut rb = Runbook::minimal();
    rb.files.remove("phases/4.yaml");
    assert_error(rb, "runbook.yaml:10:23", "phases/4.yaml` does not exist");
}

#[test]
fn non_utf8_file() {
    let t = Test::new();
    t.run(&["validate"]).code(SUCCESS);
    let path = t.runbook_dir().join("phases/2.yaml");
    let mut bytes = b"title: ok\nsteps:\n  - id: caf".to_vec();
    bytes.extend([0xff, 0xfe]);
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .args(["validate", "--runbook"])
        .arg(t.runbook_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(USAGE_OR_RUNBOOK));
    assert!(
        stderr.contains("phases/2.yaml:3:12") && stderr.contains("not valid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn several_errors_are_reported_in_one_run() {
    let rb = Runbook::minimal()
        .phase(1, "- id: a\n  shel: { command: 'true' }\n")
        .phase(2, "- id: b\n  shell: { command: 'echo {{ nope }}' }\n")
        .phase(
            3,
            "- id: c\n  shell: { command: 'true' }\n  timeout: soon\n",
        );
    let (code, stderr) = validate(rb);
    assert_eq!(code, USAGE_OR_RUNBOOK);
    assert!(stderr.contains("phases/1.yaml:4:5"), "{stderr}");
    assert!(stderr.contains("phases/2.yaml:4:32"), "{stderr}");
    assert!(
        stderr.contains("phases/3.yaml:5:14") && stderr.contains("invalid duration `soon`"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems found"), "{stderr}");
}

#[test]
fn every_command_refuses_an_invalid_runbook_with_exit_2() {
    let t =
        Test::new().runbook(Runbook::minimal().phase(1, "- id: a\n  shel: { command: 'true' }\n"));
    for args in [
        &["plan"][..],
        &["preflight"],
        &["run", "--dry-run"],
        &["status"],
    ] {
        t.run(args)
            .code(USAGE_OR_RUNBOOK)
            .stderr_has("unknown step field or kind `shel`");
    }
    assert!(
        !t.state_dir().join("state.json").exists(),
        "no partial state for an invalid runbook"
    );
}
