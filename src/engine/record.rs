//! What a step leaves behind: its checkpoint, its result in the state, the audit log's lines,
//! and the captures later steps see (made, unknown in a dry run, or failed).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::attempts;
use super::crash;
use super::execution_plan::PlanStep;
use super::run::Engine;
use super::step::{StepResult, short_value};
use crate::error::Error;
use crate::events::{Event, Outcome};
use crate::kinds::{FailureClass, KindFailure};
use crate::runbook::InDoubt;
use crate::state::{AuditRecord, StateError, StepState, StepStatus};
use crate::template;

/// One line of the audit log: the event, then what it concerns, each named.
#[derive(Debug, Default)]
pub(super) struct Audit {
    event: &'static str,
    unit: Option<String>,
    step: Option<String>,
    status: Option<StepStatus>,
    attempts: Option<u32>,
    message: Option<String>,
    run: Option<String>,
    arn: Option<String>,
}

impl Audit {
    pub fn event(event: &'static str) -> Self {
        Audit {
            event,
            ..Audit::default()
        }
    }
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = Some(unit.to_owned());
        self
    }
    pub fn step(mut self, step: &str) -> Self {
        self.step = Some(step.to_owned());
        self
    }
    pub fn status(mut self, status: StepStatus) -> Self {
        self.status = Some(status);
        self
    }
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
    /// The run (lock id) and the caller ARN a second person's approval is about.
    pub fn run_by(mut self, run: &str, arn: &str) -> Self {
        self.run = Some(run.to_owned());
        self.arn = Some(arn.to_owned());
        self
    }
}

/// What a step's result saves: its status, attempts so far, the captures kept and why.
pub(super) struct Saved {
    pub status: StepStatus,
    pub attempts: u32,
    pub captures: BTreeMap<String, Value>,
    pub message: Option<String>,
}

impl Saved {
    fn bare(status: StepStatus, attempts: u32, message: Option<String>) -> Self {
        Saved {
            status,
            attempts,
            captures: BTreeMap::new(),
            message,
        }
    }
}

/// Attempts that ended without output.
pub(super) struct NoOutput {
    pub failure: KindFailure,
    pub attempts: u32,
    /// Ctrl-C came while waiting to retry.
    pub interrupted: bool,
}

