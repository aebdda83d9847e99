//! STS: who the operator is (the account guard).

use serde_json::Value;

use super::output::{obj, s};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[Op {
    name: "GetCallerIdentity",
    input: &[],
}];

pub async fn call(c: &AwsClients, op: &str, _input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "GetCallerIdentity" => {
            let out = c.sts.get_caller_identity().send().await?;
            Ok(obj([
                ("UserId", s(out.user_id())),
                ("Account", s(out.account())),
                ("Arn", s(out.arn())),
            ]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}
