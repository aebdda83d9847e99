//! One AWS SDK configuration per run and one client per service, each built on first use and
//! shared by every step.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::Value;

use crate::kinds::KindFailure;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

pub struct AwsClients {
    pub sts: Lazy<aws_sdk_sts::Client>,
    pub ecs: Lazy<aws_sdk_ecs::Client>,
    pub elbv2: Lazy<aws_sdk_elasticloadbalancingv2::Client>,
    pub ecr: Lazy<aws_sdk_ecr::Client>,
    pub dynamodb: Lazy<aws_sdk_dynamodb::Client>,
    pub s3: Lazy<aws_sdk_s3::Client>,
    pub secretsmanager: Lazy<aws_sdk_secretsmanager::Client>,
    pub route53: Lazy<aws_sdk_route53::Client>,
    pub cloudtrail: Lazy<aws_sdk_cloudtrail::Client>,
    pub ssm: Lazy<aws_sdk_ssm::Client>,
    pub cloudwatch: Lazy<aws_sdk_cloudwatch::Client>,
    pub logs: Lazy<aws_sdk_cloudwatchlogs::Client>,
    /// The region every client calls.
    pub region: String,
    /// The endpoint URL the configuration names (`AWS_ENDPOINT_URL`), if any.
    pub endpoint: Option<String>,
}

impl AwsClients {
    /// The endpoint `service`'s client calls, as a failure to reach it names it.
    pub fn endpoint_url(&self, service: &str) -> String {
        super::error::endpoint_url(self.endpoint.as_deref(), service, &self.region)
    }
}

/// A service's client, built on first use or by [`AwsClients::build_all`]: building one
/// parses that service's endpoint rules, which the account guard's call, needing only STS's
/// client, should not wait for.
pub struct Lazy<T>(LazyLock<T, Box<dyn FnOnce() -> T + Send>>);

impl<T> Lazy<T> {
    fn new(build: impl FnOnce() -> T + Send + 'static) -> Self {
        Lazy(LazyLock::new(Box::new(build)))
    }

    fn of(config: &SdkConfig, build: fn(&SdkConfig) -> T) -> Self
    where
        T: 'static,
    {
        let config = config.clone();
        Lazy::new(move || build(&config))
    }
}

impl<T> Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl AwsClients {
    /// Builds every client not built yet (no call is made): run on a blocking thread while
    /// the account guard's call is in flight, so that no step builds one after it.
    pub fn build_all(&self) {
        LazyLock::force(&self.sts.0);
        LazyLock::force(&self.ecs.0);
        LazyLock::force(&self.elbv2.0);
        LazyLock::force(&self.ecr.0);
        LazyLock::force(&self.dynamodb.0);
        LazyLock::force(&self.s3.0);
        LazyLock::force(&self.secretsmanager.0);
        LazyLock::force(&self.route53.0);
        LazyLock::force(&self.cloudtrail.0);
        LazyLock::force(&self.ssm.0);
        LazyLock::force(&self.cloudwatch.0);
        LazyLock::force(&self.logs.0);
    }
}

/// The AWS configuration of a run, resolved by the settings from the command line, the
/// environment and the runbook's vars (see `settings::Settings::aws_config`); the core never
/// looks at the environment for it.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// The profile the SDK selects; `None` leaves the SDK's own choice (`default`).
    pub profile: Option<String>,
    /// `--profile`: credentials come from that profile only, never from the environment, as
    /// the AWS CLI does for an explicit `--profile`.
    pub profile_credentials_only: bool,
    /// The region every client calls, and where it came from (`--region`, `vars.region`...);
    /// `None` leaves it to the SDK's chain.
    pub region: Option<(String, String)>,
    /// Why AWS cannot be used with this configuration: the first AWS call fails with it (a
    /// set-up error), so a plan without AWS steps is not stopped by it.
    pub unusable: Option<String>,
}

/// How to reach AWS: the resolved [`AwsConfig`] over the SDK's standard chain (credentials,
/// AWS_ENDPOINT_URL, SSO and assume-role profiles).
pub struct AwsContext {
    config: AwsConfig,
    clients: OnceCell<Result<Arc<AwsClients>, String>>,
    /// Read calls in flight, by service, operation and input.
    in_flight: Mutex<HashMap<String, SharedCall>>,
}

type SharedCall = Shared<BoxFuture<'static, Result<Value, KindFailure>>>;

/// Every call gives up after this, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ATTEMPTS: u32 = 3;
/// CloudTrail's LookupEvents searches 90 days of history at 2 requests a second: an attempt
/// may take longer than other calls, and throttling is expected, so it may retry more.
const CLOUDTRAIL_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
const CLOUDTRAIL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
const CLOUDTRAIL_MAX_ATTEMPTS: u32 = 6;

