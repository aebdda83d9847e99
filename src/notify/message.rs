//! A notice as text: the line a person reads in Slack, PagerDuty's summary, SNS's message.

use super::channels::Contacts;
use super::notice::{Notice, Severity};

/// The message: `[runbook] P1 production down: summary`, the details, and for a failure the
/// contacts (a P3 notice always carries the issues link: that is where it goes).
pub fn text(notice: &Notice, runbook: &str, contacts: &Contacts) -> String {
    let mut lines = vec![headline(notice, runbook)];
    lines.extend(notice.details.iter().map(|(k, v)| format!("{k}: {v}")));
    if notice.failure {
        lines.extend(contact_line(contacts));
    }
    if notice.severity == Severity::P3 && !contacts.issues_url.is_empty() {
        lines.push(format!("file it at {}", contacts.issues_url));
    }
    lines.join("\n")
}

/// The first line: the runbook, the severity and what happened.
pub fn headline(notice: &Notice, runbook: &str) -> String {
    format!(
        "[{runbook}] {}: {}",
        notice.severity.label(),
        notice.summary
    )
}

/// Who to escalate to, on one line; `None` when the runbook names nobody.
pub fn contact_line(c: &Contacts) -> Option<String> {
    let parts: Vec<String> = [
        ("on call", &c.on_call),
        ("slack", &c.slack_channel),
        ("issues", &c.issues_url),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}: {v}"))
    .collect();
    (!parts.is_empty()).then(|| format!("escalate to {}", parts.join(" · ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_details_and_who_to_escalate_to() {
        let notice = Notice {
            severity: Severity::P1,
            kind: "step_failed",
            summary: "step `x` failed in phase-3 (X)".into(),
            details: vec![("hint", "run diagnose".into())],
            failure: true,
        };
        let contacts = Contacts {
            on_call: "PagerDuty rotation".into(),
            slack_channel: "#outpost-alerts".into(),
            issues_url: String::new(),
        };
        assert_eq!(
            text(&notice, "rb", &contacts),
            "[rb] P1 production down: step `x` failed in phase-3 (X)\nhint: run diagnose\n\
             escalate to on call: PagerDuty rotation · slack: #outpost-alerts"
        );
    }
}
