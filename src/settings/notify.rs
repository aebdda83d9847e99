//! Notification settings: `--no-notify` and the secrets the channels need, read from the
//! environment once here (the core never reads it).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

/// The Slack incoming webhook's URL (a secret: whoever has it can post to the channel).
pub const SLACK_WEBHOOK_ENV: &str = "OUTPOST_SLACK_WEBHOOK_URL";
/// The PagerDuty Events API v2 routing (integration) key (a secret: it pages people).
pub const PAGERDUTY_KEY_ENV: &str = "OUTPOST_PAGERDUTY_ROUTING_KEY";

/// Whether notifications are sent, and the secrets of the channels configured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifySettings {
    /// `--no-notify` turns every channel off.
    pub enabled: bool,
    /// Shown only as whether it is set.
    #[serde(serialize_with = "is_set")]
    pub slack_webhook_url: Option<String>,
    #[serde(serialize_with = "is_set")]
    pub pagerduty_routing_key: Option<String>,
}

impl NotifySettings {
    pub fn resolve(no_notify: bool, env: &BTreeMap<String, String>) -> Self {
        let secret = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        NotifySettings {
            enabled: !no_notify,
            slack_webhook_url: secret(SLACK_WEBHOOK_ENV),
            pagerduty_routing_key: secret(PAGERDUTY_KEY_ENV),
        }
    }
}

fn is_set<S: Serializer>(value: &Option<String>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_bool(value.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_environment_and_are_shown_only_as_set() {
        let env = BTreeMap::from([
            (
                SLACK_WEBHOOK_ENV.to_owned(),
                "https://hooks.example/T/B/x".to_owned(),
            ),
            (PAGERDUTY_KEY_ENV.to_owned(), " ".to_owned()),
        ]);
        let s = NotifySettings::resolve(false, &env);
        assert!(s.enabled);
        assert_eq!(
            s.slack_webhook_url.as_deref(),
            Some("https://hooks.example/T/B/x")
        );
        assert_eq!(s.pagerduty_routing_key, None);
        let shown = serde_json::to_string(&s).expect("json");
        assert!(!shown.contains("hooks"), "{shown}");
        assert!(!NotifySettings::resolve(true, &env).enabled);
    }
}
