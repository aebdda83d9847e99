//! What each supported operation needs from IAM (`outpost-migrate iam-policy`): its action,
//! in IAM's service prefix (`elasticloadbalancing`, `s3:ListBucket` for a bucket listing), and
//! the resources its input pins, `*` only where the action takes no resource-level permission
//! (AWS's Service Authorization Reference). An input value not known before the run (a
//! capture) is `*` in its place of the ARN.

use serde_json::{Map, Value, json};

/// The region and account an ARN names; `*` when not known.
pub struct ArnScope<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

/// One action on its resources, with the condition that narrows a `*` where IAM has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub action: String,
    pub resources: Vec<String>,
    pub condition: Option<Value>,
}

/// Actions that read a secret's value: never granted, whatever a runbook asks.
pub const SECRET_READING: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
];

/// IAM's prefix for a service of `SERVICES` (by its canonical name).
pub fn prefix(service: &str) -> &str {
    match service {
        "elasticloadbalancingv2" => "elasticloadbalancing",
        other => other,
    }
}

/// An action (without its prefix), its resources, and the condition narrowing a `*`.
type Need = (String, Vec<String>, Option<Value>);

/// What `service op` with `input` (rendered; unknown values `*`) needs; `None` for an
/// operation this table does not know (a test holds every supported one known).
pub fn grant(service: &str, op: &str, input: &Map<String, Value>, at: &ArnScope) -> Option<Grant> {
    let (action, resources, condition) = match (service, op) {
        ("sts", "GetCallerIdentity")
        | ("elasticloadbalancingv2", _)
        | ("secretsmanager", "ListSecrets")
        | ("route53", "ListHostedZonesByName")
        | ("cloudtrail", "LookupEvents")
        | ("cloudwatch", "GetMetricData")
        | ("ssm", "GetCommandInvocation" | "ListCommands" | "DescribeInstanceInformation") => {
            (op.to_owned(), vec!["*".to_owned()], None)
        }
        ("ecs", _) => ecs(op, input, at)?,
        _ => named(service, op, input, at)?,
    };
    Some(Grant {
        action: format!("{}:{action}", prefix(service)),
        resources,
        condition,
    })
}

/// ECS's operations, on the cluster (`default` when the input names none) and what is in it.
fn ecs(op: &str, input: &Map<String, Value>, at: &ArnScope) -> Option<Need> {
    let arn = |rest: String| format!("arn:aws:ecs:{}:{}:{rest}", at.region, at.account);
    let cluster = text(input, "cluster").unwrap_or("default");
    Some(match op {
        "DescribeClusters" => (
            op.to_owned(),
            each(input, "clusters", "default", |c| {
                arn(format!("cluster/{c}"))
            }),
            None,
        ),
        "DescribeServices" => (
            op.to_owned(),
            each(input, "services", "*", |s| {
                arn(format!("service/{cluster}/{s}"))
            }),
            None,
        ),
        "UpdateService" => {
            let service = text(input, "service").unwrap_or("*");
            (
                op.to_owned(),
                vec![arn(format!("service/{cluster}/{service}"))],
                None,
            )
        }
        // ListTasks takes no resource; its `ecs:cluster` condition key pins the cluster.
        "ListTasks" => (
            op.to_owned(),
            vec!["*".to_owned()],
            Some(json!({ "ArnEquals": { "ecs:cluster": arn(format!("cluster/{cluster}")) } })),
        ),
        "DescribeTasks" => (
            op.to_owned(),
            each(input, "tasks", "*", |t| {
                arn(format!(
                    "task/{cluster}/{}",
                    t.rsplit('/').next().unwrap_or(t)
                ))
            }),
            None,
        ),
        _ => return None,
    })
}

/// The other services' operations on the one resource their input names.
fn named(service: &str, op: &str, input: &Map<String, Value>, at: &ArnScope) -> Option<Need> {
    let arn =
        |svc: &str, rest: String| format!("arn:aws:{svc}:{}:{}:{rest}", at.region, at.account);
    let one = |key: &str| text(input, key).unwrap_or("*");
    let resource = match (service, op) {
        ("ecr", "DescribeImages") => arn("ecr", format!("repository/{}", one("repositoryName"))),
        ("dynamodb", "DescribeTable" | "Scan") => {
            arn("dynamodb", format!("table/{}", one("TableName")))
        }
        // S3 authorises HeadBucket and ListObjectsV2 as s3:ListBucket on the bucket.
        ("s3", "HeadBucket" | "ListObjectsV2") => {
            let bucket = format!("arn:aws:s3:::{}", one("Bucket"));
            return Some(("ListBucket".to_owned(), vec![bucket], None));
        }
        // A secret's ARN ends in `-` and six random characters.
        ("secretsmanager", "DescribeSecret") => match one("SecretId") {
            id if id.starts_with("arn:") => id.to_owned(),
            id => arn("secretsmanager", format!("secret:{id}-??????")),
        },
        ("route53", "ListResourceRecordSets" | "ChangeResourceRecordSets") => format!(
            "arn:aws:route53:::hostedzone/{}",
            one("HostedZoneId").trim_start_matches("/hostedzone/")
        ),
        ("route53", "GetChange") => {
            format!(
                "arn:aws:route53:::change/{}",
                one("Id").trim_start_matches("/change/")
            )
        }
        ("ssm", "SendCommand") => return Some((op.to_owned(), send_command(input, at), None)),
        ("cloudwatch", "DescribeAlarms") => {
            let alarms = each(input, "AlarmNames", "*", |a| {
                arn("cloudwatch", format!("alarm:{a}"))
            });
            return Some((op.to_owned(), alarms, None));
        }
        ("logs", "FilterLogEvents") => {
            match text(input, "logGroupName").or_else(|| text(input, "logGroupIdentifier")) {
                Some(group) if group.starts_with("arn:") => group.to_owned(),
                group => arn("logs", format!("log-group:{}:*", group.unwrap_or("*"))),
            }
        }
        _ => return None,
    };
    Some((op.to_owned(), vec![resource], None))
}

