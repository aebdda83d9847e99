//! The S3 calls of the state backend: conditional puts and deletes, reads and listings under
//! the state's prefix, every put encrypted server-side, and what a failure means for the
//! store (a lost race, a missing object, or a bucket that cannot be used at all).

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::store::StateError;

/// How every object is encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-S3 (AES256): keys managed by S3.
    S3Managed,
    /// SSE-KMS with this key (id, ARN or alias).
    Kms(String),
}

/// A put's precondition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Whatever is there (a backup, as the local backend renames over it).
    Any,
    /// `If-None-Match: *`: only when no object has the key.
    Absent,
    /// `If-Match`: only while the object is the version with this ETag.
    Matches(String),
}

/// A put or delete whose precondition did not hold: another writer got there first.
#[derive(Debug)]
pub struct Lost;

/// An object read back: its bytes and the ETag of that version.
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// The state's place in a bucket, and how to reach it.
#[derive(Clone)]
pub struct Place {
    pub client: Client,
    pub bucket: String,
    pub prefix: String,
    pub encryption: Encryption,
    /// `s3://bucket/prefix`, as messages name it.
    pub url: String,
}

enum Failure {
    Conflict,
    Missing,
    Unusable(StateError),
}

impl Place {
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// The object `name`, or `None`; one larger than `max` bytes is refused unread.
    pub async fn get(&self, name: &str, max: u64) -> Result<Option<Object>, StateError> {
        let key = self.key(name);
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                return match self.classify(&format!("reading {key}"), e) {
                    Failure::Missing => Ok(None),
                    Failure::Conflict => Err(self.unusable(&key, "a read was refused")),
                    Failure::Unusable(e) => Err(e),
                };
            }
        };
        let size = out
            .content_length()
            .map_or(0, |n| u64::try_from(n).unwrap_or(0));
        let path = std::path::PathBuf::from(format!("{}/{name}", self.url));
        if size > max {
            return Err(StateError::TooLarge { path, size, max });
        }
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.unusable(&key, &format!("the read broke off: {e}")))?
            .into_bytes()
            .to_vec();
        if bytes.len() as u64 > max {
            return Err(StateError::TooLarge {
                path,
                size: bytes.len() as u64,
                max,
            });
        }
        Ok(Some(Object { bytes, etag }))
    }

    /// Writes `name` when `condition` holds, encrypted; its new ETag, or `Lost`.
    pub async fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Result<String, Lost>, StateError> {
        let key = self.key(name);
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        put = match &self.encryption {
            Encryption::S3Managed => put.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms(id) => put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(id),
        };
        put = match condition {
            Condition::Any => put,
            Condition::Absent => put.if_none_match("*"),
            Condition::Matches(etag) => put.if_match(etag),
        };
        match put.send().await {
            Ok(out) => Ok(Ok(out.e_tag().unwrap_or_default().to_owned())),
            Err(e) => match self.classify(&format!("writing {key}"), e) {
                Failure::Conflict | Failure::Missing => Ok(Err(Lost)),
                Failure::Unusable(e) => Err(e),
            },
        }
    }

    /// Deletes `name` only while it is the version with `etag`.
    pub async fn delete_if(&self, name: &str, etag: &str) -> Result<Result<(), Lost>, StateError> {
        let key = self.key(name);
        let sent = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_match(etag)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Ok(())),
            Err(e) => match self.classify(&format!("deleting {key}"), e) {
                Failure::Conflict | Failure::Missing => Ok(Err(Lost)),
                Failure::Unusable(e) => Err(e),
            },
        }
    }

    /// The names (relative to the prefix) of every object under `dir/`, in key order.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, StateError> {
        let under = self.key(&format!("{dir}/"));
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&under)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| match self.classify(&format!("listing {under}"), e) {
                Failure::Unusable(e) => e,
                _ => self.unusable(&under, "the listing was refused"),
            })?;
            names.extend(page.contents().iter().filter_map(|o| {
                o.key()
                    .and_then(|k| k.strip_prefix(&under))
                    .map(|rest| format!("{dir}/{rest}"))
            }));
        }
        // S3 lists in key order already; sorting says so rather than rely on it.
        names.sort();
        Ok(names)
    }

    /// Fails unless the bucket exists and these credentials may use it.
    pub async fn check(&self) -> Result<(), StateError> {
        let sent = self.client.head_bucket().bucket(&self.bucket).send().await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => match self.classify("checking the bucket", e) {
                Failure::Missing => Err(self.no_bucket("it does not exist".into())),
                Failure::Conflict => Err(self.unusable(&self.bucket, "the check was refused")),
                Failure::Unusable(e) => Err(e),
            },
        }
    }

    fn unusable(&self, what: &str, problem: &str) -> StateError {
        StateError::Unreachable {
            url: self.url.clone(),
            problem: format!("{what}: {problem}"),
            hint: "check the bucket and your access to it, then run again".into(),
        }
    }

    fn no_bucket(&self, problem: String) -> StateError {
        StateError::Unreachable {
            url: self.url.clone(),
            problem: format!("bucket `{}`: {problem}", self.bucket),
            hint: format!(
                "create it (versioned, private: `aws s3api create-bucket --bucket {}`), or correct --state",
                self.bucket
            ),
        }
    }

    fn classify<E>(&self, what: &str, err: SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default().to_owned();
        match (status, code.as_str()) {
            (Some(412), _) | (_, "PreconditionFailed") => return Failure::Conflict,
            (Some(409), _) | (_, "ConditionalRequestConflict") => return Failure::Conflict,
            (_, "NoSuchBucket") => {
                return Failure::Unusable(self.no_bucket("it does not exist".into()));
            }
            (Some(404), _) => return Failure::Missing,
            _ => {}
        }
        let problem = format!("{what}: {}", chain(&err));
        let hint = match (status, code.as_str()) {
            (Some(301), _) | (_, "AuthorizationHeaderMalformed" | "PermanentRedirect") => {
                "the bucket is in another region: pass --region (or set AWS_REGION) to the bucket's region"
            }
            (Some(401 | 403), _)
            | (
                _,
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "AccessDenied",
            ) => {
                "check your AWS credentials (`aws sts get-caller-identity`, --profile or AWS_PROFILE) and that they may read and write the state's bucket and prefix"
            }
            _ if matches!(err, SdkError::ConstructionFailure(_))
                || problem.to_ascii_lowercase().contains("no credentials") =>
            {
                "no AWS credentials were found: set AWS_PROFILE (or pass --profile), or run `aws sso login`"
            }
            _ => {
                "S3 could not be reached: check the network, the region and AWS_ENDPOINT_URL, then run again"
            }
        };
        Failure::Unusable(StateError::Unreachable {
            url: self.url.clone(),
            problem,
            hint: hint.into(),
        })
    }
}

/// An error and its causes, each once, as one line (no debug dump of the SDK's types).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
