//! `status`: where the migration stands. By default a line per unit, the step in progress
//! or failed and the next command; `status TARGET` one unit's steps, `--all` every unit's
//! (status, attempts, when, captures redacted). The command builds a [`StatusReport`]; the
//! JSON and human views render it.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::execution_plan::{self, PlanStep, PlanUnit};
use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::request::Target;
use crate::runbook::{InDoubt, UnitKey};
use crate::secrets::{MASK, Redactor};
use crate::settings::{OutputFormat, Settings};
use crate::state::{LockInfo, State, StateError, StepState, StepStatus};

/// What `status --output json` prints (redacted whole before it is printed).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub state_dir: String,
    pub serial: Option<u64>,
    pub updated_at: Option<Timestamp>,
    pub operator: Option<String>,
    pub lock: Option<LockInfo>,
    /// A lock file that cannot be read: what to do about it.
    pub lock_problem: Option<String>,
    /// The run holding the lock is alive: its steps recorded as running are running, not in
    /// doubt.
    pub lock_alive: bool,
    /// What is shown: `summary`, `all`, or one target (`phase 3`, `rollback --level 2`...).
    pub view: String,
    /// The units shown (every unit for the summary).
    pub units: Vec<UnitStatusView>,
    /// The first step, in run order, that is running, in doubt or failed.
    pub current: Option<CurrentStep>,
    /// The command to run next, or what to do instead.
    pub next: String,
}

/// A step in progress, in doubt or failed, and its unit.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentStep {
    pub unit: String,
    pub step: String,
    pub status: String,
    pub message: Option<String>,
}

/// A unit; its text is redacted when it is built, before anything is cut or wrapped into a
/// table: titles and messages may hold a secret a `--var` or `env` put there.
#[derive(Debug, Serialize)]
pub struct UnitStatusView {
    #[serde(skip)]
    pub key: UnitKey,
    pub unit: String,
    pub title: String,
    pub status: UnitStatus,
    /// Steps succeeded or skipped, of `total`.
    pub done: usize,
    pub total: usize,
    pub steps: Vec<StepStatusView>,
}

#[derive(Debug, Serialize)]
pub struct StepStatusView {
    pub id: String,
    pub group: Option<String>,
    pub title: String,
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Masked for a `secret: true` step, redacted otherwise.
    pub captures: Map<String, Value>,
    pub message: Option<String>,
    /// Succeeded, but the step has changed since.
    pub changed: bool,
    /// Recorded as running by a run that is gone: its effect is unknown.
    pub in_doubt: bool,
    /// In doubt, only the operator can settle it (`--retry-in-doubt` / `--mark-done`).
    #[serde(skip)]
    pub operator_decides: bool,
}

impl StepStatusView {
    /// The status as a person reads it: `running` only while its run is alive.
    pub fn shown_status(&self) -> String {
        let mut status = match self.status {
            StepStatus::Running if self.in_doubt => "in doubt".to_owned(),
            other => status_name(other).to_owned(),
        };
        if self.changed {
            status.push_str(" (changed since)");
        }
        status
    }
}

/// A unit's progress, from its steps'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UnitStatus {
    #[serde(rename = "not started")]
    NotStarted,
    #[serde(rename = "failed")]
    Failed,
    /// A step is recorded as running: the run that ran it ended without saying how it went.
    #[serde(rename = "in doubt")]
    InDoubt,
    /// A step is running, in a run that is alive.
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "done")]
    Done,
    #[serde(rename = "in progress")]
    InProgress,
}

impl UnitStatus {
    pub(super) fn of(steps: &[StepStatusView]) -> Self {
        let has = |status| steps.iter().any(|s| s.status == status);
        if steps.iter().all(|s| s.status == StepStatus::Pending) {
            UnitStatus::NotStarted
        } else if has(StepStatus::Failed) {
            UnitStatus::Failed
        } else if steps.iter().any(|s| s.in_doubt) {
            UnitStatus::InDoubt
        } else if has(StepStatus::Running) {
            UnitStatus::Running
        } else if steps.iter().all(|s| s.status.is_done()) {
            UnitStatus::Done
        } else {
            UnitStatus::InProgress
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            UnitStatus::NotStarted => "not started",
            UnitStatus::Failed => "failed",
            UnitStatus::InDoubt => "in doubt",
            UnitStatus::Running => "running",
            UnitStatus::Done => "done",
            UnitStatus::InProgress => "in progress",
        }
    }
}

