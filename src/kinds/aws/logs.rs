//! CloudWatch Logs: searching the control plane's and MCPify's log groups for errors after the
//! switch (`FilterLogEvents`, as `aws logs filter-log-events` calls it).

use serde_json::Value;

use super::op::{pages, self_paged};
use super::output::{obj, s};

fn num<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

operations! {
    FilterLogEvents(
        c,
        logGroupName: str,
        logGroupIdentifier: str,
        logStreamNames: strs,
        logStreamNamePrefix: str,
        startTime: i64,
        endTime: i64,
        filterPattern: str,
        nextToken: str,
        limit: i32,
        unmask: bool,
    ) {
        // startTime and endTime are epoch milliseconds in this API, not timestamps.
        let paged = self_paged(&nextToken, &limit);
        let req = c
            .logs
            .filter_log_events()
            .set_log_group_name(logGroupName)
            .set_log_group_identifier(logGroupIdentifier)
            .set_log_stream_names(logStreamNames)
            .set_log_stream_name_prefix(logStreamNamePrefix)
            .set_start_time(startTime)
            .set_end_time(endTime)
            .set_filter_pattern(filterPattern)
            .set_next_token(nextToken)
            .set_limit(limit)
            .set_unmask(unmask);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
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
}