impl AwsContext {
    pub fn new(config: AwsConfig) -> Self {
        AwsContext {
            config,
            clients: OnceCell::new(),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Runs a read call, or joins the identical one already in flight. Nothing is cached: a
    /// call made after the first finished (a poll's next attempt) goes to AWS again.
    pub async fn single_flight(
        &self,
        key: String,
        call: impl Future<Output = Result<Value, KindFailure>> + Send + 'static,
    ) -> Result<Value, KindFailure> {
        let shared = {
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone())
                .or_insert_with(|| call.boxed().shared())
                .clone()
        };
        let result = shared.await;
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        result
    }

    /// The shared clients; loading the configuration happens once, on first use.
    pub async fn clients(&self) -> Result<Arc<AwsClients>, String> {
        self.clients.get_or_init(|| self.load()).await.clone()
    }

    /// Where the region comes from, when the run chose it (not the SDK's chain).
    pub fn region_source(&self) -> Option<&str> {
        self.config
            .region
            .as_ref()
            .map(|(_, source)| source.as_str())
    }

    /// Gives a `shell` or `mcp` command the run's region and profile, so the terraform and
    /// AWS CLI it runs act where the `aws` steps do: `AWS_REGION` and `AWS_DEFAULT_REGION`
    /// are the run's region, `AWS_PROFILE` its profile; with `--profile` the environment's
    /// keys are removed, since they would win over the profile there. The step's own `env`,
    /// applied after, still wins.
    pub fn apply_to(&self, cmd: &mut tokio::process::Command) {
        if let Some((region, _)) = &self.config.region {
            cmd.env("AWS_REGION", region)
                .env("AWS_DEFAULT_REGION", region);
        }
        if let Some(profile) = &self.config.profile {
            cmd.env("AWS_PROFILE", profile);
            if self.config.profile_credentials_only {
                for key in [
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN",
                ] {
                    cmd.env_remove(key);
                }
            }
        }
    }

    async fn load(&self) -> Result<Arc<AwsClients>, String> {
        if let Some(why) = &self.config.unusable {
            return Err(why.clone());
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(OPERATION_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            );
        // Only the resolved profile and region override the chain; calling `.endpoint_url()`
        // here would hide AWS_ENDPOINT_URL, so it is never called.
        if let Some(p) = &self.config.profile {
            loader = loader.profile_name(p);
            if self.config.profile_credentials_only {
                loader = loader.credentials_provider(
                    aws_config::profile::ProfileFileCredentialsProvider::builder()
                        .profile_name(p)
                        .build(),
                );
            }
        }
        if let Some((r, _)) = &self.config.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(ToString::to_string) else {
            return Err("no AWS region is configured: set `region` in the runbook's vars, pass --region or set AWS_REGION (or a region in the profile)".into());
        };
        // An emulator serves every bucket on one host: path-style addressing.
        let path_style = config.endpoint_url().is_some();
        let s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style);
        let cloudtrail = aws_sdk_cloudtrail::config::Builder::from(&config)
            .retry_config(RetryConfig::standard().with_max_attempts(CLOUDTRAIL_MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(CLOUDTRAIL_OPERATION_TIMEOUT)
                    .operation_attempt_timeout(CLOUDTRAIL_ATTEMPT_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            );
        Ok(Arc::new(AwsClients {
            sts: Lazy::of(&config, aws_sdk_sts::Client::new),
            ecs: Lazy::of(&config, aws_sdk_ecs::Client::new),
            elbv2: Lazy::of(&config, aws_sdk_elasticloadbalancingv2::Client::new),
            ecr: Lazy::of(&config, aws_sdk_ecr::Client::new),
            dynamodb: Lazy::of(&config, aws_sdk_dynamodb::Client::new),
            s3: Lazy::new(move || aws_sdk_s3::Client::from_conf(s3.build())),
            secretsmanager: Lazy::of(&config, aws_sdk_secretsmanager::Client::new),
            route53: Lazy::of(&config, aws_sdk_route53::Client::new),
            cloudtrail: Lazy::new(move || {
                aws_sdk_cloudtrail::Client::from_conf(cloudtrail.build())
            }),
            ssm: Lazy::of(&config, aws_sdk_ssm::Client::new),
            cloudwatch: Lazy::of(&config, aws_sdk_cloudwatch::Client::new),
            logs: Lazy::of(&config, aws_sdk_cloudwatchlogs::Client::new),
            region,
            endpoint: config.endpoint_url().map(str::to_owned),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn identical_reads_in_flight_share_one_call_and_later_ones_call_again() {
        let ctx = AwsContext::new(AwsConfig::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let call = |calls: Arc<AtomicUsize>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Value::from(1))
        };
        let (a, b) = tokio::join!(
            ctx.single_flight("k".into(), call(calls.clone())),
            ctx.single_flight("k".into(), call(calls.clone()))
        );
        assert_eq!((a.unwrap(), b.unwrap()), (Value::from(1), Value::from(1)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        ctx.single_flight("k".into(), call(calls.clone()))
            .await
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "a finished call is not a cache"
        );
    }
}
