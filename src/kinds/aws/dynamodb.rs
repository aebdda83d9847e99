//! DynamoDB: that the control plane's tables (dispatches, workspaces, pool) exist and are
//! ACTIVE, and finding the items a step in doubt may have made (a `verify` probe's Scan).

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use aws_sdk_dynamodb::types::{
    ArchivalSummary, BillingModeSummary, GlobalSecondaryIndexDescription,
    GlobalSecondaryIndexWarmThroughputDescription, KeySchemaElement,
    LocalSecondaryIndexDescription, OnDemandThroughput, Projection,
    ProvisionedThroughputDescription, ReplicaDescription, RestoreSummary, SseDescription,
    StreamSpecification, TableClassSummary, TableDescription, TableWarmThroughputDescription,
};

use super::AwsFailure;
use super::op::{pages, self_paged};
use super::output::{dt, list, obj, s, strs};

/// An item attribute as the AWS CLI prints it: `{"S": "text"}`, `{"N": "1"}`, `{"M": {...}}`...
fn attribute_json(v: &AttributeValue) -> Value {
    let one = |k: &str, v: Value| Value::Object(Map::from_iter([(k.to_owned(), v)]));
    match v {
        AttributeValue::S(t) => one("S", t.as_str().into()),
        AttributeValue::N(n) => one("N", n.as_str().into()),
        AttributeValue::Bool(b) => one("BOOL", (*b).into()),
        AttributeValue::Null(b) => one("NULL", (*b).into()),
        AttributeValue::B(b) => one("B", BASE64.encode(b.as_ref()).into()),
        AttributeValue::Ss(v) => one("SS", strs(v)),
        AttributeValue::Ns(v) => one("NS", strs(v)),
        AttributeValue::Bs(v) => one("BS", list(v, |b| Value::String(BASE64.encode(b.as_ref())))),
        AttributeValue::L(v) => one("L", list(v, attribute_json)),
        AttributeValue::M(m) => one("M", item_json(m)),
        _ => Value::Null,
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect(),
    )
}

/// An attribute written as the AWS CLI takes it (`{"S": "claude"}`), `path` naming it in errors.
fn attribute(path: &str, v: &Value) -> Result<AttributeValue, AwsFailure> {
    let wrong = || {
        AwsFailure::Input(format!(
            "`{path}` must be one typed value such as {{\"S\": \"text\"}} or {{\"N\": \"1\"}}, not {v}"
        ))
    };
    let Some((ty, inner)) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(wrong());
    };
    let text = |x: &Value| match x {
        Value::String(t) => Some(t.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let texts = |x: &Value| {
        x.as_array()
            .and_then(|a| a.iter().map(text).collect::<Option<Vec<_>>>())
    };
    let blob = |x: &Value| {
        x.as_str()
            .and_then(|t| BASE64.decode(t).ok())
            .map(Blob::new)
    };
    Ok(match ty.as_str() {
        "S" => AttributeValue::S(inner.as_str().ok_or_else(wrong)?.to_owned()),
        "N" => AttributeValue::N(text(inner).ok_or_else(wrong)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or_else(wrong)?),
        "NULL" => AttributeValue::Null(inner.as_bool().ok_or_else(wrong)?),
        "B" => AttributeValue::B(blob(inner).ok_or_else(wrong)?),
        "SS" => AttributeValue::Ss(texts(inner).ok_or_else(wrong)?),
        "NS" => AttributeValue::Ns(texts(inner).ok_or_else(wrong)?),
        "BS" => AttributeValue::Bs(
            inner
                .as_array()
                .and_then(|a| a.iter().map(blob).collect::<Option<Vec<_>>>())
                .ok_or_else(wrong)?,
        ),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or_else(wrong)?
                .iter()
                .enumerate()
                .map(|(i, x)| attribute(&format!("{path}[{i}]"), x))
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(attributes(path, inner)?.unwrap_or_default()),
        _ => return Err(wrong()),
    })
}

/// A map of name to typed value (`ExpressionAttributeValues`, `ExclusiveStartKey`).
fn attributes(
    path: &str,
    v: &Value,
) -> Result<Option<HashMap<String, AttributeValue>>, AwsFailure> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| Ok((k.clone(), attribute(&format!("{path}.{k}"), x)?)))
            .collect::<Result<HashMap<_, _>, _>>()
            .map(Some),
        other => Err(AwsFailure::Input(format!(
            "`{path}` must be a mapping of name to typed value, not {other}"
        ))),
    }
}

