//! The command line as a CI job and an operator meet it: every command's machine output is a
//! document with its exit code, also when it fails; each command takes only its own flags;
//! the help documents each command with examples and the exit codes; `--version` names the
//! embedded runbook by its hash.

use std::process::Command;

use serde_json::Value;

use crate::support::{BIN, Run, Runbook, Test};
use outpost_migrate::exit_codes::{
    self, INTERRUPTED, REFUSED, STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK,
};

/// Every command that loads the runbook, as typed after `outpost-migrate`.
const COMMANDS: &[&[&str]] = &[
    &["validate"],
    &["plan"],
    &["plan", "phase", "2"],
    &["preflight"],
    &["phase", "1"],
    &["phase", "1", "--dry-run"],
    &["rollback", "--level", "1"],
    &["verify"],
    &["run"],
    &["run", "--dry-run"],
    &["status"],
];

fn with(args: &[&str], more: &[&str]) -> Vec<String> {
    args.iter().chain(more).map(|s| s.to_string()).collect()
}

fn run(t: &Test, args: &[String]) -> Run {
    t.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The last line of a `--output json` stdout, every line having parsed as JSON.
fn last_json(run: &Run, what: &str) -> Value {
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{what}: a line is not JSON ({e}): {l}"))
        })
        .collect();
    lines
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("{what}: nothing on stdout; stderr:\n{}", run.stderr))
}

/// The failures of a `--output junit` stdout (their `message`s), the XML having parsed, and
/// the exit code its suite records, if any.
fn junit_failures(run: &Run, what: &str) -> (Vec<String>, Option<i32>) {
    let doc = roxmltree::Document::parse(&run.stdout)
        .unwrap_or_else(|e| panic!("{what}: not XML ({e}):\n{}", run.stdout));
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| n.attribute("message").unwrap_or_default().to_owned())
        .collect();
    let code = doc
        .descendants()
        .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("exit_code"))
        .filter_map(|n| n.attribute("value")?.parse().ok())
        .next_back();
    (failures, code)
}

fn invalid() -> Runbook {
    Runbook::minimal().phase(1, "- id: broken\n  shel: { command: 'true' }\n")
}

#[test]
fn every_command_on_an_invalid_runbook_writes_a_json_document_with_exit_code_and_problems() {
    let t = Test::new().runbook(invalid());
    for args in COMMANDS {
        let what = args.join(" ");
        let run = run(&t, &with(args, &["--output", "json"]));
        run.code(USAGE_OR_RUNBOOK);
        let last = last_json(&run, &what);
        assert_eq!(last["exit_code"], USAGE_OR_RUNBOOK, "{what}: {last}");
        assert!(
            last["error"]
                .as_str()
                .is_some_and(|e| e.contains("the runbook is invalid")),
            "{what}: {last}"
        );
        let problems = last["problems"]
            .as_array()
            .expect("the problems are listed");
        assert!(
            problems.iter().any(|p| {
                p["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("phases/1.yaml"))
                    && p["loc"]["line"].as_u64().is_some_and(|l| l > 0)
                    && p["message"].as_str().is_some_and(|m| m.contains("shel"))
            }),
            "{what}: {last}"
        );
    }
}

#[test]
fn every_command_on_an_invalid_runbook_writes_a_junit_report_with_a_failing_case() {
    let t = Test::new().runbook(invalid());
    for args in COMMANDS {
        let what = args.join(" ");
        let run = run(&t, &with(args, &["--output", "junit"]));
        run.code(USAGE_OR_RUNBOOK);
        let (failures, code) = junit_failures(&run, &what);
        assert_eq!(code, Some(USAGE_OR_RUNBOOK), "{what}:\n{}", run.stdout);
        assert!(
            failures.iter().any(|m| m.contains("shel")),
            "{what}: no failure names the unknown field:\n{}",
            run.stdout
        );
    }
}

#[test]
fn a_refusal_is_in_the_machine_output_with_its_exit_code() {
    let t = Test::new();
    let refused = t.run(&["phase", "3", "--output", "json"]);
    refused.code(REFUSED);
    let last = last_json(&refused, "phase 3");
    assert_eq!(last["exit_code"], REFUSED);
    assert_eq!(last["exit_name"], "REFUSED");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("phase 3 needs pre-flight"),
        "{last}"
    );
    let refused = t.run(&["phase", "3", "--output", "junit"]);
    refused.code(REFUSED);
    let (failures, code) = junit_failures(&refused, "phase 3");
    assert_eq!(code, Some(REFUSED));
    assert!(
        failures
            .iter()
            .any(|m| m.contains("phase 3 needs pre-flight")),
        "{}",
        refused.stdout
    );
}

