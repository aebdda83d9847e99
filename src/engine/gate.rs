//! The gate before a step runs: everything decided before acting (resume, reverts, needs,
//! `when`, the in-doubt probe, rendering, dry run, approval), ending in run-or-done.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::execution_plan::PlanStep;
use super::record::Audit;
use super::run::Engine;
use super::step::{StepResult, short_value};
use crate::error::Error;
use crate::events::{Event, Outcome};
use crate::kinds::Access;
use crate::runbook::{Reverts, Step, UnitKey};
use crate::state::{StepState, StepStatus};
use crate::template;

/// What the gate decided.
pub(super) enum Gate {
    /// The step is settled without running (skipped, blocked, shown, failed to render...).
    Done(StepResult),
    /// The step runs, with what the gate prepared.
    Run(Box<Ready>),
}

/// A step cleared to run.
pub(super) struct Ready {
    pub spec: Value,
    pub ctx: minijinja::Value,
    pub approved: bool,
    pub start_time: jiff::Timestamp,
    pub prior: Option<StepState>,
}

/// Resume: a succeeded step is not run again, except a read-only one whose captures were
/// secret (and so never saved), which is re-read.
pub(super) fn already_done(prior: Option<&StepState>, step: &Step) -> bool {
    prior.is_some_and(|p| {
        p.status == StepStatus::Succeeded
            && !(p.secret && !step.capture.is_empty() && step.access == Access::ReadOnly)
    })
}

/// A rollback step whose forward phase (or step) never ran has nothing to undo: why.
pub(super) fn nothing_to_undo(
    reverts: Option<&Reverts>,
    phase_ran: impl Fn(u8) -> bool,
    step_succeeded: impl Fn(&str) -> bool,
) -> Option<String> {
    match reverts {
        Some(Reverts::Phase(n)) if !phase_ran(*n) => {
            Some(format!("phase {n} never ran: nothing to undo"))
        }
        Some(Reverts::Step(id)) if !step_succeeded(id) => {
            Some(format!("step `{id}` never succeeded: nothing to undo"))
        }
        _ => None,
    }
}

/// In doubt after a crash (left `running`), a step with a probe is probed first, unless the
/// operator asked to run it again or this is a dry run.
pub(super) fn probes_first(
    prior: Option<&StepState>,
    step: &Step,
    dry_run: bool,
    retry_in_doubt: bool,
) -> bool {
    step.verify.is_some()
        && prior.is_some_and(|p| p.status == StepStatus::Running)
        && !dry_run
        && !retry_in_doubt
}

/// Why a dry run shows a step rather than running it; `None` for a read-only step, which runs.
pub(super) fn dry_run_shows(dry_run: bool, access: Access) -> Option<&'static str> {
    match access {
        _ if !dry_run => None,
        Access::ReadOnly => None,
        Access::Manual => Some("asks the operator"),
        Access::Mutating => Some("changes something"),
    }
}

