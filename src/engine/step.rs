//! Running one step: resume decisions, conditions, rendering, dry run, approval, attempts with
//! retry and timeout, expectations, captures, and the checkpoint after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use serde_json::Value;

use super::crash;
use super::plan::{PlanStep, context, with_run};
use super::run::Engine;
use crate::events::{Event, Outcome, StepReport};
use crate::kinds::{Access, KindFailure, StepRef};
use crate::runbook::{InDoubt, Reverts, UnitKey};
use crate::secrets::Redactor;
use crate::state::{StateError, StepState, StepStatus};
use crate::template;

/// Something that stops the whole run, not just fails a step.
#[derive(Debug)]
pub enum Fatal {
    StepFailed,
    Setup(String),
    Refused(String),
    State(StateError),
    Interrupted,
}

impl From<StateError> for Fatal {
    fn from(e: StateError) -> Self {
        Fatal::State(e)
    }
}

#[derive(Debug)]
pub struct StepResult {
    pub outcome: Outcome,
}

/// What the attempts produced.
struct Attempted {
    output: Result<Value, KindFailure>,
    attempts: u32,
    /// Ctrl-C came while waiting to retry: the step neither failed nor succeeded.
    interrupted: bool,
}

impl Engine<'_> {
    fn report(
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

    fn finish(&self, mut report: StepReport, message: Option<String>) -> StepResult {
        report.message = message.map(|m| self.redactor.redact(&m));
        let outcome = report.outcome;
        self.emit(Event::StepFinished(report));
        StepResult { outcome }
    }

    fn approved(&self, ps: &PlanStep<'_>) -> bool {
        self.opts.yes
            || self.opts.approve.contains(&ps.id)
            || self.opts.approve.contains(&ps.step.id)
    }

    /// True when phase `n` has had any step started, in this state.
    fn phase_ran(&self, n: u8) -> bool {
        let slug = UnitKey::Phase(n).slug();
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .steps
            .values()
            .any(|s| s.unit == slug && s.status != StepStatus::Pending)
    }

    /// The template context of a step: vars, the captures made so far, `env`, its `item`,
    /// `attempt` (when the attempt began) and `run` (`dry_run`, `scratch_dir`).
    fn step_context(&self, ps: &PlanStep<'_>, attempt: jiff::Timestamp) -> minijinja::Value {
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
    fn saved(&self, id: &str) -> Option<StepState> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .steps
            .get(id)
            .cloned()
    }

    /// True when the step (or any item of a `for_each` step) succeeded.
    fn step_succeeded(&self, id: &str) -> bool {
        let prefix = format!("{id}.");
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .steps
            .iter()
            .any(|(k, s)| (k == id || k.starts_with(&prefix)) && s.status == StepStatus::Succeeded)
    }

    /// Runs one step. `not_run_before` (dry runs) names an earlier step of the same phase that
    /// was shown, not run: what follows it is only shown too, since it would act on a world
    /// without that change (and a check may act indirectly: MCPify's legacy health tool runs
    /// an SSM command).
    pub(super) async fn run_step(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        not_run_before: Option<&str>,
    ) -> Result<StepResult, Fatal> {
        let started = Instant::now();
        let step = ps.step;
        let prior = self.saved(&ps.id);

        // Resume: a succeeded step is not run again (a read-only one whose captures were
        // secret, and so never saved, is re-read).
        if let Some(p) = &prior
            && p.status == StepStatus::Succeeded
            && !(p.secret && !step.capture.is_empty() && step.access == Access::ReadOnly)
        {
            let mut r = self.report(unit, ps, Outcome::Skipped, p.attempts, started);
            let when = p.ended_at.map(|t| format!(" at {t}")).unwrap_or_default();
            r.found = p
                .captures
                .values()
                .next()
                .map(|v| short_value(v, self.redactor));
            return Ok(self.finish(r, Some(format!("already succeeded{when}"))));
        }

        // A rollback step whose forward phase (or step) never ran has nothing to undo.
        let undone = match &step.reverts {
            Some(Reverts::Phase(n)) if !self.phase_ran(*n) => {
                Some(format!("phase {n} never ran: nothing to undo"))
            }
            Some(Reverts::Step(id)) if !self.step_succeeded(id) => {
                Some(format!("step `{id}` never succeeded: nothing to undo"))
            }
            _ => None,
        };
        if let Some(why) = undone {
            let r = self.report(unit, ps, Outcome::Skipped, 0, started);
            self.record_skip(unit, ps).await?;
            return Ok(self.finish(r, Some(why)));
        }

        // Needs: a capture whose step failed blocks; one unknown in a dry run is reported.
        if let Some((name, producer)) = first_needed(&step.needs, &self.failed) {
            let r = self.report(unit, ps, Outcome::Blocked, 0, started);
            self.mark_failed_captures(ps, &ps.id);
            return Ok(self.finish(
                r,
                Some(format!(
                    "needs `{name}` from step `{producer}`, which failed"
                )),
            ));
        }
        if let Some((name, producer)) = first_needed(&step.needs, &self.unknown) {
            let r = self.report(unit, ps, Outcome::Unknown, 0, started);
            self.mark_unknown_captures(ps);
            return Ok(self.finish(
                r,
                Some(format!(
                    "needs `{name}`, which step `{producer}` makes when it runs (not in a dry run)"
                )),
            ));
        }

        let start_time = jiff::Timestamp::now();
        let ctx = self.step_context(ps, start_time);

        if let Some(cond) = &step.when {
            match template::eval_condition(cond, &ctx) {
                Ok(true) => {}
                Ok(false) => {
                    let r = self.report(unit, ps, Outcome::Skipped, 0, started);
                    self.record_skip(unit, ps).await?;
                    return Ok(self.finish(r, Some(format!("condition `{cond}` is false"))));
                }
                Err(e) => {
                    return self
                        .fail(
                            unit,
                            ps,
                            started,
                            0,
                            format!("cannot evaluate `when: {cond}`: {e}"),
                        )
                        .await;
                }
            }
        }

        // In doubt after a crash: the step's probe tells whether it had done its work.
        if let (Some(probe), Some(p)) = (&step.verify, &prior)
            && p.status == StepStatus::Running
            && !self.opts.dry_run
            && !self.opts.overrides.retry_in_doubt.contains(&ps.id)
            && let Ok(captured) = self
                .probe(
                    probe,
                    &self.step_context(ps, p.started_at.unwrap_or(start_time)),
                    ps,
                )
                .await
        {
            let saved = if step.secret {
                self.warn_unmasked(ps, &captured);
                BTreeMap::new()
            } else {
                captured.clone()
            };
            self.captures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(captured);
            self.save_result(
                unit,
                ps,
                StepStatus::Succeeded,
                p.attempts,
                saved,
                Some("in doubt after a crash; its probe showed it had done its work".into()),
            )
            .await?;
            crash::point(crash::Point::AfterCheckpoint, &ps.id);
            let r = self.report(unit, ps, Outcome::Succeeded, 0, started);
            return Ok(self.finish(
                r,
                Some(
                    "in doubt after a crash; its probe showed it had done its work: not run again"
                        .into(),
                ),
            ));
        }

        let spec = match step.kind.render(&step.spec, &ctx) {
            Ok(s) => s,
            Err(e) => {
                return self
                    .fail(unit, ps, started, 0, format!("cannot render the step: {e}"))
                    .await;
            }
        };
        for secret in step.kind.secrets(&spec) {
            if !self.redactor.add(&secret) {
                self.emit(Event::Warning {
                    message: format!(
                        "step `{}` sends a credential shorter than {} characters, so it is not masked",
                        ps.id,
                        crate::secrets::MIN_SECRET_LEN
                    ),
                });
            }
        }
        let description = self.redactor.redact(&step.kind.describe(&spec));

        if let Some(before) = not_run_before {
            let mut r = self.report(unit, ps, Outcome::Unknown, 0, started);
            r.would_run = Some(description);
            self.mark_unknown_captures(ps);
            return Ok(self.finish(
                r,
                Some(format!(
                    "not run: it follows `{before}`, which a dry run does not run"
                )),
            ));
        }

        if self.opts.dry_run && step.access != Access::ReadOnly {
            let mut r = self.report(unit, ps, Outcome::WouldRun, 0, started);
            r.would_run = Some(description);
            self.mark_unknown_captures(ps);
            let why = if step.access == Access::Manual {
                "asks the operator"
            } else {
                "changes something"
            };
            return Ok(self.finish(r, Some(format!("dry run: not run, it {why}"))));
        }

        let approved = self.approved(ps);
        if step.approval && !approved {
            let question = format!("Run `{}`?\n  {description}\nApprove", ps.title);
            let yes = if self.kinds.prompter.can_prompt() {
                let prompter = self.kinds.prompter.clone();
                tokio::task::spawn_blocking(move || prompter.confirm(&question))
                    .await
                    .unwrap_or(false)
            } else {
                false
            };
            if !yes {
                let mut r = self.report(unit, ps, Outcome::Refused, 0, started);
                r.would_run = Some(description);
                let msg = format!(
                    "step `{}` needs approval{}; rerun with --approve {} (or --yes)",
                    ps.id,
                    if self.kinds.prompter.can_prompt() {
                        " and was declined"
                    } else {
                        " and there is no terminal to ask"
                    },
                    ps.step.id
                );
                self.finish(r, Some(msg.clone()));
                return Err(Fatal::Refused(msg));
            }
        }

        crash::point(crash::Point::Before, &ps.id);
        // Checkpoint before acting: a crash from here on leaves the step `running`, in doubt.
        // A read-only step is simply run again after a crash, so its start is only noted in
        // memory (saved with its result): half the writes for a pre-flight.
        let attempts_before = prior.as_ref().map_or(0, |p| p.attempts);
        let persist = step.access != Access::ReadOnly;
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
                    secret: step.secret,
                    message: None,
                },
            );
        })
        .await?;
        self.audit(
            "step_started",
            Some(unit),
            Some(&ps.id),
            Some(StepStatus::Running),
            None,
            None,
        )?;
        self.emit(Event::StepStarted {
            unit: unit.to_owned(),
            step: ps.id.clone(),
            title: self.redactor.redact(&ps.title),
            group: step.group.clone(),
        });

        let attempted = self.attempt(unit, ps, spec, &ctx, approved).await;
        if attempted.output.is_ok() {
            crash::point(crash::Point::AfterEffect, &ps.id);
        }
        let attempts = attempted.attempts;
        let output = match attempted.output {
            Ok(o) => o,
            // Ctrl-C in a retry wait: the last attempt failed cleanly (its processes are
            // gone), so the step is pending again, not failed nor in doubt: the next run
            // starts it afresh.
            Err(f) if attempted.interrupted => {
                self.save_result(
                    unit,
                    ps,
                    StepStatus::Pending,
                    attempts_before + attempts,
                    BTreeMap::new(),
                    Some(f.message.clone()),
                )
                .await?;
                let r = self.report(unit, ps, Outcome::Interrupted, attempts, started);
                self.finish(r, Some(f.message));
                return Err(Fatal::Interrupted);
            }
            Err(f) if f.refused => {
                let msg = f.message.clone();
                self.save_result(
                    unit,
                    ps,
                    StepStatus::Pending,
                    attempts_before,
                    BTreeMap::new(),
                    Some(msg.clone()),
                )
                .await?;
                let r = self.report(unit, ps, Outcome::Refused, 0, started);
                self.finish(r, Some(msg.clone()));
                return Err(Fatal::Refused(msg));
            }
            Err(f) if f.setup => {
                let msg = format!("step `{}`: {}", ps.id, f.message);
                self.save_result(
                    unit,
                    ps,
                    StepStatus::Failed,
                    attempts_before.saturating_add(attempts),
                    BTreeMap::new(),
                    Some(f.message.clone()),
                )
                .await?;
                let r = self.report(unit, ps, Outcome::Failed, attempts, started);
                self.finish(r, Some(f.message));
                self.mark_failed_captures(ps, &ps.id);
                return Err(Fatal::Setup(msg));
            }
            Err(f) => return self.fail(unit, ps, started, attempts, f.message).await,
        };

        // Expectations (already checked inside the attempts) give the value shown; captures
        // flow to later steps.
        let mut found = step
            .expect
            .first()
            .and_then(|e| e.query.search(&output).ok());
        let mut captured = BTreeMap::new();
        for (name, query) in &step.capture {
            match query.search(&output) {
                Ok(Value::Null) => {
                    return self
                        .fail(
                            unit,
                            ps,
                            started,
                            attempts,
                            format!(
                                "capture `{name}`: `{}` found nothing in the output",
                                query.source()
                            ),
                        )
                        .await;
                }
                Ok(v) => {
                    captured.insert(name.clone(), v);
                }
                Err(e) => {
                    return self
                        .fail(
                            unit,
                            ps,
                            started,
                            attempts,
                            format!("capture `{name}`: {e}"),
                        )
                        .await;
                }
            }
        }
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
        let saved = if step.secret {
            BTreeMap::new()
        } else {
            captured
        };
        // Say why a step a crash left in doubt was run again.
        let again = prior
            .filter(|p| p.status == StepStatus::Running)
            .and_then(|_| {
                let why = if self.opts.overrides.retry_in_doubt.contains(&ps.id) {
                    "run again (--retry-in-doubt)"
                } else {
                    match step.in_doubt() {
                        InDoubt::Probe => "its probe did not show its work, so it ran again",
                        InDoubt::Idempotent => "idempotent, so it ran again",
                        _ => return None,
                    }
                };
                Some(format!("in doubt after a crash; {why}"))
            });
        self.save_result(
            unit,
            ps,
            StepStatus::Succeeded,
            attempts_before.saturating_add(attempts),
            saved,
            again.clone(),
        )
        .await?;
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

    /// Runs the kind with per-attempt timeouts, retrying (with backoff) failures and unmet
    /// `until` conditions while attempts remain.
    async fn attempt(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        spec: Value,
        ctx: &minijinja::Value,
        approved: bool,
    ) -> Attempted {
        let step = ps.step;
        let schedule = match step
            .retry
            .as_ref()
            .map(|r| retry_schedule(r, ctx))
            .transpose()
        {
            Ok(s) => s,
            Err(e) => {
                return Attempted {
                    output: Err(KindFailure::failed(format!("step `{}`: {e}", ps.id))),
                    attempts: 0,
                    interrupted: false,
                };
            }
        };
        let mut delays = step
            .retry
            .as_ref()
            .zip(schedule)
            .map(|(r, (attempts, interval))| {
                let mut b = backon::ExponentialBuilder::default()
                    .with_min_delay(interval)
                    .with_factor(r.backoff)
                    .with_max_times(attempts.saturating_sub(1) as usize);
                b = b.with_max_delay(
                    r.max_interval
                        .unwrap_or(crate::runbook::schedule::DEFAULT_MAX_INTERVAL),
                );
                b.build()
            });
        let mut attempts = 0;
        loop {
            attempts += 1;
            let step_ref = StepRef {
                id: &ps.id,
                approved,
            };
            let ran = tokio::time::timeout(
                step.timeout,
                step.kind.run(spec.clone(), step_ref, self.kinds),
            )
            .await;
            // No attempt (nor the next step) runs beside what this one started.
            let stuck = self.kinds.processes.stop_step(&ps.id, ran.is_ok()).await;
            self.interrupt.park_if_forced().await;
            let result = match ran {
                Err(_) => Err(KindFailure::failed(format!(
                    "timed out after {}",
                    humantime::format_duration(step.timeout)
                ))),
                Ok(Err(f)) => Err(f),
                Ok(Ok(output)) => {
                    self.register_secret_captures(ps, &step.capture, &output);
                    self.judge(ps, &output, ctx).map(|()| output)
                }
            };
            match result {
                Ok(output) => {
                    return Attempted {
                        output: Ok(output),
                        attempts,
                        interrupted: false,
                    };
                }
                Err(f) if f.refused || f.setup => {
                    return Attempted {
                        output: Err(f),
                        attempts,
                        interrupted: false,
                    };
                }
                Err(f) => {
                    let delay = delays.as_mut().and_then(Iterator::next);
                    // A group SIGKILL did not end: another attempt would run beside it.
                    let (Some(delay), None) = (delay, stuck) else {
                        let mut message = if attempts > 1 {
                            format!("{} (after {attempts} attempts)", f.message)
                        } else {
                            f.message
                        };
                        if let (Some(pgid), Some(_)) = (stuck, delay) {
                            message.push_str(&format!(
                                "; not retried: its process group {pgid} still runs after SIGKILL"
                            ));
                        }
                        return Attempted {
                            output: Err(KindFailure::failed(message)),
                            attempts,
                            interrupted: false,
                        };
                    };
                    self.emit(Event::StepRetrying {
                        unit: unit.to_owned(),
                        step: ps.id.clone(),
                        attempt: attempts,
                        delay_ms: delay.as_millis() as u64,
                        reason: self.redactor.redact(&f.message),
                    });
                    if self.interrupt.sleep(delay).await {
                        return Attempted {
                            output: Err(KindFailure::failed(format!(
                                "interrupted while waiting to retry (after {attempts} attempt{}): {}",
                                if attempts == 1 { "" } else { "s" },
                                f.message
                            ))),
                            attempts,
                            interrupted: true,
                        };
                    }
                }
            }
        }
    }

    /// Runs a step's `verify` probe once: its expectations hold → the captures it makes.
    async fn probe(
        &self,
        probe: &crate::runbook::Step,
        ctx: &minijinja::Value,
        ps: &PlanStep<'_>,
    ) -> Result<BTreeMap<String, Value>, String> {
        let spec = probe.kind.render(&probe.spec, ctx)?;
        let step_ref = StepRef {
            id: &ps.id,
            approved: false,
        };
        let ran =
            tokio::time::timeout(probe.timeout, probe.kind.run(spec, step_ref, self.kinds)).await;
        self.kinds.processes.stop_step(&ps.id, ran.is_ok()).await;
        self.interrupt.park_if_forced().await;
        let output = ran
            .map_err(|_| "the probe timed out".to_string())?
            .map_err(|f| f.message)?;
        // What the probe captures stands for the step's captures: as secret as they are.
        self.register_secret_captures(ps, &probe.capture, &output);
        for e in &probe.expect {
            e.check(&output, ctx)?;
        }
        probe
            .capture
            .iter()
            .map(|(name, q)| match q.search(&output)? {
                Value::Null => Err(format!("the probe's capture `{name}` found nothing")),
                v => Ok((name.clone(), v)),
            })
            .collect()
    }

    /// A secret step's captures are masked as soon as its output exists: before `until`,
    /// `expect`, `show` or a probe judge it, and before anything about it is printed or saved.
    fn register_secret_captures(
        &self,
        ps: &PlanStep<'_>,
        capture: &[(String, crate::query::Query)],
        output: &Value,
    ) {
        if !ps.step.secret {
            return;
        }
        for (_, query) in capture {
            if let Ok(v) = query.search(output) {
                self.redactor.add_value(&v);
            }
        }
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

    /// `until` (polling) then `expect`; both failing are retryable while attempts remain.
    fn judge(
        &self,
        ps: &PlanStep<'_>,
        output: &Value,
        ctx: &minijinja::Value,
    ) -> Result<(), KindFailure> {
        if let Some(retry) = &ps.step.retry {
            for until in &retry.until {
                until
                    .check(output, ctx)
                    .map_err(|e| KindFailure::failed(format!("still waiting: {e}")))?;
            }
        }
        for e in &ps.step.expect {
            e.check(output, ctx).map_err(KindFailure::failed)?;
        }
        Ok(())
    }

    async fn fail(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        started: Instant,
        attempts: u32,
        message: String,
    ) -> Result<StepResult, Fatal> {
        let before = self.saved(&ps.id).map_or(0, |s| s.attempts);
        self.save_result(
            unit,
            ps,
            StepStatus::Failed,
            before.max(attempts),
            BTreeMap::new(),
            Some(message.clone()),
        )
        .await?;
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

    async fn save_result(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        status: StepStatus,
        attempts: u32,
        captures: BTreeMap<String, Value>,
        message: Option<String>,
    ) -> Result<(), Fatal> {
        let message = message.map(|m| self.redactor.redact(&m));
        let now = jiff::Timestamp::now();
        self.update_state(|s| {
            let entry = s.steps.entry(ps.id.clone()).or_insert_with(|| StepState {
                unit: unit.to_owned(),
                status,
                attempts: 0,
                started_at: Some(now),
                ended_at: None,
                hash: ps.hash.clone(),
                captures: BTreeMap::new(),
                secret: ps.step.secret,
                message: None,
            });
            entry.status = status;
            entry.attempts = attempts;
            entry.ended_at = Some(now);
            entry.hash = ps.hash.clone();
            entry.captures = captures;
            entry.message = message.clone();
        })
        .await?;
        self.audit(
            "step_finished",
            Some(unit),
            Some(&ps.id),
            Some(status),
            Some(attempts),
            message,
        )?;
        Ok(())
    }

    async fn record_skip(&self, unit: &str, ps: &PlanStep<'_>) -> Result<(), Fatal> {
        self.save_result(unit, ps, StepStatus::Skipped, 0, BTreeMap::new(), None)
            .await
    }

    fn mark_unknown_captures(&self, ps: &PlanStep<'_>) {
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

    fn mark_failed_captures(&self, ps: &PlanStep<'_>, producer: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        for (name, _) in &ps.step.capture {
            failed.insert(name.clone(), producer.to_owned());
        }
    }
}

/// The first capture in `needs` that `producers` (capture → step) lists, with its step.
fn first_needed(
    needs: &[String],
    producers: &std::sync::Mutex<BTreeMap<String, String>>,
) -> Option<(String, String)> {
    let producers = producers.lock().unwrap_or_else(|e| e.into_inner());
    needs
        .iter()
        .find_map(|n| producers.get(n).map(|s| (n.clone(), s.clone())))
}

/// The attempts and interval of a retry, templates rendered.
fn retry_schedule(
    r: &crate::runbook::model::Retry,
    ctx: &minijinja::Value,
) -> Result<(u32, Duration), String> {
    let attempts = match &r.attempts_template {
        Some(t) => match template::render_str(t, ctx)? {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("retry `attempts: {t}` is not a number of at least 1"))?,
        None => r.attempts,
    };
    let interval = match &r.interval_template {
        Some(t) => {
            let text = match template::render_str(t, ctx)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            humantime::parse_duration(text.trim())
                .map_err(|e| format!("retry `interval: {t}` is `{text}`, not a duration: {e}"))?
        }
        None => r.interval,
    };
    if r.attempts_template.is_some() || r.interval_template.is_some() {
        crate::runbook::schedule::check_retry(attempts, interval, r.backoff, r.max_interval)
            .map_err(|b| format!("{} ({})", b.message, b.hint))?;
    }
    Ok((attempts, interval))
}

/// A found value on one line: strings without quotes, trailing newlines or line breaks. It is
/// redacted whole before it is put on one line and cut, so neither hides a secret from it.
fn short_value(v: &Value, redactor: &Redactor) -> String {
    match v {
        Value::String(s) => {
            let redacted = redactor.redact(s);
            let line = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
            crate::secrets::head(&line, 120)
        }
        other => crate::secrets::head(&redactor.redact(&other.to_string()), 120),
    }
}
