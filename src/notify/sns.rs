//! SNS: Publish to the topic through the run's own AWS configuration and clients, with the
//! severity and the kind of notice as message attributes subscribers can filter on.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::kinds::aws::AwsContext;

use super::notice::Notice;

/// Publishes `text`; the error is the SDK's (no secret goes to SNS).
pub async fn send(
    aws: &AwsContext,
    topic_arn: &str,
    notice: &Notice,
    text: &str,
) -> Result<(), String> {
    let clients = aws.clients().await?;
    let attribute = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| e.to_string())
    };
    clients
        .sns
        .publish()
        .topic_arn(topic_arn)
        // A subject is ASCII, at most 100 characters.
        .subject(format!(
            "outpost-migrate {:?}: {}",
            notice.severity, notice.kind
        ))
        .message(text)
        .message_attributes("severity", attribute(&format!("{:?}", notice.severity))?)
        .message_attributes("kind", attribute(notice.kind)?)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())
}
