//! A second pair of eyes: a step marked `approval: second_person` waits until another AWS
//! identity than the operator's runs `outpost-migrate approve STEP` against the same state.
//! `--yes` and `--approve` do not stand in for it. The wait and the approval meet in the audit
//! log (`state::approval`), tied to this run's lock id.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::execution_plan::PlanStep;
use super::record::Audit;
use super::run::Engine;
use crate::error::Error;
use crate::events::{Event, Outcome};
use crate::runbook::schedule::MIN_INTERVAL;
use crate::state::approval;

/// The runbook var that turns the second person off (`false`): steps marked so then need
/// only the operator's approval, and the approval line says the second person was off.
pub const ENABLED_VAR: &str = "second_person_approval";
/// How long a run waits for the approval (a duration, `30m`), then stops refused (exit 4).
pub const TIMEOUT_VAR: &str = "second_person_timeout";
/// How often the waiting run reads the audit log (bounded by `MAX_POLL`).
pub const POLL_VAR: &str = "second_person_poll_interval";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// The longest the run goes without reading the audit log: an approval is seen within this.
const MAX_POLL: Duration = Duration::from_secs(30);

/// Whether and how long marked steps wait, from the plan's vars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub enabled: bool,
    pub timeout: Duration,
    pub poll: Duration,
}

impl Policy {
    pub fn from_vars(vars: &Map<String, Value>) -> Result<Policy, Error> {
        let enabled = match vars.get(ENABLED_VAR) {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            // A var read from the environment is a string; anything but an explicit "off"
            // keeps the second person.
            Some(Value::String(s)) => !matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "false" | "off" | "no" | "0"
            ),
            Some(_) => true,
        };
        let duration = |name: &str, default: Duration| match vars.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                humantime::parse_duration(text.trim()).map_err(|e| {
                    Error::Usage(format!(
                        "var `{name}` is `{text}`, not a duration like 30m or 5s: {e}"
                    ))
                })
            }
        };
        Ok(Policy {
            enabled,
            timeout: duration(TIMEOUT_VAR, DEFAULT_TIMEOUT)?,
            poll: duration(POLL_VAR, DEFAULT_POLL)?.clamp(MIN_INTERVAL, MAX_POLL),
        })
    }
}

impl Engine<'_> {
    /// The policy for `ps` when it waits for a second person in this run: marked, and not
    /// turned off by the var.
    pub(super) fn second_person(&self, ps: &PlanStep<'_>) -> Result<Option<Policy>, Error> {
        if !ps.step.second_person {
            return Ok(None);
        }
        Policy::from_vars(&self.plan.vars).map(|p| p.enabled.then_some(p))
    }

    /// Waits until another identity approves `ps` for this run, reading the audit log every
    /// `poll`. Refused on timeout (nothing ran: the command resumes here) and stopped by
    /// Ctrl-C. `approve` wrote the approval line; this run reads it.
    pub(super) async fn wait_for_second_person(
        &self,
        unit: &str,
        ps: &PlanStep<'_>,
        policy: Policy,
        description: String,
        started: Instant,
    ) -> Result<(), Error> {
        let id = crate::kinds::aws::caller_identity(&self.kinds.aws)
            .await
            .map_err(|f| {
                Error::Setup(format!(
                    "step `{}` needs a second person's approval, told apart by AWS identity, but the operator's could not be read: {}",
                    ps.id, f.message
                ))
            })?;
        *self.operator.lock().unwrap_or_else(|e| e.into_inner()) = id.arn.clone();
        let run = match self.store.lock_info().map_err(Error::Save)? {
            Some(lock) => lock.id,
            None => return Err(Error::Refused("the run holds no lock to wait under".into())),
        };
        self.audit(
            Audit::event(approval::AWAITING)
                .unit(unit)
                .step(&ps.id)
                .run_by(&run, &id.arn)
                .message(format!("waiting for an identity other than {}", id.arn)),
        )
        .map_err(Error::Save)?;
        self.emit(Event::AwaitingApproval {
            unit: unit.to_owned(),
            step: ps.id.clone(),
            title: self.redactor.redact(&ps.title),
            operator: id.arn.clone(),
            run: run.clone(),
            timeout_ms: policy.timeout.as_millis() as u64,
        });
        let deadline = Instant::now() + policy.timeout;
        loop {
            let audit = self.store.read_audit().map_err(Error::Save)?;
            if approval::approval(&audit, &ps.id, &run, &id.arn).is_some() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let (outcome, why, error) = if left.is_zero() {
                let why = format!(
                    "no second person approved step `{}` within {} (run `outpost-migrate approve {}` as an identity other than {}); nothing ran, rerun the command to wait again",
                    ps.id,
                    humantime::format_duration(policy.timeout),
                    ps.id,
                    id.arn
                );
                (Outcome::Refused, why.clone(), Error::Refused(why))
            } else if self.interrupt.sleep(policy.poll.min(left)).await {
                let why =
                    "stopped (Ctrl-C) while waiting for a second person's approval; nothing ran"
                        .to_owned();
                (Outcome::Interrupted, why, Error::Interrupted)
            } else {
                continue;
            };
            let mut r = self.report(unit, ps, outcome, 0, started);
            r.would_run = Some(description);
            self.finish(r, Some(why));
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_second_person_is_on_unless_the_var_says_off() {
        let on = |v: Value| Policy::from_vars(&vars(v)).unwrap().enabled;
        assert!(on(json!({})));
        assert!(on(json!({ENABLED_VAR: true})));
        assert!(on(json!({ENABLED_VAR: "true"})));
        assert!(on(json!({ENABLED_VAR: "maybe"})));
        assert!(!on(json!({ENABLED_VAR: false})));
        assert!(!on(json!({ENABLED_VAR: "false"})));
        assert!(!on(json!({ENABLED_VAR: " Off "})));
    }

    #[test]
    fn the_shipped_runbook_marks_the_dns_change_the_scale_to_0_and_the_destroy() {
        let rb = crate::runbook::load(&crate::runbook::RunbookSource::Embedded).unwrap();
        let marked: Vec<&str> = rb
            .units
            .iter()
            .flat_map(|u| &u.steps)
            .filter(|s| s.second_person)
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(
            marked,
            [
                "dns-upsert-alias",
                "rollback-scale-control-plane",
                "rollback-terraform-destroy-alb"
            ]
        );
        assert!(
            rb.units
                .iter()
                .flat_map(|u| &u.steps)
                .all(|s| s.approval || !s.second_person)
        );
        let declared = |name: &str| rb.vars.iter().any(|(k, _)| k == name);
        assert!(declared(ENABLED_VAR) && declared(TIMEOUT_VAR) && declared(POLL_VAR));
    }

    #[test]
    fn the_wait_is_bounded_and_its_poll_kept_between_limits() {
        let p = Policy::from_vars(&vars(json!({}))).unwrap();
        assert_eq!((p.timeout, p.poll), (DEFAULT_TIMEOUT, DEFAULT_POLL));
        let p = Policy::from_vars(&vars(json!({TIMEOUT_VAR: "2s", POLL_VAR: "1ms"}))).unwrap();
        assert_eq!((p.timeout, p.poll), (Duration::from_secs(2), MIN_INTERVAL));
        let p = Policy::from_vars(&vars(json!({POLL_VAR: "1h"}))).unwrap();
        assert_eq!(p.poll, MAX_POLL);
        let e = Policy::from_vars(&vars(json!({TIMEOUT_VAR: "soon"}))).unwrap_err();
        assert!(
            e.to_string()
                .contains("var `second_person_timeout` is `soon`"),
            "{e}"
        );
    }
}
