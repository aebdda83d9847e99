//! `status`: each unit and step of the saved state, when, attempts and captures (redacted).
//! The command builds a [`StatusReport`]; the JSON and human views render it.

use comfy_table::{Table, presets};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::execution_plan::{self, PlanStep, PlanUnit};
use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::request::Target;
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
    pub units: Vec<UnitStatusView>,
}

/// A unit; its text is redacted when it is built, before anything is cut or wrapped into a
/// table: titles and messages may hold a secret a `--var` or `env` put there.
#[derive(Debug, Serialize)]
pub struct UnitStatusView {
    pub unit: String,
    pub title: String,
    pub status: UnitStatus,
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
        } else if has(StepStatus::Running) {
            UnitStatus::InDoubt
        } else if steps.iter().all(|s| s.status.is_done()) {
            UnitStatus::Done
        } else {
            UnitStatus::InProgress
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            UnitStatus::NotStarted => "not started",
            UnitStatus::Failed => "failed",
            UnitStatus::InDoubt => "in doubt",
            UnitStatus::Done => "done",
            UnitStatus::InProgress => "in progress",
        }
    }
}

pub fn run(settings: &Settings, term: &Terminal, redactor: &Redactor) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let store = settings.state_store();
    let state = store.load()?;
    // An unreadable lock file does not hide the state: it is shown with what to do.
    let (lock, lock_problem) = match store.lock_info() {
        Ok(lock) => (lock, None),
        Err(e @ StateError::LockUnreadable { .. }) => (None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let plan = execution_plan::build(&runbook, Target::All, vars, &settings.env)?;
    let report = StatusReport {
        state_dir: settings.state_dir.display().to_string(),
        serial: state.as_ref().map(|s| s.serial),
        updated_at: state.as_ref().map(|s| s.updated_at),
        operator: state.as_ref().and_then(|s| s.operator.clone()),
        lock,
        lock_problem,
        units: plan
            .units
            .iter()
            .map(|unit| unit_view(unit, state.as_ref(), redactor))
            .collect(),
    };
    match settings.output {
        OutputFormat::Json => {
            let doc = serde_json::to_value(&report).unwrap_or_default();
            term.out(&redactor.redact_value(&doc).to_string());
        }
        OutputFormat::Human | OutputFormat::Junit => {
            render_human(&report, term, redactor);
        }
    }
    Ok(exit_codes::SUCCESS)
}

pub(super) fn unit_view(
    unit: &PlanUnit,
    state: Option<&State>,
    redactor: &Redactor,
) -> UnitStatusView {
    let steps: Vec<_> = unit
        .steps
        .iter()
        .map(|ps| step_view(ps, state.and_then(|s| s.steps.get(&ps.id)), redactor))
        .collect();
    UnitStatusView {
        unit: redactor.redact(&unit.unit.key.slug()),
        title: redactor.redact(&unit.unit.title),
        status: UnitStatus::of(&steps),
        steps,
    }
}

fn step_view(ps: &PlanStep, saved: Option<&StepState>, redactor: &Redactor) -> StepStatusView {
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
    }
}

fn render_human(report: &StatusReport, term: &Terminal, redactor: &Redactor) {
    match (report.serial, report.updated_at) {
        (Some(serial), Some(updated_at)) => term.out(&redactor.redact(&format!(
            "state in {} · serial {serial} · updated {updated_at} by {}",
            report.state_dir,
            report.operator.as_deref().unwrap_or("unknown")
        ))),
        _ => term.out(&format!(
            "no run has been recorded in {} yet",
            report.state_dir
        )),
    }
    if let Some(l) = &report.lock {
        term.out(&format!(
            "{} {}",
            term.style("locked:", console::Style::new().yellow().bold()),
            redactor.redact(&l.to_string())
        ));
    }
    if let Some(problem) = &report.lock_problem {
        term.out(&format!(
            "{} {}",
            term.style("lock:", console::Style::new().yellow().bold()),
            redactor.redact(problem)
        ));
    }
    for unit in &report.units {
        term.out("");
        term.out(&format!(
            "{} — {}",
            term.style(&unit.title, console::Style::new().bold()),
            unit.status.name()
        ));
        term.out(&unit_table(unit, term.color).to_string());
    }
}

fn unit_table(unit: &UnitStatusView, color: bool) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_BORDERS_ONLY);
    if !color {
        table.force_no_tty();
    }
    table.set_header(vec![
        "step",
        "status",
        "attempts",
        "ended",
        "captures / message",
    ]);
    for s in &unit.steps {
        let mut status = status_name(s.status).to_string();
        if s.changed {
            status.push_str(" (changed since)");
        }
        if s.status == StepStatus::Running {
            status = "running (in doubt)".into();
        }
        table.add_row(vec![
            match &s.group {
                Some(g) => format!("{g} / {}", s.id),
                None => s.id.clone(),
            },
            status,
            s.attempts.to_string(),
            s.ended_at
                .map_or("-".into(), |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()),
            detail(s),
        ]);
    }
    table
}

/// The captures, then the message.
fn detail(s: &StepStatusView) -> String {
    let captures = s
        .captures
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .map_or_else(|| crate::expect::short(v), str::to_owned)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    match &s.message {
        Some(m) if captures.is_empty() => m.clone(),
        Some(m) => format!("{captures} {m}"),
        None => captures,
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
