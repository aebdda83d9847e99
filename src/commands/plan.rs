//! `plan [TARGET]`: the steps a command would run, what kind of change each makes, and what
//! the saved state says is already done. The command builds a [`PlanReport`]; the JSON and
//! human views render it.

use serde::Serialize;

use crate::engine::execution_plan::{self, Plan, PlanStep};
use crate::error::Error;
use crate::exit_codes;
use crate::kinds::Access;
use crate::reporter::terminal::Terminal;
use crate::request::Target;
use crate::secrets::Redactor;
use crate::settings::{OutputFormat, Settings};
use crate::state::{State, StepStatus};

/// What `plan` shows for `run.scratch_dir`, which each run creates afresh.
const SCRATCH_PLACEHOLDER: &str = "<run scratch dir>";

/// What `plan --output json` prints. Keys are written in sorted order (through
/// `serde_json::Value`), as scripts reading it have always seen them.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub runbook: String,
    pub target: String,
    pub units: Vec<PlanUnitView>,
}

#[derive(Debug, Serialize)]
pub struct PlanUnitView {
    pub unit: String,
    pub title: String,
    pub file: String,
    pub concurrent: bool,
    pub steps: Vec<PlanStepView>,
}

#[derive(Debug, Serialize)]
pub struct PlanStepView {
    pub id: String,
    /// Redacted.
    pub title: String,
    pub kind: &'static str,
    pub access: Access,
    pub read_only_declared: bool,
    pub approval: bool,
    pub optional: bool,
    pub in_doubt: &'static str,
    pub expectations: usize,
    pub has_hint: bool,
    pub when: Option<String>,
    pub needs: Vec<String>,
    pub captures: Vec<String>,
    pub raw: Vec<RawUse>,
    /// What the step does, its inputs rendered as far as the saved captures allow; redacted.
    pub action: String,
    pub status: PlanStatus,
}

/// A field that writes a var unescaped (`| raw`).
#[derive(Debug, Serialize)]
pub struct RawUse {
    pub field: String,
    pub template: String,
}

/// What the saved state says of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Succeeded, but the step has changed since.
    Changed,
    #[serde(untagged)]
    Saved(StepStatus),
}

impl PlanStatus {
    fn of(saved: Option<&crate::state::StepState>, hash: &str) -> Self {
        match saved {
            Some(s) if s.status == StepStatus::Succeeded && s.hash != hash => PlanStatus::Changed,
            Some(s) => PlanStatus::Saved(s.status),
            None => PlanStatus::Saved(StepStatus::Pending),
        }
    }

    fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

pub fn run(settings: &Settings, term: &Terminal, redactor: &Redactor) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let target = settings.target.unwrap_or(Target::All);
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let plan = execution_plan::build(&runbook, target, vars, &settings.env)?;
    let state = settings.state_store().load()?;
    let report = PlanReport {
        runbook: runbook.name.clone(),
        target: target.to_string(),
        units: units(settings, &plan, state.as_ref(), redactor),
    };
    match settings.output {
        OutputFormat::Json => term.out(&super::json_line(&report)),
        OutputFormat::Junit => super::junit_out(term, "plan", junit_cases(&report)),
        OutputFormat::Human => {
            render_human(&report, settings, term);
        }
    }
    Ok(exit_codes::SUCCESS)
}

/// `plan --output junit`: a passing case per unit, with its step count.
fn junit_cases(report: &PlanReport) -> Vec<super::Case> {
    report
        .units
        .iter()
        .map(|u| {
            super::Case::passed(&u.unit)
                .property("title", &u.title)
                .property("steps", u.steps.len())
        })
        .collect()
}

fn units(
    settings: &Settings,
    plan: &Plan,
    state: Option<&State>,
    redactor: &Redactor,
) -> Vec<PlanUnitView> {
    let captures = state.map(|s| s.captures()).unwrap_or_default();
    plan.units
        .iter()
        .map(|unit| PlanUnitView {
            unit: unit.unit.key.slug(),
            title: unit.unit.title.clone(),
            file: unit.unit.file.clone(),
            concurrent: unit.unit.concurrent,
            steps: unit
                .steps
                .iter()
                .map(|ps| {
                    let ctx = execution_plan::context(
                        &plan.vars,
                        &captures,
                        &settings.env,
                        ps.item.as_ref(),
                        None,
                    );
                    // The scratch directory exists only while a run runs.
                    let ctx = execution_plan::with_run(ctx, settings.dry_run, SCRATCH_PLACEHOLDER);
                    let saved = state.and_then(|s| s.steps.get(&ps.id));
                    step_view(ps, &ctx, PlanStatus::of(saved, &ps.hash), redactor)
                })
                .collect(),
        })
        .collect()
}

