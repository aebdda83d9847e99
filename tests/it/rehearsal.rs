//! The whole migration rehearsed against local real parts (rehearsal/rehearse.py): the AWS
//! emulator, terraform, the control plane stand-in and the MCPify stand-in; and the `mcp` kind.

use crate::support::{Runbook, Server, Test, mcpify_files_before, rehearsal_script};
use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};

/// Runs the rehearsal driver; returns its exit code and everything it printed.
fn rehearse(args: &[&str]) -> (i32, String) {
    rehearsal_script("rehearse.py", args)
}

#[track_caller]
fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
}

/// The number of calls the realistic emulator throttled during a rehearsal (its last report).
fn throttled(out: &str) -> u64 {
    let line = out
        .lines()
        .rfind(|l| l.contains(" calls throttled, "))
        .unwrap_or_else(|| panic!("no emulator report in:\n{out}"));
    line["AWS emulator: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Against the realistic emulator (rehearse.py's default): CloudTrail delivers late, SSM
/// invocations appear after a while, Route53 changes are PENDING first, tasks drain, a share
/// of calls is throttled, pages are small, and a private zone stands beside the public one.
/// The kept directory a `--keep` rehearsal names.
fn kept_dir(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("rehearsal files kept in "))
        .unwrap_or_else(|| panic!("no kept directory in:\n{out}"))
        .trim()
        .to_owned()
}

#[test]
fn the_whole_migration_and_rollback_rehearse_green() {
    let (code, out) = rehearse(&["--keep"]);
    let dir = kept_dir(&out);
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_default();
    let mcpify_after: Vec<(String, String)> = mcpify_files_before()
        .into_iter()
        .map(|(name, _)| (name.clone(), read(&format!("mcpify/{name}"))))
        .collect();
    let mcp_calls = read("mcpify-calls.log");
    let tfstate = read("terraform/terraform.tfstate");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, SUCCESS, "{out}");
    // The end state in the emulator and the files, not only the tool's own lines: rollback 1
    // put MCPify's config, registry and environment back as they were; rollback 3 destroyed
    // the ALB that phase 1 applied and scaled the control plane down.
    assert_eq!(
        mcpify_after,
        mcpify_files_before(),
        "MCPify's files restored"
    );
    let tfstate: serde_json::Value = serde_json::from_str(&tfstate).unwrap();
    assert_eq!(tfstate["resources"], serde_json::json!([]), "{tfstate}");
    has(&out, "ECS after run: outpost-control-plane desiredCount 1");
    has(
        &out,
        "ECS after rollback: outpost-control-plane desiredCount 0",
    );
    // MCPify's call log works (the dry run's test reads the same log): phase 5 called the
    // tools through it.
    for tool in [
        "outpost_dispatch",
        "outpost_cancel",
        "outpost_delete_workspace",
    ] {
        assert!(
            mcp_calls.lines().any(|l| l == tool),
            "MCPify's call log lacks {tool}:\n{mcp_calls}"
        );
    }
    has(&out, "AWS emulator: realistic (MOTO_REALISTIC=1)");
    has(&out, "✔ run succeeded");
    // Throttled calls were retried by the SDK (the emulator counts what it refused).
    assert!(throttled(&out) > 0, "{out}");
    // The tool runs with no region in its environment: the runbook's is used.
    has(&out, "region us-east-1 (from the runbook's vars.region)");
    // Phase 1 on real terraform, phase 3 switching MCPify to HTTP, all 7 tools.
    has(&out, "✔ Apply ALB changes (alb.plan)");
    has(
        &out,
        "✔ Checkpoint: MCPify HTTP provider answers (outpost_health)",
    );
    for tool in [
        "Tool 1",
        "Tool 2",
        "Tool 3: outpost_cancel shows cancelled",
        "Tool 4",
        "Tool 5",
        "Tool 6",
        "Tool 7",
    ] {
        has(&out, &format!("✔ {tool}"));
    }
    has(
        &out,
        "✔ No SSM SendCommand to mi-0bbd8fed3f0650ddb since cutover",
    );
    has(&out, "✔ 2. Poll status until completion: success");
    // Phase 2 moved the public record (a private zone of the same name beside it is untouched).
    has(
        &out,
        "DNS: public api.outpost.dev is an alias to outpost-alb",
    );
    // Rollback level 1 puts MCPify back on SSM, level 2 puts the legacy record back, level 3
    // scales down.
    has(&out, "✔ MCPify answers outpost_health through SSM again");
    has(
        &out,
        "✔ Put back the record api.outpost.dev had before phase 2",
    );
    has(
        &out,
        "DNS: public api.outpost.dev points at the legacy server (203.0.113.10) again",
    );
    has(&out, "✔ outpost-control-plane drained to 0 tasks");
    has(&out, "✔ Review destroy plan: module.alb");
    has(&out, "✔ rollback --level 3 succeeded");
    has(&out, "rehearsal passed");
}

