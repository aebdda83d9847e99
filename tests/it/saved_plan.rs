//! Saved plans: `plan TARGET --out FILE` writes the reviewed artifact, and `--plan FILE`
//! runs it only while the runbook, vars, state, account, region and command still match it;
//! a plan edited by hand, or a file that is not a plan, runs nothing.

use std::os::unix::fs::PermissionsExt;

use outpost_migrate::exit_codes::{REFUSED, SETUP, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::Value;

use crate::support::{ACCOUNT, Moto, Runbook, Test};

/// A secret the environment holds (redacted as the known secret variable it is).
const API_KEY: &str = "op_live_SavedPlanKey_0123456789";
/// A secret only the `http` kind knows to be one (an Authorization header).
const DEPLOY_TOKEN: &str = "dpl_SavedPlanToken_9876543210";

/// Phase 1 asks AWS who it is, then appends a line to `ran.txt`: what ran is read there.
fn runbook(mark: &str) -> Runbook {
    Runbook::minimal()
        .vars("  region: us-east-1\n  greeting: hello\n")
        .phase(
            1,
            &format!(
                r#"- id: who
  aws: {{ service: sts, operation: GetCallerIdentity }}
- id: mark
  shell:
    command: 'echo "{mark} $GREETING" >> ran.txt'
    env: {{ GREETING: "{{{{ greeting }}}}", API_KEY: "{{{{ env.OUTPOST_API_KEY }}}}" }}
- id: notify
  http:
    method: POST
    url: "{{{{ env.HOOK_URL }}}}/hook"
    headers: {{ Authorization: "Bearer {{{{ env.DEPLOY_TOKEN }}}}" }}
    json: {{ said: "{{{{ greeting }}}}" }}
  when: "env.HOOK_URL | default('') != ''"
"#
            ),
        )
}

fn test(moto: &Moto) -> Test {
    Test::new()
        .runbook(runbook("first"))
        .aws(moto)
        .env("OUTPOST_API_KEY", API_KEY)
        .env("DEPLOY_TOKEN", DEPLOY_TOKEN)
}

fn moto(account: &str) -> Moto {
    Moto::start_with(&[("MOTO_ACCOUNT_ID", account)])
}

fn ran(t: &Test) -> String {
    std::fs::read_to_string(t.path("ran.txt")).unwrap_or_default()
}

fn serial(t: &Test) -> Value {
    t.state()["serial"].clone()
}

/// Pre-flight done, then `plan phase 1 --out plan.json`: the test's starting point.
fn planned(t: &Test) {
    t.run(&["preflight"]).code(SUCCESS);
    t.run(&["plan", "phase", "1", "--out", "plan.json"])
        .code(SUCCESS)
        .stdout_has("Saved plan written to plan.json; after review, apply it with `outpost-migrate phase 1 --plan plan.json`");
}

/// Applies the plan expecting a refusal naming each of `drifts`, with nothing run and the
/// state untouched.
#[track_caller]
fn refused(t: &Test, extra: &[&str], drifts: &[&str]) {
    let (before, ran_before) = (serial(t), ran(t));
    let mut args = vec!["phase", "1", "--plan", "plan.json", "--yes"];
    args.extend_from_slice(extra);
    let run = t.run(&args);
    run.code(REFUSED)
        .stderr_has("the saved plan plan.json no longer matches, so nothing was run");
    for drift in drifts {
        run.stderr_has(drift);
    }
    assert_eq!(
        ran(t),
        ran_before,
        "nothing may run on a plan that no longer holds"
    );
    assert_eq!(serial(t), before, "the state is untouched");
}

fn plan_file(t: &Test) -> Value {
    serde_json::from_str(&std::fs::read_to_string(t.path("plan.json")).unwrap()).unwrap()
}

#[test]
fn a_saved_plan_applies_while_nothing_changed_and_only_once() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    let plan = plan_file(&t);
    assert_eq!(plan["format"], "outpost-migrate-plan");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["target"], "phase 1");
    assert_eq!(plan["account"], ACCOUNT);
    assert_eq!(plan["region"], "us-east-1");
    assert_eq!(plan["state_serial"], serial(&t));
    assert_eq!(plan["vars"]["greeting"], "hello");
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["who", "mark", "notify"]);
    assert_eq!(plan["steps"][1]["inputs"]["env"]["GREETING"], "hello");
    assert_eq!(plan["runbook_hash"].as_str().unwrap().len(), 64);

    // The machine output names the file; making the plan again changes nothing it holds.
    let again = t.run(&[
        "plan",
        "phase",
        "1",
        "--out",
        "plan.json",
        "--output",
        "json",
    ]);
    again.code(SUCCESS);
    assert_eq!(again.json_lines().pop().unwrap()["saved_to"], "plan.json");
    let mut remade = plan_file(&t);
    remade["created"] = plan["created"].clone();
    assert_eq!(remade, plan);

    t.run(&["phase", "1", "--plan", "plan.json", "--yes"])
        .code(SUCCESS);
    assert_eq!(ran(&t), "first hello\n");
    // The run moved the state on: the same plan is stale now.
    refused(&t, &[], &["state serial: plan "]);
}