/// SendCommand is authorised on the document and on each instance it reaches. AWS's own
/// documents (`AWS-RunShellScript`) have no account in their ARN.
fn send_command(input: &Map<String, Value>, at: &ArnScope) -> Vec<String> {
    let document = text(input, "DocumentName").unwrap_or("*");
    let account = if document.starts_with("AWS-") {
        ""
    } else {
        at.account
    };
    let mut resources = vec![format!(
        "arn:aws:ssm:{}:{account}:document/{document}",
        at.region
    )];
    let instances = strings(input, "InstanceIds");
    if instances.is_empty() || input.contains_key("Targets") {
        // Targets by tag reach instances not known before the run.
        resources.push(format!(
            "arn:aws:ec2:{}:{}:instance/*",
            at.region, at.account
        ));
        resources.push(format!(
            "arn:aws:ssm:{}:{}:managed-instance/*",
            at.region, at.account
        ));
    }
    for id in instances {
        resources.push(if id.starts_with("mi-") {
            format!(
                "arn:aws:ssm:{}:{}:managed-instance/{id}",
                at.region, at.account
            )
        } else {
            format!("arn:aws:ec2:{}:{}:instance/{id}", at.region, at.account)
        });
    }
    resources
}

fn text<'a>(input: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

/// A list field's strings (a single string counts as a list of one).
fn strings<'a>(input: &'a Map<String, Value>, key: &str) -> Vec<&'a str> {
    match input.get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// One resource per item of the list field `key`, or for `absent` when it has none.
fn each(
    input: &Map<String, Value>,
    key: &str,
    absent: &str,
    resource: impl Fn(&str) -> String,
) -> Vec<String> {
    let items = strings(input, key);
    if items.is_empty() {
        vec![resource(absent)]
    } else {
        items.into_iter().map(resource).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: ArnScope = ArnScope {
        region: "us-east-1",
        account: "123456789012",
    };

    fn of(service: &str, op: &str, input: Value) -> Grant {
        let Value::Object(input) = input else {
            panic!("an object")
        };
        grant(service, op, &input, &AT).expect("known")
    }

    #[test]
    fn every_supported_operation_has_its_grant_and_none_reads_a_secret() {
        for (service, op) in super::super::operations() {
            let g = grant(service, op, &Map::new(), &AT)
                .unwrap_or_else(|| panic!("{service} {op} has no IAM grant"));
            assert!(!SECRET_READING.contains(&g.action.as_str()), "{}", g.action);
            assert!(!g.resources.is_empty());
        }
    }

    #[test]
    fn inputs_pin_the_resources() {
        let g = of(
            "ecs",
            "DescribeServices",
            json!({"cluster": "c", "services": ["s"]}),
        );
        assert_eq!(g.action, "ecs:DescribeServices");
        assert_eq!(
            g.resources,
            ["arn:aws:ecs:us-east-1:123456789012:service/c/s"]
        );
        let g = of("s3", "ListObjectsV2", json!({"Bucket": "b"}));
        assert_eq!(
            (g.action.as_str(), g.resources[0].as_str()),
            ("s3:ListBucket", "arn:aws:s3:::b")
        );
        let g = of(
            "route53",
            "ChangeResourceRecordSets",
            json!({"HostedZoneId": "/hostedzone/Z1"}),
        );
        assert_eq!(g.resources, ["arn:aws:route53:::hostedzone/Z1"]);
        let g = of(
            "ssm",
            "SendCommand",
            json!({"DocumentName": "AWS-RunShellScript", "InstanceIds": ["mi-1"]}),
        );
        assert_eq!(
            g.resources,
            [
                "arn:aws:ssm:us-east-1::document/AWS-RunShellScript",
                "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-1"
            ]
        );
        let g = of("elasticloadbalancingv2", "DescribeTargetHealth", json!({}));
        assert_eq!(
            (g.action.as_str(), g.resources[0].as_str()),
            ("elasticloadbalancing:DescribeTargetHealth", "*")
        );
        let g = of("ecs", "ListTasks", json!({"cluster": "c"}));
        assert_eq!(
            g.condition,
            Some(
                json!({"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/c"}})
            )
        );
    }
}
