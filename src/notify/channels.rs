//! The channels a run notifies, resolved once from the runbook's `notify:` section (rendered
//! over the vars) and the settings' secrets. No channel configured: nothing is sent.

use std::time::Duration;

use crate::runbook::model::NotifySpec;
use crate::settings::NotifySettings;

use super::notice::Severity;

/// Who to escalate to, from the runbook's vars: shown with every failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contacts {
    pub on_call: String,
    pub slack_channel: String,
    pub issues_url: String,
}

impl Contacts {
    pub fn is_empty(&self) -> bool {
        self.on_call.is_empty() && self.slack_channel.is_empty() && self.issues_url.is_empty()
    }
}

/// Where a notice can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Slack,
    PagerDuty,
    Sns,
}

/// The configured channels of a run; the secrets are here only, never in a message.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// The runbook's name, the source of every notice.
    pub runbook: String,
    pub contacts: Contacts,
    /// The Slack incoming webhook's URL (secret).
    pub slack_webhook_url: Option<String>,
    /// The PagerDuty endpoint and routing key (secret).
    pub pagerduty: Option<(String, String)>,
    /// The SNS topic every notice is published to.
    pub sns_topic_arn: Option<String>,
    pub timeout: Duration,
}

impl Channels {
    /// The runbook's section rendered by `render` (vars and `env`), with the settings'
    /// secrets. `--no-notify` keeps the contacts (shown on failure) and drops every channel.
    pub fn resolve(
        runbook: &str,
        spec: &NotifySpec,
        settings: &NotifySettings,
        render: impl Fn(&str, &str) -> Result<String, String>,
    ) -> Result<Channels, String> {
        let contacts = Contacts {
            on_call: render("on_call", &spec.on_call)?,
            slack_channel: render("slack_channel", &spec.slack_channel)?,
            issues_url: render("issues_url", &spec.issues_url)?,
        };
        let mut channels = Channels {
            runbook: runbook.to_owned(),
            contacts,
            timeout: spec.timeout,
            ..Channels::default()
        };
        if !settings.enabled {
            return Ok(channels);
        }
        channels.slack_webhook_url = settings.slack_webhook_url.clone();
        if let Some(key) = &settings.pagerduty_routing_key {
            let url = render("pagerduty_url", &spec.pagerduty_url)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!(
                    "`notify.pagerduty_url` must be an http(s) URL, not `{url}`"
                ));
            }
            channels.pagerduty = Some((url, key.clone()));
        }
        let topic = render("sns_topic_arn", &spec.sns_topic_arn)?;
        channels.sns_topic_arn = Some(topic).filter(|t| !t.trim().is_empty());
        Ok(channels)
    }

    /// The configured channels a notice of this severity goes to: P1 pages (PagerDuty) and
    /// tells the channel (Slack); P2 and P3 go to Slack; SNS gets every notice (subscribers
    /// filter on its `severity` attribute).
    pub fn route(&self, severity: Severity) -> Vec<Channel> {
        let mut to = Vec::new();
        if self.pagerduty.is_some() && severity == Severity::P1 {
            to.push(Channel::PagerDuty);
        }
        if self.slack_webhook_url.is_some() {
            to.push(Channel::Slack);
        }
        if self.sns_topic_arn.is_some() {
            to.push(Channel::Sns);
        }
        to
    }

    /// How a channel is named in output: never by its secret.
    pub fn name(&self, channel: Channel) -> String {
        match channel {
            Channel::Slack if self.contacts.slack_channel.is_empty() => "slack".into(),
            Channel::Slack => format!("slack {}", self.contacts.slack_channel),
            Channel::PagerDuty => "pagerduty".into(),
            Channel::Sns => format!("sns {}", self.sns_topic_arn.as_deref().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> NotifySpec {
        NotifySpec {
            slack_channel: "#alerts".into(),
            pagerduty_url: "http://127.0.0.1:9/pd".into(),
            sns_topic_arn: "{{ topic }}".into(),
            ..NotifySpec::default()
        }
    }

    fn settings(enabled: bool) -> NotifySettings {
        NotifySettings {
            enabled,
            slack_webhook_url: Some("https://hooks.example/x".into()),
            pagerduty_routing_key: Some("routing-key-123".into()),
        }
    }

    fn render(_: &str, t: &str) -> Result<String, String> {
        Ok(t.replace("{{ topic }}", "arn:aws:sns:us-east-1:1:t"))
    }

    #[test]
    fn p1_pages_and_every_level_reaches_slack_and_sns() {
        let c = Channels::resolve("rb", &spec(), &settings(true), render).expect("channels");
        use Channel::*;
        assert_eq!(c.route(Severity::P1), [PagerDuty, Slack, Sns]);
        assert_eq!(c.route(Severity::P2), [Slack, Sns]);
        assert_eq!(c.route(Severity::P3), [Slack, Sns]);
        assert_eq!(c.name(Slack), "slack #alerts");
    }

    #[test]
    fn no_notify_keeps_the_contacts_and_drops_every_channel() {
        let c = Channels::resolve("rb", &spec(), &settings(false), render).expect("channels");
        assert!(c.route(Severity::P1).is_empty());
        assert_eq!(c.contacts.slack_channel, "#alerts");
    }

    #[test]
    fn an_empty_topic_is_no_channel() {
        let empty = |_: &str, t: &str| Ok(t.replace("{{ topic }}", ""));
        let only_sns = NotifySettings {
            enabled: true,
            ..NotifySettings::default()
        };
        let c = Channels::resolve("rb", &spec(), &only_sns, empty);
        assert!(c.expect("channels").route(Severity::P1).is_empty());
    }
}
