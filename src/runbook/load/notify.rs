//! The top file's `notify:` section: where escalation notifications go, checked at load with
//! located errors (unknown fields, undefined vars, a timeout out of bounds).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::parse::FileCx;
use super::root::check_var_template;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::NotifySpec;
use crate::runbook::node::Node;

/// PagerDuty's Events API v2 endpoint, unless the section names another (a test receiver).
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// A send gives up after this unless the section says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// A notification must never hold the run: one send waits at most this long.
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Notify")]
pub(in crate::runbook) struct NotifyDoc {
    #[serde(default)]
    on_call: String,
    #[serde(default)]
    slack_channel: String,
    #[serde(default)]
    issues_url: String,
    pagerduty_url: Option<String>,
    #[serde(default)]
    sns_topic_arn: String,
    #[schemars(with = "Option<crate::runbook::schema::DurationText>")]
    timeout: Option<String>,
}

/// The section, or `None` when the runbook has none; its problems go to `diags`.
pub(super) fn load_notify(
    cx: &FileCx,
    root: &Node,
    vars: &[(String, Value)],
    diags: &mut Vec<Diagnostic>,
) -> Option<NotifySpec> {
    let node = root.get("notify")?;
    let doc: NotifyDoc = match cx.typed(node, None) {
        Ok(doc) => doc,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    for (field, child) in node.as_map().unwrap_or_default() {
        if field.name != "timeout" {
            check_var_template(cx, child, &format!("notify.{}", field.name), vars, diags);
        }
    }
    let timeout = match doc.timeout.as_deref().map(humantime::parse_duration) {
        None => DEFAULT_TIMEOUT,
        Some(Ok(t)) if !t.is_zero() && t <= MAX_TIMEOUT => t,
        Some(parsed) => {
            let loc = node.get("timeout").map_or(node.loc, |n| n.loc);
            let why = parsed.err().map_or_else(
                || {
                    format!(
                        "must be above 0s and at most {}",
                        humantime::format_duration(MAX_TIMEOUT)
                    )
                },
                |e| e.to_string(),
            );
            diags.push(
                cx.diag(loc, format!("invalid `notify.timeout`: {why}"))
                    .hint("a notification must never hold the run: write e.g. 5s (at most 30s)"),
            );
            DEFAULT_TIMEOUT
        }
    };
    Some(NotifySpec {
        on_call: doc.on_call,
        slack_channel: doc.slack_channel,
        issues_url: doc.issues_url,
        pagerduty_url: doc
            .pagerduty_url
            .unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_owned()),
        sns_topic_arn: doc.sns_topic_arn,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::parse::snippet;

    fn load(text: &str) -> (Option<NotifySpec>, Vec<(usize, String)>) {
        let (cx, root) = snippet(text);
        let mut diags = Vec::new();
        let vars = [("channel".to_owned(), Value::from("#alerts"))];
        let spec = load_notify(&cx, &root, &vars, &mut diags);
        (
            spec,
            diags.into_iter().map(|d| (d.loc.line, d.message)).collect(),
        )
    }

    #[test]
    fn a_section_reads_its_fields_with_defaults() {
        let (spec, diags) = load("notify:\n  slack_channel: '{{ channel }}'\n");
        assert!(diags.is_empty(), "{diags:?}");
        let spec = spec.expect("a section");
        assert_eq!(spec.slack_channel, "{{ channel }}");
        assert_eq!(spec.pagerduty_url, PAGERDUTY_EVENTS_URL);
        assert_eq!(spec.timeout, DEFAULT_TIMEOUT);
        assert!(load("name: x\n").0.is_none());
    }

    #[test]
    fn unknown_fields_undefined_vars_and_bad_timeouts_are_located() {
        let (_, diags) = load("notify:\n  webhook: x\n");
        assert_eq!(diags, [(2, "unknown field `webhook`".to_owned())]);
        let (_, diags) = load("notify:\n  on_call: '{{ rota }}'\n");
        assert_eq!(
            diags,
            [(
                2,
                "undefined variable `rota` in `notify.on_call`".to_owned()
            )]
        );
        let (_, diags) = load("notify:\n  timeout: 2m\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].0, 2);
        assert!(diags[0].1.contains("at most 30s"), "{diags:?}");
        let (_, diags) = load("notify:\n  timeout: soon\n");
        assert_eq!(diags[0].0, 2);
    }
}
