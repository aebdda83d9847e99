//! The hand-mapped AWS operations (every service but ECS and SSM, whose output comes from the
//! SDK's shape schemas) against the AWS CLI: each operation runs through the tool, its whole
//! output captured, and through `aws <service> <operation> --output json` with the same input
//! on the same emulator, and every key and value the CLI prints must be in the tool's output.

use std::collections::BTreeSet;
use std::process::Command;

use outpost_migrate::exit_codes::SUCCESS;
use serde_json::{Value, json};

use crate::aws_operations::whole_outputs;
use crate::support::{ACCOUNT, Moto, Runbook, Test};

const INSTANCE: &str = "mi-0bbd8fed3f0650ddb";
const DOMAIN: &str = "api.outpost.dev.";
const LEGACY_IP: &str = "203.0.113.10";
const LOG_GROUP: &str = "/outpost/control-plane";

/// The services whose output is the SDK's own serializer (`shape::json`), compared in
/// `aws_operations.rs`; every other supported operation is mapped by hand and has a case here.
const SCHEMA_SERVICES: &[&str] = &["ecs", "ssm"];

/// How an output path listed in a case is compared instead of exactly.
#[derive(Clone, Copy)]
enum Leeway {
    /// Not compared.
    Skip,
    /// A timestamp compared to the millisecond: at most 1 ms apart.
    Millisecond,
}

/// One operation run both ways: the step's id, the tool's service name, the CLI's, the API's
/// operation name, the CLI's, the input, and the output paths (`.A.B[].C`) compared otherwise,
/// each with how and why.
struct Case {
    id: &'static str,
    service: &'static str,
    cli_service: &'static str,
    op: &'static str,
    cli_op: &'static str,
    input: Value,
    unequal: Unequal,
}

type Unequal = &'static [(&'static str, Leeway, &'static str)];

/// What the cases read beyond the seed: made with boto3, not through either side.
struct Fleet {
    target_group: String,
    public_zone: String,
    change: String,
    /// A window around the metric data the seed published (RFC 3339 start and end).
    metrics: (String, String),
}

fn bucket() -> String {
    format!("outpost-artifacts-{ACCOUNT}")
}

/// A record set that UPSERTs the public zone's legacy record to what it already is, so the
/// change the tool and the CLI each make leaves the zone as the seed made it.
fn legacy_upsert() -> Value {
    json!({"Comment": "parity", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": DOMAIN, "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": LEGACY_IP}]}}]})
}

/// The Outpost fleet plus what makes each output non-trivial: an S3 object, log events, an SSM
/// command (CloudTrail's event), a tagged and described secret, an item of every JSON-able
/// attribute type, weighted and alias records, and a Route53 change to read back.
fn seed(moto: &Moto) -> Fleet {
    let seeded = moto.seed(None);
    moto.call(
        "s3",
        "PutObject",
        json!({"Bucket": bucket(), "Key": "releases/control-plane.tar", "Body": "parity"}),
    );
    moto.call(
        "logs",
        "CreateLogStream",
        json!({"logGroupName": LOG_GROUP, "logStreamName": "web"}),
    );
    let now = jiff::Timestamp::now().as_millisecond();
    moto.call(
        "logs",
        "PutLogEvents",
        json!({"logGroupName": LOG_GROUP, "logStreamName": "web",
               "logEvents": [{"timestamp": now, "message": "started"},
                             {"timestamp": now + 1, "message": "ERROR pool exhausted"}]}),
    );
    moto.call(
        "ssm",
        "SendCommand",
        json!({"InstanceIds": [INSTANCE], "DocumentName": "AWS-RunShellScript",
               "Parameters": {"commands": ["echo parity"]}}),
    );
    moto.call(
        "cloudwatch",
        "PutMetricData",
        json!({"Namespace": "Outpost/ControlPlane", "MetricData": [
            {"MetricName": "DispatchesSucceeded", "Values": [3.0, 4.0]},
            {"MetricName": "DispatchesFailed", "Value": 1.0}]}),
    );
    let second = jiff::Timestamp::now().as_second();
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    let metrics = (at(second - 3600), at(second + 3600));
    let secret = "/outpost/system/GITHUB_PAT";
    moto.call(
        "secretsmanager",
        "TagResource",
        json!({"SecretId": secret, "Tags": [{"Key": "team", "Value": "outpost"}]}),
    );
    moto.call(
        "secretsmanager",
        "UpdateSecret",
        json!({"SecretId": secret, "Description": "the agents' GitHub token"}),
    );
    moto.call(
        "dynamodb",
        "PutItem",
        json!({"TableName": "outpost-workspaces", "Item": {
            "id": {"S": "ws-types"}, "size": {"N": "1.5"}, "active": {"BOOL": true},
            "gone": {"NULL": true}, "labels": {"SS": ["a", "b"]}, "counts": {"NS": ["1", "2"]},
            "history": {"L": [{"S": "made"}, {"M": {"by": {"S": "parity"}}}]}}}),
    );
    let zones = moto.call(
        "route53",
        "ListHostedZonesByName",
        json!({"DNSName": "outpost.dev"}),
    );
    let public_zone = zones["HostedZones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["Config"]["PrivateZone"] == json!(false))
        .expect("the seed's public zone")["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A weighted record and an alias beside the legacy one, for the members they carry.
    moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone, "ChangeBatch": {"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": "canary.outpost.dev.", "Type": "A", "SetIdentifier": "blue",
                "Weight": 10, "TTL": 60, "ResourceRecords": [{"Value": "203.0.113.11"}]}},
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": "www.outpost.dev.", "Type": "A", "AliasTarget": {
                    "HostedZoneId": public_zone.rsplit('/').next().unwrap(),
                    "DNSName": DOMAIN, "EvaluateTargetHealth": false}}}]}}),
    );
    let change = moto.call(
        "route53",
        "ChangeResourceRecordSets",
        json!({"HostedZoneId": public_zone, "ChangeBatch": legacy_upsert()}),
    )["ChangeInfo"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fleet {
        target_group: seeded["target_group"].as_str().unwrap().to_owned(),
        public_zone,
        change,
        metrics,
    }
}

