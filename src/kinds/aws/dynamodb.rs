//! DynamoDB: that the control plane's tables (dispatches, workspaces, pool) exist and are
//! ACTIVE.

use serde_json::Value;

use aws_sdk_dynamodb::types::{
    GlobalSecondaryIndexWarmThroughputDescription, KeySchemaElement, OnDemandThroughput,
    Projection, ProvisionedThroughputDescription, TableClassSummary, TableDescription,
    TableWarmThroughputDescription,
};

use super::output::{dt, list, obj, s, strs};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[Op {
    name: "DescribeTable",
    input: &["TableName"],
}];

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
        (
            "BillingModeSummary",
            t.billing_mode_summary().map_or(Value::Null, |b| {
                obj([
                    ("BillingMode", s(b.billing_mode().map(|x| x.as_str()))),
                    (
                        "LastUpdateToPayPerRequestDateTime",
                        dt(b.last_update_to_pay_per_request_date_time()),
                    ),
                ])
            }),
        ),
        (
            "LocalSecondaryIndexes",
            t.local_secondary_indexes
                .as_deref()
                .map_or(Value::Null, |l| {
                    list(l, |i| {
                        obj([
                            ("IndexName", s(i.index_name())),
                            ("KeySchema", key_schema(i.key_schema.as_ref())),
                            ("Projection", projection(i.projection())),
                            ("IndexSizeBytes", i.index_size_bytes().into()),
                            ("ItemCount", i.item_count().into()),
                            ("IndexArn", s(i.index_arn())),
                        ])
                    })
                }),
        ),
        (
            "GlobalSecondaryIndexes",
            t.global_secondary_indexes
                .as_deref()
                .map_or(Value::Null, |g| {
                    list(g, |i| {
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
                    })
                }),
        ),
        (
            "StreamSpecification",
            t.stream_specification().map_or(Value::Null, |st| {
                obj([
                    ("StreamEnabled", st.stream_enabled().into()),
                    (
                        "StreamViewType",
                        s(st.stream_view_type().map(|x| x.as_str())),
                    ),
                ])
            }),
        ),
        ("LatestStreamLabel", s(t.latest_stream_label())),
        ("LatestStreamArn", s(t.latest_stream_arn())),
        ("GlobalTableVersion", s(t.global_table_version())),
        (
            "Replicas",
            t.replicas.as_deref().map_or(Value::Null, |r| {
                list(r, |r| {
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
                                                i.provisioned_throughput_override().map_or(
                                                    Value::Null,
                                                    |p| {
                                                        obj([(
                                                            "ReadCapacityUnits",
                                                            p.read_capacity_units().into(),
                                                        )])
                                                    },
                                                ),
                                            ),
                                            (
                                                "OnDemandThroughputOverride",
                                                i.on_demand_throughput_override().map_or(
                                                    Value::Null,
                                                    |o| {
                                                        obj([(
                                                            "MaxReadRequestUnits",
                                                            o.max_read_request_units().into(),
                                                        )])
                                                    },
                                                ),
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
                })
            }),
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
        (
            "RestoreSummary",
            t.restore_summary().map_or(Value::Null, |r| {
                obj([
                    ("SourceBackupArn", s(r.source_backup_arn())),
                    ("SourceTableArn", s(r.source_table_arn())),
                    ("RestoreDateTime", dt(Some(r.restore_date_time()))),
                    ("RestoreInProgress", r.restore_in_progress().into()),
                ])
            }),
        ),
        (
            "SSEDescription",
            t.sse_description().map_or(Value::Null, |e| {
                obj([
                    ("Status", s(e.status().map(|x| x.as_str()))),
                    ("SSEType", s(e.sse_type().map(|x| x.as_str()))),
                    ("KMSMasterKeyArn", s(e.kms_master_key_arn())),
                    (
                        "InaccessibleEncryptionDateTime",
                        dt(e.inaccessible_encryption_date_time()),
                    ),
                ])
            }),
        ),
        (
            "ArchivalSummary",
            t.archival_summary().map_or(Value::Null, |a| {
                obj([
                    ("ArchivalDateTime", dt(a.archival_date_time())),
                    ("ArchivalReason", s(a.archival_reason())),
                    ("ArchivalBackupArn", s(a.archival_backup_arn())),
                ])
            }),
        ),
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

pub async fn call(c: &AwsClients, op: &str, input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "DescribeTable" => {
            let out = c
                .dynamodb
                .describe_table()
                .table_name(input.req_str("TableName")?)
                .send()
                .await?;
            Ok(obj([("Table", out.table().map_or(Value::Null, table))]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}
