//! Output from the SDK's own shape schemas: where a service crate ships them (ECS and SSM at
//! the pinned versions), one serializer gives every member of an output, keyed by the API's
//! member names, instead of a hand mapping that misses fields.

use aws_sdk_ecs::primitives::DateTimeFormat as Format;
use aws_smithy_json::codec::{JsonCodec, JsonCodecSettings};
use aws_smithy_schema::codec::Codec;
use aws_smithy_schema::serde::{SerializableStruct, ShapeSerializer};
use serde_json::Value;

use super::AwsFailure;

/// The whole output as JSON: member names as the API spells them (not `jsonName`), absent
/// members left out and timestamps as RFC 3339 text, as the AWS CLI prints them.
pub fn json(out: &dyn SerializableStruct) -> Result<Value, AwsFailure> {
    let codec = JsonCodec::new(
        JsonCodecSettings::builder()
            .use_json_name(false)
            .default_timestamp_format(Format::DateTime)
            .build(),
    );
    let mut ser = codec.create_serializer();
    ser.write_struct(out.schema(), out)
        .map_err(|e| AwsFailure::Output(e.to_string()))?;
    serde_json::from_slice(&ser.finish()).map_err(|e| AwsFailure::Output(e.to_string()))
}

/// The output of every page as one, as the AWS CLI shows a paginated read: each list member
/// joined over the pages in order (present even when empty), the rest (the next token) from
/// the last page.
pub fn joined(pages: &[impl SerializableStruct], lists: &[&str]) -> Result<Value, AwsFailure> {
    let mut pages = pages
        .iter()
        .map(|p| json(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut whole = match pages.pop() {
        Some(Value::Object(last)) => last,
        _ => serde_json::Map::new(),
    };
    for key in lists {
        let mut all = Vec::new();
        for page in pages.iter_mut().map(|p| p.get_mut(*key)) {
            if let Some(Value::Array(items)) = page {
                all.append(items);
            }
        }
        if let Some(Value::Array(items)) = whole.get_mut(*key) {
            all.append(items);
        }
        whole.insert((*key).to_owned(), Value::Array(all));
    }
    Ok(Value::Object(whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
    use aws_sdk_ssm::types::Command;
    use serde_json::json;

    fn page(ids: &[&str], token: Option<&str>) -> ListCommandsOutput {
        ListCommandsOutput::builder()
            .set_commands(Some(
                ids.iter()
                    .map(|id| Command::builder().command_id(*id).build())
                    .collect(),
            ))
            .set_next_token(token.map(str::to_owned))
            .build()
    }

    #[test]
    fn pages_join_their_lists_and_keep_the_last_token() {
        let whole = joined(
            &[page(&["a"], Some("t1")), page(&["b", "c"], None)],
            &["Commands"],
        )
        .unwrap();
        let ids: Vec<_> = whole["Commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["CommandId"].clone())
            .collect();
        assert_eq!(ids, [json!("a"), json!("b"), json!("c")]);
        assert_eq!(whole.get("NextToken"), None);
        let one = joined(&[page(&[], Some("t2"))], &["Commands"]).unwrap();
        assert_eq!(one, json!({"Commands": [], "NextToken": "t2"}));
    }

    #[test]
    fn members_keep_the_apis_names_and_timestamps_read_as_text() {
        let out = Command::builder()
            .command_id("c-1")
            .requested_date_time(aws_sdk_ssm::primitives::DateTime::from_secs(0))
            .build();
        let v = json(&out).unwrap();
        assert_eq!(v["CommandId"], json!("c-1"));
        assert_eq!(v["RequestedDateTime"], json!("1970-01-01T00:00:00Z"));
    }
}
