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
    /// For notifications (src/notify/sns.rs), not a step's service.
    pub sns: Lazy<aws_sdk_sns::Client>,
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

/// A service's client, built on first use or by [`AwsClients::build`]: building one
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

/// Starts loading the system's trust roots for the AWS clients on a thread of its own, to be
/// called before the runbook is read. The SDK's HTTP client loads them once a process, when
/// the first client is made (milliseconds of reading every certificate file); the account
/// guard's client, made once the runbook names the region, then finds them loaded instead of
/// loading them before its call.
pub fn load_trust_roots_early() {
    std::thread::spawn(|| {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        drop(aws_sdk_sts::Client::from_conf(config));
    });
}

impl AwsClients {
    /// Builds the clients of the named services (as `aws` steps name them, aliases included)
    /// not built yet; no call is made. Run on a blocking thread while the account guard's
    /// call is in flight, so that no step builds one after it. Only the plan's services: a
    /// client holds its service's endpoint rules, memory a pre-flight has no use for.
    pub fn build<'a>(&self, services: impl IntoIterator<Item = &'a str>) {
        for service in services {
            match service {
                "sts" => force(&self.sts),
                "ecs" => force(&self.ecs),
                "elasticloadbalancingv2" => force(&self.elbv2),
                "ecr" => force(&self.ecr),
                "dynamodb" => force(&self.dynamodb),
                "s3" => force(&self.s3),
                "secretsmanager" => force(&self.secretsmanager),
                "route53" => force(&self.route53),
                "cloudtrail" => force(&self.cloudtrail),
                "ssm" => force(&self.ssm),
                "cloudwatch" => force(&self.cloudwatch),
                "logs" => force(&self.logs),
                _ => {}
            }
        }
    }
}

fn force<T>(client: &Lazy<T>) {
    LazyLock::force(&client.0);
}

/// The AWS configuration of a run, resolved by the settings from the command line, the
/// environment and the runbook's vars (see `settings::Settings::aws_config`); the core never
/// looks at the environment for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// The operator's timeouts, over the defaults below.
    pub timeouts: AwsTimeouts,
}

/// `--cli-connect-timeout` and `--cli-read-timeout`, as the AWS CLI names them: how long to
/// wait for the connection, and for the first byte of an answer (per attempt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AwsTimeouts {
    pub connect: Option<Duration>,
    pub read: Option<Duration>,
}

impl AwsTimeouts {
    /// The SDK's timeouts for calls whose defaults are `attempt` per attempt and `operation`
    /// in all over `attempts` attempts. A read timeout longer than an attempt lengthens the
    /// attempt to fit it, and the whole call to fit every attempt.
    fn sdk(&self, attempt: Duration, operation: Duration, attempts: u32) -> TimeoutConfig {
        let mut builder =
            TimeoutConfig::builder().connect_timeout(self.connect.unwrap_or(CONNECT_TIMEOUT));
        if let Some(read) = self.read {
            builder = builder.read_timeout(read);
        }
        let attempt = self.read.map_or(attempt, |read| attempt.max(read));
        builder
            .operation_attempt_timeout(attempt)
            .operation_timeout(operation.max(attempt * attempts))
            .build()
    }
}

/// How to reach AWS: the resolved [`AwsConfig`] over the SDK's standard chain (credentials,
/// AWS_ENDPOINT_URL, SSO and assume-role profiles).
pub struct AwsContext {
    config: AwsConfig,
    clients: OnceCell<Result<Arc<AwsClients>, String>>,
    /// Read calls in flight, by service, operation and input.
    in_flight: Mutex<HashMap<String, SharedCall>>,
    /// The account guard's answer (`caller_identity`), asked once.
    pub(super) identity: OnceCell<Result<super::CallerIdentity, KindFailure>>,
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
            identity: OnceCell::new(),
        }
    }

    /// The configuration its clients are made with.
    pub fn config(&self) -> &AwsConfig {
        &self.config
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
            .timeout_config(self.config.timeouts.sdk(
                ATTEMPT_TIMEOUT,
                OPERATION_TIMEOUT,
                MAX_ATTEMPTS,
            ));
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
            .timeout_config(self.config.timeouts.sdk(
                CLOUDTRAIL_ATTEMPT_TIMEOUT,
                CLOUDTRAIL_OPERATION_TIMEOUT,
                CLOUDTRAIL_MAX_ATTEMPTS,
            ));
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
            sns: Lazy::of(&config, aws_sdk_sns::Client::new),
            region,
            endpoint: config.endpoint_url().map(str::to_owned),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn the_defaults_hold_until_a_flag_says_otherwise() {
        let none = AwsTimeouts::default().sdk(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT, MAX_ATTEMPTS);
        assert_eq!(none.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(none.read_timeout(), None);
        assert_eq!(none.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(none.operation_timeout(), Some(OPERATION_TIMEOUT));
        let short = AwsTimeouts {
            connect: Some(Duration::from_secs(1)),
            read: Some(Duration::from_secs(2)),
        }
        .sdk(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT, MAX_ATTEMPTS);
        assert_eq!(short.connect_timeout(), Some(Duration::from_secs(1)));
        assert_eq!(short.read_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(short.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(short.operation_timeout(), Some(OPERATION_TIMEOUT));
    }

    #[test]
    fn a_read_timeout_longer_than_an_attempt_lengthens_the_attempt_and_the_call() {
        let long = AwsTimeouts {
            connect: None,
            read: Some(Duration::from_secs(100)),
        }
        .sdk(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT, MAX_ATTEMPTS);
        assert_eq!(
            long.operation_attempt_timeout(),
            Some(Duration::from_secs(100))
        );
        assert_eq!(long.operation_timeout(), Some(Duration::from_secs(300)));
    }

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
