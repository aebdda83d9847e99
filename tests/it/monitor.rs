//! Issue 13.1, `monitor --once`: every row of the 24-hour checklist and the dashboard checked
//! once against the emulator's metrics (CloudWatch GetMetricData), the control plane's health
//! and CloudTrail; all within target exits 0, and each row breaching (or without data) exits 1
//! naming it, in every output. The history each check leaves is kept in the state.

use std::collections::BTreeSet;

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};
use serde_json::{Value, json};

use crate::support::{Moto, Run, Server, Test, rehearsal_script};

/// Every row of the shipped `checks/monitor.yaml` (the DynamoDB row once per table).
const ROWS: &[&str] = &[
    "monitor-alb",
    "monitor-target-group",
    "api-availability",
    "dispatch-success-rate",
    "p95-latency",
    "error-rate",
    "pool-hit-rate",
    "ssm-dispatch-count",
    "alb-healthy-hosts",
    "alb-request-count",
    "ecs-cpu",
    "ecs-memory",
    "dynamodb-consumed-capacity.outpost-dispatches",
    "dynamodb-consumed-capacity.outpost-workspaces",
    "dynamodb-consumed-capacity.outpost-pool",
];

/// The ALB's and its target group's CloudWatch dimensions (`app/NAME/ID`,
/// `targetgroup/NAME/ID`), as AWS derives them from their ARNs.
fn alb_dimensions(moto: &Moto) -> (String, String) {
    let lb = moto.call(
        "elbv2",
        "DescribeLoadBalancers",
        json!({"Names": ["outpost-alb"]}),
    )["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let tg = moto.call(
        "elbv2",
        "DescribeTargetGroups",
        json!({"LoadBalancerArn": lb}),
    )["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let after = |arn: &str, marker: &str| arn.split_once(marker).unwrap().1.to_owned();
    (
        after(&lb, ":loadbalancer/"),
        format!("targetgroup/{}", after(&tg, ":targetgroup/")),
    )
}

/// Publishes `values` of one metric, now.
fn put(moto: &Moto, namespace: &str, name: &str, dimensions: Value, values: &[f64]) {
    moto.call(
        "cloudwatch",
        "PutMetricData",
        json!({"Namespace": namespace, "MetricData": [
            {"MetricName": name, "Dimensions": dimensions, "Values": values}
        ]}),
    );
}

/// A seeded world whose metrics are within target, except those `breach` names (a row id:
/// its metric published out of target, or not at all where no value can breach it).
fn world(breach: &str) -> Moto {
    let moto = Moto::start();
    moto.seed(None);
    let (lb, tg) = alb_dimensions(&moto);
    let pick = |row: &str, good: &[f64], bad: &[f64]| -> Vec<f64> {
        if breach == row {
            bad.to_vec()
        } else {
            good.to_vec()
        }
    };
    let cp = "Outpost/ControlPlane";
    put(
        &moto,
        cp,
        "DispatchesSucceeded",
        json!([]),
        &pick("dispatch-success-rate", &[99.0], &[90.0]),
    );
    put(
        &moto,
        cp,
        "DispatchesFailed",
        json!([]),
        &pick("dispatch-success-rate", &[1.0], &[10.0]),
    );
    put(
        &moto,
        cp,
        "PoolHits",
        json!([]),
        &pick("pool-hit-rate", &[45.0], &[30.0]),
    );
    put(
        &moto,
        cp,
        "PoolMisses",
        json!([]),
        &pick("pool-hit-rate", &[5.0], &[20.0]),
    );
    let alb = "AWS/ApplicationELB";
    let on_lb = json!([{"Name": "LoadBalancer", "Value": lb}]);
    // Nineteen fast requests and one slow: the p95 is fast; four slow ones make it slow.
    let mut latencies = vec![0.12; 16];
    latencies.extend(pick(
        "p95-latency",
        &[0.1, 0.1, 0.1, 2.0],
        &[2.0, 2.0, 2.0, 2.0],
    ));
    put(&moto, alb, "TargetResponseTime", on_lb.clone(), &latencies);
    if breach != "alb-request-count" {
        put(&moto, alb, "RequestCount", on_lb.clone(), &[200.0]);
    }
    put(
        &moto,
        alb,
        "HTTPCode_Target_5XX_Count",
        on_lb,
        &pick("error-rate", &[2.0], &[20.0]),
    );
    let on_tg =
        json!([{"Name": "LoadBalancer", "Value": lb}, {"Name": "TargetGroup", "Value": tg}]);
    put(
        &moto,
        alb,
        "HealthyHostCount",
        on_tg,
        &pick("alb-healthy-hosts", &[2.0, 1.0], &[1.0, 0.0]),
    );
    let on_service = json!([
        {"Name": "ClusterName", "Value": "outpost-dev"},
        {"Name": "ServiceName", "Value": "outpost-control-plane"}
    ]);
    put(
        &moto,
        "AWS/ECS",
        "CPUUtilization",
        on_service.clone(),
        &pick("ecs-cpu", &[35.0], &[93.0]),
    );
    put(
        &moto,
        "AWS/ECS",
        "MemoryUtilization",
        on_service,
        &pick("ecs-memory", &[50.0], &[88.0]),
    );
    for table in ["outpost-dispatches", "outpost-workspaces", "outpost-pool"] {
        if breach == format!("dynamodb-consumed-capacity.{table}") {
            continue;
        }
        let on_table = json!([{"Name": "TableName", "Value": table}]);
        put(
            &moto,
            "AWS/DynamoDB",
            "ConsumedReadCapacityUnits",
            on_table.clone(),
            &[12.0],
        );
        put(
            &moto,
            "AWS/DynamoDB",
            "ConsumedWriteCapacityUnits",
            on_table,
            &[3.0],
        );
    }
    if breach == "ssm-dispatch-count" {
        moto.call(
            "ssm",
            "SendCommand",
            json!({"DocumentName": "AWS-RunShellScript", "InstanceIds": ["mi-0bbd8fed3f0650ddb"],
                   "Parameters": {"commands": ["outpost dispatch"]}}),
        );
    }
    moto
}

fn monitor_once(t: &Test, output: &str) -> Run {
    t.run(&["monitor", "--once", "--output", output])
}

/// The rows `run` (JSON) says failed.
fn failed_rows(run: &Run) -> BTreeSet<String> {
    run.json_lines()
        .into_iter()
        .filter(|e| e["event"] == "step_finished" && e["outcome"] == "failed")
        .filter_map(|e| e["step"].as_str().map(str::to_owned))
        .collect()
}

/// `monitor --once` in a world where `row` breaches: exit 1, and exactly `failing` failed,
/// each with its hint, the message saying why.
fn breaches(row: &str, failing: &[&str], why: &str) {
    let moto = world(row);
    let control_plane = Server::start();
    let mut t = Test::new().embedded().aws(&moto);
    if row == "api-availability" {
        // A control plane whose health endpoint is gone: 404.
        t = t.env("OUTPOST_API_URL", &format!("{}/gone", control_plane.url));
    }
    let run = monitor_once(&t, "json");
    assert_eq!(run.code, STEP_FAILED, "{row}: {}{}", run.stdout, run.stderr);
    let want: BTreeSet<String> = failing.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(failed_rows(&run), want, "{row}: {}", run.stdout);
    let event = run.step_event(failing[0]);
    assert!(
        event["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{row}: no hint in {event}"
    );
    let message = event.to_string();
    assert!(message.contains(why), "{row}: `{why}` not in {message}");
    let summary = run.json_lines().pop().unwrap();
    assert!(
        failing.iter().any(|f| summary["stopped_at"] == *f),
        "{row}: the summary does not name it: {summary}"
    );
}

#[test]
fn monitor_once_passes_when_every_row_is_within_target_and_records_their_history() {
    let moto = world("");
    let t = Test::new().embedded().aws(&moto);
    let run = monitor_once(&t, "json");
    assert_eq!(run.code, SUCCESS, "{}{}", run.stdout, run.stderr);
    for row in ROWS {
        assert_eq!(run.step_event(row)["outcome"], "succeeded", "{row}");
    }
    let history = &t.state()["monitor"]["rows"];
    for row in ROWS {
        let samples = history[row]
            .as_array()
            .unwrap_or_else(|| panic!("{row}: {history}"));
        assert_eq!(samples.len(), 1, "{row}");
        assert_eq!(samples[0]["ok"], true, "{row}");
    }
    // Each row's value is what it measured: the rates computed by metric math, the p95 of
    // the latencies (nearest rank), the CloudTrail count.
    assert_eq!(history["dispatch-success-rate"][0]["value"], json!(99.0));
    assert_eq!(history["pool-hit-rate"][0]["value"], json!(90.0));
    assert_eq!(history["error-rate"][0]["value"], json!(1.0));
    assert_eq!(history["p95-latency"][0]["value"], json!(0.12));
    assert_eq!(history["ssm-dispatch-count"][0]["value"], json!(0));
    assert_eq!(history["api-availability"][0]["value"], json!("healthy"));

    // Run again: every row is checked again (not "done"), and its history grows.
    let again = monitor_once(&t, "json");
    assert_eq!(again.code, SUCCESS, "{}", again.stdout);
    assert_eq!(again.step_event("ecs-cpu")["outcome"], "succeeded");
    assert_eq!(
        t.state()["monitor"]["rows"]["ecs-cpu"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn api_availability_breaches_when_the_health_endpoint_is_not_healthy() {
    breaches("api-availability", &["api-availability"], "404");
}

#[test]
fn dispatch_success_rate_breaches_under_95_percent() {
    breaches(
        "dispatch-success-rate",
        &["dispatch-success-rate"],
        "found 90",
    );
}

#[test]
fn p95_latency_breaches_over_500_ms() {
    breaches("p95-latency", &["p95-latency"], "found 2");
}

#[test]
fn error_rate_breaches_over_5_percent() {
    breaches("error-rate", &["error-rate"], "found 10");
}

#[test]
fn pool_hit_rate_breaches_under_80_percent() {
    breaches("pool-hit-rate", &["pool-hit-rate"], "found 60");
}

#[test]
fn ssm_dispatch_count_breaches_on_one_send_command() {
    breaches("ssm-dispatch-count", &["ssm-dispatch-count"], "found 1");
}

#[test]
fn alb_healthy_hosts_breaches_when_a_period_had_none() {
    breaches("alb-healthy-hosts", &["alb-healthy-hosts"], "found 0");
}

#[test]
fn alb_request_count_without_data_is_a_breach_not_a_pass() {
    // No request counted: the error rate has nothing to divide either.
    breaches(
        "alb-request-count",
        &["alb-request-count", "error-rate"],
        "found nothing at `MetricDataResults[0].Values[0]`",
    );
}

#[test]
fn ecs_cpu_and_memory_breach_over_80_percent() {
    breaches("ecs-cpu", &["ecs-cpu"], "found 93");
    breaches("ecs-memory", &["ecs-memory"], "found 88");
}

#[test]
fn a_table_without_consumed_capacity_breaches_its_row() {
    breaches(
        "dynamodb-consumed-capacity.outpost-pool",
        &["dynamodb-consumed-capacity.outpost-pool"],
        "found nothing at",
    );
}

#[test]
fn monitor_once_names_the_breach_in_junit_and_human_output() {
    let moto = world("ecs-cpu");
    let t = Test::new().embedded().aws(&moto);
    let junit = monitor_once(&t, "junit");
    assert_eq!(junit.code, STEP_FAILED, "{}", junit.stdout);
    let doc = roxmltree::Document::parse(&junit.stdout).expect("one XML document");
    let failed: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert!(
        failed.iter().any(|n| n.contains("ecs-cpu")),
        "{failed:?}\n{}",
        junit.stdout
    );
    monitor_once(&t, "human")
        .code(STEP_FAILED)
        .stdout_has("monitor failed at step `ecs-cpu`")
        .stdout_has("found 93");
}

/// The failed `step_finished` events of `monitor` in a rehearsal's JSON output.
fn rehearsal_breaches(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "step_finished" && e["unit"] == "monitor")
        .filter(|e| e["outcome"] == "failed")
        .filter_map(|e| e["step"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn monitor_once_passes_on_the_healthy_rehearsal_and_fails_on_a_fault() {
    // The control plane stand-in publishes the metrics (rehearsal/metrics.py) as the run goes.
    let args = ["--forward-only", "--plain", "--monitor"];
    let (code, out) = rehearsal_script(
        "rehearse.py",
        &[&args[..], &["--", "--output", "json"]].concat(),
    );
    assert_eq!(code, SUCCESS, "{out}");
    assert!(out.contains("$ outpost-migrate monitor --once"), "{out}");
    assert_eq!(rehearsal_breaches(&out), BTreeSet::new());

    let faulty = [
        &args[..],
        &["--monitor-fault", "unhealthy", "--", "--output", "json"],
    ]
    .concat();
    let (code, out) = rehearsal_script("rehearse.py", &faulty);
    assert_eq!(code, STEP_FAILED, "{out}");
    assert!(
        rehearsal_breaches(&out).contains("api-availability"),
        "{out}"
    );
}
