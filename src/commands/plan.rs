//! `plan [TARGET]`: a preview of a command: the steps it would run, what kind of change
//! each makes (a file edit's diff), each `when` as far as it is known, what the saved state
//! says is done, what is left, and whether a real run would be refused. The command builds a
//! [`PlanReport`]; the human, JSON and JUnit views render it.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::plan_preview::{self, PlanCounts, PlanHeader, WhenResult, WouldRefuse};
use crate::engine::execution_plan::{self, Plan, PlanStep};
use crate::error::Error;
use crate::exit_codes;
use crate::kinds::Access;
use crate::reporter::terminal::Terminal;
use crate::request::Target;
use crate::secrets::Redactor;
use crate::settings::{Action, OutputFormat, Settings};
use crate::state::{State, StepStatus};

/// What `plan` shows for `run.scratch_dir`, which each run creates afresh.
const SCRATCH_PLACEHOLDER: &str = "<run scratch dir>";

/// What `plan --output json` prints. Keys are written in sorted order (through
/// `serde_json::Value`), as scripts reading it have always seen them.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub runbook: String,
    pub target: String,
    pub header: PlanHeader,
    pub units: Vec<PlanUnitView>,
    pub counts: PlanCounts,
    /// "N changes, M checks, K questions", or "nothing left to do".
    pub summary: String,
    /// Why a real run would stop before its first step, with its exit code.
    pub would_refuse: Option<WouldRefuse>,
    /// Where `--out` wrote the saved plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_to: Option<String>,
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
    /// A real run waits for a second person's approval (`approve`), which no flag gives.
    pub second_person: bool,
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
    /// `when` evaluated with the vars and the saved captures.
    pub when_result: Option<WhenResult>,
    /// A step a real run would still run (not done in the saved state, `when` not false).
    pub to_run: bool,
    /// A real run would ask the operator about it: a confirmation unless `--yes`, an approval
    /// unless `--yes` or `--approve`.
    pub asks: bool,
    /// What a `file` edit would change (redacted): its diff, or why a real run fails there.
    pub preview: Option<EditPreview>,
}

/// A step's change worked out without acting.
#[derive(Debug, Serialize)]
pub struct EditPreview {
    /// A unified diff; empty when the file already reads as the edits make it.
    pub diff: Option<String>,
    pub problem: Option<String>,
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

    /// Done by the saved state (a changed step too: a real run refuses it, it does not redo it).
    fn done(self) -> bool {
        match self {
            PlanStatus::Changed => true,
            PlanStatus::Saved(s) => s.is_done(),
        }
    }