#[test]
fn a_plan_is_refused_when_the_runbook_changed_naming_the_step() {
    let moto = moto(ACCOUNT);
    let mut t = test(&moto);
    planned(&t);
    t.rewrite(runbook("edited"));
    refused(&t, &[], &["runbook hash: plan ", "step `mark` hash: plan "]);
}

#[test]
fn a_plan_is_refused_when_a_var_changed() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    refused(
        &t,
        &["--var", "greeting=bye"],
        &["var `greeting`: plan \"hello\", now \"bye\""],
    );
}

#[test]
fn the_refusal_names_every_drift_with_the_plans_value_then_todays() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    let run = t.run(&[
        "phase",
        "1",
        "--plan",
        "plan.json",
        "--yes",
        "--var",
        "greeting=bye",
        "--region",
        "eu-west-1",
        "--force",
    ]);
    run.code(REFUSED);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap();
    insta::assert_snapshot!(error.replace("; ", ";\n"));
    assert_eq!(ran(&t), "");
}

#[test]
fn a_plan_is_refused_when_the_run_overrides_a_guard_the_plan_did_not() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    refused(&t, &["--force"], &["overrides: plan none, now --force"]);
    refused(
        &t,
        &["--mark-done", "mark"],
        &["overrides: plan none, now --mark-done mark"],
    );
}

#[test]
fn a_plan_is_refused_when_another_run_advanced_the_state() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    let planned_serial = serial(&t);
    // Another operator runs the verification meanwhile.
    t.run(&["verify"]).code(SUCCESS);
    let now = serial(&t);
    assert_ne!(now, planned_serial);
    refused(
        &t,
        &[],
        &[&format!("state serial: plan {planned_serial}, now {now}")],
    );
}

#[test]
fn a_plan_is_refused_in_another_region_or_account() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    refused(
        &t,
        &["--region", "eu-west-1"],
        &["region: plan us-east-1, now eu-west-1"],
    );
    // Other credentials, whose endpoint is another account. The runbook names no account,
    // so only the plan stands between this run and that account.
    let other = self::moto("999999999999");
    let t = t.env("AWS_ENDPOINT_URL", &other.url);
    refused(
        &t,
        &[],
        &[&format!("account: plan {ACCOUNT}, now 999999999999")],
    );
}

#[test]
fn a_plan_for_another_command_is_refused() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    let run = t.run(&["phase", "2", "--plan", "plan.json", "--yes", "--force"]);
    run.code(REFUSED)
        .stderr_has("target: plan phase 1, now phase 2");
    assert_eq!(ran(&t), "");
    t.run(&["plan", "--out", "all.json"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("--out all.json: a saved plan is for one command");
    assert!(!t.path("all.json").exists());
}

#[test]
fn every_command_that_runs_steps_takes_the_plan_made_for_it() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    for (plan, command) in [
        ("preflight", "preflight"),
        ("phase 1", "phase 1"),
        ("verify", "verify"),
        ("rollback 1", "rollback --level 1"),
        ("run", "run"),
    ] {
        let mut args = vec!["plan"];
        args.extend(plan.split(' '));
        args.extend(["--out", "plan.json"]);
        t.run(&args).code(SUCCESS);
        let mut args: Vec<&str> = command.split(' ').collect();
        args.extend(["--plan", "plan.json", "--yes"]);
        t.run(&args).code(SUCCESS);
    }
    assert_eq!(ran(&t), "first hello\n", "phase 1 ran once, under its plan");
    // A plan for one command is not another's, whatever the file is called.
    t.run(&["plan", "preflight", "--out", "plan.json"])
        .code(SUCCESS);
    t.run(&["verify", "--plan", "plan.json"])
        .code(REFUSED)
        .stderr_has("target: plan preflight, now verify");
}

#[test]
fn a_plan_edited_by_hand_runs_nothing() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    let original = std::fs::read_to_string(t.path("plan.json")).unwrap();
    // The reviewed command replaced by another one: the runbook's steps are what would run,
    // and the plan no longer says what they are.
    let mut plan = plan_file(&t);
    plan["steps"][1]["inputs"]["command"] = "echo pwned >> ran.txt".into();
    std::fs::write(t.path("plan.json"), plan.to_string()).unwrap();
    refused(
        &t,
        &[],
        &[
            "step `mark` input `command`: plan \"echo pwned >> ran.txt\", now \"echo \\\"first $GREETING\\\" >> ran.txt\"",
        ],
    );
    // A step dropped from the plan, so that a review would not see it.
    let mut plan: Value = serde_json::from_str(&original).unwrap();
    plan["steps"].as_array_mut().unwrap().remove(1);
    std::fs::write(t.path("plan.json"), plan.to_string()).unwrap();
    refused(
        &t,
        &[],
        &["step `mark`: in the runbook now, not in the plan"],
    );
}