#[test]
fn a_run_that_fails_ends_its_json_with_the_error_and_its_junit_with_the_failed_step() {
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, "- id: bad\n  shell: { command: 'exit 3' }\n"));
    let failed = t.run(&["phase", "1", "--force", "--output", "json"]);
    failed.code(STEP_FAILED);
    let last = last_json(&failed, "phase 1");
    assert_eq!(last["event"], "summary");
    assert_eq!(last["exit_code"], STEP_FAILED);
    assert_eq!(last["error"], "step `bad` failed", "{last}");
    let failed = t.run(&["phase", "1", "--force", "--output", "junit"]);
    failed.code(STEP_FAILED);
    let (failures, _) = junit_failures(&failed, "phase 1");
    assert!(
        failures.len() == 1 && failures[0].contains("exited with 3"),
        "the failed step is the one failure: {failures:?}"
    );
    let passed = t.run(&["phase", "2", "--force", "--output", "json"]);
    passed.code(SUCCESS);
    let last = last_json(&passed, "phase 2");
    assert_eq!(last["exit_code"], SUCCESS);
    assert_eq!(last["error"], Value::Null);
}

#[test]
fn an_interrupted_run_ends_its_machine_output_with_exit_code_130_and_why() {
    // The step plays the operator: Ctrl-C to the tool, which lets the step finish and stops.
    let interrupted = || {
        Test::new().runbook(Runbook::minimal().phase(
            1,
            "- id: stop-me\n  shell: { command: 'kill -INT $PPID' }\n- id: after\n  shell: { command: 'true' }\n",
        ))
    };
    let json = interrupted().run(&["phase", "1", "--force", "--output", "json"]);
    json.code(INTERRUPTED);
    let last = last_json(&json, "phase 1");
    assert_eq!(last["exit_code"], INTERRUPTED, "{last}");
    assert_eq!(last["error"], "interrupted", "{last}");
    let junit = interrupted().run(&["phase", "1", "--force", "--output", "junit"]);
    junit.code(INTERRUPTED);
    let (failures, code) = junit_failures(&junit, "phase 1");
    assert_eq!(code, Some(INTERRUPTED), "{}", junit.stdout);
    assert_eq!(failures, ["interrupted"], "{}", junit.stdout);
}

#[test]
fn every_command_that_succeeds_ends_with_exit_code_0_in_json_and_a_passing_junit_report() {
    let t = Test::new();
    for args in [&["validate"][..], &["plan"], &["status"], &["unlock"]] {
        let what = args.join(" ");
        let json = run(&t, &with(args, &["--output", "json"]));
        json.code(SUCCESS);
        let last = last_json(&json, &what);
        assert_eq!(last["exit_code"], SUCCESS, "{what}: {last}");
        assert_eq!(last["error"], Value::Null, "{what}: {last}");
        let junit = run(&t, &with(args, &["--output", "junit"]));
        junit.code(SUCCESS);
        let (failures, code) = junit_failures(&junit, &what);
        assert_eq!(
            (failures.len(), code),
            (0, Some(SUCCESS)),
            "{what}:\n{}",
            junit.stdout
        );
        assert!(
            junit.stdout.contains("<testcase"),
            "{what}:\n{}",
            junit.stdout
        );
    }
}