/// The Done-when of issue 10's phase 4: MCPify still sends an SSM command to the legacy
/// instance two seconds after its restart, and CloudTrail delivers it seconds later; the check,
/// run once the settle window is over, finds it and names when and who.
#[test]
fn phase_4_fails_on_an_ssm_command_to_the_legacy_instance_delivered_late() {
    let (code, out) = rehearse(&["--forward-only", "--fault", "ssm-late"]);
    assert_eq!(code, STEP_FAILED, "{out}");
    has(&out, "AWS emulator: realistic (MOTO_REALISTIC=1)");
    has(
        &out,
        "✔ Wait 8s after the cutover for CloudTrail to deliver its e",
    );
    has(
        &out,
        "✘ No SSM SendCommand to mi-0bbd8fed3f0650ddb since cutover",
    );
    has(&out, "\"By\":\"outpost-operator\"");
    // The one event found is MCPify's command after the cutover (not one from before it).
    let cutover: i64 = out
        .lines()
        .find(|l| l.contains("✔ Note the cutover time"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.parse().ok()))
        .unwrap_or_else(|| panic!("no cutover in:\n{out}"));
    let at: jiff::Timestamp = out
        .split("[{\"At\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no event time in:\n{out}"))
        .parse()
        .unwrap();
    assert!(
        at.as_second() >= cutover,
        "{at} is before the cutover {cutover}"
    );
    has(&out, "✘ run failed at step `ssm-no-sendcommand`");
    has(
        &out,
        "hint: Something still sends SSM commands to the legacy instance",
    );
    assert!(!out.contains("Phase 5"), "the run stops at phase 4:\n{out}");
}

#[test]
fn an_alarm_in_alarm_fails_post_verification() {
    let (code, out) = rehearse(&["--forward-only", "--fault", "alarm"]);
    assert_eq!(code, STEP_FAILED, "{out}");
    has(&out, "✘ PoolExhausted: Not triggered");
    has(&out, "not to equal \"ALARM\"");
}

#[test]
fn rollback_1_refuses_to_send_its_ssm_test_command_to_an_offline_agent() {
    let (code, out) = rehearse(&["--fault", "ssm-offline"]);
    assert_eq!(code, STEP_FAILED, "{out}");
    has(&out, "✔ run succeeded");
    has(&out, "✘ SSM agent on mi-0bbd8fed3f0650ddb is Online");
    has(&out, "found \"ConnectionLost\"");
    has(
        &out,
        "hint: The legacy instance's SSM agent is not connected",
    );
    assert!(
        !out.contains("✔ Verify SSM working"),
        "no test command is sent to an offline agent:\n{out}"
    );
}

fn mcpify_config(t: &Test, provider: &str, endpoint: &str) -> String {
    let path = t.path("config.ts");
    std::fs::write(&path, format!("export const outpostConfig = {{\n  provider: '{provider}',\n  endpoint: '{endpoint}',\n  instanceId: 'mi-0bbd8fed3f0650ddb',\n}};\n")).unwrap();
    path.display().to_string()
}

