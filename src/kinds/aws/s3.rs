//! S3: that the artifacts bucket is reachable and holds what the migration deploys.

use serde_json::Value;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::Object;

use super::AwsFailure;
use super::op::{pages, self_paged};
use super::output::{dt, list, obj, s};

fn object(o: &Object) -> Value {
    obj([
        ("Key", s(o.key())),
        ("LastModified", dt(o.last_modified())),
        ("ETag", s(o.e_tag())),
        (
            "ChecksumAlgorithm",
            o.checksum_algorithm
                .as_deref()
                .map_or(Value::Null, |a| list(a, |a| a.as_str().into())),
        ),
        ("ChecksumType", s(o.checksum_type().map(|x| x.as_str()))),
        ("Size", o.size().into()),
        ("StorageClass", s(o.storage_class().map(|x| x.as_str()))),
        (
            "Owner",
            o.owner().map_or(Value::Null, |w| {
                obj([("DisplayName", s(w.display_name())), ("ID", s(w.id()))])
            }),
        ),
        (
            "RestoreStatus",
            o.restore_status().map_or(Value::Null, |r| {
                obj([
                    ("IsRestoreInProgress", r.is_restore_in_progress().into()),
                    ("RestoreExpiryDate", dt(r.restore_expiry_date())),
                ])
            }),
        ),
    ])
}

/// One result from one or more pages: the lists joined, `KeyCount` summed, the request's echo
/// (`ContinuationToken`, `StartAfter`) from the first page and the rest from the last, so a
/// complete listing ends untruncated. A list no page had stays absent, as in the CLI's output.
fn list_objects(pages: &[ListObjectsV2Output]) -> Value {
    let (Some(first), Some(last)) = (pages.first(), pages.last()) else {
        return obj([]);
    };
    let joined = |present: fn(&ListObjectsV2Output) -> bool,
                  items: fn(&ListObjectsV2Output) -> Vec<Value>| {
        if pages.iter().any(present) {
            Value::Array(pages.iter().flat_map(items).collect())
        } else {
            Value::Null
        }
    };
    let key_count = pages.iter().any(|p| p.key_count.is_some()).then(|| {
        pages
            .iter()
            .filter_map(|p| p.key_count())
            .map(i64::from)
            .sum::<i64>()
    });
    obj([
        ("IsTruncated", last.is_truncated().into()),
        (
            "Contents",
            joined(
                |p| p.contents.is_some(),
                |p| p.contents().iter().map(object).collect(),
            ),
        ),
        ("Name", s(last.name())),
        ("Prefix", s(last.prefix())),
        ("Delimiter", s(last.delimiter())),
        ("MaxKeys", last.max_keys().into()),
        (
            "CommonPrefixes",
            joined(
                |p| p.common_prefixes.is_some(),
                |p| {
                    p.common_prefixes()
                        .iter()
                        .map(|c| obj([("Prefix", s(c.prefix()))]))
                        .collect()
                },
            ),
        ),
        ("EncodingType", s(last.encoding_type().map(|x| x.as_str()))),
        ("KeyCount", key_count.into()),
        ("ContinuationToken", s(first.continuation_token())),
        ("NextContinuationToken", s(last.next_continuation_token())),
        ("StartAfter", s(first.start_after())),
        (
            "RequestCharged",
            s(last.request_charged().map(|x| x.as_str())),
        ),
    ])
}

/// HeadBucket's errors are a bare HTTP status without a body, so there is no message to pass
/// on: say what the status means instead.
fn head_bucket_error(err: SdkError<HeadBucketError, HttpResponse>) -> AwsFailure {
    let SdkError::ServiceError(se) = &err else {
        return err.into();
    };
    if se.err().message().is_some() {
        return err.into();
    }
    let status = se.raw().status().as_u16();
    let meaning = match status {
        301 => match se.raw().headers().get("x-amz-bucket-region") {
            Some(region) => format!("the bucket is in region {region}"),
            None => "the bucket is in another region".to_owned(),
        },
        400 => "bad request".to_owned(),
        403 => "access denied (no permission, or the bucket belongs to another account)".to_owned(),
        404 => "no such bucket".to_owned(),
        _ => "no details".to_owned(),
    };
    let code = se
        .err()
        .code()
        .map_or_else(|| status.to_string(), str::to_owned);
    AwsFailure::Service {
        code,
        message: format!("{meaning} (HTTP {status})"),
    }
}

operations! {
    HeadBucket(c, Bucket: req_str, ExpectedBucketOwner: str) {
        let out =
            c.s3.head_bucket()
                .bucket(Bucket)
                .set_expected_bucket_owner(ExpectedBucketOwner)
                .send()
                .await
                .map_err(head_bucket_error)?;
        Ok(obj([
            ("BucketArn", s(out.bucket_arn())),
            (
                "BucketLocationType",
                s(out.bucket_location_type().map(|x| x.as_str())),
            ),
            ("BucketLocationName", s(out.bucket_location_name())),
            ("BucketRegion", s(out.bucket_region())),
            ("AccessPointAlias", out.access_point_alias().into()),
        ]))
    }
    ListObjectsV2(
        c,
        Bucket: req_str,
        Prefix: str,
        Delimiter: str,
        MaxKeys: i32,
        StartAfter: str,
        ContinuationToken: str,
        FetchOwner: bool,
        ExpectedBucketOwner: str,
    ) {
        let paged = self_paged(&ContinuationToken, &MaxKeys);
        let req =
            c.s3.list_objects_v2()
                .bucket(Bucket)
                .set_prefix(Prefix)
                .set_delimiter(Delimiter)
                .set_max_keys(MaxKeys)
                .set_start_after(StartAfter)
                .set_continuation_token(ContinuationToken)
                .set_fetch_owner(FetchOwner)
                .set_expected_bucket_owner(ExpectedBucketOwner);
        let pages = pages(
            paged,
            req,
            |r| r.into_paginator().send().try_collect(),
            |r| r.send(),
        )
        .await?;
        Ok(list_objects(&pages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(keys: &[&str], next: Option<&str>) -> ListObjectsV2Output {
        let mut b = ListObjectsV2Output::builder()
            .name("b")
            .key_count(keys.len() as i32)
            .is_truncated(next.is_some())
            .set_next_continuation_token(next.map(str::to_owned));
        for k in keys {
            b = b.contents(Object::builder().key(*k).size(1).build());
        }
        b.build()
    }

    #[test]
    fn pages_join_into_one_untruncated_listing() {
        let v = list_objects(&[page(&["a", "b"], Some("t1")), page(&["c"], None)]);
        assert_eq!(
            v["Contents"],
            json!([{"Key": "a", "Size": 1}, {"Key": "b", "Size": 1}, {"Key": "c", "Size": 1}])
        );
        assert_eq!(v["KeyCount"], json!(3));
        assert_eq!(v["IsTruncated"], json!(false));
        assert!(v.get("NextContinuationToken").is_none());
        assert!(v.get("CommonPrefixes").is_none());
    }

    #[test]
    fn an_empty_bucket_has_no_contents_key() {
        let v = list_objects(&[page(&[], None)]);
        assert!(v.get("Contents").is_none(), "{v}");
        assert_eq!(v["KeyCount"], json!(0));
        assert_eq!(v["Name"], json!("b"));
    }
}
