//! SSM: Run Command on the Outpost instance (rollback 1's `send-command` test that the SSM
//! path still answers), reading the invocation's result, and listing commands (the probe that
//! finds a test command sent by a step in doubt), and whether the instance's agent is online
//! (a command to an offline hybrid agent stays pending for its whole delivery timeout).

use std::collections::HashMap;

use aws_sdk_ssm::types::{CommandFilter, InstanceInformationStringFilter, Target};
use serde_json::Value;

use super::op::{pages, self_paged};
use super::shape::{joined, json};
use super::{AwsFailure, Input};

/// `Filters` of DescribeInstanceInformation: `[{Key: InstanceIds, Values: [mi-...]}]`.
fn instance_filters(
    filters: Option<Vec<Input<'_>>>,
) -> Result<Option<Vec<InstanceInformationStringFilter>>, AwsFailure> {
    let Some(filters) = filters else {
        return Ok(None);
    };
    filters
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

/// `Filters` of ListCommands: `[{key: InvokedAfter, value: "2026-11-28T02:00:00Z"}]` (the API
/// spells these two in lower case).
fn command_filters(
    filters: Option<Vec<Input<'_>>>,
) -> Result<Option<Vec<CommandFilter>>, AwsFailure> {
    let Some(filters) = filters else {
        return Ok(None);
    };
    filters
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
fn parameters(raw: Option<&Value>) -> Result<Option<HashMap<String, Vec<String>>>, AwsFailure> {
    let Some(raw) = raw else {
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

fn targets(targets: Option<Vec<Input<'_>>>) -> Result<Option<Vec<Target>>, AwsFailure> {
    let Some(targets) = targets else {
        return Ok(None);
    };
    targets
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

operations! {
    SendCommand(
        c,
        InstanceIds: strs,
        Targets: list,
        DocumentName: req_str,
        DocumentVersion: str,
        TimeoutSeconds: i32,
        Comment: str,
        Parameters: value,
        MaxConcurrency: str,
        MaxErrors: str,
    ) {
        let out = c
            .ssm
            .send_command()
            .set_instance_ids(InstanceIds)
            .set_targets(targets(Targets)?)
            .document_name(DocumentName)
            .set_document_version(DocumentVersion)
            .set_timeout_seconds(TimeoutSeconds)
            .set_comment(Comment)
            .set_parameters(parameters(Parameters)?)
            .set_max_concurrency(MaxConcurrency)
            .set_max_errors(MaxErrors)
            .send()
            .await?;
        json(&out)
    }
    GetCommandInvocation(c, CommandId: req_str, InstanceId: req_str, PluginName: str) {
        let out = c
            .ssm
            .get_command_invocation()
            .command_id(CommandId)
            .instance_id(InstanceId)
            .set_plugin_name(PluginName)
            .send()
            .await?;
        json(&out)
    }
    ListCommands(
        c,
        CommandId: str,
        InstanceId: str,
        Filters: list,
        MaxResults: i32,
        NextToken: str,
    ) {
        let paged = self_paged(&NextToken, &MaxResults);
        let req = c
            .ssm
            .list_commands()
            .set_command_id(CommandId)
            .set_instance_id(InstanceId)
            .set_filters(command_filters(Filters)?)
            .set_max_results(MaxResults)
            .set_next_token(NextToken);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        joined(&pages, &["Commands"])
    }
    DescribeInstanceInformation(c, Filters: list, MaxResults: i32, NextToken: str) {
        let paged = self_paged(&NextToken, &MaxResults);
        let req = c
            .ssm
            .describe_instance_information()
            .set_filters(instance_filters(Filters)?)
            .set_max_results(MaxResults)
            .set_next_token(NextToken);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        joined(&pages, &["InstanceInformationList"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_lists_of_strings() {
        let map = json!({ "Parameters": { "commands": ["echo rollback-test"], "executionTimeout": 3600, "workingDirectory": "/tmp" } });
        let p = parameters(map.get("Parameters")).unwrap().unwrap();
        assert_eq!(p["commands"], vec!["echo rollback-test"]);
        assert_eq!(p["executionTimeout"], vec!["3600"]);
        assert_eq!(p["workingDirectory"], vec!["/tmp"]);
        let map = json!({ "Parameters": ["echo"] });
        assert!(parameters(map.get("Parameters")).is_err());
    }
}
