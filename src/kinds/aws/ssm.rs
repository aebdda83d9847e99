//! SSM: Run Command on the Outpost instance (rollback 1's `send-command` test that the SSM
//! path still answers), reading the invocation's result, and listing commands (the probe that
//! finds a test command sent by a step in doubt), and whether the instance's agent is online
//! (a command to an offline hybrid agent stays pending for its whole delivery timeout).

use std::collections::HashMap;

use aws_sdk_ssm::types::{
    CloudWatchOutputConfig, Command, CommandFilter, InstanceInformation,
    InstanceInformationStringFilter, Target,
};
use serde_json::{Map, Value};

use super::output::{dt, list, obj, s, strs};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[
    Op {
        name: "SendCommand",
        input: &[
            "InstanceIds",
            "Targets",
            "DocumentName",
            "DocumentVersion",
            "TimeoutSeconds",
            "Comment",
            "Parameters",
            "MaxConcurrency",
            "MaxErrors",
        ],
    },
    Op {
        name: "GetCommandInvocation",
        input: &["CommandId", "InstanceId", "PluginName"],
    },
    Op {
        name: "ListCommands",
        input: &[
            "CommandId",
            "InstanceId",
            "Filters",
            "MaxResults",
            "NextToken",
        ],
    },
    Op {
        name: "DescribeInstanceInformation",
        input: &["Filters", "MaxResults", "NextToken"],
    },
];