#[test]
fn a_file_that_is_not_a_plan_is_a_usage_error_naming_it() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    planned(&t);
    let mut newer = plan_file(&t);
    newer["version"] = 2.into();
    let cases = [
        ("missing.json", None, "--plan missing.json: cannot read it"),
        (
            "garbage.json",
            Some("{ not json".to_owned()),
            "--plan garbage.json: not a saved plan: not JSON",
        ),
        (
            "other.json",
            Some("{\"steps\": []}".to_owned()),
            "--plan other.json: not a saved plan (no `\"format\": \"outpost-migrate-plan\"`)",
        ),
        (
            "newer.json",
            Some(newer.to_string()),
            "--plan newer.json: saved plan format version 2, but this outpost-migrate reads version 1",
        ),
    ];
    // Runaway input: refused without being read whole.
    let huge = std::fs::File::create(t.path("huge.json")).unwrap();
    huge.set_len((64 << 20) + 1).unwrap();
    t.run(&["phase", "1", "--plan", "huge.json", "--yes"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("--plan huge.json: larger than 64 MiB");
    for (name, content, said) in cases {
        if let Some(content) = content {
            std::fs::write(t.path(name), content).unwrap();
        }
        t.run(&["phase", "1", "--plan", name, "--yes"])
            .code(USAGE_OR_RUNBOOK)
            .stderr_has(said);
    }
    assert_eq!(ran(&t), "");
}

#[test]
fn the_plan_file_holds_no_secret_and_only_its_owner_reads_it() {
    let moto = moto(ACCOUNT);
    let t = test(&moto).env("HOOK_URL", "http://127.0.0.1:9");
    // A file already there, readable by all, is replaced whole by a private one.
    std::fs::write(t.path("plan.json"), "old").unwrap();
    std::fs::set_permissions(t.path("plan.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
    planned(&t);
    let text = std::fs::read_to_string(t.path("plan.json")).unwrap();
    assert!(!text.contains(API_KEY), "the API key leaked:\n{text}");
    assert!(
        !text.contains(DEPLOY_TOKEN),
        "the deploy token leaked:\n{text}"
    );
    let plan = plan_file(&t);
    assert_eq!(plan["steps"][1]["inputs"]["env"]["API_KEY"], "***");
    assert_eq!(
        plan["steps"][2]["inputs"]["headers"]["Authorization"],
        "***"
    );
    let mode = std::fs::metadata(t.path("plan.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_plan_is_written_whole_or_not_at_all() {
    let moto = moto(ACCOUNT);
    let t = test(&moto);
    t.run(&["plan", "phase", "1", "--out", "no-such-dir/plan.json"])
        .code(SETUP)
        .stderr_has("cannot write the plan to no-such-dir/plan.json");
    // Credentials of another account than the runbook's: no plan is written for them.
    let t = Test::new()
        .runbook(
            runbook("first").file(
                "runbook.yaml",
                &Runbook::minimal()
                    .vars("  region: us-east-1\n  greeting: hello\n")
                    .files["runbook.yaml"]
                    .replace(
                        "name: test-runbook\n",
                        "name: test-runbook\naccount: \"999999999999\"\n",
                    ),
            ),
        )
        .aws(&moto);
    t.run(&["plan", "phase", "1", "--out", "plan.json"])
        .code(REFUSED)
        .stderr_has(&format!(
            "the AWS credentials are for account {ACCOUNT}, but this runbook runs against account 999999999999; no plan was written"
        ));
    assert!(!t.path("plan.json").exists());
}

#[test]
fn the_shipped_runbook_plans_the_same_twice_for_every_command_without_its_secret() {
    let moto = Moto::start();
    moto.seed(None);
    let t = Test::new().embedded().aws(&moto);
    for target in [
        "preflight",
        "phase 1",
        "phase 2",
        "phase 3",
        "phase 4",
        "phase 5",
        "verify",
        "rollback 1",
        "rollback 2",
        "rollback 3",
        "run",
    ] {
        let made = |file: &str| {
            let mut args: Vec<&str> = vec!["plan"];
            args.extend(target.split(' '));
            args.extend(["--out", file]);
            t.run(&args).code(SUCCESS);
            let text = std::fs::read_to_string(t.path(file)).unwrap();
            assert!(
                !text.contains("op_test_embedded_world"),
                "{target}: the API key leaked"
            );
            let mut plan: Value = serde_json::from_str(&text).unwrap();
            plan["created"] = Value::Null;
            plan
        };
        let first = made("first.json");
        let steps = first["steps"].as_array().unwrap();
        assert!(!steps.is_empty(), "{target}");
        // Who the credentials are is asked where the command calls AWS (phase 3 does not).
        if steps.iter().any(|s| s["kind"] == "aws") {
            assert_eq!(first["account"], ACCOUNT, "{target}");
        }
        assert_eq!(
            made("second.json"),
            first,
            "{target}: a plan is not the same made twice"
        );
    }
}
