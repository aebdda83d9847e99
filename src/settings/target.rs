//! Targets as the commands that take one spell them (`plan`, `status`, `iam-policy`):
//! `phase 3`, `rollback-2`, `monitor`...

use crate::error::Error;
use crate::request::Target;

/// Parses a `plan` target: `preflight`, `phase N`, `rollback N`, `verify`, `all`.
pub fn parse_target(words: &[String]) -> Result<Target, Error> {
    let joined = words
        .join(" ")
        .to_ascii_lowercase()
        .replace(['-', '_'], " ");
    let parts: Vec<&str> = joined.split_whitespace().collect();
    let number = |s: Option<&&str>, max: u8| {
        s.and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=max).contains(n))
    };
    let target = match parts.as_slice() {
        [] | ["all"] => Some(Target::All),
        ["preflight" | "pre flight"] => Some(Target::Preflight),
        ["pre", "flight"] => Some(Target::Preflight),
        ["verify"] => Some(Target::Verify),
        ["run"] => Some(Target::Run),
        ["monitor"] => Some(Target::Monitor),
        ["phase", n] => number(Some(n), 5).map(Target::Phase),
        ["rollback", n] => number(Some(n), 3).map(Target::Rollback),
        _ => None,
    };
    target.ok_or_else(|| {
        Error::Usage(format!(
            "unknown target `{}`; use preflight, phase 1-5, rollback 1-3, verify, monitor or all",
            words.join(" ")
        ))
    })
}
