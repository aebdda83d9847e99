//! `diagnose [SYMPTOM]`: runs the troubleshooting guide's read-only units (one symptom's, or
//! every symptom's), each to its end whatever the others found, and hands what they found to
//! the reporter. It reads the state of nothing and writes none: no lock, no state, no audit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::diagnosis::{Diagnosis, SymptomReport};
use crate::engine::execution_plan::{self, Plan, PlanUnit};
use crate::engine::undo::UndoMap;
use crate::engine::{Engine, EngineOptions, Interrupt, RunOutcome};
use crate::error::Error;
use crate::events::{Event, EventSink, StepReport};
use crate::kinds::KindContext;
use crate::kinds::aws::AwsContext;
use crate::reporter::{self, terminal::Terminal};
use crate::request::Target;
use crate::runbook::{Runbook, Symptom, UnitKey};
use crate::secrets::Redactor;
use crate::settings::Settings;
use crate::state::State;

/// Keeps what the engine says of each step; nothing of it reaches the terminal before the
/// report.
#[derive(Default)]
struct Gathered {
    steps: Mutex<Vec<StepReport>>,
    warnings: Mutex<Vec<String>>,
}

impl EventSink for Gathered {
    fn emit(&self, event: Event) {
        match event {
            Event::StepFinished(r) => self.steps.lock().unwrap_or_else(|e| e.into_inner()).push(r),
            Event::Warning { message } => self
                .warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message),
            _ => {}
        }
    }
}

pub fn run(
    settings: &Settings,
    term: Arc<Terminal>,
    redactor: Arc<Redactor>,
) -> Result<i32, Error> {
    let asked = match settings.target {
        Some(Target::Diagnose(s)) => s,
        _ => None,
    };
    let runbook = super::load(settings)?;
    match asked {
        Some(s) if runbook.unit(UnitKey::Diagnose(s)).is_none() => {
            return Err(Error::Usage(format!(
                "the runbook has no unit for symptom `{s}`: add it to `diagnose:` in runbook.yaml"
            )));
        }
        None if !has_symptoms(&runbook) => {
            return Err(Error::Usage(
                "the runbook lists no symptom under `diagnose:` in runbook.yaml".into(),
            ));
        }
        _ => {}
    }
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let mut plan = execution_plan::build(&runbook, Target::Diagnose(asked), vars, &settings.env)?;
    let skipped = without_argument(&mut plan, asked)?;
    let aws = Arc::new(AwsContext::new(super::execute::aws_config(
        settings, &plan, false,
    )?));
    let expected_account = super::execute::expected_account(settings, &runbook, &plan)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("failed to start the async runtime: {e}")))?;
    let store: Arc<dyn crate::state::StateStore> = settings.state_store().into();
    let kinds = KindContext {
        http: Default::default(),
        backups: store.backups(),
        prompter: term.clone(),
        aws,
        processes: Arc::default(),
    };
    let scratch = super::execute::scratch_dir()?;
    let options = engine_options(settings, &runbook, scratch.path(), expected_account);
    let gathered = Gathered::default();
    let mut symptoms = skipped;
    let Plan { units, vars, .. } = plan;
    for unit in units {
        let key = unit.unit.key;
        let title = unit.unit.title.clone();
        let order: Vec<String> = unit.steps.iter().map(|s| s.id.clone()).collect();
        let one = Plan {
            target: Target::Diagnose(symptom_of(key)),
            units: vec![unit],
            vars: vars.clone(),
        };
        let interrupt = Interrupt::new();
        let outcome = runtime.block_on(async {
            let engine = Engine::new(
                &options,
                &one,
                &settings.env,
                store.clone(),
                State::new(&runbook.name),
                &gathered as &dyn EventSink,
                &kinds,
                &redactor,
                &interrupt,
            );
            let outcome = engine.execute().await;
            kinds.processes.stop_all().await;
            outcome
        });
        match outcome {
            RunOutcome::Completed | RunOutcome::Stopped(Error::StepFailed) => {}
            RunOutcome::Stopped(e) => return Err(e),
        }
        let mut reports =
            std::mem::take(&mut *gathered.steps.lock().unwrap_or_else(|e| e.into_inner()));
        reports.sort_by_key(|r| order.iter().position(|id| *id == r.step));
        let name = symptom_of(key).map_or_else(String::new, |s| s.to_string());
        symptoms.push(SymptomReport::ran(&name, &title, reports));
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    symptoms.sort_by_key(|s| Symptom::from_name(&s.symptom));
    let warnings =
        std::mem::take(&mut *gathered.warnings.lock().unwrap_or_else(|e| e.into_inner()));
    let diagnosis = Diagnosis::new(Target::Diagnose(asked).to_string(), symptoms, warnings);
    reporter::diagnose::render(settings.output, &term, &diagnosis);
    Ok(diagnosis.exit_code())
}

/// A dry run of steps that all only read runs every one of them and saves nothing.
fn engine_options(
    settings: &Settings,
    runbook: &Runbook,
    scratch: &std::path::Path,
    expected_account: Option<String>,
) -> EngineOptions {
    EngineOptions {
        command: settings.command_line.clone(),
        dry_run: true,
        scratch_dir: scratch.to_owned(),
        yes: false,
        approve: Default::default(),
        overrides: Default::default(),
        concurrency: settings.jobs,
        operator: format!("{}@{}", settings.user, settings.host),
        expected_account,
        would_refuse: None,
        typed: settings.typed.clone(),
        undo: UndoMap::from_runbook(runbook),
    }
}

fn symptom_of(key: UnitKey) -> Option<Symptom> {
    match key {
        UnitKey::Diagnose(s) => Some(s),
        _ => None,
    }
}

/// Takes out of the plan the symptoms whose argument var is empty: skipped with a note when
/// every symptom runs, a usage error when that symptom was asked for.
fn without_argument(plan: &mut Plan, asked: Option<Symptom>) -> Result<Vec<SymptomReport>, Error> {
    let mut skipped = Vec::new();
    let mut kept: Vec<PlanUnit> = Vec::new();
    for unit in std::mem::take(&mut plan.units) {
        let Some(symptom) = symptom_of(unit.unit.key) else {
            continue;
        };
        let missing = symptom.argument().filter(|(var, _)| {
            plan.vars
                .get(*var)
                .is_none_or(|v| v.as_str().is_some_and(|s| s.trim().is_empty()) || v.is_null())
        });
        match (missing, asked) {
            (None, _) => kept.push(unit),
            (Some((var, metavar)), Some(_)) => {
                return Err(Error::Usage(format!(
                    "`diagnose {symptom}` needs {metavar}: `outpost-migrate diagnose {symptom} {metavar}` (or --var {var}=...)"
                )));
            }
            (Some((var, metavar)), None) => skipped.push(SymptomReport::skipped(
                symptom.name(),
                &unit.unit.title,
                format!(
                    "needs {metavar}: run `outpost-migrate diagnose {symptom} {metavar}` (or give --var {var}=...)"
                ),
            )),
        }
    }
    plan.units = kept;
    Ok(skipped)
}

/// Whether the runbook lists any symptom.
fn has_symptoms(runbook: &Runbook) -> bool {
    runbook
        .units
        .iter()
        .any(|u| matches!(u.key, UnitKey::Diagnose(_)))
}
