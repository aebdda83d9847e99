//! `aws`: one AWS API call through the AWS SDK for Rust. `input` uses the API's own field
//! names (as `aws ... --cli-input-yaml` takes them) and the output is JSON in the API's own
//! field names, so an `aws ... --query` expression works unchanged in `capture` and `expect`.

mod clients;
mod error;
pub mod iam;
mod input;
#[macro_use]
mod op;
mod output;
pub mod policy;
mod shape;
mod spec_schema;

mod cloudtrail;
mod cloudwatch;
mod dynamodb;
mod ecr;
mod ecs;
mod elbv2;
mod logs;
mod metric_data;
mod route53;
mod s3;
mod secretsmanager;
mod ssm;
mod sts;

pub use clients::{AwsClients, AwsConfig, AwsContext, AwsTimeouts, load_trust_roots_early};
pub use error::{AwsFailure, NO_CREDENTIALS};
pub use input::Input;
pub use op::Op;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Aws;

/// A supported service: its name in a step, aliases (the CLI's), and its operations.
struct Service {
    name: &'static str,
    aliases: &'static [&'static str],
    ops: &'static [Op],
}

const SERVICES: &[Service] = &[
    Service {
        name: "sts",
        aliases: &[],
        ops: sts::OPS,
    },
    Service {
        name: "ecs",
        aliases: &[],
        ops: ecs::OPS,
    },
    Service {
        name: "elasticloadbalancingv2",
        aliases: &["elbv2"],
        ops: elbv2::OPS,
    },
    Service {
        name: "ecr",
        aliases: &[],
        ops: ecr::OPS,
    },
    Service {
        name: "dynamodb",
        aliases: &[],
        ops: dynamodb::OPS,
    },
    Service {
        name: "s3",
        aliases: &["s3api"],
        ops: s3::OPS,
    },
    Service {
        name: "secretsmanager",
        aliases: &[],
        ops: secretsmanager::OPS,
    },
    Service {
        name: "route53",
        aliases: &[],
        ops: route53::OPS,
    },
    Service {
        name: "cloudtrail",
        aliases: &[],
        ops: cloudtrail::OPS,
    },
    Service {
        name: "ssm",
        aliases: &[],
        ops: ssm::OPS,
    },
    Service {
        name: "cloudwatch",
        aliases: &[],
        ops: cloudwatch::OPS,
    },
    Service {
        name: "logs",
        aliases: &["cloudwatchlogs"],
        ops: logs::OPS,
    },
];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    service: String,
    operation: String,
    #[serde(default)]
    input: Map<String, Value>,
}

/// Every supported operation as `(service, operation)`, in the API's names: what `check`
/// accepts, for listings and the tests that hold each operation's output to the AWS CLI's.
pub fn operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    SERVICES
        .iter()
        .flat_map(|s| s.ops.iter().map(move |o| (s.name, o.name)))
}

fn find_service(name: &str) -> Option<&'static Service> {
    let name = name.to_ascii_lowercase();
    SERVICES
        .iter()
        .find(|s| s.name == name || s.aliases.contains(&name.as_str()))
}

/// The service an `aws` step's spec calls, by its canonical name (aliases resolved); `None`
/// for a spec naming no supported service.
pub fn service_of(spec: &Value) -> Option<&'static str> {
    let name = spec.get("service").and_then(Value::as_str)?;
    find_service(name).map(|s| s.name)
}

/// `describe-clusters` (the CLI's spelling) and `DescribeClusters` (the API's) both work.
pub fn canonical_operation(op: &str) -> String {
    if op.contains('-') {
        op.split('-')
            .filter(|p| !p.is_empty())
            .map(|p| p[..1].to_ascii_uppercase() + &p[1..])
            .collect()
    } else {
        op.to_owned()
    }
}

fn resolve(spec: &Spec) -> Result<(&'static Service, &'static Op), String> {
    let Some(service) = find_service(&spec.service) else {
        let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        return Err(format!(
            "unsupported AWS service `{}`; supported: {}",
            spec.service,
            names.join(", ")
        ));
    };
    let op_name = canonical_operation(&spec.operation);
    let Some(op) = service.ops.iter().find(|o| o.name == op_name) else {
        let ops: Vec<&str> = service.ops.iter().map(|o| o.name).collect();
        return Err(format!(
            "unsupported {} operation `{}`; supported: {}",
            service.name,
            spec.operation,
            ops.join(", ")
        ));
    };
    Ok((service, op))
}

/// Read-only by name, as AWS names its reads: Describe*, List*, Get*, Lookup*, Head*, Filter*
/// (and DynamoDB's Scan); every other operation is a write.
fn is_read_only(op: &str) -> bool {
    [
        "Describe", "List", "Get", "Lookup", "Head", "Filter", "Scan",
    ]
    .iter()
    .any(|p| op.starts_with(p))
}

fn invalid(key: &str, message: String) -> SpecError {
    SpecError {
        path: vec![key.to_owned()],
        message,
    }
}

