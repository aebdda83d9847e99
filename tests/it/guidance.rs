//! What the operator is told to do next: every step of the shipped runbook has a hint, the
//! resume line repeats the command as typed (quoted, secrets redacted), a failure after a
//! change names the rollback level undoing it, and AWS and MCP failures are said plainly.

use std::net::TcpListener;

use outpost_migrate::exit_codes::{SETUP, STEP_FAILED, SUCCESS};
use serde_json::Value;

use crate::support::{BIN, Run, Runbook, Server, Test};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The command of the line starting with `prefix` (up to three spaces), as shell words.
fn hint_words(run: &Run, prefix: &str) -> Vec<String> {
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in\n{}", run.stdout));
    let command = line.split("   ").next().unwrap();
    shlex::split(command).unwrap_or_else(|| panic!("not a shell line: {command}"))
}

/// What the test harness puts before every command.
/// The options the test runner adds after a command's own words.
fn harness_words(t: &Test) -> Vec<String> {
    vec![
        "--runbook".into(),
        t.runbook_dir().display().to_string(),
        "--state-dir".into(),
        t.state_dir().display().to_string(),
    ]
}

/// No SDK, transport or rmcp log line, no Rust type name.
#[track_caller]
fn speaks_plainly(run: &Run) {
    for noise in [
        "DispatchFailure",
        "ConnectorError",
        "WARN",
        "ERROR rmcp",
        "rmcp::",
        "aws_config",
    ] {
        assert!(
            !run.stderr.contains(noise) && !run.stdout.contains(noise),
            "{noise:?} shown\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn every_step_of_the_shipped_phases_rollbacks_and_verification_has_a_hint() {
    let run = Test::new()
        .embedded()
        .run(&["plan", "all", "--output", "json"]);
    let plan: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let mut missing = Vec::new();
    let mut seen = 0;
    for unit in plan["units"].as_array().unwrap() {
        // Pre-flight's checks have their hints from the break matrix.
        if unit["unit"] == "preflight" {
            continue;
        }
        for step in unit["steps"].as_array().unwrap() {
            seen += 1;
            if step["has_hint"] != true {
                missing.push(format!("{} {}", unit["unit"], step["id"]));
            }
        }
    }
    assert!(seen > 60, "only {seen} steps listed");
    assert!(missing.is_empty(), "steps without a hint: {missing:#?}");
}

/// Phase 1 fails after a step that sees the vars; `token` carries the API key.
fn failing_phase() -> Runbook {
    Runbook::minimal()
        .vars("  greeting: hello\n  token: none\n")
        .phase(
            1,
            "- id: greet\n  shell: { command: 'echo {{ greeting }}' }\n  mutates: false\n\
             - id: broken\n  shell: { command: 'exit 3' }\n  mutates: false\n",
        )
}

#[test]
fn resume_repeats_the_typed_command_quoted_with_its_secrets_redacted() {
    let key = "op_test_resume0000000000000secret";
    let t = Test::new()
        .runbook(failing_phase())
        .env("OUTPOST_API_KEY", key);
    let hostile = "x'; touch pwned; echo '";
    let typed = [
        "phase",
        "1",
        "--force",
        "--var",
        &format!("greeting={hostile}"),
        "--var",
        &format!("token={key}"),
        "--approve",
        "greet",
    ];
    let run = t.run(&typed);
    run.code(STEP_FAILED);
    assert!(
        !run.stdout.contains(key),
        "the key is shown:\n{}",
        run.stdout
    );
    let mut want = vec!["outpost-migrate".to_owned()];
    want.extend(typed.iter().map(|w| w.replace(key, "***")));
    want.extend(harness_words(&t));
    assert_eq!(hint_words(&run, "resume with: "), want);

    // Pasted into a shell, the line runs the same command: the hostile value is one word.
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("resume with: "))
        .unwrap()
        .split("   ")
        .next()
        .unwrap()
        .to_owned();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(&line)
        .current_dir(t.dir.path())
        .env("PATH", path);
    let again = sh.output().unwrap();
    assert_eq!(again.status.code(), Some(STEP_FAILED), "{line}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("✘ broken"),
        "the pasted line did not run phase 1 again"
    );
    assert!(
        !t.path("pwned").exists(),
        "a value became a shell command: {line}"
    );
}

/// Phase 1 changes something; phase 2 changes something, then a check fails. Rollback 2
/// reverts phase 2 and rollback 3 phase 1.
fn two_changing_phases() -> Runbook {
    Runbook::minimal()
        .phase(1, "- id: p1-change\n  shell: { command: 'true' }\n")
        .phase(
            2,
            "- id: p2-check-first\n  shell: { command: 'test {{ greeting }} != early' }\n  mutates: false\n\
             - id: p2-change\n  shell: { command: 'true' }\n\
             - id: p2-check\n  shell: { command: 'exit 1' }\n  mutates: false\n  hint: Check phase 2.\n",
        )
        .rollback(2, "", "- id: r2-undo\n  reverts: 2\n  shell: { command: 'true' }\n")
        .rollback(3, "", "- id: r3-undo\n  reverts: 1\n  shell: { command: 'true' }\n")
}

#[test]
fn a_failure_after_changes_names_the_rollback_level_that_undoes_them_in_every_output() {
    let t = Test::new().runbook(two_changing_phases());
    // Before any change: no rollback to advise.
    let early = t.run(&["phase", "2", "--force", "--var", "greeting=early"]);
    early.code(STEP_FAILED).stdout_lacks("to undo");
    t.run(&["phase", "1", "--force"]).code(SUCCESS);

    let run = t.run(&["phase", "2", "--force", "--var", "greeting=late", "--yes"]);
    run.code(STEP_FAILED);
    let mut want = vec![
        "outpost-migrate".to_owned(),
        "rollback".into(),
        "--level".into(),
        "3".into(),
    ];
    want.extend(["--var".to_owned(), "greeting=late".into()]);
    want.extend(harness_words(&t));
    assert_eq!(
        hint_words(&run, "to undo what phases 1 and 2 applied: "),
        want
    );

    let json = t.run(&["phase", "2", "--force", "--output", "json"]);
    let summary = json.json_lines().pop().unwrap();
    assert_eq!(summary["rollback"]["level"], 3);
    assert_eq!(summary["rollback"]["phases"], serde_json::json!([1, 2]));
    assert!(
        summary["rollback"]["command"]
            .as_str()
            .unwrap()
            .starts_with("outpost-migrate rollback --level 3 --output json --runbook "),
        "{summary}"
    );

    let junit = t.run(&["phase", "2", "--force", "--output", "junit"]);
    let doc = roxmltree::Document::parse(&junit.stdout).unwrap();
    let property = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .map(str::to_owned)
    };
    assert_eq!(property("rollback_level").as_deref(), Some("3"));
    assert!(
        property("rollback")
            .unwrap()
            .starts_with("outpost-migrate rollback --level 3 "),
        "{}",
        junit.stdout
    );
    // The failed check's hint is in its JUnit failure.
    assert!(
        junit.stdout.contains("hint: Check phase 2."),
        "{}",
        junit.stdout
    );

    // A rollback that fails advises no further rollback.
    let mut failing = two_changing_phases();
    failing = failing.rollback(
        1,
        "",
        "- id: r1-broken\n  shell: { command: 'exit 1' }\n  mutates: false\n",
    );
    let mut t = t;
    t.rewrite(failing);
    t.run(&["rollback", "--level", "1"])
        .code(STEP_FAILED)
        .stdout_has("resume with: ")
        .stdout_lacks("to undo");
}

