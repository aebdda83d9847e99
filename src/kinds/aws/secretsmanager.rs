//! Secrets Manager: that the agents' API-key secrets exist, read as metadata only. Nothing
//! here reads a secret's value (no GetSecretValue or BatchGetSecretValue), and none may be
//! added.

use std::collections::HashMap;

use serde_json::{Map, Value};

use aws_sdk_secretsmanager::types::{
    ExternalSecretRotationMetadataItem, Filter, RotationRulesType, SecretListEntry, Tag,
};

use super::AwsFailure;
use super::op::{pages, self_paged};
use super::output::{dt, list, obj, s, strs};

fn tags(t: Option<&Vec<Tag>>) -> Value {
    t.map_or(Value::Null, |t| {
        list(t, |t| obj([("Key", s(t.key())), ("Value", s(t.value()))]))
    })
}

fn rotation_rules(r: Option<&RotationRulesType>) -> Value {
    r.map_or(Value::Null, |r| {
        obj([
            (
                "AutomaticallyAfterDays",
                r.automatically_after_days().into(),
            ),
            ("Duration", s(r.duration())),
            ("ScheduleExpression", s(r.schedule_expression())),
        ])
    })
}

fn rotation_metadata(m: Option<&Vec<ExternalSecretRotationMetadataItem>>) -> Value {
    m.map_or(Value::Null, |m| {
        list(m, |i| obj([("Key", s(i.key())), ("Value", s(i.value()))]))
    })
}

/// Version ids to their staging labels (`AWSCURRENT`...): metadata, not values.
fn version_stages(m: Option<&HashMap<String, Vec<String>>>) -> Value {
    m.map_or(Value::Null, |m| {
        Value::Object(
            m.iter()
                .map(|(id, stages)| (id.clone(), strs(stages)))
                .collect::<Map<_, _>>(),
        )
    })
}

fn list_entry(e: &SecretListEntry) -> Value {
    obj([
        ("ARN", s(e.arn())),
        ("Name", s(e.name())),
        ("Type", s(e.r#type())),
        ("Description", s(e.description())),
        ("KmsKeyId", s(e.kms_key_id())),
        ("RotationEnabled", e.rotation_enabled().into()),
        ("RotationLambdaARN", s(e.rotation_lambda_arn())),
        ("RotationRules", rotation_rules(e.rotation_rules())),
        (
            "ExternalSecretRotationMetadata",
            rotation_metadata(e.external_secret_rotation_metadata.as_ref()),
        ),
        (
            "ExternalSecretRotationRoleArn",
            s(e.external_secret_rotation_role_arn()),
        ),
        ("LastRotatedDate", dt(e.last_rotated_date())),
        ("LastChangedDate", dt(e.last_changed_date())),
        ("LastAccessedDate", dt(e.last_accessed_date())),
        ("DeletedDate", dt(e.deleted_date())),
        ("NextRotationDate", dt(e.next_rotation_date())),
        ("Tags", tags(e.tags.as_ref())),
        (
            "SecretVersionsToStages",
            version_stages(e.secret_versions_to_stages()),
        ),
        ("OwningService", s(e.owning_service())),
        ("CreatedDate", dt(e.created_date())),
        ("PrimaryRegion", s(e.primary_region())),
    ])
}

operations! {
    ListSecrets(
        c,
        Filters: objects,
        IncludePlannedDeletion: bool,
        MaxResults: i32,
        NextToken: str,
        SortOrder: str,
        SortBy: str,
    ) {
        let filters = Filters
            .iter()
            .map(|f| {
                Ok(Filter::builder()
                    .set_key(f.str("Key")?.map(|k| k.as_str().into()))
                    .set_values(f.strs("Values")?)
                    .build())
            })
            .collect::<Result<Vec<_>, AwsFailure>>()?;
        let paged = self_paged(&NextToken, &MaxResults);
        let req = c
            .secretsmanager
            .list_secrets()
            .set_include_planned_deletion(IncludePlannedDeletion)
            .set_max_results(MaxResults)
            .set_next_token(NextToken)
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_sort_order(SortOrder.map(|o| o.as_str().into()))
            .set_sort_by(SortBy.map(|b| b.as_str().into()));
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        Ok(obj([
            (
                "SecretList",
                Value::Array(
                    pages
                        .iter()
                        .flat_map(|p| p.secret_list())
                        .map(list_entry)
                        .collect(),
                ),
            ),
            ("NextToken", s(pages.last().and_then(|p| p.next_token()))),
        ]))
    }
    DescribeSecret(c, SecretId: req_str) {
        let out = c
            .secretsmanager
            .describe_secret()
            .secret_id(SecretId)
            .send()
            .await?;
        Ok(obj([
            ("ARN", s(out.arn())),
            ("Name", s(out.name())),
            ("Type", s(out.r#type())),
            ("Description", s(out.description())),
            ("KmsKeyId", s(out.kms_key_id())),
            ("RotationEnabled", out.rotation_enabled().into()),
            ("RotationLambdaARN", s(out.rotation_lambda_arn())),
            ("RotationRules", rotation_rules(out.rotation_rules())),
            (
                "ExternalSecretRotationMetadata",
                rotation_metadata(out.external_secret_rotation_metadata.as_ref()),
            ),
            (
                "ExternalSecretRotationRoleArn",
                s(out.external_secret_rotation_role_arn()),
            ),
            ("LastRotatedDate", dt(out.last_rotated_date())),
            ("LastChangedDate", dt(out.last_changed_date())),
            ("LastAccessedDate", dt(out.last_accessed_date())),
            ("DeletedDate", dt(out.deleted_date())),
            ("NextRotationDate", dt(out.next_rotation_date())),
            ("Tags", tags(out.tags.as_ref())),
            (
                "VersionIdsToStages",
                version_stages(out.version_ids_to_stages()),
            ),
            ("OwningService", s(out.owning_service())),
            ("CreatedDate", dt(out.created_date())),
            ("PrimaryRegion", s(out.primary_region())),
            (
                "ReplicationStatus",
                out.replication_status.as_deref().map_or(Value::Null, |r| {
                    list(r, |r| {
                        obj([
                            ("Region", s(r.region())),
                            ("KmsKeyId", s(r.kms_key_id())),
                            ("Status", s(r.status().map(|x| x.as_str()))),
                            ("StatusMessage", s(r.status_message())),
                            ("LastAccessedDate", dt(r.last_accessed_date())),
                        ])
                    })
                }),
            ),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listed_secret_keeps_its_type() {
        let entry = SecretListEntry::builder()
            .name("/outpost/system/GITHUB_PAT")
            .r#type("aws:secretsmanager")
            .build();
        let v = list_entry(&entry);
        assert_eq!(v["Type"], json!("aws:secretsmanager"));
        assert_eq!(v["Name"], json!("/outpost/system/GITHUB_PAT"));
    }
}
