//! What the engine tells reporters. Every string in an event is already redacted.

use serde::Serialize;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Failed, but the step is `optional`.
    FailedOptional,
    /// Not run: already succeeded, condition false, or its forward phase never ran.
    Skipped,
    /// Dry run: a mutating or manual step shown and not executed.
    WouldRun,
    /// Dry run: needs a capture that a step not executed in the dry run would make.
    Unknown,
    /// Not run: approval missing or declined.
    Refused,
    /// Not run: a step it depends on failed.
    Blocked,
    /// Stopped by Ctrl-C between attempts: pending again, it runs on resume.
    Interrupted,
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Refused)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub unit: String,
    pub step: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub outcome: Outcome,
    pub access: crate::kinds::Access,
    pub attempts: u32,
    pub duration_ms: u64,
    /// The value a check found (its first expectation, else its first capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Dry run: the rendered action that would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_run: Option<String>,
    /// What the step shows of its output (its `show`), e.g. a terraform plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<String>,
    /// The runbook's advice for when this step fails (its `hint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    Succeeded,
    Failed,
    /// Dry run finished with nothing failed.
    Checked,
    /// Stopped before all steps ran (interrupt, refusal, setup error).
    Stopped,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    pub would_run: usize,
    pub unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitSummary {
    pub unit: String,
    pub title: String,
    pub status: UnitStatus,
    pub counts: Counts,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub command: String,
    pub target: String,
    pub dry_run: bool,
    pub exit_code: i32,
    pub units: Vec<UnitSummary>,
    pub counts: Counts,
    pub duration_ms: u64,
    /// The step the run stopped at, if it stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The command to run to resume (the command as typed), when a step ran and the run
    /// stopped before the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// After a forward command stopped with changes applied: the rollback level undoing them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::engine::undo::RollbackAdvice>,
}

impl RunSummary {
    /// Why the run did not succeed, as the machine output's `error` says it: the reason it
    /// stopped, else the step it stopped at; nothing for a run that succeeded.
    pub fn error(&self) -> Option<String> {
        if self.exit_code == crate::exit_codes::SUCCESS {
            return None;
        }
        Some(
            self.message
                .clone()
                .unwrap_or_else(|| match &self.stopped_at {
                    Some(step) => format!("step `{step}` failed"),
                    None => format!("{} step(s) failed", self.counts.failed),
                }),
        )
    }
}

/// `monitor`'s table after a round: each row's latest check, its recent history, and when
/// it is checked next.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorTable {
    /// When the watch's window ends (RFC 3339).
    pub window_ends_at: String,
    pub rows: Vec<MonitorRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonitorRow {
    pub row: String,
    /// What it checks and its target (the row's title).
    pub title: String,
    /// The latest value (the row's capture), as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The recent checks, oldest first: within target, and the value when it is a number.
    pub history: Vec<(bool, Option<f64>)>,
    /// `ok`, `breach` or `not checked`.
    pub state: String,
    /// Since when it has been breaching (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaching_since: Option<String>,
    /// When it is checked next (RFC 3339), if before the window ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_check: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    MonitorTable(MonitorTable),
    RunStarted {
        command: String,
        /// What runs: `preflight`, `phase 3`, `rollback --level 2`, `run`...
        target: String,
        dry_run: bool,
        units: Vec<String>,
        steps: usize,
        operator: String,
    },
    UnitStarted {
        unit: String,
        title: String,
        steps: usize,
    },
    StepStarted {
        unit: String,
        step: String,
        title: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// An attempt failed (or its `until` is not met yet) and another follows after `delay_ms`.
    StepRetrying {
        unit: String,
        step: String,
        /// The attempt that just ended, from 1.
        attempt: u32,
        /// The most attempts the step's retry allows.
        max_attempts: u32,
        delay_ms: u64,
        /// Since the step's first attempt began.
        elapsed_ms: u64,
        /// The waits still ahead in the retry schedule, this one included: how long the step
        /// may still poll, not counting its attempts' own run time.
        remaining_ms: u64,
        reason: String,
    },
    StepFinished(StepReport),
    UnitFinished(UnitSummary),
    /// Who the AWS credentials belong to, checked against the runbook's account, and the
    /// region every AWS call goes to (with where it came from, when the run chose it).
    Identity {
        account: String,
        arn: String,
        expected: String,
        ok: bool,
        region: String,
        region_source: Option<String>,
    },
    Warning {
        message: String,
    },
    /// A step marked `approval: second_person` waits until an AWS identity other than the
    /// operator's (`operator`, the caller ARN) runs `outpost-migrate approve STEP` for this
    /// run (`run`, its lock id), at most `timeout_ms`.
    AwaitingApproval {
        unit: String,
        step: String,
        title: String,
        operator: String,
        run: String,
        timeout_ms: u64,
    },
    /// The first Ctrl-C: the run stops once `running` (the steps under way, by id) end; none
    /// under way means it stops before the next step.
    StopRequested {
        running: Vec<String>,
    },
    /// Dry run: a notification that would be sent (src/notify/), to which channel; nothing
    /// is sent.
    WouldNotify {
        channel: String,
        severity: String,
        message: String,
    },
    /// A failed run: who to escalate to, from the runbook's `notify:` contacts.
    Escalation {
        severity: String,
        contacts: String,
    },
    #[serde(rename = "summary")]
    RunFinished(RunSummary),
}

/// Receives the engine's events (a reporter).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}
