//! AWS errors: a service's own error (code and message) fails the step; credentials,
//! endpoints and timeouts are set-up errors (exit code 3). The two an operator meets first
//! are said in the AWS CLI's own words, which they know; the SDK's detail goes to `-v`.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::kinds::KindFailure;

/// The AWS CLI's words when no credentials are found.
pub const NO_CREDENTIALS: &str =
    "Unable to locate credentials. You can configure credentials by running \"aws configure\".";

#[derive(Debug)]
pub enum AwsFailure {
    /// The step's `input` is wrong (a missing or mistyped field).
    Input(String),
    /// The service answered with an error.
    Service { code: String, message: String },
    /// No credentials were found (none configured, or only the instance metadata service to
    /// ask, which did not answer).
    NoCredentials,
    /// The endpoint could not be reached (refused, no route, name not resolved).
    Unreachable,
    /// Other credential, network and timeout failures.
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
    /// The failure of `service`'s `op`, whose client calls `endpoint`.
    pub fn into_kind_failure(self, service: &str, op: &str, endpoint: &str) -> KindFailure {
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
            AwsFailure::NoCredentials => KindFailure::setup(NO_CREDENTIALS),
            AwsFailure::Unreachable => KindFailure::setup(format!(
                "Could not connect to the endpoint URL: \"{endpoint}\""
            )),
            AwsFailure::Setup(m) => {
                KindFailure::setup(format!("{service} {op} failed: {m}; {SETUP_HINT}"))
            }
            AwsFailure::Output(m) => {
                KindFailure::failed(format!("{service} {op}: failed to read the answer: {m}"))
            }
        }
    }
}

/// The endpoint a service's client calls: the configured one (`AWS_ENDPOINT_URL`), else the
/// service's regional endpoint, as the AWS CLI names it in its message.
pub fn endpoint_url(configured: Option<&str>, service: &str, region: &str) -> String {
    if let Some(url) = configured {
        return if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        };
    }
    let prefix = match service {
        "route53" => return "https://route53.amazonaws.com/".into(),
        "elasticloadbalancingv2" => "elasticloadbalancing",
        "ecr" => "api.ecr",
        "cloudwatch" => "monitoring",
        other => other,
    };
    format!("https://{prefix}.{region}.amazonaws.com/")
}

/// Whether the failure is that no credentials could be found: the credential chain found no
/// provider, or it came to the instance metadata service (no credentials anywhere else) and
/// that did not answer.
fn no_credentials(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return match c {
                CredentialsError::CredentialsNotLoaded(_) => true,
                _ => chain_text(c).contains("IMDS"),
            };
        }
        next = e.source();
    }
    false
}

/// An error and its sources, as one line.
fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}

impl<E, R> From<SdkError<E, R>> for AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        if !matches!(err, SdkError::ServiceError(_)) {
            // The SDK's own words, for `-v`: the plain message replaces them on the step.
            tracing::info!("AWS call failed: {}", DisplayErrorContext(&err));
        }
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
            _ if no_credentials(&err) => AwsFailure::NoCredentials,
            SdkError::TimeoutError(_) => AwsFailure::Setup("the call timed out".into()),
            // The SDK's message names the timeout that expired and its length.
            SdkError::DispatchFailure(d) if d.is_timeout() => AwsFailure::Setup(format!(
                "the call timed out ({})",
                DisplayErrorContext(&err)
            )),
            SdkError::DispatchFailure(d) if d.is_io() => AwsFailure::Unreachable,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_configured_one_else_the_services_regional_one() {
        assert_eq!(
            endpoint_url(Some("http://127.0.0.1:9"), "sts", "us-east-1"),
            "http://127.0.0.1:9/"
        );
        assert_eq!(
            endpoint_url(None, "elasticloadbalancingv2", "eu-west-1"),
            "https://elasticloadbalancing.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint_url(None, "route53", "eu-west-1"),
            "https://route53.amazonaws.com/"
        );
    }

    #[test]
    fn a_chain_without_providers_is_no_credentials_and_a_process_failure_is_not() {
        let none = CredentialsError::not_loaded("no providers in chain provided credentials");
        assert!(no_credentials(&none));
        let failed = CredentialsError::provider_error("credential_process exited 1");
        assert!(!no_credentials(&failed));
        let imds = CredentialsError::provider_error("failed to load IMDS session token");
        assert!(no_credentials(&imds));
    }
}
