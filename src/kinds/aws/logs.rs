//! CloudWatch Logs: searching the control plane's and MCPify's log groups for errors after the
//! switch (the seed's `aws logs filter-log-events`).

use serde_json::Value;

use super::output::{obj, s};
use super::{AwsClients, AwsFailure, Input, Op};

pub const OPS: &[Op] = &[Op {
    name: "FilterLogEvents",
    input: &[
        "logGroupName",
        "logGroupIdentifier",
        "logStreamNames",
        "logStreamNamePrefix",
        "startTime",
        "endTime",
        "filterPattern",
        "nextToken",
        "limit",
        "unmask",
    ],
}];

fn num<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

pub async fn call(c: &AwsClients, op: &str, input: &Input<'_>) -> Result<Value, AwsFailure> {
    match op {
        "FilterLogEvents" => {
            // startTime and endTime are epoch milliseconds in this API, not timestamps.
            let req = c
                .logs
                .filter_log_events()
                .set_log_group_name(input.str("logGroupName")?)
                .set_log_group_identifier(input.str("logGroupIdentifier")?)
                .set_log_stream_names(input.strs("logStreamNames")?)
                .set_log_stream_name_prefix(input.str("logStreamNamePrefix")?)
                .set_start_time(input.i64("startTime")?)
                .set_end_time(input.i64("endTime")?)
                .set_filter_pattern(input.str("filterPattern")?)
                .set_next_token(input.str("nextToken")?)
                .set_limit(input.i32("limit")?)
                .set_unmask(input.bool("unmask")?);
            // Like the AWS CLI, every page is fetched unless the step pages itself: a page
            // can be empty and still have a nextToken, so one page proves nothing absent.
            let pages = if input.get("nextToken").is_none() && input.get("limit").is_none() {
                req.into_paginator().send().try_collect().await?
            } else {
                vec![req.send().await?]
            };
            Ok(obj([
                (
                    "events",
                    Value::Array(
                        pages
                            .iter()
                            .flat_map(|p| p.events())
                            .map(|e| {
                                obj([
                                    ("logStreamName", s(e.log_stream_name())),
                                    ("timestamp", num(e.timestamp())),
                                    ("message", s(e.message())),
                                    ("ingestionTime", num(e.ingestion_time())),
                                    ("eventId", s(e.event_id())),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "searchedLogStreams",
                    Value::Array(
                        pages
                            .iter()
                            .flat_map(|p| p.searched_log_streams())
                            .map(|l| {
                                obj([
                                    ("logStreamName", s(l.log_stream_name())),
                                    ("searchedCompletely", num(l.searched_completely())),
                                ])
                            })
                            .collect(),
                    ),
                ),
                ("nextToken", s(pages.last().and_then(|p| p.next_token()))),
            ]))
        }
        other => Err(AwsFailure::Input(format!("unsupported operation {other}"))),
    }
}
