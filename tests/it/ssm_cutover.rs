//! Phase 4's SSM check against CloudTrail as AWS delivers it (late), and rollback 1's SSM test
//! command against an agent that may be offline.

use std::time::Duration;

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Moto, Run, Test};

const LEGACY: &str = "mi-0bbd8fed3f0650ddb";

/// An emulator whose CloudTrail shows an event only 2 seconds after the call, one event a
/// page after an empty first page.
fn late_cloudtrail() -> Moto {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ("MOTO_CLOUDTRAIL_DELAY_SECONDS", "2"),
        ("MOTO_CLOUDTRAIL_PAGE_SIZE", "1"),
    ]);
    moto.seed(None);
    moto
}

fn send_command(moto: &Moto, instance: &str) {
    moto.call(
        "ssm",
        "SendCommand",
        json!({"InstanceIds": [instance], "DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["whoami"]}}),
    );
}

/// The saved state, or nothing while it is absent or being replaced.
fn saved_state(t: &Test) -> Option<Value> {
    let text = std::fs::read_to_string(t.state_dir().join("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs phase 4 (settle window 6 s, clock read every second); once the cutover is recorded,
/// `after_cutover` plays what happens next in the account (MCPify or another tool calling SSM).
fn phase_4(t: &Test, restart: &str, after_cutover: impl FnOnce() + Send) -> Run {
    std::fs::write(
        t.path("registry.ts"),
        "registerTool('dispatch', ssmDispatch);\nregisterTool('list_runs', ssmListRuns);\n",
    )
    .unwrap();
    let restart = format!("mcpify_restart={restart}");
    let args = [
        "phase",
        "4",
        "--force",
        "--yes",
        "--var",
        "mcpify_registry=registry.ts",
        "--var",
        &restart,
        "--var",
        "cloudtrail_settle_seconds=6",
        "--var",
        "cloudtrail_poll_seconds=1",
    ];
    std::thread::scope(|scope| {
        let child = t
            .command(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let watcher = scope.spawn(|| {
            loop {
                let cut = saved_state(t)
                    .is_some_and(|s| s["steps"]["ssm-cutover"]["status"] == "succeeded");
                if cut {
                    after_cutover();
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = child.wait_with_output().unwrap();
        assert!(
            watcher.is_finished(),
            "phase 4 ended before its cutover was recorded"
        );
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
}

#[test]
fn phase_4_fails_on_a_sendcommand_to_the_legacy_instance_that_cloudtrail_delivers_late() {
    let moto = late_cloudtrail();
    let t = Test::new().embedded().aws(&moto);
    phase_4(&t, "true", || send_command(&moto, LEGACY))
        .code(STEP_FAILED)
        .stdout_has("✔ Wait 6s after the cutover")
        .stdout_has(&format!("✘ No SSM SendCommand to {LEGACY} since cutover"))
        // When and who.
        .stdout_has("found [{\"At\":\"20")
        .stdout_has("\"By\":\"outpost-operator\"")
        .stdout_has("still use SSM");
}

#[test]
fn a_sendcommand_before_the_cutover_or_to_another_instance_does_not_fail_phase_4() {
    let moto = late_cloudtrail();
    // The old MCPify's last SSM call, during its restart: before the cutover, taken to the
    // second once the restart is over.
    let restart = format!(
        "python3 {}/tests/fixtures/aws_call.py {} ssm SendCommand '{{\"InstanceIds\": [\"{LEGACY}\"], \"DocumentName\": \"AWS-RunShellScript\"}}' && sleep 1",
        env!("CARGO_MANIFEST_DIR"),
        moto.url
    );
    let t = Test::new().embedded().aws(&moto);
    phase_4(&t, &restart, || send_command(&moto, "mi-0123456789abcdef0"))
        .code(SUCCESS)
        .stdout_has(&format!("✔ No SSM SendCommand to {LEGACY} since cutover"));
    // Both commands reached CloudTrail (on the second and third pages): the check let them be.
    for token in ["0", "1"] {
        let page = moto.call(
            "cloudtrail",
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "SendCommand"}], "NextToken": token}),
        );
        assert_eq!(page["Events"].as_array().unwrap().len(), 1, "{page}");
    }
}

#[test]
fn an_ssm_test_command_waits_out_invocation_does_not_exist() {
    let moto = Moto::start_with(&[
        ("MOTO_ACCOUNT_ID", ACCOUNT),
        ("MOTO_SSM_INVOCATION_MISSING_READS", "2"),
    ]);
    // Rollback 1's three SSM steps, polling every second instead of every five.
    let steps = format!(
        r#"- id: online
  aws:
    service: ssm
    operation: DescribeInstanceInformation
    input: {{ Filters: [{{ Key: InstanceIds, Values: [{LEGACY}] }}] }}
  expect: [{{ query: "InstanceInformationList[0].PingStatus", equals: Online }}]
- id: send
  aws:
    service: ssm
    operation: SendCommand
    input:
      InstanceIds: [{LEGACY}]
      DocumentName: AWS-RunShellScript
      Parameters: {{ commands: [echo rollback-test] }}
      TimeoutSeconds: 60
  capture: {{ command_id: Command.CommandId }}
- id: result
  aws:
    service: ssm
    operation: GetCommandInvocation
    input: {{ CommandId: "{{{{ command_id }}}}", InstanceId: {LEGACY} }}
  retry:
    attempts: 10
    interval: 1s
    until: [{{ query: Status, matches: "^(Success|Failed|Cancelled|TimedOut)$" }}]
  expect: [{{ query: Status, equals: Success }}]
"#
    );
    let t = Test::new()
        .runbook(crate::support::Runbook::minimal().phase(1, &steps))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let result = t.step_state("result");
    assert_eq!(result["status"], "succeeded");
    assert!(
        result["attempts"].as_u64().unwrap() >= 3,
        "the first two reads met InvocationDoesNotExist, the third found it: {result}"
    );
    let sent = moto.call(
        "ssm",
        "ListCommands",
        json!({"CommandId": t.step_state("send")["captures"]["command_id"]}),
    );
    assert_eq!(sent["Commands"][0]["TimeoutSeconds"], 60, "{sent}");
}