fn names(raw: Option<&Value>) -> Result<Option<HashMap<String, String>>, AwsFailure> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    raw.as_object()
        .and_then(|m| {
            m.iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect::<Option<HashMap<_, _>>>()
        })
        .map(Some)
        .ok_or_else(|| {
            AwsFailure::Input(format!(
                "`ExpressionAttributeNames` must map `#name` to an attribute name, not {raw}"
            ))
        })
}

fn key_schema(k: Option<&Vec<KeySchemaElement>>) -> Value {
    k.map_or(Value::Null, |k| {
        list(k, |e| {
            obj([
                ("AttributeName", e.attribute_name().into()),
                ("KeyType", e.key_type().as_str().into()),
            ])
        })
    })
}

fn projection(p: Option<&Projection>) -> Value {
    p.map_or(Value::Null, |p| {
        obj([
            ("ProjectionType", s(p.projection_type().map(|t| t.as_str()))),
            (
                "NonKeyAttributes",
                p.non_key_attributes.as_deref().map_or(Value::Null, strs),
            ),
        ])
    })
}

fn provisioned(p: Option<&ProvisionedThroughputDescription>) -> Value {
    p.map_or(Value::Null, |p| {
        obj([
            ("LastIncreaseDateTime", dt(p.last_increase_date_time())),
            ("LastDecreaseDateTime", dt(p.last_decrease_date_time())),
            (
                "NumberOfDecreasesToday",
                p.number_of_decreases_today().into(),
            ),
            ("ReadCapacityUnits", p.read_capacity_units().into()),
            ("WriteCapacityUnits", p.write_capacity_units().into()),
        ])
    })
}

fn on_demand(o: Option<&OnDemandThroughput>) -> Value {
    o.map_or(Value::Null, |o| {
        obj([
            ("MaxReadRequestUnits", o.max_read_request_units().into()),
            ("MaxWriteRequestUnits", o.max_write_request_units().into()),
        ])
    })
}

fn table_warm(w: Option<&TableWarmThroughputDescription>) -> Value {
    w.map_or(Value::Null, |w| {
        obj([
            ("ReadUnitsPerSecond", w.read_units_per_second().into()),
            ("WriteUnitsPerSecond", w.write_units_per_second().into()),
            ("Status", s(w.status().map(|x| x.as_str()))),
        ])
    })
}

fn index_warm(w: Option<&GlobalSecondaryIndexWarmThroughputDescription>) -> Value {
    w.map_or(Value::Null, |w| {
        obj([
            ("ReadUnitsPerSecond", w.read_units_per_second().into()),
            ("WriteUnitsPerSecond", w.write_units_per_second().into()),
            ("Status", s(w.status().map(|x| x.as_str()))),
        ])
    })
}

fn table_class(c: Option<&TableClassSummary>) -> Value {
    c.map_or(Value::Null, |c| {
        obj([
            ("TableClass", s(c.table_class().map(|x| x.as_str()))),
            ("LastUpdateDateTime", dt(c.last_update_date_time())),
        ])
    })
}

fn local_index(i: &LocalSecondaryIndexDescription) -> Value {
    obj([
        ("IndexName", s(i.index_name())),
        ("KeySchema", key_schema(i.key_schema.as_ref())),
        ("Projection", projection(i.projection())),
        ("IndexSizeBytes", i.index_size_bytes().into()),
        ("ItemCount", i.item_count().into()),
        ("IndexArn", s(i.index_arn())),
    ])
}

fn global_index(i: &GlobalSecondaryIndexDescription) -> Value {
    obj([
        ("IndexName", s(i.index_name())),
        ("KeySchema", key_schema(i.key_schema.as_ref())),
        ("Projection", projection(i.projection())),
        ("IndexStatus", s(i.index_status().map(|x| x.as_str()))),
        ("Backfilling", i.backfilling().into()),
        (
            "ProvisionedThroughput",
            provisioned(i.provisioned_throughput()),
        ),
        ("IndexSizeBytes", i.index_size_bytes().into()),
        ("ItemCount", i.item_count().into()),
        ("IndexArn", s(i.index_arn())),
        ("OnDemandThroughput", on_demand(i.on_demand_throughput())),
        ("WarmThroughput", index_warm(i.warm_throughput())),
    ])
}

