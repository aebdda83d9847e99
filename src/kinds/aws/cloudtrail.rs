//! CloudTrail: checking that no new SSM SendCommand events arrive once the SSM provider is
//! disabled (phase 4).

use aws_sdk_cloudtrail::types::{EventCategory, LookupAttribute, LookupAttributeKey};
use serde_json::Value;

use super::output::{dt, list, obj, s};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[Op {
    name: "LookupEvents",
    input: &[
        "LookupAttributes",
        "StartTime",
        "EndTime",
        "EventCategory",
        "MaxResults",
        "NextToken",
    ],
}];

fn lookup_attributes(input: &Input<'_>) -> Result<Option<Vec<LookupAttribute>>, AwsFailure> {
    if input.raw("LookupAttributes").is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (i, a) in input.objects("LookupAttributes")?.iter().enumerate() {
        let need = |key: &str| -> Result<String, AwsFailure> {
            a.str(key)?.ok_or_else(|| {
                AwsFailure::Input(format!("`LookupAttributes[{i}].{key}` is required"))
            })
        };
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::from(need("AttributeKey")?.as_str()))
            .attribute_value(need("AttributeValue")?)
            .build()
            .map_err(|e| AwsFailure::Input(format!("LookupAttributes[{i}]: {e}")))?;
        out.push(attribute);
    }
    Ok(Some(out))
}

pub async fn call(c: &AwsClients, op: &str, input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "LookupEvents" => {
            let out = c
                .cloudtrail
                .lookup_events()
                .set_lookup_attributes(lookup_attributes(input)?)
                .set_start_time(input.datetime("StartTime")?)
                .set_end_time(input.datetime("EndTime")?)
                .set_event_category(
                    input
                        .str("EventCategory")?
                        .map(|v| EventCategory::from(v.as_str())),
                )
                .set_max_results(input.i32("MaxResults")?)
                .set_next_token(input.str("NextToken")?)
                .send()
                .await?;
            Ok(obj([
                (
                    "Events",
                    list(out.events(), |e| {
                        obj([
                            ("EventId", s(e.event_id())),
                            ("EventName", s(e.event_name())),
                            ("ReadOnly", s(e.read_only())),
                            ("AccessKeyId", s(e.access_key_id())),
                            ("EventTime", dt(e.event_time())),
                            ("EventSource", s(e.event_source())),
                            ("Username", s(e.username())),
                            (
                                "Resources",
                                e.resources.as_deref().map_or(Value::Null, |r| {
                                    list(r, |r| {
                                        obj([
                                            ("ResourceType", s(r.resource_type())),
                                            ("ResourceName", s(r.resource_name())),
                                        ])
                                    })
                                }),
                            ),
                            ("CloudTrailEvent", s(e.cloud_trail_event())),
                        ])
                    }),
                ),
                ("NextToken", s(out.next_token())),
            ]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}
