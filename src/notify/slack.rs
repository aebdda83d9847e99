//! Slack: one POST of the message to the incoming webhook (whose URL is a secret).

/// Posts `text`; the error never names the URL.
pub async fn send(client: &reqwest::Client, webhook_url: &str, text: &str) -> Result<(), String> {
    let response = client
        .post(webhook_url)
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .map_err(super::http_error)?;
    super::expect_success(response.status())
}