fn step_view(
    ps: &PlanStep,
    ctx: &minijinja::Value,
    status: PlanStatus,
    redactor: &Redactor,
) -> PlanStepView {
    let step = ps.step;
    // A step whose inputs need captures not made yet is shown with its templates.
    let spec = step
        .kind
        .render(&step.spec, ctx)
        .unwrap_or_else(|_| step.spec.clone());
    for s in step.kind.secrets(&spec) {
        redactor.add(&s);
    }
    PlanStepView {
        id: ps.id.clone(),
        title: redactor.redact(&ps.title),
        kind: step.kind.name(),
        access: step.access,
        read_only_declared: step.read_only_declared(),
        approval: step.approval,
        optional: step.optional,
        in_doubt: step.in_doubt().describe(),
        expectations: step.expectations(),
        has_hint: step.hint.is_some(),
        when: step.when.clone(),
        needs: step.needs.clone(),
        captures: step.capture.iter().map(|(n, _)| n.clone()).collect(),
        raw: step
            .raw_uses()
            .into_iter()
            .map(|(field, template)| RawUse { field, template })
            .collect(),
        action: redactor.redact(&step.kind.describe(&spec)),
        status,
    }
}

/// How many steps read, change, and ask the operator.
#[derive(Default)]
struct Tally {
    reads: usize,
    writes: usize,
    manual: usize,
}

fn render_human(report: &PlanReport, settings: &Settings, term: &Terminal) {
    term.out(&format!(
        "{} — plan for `{}` ({})",
        term.style(&report.runbook, console::Style::new().bold()),
        report.target,
        settings.runbook.describe()
    ));
    let mut tally = Tally::default();
    for unit in &report.units {
        term.out("");
        let how = if unit.concurrent {
            "checks run concurrently"
        } else {
            "steps run in order"
        };
        term.out(&format!(
            "{} {}",
            term.style(&unit.title, console::Style::new().bold()),
            term.style(
                &format!("({}, {}; {how})", unit.unit, unit.file),
                console::Style::new().dim()
            )
        ));
        for step in &unit.steps {
            render_step(step, term, &mut tally);
        }
    }
    term.out("");
    term.out(&format!(
        "{} steps: {} read, {} change, {} ask the operator",
        tally.reads + tally.writes + tally.manual,
        tally.reads,
        tally.writes,
        tally.manual
    ));
}

fn render_step(step: &PlanStepView, term: &Terminal, tally: &mut Tally) {
    let (tag, style) = match step.access {
        Access::ReadOnly => {
            tally.reads += 1;
            ("read  ", console::Style::new().green())
        }
        Access::Mutating => {
            tally.writes += 1;
            ("change", console::Style::new().yellow())
        }
        Access::Manual => {
            tally.manual += 1;
            ("ask   ", console::Style::new().cyan())
        }
    };
    let flags = flags(step);
    let flags = if flags.is_empty() {
        String::new()
    } else {
        term.style(
            &format!("  [{}]", flags.join(", ")),
            console::Style::new().dim(),
        )
    };
    term.out(&format!(
        "  {} {}  {}{flags}",
        term.style(tag, style),
        step.id,
        step.title
    ));
    term.out(&format!(
        "           {}",
        term.style(&step.action, console::Style::new().dim())
    ));
}

/// The notes after a step's title.
fn flags(step: &PlanStepView) -> Vec<String> {
    let mut flags = Vec::new();
    // A dry run runs it on the runbook's word alone.
    if step.read_only_declared {
        flags.push("read-only (declared)".to_string());
    }
    if step.approval {
        flags.push("needs approval".to_string());
    }
    if step.optional {
        flags.push("optional".into());
    }
    if step.access == Access::Mutating {
        flags.push(format!("after a crash: {}", step.in_doubt));
    }
    for raw in &step.raw {
        flags.push(format!("unescaped: {}", raw.template));
    }
    if let Some(w) = &step.when {
        flags.push(format!("when {w}"));
    }
    if step.status != PlanStatus::Saved(StepStatus::Pending) {
        flags.push(step.status.name());
    }
    flags
}
