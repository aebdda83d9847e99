//! The IAM policy document of a set of grants: one statement per set of resources (actions
//! that need exactly the same resources share one, so no action reaches a resource another
//! needed), the S3 state backend's own grants, and no secret-reading action ever.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::iam::{Grant, SECRET_READING};

/// IAM's policy language version (the only current one).
pub const VERSION: &str = "2012-10-17";

/// Where an S3 state backend keeps its objects (`s3://bucket/prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBucket {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl StateBucket {
    /// `s3://bucket/prefix`; `None` for anything else (a local state directory).
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| StateBucket {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// What the backend does: reads and conditionally writes the state and lock objects,
    /// appends audit and backup objects, deletes the lock, and lists its prefix.
    pub fn grants(&self) -> Vec<Grant> {
        let objects = if self.prefix.is_empty() {
            format!("arn:aws:s3:::{}/*", self.bucket)
        } else {
            format!("arn:aws:s3:::{}/{}/*", self.bucket, self.prefix)
        };
        let object_grant = |action: &str| Grant {
            action: format!("s3:{action}"),
            resources: vec![objects.clone()],
            condition: None,
        };
        let listed = if self.prefix.is_empty() {
            "*".to_owned()
        } else {
            format!("{}/*", self.prefix)
        };
        vec![
            object_grant("GetObject"),
            object_grant("PutObject"),
            object_grant("DeleteObject"),
            Grant {
                action: "s3:ListBucket".into(),
                resources: vec![format!("arn:aws:s3:::{}", self.bucket)],
                condition: Some(json!({ "StringLike": { "s3:prefix": [listed] } })),
            },
        ]
    }
}

/// The statements being made: by their resources and condition (as text), the actions
/// needing exactly those and the condition itself.
type Statements = BTreeMap<(Vec<String>, String), (Vec<String>, Option<Value>)>;

/// A policy document and the actions kept out of it because they read secrets.
pub struct Policy {
    pub document: Value,
    pub withheld: Vec<String>,
}

/// The document granting `grants`, less any secret-reading action.
pub fn document(grants: impl IntoIterator<Item = Grant>) -> Policy {
    let mut withheld = BTreeSet::new();
    // Each action (with its condition) and every resource it needs.
    let mut by_action: BTreeMap<(String, String), (BTreeSet<String>, Option<Value>)> =
        BTreeMap::new();
    for g in grants {
        if SECRET_READING.contains(&g.action.as_str()) {
            withheld.insert(g.action);
            continue;
        }
        let key = (
            g.action,
            g.condition
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default(),
        );
        let entry = by_action
            .entry(key)
            .or_insert_with(|| (BTreeSet::new(), g.condition));
        entry.0.extend(g.resources);
    }
    // Actions needing the same resources under the same condition share a statement.
    let mut statements: Statements = BTreeMap::new();
    for ((action, cond_key), (resources, condition)) in by_action {
        let resources = if resources.contains("*") {
            vec!["*".to_owned()]
        } else {
            resources.into_iter().collect()
        };
        statements
            .entry((resources, cond_key))
            .or_insert_with(|| (Vec::new(), condition))
            .0
            .push(action);
    }
    let mut sids = BTreeSet::new();
    let statements: Vec<Value> = statements
        .into_iter()
        .map(|((resources, _), (actions, condition))| {
            let mut statement = json!({
                "Sid": unique_sid(&actions[0], &mut sids),
                "Effect": "Allow",
                "Action": actions,
                "Resource": resources,
            });
            if let Some(c) = condition {
                statement["Condition"] = c;
            }
            statement
        })
        .collect();
    Policy {
        document: json!({ "Version": VERSION, "Statement": statements }),
        withheld: withheld.into_iter().collect(),
    }
}

/// `ecs:DescribeServices` → `EcsDescribeServices` (a Sid is letters and digits), numbered
/// when taken.
fn unique_sid(action: &str, taken: &mut BTreeSet<String>) -> String {
    let base: String = action
        .split([':', '-'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<String>()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut sid = base.clone();
    let mut n = 2;
    while !taken.insert(sid.clone()) {
        sid = format!("{base}{n}");
        n += 1;
    }
    sid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(action: &str, resource: &str) -> Grant {
        Grant {
            action: action.into(),
            resources: vec![resource.into()],
            condition: None,
        }
    }

    #[test]
    fn actions_share_a_statement_only_when_they_need_the_same_resources() {
        let policy = document([
            grant("dynamodb:DescribeTable", "arn:t1"),
            grant("dynamodb:Scan", "arn:t1"),
            grant("dynamodb:Scan", "arn:t2"),
            grant("secretsmanager:GetSecretValue", "arn:s"),
        ]);
        assert_eq!(policy.withheld, ["secretsmanager:GetSecretValue"]);
        assert_eq!(
            policy.document,
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "DynamodbDescribeTable", "Effect": "Allow",
                 "Action": ["dynamodb:DescribeTable"], "Resource": ["arn:t1"]},
                {"Sid": "DynamodbScan", "Effect": "Allow",
                 "Action": ["dynamodb:Scan"], "Resource": ["arn:t1", "arn:t2"]},
            ]})
        );
    }

    #[test]
    fn the_state_bucket_is_read_from_its_url_and_granted_its_prefix_only() {
        assert_eq!(StateBucket::parse("./.outpost-migrate"), None);
        let state = StateBucket::parse("s3://team-state/outpost/prod/").expect("an S3 URL");
        assert_eq!(
            (state.bucket.as_str(), state.prefix.as_str()),
            ("team-state", "outpost/prod")
        );
        let grants = state.grants();
        assert_eq!(
            grants[0].resources,
            ["arn:aws:s3:::team-state/outpost/prod/*"]
        );
        assert_eq!(
            grants[3].condition,
            Some(json!({"StringLike": {"s3:prefix": ["outpost/prod/*"]}}))
        );
    }
}
