//! The GitHub Actions workflow in `examples/` parses as YAML, keeps the gate's order (validate,
//! a dry run with a JUnit report, `plan --out`, an approved apply of that plan) on the S3
//! state, and every `outpost-migrate` command in it is one the binary accepts whole: each is
//! resolved by the binary's own parser and settings with `--show-settings`, which runs nothing.

use std::process::Command;

use serde_json::Value;

use crate::support::BIN;

const WORKFLOW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/github-actions.yml");

/// What a workflow expression stands for when a command is checked.
fn expression(expr: &str) -> &'static str {
    match expr {
        "inputs.phase" => "3",
        other => {
            panic!("the workflow uses `${{{{ {other} }}}}`, which this test cannot stand in for")
        }
    }
}

/// `${{ expr }}` replaced by its stand-in.
fn expand(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").expect("an unclosed expression") + start;
        out.push_str(&rest[..start]);
        out.push_str(expression(rest[start + 3..end].trim()));
        rest = &rest[end + 2..];
    }
    out + rest
}

/// Every `outpost-migrate` invocation of a `run:` script, as words, up to a redirection.
fn invocations(script: &str) -> Vec<Vec<String>> {
    script
        .replace("\\\n", " ")
        .lines()
        .filter_map(|line| {
            let words = shlex::split(&expand(line.trim())).expect("a shell line");
            (words.first().map(String::as_str) == Some("outpost-migrate")).then(|| {
                words
                    .into_iter()
                    .skip(1)
                    .take_while(|w| !matches!(w.as_str(), ">" | "|" | "&&" | "||" | ";"))
                    .collect()
            })
        })
        .collect()
}

/// The settings the binary resolves from `args` (exit 0, nothing run), as JSON.
fn resolved(args: &[String]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .arg("--show-settings")
        .env_remove("OUTPOST_MIGRATE_RUNBOOK")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`outpost-migrate {}` is not a valid invocation:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_example_workflow_gates_the_apply_on_the_reviewed_plan_with_valid_commands() {
    let text = std::fs::read_to_string(WORKFLOW).unwrap();
    let workflow: Value = serde_saphyr::from_str(&text).expect("the workflow is valid YAML");
    let state = workflow["env"]["OUTPOST_MIGRATE_STATE"].as_str().unwrap();
    assert!(
        state.starts_with("s3://"),
        "the state is shared on S3: {state}"
    );
    let apply = &workflow["jobs"]["apply"];
    assert_eq!(apply["needs"], "plan", "the apply waits for the plan");
    assert!(
        apply["environment"].is_string(),
        "the apply waits for an approval"
    );

    let mut actions = Vec::new();
    for job in ["plan", "apply"] {
        for step in workflow["jobs"][job]["steps"].as_array().unwrap() {
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            for args in invocations(script) {
                let settings = resolved(&args);
                actions.push((
                    job,
                    settings["action"].clone(),
                    settings["output"].clone(),
                    settings["dry_run"].clone(),
                ));
            }
        }
    }
    let commands: Vec<String> = actions
        .iter()
        .map(|(job, action, ..)| format!("{job}: {action}"))
        .collect();
    // In order: validate, the dry run with a JUnit report, the saved plan, its apply.
    assert_eq!(actions.len(), 4, "{commands:#?}");
    assert_eq!(actions[0].1["command"], "validate", "{commands:#?}");
    let (_, dry_run, output, dry) = &actions[1];
    assert_eq!(
        (dry_run["command"].as_str(), dry_run["target"].as_str()),
        (Some("execute"), Some("phase 3"))
    );
    assert_eq!(
        (output.as_str(), dry.as_bool()),
        (Some("junit"), Some(true))
    );
    let (job, plan, ..) = &actions[2];
    assert_eq!(
        (*job, plan["command"].as_str(), plan["target"].as_str()),
        ("plan", Some("plan"), Some("phase 3"))
    );
    let (job, applied, _, dry) = &actions[3];
    assert_eq!(
        (
            *job,
            applied["command"].as_str(),
            applied["target"].as_str()
        ),
        ("apply", Some("execute"), Some("phase 3"))
    );
    assert_eq!(dry.as_bool(), Some(false));
    assert_eq!(
        applied["plan"], plan["out"],
        "the apply runs the plan the plan job wrote"
    );
}

#[test]
fn a_command_the_binary_does_not_accept_is_caught() {
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let bad = Command::new(BIN)
        .args(words("phase 3 --plan"))
        .arg("--show-settings")
        .output()
        .unwrap();
    assert!(!bad.status.success(), "a flag without its value is refused");
    assert_eq!(
        invocations("outpost-migrate plan phase ${{ inputs.phase }} --out plan.json > x\necho hi"),
        [words("plan phase 3 --out plan.json")]
    );
}