pub fn run(settings: &Settings, term: &Terminal, redactor: &Redactor) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let store = settings.state_store_for(&vars);
    let state = store.load()?;
    // An unreadable lock file does not hide the state: it is shown with what to do.
    let (lock, lock_problem) = match store.lock_info() {
        Ok(lock) => (lock, None),
        Err(e @ StateError::LockUnreadable { .. }) => (None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let lock_alive = lock
        .as_ref()
        .is_some_and(|l| l.holder_alive(&settings.host));
    let plan = execution_plan::build(&runbook, Target::All, vars, &settings.env)?;
    let all: Vec<UnitStatusView> = plan
        .units
        .iter()
        .map(|unit| unit_view(unit, state.as_ref(), lock_alive, redactor))
        .collect();
    let current = super::status_next::current(&all);
    let next = super::status_next::next(settings, &all, lock.as_ref().filter(|_| lock_alive));
    let shown = shown_units(settings.target);
    let report = StatusReport {
        state_dir: settings.state_dir.display().to_string(),
        serial: state.as_ref().map(|s| s.serial),
        updated_at: state.as_ref().map(|s| s.updated_at),
        operator: state.as_ref().and_then(|s| s.operator.clone()),
        lock,
        lock_problem,
        lock_alive,
        view: settings.target.map_or("summary".into(), |t| t.to_string()),
        units: all
            .into_iter()
            .filter(|u| shown.as_ref().is_none_or(|keys| keys.contains(&u.key)))
            .collect(),
        current,
        next: redactor.redact(&next),
    };
    match settings.output {
        OutputFormat::Json => {
            let doc = serde_json::to_value(&report).unwrap_or_default();
            term.out(&super::document::json_success(redactor.redact_value(&doc)));
        }
        OutputFormat::Junit => super::junit_out(term, "status", junit_cases(&report)),
        OutputFormat::Human => {
            let width = super::status_human::width(&settings.env);
            super::status_human::render(&report, settings.target.is_some(), width, term, redactor);
        }
    }
    Ok(exit_codes::SUCCESS)
}

/// `status --output junit`: a case per unit (already redacted), failing for a unit that
/// failed or is in doubt.
fn junit_cases(report: &StatusReport) -> Vec<super::Case> {
    report
        .units
        .iter()
        .map(|u| {
            let mut case = super::Case::passed(&u.unit)
                .property("title", &u.title)
                .property("status", u.status.name());
            if matches!(u.status, UnitStatus::Failed | UnitStatus::InDoubt) {
                case.failure = Some(format!("{}: {}", u.title, u.status.name()));
            }
            case
        })
        .collect()
}

/// The units a view shows: every unit for the summary and `--all`, else the target's (a
/// rollback level alone, not the levels below it).
fn shown_units(target: Option<Target>) -> Option<Vec<UnitKey>> {
    match target {
        None | Some(Target::All) => None,
        Some(Target::Rollback(level)) => Some(vec![UnitKey::Rollback(level)]),
        Some(t) => Some(t.units()),
    }
}

pub(super) fn unit_view(
    unit: &PlanUnit,
    state: Option<&State>,
    lock_alive: bool,
    redactor: &Redactor,
) -> UnitStatusView {
    let steps: Vec<_> = unit
        .steps
        .iter()
        .map(|ps| {
            let saved = state.and_then(|s| s.steps.get(&ps.id));
            step_view(ps, saved, lock_alive, redactor)
        })
        .collect();
    UnitStatusView {
        key: unit.unit.key,
        unit: redactor.redact(&unit.unit.key.slug()),
        title: redactor.redact(&unit.unit.title),
        status: UnitStatus::of(&steps),
        done: steps.iter().filter(|s| s.status.is_done()).count(),
        total: steps.len(),
        steps,
    }
}

fn step_view(
    ps: &PlanStep,
    saved: Option<&StepState>,
    lock_alive: bool,
    redactor: &Redactor,
) -> StepStatusView {
    let captures = saved
        .map(|s| {
            if s.secret {
                ps.step
                    .capture
                    .iter()
                    .map(|(n, _)| (n.clone(), Value::String(MASK.into())))
                    .collect()
            } else {
                s.captures
                    .iter()
                    .map(|(k, v)| (k.clone(), redactor.redact_value(v)))
                    .collect()
            }
        })
        .unwrap_or_default();
    StepStatusView {
        id: redactor.redact(&ps.id),
        group: ps.step.group.as_deref().map(|g| redactor.redact(g)),
        title: redactor.redact(&ps.title),
        status: saved.map_or(StepStatus::Pending, |s| s.status),
        attempts: saved.map_or(0, |s| s.attempts),
        started_at: saved.and_then(|s| s.started_at),
        ended_at: saved.and_then(|s| s.ended_at),
        captures,
        message: saved
            .and_then(|s| s.message.as_deref())
            .map(|m| redactor.redact(m)),
        changed: saved.is_some_and(|s| s.status == StepStatus::Succeeded && s.hash != ps.hash),
        in_doubt: !lock_alive && saved.is_some_and(|s| s.status == StepStatus::Running),
        operator_decides: ps.step.in_doubt() == InDoubt::Operator,
    }
}

pub(super) fn status_name(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "pending",
        StepStatus::Running => "running",
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}
