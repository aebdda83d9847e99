//! AWS operations declared once: every accepted input field reaches the API, and the output
//! keys are the API's own member names, compared key by key with boto3's answer (the AWS
//! CLI's library) for the same call on the same emulator.

use std::collections::BTreeMap;

use outpost_migrate::exit_codes::SUCCESS;
use serde_json::{Value, json};

use crate::aws::healthy;
use crate::support::{ACCOUNT, Moto, Runbook, Test};

const INSTANCE: &str = "mi-0bbd8fed3f0650ddb";

/// Every key path of a JSON value (`services[].loadBalancers[].targetGroupArn`), each with
/// whether every value found there is a zero default (`false` or `0`).
fn key_paths(v: &Value, at: &str, out: &mut BTreeMap<String, bool>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let path = format!("{at}.{k}");
                let zero = matches!(v, Value::Bool(false)) || v.as_f64() == Some(0.0);
                *out.entry(path.clone()).or_insert(true) &= zero;
                key_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

fn paths(v: &Value) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    key_paths(v, "", &mut out);
    out
}

/// Our keys boto3 lacks. Members the API always returns with a zero default
/// (`enableExecuteCommand: false`, `IsTruncated: false`) are filled in by the SDK where the
/// emulator leaves them out, so those are not counted; any other key is ours alone.
fn ours_alone<'a>(
    ours: &'a BTreeMap<String, bool>,
    theirs: &BTreeMap<String, bool>,
) -> Vec<&'a String> {
    ours.iter()
        .filter(|(k, zero)| !theirs.contains_key(*k) && !**zero)
        .map(|(k, _)| k)
        .collect()
}

/// One step per call, each capturing its whole output under the step's id.
pub(crate) fn whole_outputs(calls: &[(&str, &str, &str, Value)]) -> String {
    calls
        .iter()
        .map(|(id, service, op, input)| {
            format!(
                "- id: {id}\n  aws:\n    service: {service}\n    operation: {op}\n    input: {input}\n  capture: {{ {id}: \"@\" }}\n"
            )
        })
        .collect()
}

fn service_arn(moto: &Moto) -> String {
    let out = moto.call(
        "ecs",
        "DescribeServices",
        json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"]}),
    );
    out["services"][0]["serviceArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn describe_services_include_reaches_the_api_and_brings_the_tags_back() {
    let moto = healthy();
    let arn = service_arn(&moto);
    moto.call(
        "ecs",
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "team", "value": "outpost"}]}),
    );
    let steps = r#"- id: tagged
  aws:
    service: ecs
    operation: DescribeServices
    input: { cluster: outpost-dev, services: [outpost-control-plane], include: [TAGS] }
  capture: { tags: "services[0].tags", strategy: "services[0].schedulingStrategy" }
- id: untagged
  aws:
    service: ecs
    operation: DescribeServices
    input: { cluster: outpost-dev, services: [outpost-control-plane] }
  expect:
    - query: "services[0].tags || 'none'"
      equals: none
"#;
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, steps))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let captures = &t.step_state("tagged")["captures"];
    assert_eq!(
        captures["tags"],
        json!([{"key": "team", "value": "outpost"}])
    );
    // A member the old hand mapping left out is there too.
    assert_eq!(captures["strategy"], json!("REPLICA"));
}

#[test]
fn ecs_and_ssm_outputs_have_the_apis_member_names_key_by_key() {
    let moto = healthy();
    let arn = service_arn(&moto);
    moto.call(
        "ecs",
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "team", "value": "outpost"}]}),
    );
    let sent = moto.call(
        "ssm",
        "SendCommand",
        json!({"InstanceIds": [INSTANCE], "DocumentName": "AWS-RunShellScript",
               "Parameters": {"commands": ["echo keys"]}, "Comment": "keys"}),
    );
    let command_id = sent["Command"]["CommandId"].as_str().unwrap().to_owned();
    let calls = [
        (
            "services",
            "ecs",
            "DescribeServices",
            json!({"cluster": "outpost-dev", "services": ["outpost-control-plane"], "include": ["TAGS"]}),
        ),
        (
            "clusters",
            "ecs",
            "DescribeClusters",
            json!({"clusters": ["outpost-dev"]}),
        ),
        (
            "commands",
            "ssm",
            "ListCommands",
            json!({"CommandId": command_id}),
        ),
        (
            "invocation",
            "ssm",
            "GetCommandInvocation",
            json!({"CommandId": command_id, "InstanceId": INSTANCE}),
        ),
    ];
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, &whole_outputs(&calls)))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    for (id, service, op, input) in calls {
        let ours = paths(&t.step_state(id)["captures"][id]);
        let theirs = paths(&moto.call(service, op, input));
        let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
        assert!(
            missing.is_empty(),
            "{service} {op}: boto3's keys we lack: {missing:?}"
        );
        let extra = ours_alone(&ours, &theirs);
        assert!(
            extra.is_empty(),
            "{service} {op}: keys boto3 lacks: {extra:?}"
        );
    }
}

#[test]
fn hand_mapped_outputs_use_only_the_apis_member_names() {
    let moto = healthy();
    let calls = [
        ("identity", "sts", "GetCallerIdentity", json!({})),
        (
            "groups",
            "elbv2",
            "DescribeTargetGroups",
            json!({"Names": ["outpost-control-plane"]}),
        ),
        (
            "table",
            "dynamodb",
            "DescribeTable",
            json!({"TableName": "outpost-dispatches"}),
        ),
        (
            "images",
            "ecr",
            "DescribeImages",
            json!({"repositoryName": "outpost-codex"}),
        ),
        ("secrets", "secretsmanager", "ListSecrets", json!({})),
        (
            "secret",
            "secretsmanager",
            "DescribeSecret",
            json!({"SecretId": "/outpost/system/GITHUB_PAT"}),
        ),
        ("alarms", "cloudwatch", "DescribeAlarms", json!({})),
        (
            "metrics",
            "cloudwatch",
            "GetMetricData",
            json!({"StartTime": "2026-01-01T00:00:00Z", "EndTime": "2026-01-01T01:00:00Z",
                   "MetricDataQueries": [{"Id": "cpu", "MetricStat": {"Period": 300,
                   "Stat": "Average", "Metric": {"Namespace": "AWS/ECS",
                   "MetricName": "CPUUtilization"}}}]}),
        ),
        ("balancers", "elbv2", "DescribeLoadBalancers", json!({})),
        (
            "objects",
            "s3",
            "ListObjectsV2",
            json!({"Bucket": format!("outpost-artifacts-{ACCOUNT}")}),
        ),
        (
            "zones",
            "route53",
            "ListHostedZonesByName",
            json!({"DNSName": "outpost.dev"}),
        ),
        (
            "log_events",
            "logs",
            "FilterLogEvents",
            json!({"logGroupName": "/outpost/control-plane"}),
        ),
    ];
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, &whole_outputs(&calls)))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    for (id, service, op, input) in calls {
        let ours = paths(&t.step_state(id)["captures"][id]);
        let theirs = paths(&moto.call(service, op, input));
        let invented = ours_alone(&ours, &theirs);
        assert!(
            invented.is_empty(),
            "{service} {op}: keys boto3 does not have: {invented:?}"
        );
        assert!(!ours.is_empty(), "{service} {op}: no output");
    }
}
