//! A second person's approval, as the audit log holds it: the run waiting at a step writes an
//! `awaiting_approval` line (its lock id and its operator's caller ARN); `approve` writes an
//! `approved` line for that step and that run, with the approver's ARN. Only these lines are
//! read, through `StateStore::append_audit`/`read_audit`, so it works on any backend.

use super::audit::AuditRecord;

/// The audit event of a run starting to wait for a second person.
pub const AWAITING: &str = "awaiting_approval";
/// The audit event of an approval (also `--yes`, `--approve` and prompt answers).
pub const APPROVED: &str = "approved";

/// The wait run `run` recorded at `step` (the latest, should it have waited twice).
pub fn waiting<'a>(audit: &'a [AuditRecord], step: &str, run: &str) -> Option<&'a AuditRecord> {
    audit.iter().rev().find(|r| {
        r.event == AWAITING && r.step.as_deref() == Some(step) && r.run.as_deref() == Some(run)
    })
}

/// The steps run `run` has waited at, in the order it reached them.
pub fn waited_at(audit: &[AuditRecord], run: &str) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for r in audit.iter().filter(|r| r.event == AWAITING) {
        if r.run.as_deref() == Some(run)
            && let Some(step) = &r.step
            && !steps.contains(step)
        {
            steps.push(step.clone());
        }
    }
    steps
}

/// The approval of `step` for run `run` by an identity other than `operator`: an approval of
/// another run, or one by the operator's own ARN, is none.
pub fn approval<'a>(
    audit: &'a [AuditRecord],
    step: &str,
    run: &str,
    operator: &str,
) -> Option<&'a AuditRecord> {
    audit.iter().find(|r| {
        r.event == APPROVED
            && r.step.as_deref() == Some(step)
            && r.run.as_deref() == Some(run)
            && r.arn
                .as_deref()
                .is_some_and(|a| !a.is_empty() && a != operator)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str, step: &str, run: Option<&str>, arn: Option<&str>) -> AuditRecord {
        AuditRecord {
            at: jiff::Timestamp::UNIX_EPOCH,
            operator: "someone".into(),
            command: "outpost-migrate".into(),
            event: event.into(),
            unit: None,
            step: Some(step.into()),
            status: None,
            attempts: None,
            message: None,
            run: run.map(str::to_owned),
            arn: arn.map(str::to_owned),
        }
    }

    const ALICE: &str = "arn:aws:iam::1:user/alice";
    const BOB: &str = "arn:aws:iam::1:user/bob";

    #[test]
    fn only_another_identitys_approval_of_this_step_in_this_run_counts() {
        let log = vec![
            record(AWAITING, "dns", Some("run-2"), Some(ALICE)),
            record(APPROVED, "dns", Some("run-1"), Some(BOB)),
            record(APPROVED, "dns", Some("run-2"), Some(ALICE)),
            record(APPROVED, "scale", Some("run-2"), Some(BOB)),
            record(APPROVED, "dns", None, None),
        ];
        assert!(approval(&log, "dns", "run-2", ALICE).is_none());
        let mut more = log.clone();
        more.push(record(APPROVED, "dns", Some("run-2"), Some(BOB)));
        let found = approval(&more, "dns", "run-2", ALICE).unwrap();
        assert_eq!(found.arn.as_deref(), Some(BOB));
    }

    #[test]
    fn the_wait_of_a_run_is_found_by_step_and_run() {
        let log = vec![
            record(AWAITING, "dns", Some("run-1"), Some(ALICE)),
            record(AWAITING, "scale", Some("run-2"), Some(BOB)),
            record(AWAITING, "dns", Some("run-2"), Some(BOB)),
        ];
        assert_eq!(
            waiting(&log, "dns", "run-2").unwrap().arn.as_deref(),
            Some(BOB)
        );
        assert!(waiting(&log, "scale", "run-1").is_none());
        assert_eq!(waited_at(&log, "run-2"), ["scale", "dns"]);
    }
}