#[test]
fn mcp_steps_call_tools_over_stdio_and_report_tool_errors() {
    let server = Server::start();
    let t = Test::new()
        .env("OUTPOST_API_KEY", "op_test_mcp")
        .env("AWS_REGION", "us-east-1");
    let config = mcpify_config(&t, "http", &server.url);
    let command = format!(
        "python3 {}/rehearsal/mcpify.py --stdio --config {config}",
        env!("CARGO_MANIFEST_DIR")
    );
    let steps = format!(
        "- id: dispatch\n  mcp: {{ command: \"{command}\", tool: outpost_dispatch, arguments: {{ agent: claude, task: hi }} }}\n  capture: {{ id: data.dispatchId }}\n\
         - id: status\n  mcp: {{ command: \"{command}\", tool: outpost_status, arguments: {{ dispatchId: \"{{{{ id }}}}\" }} }}\n  mutates: false\n  expect: [{{ query: data.dispatchId, equals: \"{{{{ id }}}}\" }}]\n"
    );
    let t = t.runbook(Runbook::minimal().phase(1, &steps));
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_has("✔ dispatch")
        .stdout_has("d-1");
    assert_eq!(server.count("POST", "/dispatch"), 1);
    assert_eq!(server.count("GET", "/dispatch/d-1"), 1);
    assert_eq!(
        server.seen()[0].authorization.as_deref(),
        Some("Bearer op_test_mcp")
    );

    // The legacy provider has no artifacts tool: the tool's error fails the step, with its message.
    let legacy = mcpify_config(&t, "ssm", &server.url);
    let command = format!(
        "python3 {}/rehearsal/mcpify.py --stdio --config {legacy}",
        env!("CARGO_MANIFEST_DIR")
    );
    let t = t.runbook(Runbook::minimal().phase(1, &format!("- id: artifacts\n  mcp: {{ command: \"{command}\", tool: outpost_get_artifacts, arguments: {{ dispatchId: x }} }}\n")));
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("tool outpost_get_artifacts answered an error")
        .stdout_has("not available with the SSM provider");
}

#[test]
fn an_unreachable_mcp_server_fails_the_step() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Test::new().runbook(Runbook::minimal().phase(1, &format!("- id: health\n  mcp: {{ url: \"http://127.0.0.1:{closed}/mcp\", tool: outpost_health }}\n")));
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("cannot reach the MCP server");
}

#[test]
fn no_secret_reaches_any_output_of_a_full_rehearsal_at_the_highest_verbosity() {
    // The rehearsal's API key (rehearse.py's API_KEY) is the sentinel.
    let key = "op_test_rehearsal0000000000000000";
    let (code, out) = rehearse(&["--keep", "--", "-vvv", "--output", "junit"]);
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("rehearsal files kept in "))
        .expect("the kept directory")
        .trim()
        .to_owned();
    let mut everything = out.clone();
    for file in ["state/state.json", "state/audit.jsonl"] {
        everything.push_str(&std::fs::read_to_string(format!("{dir}/{file}")).unwrap());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, SUCCESS, "{out}");
    assert!(out.contains("<testsuites"), "a JUnit report");
    assert!(out.contains("TRACE") || out.contains("DEBUG"), "-vvv logs");
    use base64::Engine as _;
    let forms = [
        key.to_string(),
        base64::engine::general_purpose::STANDARD.encode(key),
        base64::engine::general_purpose::STANDARD.encode(format!("Bearer {key}")),
        key.replace('_', "%5F"),
    ];
    for form in forms {
        assert!(!everything.contains(&form), "the API key leaked as {form}");
    }
    assert!(
        everything.contains("***") || !everything.contains("Authorization"),
        "redacted where it appears"
    );
}

/// The AWS operation a recorded emulator request calls, and whether it only reads.
/// The emulator's request log shows read-only checks ran (a DescribeClusters) and that no
/// request changing AWS was sent; the control plane's log shows no POST, DELETE, PUT or PATCH.
pub(crate) fn nothing_was_changed(aws: &str, control_plane: &str) {
    let ops: Vec<(String, bool)> = aws
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e| !control_plane_logging(e))
        .map(|e| aws_operation(&e))
        .collect();
    assert!(
        ops.iter().any(|(op, _)| op == "DescribeClusters"),
        "the emulator's requests were recorded: {ops:?}"
    );
    let changing: Vec<&String> = ops
        .iter()
        .filter(|(_, read)| !read)
        .map(|(op, _)| op)
        .collect();
    assert!(
        changing.is_empty(),
        "requests that change AWS: {changing:?}"
    );
    for verb in ["\"POST ", "\"DELETE ", "\"PUT ", "\"PATCH "] {
        assert!(
            !control_plane.contains(verb),
            "the control plane received {verb}:\n{control_plane}"
        );
    }
}

