//! `plan` as a preview: `when` evaluated where its inputs are known, a diff per file edit, a
//! header naming account, region, profile and state, what is left to do, and the refusal a
//! real run would meet; a dry run a real run would refuse ends in that refusal.

use serde_json::Value;

use crate::support::{Run, Runbook, Test};
use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS};

/// Phase 2: a read that captures `zone`, a change under a var's condition, and one under a
/// condition on `zone`.
fn conditional() -> Runbook {
    Runbook::minimal()
        .vars("  domain: api.outpost.dev\n")
        .phase(
            2,
            r#"- id: find-zone
  title: Find the hosted zone
  shell: { command: printf Z123 }
  mutates: false
  capture: { zone: stdout }
- id: dns-change
  title: Point the domain at the ALB
  when: domain != ''
  shell: { command: "true" }
- id: use-zone
  title: Tag the zone
  when: zone != ''
  shell: { command: "true" }
"#,
        )
}

/// Stdout with the test's directory replaced, for snapshots.
fn text(t: &Test, run: &Run) -> String {
    run.stdout
        .replace(&t.dir.path().display().to_string(), "[DIR]")
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn step<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["units"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["steps"].as_array().unwrap())
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

#[test]
fn when_is_evaluated_where_its_inputs_are_known_and_an_empty_domain_hides_the_dns_change() {
    let t = Test::new().runbook(conditional());
    let run = t.run(&["plan", "phase", "2", "--var", "domain="]);
    run.code(SUCCESS);
    insta::assert_snapshot!(text(&t, &run));

    let plan = json(&t.run(&["plan", "phase", "2", "--var", "domain=", "--output", "json"]));
    assert_eq!(step(&plan, "dns-change")["when_result"]["result"], "false");
    assert_eq!(step(&plan, "dns-change")["to_run"], false);
    assert_eq!(step(&plan, "use-zone")["when_result"]["result"], "unknown");
    assert_eq!(step(&plan, "use-zone")["when_result"]["until"], "find-zone");
    assert_eq!(plan["summary"], "1 change, 1 check, 0 questions");

    // With the domain set, the change is on; once `find-zone` has run, `zone` is known.
    t.run(&["plan", "phase", "2"])
        .code(SUCCESS)
        .stdout_has("change dns-change  Point the domain at the ALB  [after a crash: you decide (--retry-in-doubt / --mark-done), when domain != '': true]");
    t.run(&["phase", "2", "--force"]).code(SUCCESS);
    let t2 = t.run(&["plan", "phase", "2", "--output", "json"]);
    let plan = json(&t2);
    assert_eq!(step(&plan, "use-zone")["when_result"]["result"], "true");
    assert_eq!(plan["summary"], "nothing left to do");
}

#[test]
fn a_condition_on_a_capture_its_skipped_maker_never_makes_is_evaluated() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  domain: api.outpost.dev\n")
            .phase(
                2,
                r#"- id: upsert
  when: domain != ''
  shell: { command: printf C1 }
  capture: { change_id: stdout }
- id: wait-insync
  when: change_id is defined
  shell: { command: "true" }
  mutates: false
"#,
            ),
    );
    let plan = json(&t.run(&["plan", "phase", "2", "--output", "json"]));
    assert_eq!(step(&plan, "wait-insync")["when_result"]["until"], "upsert");
    let plan = json(&t.run(&["plan", "phase", "2", "--var", "domain=", "--output", "json"]));
    assert_eq!(step(&plan, "wait-insync")["when_result"]["result"], "false");
    assert_eq!(plan["summary"], "nothing left to do");
}

#[test]
fn a_file_edit_shows_its_diff_and_a_missing_file_says_so() {
    let t = Test::new();
    let config = t.path("config.ts");
    let before = "export const config = {\n  provider: 'ssm',\n  timeout: 30,\n};\n";
    std::fs::write(&config, before).unwrap();
    let t = t.runbook(Runbook::minimal().phase(
        3,
        r#"- id: switch-provider
  title: Switch the provider to HTTP
  file:
    path: config.ts
    edits:
      - { replace: "provider: 'ssm'", with: "provider: 'http'" }
      - { ensure_line: "// migrated" }
- id: edit-env
  title: Point the environment at the API
  file:
    path: mcpify.env
    edits:
      - { ensure_line: "OUTPOST_PROVIDER=http" }
"#,
    ));
    let run = t.run(&["plan", "phase", "3"]);
    run.code(SUCCESS);
    insta::assert_snapshot!(text(&t, &run));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "plan wrote"
    );
    assert!(!t.path("mcpify.env").exists(), "plan created the file");

    let plan = json(&t.run(&["plan", "phase", "3", "--output", "json"]));
    let diff = step(&plan, "switch-provider")["preview"]["diff"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        diff.contains("-  provider: 'ssm',\n+  provider: 'http',"),
        "{diff}"
    );
    assert!(diff.contains("+// migrated"), "{diff}");
    assert!(
        step(&plan, "edit-env")["preview"]["problem"]
            .as_str()
            .unwrap()
            .contains("mcpify.env does not exist: a real run fails here")
    );
}

