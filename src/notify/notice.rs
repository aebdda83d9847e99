//! What deserves a notification, and how urgent it is: the engine's events mapped onto the
//! runbook's escalation table (P1 production down, P2 degraded, P3 non-urgent).

use serde::Serialize;

use crate::events::{Event, Outcome, RunSummary, StepReport, UnitStatus};

/// The runbook's escalation table: P1 pages the on-call engineer (PagerDuty), P2 goes to
/// the team's Slack channel, P3 is a message pointing at the GitHub issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
    P1,
    P2,
    P3,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::P1 => "P1 production down",
            Severity::P2 => "P2 degraded",
            Severity::P3 => "P3 non-urgent",
        }
    }

    /// PagerDuty's severity for an event of this level.
    pub fn pagerduty(self) -> &'static str {
        match self {
            Severity::P1 => "critical",
            Severity::P2 => "warning",
            Severity::P3 => "info",
        }
    }
}

/// One notification: what happened, how urgent, and its details (all already redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: Severity,
    /// `step_failed`, `rollback_started`, `rollback_finished`, `refused`, `migration_done`
    /// and `monitor_breach`.
    pub kind: &'static str,
    /// One line: what happened.
    pub summary: String,
    /// Named details (unit, step, error, hint...), in order.
    pub details: Vec<(&'static str, String)>,
    /// A failure: the escalation contacts go with it.
    pub failure: bool,
}

impl Notice {
    /// The notice an event calls for, if any. A dry run's events call for the same notices:
    /// the notifier shows them instead of sending them.
    pub fn from_event(event: &Event) -> Option<Notice> {
        match event {
            Event::StepFinished(r) if r.outcome == Outcome::Failed => Some(step_failed(r)),
            Event::RunStarted { target, .. } if is_rollback(target) => Some(Notice {
                severity: Severity::P2,
                kind: "rollback_started",
                summary: format!("rollback started: `outpost-migrate {target}`"),
                details: vec![("command", target.clone())],
                failure: false,
            }),
            Event::RunFinished(s) if is_rollback(&s.target) => Some(rollback_finished(s)),
            Event::RunFinished(s) if migration_done(s) => Some(Notice {
                severity: Severity::P3,
                kind: "migration_done",
                summary: "migration done: post-verification passed".into(),
                details: vec![("command", s.target.clone())],
                failure: false,
            }),
            _ => None,
        }
    }

    /// A run refused because a step is in doubt: it stopped midway and needs a person.
    pub fn refused(message: &str) -> Notice {
        Notice {
            severity: Severity::P2,
            kind: "refused",
            summary: "run refused: a step is in doubt after a crash".into(),
            details: vec![("error", message.to_owned())],
            failure: true,
        }
    }

    /// A monitoring row out of its target for as long as its `breach` allows (`monitor`).
    pub fn monitor_breach(row: &str, value: &str, severity: Severity) -> Notice {
        Notice {
            severity,
            kind: "monitor_breach",
            summary: format!("monitoring row `{row}` breached its target"),
            details: vec![("row", row.to_owned()), ("value", value.to_owned())],
            failure: true,
        }
    }
}

fn is_rollback(target: &str) -> bool {
    target.starts_with("rollback")
}

/// Post-verification succeeded in a real run that ended well.
fn migration_done(s: &RunSummary) -> bool {
    !s.dry_run
        && s.exit_code == crate::exit_codes::SUCCESS
        && s.units
            .iter()
            .any(|u| u.unit == "verify" && u.status == UnitStatus::Succeeded)
}

/// Pre-flight changed nothing (P3); phase 1 builds an ALB no traffic reaches yet (P2); from
/// phase 2 on (and in verification and rollbacks) production traffic is at stake (P1). A
/// monitoring row out of target is degraded service (P2) until its breach has lasted long
/// enough to call for a rollback (`monitor_breach`, P1).
fn step_severity(unit: &str) -> Severity {
    match unit {
        "preflight" => Severity::P3,
        "phase-1" | "monitor" => Severity::P2,
        _ => Severity::P1,
    }
}

fn step_failed(r: &StepReport) -> Notice {
    let mut details = vec![("unit", r.unit.clone()), ("step", r.step.clone())];
    details.extend(r.message.clone().map(|m| ("error", m)));
    details.extend(r.hint.clone().map(|h| ("hint", h)));
    Notice {
        severity: step_severity(&r.unit),
        kind: "step_failed",
        summary: format!("step `{}` failed in {} ({})", r.step, r.unit, r.title),
        details,
        failure: true,
    }
}

fn rollback_finished(s: &RunSummary) -> Notice {
    let ok = s.exit_code == crate::exit_codes::SUCCESS;
    let mut details = vec![
        ("command", s.target.clone()),
        ("exit_code", s.exit_code.to_string()),
    ];
    details.extend(s.message.clone().map(|m| ("error", m)));
    Notice {
        // A rollback that did not finish leaves production half-way: page.
        severity: if ok { Severity::P2 } else { Severity::P1 },
        kind: "rollback_finished",
        summary: if ok {
            format!(
                "rollback finished: `outpost-migrate {}` succeeded",
                s.target
            )
        } else {
            format!(
                "rollback FAILED: `outpost-migrate {}` exited {}",
                s.target, s.exit_code
            )
        },
        details,
        failure: !ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_steps_severity_follows_where_production_stands() {
        assert_eq!(step_severity("preflight"), Severity::P3);
        assert_eq!(step_severity("phase-1"), Severity::P2);
        assert_eq!(step_severity("monitor"), Severity::P2);
        for unit in ["phase-2", "phase-5", "verify", "rollback-1"] {
            assert_eq!(step_severity(unit), Severity::P1, "{unit}");
        }
    }

    #[test]
    fn a_rollback_is_announced_when_it_starts_and_other_runs_are_not() {
        let start = |target: &str| Event::RunStarted {
            command: String::new(),
            target: target.into(),
            dry_run: false,
            units: vec![],
            steps: 0,
            operator: String::new(),
        };
        let notice = Notice::from_event(&start("rollback --level 2")).expect("a notice");
        assert_eq!(
            (notice.kind, notice.severity),
            ("rollback_started", Severity::P2)
        );
        assert!(Notice::from_event(&start("phase 3")).is_none());
    }

    #[test]
    fn a_monitor_breach_is_a_failure_at_the_severity_its_row_names() {
        let notice = Notice::monitor_breach("api-availability", "99.1 %", Severity::P1);
        assert!(notice.failure);
        assert_eq!(
            (notice.kind, notice.severity),
            ("monitor_breach", Severity::P1)
        );
        assert_eq!(notice.details[1], ("value", "99.1 %".to_owned()));
    }
}