/// The control plane stand-in writing its own log lines (boto3, CloudWatch Logs): not the
/// run's doing, as a real control plane's logging is not.
fn control_plane_logging(entry: &serde_json::Value) -> bool {
    let by_boto3 = entry["headers"].as_object().is_some_and(|h| {
        h.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("user-agent")
                && v.as_str().is_some_and(|v| v.starts_with("Boto3"))
        })
    });
    let op = aws_operation(entry).0;
    by_boto3 && ["CreateLogGroup", "CreateLogStream", "PutLogEvents"].contains(&op.as_str())
}

pub(crate) fn aws_operation(entry: &serde_json::Value) -> (String, bool) {
    let header = |name: &str| {
        entry["headers"]
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
    };
    let body = match entry["body_encoded"].as_bool() {
        Some(true) => {
            use base64::Engine as _;
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(entry["body"].as_str().unwrap_or_default())
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        _ => entry["body"].as_str().unwrap_or_default().to_owned(),
    };
    let method = entry["method"].as_str().unwrap_or_default();
    let op = header("X-Amz-Target")
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
        .or_else(|| {
            body.split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .map(str::to_owned)
        });
    match op {
        Some(op) => {
            let read = ["Describe", "List", "Get", "Lookup", "Head", "Filter"]
                .iter()
                .any(|p| op.starts_with(p));
            (op, read)
        }
        // REST services (S3, Route53): reads are GET and HEAD.
        None => (
            format!("{method} {}", entry["url"].as_str().unwrap_or_default()),
            method == "GET" || method == "HEAD",
        ),
    }
}

#[test]
fn a_dry_run_of_the_migration_and_of_rollback_3_changes_nothing() {
    let (code, out) = rehearse(&["--dry-run", "--keep"]);
    let dir = kept_dir(&out);
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_default();
    let (aws, control_plane, mcp_calls) = (
        read("aws-requests.jsonl"),
        read("control-plane.log"),
        read("mcpify-calls.log"),
    );
    // rehearse.py copies rehearsal/terraform (without terraform's own files); the dry run's
    // init, plan and show leave that copy as it was.
    let module = crate::dry_run::tree(std::path::Path::new(&format!("{dir}/terraform")));
    let source = crate::dry_run::tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rehearsal/terraform"),
    )
    .into_iter()
    .filter(|(p, _)| {
        let name = p.to_string_lossy();
        !name.contains(".terraform") && !name.contains("tfstate") && !name.ends_with(".plan")
    })
    .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, SUCCESS, "{out}");
    has(&out, "✔ Plan ALB deployment (module.alb)");
    assert_eq!(module, source, "the dry run wrote in the terraform module");
    has(&out, "✔ run (dry run) succeeded");
    // A dry run records no forward run: rollback 3 shows it would be refused, and that its
    // steps have nothing to undo.
    has(
        &out,
        "↷ Scale down outpost-control-plane to 0 tasks                 skipped: phase 1 never ran",
    );
    has(
        &out,
        "a real run would refuse: rollback --level 3 undoes what a forward run did",
    );
    // ...and ends in that refusal rather than a success.
    has(
        &out,
        "✘ rollback --level 3 (dry run) failed: a real run would refuse: rollback --level 3",
    );
    has(
        &out,
        "a real run would be refused, as expected after a dry run",
    );
    nothing_was_changed(&aws, &control_plane);
    assert!(control_plane.contains("\"GET /health"), "health checks ran");
    // The call log is the one a real run writes these tools to (see the green rehearsal).
    for tool in [
        "outpost_dispatch",
        "outpost_cancel",
        "outpost_delete_workspace",
    ] {
        assert!(
            !mcp_calls.lines().any(|l| l == tool),
            "MCPify received {tool} in a dry run"
        );
    }
}