fn replica(r: &ReplicaDescription) -> Value {
    obj([
        ("RegionName", s(r.region_name())),
        ("ReplicaStatus", s(r.replica_status().map(|x| x.as_str()))),
        ("ReplicaArn", s(r.replica_arn())),
        (
            "ReplicaStatusDescription",
            s(r.replica_status_description()),
        ),
        (
            "ReplicaStatusPercentProgress",
            s(r.replica_status_percent_progress()),
        ),
        ("KMSMasterKeyId", s(r.kms_master_key_id())),
        (
            "ProvisionedThroughputOverride",
            r.provisioned_throughput_override()
                .map_or(Value::Null, |p| {
                    obj([("ReadCapacityUnits", p.read_capacity_units().into())])
                }),
        ),
        (
            "OnDemandThroughputOverride",
            r.on_demand_throughput_override().map_or(Value::Null, |o| {
                obj([("MaxReadRequestUnits", o.max_read_request_units().into())])
            }),
        ),
        ("WarmThroughput", table_warm(r.warm_throughput())),
        (
            "GlobalSecondaryIndexes",
            r.global_secondary_indexes
                .as_deref()
                .map_or(Value::Null, |g| {
                    list(g, |i| {
                        obj([
                            ("IndexName", s(i.index_name())),
                            (
                                "ProvisionedThroughputOverride",
                                i.provisioned_throughput_override()
                                    .map_or(Value::Null, |p| {
                                        obj([("ReadCapacityUnits", p.read_capacity_units().into())])
                                    }),
                            ),
                            (
                                "OnDemandThroughputOverride",
                                i.on_demand_throughput_override().map_or(Value::Null, |o| {
                                    obj([(
                                        "MaxReadRequestUnits",
                                        o.max_read_request_units().into(),
                                    )])
                                }),
                            ),
                            ("WarmThroughput", index_warm(i.warm_throughput())),
                        ])
                    })
                }),
        ),
        (
            "ReplicaInaccessibleDateTime",
            dt(r.replica_inaccessible_date_time()),
        ),
        (
            "ReplicaTableClassSummary",
            table_class(r.replica_table_class_summary()),
        ),
        (
            "GlobalTableSettingsReplicationMode",
            s(r.global_table_settings_replication_mode()
                .map(|x| x.as_str())),
        ),
    ])
}

fn billing(b: Option<&BillingModeSummary>) -> Value {
    b.map_or(Value::Null, |b| {
        obj([
            ("BillingMode", s(b.billing_mode().map(|x| x.as_str()))),
            (
                "LastUpdateToPayPerRequestDateTime",
                dt(b.last_update_to_pay_per_request_date_time()),
            ),
        ])
    })
}

fn stream(st: Option<&StreamSpecification>) -> Value {
    st.map_or(Value::Null, |st| {
        obj([
            ("StreamEnabled", st.stream_enabled().into()),
            (
                "StreamViewType",
                s(st.stream_view_type().map(|x| x.as_str())),
            ),
        ])
    })
}

fn restore(r: Option<&RestoreSummary>) -> Value {
    r.map_or(Value::Null, |r| {
        obj([
            ("SourceBackupArn", s(r.source_backup_arn())),
            ("SourceTableArn", s(r.source_table_arn())),
            ("RestoreDateTime", dt(Some(r.restore_date_time()))),
            ("RestoreInProgress", r.restore_in_progress().into()),
        ])
    })
}

fn sse(e: Option<&SseDescription>) -> Value {
    e.map_or(Value::Null, |e| {
        obj([
            ("Status", s(e.status().map(|x| x.as_str()))),
            ("SSEType", s(e.sse_type().map(|x| x.as_str()))),
            ("KMSMasterKeyArn", s(e.kms_master_key_arn())),
            (
                "InaccessibleEncryptionDateTime",
                dt(e.inaccessible_encryption_date_time()),
            ),
        ])
    })
}

fn archival(a: Option<&ArchivalSummary>) -> Value {
    a.map_or(Value::Null, |a| {
        obj([
            ("ArchivalDateTime", dt(a.archival_date_time())),
            ("ArchivalReason", s(a.archival_reason())),
            ("ArchivalBackupArn", s(a.archival_backup_arn())),
        ])
    })
}

