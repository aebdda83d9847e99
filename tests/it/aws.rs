//! The seed runbook's AWS work against the moto emulator, seeded with the Outpost fleet.

use outpost_migrate::exit_codes::{REFUSED, SETUP, STEP_FAILED, SUCCESS};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Moto, Server, Test};

pub(crate) fn healthy() -> Moto {
    let moto = Moto::start();
    moto.seed(None);
    moto
}

/// The fleet with no record at the custom domain before phase 2: rollback 2 then deletes the
/// alias rather than putting a legacy record back.
pub(crate) fn without_legacy_record() -> Moto {
    let moto = Moto::start();
    moto.seed(Some("no-legacy-record"));
    moto
}

fn outcomes(run: &crate::support::Run) -> Vec<(String, String)> {
    run.json_lines()
        .into_iter()
        .filter(|e| e["event"] == "step_finished")
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn preflight_passes_on_a_healthy_fleet_with_the_seeds_checklist() {
    let moto = healthy();
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(&["preflight", "--yes"]);
    run.code(SUCCESS)
        .stdout_has(&format!("✔ AWS account {ACCOUNT} as arn:aws:"))
        .stdout_has("Infrastructure Requirements")
        .stdout_has("✔ ECS cluster operational (outpost-dev)")
        .stdout_has("ACTIVE")
        .stdout_has("✔ ALB target healthy")
        .stdout_has("ECR Images")
        .stdout_has("✔ outpost-control-plane tagged latest")
        .stdout_has("DynamoDB Tables")
        .stdout_has("✔ outpost-pool ACTIVE")
        .stdout_has("S3 Buckets")
        .stdout_has("Secrets Manager")
        .stdout_has("✔ /outpost/system/GITHUB_PAT");
    let json = t.run(&["preflight", "--yes", "--output", "json"]);
    json.code(SUCCESS);
    let steps = outcomes(&json);
    // 6 infrastructure, 7 images, 3 tables, 1 bucket, 5 secrets, 4 confirmations; 6 of the
    // control plane and the API key, 4 of MCPify and its files, 1 of programs.
    assert_eq!(steps.len(), 37, "{steps:?}");
    // The operator recorded in state and audit log is the caller's ARN.
    let operator = t.state()["operator"].as_str().unwrap().to_owned();
    assert!(
        operator.starts_with(&format!("arn:aws:sts::{ACCOUNT}:"))
            || operator.starts_with(&format!("arn:aws:iam::{ACCOUNT}:")),
        "{operator}"
    );
    assert!(
        t.audit()
            .iter()
            .filter(|r| r["event"] == "step_finished")
            .all(|r| r["operator"] == operator)
    );
}

#[test]
fn each_broken_resource_fails_exactly_its_check() {
    // (what seed_fleet.py breaks, extra emulator env, the check that fails, checks that
    // cannot pass without it)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a [&'a str]);
    let cases: &[Case] = &[
        ("image", &[], "ecr-image-latest.outpost-codex", &[]),
        ("table", &[], "dynamodb-table-active.outpost-pool", &[]),
        ("secret", &[], "platform-secret-present.3", &[]),
        ("secret-no-value", &[], "platform-secret-present.3", &[]),
        ("service-target-group", &[], "alb-targets-healthy", &[]),
        (
            "cluster",
            &[],
            "ecs-cluster-active",
            &[
                "control-plane-running",
                "alb-target-group",
                "alb-target-group-on-alb",
                "alb-targets-healthy",
            ],
        ),
        (
            "",
            &[("MOTO_ECS_SERVICE_RUNNING", "0")],
            "control-plane-running",
            &[],
        ),
        (
            "alb",
            &[],
            "alb-provisioned",
            &["alb-target-group-on-alb", "alb-targets-healthy"],
        ),
    ];
    for (broken, moto_env, failing, also_not_passing) in cases {
        let mut env = vec![("MOTO_ACCOUNT_ID", ACCOUNT)];
        env.extend_from_slice(moto_env);
        if moto_env.is_empty() {
            env.push(("MOTO_ECS_SERVICE_RUNNING", "1"));
        }
        let moto = Moto::start_with(&env);
        moto.seed((!broken.is_empty()).then_some(*broken));
        let t = Test::new().embedded().aws(&moto);
        let run = t.run(&["preflight", "--yes", "--output", "json"]);
        assert_eq!(run.code, STEP_FAILED, "break {broken}: {}", run.stdout);
        for (step, outcome) in outcomes(&run) {
            let expected_bad = step == *failing || also_not_passing.contains(&step.as_str());
            if step == *failing {
                assert_eq!(outcome, "failed", "break {broken}: {step}");
            } else if !expected_bad {
                assert_eq!(outcome, "succeeded", "break {broken}: {step} should pass");
            }
        }
    }
}

#[test]
fn aws_errors_name_the_operation_the_code_and_the_message() {
    let moto = Moto::start();
    moto.seed(Some("table"));
    let run = Test::new()
        .embedded()
        .aws(&moto)
        .run(&["preflight", "--yes"]);
    run.code(STEP_FAILED)
        .stdout_has("✘ outpost-pool ACTIVE")
        .stdout_has("dynamodb DescribeTable failed: ResourceNotFoundException");
}

#[test]
fn a_wrong_account_stops_everything() {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", "999999999999"),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
    ]);
    moto.seed(None);
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(&["preflight", "--yes", "--output", "json"]);
    assert_eq!(run.code, REFUSED, "{}", run.stdout);
    assert!(
        outcomes(&run).is_empty(),
        "no step may run in the wrong account: {:?}",
        outcomes(&run)
    );
    let summary = run.json_lines().pop().unwrap();
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .contains("account 999999999999"),
        "{summary}"
    );
    let human = t.run(&["rollback", "--level", "3", "--yes", "--force"]);
    human
        .code(REFUSED)
        .stdout_has("✘ AWS account 999999999999")
        .stdout_has(&format!("expected {ACCOUNT}"));
    let service = moto.call(
        "ecs",
        "DescribeServices",
        json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
    );
    assert_eq!(
        service["services"][0]["desiredCount"], 1,
        "rollback ran in the wrong account"
    );
}