impl StepKind for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        spec_schema::register(generator)
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        let s: Spec = parse_spec(spec)?;
        let (service, op) = resolve(&s).map_err(|m| {
            let key = if find_service(&s.service).is_none() {
                "service"
            } else {
                "operation"
            };
            invalid(key, m)
        })?;
        if let Some(unknown) = s.input.keys().find(|k| !op.input.contains(&k.as_str())) {
            return Err(invalid(
                "input",
                format!(
                    "unknown input field `{unknown}` for {} {}; it takes: {}",
                    service.name,
                    op.name,
                    if op.input.is_empty() {
                        "nothing".to_string()
                    } else {
                        op.input.join(", ")
                    }
                ),
            ));
        }
        Ok(())
    }

    fn access(&self, spec: &Value) -> Access {
        if self.writes_by_nature(spec).is_none() {
            Access::ReadOnly
        } else {
            Access::Mutating
        }
    }

    fn writes_by_nature(&self, spec: &Value) -> Option<String> {
        let op = spec
            .get("operation")
            .and_then(Value::as_str)
            .map(canonical_operation)
            .unwrap_or_default();
        (!is_read_only(&op)).then(|| {
            format!("`{op}` is not a read (reads are Describe*, List*, Get*, Lookup*, Head*, Filter*, Scan)")
        })
    }

    fn describe(&self, spec: &Value) -> String {
        match parse_spec::<Spec>(spec) {
            Ok(s) => {
                let op = canonical_operation(&s.operation);
                if s.input.is_empty() {
                    format!("aws {} {op}", s.service)
                } else {
                    format!("aws {} {op} {}", s.service, Value::Object(s.input))
                }
            }
            Err(_) => spec.to_string(),
        }
    }

    fn run<'a>(&'a self, spec: Value, _step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let spec: Spec = parse_spec(&spec).map_err(|e| KindFailure::failed(e.message))?;
            let (service, op) = resolve(&spec).map_err(KindFailure::failed)?;
            let clients = ctx.aws.clients().await.map_err(KindFailure::setup)?;
            let (service, name) = (service.name, op.name);
            // Identical reads in flight at once (a `for_each` over one list call) share one call.
            let key = format!("{service} {name} {}", Value::Object(spec.input.clone()));
            let owned = async move {
                let input = Input::new(service, name, &spec.input);
                (op.call)(&clients, &input)
                    .await
                    .map_err(|e| e.into_kind_failure(service, name, &clients.endpoint_url(service)))
            };
            if is_read_only(name) {
                ctx.aws.single_flight(key, owned).await
            } else {
                owned.await
            }
        })
    }
}

/// Who the credentials are and where the clients call: for the account guard and the
/// operator recorded in state.
#[derive(Debug, Clone)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub region: String,
}

/// The caller's identity, for the account guard and the operator recorded in state: asked of
/// STS once a run (the first caller asks, later ones share its answer).
pub async fn caller_identity(ctx: &AwsContext) -> Result<CallerIdentity, KindFailure> {
    ctx.identity
        .get_or_init(|| ask_caller_identity(ctx))
        .await
        .clone()
}

async fn ask_caller_identity(ctx: &AwsContext) -> Result<CallerIdentity, KindFailure> {
    let clients = ctx.clients().await.map_err(KindFailure::setup)?;
    let out = sts::caller_identity(&clients).await.map_err(|e| {
        e.into_kind_failure("sts", "GetCallerIdentity", &clients.endpoint_url("sts"))
    })?;
    let field = |name: &str| {
        out.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(CallerIdentity {
        account: field("Account"),
        arn: field("Arn"),
        region: clients.region.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_resolve_by_api_or_cli_name() {
        assert!(Aws.check(&json!({"service": "ecs", "operation": "DescribeClusters", "input": {"clusters": ["x"]}})).is_ok());
        assert!(
            Aws.check(&json!({"service": "elbv2", "operation": "describe-load-balancers"}))
                .is_ok()
        );
        let e = Aws
            .check(&json!({"service": "ecs", "operation": "DeleteCluster"}))
            .unwrap_err();
        assert!(
            e.message
                .contains("supported: DescribeClusters, DescribeServices"),
            "{}",
            e.message
        );
        let e = Aws.check(&json!({"service": "ecs", "operation": "DescribeClusters", "input": {"cluster": "x"}})).unwrap_err();
        assert!(
            e.message.contains("unknown input field `cluster`"),
            "{}",
            e.message
        );
        assert!(
            Aws.check(&json!({"service": "lambda", "operation": "Invoke"}))
                .is_err()
        );
    }

    #[test]
    fn each_operation_is_declared_once_per_service() {
        for service in SERVICES {
            let mut names: Vec<&str> = service.ops.iter().map(|o| o.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), service.ops.len(), "{}", service.name);
        }
    }

    #[test]
    fn read_only_by_operation_name() {
        assert_eq!(
            Aws.access(&json!({"service": "ecs", "operation": "DescribeServices"})),
            Access::ReadOnly
        );
        assert_eq!(
            Aws.access(&json!({"service": "ecs", "operation": "UpdateService"})),
            Access::Mutating
        );
        assert_eq!(
            Aws.access(&json!({"service": "route53", "operation": "ChangeResourceRecordSets"})),
            Access::Mutating
        );
        assert_eq!(
            Aws.access(&json!({"service": "ssm", "operation": "send-command"})),
            Access::Mutating
        );
        let change = json!({"service": "route53", "operation": "change-resource-record-sets"});
        assert!(
            Aws.writes_by_nature(&change)
                .unwrap()
                .contains("`ChangeResourceRecordSets` is not a read")
        );
        assert_eq!(
            Aws.writes_by_nature(&json!({"service": "dynamodb", "operation": "Scan"})),
            None
        );
    }
}