#[test]
fn a_502_after_its_retries_says_what_to_check() {
    let server = Server::start();
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars(&format!("  greeting: hello\n  api_url: {}\n", server.url))
            .phase(
                1,
                "- id: live\n  http: { url: \"{{ api_url }}/fail\" }\n  retry: { attempts: 2, interval: 100ms }\n",
            ),
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("answered 502")
        .stdout_has("the service behind it gave no valid answer")
        .stdout_has("aws elbv2 describe-target-health");
}

#[test]
fn no_credentials_is_said_in_the_aws_clis_words_and_nothing_says_resume() {
    let t = Test::new().embedded();
    let home = t.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.display().to_string();
    let run = |args: &[&str]| {
        let mut cmd = t.command(args);
        // No credentials anywhere: an empty home, no AWS variable but the metadata switch
        // the AWS CLI honours too (the harness sets it: IMDS is not asked).
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            cmd.env_remove(k);
        }
        cmd.env("HOME", &home)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let cli =
        "Unable to locate credentials. You can configure credentials by running \"aws configure\".";
    // With the SDK's own chain (no profile): the CLI's sentence.
    let chain = run(&["preflight", "--yes", "--var", "profile="]);
    chain
        .code(SETUP)
        .stdout_has(cli)
        .stdout_lacks("resume with");
    speaks_plainly(&chain);
    // With the runbook's profile, which is not configured either: the same, then the profile.
    let default = run(&["preflight", "--yes"]);
    default
        .code(SETUP)
        .stdout_has(cli)
        .stdout_has("The runbook's profile (soc, the runbook's vars.profile)")
        .stdout_lacks("resume with");
    speaks_plainly(&default);
    // At -v the SDK's own detail.
    let verbose = run(&["preflight", "--yes", "--var", "profile=", "-v"]);
    verbose
        .code(SETUP)
        .stderr_has("AWS call failed: ")
        .stderr_has("credentials");
}

#[test]
fn a_missing_profile_is_said_in_the_aws_clis_words() {
    let run = Test::new().embedded().isolated_aws_files().run(&[
        "preflight",
        "--yes",
        "--profile",
        "nosuch",
    ]);
    run.code(SETUP)
        .stdout_has("The config profile (nosuch) could not be found")
        .stdout_lacks("resume with");
    speaks_plainly(&run);
}

#[test]
fn an_unreachable_endpoint_is_said_in_the_aws_clis_words() {
    let port = closed_port();
    let run = Test::new()
        .embedded()
        .env("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .isolated_aws_files()
        .run(&["preflight", "--yes"]);
    run.code(SETUP)
        .stdout_has(&format!(
            "Could not connect to the endpoint URL: \"http://127.0.0.1:{port}/\""
        ))
        .stdout_lacks("resume with");
    speaks_plainly(&run);
}

#[test]
fn an_unreachable_mcp_server_is_one_plain_line_and_its_detail_is_at_v() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let t = Test::new()
        .embedded()
        .env("MCPIFY_URL", &url)
        .isolated_aws_files();
    let run = t.run(&["phase", "5", "--force", "--yes"]);
    run.code(STEP_FAILED).stdout_has(&format!(
        "cannot reach the MCP server {url}: connection refused"
    ));
    speaks_plainly(&run);
    let verbose = t.run(&["phase", "5", "--force", "--yes", "-v"]);
    verbose
        .code(STEP_FAILED)
        .stderr_has(&format!("MCP server {url}: "));
}