#[test]
fn unreachable_endpoint_and_missing_credentials_are_setup_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Test::new()
        .embedded()
        .env("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{closed}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .isolated_aws_files();
    t.run(&["preflight", "--yes"])
        .code(SETUP)
        .stdout_has(&format!(
            "Could not connect to the endpoint URL: \"http://127.0.0.1:{closed}/\""
        ));
    let moto = healthy();
    let no_creds = Test::new()
        .embedded()
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .isolated_aws_files();
    no_creds
        .run(&["preflight", "--yes"])
        .code(SETUP)
        .stdout_has("Unable to locate credentials.");
}

/// Route53's records for the public hosted zone, for comparing before and after.
pub(crate) fn records(moto: &Moto) -> Value {
    zone_records(moto, false)
}

/// The records of the `outpost.dev` zone that is private (split-horizon) or public.
pub(crate) fn zone_records(moto: &Moto, private: bool) -> Value {
    let zones = moto.call(
        "route53",
        "ListHostedZonesByName",
        json!({"DNSName": "outpost.dev"}),
    )["HostedZones"]
        .clone();
    let zone = zones
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["Config"]["PrivateZone"] == private)
        .expect("the seed makes both zones")["Id"]
        .clone();
    moto.call(
        "route53",
        "ListResourceRecordSets",
        json!({"HostedZoneId": zone}),
    )["ResourceRecordSets"]
        .clone()
}

/// Pre-flight and phase 1 for real: the emulator, terraform on the rehearsal module, and a
/// local server answering the ALB's health check.
pub(crate) fn through_phase_1(moto: &Moto, server: &Server) -> Test {
    let t = Test::new().embedded().aws(moto);
    let tf = t.terraform_module();
    t.run(&["preflight", "--yes"]).code(SUCCESS);
    t.run(&[
        "phase",
        "1",
        "--yes",
        "--var",
        &format!("terraform_dir={}", tf.display()),
        "--var",
        &format!("alb_endpoint={}", server.url),
    ])
    .code(SUCCESS)
    .stdout_has("✔ Apply ALB changes");
    t
}