fn cases(fleet: &Fleet) -> Vec<Case> {
    let case = |id, (service, cli_service), (op, cli_op), input| Case {
        id,
        service,
        cli_service,
        op,
        cli_op,
        input,
        unequal: &[],
    };
    let elbv2 = ("elasticloadbalancingv2", "elbv2");
    let s3 = ("s3", "s3api");
    let same = |s| (s, s);
    vec![
        case(
            "identity",
            same("sts"),
            ("GetCallerIdentity", "get-caller-identity"),
            json!({}),
        ),
        case(
            "balancers",
            elbv2,
            ("DescribeLoadBalancers", "describe-load-balancers"),
            json!({}),
        ),
        case(
            "groups",
            elbv2,
            ("DescribeTargetGroups", "describe-target-groups"),
            json!({"Names": ["outpost-control-plane"]}),
        ),
        case(
            "health",
            elbv2,
            ("DescribeTargetHealth", "describe-target-health"),
            json!({"TargetGroupArn": fleet.target_group}),
        ),
        case(
            "images",
            same("ecr"),
            ("DescribeImages", "describe-images"),
            json!({"repositoryName": "outpost-codex"}),
        ),
        case(
            "table",
            same("dynamodb"),
            ("DescribeTable", "describe-table"),
            json!({"TableName": "outpost-workspaces"}),
        ),
        case(
            "items",
            same("dynamodb"),
            ("Scan", "scan"),
            json!({"TableName": "outpost-workspaces"}),
        ),
        case(
            "bucket",
            s3,
            ("HeadBucket", "head-bucket"),
            json!({"Bucket": bucket()}),
        ),
        case(
            "objects",
            s3,
            ("ListObjectsV2", "list-objects-v2"),
            json!({"Bucket": bucket()}),
        ),
        case(
            "secrets",
            same("secretsmanager"),
            ("ListSecrets", "list-secrets"),
            json!({}),
        ),
        case(
            "secret",
            same("secretsmanager"),
            ("DescribeSecret", "describe-secret"),
            json!({"SecretId": "/outpost/system/GITHUB_PAT"}),
        ),
        case(
            "zones",
            same("route53"),
            ("ListHostedZonesByName", "list-hosted-zones-by-name"),
            json!({"DNSName": "outpost.dev"}),
        ),
        case(
            "records",
            same("route53"),
            ("ListResourceRecordSets", "list-resource-record-sets"),
            json!({"HostedZoneId": fleet.public_zone}),
        ),
        Case {
            unequal: &[
                (
                    ".ChangeInfo.Id",
                    Leeway::Skip,
                    "each change gets an id of its own",
                ),
                (
                    ".ChangeInfo.SubmittedAt",
                    Leeway::Skip,
                    "each change is submitted at its own time",
                ),
            ],
            ..case(
                "change",
                same("route53"),
                ("ChangeResourceRecordSets", "change-resource-record-sets"),
                json!({"HostedZoneId": fleet.public_zone, "ChangeBatch": legacy_upsert()}),
            )
        },
        Case {
            unequal: &[(
                ".ChangeInfo.SubmittedAt",
                Leeway::Skip,
                "moto answers GetChange with the time of the request, not of the change",
            )],
            ..case(
                "changed",
                same("route53"),
                ("GetChange", "get-change"),
                json!({"Id": fleet.change}),
            )
        },
        case(
            "events",
            same("cloudtrail"),
            ("LookupEvents", "lookup-events"),
            json!({}),
        ),
        Case {
            // CloudWatch answers the SDK in CBOR, epoch seconds as a double, which the SDK
            // truncates to the millisecond after reading it as a float: `.461` can come out
            // `.460`. The CLI prints the JSON protocol's decimal text.
            unequal: &[
                (
                    ".MetricAlarms[].AlarmConfigurationUpdatedTimestamp",
                    Leeway::Millisecond,
                    "the SDK reads CBOR timestamps to the millisecond, truncated",
                ),
                (
                    ".MetricAlarms[].StateUpdatedTimestamp",
                    Leeway::Millisecond,
                    "the SDK reads CBOR timestamps to the millisecond, truncated",
                ),
            ],
            ..case(
                "alarms",
                same("cloudwatch"),
                ("DescribeAlarms", "describe-alarms"),
                json!({}),
            )
        },
        case(
            "metrics",
            same("cloudwatch"),
            ("GetMetricData", "get-metric-data"),
            json!({"StartTime": fleet.metrics.0, "EndTime": fleet.metrics.1,
                   "ScanBy": "TimestampDescending", "MetricDataQueries": [
                {"Id": "ok", "MetricStat": {"Period": 3600, "Stat": "Sum", "Metric": {
                    "Namespace": "Outpost/ControlPlane", "MetricName": "DispatchesSucceeded"}}},
                {"Id": "failed", "ReturnData": false, "MetricStat": {"Period": 3600,
                    "Stat": "Sum", "Metric": {"Namespace": "Outpost/ControlPlane",
                    "MetricName": "DispatchesFailed"}}},
                {"Id": "rate", "Expression": "100 * ok / (ok + failed)", "Label": "rate"}]}),
        ),
        case(
            "log_events",
            same("logs"),
            ("FilterLogEvents", "filter-log-events"),
            json!({"logGroupName": LOG_GROUP}),
        ),
    ]
}

