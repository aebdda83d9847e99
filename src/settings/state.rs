//! Where the state lives (`--state`, else `--state-dir`), resolved once, and the backend
//! built from it for `Settings::state_store_for`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Settings;
use crate::cli::StateArgs;
use crate::error::Error;
use crate::kinds::aws::AwsConfig;
use crate::state::StateStore;
use crate::state::local::LocalStore;
use crate::state::location::StateLocation;
use crate::state::s3::{S3Options, S3Store};
use crate::state::s3_io::Encryption;

/// How long an S3 lock's lease holds without renewal; its holder renews it every quarter.
pub const LEASE: Duration = Duration::from_secs(60);

/// A hidden setting (for the tests) that shortens the lease, e.g. `2s`.
const LEASE_ENV: &str = "OUTPOST_MIGRATE_LEASE";

/// `LEASE`, or what `LEASE_ENV` says (at least a second; not a duration: ignored).
fn lease(env: &BTreeMap<String, String>) -> Duration {
    env.get(LEASE_ENV)
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .map_or(LEASE, |d| d.max(Duration::from_secs(1)))
}

/// Where the state lives, and how an S3 backend writes it.
#[derive(Debug, Clone, Serialize)]
pub struct StateSettings {
    /// `--state`, else `--state-dir`.
    pub location: StateLocation,
    /// `--state-kms-key`: S3 state objects use SSE-KMS with it rather than SSE-S3.
    pub kms_key: Option<String>,
    /// How long an S3 lock's lease holds without renewal.
    #[serde(skip)]
    pub lease: Duration,
}

/// The state settings of the command's `StateArgs`, and the name messages give the state.
pub(super) fn resolve(
    args: StateArgs,
    env: &BTreeMap<String, String>,
) -> Result<(StateSettings, PathBuf), Error> {
    let (location, name) = location(args.state_dir, args.state)?;
    let settings = StateSettings {
        location,
        kms_key: args.state_kms_key,
        lease: lease(env),
    };
    Ok((settings, name))
}

/// The state's location, and the name messages give it (the directory, or the `s3://` URL).
fn location(state_dir: PathBuf, url: Option<String>) -> Result<(StateLocation, PathBuf), Error> {
    let location = match url {
        Some(url) => StateLocation::parse(&url).map_err(Error::Usage)?,
        None => StateLocation::Local { dir: state_dir },
    };
    let name = match &location {
        StateLocation::Local { dir } => dir.clone(),
        s3 => PathBuf::from(s3.to_string()),
    };
    Ok((location, name))
}

impl Settings {
    /// The state backend of a command that reads no runbook (`unlock`).
    pub fn state_store(&self) -> Box<dyn StateStore> {
        self.state_store_for(&Map::new())
    }

    /// The state backend the commands read and write: the one place a backend is chosen
    /// (an S3 one reaches AWS with the runbook's `vars` as the migration's clients do).
    pub fn state_store_for(&self, vars: &Map<String, Value>) -> Box<dyn StateStore> {
        store(self, vars)
    }
}

/// The backend of `settings.state`: an S3 one reaches AWS as the migration's clients do.
fn store(settings: &Settings, vars: &Map<String, Value>) -> Box<dyn StateStore> {
    let state = &settings.state;
    match &state.location {
        StateLocation::Local { dir } => Box::new(LocalStore::new(dir)),
        StateLocation::S3 { bucket, prefix } => Box::new(S3Store::new(S3Options {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            encryption: state
                .kms_key
                .clone()
                .map_or(Encryption::S3Managed, Encryption::Kms),
            lease: state.lease,
            aws: settings.aws_config(vars).unwrap_or_else(|e| AwsConfig {
                unusable: Some(e.to_string()),
                ..AwsConfig::default()
            }),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_a_minute_unless_shortened_to_a_second_or_more() {
        let env = |v: &str| BTreeMap::from([(LEASE_ENV.to_owned(), v.to_owned())]);
        assert_eq!(lease(&BTreeMap::new()), LEASE);
        assert_eq!(lease(&env("3s")), Duration::from_secs(3));
        assert_eq!(lease(&env("1ms")), Duration::from_secs(1));
        assert_eq!(lease(&env("soon")), LEASE);
    }

    #[test]
    fn an_s3_url_is_named_as_typed_and_a_directory_as_its_path() {
        let (s3, name) = location(".outpost-migrate".into(), Some("s3://b-1/p/".into())).unwrap();
        assert!(matches!(s3, StateLocation::S3 { .. }));
        assert_eq!(name, PathBuf::from("s3://b-1/p"));
        let (local, name) = location("st".into(), None).unwrap();
        assert_eq!(local, StateLocation::Local { dir: "st".into() });
        assert_eq!(name, PathBuf::from("st"));
        assert!(location("st".into(), Some("s3://X".into())).is_err());
    }
}
