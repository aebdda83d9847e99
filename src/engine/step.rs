//! Running one step: the gate decides whether it runs, the attempts run it, the record keeps
//! what it did; this file strings them together and reports the step.

use std::time::Instant;

use serde_json::Value;

use super::attempts::{Attempted, Attempts};
use super::crash;
use super::execution_plan::{PlanStep, context, with_run};
use super::gate::{Gate, Ready};
use super::record::NoOutput;
use super::run::Engine;
use crate::error::Error;
use crate::events::{Event, Outcome, StepReport};
use crate::secrets::Redactor;
use crate::state::StepState;

#[derive(Debug)]
pub struct StepResult {
    pub outcome: Outcome,
}

impl Engine<'_> {
    /// Runs one step. `not_run_before` (dry runs) names an earlier step of the same phase that
    /// was shown, not run: what follows it is only shown too.
    pub(super) async fn run_step(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        not_run_before: Option<&str>,
    ) -> Result<StepResult, Error> {
        let started = Instant::now();
        let Ready {
            spec,
            ctx,
            approved,
            start_time,
            prior,
        } = match self.gate(unit, ps, not_run_before, started).await? {
            Gate::Done(result) => return Ok(result),
            Gate::Run(ready) => *ready,
        };
        crash::point(crash::Point::Before, &ps.id);
        let attempts_before = prior.as_ref().map_or(0, |p| p.attempts);
        self.record_start(unit, ps, attempts_before, start_time)
            .await?;
        self.emit(Event::StepStarted {
            unit: unit.to_owned(),
            step: ps.id.clone(),
            title: self.redactor.redact(&ps.title),
            group: ps.step.group.clone(),
        });
        let under_way = self.interrupt.running(&ps.id);
        let Attempted {
            output,
            attempts,
            interrupted,
        } = self.attempts(unit, ps).run(spec, &ctx, approved).await;
        drop(under_way);
        match output {
            Ok(output) => {
                crash::point(crash::Point::AfterEffect, &ps.id);
                self.record_success(unit, ps, output, attempts, prior.as_ref(), started)
                    .await
            }
            Err(failure) => {
                let ended = NoOutput {
                    failure,
                    attempts,
                    interrupted,
                };
                self.record_failure(unit, ps, ended, attempts_before, started)
                    .await
            }
        }
    }

    /// The attempts of a step: its kind run with the run's services, and no state.
    pub(super) fn attempts<'s>(&'s self, unit: &'s str, ps: &'s PlanStep<'_>) -> Attempts<'s> {
        Attempts {
            unit,
            id: &ps.id,
            step: ps.step,
            kinds: self.kinds,
            interrupt: self.interrupt,
            redactor: self.redactor,
            sink: self.sink,
        }
    }

    pub(super) fn report(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        outcome: Outcome,
        attempts: u32,
        started: Instant,
    ) -> StepReport {
        StepReport {
            unit: unit.to_owned(),
            step: ps.id.clone(),
            title: self.redactor.redact(&ps.title),
            group: ps.step.group.clone(),
            outcome,
            access: ps.step.access,
            attempts,
            duration_ms: started.elapsed().as_millis() as u64,
            found: None,
            message: None,
            would_run: None,
            shown: None,
            hint: None,
        }
    }

    pub(super) fn finish(&self, mut report: StepReport, message: Option<String>) -> StepResult {
        report.message = message.map(|m| self.redactor.redact(&m));
        let outcome = report.outcome;
        self.emit(Event::StepFinished(report));
        StepResult { outcome }
    }

    /// The template context of a step: vars, the captures made so far, `env`, its `item`,
    /// `attempt` (when the attempt began) and `run` (`dry_run`, `scratch_dir`).
    pub(super) fn step_context(
        &self,
        ps: &PlanStep<'_>,
        attempt: jiff::Timestamp,
    ) -> minijinja::Value {
        let captures = self
            .captures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let ctx = context(
            &self.plan.vars,
            &captures,
            self.env,
            ps.item.as_ref(),
            Some(attempt),
        );
        with_run(
            ctx,
            self.opts.dry_run,
            &self.opts.scratch_dir.display().to_string(),
        )
    }

    /// What the state says of a step so far.
    pub(super) fn saved(&self, id: &str) -> Option<StepState> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .steps
            .get(id)
            .cloned()
    }
}

/// A found value on one line: strings without quotes, trailing newlines or line breaks. It is
/// redacted whole before it is put on one line and cut, so neither hides a secret from it.
pub(super) fn short_value(v: &Value, redactor: &Redactor) -> String {
    match v {
        Value::String(s) => {
            let redacted = redactor.redact(s);
            let line = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
            crate::secrets::head(&line, 120)
        }
        other => crate::secrets::head(&redactor.redact(&other.to_string()), 120),
    }
}