/// `aws SERVICE OP --cli-input-json INPUT --output json` against the emulator, with the
/// test's empty AWS config and credentials files and the emulator's keys; an operation whose
/// output is empty prints nothing, read as `{}`.
fn cli(t: &Test, moto: &Moto, case: &Case) -> Value {
    let mut cmd = Command::new("aws");
    cmd.args([case.cli_service, case.cli_op, "--cli-input-json"])
        .arg(case.input.to_string())
        .args(["--endpoint-url", &moto.url, "--region", "us-east-1"])
        .args(["--output", "json"]);
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_OUTPUT",
        "AWS_CA_BUNDLE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(moto.env())
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", t.path("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", t.path("aws-credentials"));
    let out = cmd
        .output()
        .expect("the AWS CLI (`aws`) is needed (see .ci/run)");
    assert!(
        out.status.success(),
        "aws {} {}: {}",
        case.cli_service,
        case.cli_op,
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return json!({});
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A timestamp as either side writes it, in microseconds: RFC 3339 text (the tool, and the
/// CLI for the XML and query protocols) or epoch seconds (the CLI v1 for the JSON protocols,
/// which prints the wire's number).
fn instant(v: &Value) -> Option<i64> {
    match v {
        Value::String(t) => t
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_microsecond()),
        Value::Number(n) => n.as_f64().map(|s| (s * 1e6).round() as i64),
        _ => None,
    }
}

/// The same value: equal, the same number however written (`1` and `1.0`), or, where the tool
/// gives a timestamp, the same instant within `slack` microseconds (at least one: the tool
/// writes whole microseconds, the CLI the wire's epoch seconds, read here as a float).
fn same(theirs: &Value, ours: &Value, slack: u64) -> bool {
    if theirs == ours {
        return true;
    }
    if let (Some(a), Some(b)) = (theirs.as_f64(), ours.as_f64()) {
        return a == b;
    }
    match (instant(theirs), ours.as_str().and(instant(ours))) {
        (Some(a), Some(b)) => a.abs_diff(b) <= slack,
        _ => false,
    }
}

/// Every key and value of the CLI's output (`theirs`) that the tool's (`ours`) lacks or gives
/// otherwise, as `path: what differs`; a `null` the CLI prints counts as absent, and `unequal`
/// paths are compared as they say. Keys only the tool has are `aws_operations.rs`'s concern.
fn differences(
    theirs: &Value,
    ours: Option<&Value>,
    at: &str,
    unequal: Unequal,
    out: &mut Vec<String>,
) {
    let leeway = unequal.iter().find(|(path, ..)| *path == at).map(|u| u.1);
    if matches!(leeway, Some(Leeway::Skip)) {
        return;
    }
    let slack = if matches!(leeway, Some(Leeway::Millisecond)) {
        1000
    } else {
        1
    };
    match (theirs, ours) {
        (Value::Null, None | Some(Value::Null)) => {}
        (_, None) => out.push(format!("{at}: missing; the CLI gives {theirs}")),
        (Value::Object(t), Some(Value::Object(o))) => {
            for (k, v) in t {
                differences(v, o.get(k), &format!("{at}.{k}"), unequal, out);
            }
        }
        (Value::Array(t), Some(Value::Array(o))) if t.len() == o.len() => {
            for (a, b) in t.iter().zip(o) {
                differences(a, Some(b), &format!("{at}[]"), unequal, out);
            }
        }
        (t, Some(o)) if same(t, o, slack) => {}
        (t, Some(o)) => out.push(format!("{at}: the CLI gives {t}, the tool {o}")),
    }
}

#[test]
fn every_hand_mapped_operation_gives_what_the_aws_cli_gives_key_by_key() {
    let moto = Moto::start();
    let fleet = seed(&moto);
    let cases = cases(&fleet);

    // Every hand-mapped operation the tool supports has its case, and no case names another.
    let supported: BTreeSet<(&str, &str)> = outpost_migrate::kinds::aws::operations()
        .filter(|(service, _)| !SCHEMA_SERVICES.contains(service))
        .collect();
    let covered: BTreeSet<(&str, &str)> = cases.iter().map(|c| (c.service, c.op)).collect();
    assert_eq!(covered, supported, "cases and hand-mapped operations");

    let calls: Vec<_> = cases
        .iter()
        .map(|c| (c.id, c.service, c.op, c.input.clone()))
        .collect();
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, &whole_outputs(&calls)))
        .aws(&moto);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);

    let mut report = Vec::new();
    for case in &cases {
        let theirs = cli(&t, &moto, case);
        let ours = t.step_state(case.id)["captures"][case.id].clone();
        let mut found = Vec::new();
        differences(&theirs, Some(&ours), "", case.unequal, &mut found);
        report.extend(
            found
                .into_iter()
                .map(|d| format!("{} {}: {d}", case.service, case.op)),
        );
        assert!(
            theirs.as_object().is_some_and(|o| !o.is_empty()),
            "{} {}: the CLI printed nothing to compare",
            case.service,
            case.op
        );
    }
    assert!(
        report.is_empty(),
        "what the AWS CLI gives and the tool does not:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_comparison_finds_a_dropped_key_a_changed_value_and_accepts_the_same_instant() {
    let theirs = json!({"A": {"B": [{"C": 1, "When": 1764387798.123}]}, "Gone": null,
                        "Id": "x", "Name": "n"});
    let ours = json!({"A": {"B": [{"C": 1.0, "When": "2025-11-29T03:43:18.123Z"}]},
                      "Id": "y", "Name": "m"});
    let mut found = Vec::new();
    differences(
        &theirs,
        Some(&ours),
        "",
        &[(".Id", Leeway::Skip, "its own")],
        &mut found,
    );
    assert_eq!(found, [r#".Name: the CLI gives "n", the tool "m""#]);
    let mut found = Vec::new();
    differences(&theirs, Some(&json!({"A": {}})), "", &[], &mut found);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with(".A.B: missing"), "{found:?}");
    // Under a millisecond apart: a difference, unless the path is compared to the millisecond.
    let (theirs, ours) = (
        json!({"When": 1764387798.123}),
        json!({"When": "2025-11-29T03:43:18.1222Z"}),
    );
    let mut found = Vec::new();
    differences(&theirs, Some(&ours), "", &[], &mut found);
    assert_eq!(found.len(), 1, "{found:?}");
    let mut found = Vec::new();
    let to_the_ms = &[(".When", Leeway::Millisecond, "read to the millisecond")];
    differences(&theirs, Some(&ours), "", to_the_ms, &mut found);
    assert!(found.is_empty(), "{found:?}");
}