#[test]
fn flags_that_mean_nothing_to_a_command_are_usage_errors() {
    let t = Test::new();
    for args in [
        &["validate", "--dry-run"][..],
        &["validate", "--force"],
        &["validate", "--jobs", "3"],
        &["validate", "--state-dir", "elsewhere"],
        &["plan", "--jobs", "2"],
        &["status", "--approve", "x"],
        &["status", "--dry-run"],
        &["unlock", "--var", "greeting=hi"],
        &["preflight", "--force"],
        &["phase", "1", "--jobs", "2"],
        &["rollback", "--level", "1", "--jobs", "2"],
        &["run", "--force"],
    ] {
        let what = args.join(" ");
        let run = t.run(args);
        run.code(USAGE_OR_RUNBOOK).stderr_has("unexpected argument");
        let json = run_json(&t, args);
        let last = last_json(&json, &what);
        assert_eq!(last["exit_code"], USAGE_OR_RUNBOOK, "{what}: {last}");
        assert!(
            last["error"]
                .as_str()
                .unwrap()
                .contains("unexpected argument"),
            "{what}: {last}"
        );
        let junit = t.run(&[args, &["--output", "junit"]].concat());
        junit.code(USAGE_OR_RUNBOOK);
        let (failures, code) = junit_failures(&junit, &what);
        assert_eq!(code, Some(USAGE_OR_RUNBOOK), "{what}");
        assert!(
            failures.iter().any(|m| m.contains("unexpected argument")),
            "{what}"
        );
    }
    // Each takes what is its own; the global flags go before or after the command's name.
    t.run(&["preflight", "--output", "json", "--jobs", "2", "--dry-run"])
        .code(SUCCESS);
    let global_first = bare(&["--output", "json", "validate"]);
    assert_eq!(global_first.status.code(), Some(SUCCESS));
    assert_eq!(
        serde_json::from_slice::<Value>(&global_first.stdout).unwrap()["valid"],
        true
    );
    t.run(&["phase", "1", "--force", "-q"]).code(SUCCESS);
    t.run(&["rollback", "--level", "1", "--force", "--dry-run"])
        .code(SUCCESS);
}

fn run_json(t: &Test, args: &[&str]) -> Run {
    let run = t.run(&[args, &["--output", "json"]].concat());
    run.code(USAGE_OR_RUNBOOK);
    run
}

#[test]
fn validate_checks_its_vars_as_plan_does() {
    let t = Test::new();
    for command in ["validate", "plan"] {
        let run = t.run(&[command, "--var", "greting=hi", "--output", "json"]);
        run.code(USAGE_OR_RUNBOOK)
            .stderr_has("unknown var `greting` in --var");
        assert!(
            last_json(&run, command)["error"]
                .as_str()
                .unwrap()
                .contains("unknown var `greting`")
        );
        t.run(&[command, "--var", "greeting=hi"]).code(SUCCESS);
    }
}

/// The binary with none of the test machine's settings for it in the environment.
fn bare(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("OUTPOST_MIGRATE_RUNBOOK")
        .env_remove("OUTPOST_MIGRATE_STATE_DIR")
        .env_remove("OUTPOST_MIGRATE_JOBS")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_command_documents_its_own_arguments_with_examples() {
    for command in [
        "validate",
        "plan",
        "preflight",
        "phase",
        "rollback",
        "verify",
        "run",
        "status",
        "unlock",
        "approve",
        "diagnose",
        "completions",
        "man",
        "schema",
        "iam-policy",
    ] {
        let help = bare(&[command, "--help"]);
        assert_eq!(help.status.code(), Some(SUCCESS));
        let help = text(&help);
        assert!(
            help.contains("Examples:\n  outpost-migrate "),
            "{command}:\n{help}"
        );
        insta::assert_snapshot!(format!("help_{command}"), help);
    }
    insta::assert_snapshot!("help", text(&bare(&["--help"])));
}

#[test]
fn the_long_help_lists_every_exit_code_as_the_readme_does() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Exit codes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has an exit codes section");
    let rows: Vec<(i32, String)> = table
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((
                cells.get(1)?.parse().ok()?,
                cells.get(2)?.trim_matches('`').to_owned(),
            ))
        })
        .collect();
    let codes: Vec<(i32, String)> = exit_codes::ALL
        .iter()
        .map(|c| (c.code, c.name.to_owned()))
        .collect();
    assert_eq!(
        rows, codes,
        "the README's exit codes are src/exit_codes.rs's"
    );
    for args in [&["--help"][..], &["run", "--help"], &["validate", "--help"]] {
        let help = text(&bare(args));
        assert!(help.contains("Exit codes:"), "{args:?}:\n{help}");
        for c in exit_codes::ALL {
            assert!(
                help.contains(&format!("{:>3}  {}", c.code, c.name)),
                "{args:?} lacks {}:\n{help}",
                c.name
            );
        }
    }
}