#[test]
fn phase_2_then_rollback_2_leave_route53_as_before() {
    // The domain has no record before phase 2: rollback 2 deletes the alias.
    let moto = without_legacy_record();
    let server = Server::start();
    let t = through_phase_1(&moto, &server);
    let before = records(&moto);
    let lb = moto.call(
        "elbv2",
        "DescribeLoadBalancers",
        json!({"Names": ["outpost-alb"]}),
    )["LoadBalancers"][0]
        .clone();

    t.run(&["phase", "2", "--yes", "--var", "verify_public_dns=false"])
        .code(SUCCESS)
        .stdout_has("✔ Route53 change propagated (INSYNC)");
    let after = records(&moto);
    let alias = after
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "api.outpost.dev." && r["Type"] == "A")
        .expect("the alias record exists");
    assert_eq!(
        alias["AliasTarget"]["DNSName"]
            .as_str()
            .unwrap()
            .trim_end_matches('.'),
        lb["DNSName"].as_str().unwrap()
    );
    assert_eq!(
        alias["AliasTarget"]["HostedZoneId"],
        lb["CanonicalHostedZoneId"]
    );

    let run = t.run(&[
        "rollback",
        "--level",
        "2",
        "--yes",
        "--var",
        "verify_public_dns=false",
        "--output",
        "json",
    ]);
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("rollback-ssm-test-command")["outcome"],
        "skipped",
        "level 1 undoes phase 3, which never ran"
    );
    assert_eq!(
        run.step_event("rollback-dns-delete-alias")["outcome"],
        "succeeded"
    );
    assert_eq!(records(&moto), before);
}

#[test]
fn rollback_2_without_phase_2_deletes_nothing() {
    let moto = healthy();
    let before = records(&moto);
    let t = Test::new().embedded().aws(&moto);
    let run = t.run(&[
        "rollback", "--level", "2", "--yes", "--force", "--output", "json",
    ]);
    run.code(SUCCESS);
    // The zone held a record the step would delete: the legacy A record at the domain.
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Name"] == "api.outpost.dev." && r["Type"] == "A"),
        "{before}"
    );
    assert_eq!(records(&moto), before);
    assert!(
        run.step_event("rollback-dns-delete-alias")["message"]
            .as_str()
            .unwrap()
            .contains("`dns-upsert-alias` never succeeded")
    );
}

#[test]
fn rollback_3_scales_the_control_plane_to_zero_with_approval() {
    let moto = healthy();
    let t = Test::new().embedded().aws(&moto);
    crate::failing_checks::record_a_failed_phase_1(&t);
    t.run(&["rollback", "--level", "3"])
        .code(REFUSED)
        .stdout_has("--approve rollback-scale-control-plane");
    let service = || {
        moto.call(
            "ecs",
            "DescribeServices",
            json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
        )["services"][0]
            .clone()
    };
    assert_eq!(service()["desiredCount"], 1);
    // Rollback 3 plans the ALB's destroy in the terraform module before asking.
    let module = format!("terraform_dir={}", t.terraform_module().display());
    let run = t.run(&[
        "rollback",
        "--level",
        "3",
        "--approve",
        "rollback-scale-control-plane",
        "--var",
        &module,
        "--output",
        "json",
    ]);
    // The scale-down ran; the ALB's destroy (phase 1 ran) still waits for its own approval.
    run.code(REFUSED)
        .stdout_has("--approve rollback-terraform-destroy-alb");
    assert_eq!(
        run.step_event("rollback-control-plane-scaled")["outcome"],
        "succeeded"
    );
    assert_eq!(service()["desiredCount"], 0);
}