#[test]
fn the_header_names_account_region_profile_and_state() {
    let t = Test::new()
        .embedded()
        .isolated_aws_files()
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret-key-of-the-test");
    let run = t.run(&["plan", "preflight"]);
    run.code(SUCCESS);
    let header: Vec<&str> = run.stdout.lines().take(5).collect();
    let header = header
        .join("\n")
        .replace(&t.dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(header);

    std::fs::write(t.path("aws-config"), "[profile ops]\nregion = eu-west-1\n").unwrap();
    t.run(&[
        "plan",
        "preflight",
        "--profile",
        "ops",
        "--region",
        "eu-west-1",
    ])
    .code(SUCCESS)
    .stdout_has("AWS region   eu-west-1 (from --region)")
    .stdout_has("AWS profile  ops");
    // The environment's region contradicts the runbook's: a real run would be refused.
    let plan = t
        .command(&["plan", "preflight"])
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(SUCCESS), "{stdout}");
    assert!(
        stdout.contains("✘ a real run would be refused (exit code 4): the runbook runs in us-east-1 (the runbook's vars.region), but AWS_REGION says eu-west-1"),
        "{stdout}"
    );
}

#[test]
fn counts_say_what_is_left_and_nothing_after_a_complete_run() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: ask\n  confirm: The maintenance window has started\n- id: apply\n  approval: true\n  shell: { command: touch applied }\n",
    ));
    t.run(&["plan", "run"]).code(SUCCESS).stdout_has(
        "1 change, 6 checks, 2 questions  (8 steps: 0 done, 0 skipped by their condition)",
    );
    // --yes answers both; --approve only the approval.
    t.run(&["plan", "run", "--yes"])
        .stdout_has("1 change, 6 checks, 0 questions");
    t.run(&["plan", "run", "--approve", "apply"])
        .stdout_has("1 change, 6 checks, 1 question");
    t.run(&["run", "--yes"]).code(SUCCESS);
    t.run(&["plan", "run"])
        .code(SUCCESS)
        .stdout_has("nothing left to do  (8 steps: 8 done, 0 skipped by their condition)")
        .stdout_lacks("would be refused");
}

#[test]
fn a_plan_says_when_a_real_run_would_be_refused_and_why() {
    // Phase 3 before phase 2 is recorded.
    let t = Test::new();
    t.run(&["preflight"]).code(SUCCESS);
    t.run(&["phase", "1"]).code(SUCCESS);
    let plan = json(&t.run(&["plan", "phase", "3", "--output", "json"]));
    assert_eq!(plan["would_refuse"]["exit_code"], REFUSED);
    let why = plan["would_refuse"]["message"].as_str().unwrap();
    assert!(
        why.starts_with(
            "phase 3 needs phase 2 to have succeeded first, but step `p2-noop` has not"
        ),
        "{why}"
    );
    t.run(&["plan", "phase", "2"])
        .stdout_lacks("would be refused");

    // A step in doubt.
    let t = crate::resume::a_step_left_running();
    t.run(&["plan", "run"]).code(SUCCESS).stdout_has(
        "✘ a real run would be refused (exit code 4): step `apply` was interrupted while running",
    );

    // A changed step.
    let mut t = Test::new()
        .runbook(Runbook::minimal().phase(1, "- id: greet\n  shell: { command: echo hello }\n"));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    t.rewrite(Runbook::minimal().phase(1, "- id: greet\n  shell: { command: echo hi }\n"));
    t.run(&["plan"])
        .code(SUCCESS)
        .stdout_has("✘ a real run would be refused (exit code 4): the runbook changed for step that already succeeded: `greet`");
}

#[test]
fn a_dry_run_a_real_run_would_refuse_ends_in_the_refusal() {
    let t = Test::new()
        .runbook(Runbook::minimal().phase(3, "- id: apply\n  shell: { command: touch applied }\n"));
    let run = t.run(&["phase", "3", "--dry-run"]);
    run.code(REFUSED)
        .stdout_has("○ apply")
        .stdout_has("✘ phase 3 (dry run) failed: a real run would refuse: phase 3 needs pre-flight to have succeeded first")
        .stdout_lacks("succeeded:");
    assert!(!t.path("applied").exists());
    let json = t.run(&["phase", "3", "--dry-run", "--output", "json"]);
    json.code(REFUSED);
    let summary = json.json_lines().pop().unwrap();
    assert_eq!(summary["exit_code"], REFUSED);
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .starts_with("a real run would refuse: phase 3 needs")
    );
    // A failed check comes first: the dry run fails as a real run would, on the check.
    let t = Test::new().runbook(Runbook::minimal().phase(
        3,
        "- id: check\n  shell: { command: \"false\" }\n  mutates: false\n",
    ));
    t.run(&["phase", "3", "--dry-run"]).code(STEP_FAILED);
    // Nothing to refuse: a dry run succeeds.
    Test::new()
        .run(&["phase", "3", "--dry-run", "--force"])
        .code(SUCCESS)
        .stdout_has("✔ phase 3 (dry run) succeeded");
}

#[test]
fn plan_junit_is_a_report_with_the_header_the_counts_and_the_refusal() {
    let t = Test::new().runbook(conditional());
    let run = t.run(&["plan", "phase", "2", "--output", "junit"]);
    run.code(SUCCESS);
    let doc =
        roxmltree::Document::parse(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    let property = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .map(str::to_owned)
    };
    assert_eq!(
        property("summary").as_deref(),
        Some("2 changes, 1 check, 0 questions")
    );
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("the refusal is a failure");
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .starts_with("phase 2 needs pre-flight")
    );
    assert!(
        doc.descendants()
            .any(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("dns-change"))
    );
}