/// The runbook's fingerprint as `validate --output json` reports it.
fn sha256_of(t: &Test, runbook: Option<&std::path::Path>) -> String {
    let mut args = vec!["validate", "--output", "json"];
    let dir;
    if let Some(path) = runbook {
        dir = path.display().to_string();
        args.extend(["--runbook", &dir]);
    }
    let run = t.run(&args);
    run.code(SUCCESS);
    last_json(&run, "validate")["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_version_names_the_embedded_runbook_and_its_hash_follows_the_files() {
    let out = bare(&["--version"]);
    assert_eq!(out.status.code(), Some(SUCCESS));
    let version = text(&out);
    let t = Test::new().embedded();
    let embedded = sha256_of(&t, None);
    assert_eq!(
        version.trim(),
        format!(
            "outpost-migrate {} (runbook outpost-ssm-to-ecs sha256:{})",
            env!("CARGO_PKG_VERSION"),
            &embedded[..12]
        )
    );
    // The same files elsewhere have the same hash; one changed byte changes it.
    let copy = t.path("copy");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, _) in outpost_migrate::runbook::source::embedded_files() {
        std::fs::create_dir_all(copy.join(file).parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), copy.join(file)).unwrap();
    }
    assert_eq!(sha256_of(&t, Some(&copy)), embedded);
    let phase = copy.join("phases/3-mcpify-http.yaml");
    let edited = std::fs::read_to_string(&phase).unwrap() + "# reviewed\n";
    std::fs::write(&phase, edited).unwrap();
    assert_ne!(sha256_of(&t, Some(&copy)), embedded);
}

#[test]
fn a_bad_command_line_is_a_machine_document_too() {
    let t = Test::new();
    for (args, says) in [
        (&["phase", "9"][..], "invalid value '9'"),
        (&["rollback"], "--level <LEVEL>"),
        (&["plan", "phase", "9"], "unknown target `phase 9`"),
        (
            &["status", "--runbook", "nowhere"],
            "--runbook nowhere: no such file",
        ),
    ] {
        let what = args.join(" ");
        let json = run_json(&t, args);
        let last = last_json(&json, &what);
        assert!(
            last["error"].as_str().unwrap().contains(says),
            "{what}: {last}"
        );
        let junit = t.run(&[args, &["--output=junit"]].concat());
        junit.code(USAGE_OR_RUNBOOK);
        let (failures, code) = junit_failures(&junit, &what);
        assert_eq!(code, Some(USAGE_OR_RUNBOOK), "{what}");
        assert!(
            failures.iter().any(|m| m.contains(says)),
            "{what}: {failures:?}"
        );
    }
}

#[test]
fn a_refused_command_line_does_not_echo_a_secret() {
    let key = "op_live_cli_surface_secret_0123456789";
    let t = Test::new().env("OUTPOST_API_KEY", key);
    // `--var $OUTPOST_API_KEY`, the `name=` forgotten: clap repeats the value it refuses.
    let run = t.run(&["plan", "--var", key, "--output", "json"]);
    run.code(USAGE_OR_RUNBOOK);
    assert!(
        !run.stdout.contains(key) && !run.stderr.contains(key),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let error = last_json(&run, "plan")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("`***` is not KEY=VALUE"), "{error}");
}
