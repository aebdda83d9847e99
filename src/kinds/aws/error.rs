//! AWS errors: a service's own error (code and message) fails the step; credentials,
//! endpoints and timeouts are set-up errors (exit code 3) with a hint.

use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::kinds::KindFailure;

#[derive(Debug)]
pub enum AwsFailure {
    /// The step's `input` is wrong (a missing or mistyped field).
    Input(String),
    /// The service answered with an error.
    Service { code: String, message: String },
    /// Credentials, endpoint, network, timeout.
    Setup(String),
    /// The answer could not be turned into JSON.
    Output(String),
}

/// Error codes that mean the credentials, not the resource, are wrong.
const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
];

const SETUP_HINT: &str = "check the credentials (`aws sts get-caller-identity`), --profile/AWS_PROFILE, --region/AWS_REGION and AWS_ENDPOINT_URL";

impl AwsFailure {
    pub fn into_kind_failure(self, service: &str, op: &str) -> KindFailure {
        match self {
            AwsFailure::Input(m) => {
                KindFailure::failed(format!("{service} {op}: invalid input: {m}"))
            }
            AwsFailure::Service { code, message } if CREDENTIAL_CODES.contains(&code.as_str()) => {
                KindFailure::setup(format!(
                    "{service} {op} failed: {code}: {message}; {SETUP_HINT}"
                ))
            }
            AwsFailure::Service { code, message } => {
                KindFailure::failed(format!("{service} {op} failed: {code}: {message}"))
            }
            AwsFailure::Setup(m) => {
                KindFailure::setup(format!("{service} {op} failed: {m}; {SETUP_HINT}"))
            }
            AwsFailure::Output(m) => {
                KindFailure::failed(format!("{service} {op}: failed to read the answer: {m}"))
            }
        }
    }
}

impl<E, R> From<SdkError<E, R>> for AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    fn from(err: SdkError<E, R>) -> Self {
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                AwsFailure::Service {
                    code: e.code().unwrap_or("Unknown").to_owned(),
                    message: e
                        .message()
                        .map_or_else(|| DisplayErrorContext(e).to_string(), str::to_owned),
                }
            }
            SdkError::TimeoutError(_) => AwsFailure::Setup("the call timed out".into()),
            // The SDK's message names the timeout that expired and its length.
            SdkError::DispatchFailure(d) if d.is_timeout() => AwsFailure::Setup(format!(
                "the call timed out ({})",
                DisplayErrorContext(&err)
            )),
            SdkError::DispatchFailure(d) if d.is_io() => AwsFailure::Setup(format!(
                "cannot reach the AWS endpoint ({})",
                DisplayErrorContext(&err)
            )),
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
                AwsFailure::Setup(DisplayErrorContext(&err).to_string())
            }
            _ => AwsFailure::Service {
                code: "ResponseError".into(),
                message: DisplayErrorContext(&err).to_string(),
            },
        }
    }
}