impl Engine<'_> {
    /// Appends a line to the audit log (not in a dry run), its message redacted.
    pub(super) fn audit(&self, entry: Audit) -> Result<(), StateError> {
        if self.opts.dry_run {
            return Ok(());
        }
        self.store.append_audit(&AuditRecord {
            at: jiff::Timestamp::now(),
            operator: self.operator(),
            command: self.opts.command.clone(),
            event: entry.event.to_owned(),
            unit: entry.unit,
            step: entry.step,
            status: entry.status.map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            attempts: entry.attempts,
            message: entry.message.map(|m| self.redactor.redact(&m)),
            run: entry.run,
            arn: entry.arn,
        })
    }

    /// Checkpoint before acting: a crash from here on leaves the step `running`, in doubt.
    /// A read-only step is simply run again after a crash, so its start is only noted in
    /// memory (saved with its result): half the writes for a pre-flight.
    pub(super) async fn record_start(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        attempts_before: u32,
        start_time: jiff::Timestamp,
    ) -> Result<(), Error> {
        let persist = ps.step.access != crate::kinds::Access::ReadOnly;
        self.change_state(persist, |s| {
            s.operator = Some(self.operator());
            s.steps.insert(
                ps.id.clone(),
                StepState {
                    unit: unit.to_owned(),
                    status: StepStatus::Running,
                    attempts: attempts_before,
                    started_at: Some(start_time),
                    ended_at: None,
                    hash: ps.hash.clone(),
                    captures: BTreeMap::new(),
                    secret: ps.step.secret,
                    message: None,
                },
            );
        })
        .await
        .map_err(Error::Save)?;
        self.audit(
            Audit::event("step_started")
                .unit(unit)
                .step(&ps.id)
                .status(StepStatus::Running),
        )
        .map_err(Error::Save)
    }

    /// Saves a step's result and writes its `step_finished` audit line.
    pub(super) async fn save_result(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        saved: Saved,
    ) -> Result<(), Error> {
        let message = saved.message.map(|m| self.redactor.redact(&m));
        let now = jiff::Timestamp::now();
        self.update_state(|s| {
            let entry = s.steps.entry(ps.id.clone()).or_insert_with(|| StepState {
                unit: unit.to_owned(),
                status: saved.status,
                attempts: 0,
                started_at: Some(now),
                ended_at: None,
                hash: ps.hash.clone(),
                captures: BTreeMap::new(),
                secret: ps.step.secret,
                message: None,
            });
            entry.status = saved.status;
            entry.attempts = saved.attempts;
            entry.ended_at = Some(now);
            entry.hash = ps.hash.clone();
            entry.captures = saved.captures;
            entry.message = message.clone();
        })
        .await
        .map_err(Error::Save)?;
        let mut entry = Audit::event("step_finished")
            .unit(unit)
            .step(&ps.id)
            .status(saved.status)
            .attempts(saved.attempts);
        if let Some(m) = message {
            entry = entry.message(m);
        }
        self.audit(entry).map_err(Error::Save)
    }

    pub(super) async fn record_skip(&self, unit: &str, ps: &PlanStep<'_>) -> Result<(), Error> {
        self.save_result(unit, ps, Saved::bare(StepStatus::Skipped, 0, None))
            .await
    }

    /// A step failed: saved as failed, its captures block what needs them, its hint shown.
    pub(super) async fn fail(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        started: Instant,
        attempts: u32,
        message: String,
    ) -> Result<StepResult, Error> {
        let before = self.saved(&ps.id).map_or(0, |s| s.attempts);
        let saved = Saved::bare(
            StepStatus::Failed,
            before.max(attempts),
            Some(message.clone()),
        );
        self.save_result(unit, ps, saved).await?;
        self.mark_failed_captures(ps, &ps.id);
        let outcome = if ps.step.optional {
            Outcome::FailedOptional
        } else {
            Outcome::Failed
        };
        let mut r = self.report(unit, ps, outcome, attempts, started);
        r.hint = ps.step.hint.as_ref().map(|h| {
            let text = match template::render_str(h, &self.step_context(ps, jiff::Timestamp::now()))
            {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(_) => h.clone(),
            };
            self.redactor.redact(&text)
        });
        Ok(self.finish(r, Some(message)))
    }

    /// In doubt after a crash, the step's probe showed it had done its work: it is recorded
    /// as succeeded with the probe's captures, and not run again.
    pub(super) async fn record_probed(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        prior_attempts: u32,
        captured: BTreeMap<String, Value>,
        started: Instant,
    ) -> Result<StepResult, Error> {
        let kept = if ps.step.secret {
            self.warn_unmasked(ps, &captured);
            BTreeMap::new()
        } else {
            captured.clone()
        };
        self.captures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(captured);
        let message = "in doubt after a crash; its probe showed it had done its work";
        let saved = Saved {
            captures: kept,
            ..Saved::bare(StepStatus::Succeeded, prior_attempts, Some(message.into()))
        };
        self.save_result(unit, ps, saved).await?;
        crash::point(crash::Point::AfterCheckpoint, &ps.id);
        let r = self.report(unit, ps, Outcome::Succeeded, 0, started);
        Ok(self.finish(r, Some(format!("{message}: not run again"))))
    }

    /// The attempts ended without output: by failure class, the step is pending again
    /// (interrupted, refused) or failed, and the run goes on or stops.
    pub(super) async fn record_failure(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        ended: NoOutput,
        attempts_before: u32,
        started: Instant,
    ) -> Result<StepResult, Error> {
        let NoOutput {
            failure: f,
            attempts,
            interrupted,
        } = ended;
        let message = Some(f.message.clone());
        // Ctrl-C in a retry wait: the last attempt failed cleanly (its processes are gone),
        // so the step is pending again, not failed nor in doubt: the next run starts it
        // afresh.
        if interrupted {
            let total = attempts_before + attempts;
            self.save_result(unit, ps, Saved::bare(StepStatus::Pending, total, message))
                .await?;
            let r = self.report(unit, ps, Outcome::Interrupted, attempts, started);
            self.finish(r, Some(f.message));
            return Err(Error::Interrupted);
        }
        match f.class {
            FailureClass::Refused => {
                let saved = Saved::bare(StepStatus::Pending, attempts_before, message);
                self.save_result(unit, ps, saved).await?;
                let r = self.report(unit, ps, Outcome::Refused, 0, started);
                self.finish(r, Some(f.message.clone()));
                Err(Error::Refused(f.message))
            }
            FailureClass::Setup => {
                let total = attempts_before.saturating_add(attempts);
                self.save_result(unit, ps, Saved::bare(StepStatus::Failed, total, message))
                    .await?;
                let r = self.report(unit, ps, Outcome::Failed, attempts, started);
                self.finish(r, Some(f.message.clone()));
                self.mark_failed_captures(ps, &ps.id);
                Err(Error::Setup(format!("step `{}`: {}", ps.id, f.message)))
            }
            FailureClass::Failed => self.fail(unit, ps, started, attempts, f.message).await,
        }
    }

    /// The attempts gave output: its captures flow to later steps and the step is saved as
    /// succeeded (saying why, when a crash had left it in doubt).
    pub(super) async fn record_success(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        output: Value,
        attempts: u32,
        prior: Option<&StepState>,
        started: Instant,
    ) -> Result<StepResult, Error> {
        let step = ps.step;
        // Expectations (already checked inside the attempts) give the value shown.
        let mut found = step
            .expect
            .first()
            .and_then(|e| e.query.search(&output).ok());
        let captured = match attempts::captures(step, &output) {
            Ok(c) => c,
            Err(message) => return self.fail(unit, ps, started, attempts, message).await,
        };
        if step.secret {
            self.warn_unmasked(ps, &captured);
        }
        if found.is_none() {
            found = captured.values().next().cloned();
        }
        self.captures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(captured.clone());
        let again = self.why_run_again(ps, prior);
        let attempts_before = prior.map_or(0, |p| p.attempts);
        let saved = Saved {
            status: StepStatus::Succeeded,
            attempts: attempts_before.saturating_add(attempts),
            captures: if step.secret {
                BTreeMap::new()
            } else {
                captured
            },
            message: again.clone(),
        };
        self.save_result(unit, ps, saved).await?;
        crash::point(crash::Point::AfterCheckpoint, &ps.id);
        let mut r = self.report(unit, ps, Outcome::Succeeded, attempts, started);
        r.shown = step
            .show
            .as_ref()
            .and_then(|q| q.search(&output).ok())
            .map(|v| {
                let text = match v {
                    Value::String(s) => s,
                    other => serde_json::to_string_pretty(&other).unwrap_or_default(),
                };
                self.redactor.redact(text.trim_end())
            });
        r.found = found.map(|v| short_value(&v, self.redactor));
        Ok(self.finish(r, again))
    }

    /// Why a step a crash left in doubt was run again.
    fn why_run_again(&self, ps: &PlanStep<'_>, prior: Option<&StepState>) -> Option<String> {
        prior
            .filter(|p| p.status == StepStatus::Running)
            .and_then(|_| {
                let why = if self.opts.overrides.retry_in_doubt.contains(&ps.id) {
                    "run again (--retry-in-doubt)"
                } else {
                    match ps.step.in_doubt() {
                        InDoubt::Probe => "its probe did not show its work, so it ran again",
                        InDoubt::Idempotent => "idempotent, so it ran again",
                        _ => return None,
                    }
                };
                Some(format!("in doubt after a crash; {why}"))
            })
    }

    /// Registers a secret step's captures; one too short to be masked is shown as it is, and
    /// a warning says so.
    fn warn_unmasked(&self, ps: &PlanStep<'_>, captured: &BTreeMap<String, Value>) {
        for (name, v) in captured {
            if !self.redactor.add_value(v) {
                self.emit(Event::Warning {
                    message: format!(
                        "capture `{name}` of step `{}` is shorter than {} characters, so it is not masked",
                        ps.id,
                        crate::secrets::MIN_SECRET_LEN
                    ),
                });
            }
        }
    }

    /// Dry run: the captures a step not run would have made are unknown to what follows.
    pub(super) fn mark_unknown_captures(&self, ps: &PlanStep<'_>) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        for (name, _) in &ps.step.capture {
            if !self
                .captures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(name)
            {
                unknown.insert(name.clone(), ps.id.clone());
            }
        }
    }

    /// The captures of a failed (or blocked) step block the steps that need them.
    pub(super) fn mark_failed_captures(&self, ps: &PlanStep<'_>, producer: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        for (name, _) in &ps.step.capture {
            failed.insert(name.clone(), producer.to_owned());
        }
    }
}
