//! The realistic emulator (tests/fixtures/moto_outpost.py's MOTO_REALISTIC): AWS throttles a
//! share of calls, each service with its own error in its protocol's format, and the tool's
//! SDK retry (standard mode) must absorb it. The realistic rehearsal is in rehearsal.rs.

use outpost_migrate::exit_codes::SUCCESS;
use serde_json::{Value, json};

use crate::support::{Moto, Runbook, Test};

/// What the emulator's realistic behaviours did; `knobs` (JSON) are set first when given.
fn realistic(moto: &Moto, knobs: Option<Value>) -> Value {
    let script = "import sys, urllib.request\n\
        data = sys.argv[2].encode() if len(sys.argv) > 2 else None\n\
        print(urllib.request.urlopen(urllib.request.Request(sys.argv[1] + '/moto-api/outpost/realistic', data=data)).read().decode())";
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script, &moto.url]);
    if let Some(knobs) = knobs {
        cmd.arg(knobs.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Reads of the services pre-flight does not call, in one phase.
const OTHER_SERVICES: &str = r#"- id: route53
  aws: { service: route53, operation: ListHostedZonesByName, input: { DNSName: outpost.dev } }
  expect: [{ query: "HostedZones[0].Name", equals: outpost.dev. }]
- id: cloudwatch
  aws: { service: cloudwatch, operation: DescribeAlarms, input: { AlarmNames: [PoolExhausted] } }
  expect: [{ query: "MetricAlarms[0].AlarmName", equals: PoolExhausted }]
- id: cloudtrail
  aws: { service: cloudtrail, operation: LookupEvents, input: {} }
  expect: [{ query: Events, len: 0 }]
- id: logs
  aws: { service: logs, operation: FilterLogEvents, input: { logGroupName: /outpost/control-plane } }
  expect: [{ query: events, len: 0 }]
- id: ssm
  aws: { service: ssm, operation: DescribeInstanceInformation, input: { Filters: [{ Key: InstanceIds, Values: [mi-0bbd8fed3f0650ddb] }] } }
  expect: [{ query: "InstanceInformationList[0].PingStatus", equals: Online }]
"#;

#[test]
fn every_aws_call_throttled_on_its_first_attempt_succeeds_through_the_sdks_retry() {
    let moto = Moto::start();
    moto.seed(None);
    // Seeded first (boto3 would retry too, only slower): now every first attempt is refused.
    realistic(&moto, Some(json!({"MOTO_THROTTLE_EVERY": "1"})));
    let preflight = Test::new().embedded().aws(&moto);
    preflight
        .run(&["preflight", "--yes"])
        .code(SUCCESS)
        .stdout_has("✔ AWS account 311493921645");
    let t = Test::new()
        .aws(&moto)
        .runbook(Runbook::minimal().phase(1, OTHER_SERVICES));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let throttled = &realistic(&moto, None)["throttled"];
    // Each protocol's throttling error: query (STS, ELBv2), JSON (ECS, ECR, DynamoDB, Secrets
    // Manager, CloudTrail, Logs, SSM), REST-XML (Route53), S3's SlowDown, CloudWatch's CBOR.
    for service in [
        "sts",
        "elasticloadbalancing",
        "ecs",
        "ecr",
        "dynamodb",
        "secretsmanager",
        "s3",
        "route53",
        "monitoring",
        "cloudtrail",
        "logs",
        "ssm",
    ] {
        assert!(
            throttled[service].as_u64().unwrap_or(0) > 0,
            "no {service} call was throttled: {throttled}"
        );
    }
}
