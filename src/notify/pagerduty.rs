//! PagerDuty Events API v2: a `trigger` event with the notice's summary, severity and details.

use serde_json::{Map, Value, json};

use super::notice::Notice;

/// PagerDuty cuts a summary at this length.
const MAX_SUMMARY: usize = 1024;

/// Sends the event; the routing key is in the body only, and the error never names it.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    routing_key: &str,
    notice: &Notice,
    runbook: &str,
    headline: &str,
) -> Result<(), String> {
    let response = client
        .post(url)
        .json(&event(routing_key, notice, runbook, headline))
        .send()
        .await
        .map_err(super::http_error)?;
    super::expect_success(response.status())
}

/// The event: one incident per runbook, unit and kind of notice, so a failure repeated on
/// resume updates the open incident instead of paging again.
fn event(routing_key: &str, notice: &Notice, runbook: &str, headline: &str) -> Value {
    let details: Map<String, Value> = notice
        .details
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
        .collect();
    let unit = notice
        .details
        .iter()
        .find(|(k, _)| *k == "unit")
        .map_or("run", |(_, v)| v.as_str());
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": format!("outpost-migrate/{runbook}/{unit}/{}", notice.kind),
        "payload": {
            "summary": headline.chars().take(MAX_SUMMARY).collect::<String>(),
            "source": format!("outpost-migrate/{runbook}"),
            "severity": notice.severity.pagerduty(),
            "component": unit,
            "class": notice.kind,
            "custom_details": details,
        },
    })
}