/// `Filters` of DescribeInstanceInformation: `[{Key: InstanceIds, Values: [mi-...]}]`.
fn instance_filters(
    input: &Input<'_>,
) -> Result<Option<Vec<InstanceInformationStringFilter>>, AwsFailure> {
    if input.raw("Filters").is_none() {
        return Ok(None);
    }
    input
        .objects("Filters")?
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let key = f
                .str("Key")?
                .ok_or_else(|| AwsFailure::Input(format!("`Filters[{i}].Key` is required")))?;
            let values = f
                .strs("Values")?
                .ok_or_else(|| AwsFailure::Input(format!("`Filters[{i}].Values` is required")))?;
            InstanceInformationStringFilter::builder()
                .key(key)
                .set_values(Some(values))
                .build()
                .map_err(|e| AwsFailure::Input(format!("`Filters[{i}]`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn instance_json(i: &InstanceInformation) -> Value {
    obj([
        ("InstanceId", s(i.instance_id())),
        ("PingStatus", s(i.ping_status().map(|v| v.as_str()))),
        ("LastPingDateTime", dt(i.last_ping_date_time())),
        ("AgentVersion", s(i.agent_version())),
        ("IsLatestVersion", num(i.is_latest_version())),
        ("PlatformType", s(i.platform_type().map(|v| v.as_str()))),
        ("ResourceType", s(i.resource_type().map(|v| v.as_str()))),
        ("Name", s(i.name())),
        ("IPAddress", s(i.ip_address())),
        ("ComputerName", s(i.computer_name())),
    ])
}

/// `Filters` of ListCommands: `[{key: InvokedAfter, value: "2026-11-28T02:00:00Z"}]` (the API
/// spells these two in lower case).
fn command_filters(input: &Input<'_>) -> Result<Option<Vec<CommandFilter>>, AwsFailure> {
    if input.raw("Filters").is_none() {
        return Ok(None);
    }
    input
        .objects("Filters")?
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let key = f
                .str("key")?
                .ok_or_else(|| AwsFailure::Input(format!("`Filters[{i}].key` is required")))?;
            let value = f
                .str("value")?
                .ok_or_else(|| AwsFailure::Input(format!("`Filters[{i}].value` is required")))?;
            CommandFilter::builder()
                .key(key.as_str().into())
                .value(value)
                .build()
                .map_err(|e| AwsFailure::Input(format!("`Filters[{i}]`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// One parameter value as text: templates and YAML may turn `3600` or `true` into scalars.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// `Parameters`: a map of parameter name to a list of strings (`{commands: ["echo hi"]}`); a
/// single value is taken as a list of one, as the CLI's shorthand does.
fn parameters(input: &Input<'_>) -> Result<Option<HashMap<String, Vec<String>>>, AwsFailure> {
    let Some(raw) = input.raw("Parameters") else {
        return Ok(None);
    };
    let Value::Object(map) = raw else {
        return Err(AwsFailure::Input(format!(
            "`Parameters` must be a mapping of name to a list of strings, not {raw}"
        )));
    };
    let wrong = |name: &str, v: &Value| {
        AwsFailure::Input(format!(
            "`Parameters.{name}` must be a list of strings, not {v}"
        ))
    };
    map.iter()
        .map(|(name, v)| {
            let values = match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| text(i).ok_or_else(|| wrong(name, v)))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![text(other).ok_or_else(|| wrong(name, v))?],
            };
            Ok((name.clone(), values))
        })
        .collect::<Result<HashMap<_, _>, _>>()
        .map(Some)
}

fn targets(input: &Input<'_>) -> Result<Option<Vec<Target>>, AwsFailure> {
    if input.raw("Targets").is_none() {
        return Ok(None);
    }
    input
        .objects("Targets")?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let key = t
                .str("Key")?
                .ok_or_else(|| AwsFailure::Input(format!("`Targets[{i}].Key` is required")))?;
            let values = t
                .strs("Values")?
                .ok_or_else(|| AwsFailure::Input(format!("`Targets[{i}].Values` is required")))?;
            Ok(Target::builder().key(key).set_values(Some(values)).build())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parameters_json(p: Option<&HashMap<String, Vec<String>>>) -> Value {
    p.map_or(Value::Null, |p| {
        Value::Object(
            p.iter()
                .map(|(k, v)| (k.clone(), strs(v)))
                .collect::<Map<_, _>>(),
        )
    })
}

fn num<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn cloudwatch_output(c: Option<&CloudWatchOutputConfig>) -> Value {
    c.map_or(Value::Null, |c| {
        obj([
            ("CloudWatchLogGroupName", s(c.cloud_watch_log_group_name())),
            (
                "CloudWatchOutputEnabled",
                Value::from(c.cloud_watch_output_enabled()),
            ),
        ])
    })
}

/// A command as SendCommand and ListCommands return it.
fn command_json(k: &Command) -> Value {
    obj([
        ("CommandId", s(k.command_id())),
        ("DocumentName", s(k.document_name())),
        ("DocumentVersion", s(k.document_version())),
        ("Comment", s(k.comment())),
        ("ExpiresAfter", dt(k.expires_after())),
        ("Parameters", parameters_json(k.parameters())),
        (
            "InstanceIds",
            k.instance_ids.as_deref().map_or(Value::Null, strs),
        ),
        (
            "Targets",
            k.targets.as_deref().map_or(Value::Null, |t| {
                list(t, |t| {
                    obj([
                        ("Key", s(t.key())),
                        ("Values", t.values.as_deref().map_or(Value::Null, strs)),
                    ])
                })
            }),
        ),
        ("RequestedDateTime", dt(k.requested_date_time())),
        ("Status", s(k.status().map(|v| v.as_str()))),
        ("StatusDetails", s(k.status_details())),
        ("OutputS3Region", s(k.output_s3_region())),
        ("OutputS3BucketName", s(k.output_s3_bucket_name())),
        ("OutputS3KeyPrefix", s(k.output_s3_key_prefix())),
        ("MaxConcurrency", s(k.max_concurrency())),
        ("MaxErrors", s(k.max_errors())),
        ("TargetCount", Value::from(k.target_count())),
        ("CompletedCount", Value::from(k.completed_count())),
        ("ErrorCount", Value::from(k.error_count())),
        (
            "DeliveryTimedOutCount",
            Value::from(k.delivery_timed_out_count()),
        ),
        ("ServiceRole", s(k.service_role())),
        (
            "NotificationConfig",
            k.notification_config().map_or(Value::Null, |n| {
                obj([
                    ("NotificationArn", s(n.notification_arn())),
                    (
                        "NotificationEvents",
                        n.notification_events
                            .as_deref()
                            .map_or(Value::Null, |e| list(e, |e| Value::from(e.as_str()))),
                    ),
                    (
                        "NotificationType",
                        s(n.notification_type().map(|v| v.as_str())),
                    ),
                ])
            }),
        ),
        (
            "CloudWatchOutputConfig",
            cloudwatch_output(k.cloud_watch_output_config()),
        ),
        ("TimeoutSeconds", num(k.timeout_seconds())),
        (
            "AlarmConfiguration",
            k.alarm_configuration().map_or(Value::Null, |a| {
                obj([
                    (
                        "IgnorePollAlarmFailure",
                        Value::from(a.ignore_poll_alarm_failure()),
                    ),
                    (
                        "Alarms",
                        list(a.alarms(), |a| obj([("Name", Value::from(a.name()))])),
                    ),
                ])
            }),
        ),
        (
            "TriggeredAlarms",
            k.triggered_alarms.as_deref().map_or(Value::Null, |t| {
                list(t, |t| {
                    obj([
                        ("Name", Value::from(t.name())),
                        ("State", Value::from(t.state().as_str())),
                    ])
                })
            }),
        ),
    ])
}

pub async fn call(c: &AwsClients, op: &str, input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "SendCommand" => {
            let out = c
                .ssm
                .send_command()
                .set_instance_ids(input.strs("InstanceIds")?)
                .set_targets(targets(input)?)
                .document_name(input.req_str("DocumentName")?)
                .set_document_version(input.str("DocumentVersion")?)
                .set_timeout_seconds(input.i32("TimeoutSeconds")?)
                .set_comment(input.str("Comment")?)
                .set_parameters(parameters(input)?)
                .set_max_concurrency(input.str("MaxConcurrency")?)
                .set_max_errors(input.str("MaxErrors")?)
                .send()
                .await?;
            let command = out.command().map_or(Value::Null, command_json);
            Ok(obj([("Command", command)]))
        }
        "GetCommandInvocation" => {
            let out = c
                .ssm
                .get_command_invocation()
                .command_id(input.req_str("CommandId")?)
                .instance_id(input.req_str("InstanceId")?)
                .set_plugin_name(input.str("PluginName")?)
                .send()
                .await?;
            // The Execution*DateTime fields are strings in the API, not timestamps.
            Ok(obj([
                ("CommandId", s(out.command_id())),
                ("InstanceId", s(out.instance_id())),
                ("Comment", s(out.comment())),
                ("DocumentName", s(out.document_name())),
                ("DocumentVersion", s(out.document_version())),
                ("PluginName", s(out.plugin_name())),
                ("ResponseCode", Value::from(out.response_code())),
                ("ExecutionStartDateTime", s(out.execution_start_date_time())),
                ("ExecutionElapsedTime", s(out.execution_elapsed_time())),
                ("ExecutionEndDateTime", s(out.execution_end_date_time())),
                ("Status", s(out.status().map(|v| v.as_str()))),
                ("StatusDetails", s(out.status_details())),
                ("StandardOutputContent", s(out.standard_output_content())),
                ("StandardOutputUrl", s(out.standard_output_url())),
                ("StandardErrorContent", s(out.standard_error_content())),
                ("StandardErrorUrl", s(out.standard_error_url())),
                (
                    "CloudWatchOutputConfig",
                    cloudwatch_output(out.cloud_watch_output_config()),
                ),
            ]))
        }
        "ListCommands" => {
            let req = c
                .ssm
                .list_commands()
                .set_command_id(input.str("CommandId")?)
                .set_instance_id(input.str("InstanceId")?)
                .set_filters(command_filters(input)?)
                .set_max_results(input.i32("MaxResults")?)
                .set_next_token(input.str("NextToken")?);
            // Like the AWS CLI, every page is fetched unless the step pages itself.
            let pages = if input.get("NextToken").is_none() && input.get("MaxResults").is_none() {
                req.into_paginator().send().try_collect().await?
            } else {
                vec![req.send().await?]
            };
            Ok(obj([
                (
                    "Commands",
                    Value::Array(
                        pages
                            .iter()
                            .flat_map(|p| p.commands())
                            .map(command_json)
                            .collect(),
                    ),
                ),
                ("NextToken", s(pages.last().and_then(|p| p.next_token()))),
            ]))
        }
        "DescribeInstanceInformation" => {
            let req = c
                .ssm
                .describe_instance_information()
                .set_filters(instance_filters(input)?)
                .set_max_results(input.i32("MaxResults")?)
                .set_next_token(input.str("NextToken")?);
            let pages = if input.get("NextToken").is_none() && input.get("MaxResults").is_none() {
                req.into_paginator().send().try_collect().await?
            } else {
                vec![req.send().await?]
            };
            Ok(obj([
                (
                    "InstanceInformationList",
                    Value::Array(
                        pages
                            .iter()
                            .flat_map(|p| p.instance_information_list())
                            .map(instance_json)
                            .collect(),
                    ),
                ),
                ("NextToken", s(pages.last().and_then(|p| p.next_token()))),
            ]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_lists_of_strings() {
        let map = json!({ "Parameters": { "commands": ["echo rollback-test"], "executionTimeout": 3600, "workingDirectory": "/tmp" } });
        let p = parameters(&Input::new("ssm", "SendCommand", map.as_object().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(p["commands"], vec!["echo rollback-test"]);
        assert_eq!(p["executionTimeout"], vec!["3600"]);
        assert_eq!(p["workingDirectory"], vec!["/tmp"]);
        let map = json!({ "Parameters": ["echo"] });
        assert!(parameters(&Input::new("ssm", "SendCommand", map.as_object().unwrap())).is_err());
    }
}
