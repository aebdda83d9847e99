//! `iam-policy [TARGET]`: the policy grants exactly the operations of the target's `aws`
//! steps (worked out here from the runbook files themselves), in IAM's grammar, on the
//! resources the inputs pin, with the account and region of the runbook, never an action that
//! reads a secret, and the S3 state backend's objects when the state lives there.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use outpost_migrate::exit_codes::{SUCCESS, USAGE_OR_RUNBOOK};
use regex::Regex;
use serde_json::Value;

use crate::support::{BIN, Runbook, Test};

const ACCOUNT: &str = "311493921645";
const REGION: &str = "us-east-1";

struct Policy {
    document: Value,
    stderr: String,
}

/// `iam-policy ARGS` on the embedded runbook, with no state backend in the environment.
fn iam_policy(args: &[&str], env: &[(&str, &str)]) -> Policy {
    let mut cmd = Command::new(BIN);
    cmd.arg("iam-policy")
        .args(args)
        .env_remove("OUTPOST_MIGRATE_RUNBOOK")
        .env_remove("OUTPOST_MIGRATE_STATE")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(SUCCESS), "{stderr}");
    Policy {
        document: serde_json::from_slice(&out.stdout).expect("a JSON policy"),
        stderr,
    }
}

fn yaml(path: &str) -> Value {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// The unit files a target runs, read from runbook.yaml.
fn unit_files(target: &str) -> Vec<String> {
    let root = yaml("runbook.yaml");
    let file = |list: &str, key: &str, n: u64| {
        root[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u[key] == n)
            .map(|u| u["file"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let words: Vec<&str> = target.split_whitespace().collect();
    match words.as_slice() {
        ["preflight"] => vec![root["preflight"].as_str().unwrap().into()],
        ["verify"] => vec![root["verify"].as_str().unwrap().into()],
        ["phase", n] => vec![file("phases", "phase", n.parse().unwrap())],
        ["rollback", n] => (1..=n.parse().unwrap())
            .map(|l| file("rollback", "level", l))
            .collect(),
        _ => {
            let mut all = vec![root["preflight"].as_str().unwrap().to_owned()];
            all.extend((1..=5).map(|n| file("phases", "phase", n)));
            all.push(root["verify"].as_str().unwrap().into());
            all.extend((1..=3).map(|l| file("rollback", "level", l)));
            all
        }
    }
}

/// The IAM actions of the `aws` steps (and `verify` probes) of these files, as IAM names
/// them: its service prefixes, and S3's bucket reads as `s3:ListBucket`.
fn operations_of(files: &[String]) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let mut add = |aws: &Value| {
        let service = match aws["service"].as_str().unwrap() {
            "elbv2" | "elasticloadbalancingv2" => "elasticloadbalancing",
            "cloudwatchlogs" => "logs",
            "s3api" => "s3",
            other => other,
        };
        let op = aws["operation"].as_str().unwrap();
        let op = match (service, op) {
            ("s3", "ListObjectsV2" | "HeadBucket") => "ListBucket",
            (_, op) => op,
        };
        actions.insert(format!("{service}:{op}"));
    };
    for file in files {
        let unit = yaml(file);
        let mut steps: Vec<Value> = unit["steps"].as_array().cloned().unwrap_or_default();
        for group in unit["groups"].as_array().into_iter().flatten() {
            steps.extend(group["steps"].as_array().cloned().unwrap_or_default());
        }
        for step in steps {
            if step.get("aws").is_some() {
                add(&step["aws"]);
            }
            if step["verify"].get("aws").is_some() {
                add(&step["verify"]["aws"]);
            }
        }
    }
    actions
}

fn statements(policy: &Value) -> &Vec<Value> {
    policy["Statement"]
        .as_array()
        .expect("a list of statements")
}

fn actions(policy: &Value) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The resources granted to `action`.
fn resources_of(policy: &Value, action: &str) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
        .flat_map(|s| s["Resource"].as_array().unwrap().iter())
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// IAM's grammar: `Version` and `Statement` only; each statement a unique alphanumeric
/// `Sid`, `Effect: Allow`, `service:Operation` actions and resources that are `*` or ARNs.
fn assert_iam_grammar(policy: &Value) {
    let keys: BTreeSet<&str> = policy
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["Statement", "Version"]));
    assert_eq!(policy["Version"], "2012-10-17");
    let action = Regex::new(r"^[a-z0-9-]+:[A-Za-z0-9]+$").unwrap();
    let arn =
        Regex::new(r"^arn:aws:[a-z0-9-]+:([a-z]{2}(-[a-z]+)+-[0-9]|\*)?:([0-9]{12}|\*)?:\S+$")
            .unwrap();
    let mut sids = BTreeSet::new();
    assert!(!statements(policy).is_empty());
    for s in statements(policy) {
        for key in s.as_object().unwrap().keys() {
            assert!(
                ["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()),
                "{s}"
            );
        }
        let sid = s["Sid"].as_str().unwrap();
        assert!(
            sid.chars().all(|c| c.is_ascii_alphanumeric()) && sids.insert(sid),
            "{sid}"
        );
        assert_eq!(s["Effect"], "Allow");
        let acts = s["Action"].as_array().unwrap();
        assert!(!acts.is_empty());
        assert!(
            acts.iter().all(|a| action.is_match(a.as_str().unwrap())),
            "{s}"
        );
        let res = s["Resource"].as_array().unwrap();
        assert!(!res.is_empty());
        for r in res {
            let r = r.as_str().unwrap();
            assert!(r == "*" || arn.is_match(r), "not an ARN: {r}");
        }
    }
}

#[test]
fn the_policy_grants_exactly_the_plans_aws_operations_in_iams_grammar() {
    for target in [
        "",
        "preflight",
        "phase 1",
        "phase 2",
        "phase 4",
        "verify",
        "rollback 3",
    ] {
        let args: Vec<&str> = target.split_whitespace().collect();
        let policy = iam_policy(&args, &[]).document;
        assert_iam_grammar(&policy);
        let expected = operations_of(&unit_files(target));
        assert!(!expected.is_empty(), "{target}");
        assert_eq!(actions(&policy), expected, "target `{target}`");
        for a in actions(&policy) {
            assert!(
                ![
                    "secretsmanager:GetSecretValue",
                    "ssm:GetParameter",
                    "ssm:GetParameters"
                ]
                .contains(&a.as_str()),
                "{a}"
            );
        }
    }
}

#[test]
fn preflight_only_reads() {
    let policy = iam_policy(&["preflight"], &[]).document;
    let reads = Regex::new(r":(Describe|List|Get|Lookup|Filter|Scan|Head)[A-Za-z0-9]*$").unwrap();
    for a in actions(&policy) {
        assert!(reads.is_match(&a), "pre-flight asks for a write: {a}");
    }
}

#[test]
fn the_inputs_pin_the_resources_in_the_runbooks_account_and_region() {
    let Policy { document, stderr } = iam_policy(&[], &[]);
    let arn = |svc: &str, rest: &str| format!("arn:aws:{svc}:{REGION}:{ACCOUNT}:{rest}");
    let tables: BTreeSet<String> = ["outpost-dispatches", "outpost-pool", "outpost-workspaces"]
        .iter()
        .map(|t| arn("dynamodb", &format!("table/{t}")))
        .collect();
    assert_eq!(resources_of(&document, "dynamodb:DescribeTable"), tables);
    assert_eq!(
        resources_of(&document, "dynamodb:Scan"),
        BTreeSet::from([arn("dynamodb", "table/outpost-dispatches")])
    );
    assert_eq!(
        resources_of(&document, "ecs:UpdateService"),
        BTreeSet::from([arn("ecs", "service/outpost-dev/outpost-control-plane")])
    );
    assert_eq!(
        resources_of(&document, "s3:ListBucket"),
        BTreeSet::from([format!("arn:aws:s3:::outpost-artifacts-{ACCOUNT}")])
    );
    assert!(
        resources_of(&document, "ssm:SendCommand")
            .contains(&arn("ssm", "managed-instance/mi-0bbd8fed3f0650ddb")),
        "{document}"
    );
    // The hosted zone's id is captured during the run: the zone is `*`, and stderr says so.
    assert_eq!(
        resources_of(&document, "route53:ChangeResourceRecordSets"),
        BTreeSet::from(["arn:aws:route53:::hostedzone/*".to_owned()])
    );
    assert!(
        stderr.contains("note: some resources come from a value captured"),
        "{stderr}"
    );
    assert!(stderr.contains("terraform"), "{stderr}");
    // A var given on the command line is the region the ARNs name.
    let moved = iam_policy(&["verify", "--var", "region=eu-west-1"], &[]).document;
    assert!(
        resources_of(&moved, "ecs:DescribeServices")
            .iter()
            .all(|r| r.starts_with("arn:aws:ecs:eu-west-1:")),
        "{moved}"
    );
}

#[test]
fn an_s3_state_backend_adds_its_objects_and_nothing_else_of_the_bucket() {
    let Policy { document, stderr } = iam_policy(
        &["preflight"],
        &[("OUTPOST_MIGRATE_STATE", "s3://team-state/outpost/prod")],
    );
    assert_iam_grammar(&document);
    for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
        assert_eq!(
            resources_of(&document, action),
            BTreeSet::from(["arn:aws:s3:::team-state/outpost/prod/*".to_owned()]),
            "{action}"
        );
    }
    assert!(resources_of(&document, "s3:ListBucket").contains("arn:aws:s3:::team-state"));
    assert!(stderr.contains("KMS"), "{stderr}");
    let local = iam_policy(&["preflight"], &[]).document;
    assert!(!actions(&local).contains("s3:PutObject"));
}

#[test]
fn a_runbook_without_an_account_or_region_says_they_are_wildcards() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: tables\n  aws: { service: dynamodb, operation: DescribeTable, input: { TableName: jobs } }\n",
    ));
    t.run(&["validate"]).code(SUCCESS);
    let out = Command::new(BIN)
        .args(["iam-policy", "phase", "1", "--output", "json", "--runbook"])
        .arg(t.runbook_dir())
        .env_remove("OUTPOST_MIGRATE_STATE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(SUCCESS));
    let text = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(text.trim_end()).expect("one JSON line");
    assert_eq!(line["exit_code"], SUCCESS);
    assert_iam_grammar(&line["policy"]);
    assert_eq!(
        resources_of(&line["policy"], "dynamodb:DescribeTable"),
        BTreeSet::from(["arn:aws:dynamodb:*:*:table/jobs".to_owned()])
    );
    let notes = line["notes"].to_string();
    assert!(
        notes.contains("names no `account`") && notes.contains("no `region` var"),
        "{notes}"
    );
}

#[test]
fn an_invalid_runbook_is_refused_with_its_problems() {
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, "- id: broken\n  shel: { command: 'true' }\n"));
    let _ = t.run(&["validate"]);
    let out = Command::new(BIN)
        .args(["iam-policy", "--runbook"])
        .arg(t.runbook_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE_OR_RUNBOOK));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("phases/1.yaml:") && stderr.contains("unknown step field or kind `shel`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no policy of an invalid runbook");
}