impl Engine<'_> {
    /// Decides whether a step runs. `not_run_before` (dry runs) names an earlier step of the
    /// same phase that was shown, not run.
    pub(super) async fn gate(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        not_run_before: Option<&str>,
        started: Instant,
    ) -> Result<Gate, Error> {
        let prior = self.saved(&ps.id);
        if let Some(done) = self
            .settled_by_state(unit, ps, prior.as_ref(), started)
            .await?
        {
            return Ok(Gate::Done(done));
        }
        let start_time = jiff::Timestamp::now();
        let ctx = self.step_context(ps, start_time);
        if let Some(cond) = &ps.step.when {
            match template::eval_condition(cond, &ctx) {
                Ok(true) => {}
                Ok(false) => {
                    let r = self.report(unit, ps, Outcome::Skipped, 0, started);
                    self.record_skip(unit, ps).await?;
                    let why = format!("condition `{cond}` is false");
                    return Ok(Gate::Done(self.finish(r, Some(why))));
                }
                Err(e) => {
                    let why = format!("cannot evaluate `when: {cond}`: {e}");
                    return Ok(Gate::Done(self.fail(unit, ps, started, 0, why).await?));
                }
            }
        }
        if let Some(p) = prior.as_ref().filter(|p| {
            let again = self.opts.overrides.retry_in_doubt.contains(&ps.id);
            probes_first(Some(p), ps.step, self.opts.dry_run, again)
        }) && let Some(done) = self
            .probe_in_doubt(unit, ps, p, start_time, started)
            .await?
        {
            return Ok(Gate::Done(done));
        }
        let spec = match ps.step.kind.render(&ps.step.spec, &ctx) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot render the step: {e}");
                return Ok(Gate::Done(self.fail(unit, ps, started, 0, why).await?));
            }
        };
        let description = self.describe(ps, &spec);
        if let Some(done) = self.shown_only(unit, ps, not_run_before, &description, started) {
            return Ok(Gate::Done(done));
        }
        let approved = self.approve(unit, ps, description, started).await?;
        Ok(Gate::Run(Box::new(Ready {
            spec,
            ctx,
            approved,
            start_time,
            prior,
        })))
    }

    /// What the state alone settles: done before, nothing to undo, or a needed capture
    /// failed (blocked) or unknown (dry run).
    async fn settled_by_state(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        prior: Option<&StepState>,
        started: Instant,
    ) -> Result<Option<StepResult>, Error> {
        let step = ps.step;
        if let Some(p) = prior.filter(|_| already_done(prior, step)) {
            let mut r = self.report(unit, ps, Outcome::Skipped, p.attempts, started);
            let when = p.ended_at.map(|t| format!(" at {t}")).unwrap_or_default();
            r.found = p
                .captures
                .values()
                .next()
                .map(|v| short_value(v, self.redactor));
            return Ok(Some(
                self.finish(r, Some(format!("already succeeded{when}"))),
            ));
        }
        let undone = nothing_to_undo(
            step.reverts.as_ref(),
            |n| self.phase_ran(n),
            |id| self.step_succeeded(id),
        );
        if let Some(why) = undone {
            let r = self.report(unit, ps, Outcome::Skipped, 0, started);
            self.record_skip(unit, ps).await?;
            return Ok(Some(self.finish(r, Some(why))));
        }
        if let Some((name, producer)) = first_needed(&step.needs, &self.failed) {
            let r = self.report(unit, ps, Outcome::Blocked, 0, started);
            self.mark_failed_captures(ps, &ps.id);
            let why = format!("needs `{name}` from step `{producer}`, which failed");
            return Ok(Some(self.finish(r, Some(why))));
        }
        if let Some((name, producer)) = first_needed(&step.needs, &self.unknown) {
            let r = self.report(unit, ps, Outcome::Unknown, 0, started);
            self.mark_unknown_captures(ps);
            let why = format!(
                "needs `{name}`, which step `{producer}` makes when it runs (not in a dry run)"
            );
            return Ok(Some(self.finish(r, Some(why))));
        }
        Ok(None)
    }

    /// In doubt after a crash: the step's probe tells whether it had done its work; when it
    /// did, the step is recorded as done. A probe that fails lets the step run.
    async fn probe_in_doubt(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        prior: &StepState,
        start_time: jiff::Timestamp,
        started: Instant,
    ) -> Result<Option<StepResult>, Error> {
        let Some(probe) = &ps.step.verify else {
            return Ok(None);
        };
        let ctx = self.step_context(ps, prior.started_at.unwrap_or(start_time));
        match self.attempts(unit, ps).probe(probe, &ctx).await {
            Ok(captured) => self
                .record_probed(unit, ps, prior.attempts, captured, started)
                .await
                .map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The rendered step in one line, its credentials masked from here on.
    fn describe(&self, ps: &PlanStep<'_>, spec: &Value) -> String {
        for secret in ps.step.kind.secrets(spec) {
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
        self.redactor.redact(&ps.step.kind.describe(spec))
    }

    /// Dry run: a step after one shown but not run is only shown too (it would act on a
    /// world without that change, and a check may act indirectly: MCPify's legacy health
    /// tool runs an SSM command); a step that is not read-only is shown, not run.
    fn shown_only(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        not_run_before: Option<&str>,
        description: &str,
        started: Instant,
    ) -> Option<StepResult> {
        let (outcome, why) = match (
            not_run_before,
            dry_run_shows(self.opts.dry_run, ps.step.access),
        ) {
            (Some(before), _) => (
                Outcome::Unknown,
                format!("not run: it follows `{before}`, which a dry run does not run"),
            ),
            (None, Some(why)) => (Outcome::WouldRun, format!("dry run: not run, it {why}")),
            (None, None) => return None,
        };
        let mut r = self.report(unit, ps, outcome, 0, started);
        r.would_run = Some(match self.second_person(ps) {
            Ok(Some(_)) if outcome == Outcome::WouldRun => format!(
                "{description}\na real run would wait for a second person to approve it (`outpost-migrate approve {}`)",
                ps.id
            ),
            _ => description.to_owned(),
        });
        self.mark_unknown_captures(ps);
        Some(self.finish(r, Some(why)))
    }

    /// A step that needs approval runs when pre-approved or when the operator says yes;
    /// otherwise the run stops, refused. True when the operator pre-approved it.
    async fn approve(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        description: String,
        started: Instant,
    ) -> Result<bool, Error> {
        let approved = self.opts.yes
            || self.opts.approve.contains(&ps.id)
            || self.opts.approve.contains(&ps.step.id);
        // `--yes` and `--approve` answer for the operator, never for the second person.
        if let Some(policy) = self.second_person(ps)? {
            self.wait_for_second_person(unit, ps, policy, description, started)
                .await?;
            return Ok(approved);
        }
        if approved && (ps.step.approval || ps.step.kind.name() == "confirm") {
            let mut how = if self.opts.yes {
                "--yes".to_owned()
            } else if self.opts.approve.contains(&ps.id) {
                format!("--approve {}", ps.id)
            } else {
                format!("--approve {}", ps.step.id)
            };
            if ps.step.second_person {
                how.push_str(&second_person_off());
            }
            self.record_approval(unit, ps, how)?;
        }
        if !ps.step.approval || approved {
            return Ok(approved);
        }
        let can_prompt = self.kinds.prompter.can_prompt();
        let question = format!("Run `{}`?\n  {description}\nApprove", ps.title);
        // A Ctrl-C while the question waits names this step: approved, it runs, then the run stops.
        let _asking = self.interrupt.running(&ps.id);
        let yes = can_prompt && {
            let prompter = self.kinds.prompter.clone();
            tokio::task::spawn_blocking(move || prompter.confirm(&question))
                .await
                .unwrap_or(false)
        };
        if yes {
            let off = if ps.step.second_person {
                second_person_off()
            } else {
                String::new()
            };
            self.record_approval(unit, ps, format!("answered yes at the prompt{off}"))?;
            return Ok(false);
        }
        let mut r = self.report(unit, ps, Outcome::Refused, 0, started);
        r.would_run = Some(description);
        let msg = format!(
            "step `{}` needs approval{}; rerun with --approve {} (or --yes)",
            ps.id,
            if can_prompt {
                " and was declined"
            } else {
                " and there is no terminal to ask"
            },
            ps.step.id
        );
        self.finish(r, Some(msg.clone()));
        Err(Error::Refused(msg))
    }

    /// An approval, or a confirmation given in advance, is evidence: the audit log says who
    /// gave it, when and how (`report` shows it).
    fn record_approval(&self, unit: &str, ps: &PlanStep<'_>, how: String) -> Result<(), Error> {
        self.audit(
            Audit::event("approved")
                .unit(unit)
                .step(&ps.id)
                .message(how),
        )
        .map_err(Error::Save)
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
}

/// What an operator's approval of a step marked for a second person adds: the second
/// person was turned off.
fn second_person_off() -> String {
    format!(
        " (second person off: var {})",
        super::second_person::ENABLED_VAR
    )
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::testkit::{Scripted, step};
    use crate::query::Query;

    fn saved(status: StepStatus, secret: bool) -> StepState {
        StepState {
            unit: "phase-1".into(),
            status,
            attempts: 1,
            started_at: None,
            ended_at: None,
            hash: String::new(),
            captures: BTreeMap::new(),
            secret,
            message: None,
        }
    }

    fn a_step() -> Step {
        step(Scripted::leaked(Vec::new()))
    }

    #[test]
    fn a_succeeded_step_is_done_and_any_other_is_not() {
        let s = a_step();
        assert!(already_done(Some(&saved(StepStatus::Succeeded, false)), &s));
        for status in [
            StepStatus::Pending,
            StepStatus::Running,
            StepStatus::Failed,
            StepStatus::Skipped,
        ] {
            assert!(!already_done(Some(&saved(status, false)), &s), "{status:?}");
        }
        assert!(!already_done(None, &s));
    }

    #[test]
    fn a_read_only_step_whose_captures_were_secret_is_read_again() {
        let mut s = a_step();
        s.capture = vec![("token".into(), Query::compile("token").unwrap())];
        let secret = saved(StepStatus::Succeeded, true);
        assert!(!already_done(Some(&secret), &s));
        s.access = Access::Mutating;
        assert!(already_done(Some(&secret), &s));
    }

    #[test]
    fn a_rollback_step_has_something_to_undo_only_after_its_forward_work() {
        let phase = Reverts::Phase(2);
        let step = Reverts::Step("create-zone".into());
        assert_eq!(
            nothing_to_undo(Some(&phase), |_| false, |_| true).as_deref(),
            Some("phase 2 never ran: nothing to undo")
        );
        assert_eq!(nothing_to_undo(Some(&phase), |n| n == 2, |_| false), None);
        assert_eq!(
            nothing_to_undo(Some(&step), |_| true, |_| false).as_deref(),
            Some("step `create-zone` never succeeded: nothing to undo")
        );
        assert_eq!(
            nothing_to_undo(Some(&step), |_| false, |id| id == "create-zone"),
            None
        );
        assert_eq!(nothing_to_undo(None, |_| false, |_| false), None);
    }

    #[test]
    fn only_a_real_run_probes_a_step_left_running_and_not_forced_again() {
        let mut s = a_step();
        let running = saved(StepStatus::Running, false);
        assert!(!probes_first(Some(&running), &s, false, false), "no probe");
        s.verify = Some(Box::new(a_step()));
        assert!(probes_first(Some(&running), &s, false, false));
        assert!(!probes_first(Some(&running), &s, true, false), "dry run");
        assert!(
            !probes_first(Some(&running), &s, false, true),
            "--retry-in-doubt"
        );
        let failed = saved(StepStatus::Failed, false);
        assert!(
            !probes_first(Some(&failed), &s, false, false),
            "not in doubt"
        );
        assert!(!probes_first(None, &s, false, false), "never started");
    }

    #[test]
    fn a_dry_run_runs_reads_and_shows_writes_and_questions() {
        assert_eq!(dry_run_shows(true, Access::ReadOnly), None);
        assert_eq!(
            dry_run_shows(true, Access::Mutating),
            Some("changes something")
        );
        assert_eq!(
            dry_run_shows(true, Access::Manual),
            Some("asks the operator")
        );
        for access in [Access::ReadOnly, Access::Mutating, Access::Manual] {
            assert_eq!(dry_run_shows(false, access), None);
        }
    }
}
