//! Where the state lives, as `--state` names it: `s3://bucket/prefix` for the team backend on
//! S3, anything else a local directory.

use std::path::PathBuf;

use serde::Serialize;

/// A state location, resolved once by the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum StateLocation {
    Local { dir: PathBuf },
    S3 { bucket: String, prefix: String },
}

impl StateLocation {
    /// `s3://bucket[/prefix]` or a path; a malformed S3 URL says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(StateLocation::Local {
                dir: PathBuf::from(text),
            });
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's own rule for bucket names: 3 to 63 of a-z, 0-9, `.` and `-`.
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !valid {
            return Err(format!(
                "--state {text}: `{bucket}` is not an S3 bucket name (3 to 63 characters: a-z, 0-9, `.`, `-`); write s3://BUCKET/PREFIX"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") && !prefix.is_empty() {
            return Err(format!(
                "--state {text}: the prefix may not hold `.` or `..` segments"
            ));
        }
        Ok(StateLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for StateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateLocation::Local { dir } => write!(f, "{}", dir.display()),
            StateLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StateLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_url_names_bucket_and_prefix_and_anything_else_is_a_directory() {
        assert_eq!(
            StateLocation::parse("s3://team-state/outpost/prod/").unwrap(),
            StateLocation::S3 {
                bucket: "team-state".into(),
                prefix: "outpost/prod".into()
            }
        );
        assert_eq!(
            StateLocation::parse("s3://team-state").unwrap().to_string(),
            "s3://team-state"
        );
        assert_eq!(
            StateLocation::parse("state/here").unwrap(),
            StateLocation::Local {
                dir: "state/here".into()
            }
        );
        assert!(StateLocation::parse("s3://").is_err());
        assert!(StateLocation::parse("s3://Upper_Case/x").is_err());
        assert!(StateLocation::parse("s3://bucket/a/../b").is_err());
    }
}
