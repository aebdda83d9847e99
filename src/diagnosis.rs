//! What `diagnose` found, as a typed result the reporters render: per symptom, the findings
//! (a check that failed, with what it found and the guide's resolution), the evidence gathered
//! (log lines, task reasons, the fleet's answer; already redacted) and what was skipped.

use serde::Serialize;

use crate::events::{Outcome, StepReport};
use crate::exit_codes;

/// The whole report of one `diagnose` command.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// `diagnose` or `diagnose SYMPTOM`.
    pub command: String,
    pub symptoms: Vec<SymptomReport>,
    /// How many findings (causes) in all.
    pub findings: usize,
    pub warnings: Vec<String>,
}

/// One symptom: its unit ran (`ran`), or it was skipped for want of its argument.
#[derive(Debug, Clone, Serialize)]
pub struct SymptomReport {
    pub symptom: String,
    pub title: String,
    /// `cause_found`, `nothing_abnormal` or `skipped`.
    pub status: SymptomStatus,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub findings: Vec<Finding>,
    pub evidence: Vec<Evidence>,
    /// Every step, in the unit's order: what it looked at and how that went.
    pub checks: Vec<Checked>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SymptomStatus {
    CauseFound,
    NothingAbnormal,
    Skipped,
}

/// A check that failed: a cause.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub step: String,
    pub title: String,
    /// What the check found (its failure).
    pub message: String,
    /// The guide's resolution (the step's hint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

/// What a step gathered and shows (its `show`).
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub step: String,
    pub title: String,
    pub shown: String,
}

/// One step as it went.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub step: String,
    pub title: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl SymptomReport {
    /// A symptom skipped before it ran, saying why.
    pub fn skipped(symptom: &str, title: &str, note: String) -> Self {
        SymptomReport {
            symptom: symptom.to_owned(),
            title: title.to_owned(),
            status: SymptomStatus::Skipped,
            note: Some(note),
            findings: Vec::new(),
            evidence: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// A symptom's unit as it ran: `reports` in the unit's step order.
    pub fn ran(symptom: &str, title: &str, reports: Vec<StepReport>) -> Self {
        let mut findings = Vec::new();
        let mut evidence = Vec::new();
        let mut checks = Vec::new();
        for r in reports {
            if matches!(r.outcome, Outcome::Failed | Outcome::FailedOptional) {
                findings.push(Finding {
                    step: r.step.clone(),
                    title: r.title.clone(),
                    message: r.message.clone().unwrap_or_default(),
                    resolution: r.hint.clone(),
                });
            }
            if let Some(shown) = r.shown.clone().filter(|s| !s.trim().is_empty()) {
                evidence.push(Evidence {
                    step: r.step.clone(),
                    title: r.title.clone(),
                    shown,
                });
            }
            checks.push(Checked {
                step: r.step,
                title: r.title,
                outcome: r.outcome,
                found: r.found,
                message: r.message,
            });
        }
        SymptomReport {
            symptom: symptom.to_owned(),
            title: title.to_owned(),
            status: if findings.is_empty() {
                SymptomStatus::NothingAbnormal
            } else {
                SymptomStatus::CauseFound
            },
            note: None,
            findings,
            evidence,
            checks,
        }
    }
}

impl Diagnosis {
    pub fn new(command: String, symptoms: Vec<SymptomReport>, warnings: Vec<String>) -> Self {
        let findings = symptoms.iter().map(|s| s.findings.len()).sum();
        Diagnosis {
            command,
            symptoms,
            findings,
            warnings,
        }
    }

    /// 0 when nothing abnormal was found, 1 when a cause was.
    pub fn exit_code(&self) -> i32 {
        if self.findings == 0 {
            exit_codes::SUCCESS
        } else {
            exit_codes::STEP_FAILED
        }
    }

    /// The closing line: the causes found and where, or that nothing abnormal was.
    pub fn verdict(&self) -> String {
        let ran = self
            .symptoms
            .iter()
            .filter(|s| s.status != SymptomStatus::Skipped)
            .count();
        if self.findings == 0 {
            return format!("nothing abnormal found ({ran} symptom(s) diagnosed)");
        }
        let causes: Vec<String> = self
            .symptoms
            .iter()
            .filter(|s| s.status == SymptomStatus::CauseFound)
            .map(|s| {
                let steps: Vec<&str> = s.findings.iter().map(|f| f.step.as_str()).collect();
                format!("{} ({})", s.symptom, steps.join(", "))
            })
            .collect();
        format!(
            "cause found: {} finding(s) in {}",
            self.findings,
            causes.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Access;

    fn report(step: &str, outcome: Outcome, shown: Option<&str>) -> StepReport {
        StepReport {
            unit: "diagnose-auth".into(),
            step: step.into(),
            title: step.to_uppercase(),
            group: None,
            outcome,
            access: Access::ReadOnly,
            attempts: 1,
            duration_ms: 1,
            found: None,
            message: (outcome == Outcome::Failed).then(|| "found 401".into()),
            would_run: None,
            shown: shown.map(str::to_owned),
            hint: Some("take a valid key".into()),
        }
    }

    #[test]
    fn a_failed_check_is_a_finding_with_its_resolution_and_shown_output_is_evidence() {
        let s = SymptomReport::ran(
            "auth",
            "401/403",
            vec![
                report("prefix", Outcome::Succeeded, Some("op_test_")),
                report("read", Outcome::Failed, None),
                report("skipped", Outcome::Skipped, Some(" ")),
            ],
        );
        assert_eq!(s.status, SymptomStatus::CauseFound);
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].step, "read");
        assert_eq!(s.findings[0].message, "found 401");
        assert_eq!(
            s.findings[0].resolution.as_deref(),
            Some("take a valid key")
        );
        let shown: Vec<&str> = s.evidence.iter().map(|e| e.step.as_str()).collect();
        assert_eq!(shown, ["prefix"]);
        assert_eq!(s.checks.len(), 3);
        let d = Diagnosis::new("diagnose auth".into(), vec![s], Vec::new());
        assert_eq!(d.exit_code(), exit_codes::STEP_FAILED);
        assert_eq!(d.verdict(), "cause found: 1 finding(s) in auth (read)");
    }

    #[test]
    fn nothing_found_exits_zero_and_skipped_symptoms_are_not_counted() {
        let ok = SymptomReport::ran("auth", "t", vec![report("a", Outcome::Succeeded, None)]);
        let skipped = SymptomReport::skipped("agent", "t", "needs NAME".into());
        let d = Diagnosis::new("diagnose".into(), vec![ok, skipped], Vec::new());
        assert_eq!(d.exit_code(), exit_codes::SUCCESS);
        assert_eq!(
            d.verdict(),
            "nothing abnormal found (1 symptom(s) diagnosed)"
        );
    }
}
