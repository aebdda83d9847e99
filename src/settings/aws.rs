//! The AWS configuration of a run, from `--profile`/`--region`, the environment, the AWS
//! config files and the runbook's vars `profile` and `region` (the README's "AWS
//! configuration" states the rules).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::kinds::aws::{AwsConfig, AwsTimeouts, NO_CREDENTIALS};

/// The operator's `--profile` and `--region`; the runbook's vars and the environment join
/// them in [`Settings::aws_config`].
#[derive(Debug, Clone, Serialize)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// `--cli-connect-timeout` and `--cli-read-timeout`, in seconds.
    pub connect_timeout: Option<u64>,
    pub read_timeout: Option<u64>,
}

/// Environment variables that give the SDK credentials without a profile, each set complete:
/// static keys, a web identity token, a container's credentials endpoint.
const CREDENTIAL_ENV: &[&[&str]] = &[
    &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    &["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"],
    &["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
    &["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
];

/// Where a region or profile named by the runbook comes from, as messages name it.
const RUNBOOK_REGION: &str = "the runbook's vars.region";
const RUNBOOK_PROFILE: &str = "the runbook's vars.profile";

/// The profiles of the AWS config and credentials files: name, and the profile's region.
#[derive(Debug, Default)]
struct Profiles {
    regions: BTreeMap<String, Option<String>>,
    /// The files, as messages name them.
    files: String,
    /// The files could not be read or parsed.
    error: Option<String>,
}

impl Profiles {
    /// Reads the files the SDK reads (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/config` and `~/.aws/credentials`) with the SDK's own parser, so a profile is
    /// found here exactly when the SDK finds it.
    fn load(env: &BTreeMap<String, String>) -> Self {
        let file = |var: &str, default: &str| {
            env.get(var)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_owned())
        };
        let files = format!(
            "{} or {}",
            file("AWS_CONFIG_FILE", "~/.aws/config"),
            file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        );
        let sdk_env = aws_types::os_shim_internal::Env::from(
            env.clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        // The parser does its reads directly, not on a runtime: blocking on it is a plain
        // file read.
        let loaded = futures::executor::block_on(aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &sdk_env,
            &aws_runtime::env_config::file::EnvConfigFiles::default(),
            None,
        ));
        match loaded {
            Ok(set) => Profiles {
                regions: set
                    .profiles()
                    .map(|name| {
                        let region = set
                            .get_profile(name)
                            .and_then(|p| p.get("region"))
                            .map(str::to_owned);
                        (name.to_owned(), region)
                    })
                    .collect(),
                files,
                error: None,
            },
            Err(e) => Profiles {
                error: Some(format!(
                    "the AWS config files ({files}) cannot be read: {e}"
                )),
                files,
                ..Profiles::default()
            },
        }
    }
}

/// The configuration from the flags, the environment, the config files it names and the vars.
pub(super) fn config(
    flags: &AwsSettings,
    env: &BTreeMap<String, String>,
    vars: &Map<String, Value>,
) -> Result<AwsConfig, Error> {
    resolve_aws(flags, env, &Profiles::load(env), vars)
}

fn resolve_aws(
    flags: &AwsSettings,
    env: &BTreeMap<String, String>,
    profiles: &Profiles,
    vars: &Map<String, Value>,
) -> Result<AwsConfig, Error> {
    let var = |name: &str| {
        vars.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let env_var = |name: &str| env.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let env_credentials = CREDENTIAL_ENV
        .iter()
        .any(|set| set.iter().all(|name| env_var(name).is_some()));
    let mut unusable = None;

    // The profile: --profile, else AWS_PROFILE, else the runbook's.
    let named = match (&flags.profile, env_var("AWS_PROFILE"), var("profile")) {
        (Some(p), _, _) => Some((p.as_str(), "--profile")),
        (None, Some(p), _) => Some((p, "AWS_PROFILE")),
        (None, None, Some(p)) => Some((p, RUNBOOK_PROFILE)),
        (None, None, None) => None,
    };
    let mut profile = None;
    if let Some((name, source)) = named {
        if let Some(error) = &profiles.error {
            // Whether the profile exists cannot be known; the SDK would not find it either.
            unusable = Some(error.clone());
        } else if profiles.regions.contains_key(name) {
            profile = Some(name.to_owned());
        } else if source == RUNBOOK_PROFILE && env_credentials {
            // The runbook's profile is a default for the operator's machine; where it is not
            // configured, the environment's credentials (which the SDK takes before any
            // profile's anyway) are used.
        } else if source == RUNBOOK_PROFILE {
            // The operator named no profile and has no credentials: the AWS CLI's words for
            // that, then the runbook's default that was not found either.
            unusable = Some(format!(
                "{NO_CREDENTIALS} The runbook's profile ({name}, {source}) is not in {} either: pass --profile NAME or --var profile=NAME (--var profile= for the SDK's default chain), or set AWS_PROFILE",
                profiles.files
            ));
        } else {
            // The AWS CLI's words, then who named it and where profiles are read from.
            unusable = Some(format!(
                "The config profile ({name}) could not be found (named by {source}; profiles are read from {})",
                profiles.files
            ));
        }
    }

    // The region the environment would choose: AWS_REGION, AWS_DEFAULT_REGION, the profile's
    // (with none selected, the SDK reads the `default` profile's).
    let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| env_var(name).map(|v| (v.to_owned(), (*name).to_owned())))
        .or_else(|| {
            let p = profile.as_deref().unwrap_or("default");
            let region = profiles.regions.get(p)?.clone()?;
            Some((region, format!("the region of profile `{p}`")))
        });
    let region = match (&flags.region, var("region")) {
        (Some(r), _) => Some((r.clone(), "--region".to_owned())),
        (None, Some(runbook)) => {
            if let Some((other, source)) = env_region.filter(|(r, _)| r != runbook) {
                let or_else = if source.starts_with("AWS_") {
                    format!("unset {source}")
                } else {
                    "change the profile's region".to_owned()
                };
                return Err(Error::Refused(format!(
                    "the runbook runs in {runbook} ({RUNBOOK_REGION}), but {source} says {other}; nothing was run. Pass --region {runbook} to run in the runbook's region or --region {other} to run in {other}, or {or_else}"
                )));
            }
            Some((runbook.to_owned(), RUNBOOK_REGION.to_owned()))
        }
        (None, None) => env_region,
    };
    Ok(AwsConfig {
        profile_credentials_only: flags.profile.is_some() && profile.is_some(),
        profile,
        region,
        unusable,
        timeouts: AwsTimeouts {
            connect: flags.connect_timeout.map(Duration::from_secs),
            read: flags.read_timeout.map(Duration::from_secs),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles(list: &[(&str, Option<&str>)]) -> Profiles {
        Profiles {
            regions: list
                .iter()
                .map(|(n, r)| ((*n).to_owned(), r.map(str::to_owned)))
                .collect(),
            files: "CONFIG or CREDENTIALS".into(),
            error: None,
        }
    }

    fn resolve(
        flags: (Option<&str>, Option<&str>),
        env: &[(&str, &str)],
        known: &[(&str, Option<&str>)],
    ) -> Result<AwsConfig, Error> {
        let flags = AwsSettings {
            profile: flags.0.map(str::to_owned),
            region: flags.1.map(str::to_owned),
            connect_timeout: None,
            read_timeout: None,
        };
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let vars = serde_json::json!({"profile": "soc", "region": "us-east-1"});
        resolve_aws(&flags, &env, &profiles(known), vars.as_object().unwrap())
    }

    const KEYS: &[(&str, &str)] = &[
        ("AWS_ACCESS_KEY_ID", "AKIA"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key"),
    ];

    #[test]
    fn the_profile_is_the_flag_then_aws_profile_then_the_runbooks() {
        let known = [("soc", None), ("ops", None), ("cli", None)];
        let with = |flag, env: &[(&str, &str)]| resolve((flag, None), env, &known).unwrap();
        assert_eq!(with(None, &[]).profile.as_deref(), Some("soc"));
        let env = with(None, &[("AWS_PROFILE", "ops")]);
        assert_eq!(env.profile.as_deref(), Some("ops"));
        assert!(
            !env.profile_credentials_only,
            "AWS_PROFILE yields to env keys"
        );
        let flag = with(Some("cli"), &[("AWS_PROFILE", "ops")]);
        assert_eq!(flag.profile.as_deref(), Some("cli"));
        assert!(flag.profile_credentials_only, "--profile ignores env keys");
    }

    #[test]
    fn a_missing_runbook_profile_yields_to_environment_credentials_only() {
        let with_keys = resolve((None, None), KEYS, &[]).unwrap();
        assert_eq!((with_keys.profile, with_keys.unusable), (None, None));
        let bare = resolve((None, None), &[], &[]).unwrap();
        let bare = bare.unusable.unwrap();
        assert!(bare.starts_with("Unable to locate credentials."), "{bare}");
        assert!(
            bare.contains("profile (soc, the runbook's vars.profile)"),
            "{bare}"
        );
        // Named by the operator, a missing profile is an error even with keys (the CLI's rule).
        let env = resolve((None, None), &[KEYS[0], KEYS[1], ("AWS_PROFILE", "x")], &[]).unwrap();
        assert!(
            env.unusable
                .unwrap()
                .starts_with("The config profile (x) could not be found (named by AWS_PROFILE;")
        );
    }

    #[test]
    fn the_runbooks_region_unless_the_flag_and_a_contradiction_is_refused() {
        let region = |c: AwsConfig| c.region.unwrap();
        assert_eq!(
            region(resolve((None, None), KEYS, &[]).unwrap()),
            ("us-east-1".into(), RUNBOOK_REGION.into())
        );
        assert_eq!(
            region(resolve((None, None), &[("AWS_REGION", "us-east-1")], &[]).unwrap()).0,
            "us-east-1"
        );
        for env in [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ] {
            let Err(Error::Refused(m)) = resolve((None, None), &[env], &[]) else {
                panic!("{env:?} must be refused");
            };
            assert!(m.contains(&format!("but {} says eu-west-1", env.0)), "{m}");
        }
        assert!(matches!(
            resolve((None, None), &[], &[("soc", Some("eu-west-1"))]),
            Err(Error::Refused(_))
        ));
        // The runbook's profile not configured: the `default` profile's region is the SDK's.
        let Err(Error::Refused(m)) = resolve((None, None), KEYS, &[("default", Some("eu-west-1"))])
        else {
            panic!("the default profile's region must be refused");
        };
        assert!(
            m.contains("the region of profile `default` says eu-west-1"),
            "{m}"
        );
        assert_eq!(
            region(
                resolve(
                    (None, Some("eu-west-1")),
                    &[("AWS_REGION", "ap-south-1")],
                    &[]
                )
                .unwrap()
            ),
            ("eu-west-1".into(), "--region".into())
        );
    }
}