fn table(t: &TableDescription) -> Value {
    obj([
        (
            "AttributeDefinitions",
            t.attribute_definitions.as_deref().map_or(Value::Null, |a| {
                list(a, |a| {
                    obj([
                        ("AttributeName", a.attribute_name().into()),
                        ("AttributeType", a.attribute_type().as_str().into()),
                    ])
                })
            }),
        ),
        ("TableName", s(t.table_name())),
        ("KeySchema", key_schema(t.key_schema.as_ref())),
        ("TableStatus", s(t.table_status().map(|x| x.as_str()))),
        ("CreationDateTime", dt(t.creation_date_time())),
        (
            "ProvisionedThroughput",
            provisioned(t.provisioned_throughput()),
        ),
        ("TableSizeBytes", t.table_size_bytes().into()),
        ("ItemCount", t.item_count().into()),
        ("TableArn", s(t.table_arn())),
        ("TableId", s(t.table_id())),
        ("BillingModeSummary", billing(t.billing_mode_summary())),
        (
            "LocalSecondaryIndexes",
            t.local_secondary_indexes
                .as_deref()
                .map_or(Value::Null, |l| list(l, local_index)),
        ),
        (
            "GlobalSecondaryIndexes",
            t.global_secondary_indexes
                .as_deref()
                .map_or(Value::Null, |g| list(g, global_index)),
        ),
        ("StreamSpecification", stream(t.stream_specification())),
        ("LatestStreamLabel", s(t.latest_stream_label())),
        ("LatestStreamArn", s(t.latest_stream_arn())),
        ("GlobalTableVersion", s(t.global_table_version())),
        (
            "Replicas",
            t.replicas
                .as_deref()
                .map_or(Value::Null, |r| list(r, replica)),
        ),
        (
            "GlobalTableWitnesses",
            t.global_table_witnesses
                .as_deref()
                .map_or(Value::Null, |w| {
                    list(w, |w| {
                        obj([
                            ("RegionName", s(w.region_name())),
                            ("WitnessStatus", s(w.witness_status().map(|x| x.as_str()))),
                        ])
                    })
                }),
        ),
        (
            "GlobalTableSettingsReplicationMode",
            s(t.global_table_settings_replication_mode()
                .map(|x| x.as_str())),
        ),
        ("RestoreSummary", restore(t.restore_summary())),
        ("SSEDescription", sse(t.sse_description())),
        ("ArchivalSummary", archival(t.archival_summary())),
        ("TableClassSummary", table_class(t.table_class_summary())),
        (
            "DeletionProtectionEnabled",
            t.deletion_protection_enabled().into(),
        ),
        ("OnDemandThroughput", on_demand(t.on_demand_throughput())),
        ("WarmThroughput", table_warm(t.warm_throughput())),
        (
            "MultiRegionConsistency",
            s(t.multi_region_consistency().map(|x| x.as_str())),
        ),
    ])
}

operations! {
    DescribeTable(c, TableName: req_str) {
        let out = c
            .dynamodb
            .describe_table()
            .table_name(TableName)
            .send()
            .await?;
        Ok(obj([("Table", out.table().map_or(Value::Null, table))]))
    }
    Scan(
        c,
        TableName: req_str,
        IndexName: str,
        FilterExpression: str,
        ProjectionExpression: str,
        ExpressionAttributeNames: value,
        ExpressionAttributeValues: value,
        ConsistentRead: bool,
        Limit: i32,
        ExclusiveStartKey: value,
    ) {
        let paged = self_paged(&ExclusiveStartKey, &Limit);
        let req = c
            .dynamodb
            .scan()
            .table_name(TableName)
            .set_index_name(IndexName)
            .set_filter_expression(FilterExpression)
            .set_projection_expression(ProjectionExpression)
            .set_expression_attribute_names(names(ExpressionAttributeNames)?)
            .set_expression_attribute_values(
                ExpressionAttributeValues.map(|v| attributes("ExpressionAttributeValues", v))
                    .transpose()?
                    .flatten(),
            )
            .set_consistent_read(ConsistentRead)
            .set_limit(Limit)
            .set_exclusive_start_key(
                ExclusiveStartKey.map(|v| attributes("ExclusiveStartKey", v))
                    .transpose()?
                    .flatten(),
            );
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        let items: Vec<Value> = pages
            .iter()
            .flat_map(|p| p.items())
            .map(item_json)
            .collect();
        Ok(obj([
            ("Count", pages.iter().map(|p| p.count()).sum::<i32>().into()),
            (
                "ScannedCount",
                pages.iter().map(|p| p.scanned_count()).sum::<i32>().into(),
            ),
            ("Items", Value::Array(items)),
            (
                "LastEvaluatedKey",
                pages
                    .last()
                    .and_then(|p| p.last_evaluated_key())
                    .map_or(Value::Null, item_json),
            ),
        ]))
    }
}
