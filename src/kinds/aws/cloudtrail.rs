//! CloudTrail: checking that no new SSM SendCommand events arrive once the SSM provider is
//! disabled (phase 4). LookupEvents is limited to 2 requests a second per account and region,
//! so every page this process asks for is spaced out to stay under that limit.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudtrail::types::{
    Event, EventCategory as Category, LookupAttribute, LookupAttributeKey,
};
use serde_json::Value;
use tokio::time::Instant;

use super::op::{pages, self_paged};
use super::output::{dt, list, obj, s};
use super::{AwsFailure, Input};

fn lookup_attributes(
    attributes: Option<Vec<Input<'_>>>,
) -> Result<Option<Vec<LookupAttribute>>, AwsFailure> {
    let Some(attributes) = attributes else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, a) in attributes.iter().enumerate() {
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

/// LookupEvents' documented limit: 2 requests a second per account and region.
const LOOKUP_SPACING: Duration = Duration::from_millis(500);

/// When this process may send its next LookupEvents request.
static NEXT_LOOKUP: Mutex<Option<Instant>> = Mutex::new(None);

/// The time a request asked for at `now` may go, given when the next slot is free; the slot
/// after it is reserved.
fn reserve(next: &mut Option<Instant>, now: Instant) -> Instant {
    let at = next.map_or(now, |n| n.max(now));
    *next = Some(at + LOOKUP_SPACING);
    at
}

/// Waits for this request's turn under the rate limit.
async fn lookup_turn() {
    let at = reserve(
        &mut NEXT_LOOKUP.lock().unwrap_or_else(|e| e.into_inner()),
        Instant::now(),
    );
    tokio::time::sleep_until(at).await;
}

fn event_json(e: &Event) -> Value {
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
}

operations! {
    LookupEvents(
        c,
        LookupAttributes: list,
        StartTime: datetime,
        EndTime: datetime,
        EventCategory: str,
        MaxResults: i32,
        NextToken: str,
    ) {
        let paged = self_paged(&NextToken, &MaxResults);
        let req = c
            .cloudtrail
            .lookup_events()
            .set_lookup_attributes(lookup_attributes(LookupAttributes)?)
            .set_start_time(StartTime)
            .set_end_time(EndTime)
            .set_event_category(EventCategory.map(|v| Category::from(v.as_str())))
            .set_max_results(MaxResults)
            .set_next_token(NextToken);
        // Every request waits its turn under the rate limit, each page of a whole read too.
        let pages = pages(
            paged,
            req,
            |r| async move {
                let mut pages = r.into_paginator().send();
                let mut all = Vec::new();
                loop {
                    lookup_turn().await;
                    match pages.next().await {
                        Some(page) => all.push(page?),
                        None => return Ok(all),
                    }
                }
            },
            |r| async move {
                lookup_turn().await;
                r.send().await
            },
        )
        .await?;
        Ok(obj([
            (
                "Events",
                Value::Array(pages.iter().flat_map(|p| p.events()).map(event_json).collect()),
            ),
            ("NextToken", s(pages.last().and_then(|p| p.next_token()))),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_asked_for_at_once_go_half_a_second_apart() {
        let now = Instant::now();
        let mut next = None;
        let slots: Vec<_> = (0..3).map(|_| reserve(&mut next, now)).collect();
        assert_eq!(slots, [now, now + LOOKUP_SPACING, now + LOOKUP_SPACING * 2]);
        // A request long after the last one goes at once.
        let later = now + Duration::from_secs(10);
        assert_eq!(reserve(&mut next, later), later);
    }
}