    pub fn name(self) -> String {
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
    let store = settings.state_store_for(&plan.vars);
    let state = store.load()?;
    let (header, aws_refusal) = plan_preview::header(settings, &runbook, &plan, state.as_ref());
    let would_refuse = plan_preview::would_refuse(
        settings,
        &runbook,
        &plan,
        store.as_ref(),
        state.as_ref(),
        aws_refusal,
    )
    .map(|mut r| {
        r.message = redactor.redact(&r.message);
        r
    });
    let producers = plan_preview::producers(&runbook);
    let units = units(settings, &plan, state.as_ref(), redactor, &producers);
    let counts = count(&units);
    let mut report = PlanReport {
        runbook: runbook.name.clone(),
        target: target.to_string(),
        header,
        summary: counts.summary(),
        counts,
        units,
        would_refuse,
        saved_to: None,
    };
    if let Action::Plan { out: Some(out), .. } = &settings.action {
        let src = super::saved_plan::Sources {
            settings,
            runbook: &runbook,
            plan: &plan,
            state: state.as_ref(),
            redactor,
        };
        super::saved_plan::write(&src, out)?;
        report.saved_to = Some(out.display().to_string());
    }
    match settings.output {
        OutputFormat::Json => term.out(&super::json_line(&report)),
        OutputFormat::Junit => term.out(&super::plan_junit::render(&report)),
        OutputFormat::Human => super::plan_human::render(&report, settings, term),
    }
    Ok(exit_codes::SUCCESS)
}

fn units(
    settings: &Settings,
    plan: &Plan,
    state: Option<&State>,
    redactor: &Redactor,
    producers: &HashMap<String, String>,
) -> Vec<PlanUnitView> {
    let captures = state.map(|s| s.captures()).unwrap_or_default();
    // Steps skipped (by their `when`, or recorded so), in run order: what they capture is
    // never made.
    let mut skipped = HashSet::new();
    let mut views = Vec::new();
    for unit in &plan.units {
        let mut steps = Vec::new();
        for ps in &unit.steps {
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
            let known = Known {
                when: plan_preview::Known {
                    vars: &plan.vars,
                    captures: &captures,
                    producers,
                    skipped: &skipped,
                },
                approved: settings.yes
                    || settings.approve.contains(&ps.id)
                    || settings.approve.contains(&ps.step.id),
                yes: settings.yes,
            };
            let view = step_view(ps, &ctx, PlanStatus::of(saved, &ps.hash), redactor, &known);
            let never_runs = view.when_result == Some(WhenResult::False)
                || view.status == PlanStatus::Saved(StepStatus::Skipped);
            if never_runs {
                skipped.insert(ps.step.id.clone());
            }
            steps.push(view);
        }
        views.push(PlanUnitView {
            unit: unit.unit.key.slug(),
            title: unit.unit.title.clone(),
            file: unit.unit.file.clone(),
            concurrent: unit.unit.concurrent,
            steps,
        });
    }
    views
}

/// What is known of a step before a run: what its `when` can be evaluated with, and what
/// the operator approved on the command line.
struct Known<'a> {
    when: plan_preview::Known<'a>,
    /// This step is approved (`--yes`, `--approve`).
    approved: bool,
    /// `--yes` answers confirmations too.
    yes: bool,
}

fn step_view(
    ps: &PlanStep,
    ctx: &minijinja::Value,
    status: PlanStatus,
    redactor: &Redactor,
    known: &Known,
) -> PlanStepView {
    let step = ps.step;
    let second_person = step.second_person
        && crate::engine::second_person::Policy::from_vars(known.when.vars)
            .is_ok_and(|p| p.enabled);
    // A step whose inputs need captures not made yet is shown with its templates.
    let rendered = step.kind.render(&step.spec, ctx).ok();
    let spec = rendered.clone().unwrap_or_else(|| step.spec.clone());
    for s in step.kind.secrets(&spec) {
        redactor.add(&s);
    }
    let when_result = step
        .when
        .as_deref()
        .map(|cond| plan_preview::when_result(cond, ctx, &known.when));
    let to_run = !status.done() && when_result != Some(WhenResult::False);
    // Worked out only for a step still to run whose inputs are all known.
    let preview = rendered
        .filter(|_| to_run)
        .and_then(|spec| step.kind.preview(&spec))
        .map(|p| match p {
            Ok(diff) => EditPreview {
                diff: Some(redactor.redact(&diff)),
                problem: None,
            },
            Err(problem) => EditPreview {
                diff: None,
                problem: Some(redactor.redact(&problem)),
            },
        });
    PlanStepView {
        id: ps.id.clone(),
        title: redactor.redact(&ps.title),
        kind: step.kind.name(),
        access: step.access,
        read_only_declared: step.read_only_declared(),
        approval: step.approval,
        second_person,
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
        when_result,
        to_run,
        asks: (step.access == Access::Manual && !known.yes)
            || (step.approval && !known.approved)
            || second_person,
        preview,
    }
}

/// What is left: each step still to run by its kind of access, and the questions a real run
/// would ask.
fn count(units: &[PlanUnitView]) -> PlanCounts {
    let mut counts = PlanCounts::default();
    for step in units.iter().flat_map(|u| &u.steps) {
        counts.steps += 1;
        if step.status.done() {
            counts.done += 1;
            continue;
        }
        if !step.to_run {
            counts.skipped += 1;
            continue;
        }
        counts.add_left(step.access, step.asks);
    }
    counts
}