#[test]
fn dry_runs_of_phase_2_and_rollback_3_change_nothing() {
    let moto = healthy();
    let server = Server::start();
    let t = through_phase_1(&moto, &server);
    let before = records(&moto);
    let run = t.run(&[
        "phase",
        "2",
        "--dry-run",
        "--var",
        "verify_public_dns=false",
        "--output",
        "json",
    ]);
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("dns-hosted-zone")["outcome"],
        "succeeded",
        "read-only steps run in a dry run"
    );
    let upsert = run.step_event("dns-upsert-alias");
    assert_eq!(upsert["outcome"], "would_run");
    assert!(
        upsert["would_run"]
            .as_str()
            .unwrap()
            .contains("\"Action\":\"UPSERT\"")
    );
    assert_eq!(run.step_event("dns-change-insync")["outcome"], "unknown");
    let readback = run.step_event("dns-record-readback");
    assert_eq!(
        readback["outcome"], "unknown",
        "a check of a change the dry run skipped"
    );
    assert!(
        readback["message"]
            .as_str()
            .unwrap()
            .contains("it follows `dns-upsert-alias`")
    );
    assert_eq!(records(&moto), before);

    let tfstate = std::fs::read_to_string(t.path("terraform/terraform.tfstate")).unwrap();
    t.run(&["rollback", "--level", "3", "--dry-run"])
        .code(SUCCESS)
        .stdout_has("○ Scale down outpost-control-plane to 0 tasks");
    let service = moto.call(
        "ecs",
        "DescribeServices",
        json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
    );
    assert_eq!(service["services"][0]["desiredCount"], 1);
    assert_eq!(
        std::fs::read_to_string(t.path("terraform/terraform.tfstate")).unwrap(),
        tfstate,
        "terraform state is untouched"
    );
}

#[test]
fn post_verification_checks_the_four_alarms() {
    let moto = Moto::start();
    moto.seed(Some("alarm"));
    let t = Test::new().embedded().aws(&moto);
    // The control plane is not part of this test: a closed local port keeps its checks off the network.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = t.run(&[
        "verify",
        "--output",
        "json",
        "--var",
        &format!("api_url=http://127.0.0.1:{closed}"),
    ]);
    // Each of the four is checked: the one the seed put in ALARM fails, the three OK pass.
    for (alarm, outcome) in [
        ("HighDispatchFailureRate", "succeeded"),
        ("PoolExhausted", "failed"),
        ("ControlPlaneUnhealthy", "succeeded"),
        ("ALBUnhealthyTargets", "succeeded"),
    ] {
        assert_eq!(
            run.step_event(&format!("cloudwatch-alarm-not-triggered.{alarm}"))["outcome"],
            outcome,
            "{alarm}"
        );
    }
    assert!(
        run.step_event("cloudwatch-alarm-not-triggered.PoolExhausted")["message"]
            .as_str()
            .unwrap()
            .contains("not to equal \"ALARM\"")
    );
}

#[test]
fn the_emulator_down_is_a_setup_error_with_the_state_intact() {
    let moto = healthy();
    let t = Test::new().embedded().aws(&moto);
    t.run(&["preflight", "--yes"]).code(SUCCESS);
    let before = std::fs::read(t.state_dir().join("state.json")).unwrap();
    drop(moto);
    t.run(&["rollback", "--level", "3", "--yes", "--force"])
        .code(SETUP)
        .stdout_has("Could not connect to the endpoint URL: ");
    assert_eq!(
        std::fs::read(t.state_dir().join("state.json")).unwrap(),
        before,
        "the state is untouched"
    );
}

