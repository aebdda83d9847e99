//! STS: who the operator is (the account guard).

use serde_json::Value;

use super::output::{obj, s};
use super::{AwsClients, AwsFailure};

operations! {
    GetCallerIdentity(c) {
        caller_identity(c).await
    }
}

pub async fn caller_identity(c: &AwsClients) -> Result<Value, AwsFailure> {
    let out = c.sts.get_caller_identity().send().await?;
    Ok(obj([
        ("UserId", s(out.user_id())),
        ("Account", s(out.account())),
        ("Arn", s(out.arn())),
    ]))
}