#[test]
fn probes_find_what_an_attempt_made_with_scan_and_list_commands() {
    let moto = healthy();
    for (id, created_at) in [("dsp_old", "1000000000.5"), ("dsp_new", "9999999999.5")] {
        moto.call(
            "dynamodb",
            "PutItem",
            json!({"TableName": "outpost-dispatches", "Item": {
                "id": {"S": id}, "agent": {"S": "claude"}, "task": {"S": "echo hello world"},
                "created_at": {"S": created_at}, "status": {"S": "pending"}}}),
        );
    }
    let steps = r##"- id: since-attempt
  aws:
    service: dynamodb
    operation: Scan
    input:
      TableName: outpost-dispatches
      FilterExpression: "#task = :task AND #created >= :since"
      ExpressionAttributeNames: { "#task": task, "#created": created_at }
      ExpressionAttributeValues:
        ":task": { S: echo hello world }
        ":since": { S: "{{ attempt.started_epoch | string }}" }
  capture: { found: "Items[].id.S", since: "Items[0].created_at" }
- id: send
  aws:
    service: ssm
    operation: SendCommand
    input:
      InstanceIds: [mi-0bbd8fed3f0650ddb]
      DocumentName: AWS-RunShellScript
      Parameters: { commands: [echo probe] }
      Comment: probe test
  capture: { command_id: Command.CommandId }
- id: listed
  aws:
    service: ssm
    operation: ListCommands
    input:
      InstanceId: mi-0bbd8fed3f0650ddb
      Filters: [{ key: InvokedAfter, value: "2000-01-01T00:00:00Z" }, { key: DocumentName, value: AWS-RunShellScript }]
  expect:
    - query: "Commands[?Comment=='probe test'] | [0].CommandId"
      equals: "{{ command_id }}"
- id: not-yet
  aws:
    service: ssm
    operation: ListCommands
    input:
      InstanceId: mi-0bbd8fed3f0650ddb
      Filters: [{ key: InvokedAfter, value: "2999-01-01T00:00:00Z" }]
  expect:
    - query: Commands
      len: 0
"##;
    let t = Test::new()
        .runbook(crate::support::Runbook::minimal().phase(1, steps))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    // `attempt.started_epoch` is now: the item made long ago is left out, the one after is found.
    let captures = &t.step_state("since-attempt")["captures"];
    assert_eq!(captures["found"], json!(["dsp_new"]));
    assert_eq!(captures["since"], json!({"S": "9999999999.5"}));

    // As a `verify:` probe, after a kill (the `failpoints` build).
    #[cfg(feature = "failpoints")]
    a_killed_write_is_found_by_its_probe(&moto);
}

/// A write (a shell step putting an item named after its attempt) killed after its effect and
/// before its checkpoint: the resumed run's Scan from the attempt's start finds the item, and
/// the write is not repeated (a second attempt would add a second item).
#[cfg(feature = "failpoints")]
fn a_killed_write_is_found_by_its_probe(moto: &Moto) {
    let made = r##"- id: make
  shell:
    command: sh make_item.sh
    env: { EPOCH: "{{ attempt.started_epoch | string }}" }
  verify:
    aws:
      service: dynamodb
      operation: Scan
      input:
        TableName: outpost-dispatches
        ConsistentRead: true
        FilterExpression: "#task = :task AND #created >= :since"
        ExpressionAttributeNames: { "#task": task, "#created": created_at }
        ExpressionAttributeValues:
          ":task": { S: made by the probed step }
          ":since": { S: "{{ attempt.started_epoch | string }}" }
    expect: [{ query: Items, len: { gte: 1 } }]
"##;
    let t = Test::new()
        .runbook(crate::support::Runbook::minimal().phase(1, made))
        .aws(moto);
    // The item, with the attempt's start as its name and creation time, put with boto3.
    let script = r#"exec python3 FIXTURES/aws_call.py "$AWS_ENDPOINT_URL" dynamodb PutItem "{\"TableName\": \"outpost-dispatches\", \"Item\": {\"id\": {\"S\": \"dsp_made_$EPOCH\"}, \"task\": {\"S\": \"made by the probed step\"}, \"created_at\": {\"S\": \"$EPOCH\"}}}"
"#
    .replace(
        "FIXTURES",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
    );
    std::fs::write(t.path("make_item.sh"), script).unwrap();
    crate::crash::killed_at(&t, &["phase", "1", "--force"], "step-after-effect", "make");
    assert_eq!(t.step_state("make")["status"], "running");
    // The operator resumes later than the attempt's second: only the attempt's own start
    // time, kept in the state, lets the probe find its item.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = t.run(&["phase", "1", "--force", "--output", "json"]);
    run.code(SUCCESS);
    assert!(
        run.step_event("make")["message"]
            .as_str()
            .unwrap()
            .contains("its probe showed it had done its work"),
        "{}",
        run.stdout
    );
    let items = moto.call(
        "dynamodb",
        "Scan",
        json!({"TableName": "outpost-dispatches", "ConsistentRead": true,
            "FilterExpression": "#task = :task",
            "ExpressionAttributeNames": {"#task": "task"},
            "ExpressionAttributeValues": {":task": {"S": "made by the probed step"}}}),
    )["Items"]
        .clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
}
