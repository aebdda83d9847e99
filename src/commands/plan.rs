//! `plan [TARGET]`: the steps a command would run, what kind of change each makes, and what
//! the saved state says is already done.

use serde_json::json;

use crate::engine::execution_plan::{self, Target};
use crate::error::Error;
use crate::exit_codes;
use crate::kinds::Access;
use crate::reporter::terminal::Terminal;
use crate::secrets::Redactor;
use crate::settings::{OutputFormat, Settings};
use crate::state::StepStatus;

/// What `plan` shows for `run.scratch_dir`, which each run creates afresh.
const SCRATCH_PLACEHOLDER: &str = "<run scratch dir>";

pub fn run(settings: &Settings, term: &Terminal, redactor: &Redactor) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let target = settings.target.unwrap_or(Target::All);
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let plan = execution_plan::build(&runbook, target, vars, &settings.env)?;
    let state = settings.state_store().load()?;
    let captures = state.as_ref().map(|s| s.captures()).unwrap_or_default();

    let mut units = Vec::new();
    for unit in &plan.units {
        let mut steps = Vec::new();
        for ps in &unit.steps {
            let ctx = execution_plan::context(&plan.vars, &captures, &settings.env, ps.item.as_ref(), None);
            // The scratch directory exists only while a run runs.
            let ctx = execution_plan::with_run(ctx, settings.dry_run, SCRATCH_PLACEHOLDER);
            // A step whose inputs need captures not made yet is shown with its templates.
            let spec = ps
                .step
                .kind
                .render(&ps.step.spec, &ctx)
                .unwrap_or_else(|_| ps.step.spec.clone());
            for s in ps.step.kind.secrets(&spec) {
                redactor.add(&s);
            }
            let saved = state.as_ref().and_then(|s| s.steps.get(&ps.id));
            let status = match saved {
                Some(s) if s.status == StepStatus::Succeeded && s.hash != ps.hash => {
                    "changed".to_string()
                }
                Some(s) => serde_json::to_value(s.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                None => "pending".into(),
            };
            steps.push(json!({
                "id": ps.id,
                "title": redactor.redact(&ps.title),
                "kind": ps.step.kind.name(),
                "access": ps.step.access,
                "read_only_declared": ps.step.read_only_declared(),
                "approval": ps.step.approval,
                "optional": ps.step.optional,
                "in_doubt": ps.step.in_doubt().describe(),
                "expectations": ps.step.expectations(),
                "has_hint": ps.step.hint.is_some(),
                "when": ps.step.when,
                "needs": ps.step.needs,
                "captures": ps.step.capture.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                "raw": ps.step.raw_uses().into_iter().map(|(field, text)| json!({"field": field, "template": text})).collect::<Vec<_>>(),
                "action": redactor.redact(&ps.step.kind.describe(&spec)),
                "status": status,
            }));
        }
        units.push(json!({"unit": unit.unit.key.slug(), "title": unit.unit.title, "file": unit.unit.file, "concurrent": unit.unit.concurrent, "steps": steps}));
    }

    if settings.output == OutputFormat::Json {
        term.out(
            &json!({"runbook": runbook.name, "target": target.to_string(), "units": units})
                .to_string(),
        );
        return Ok(exit_codes::SUCCESS);
    }
    term.out(&format!(
        "{} — plan for `{target}` ({})",
        term.style(&runbook.name, console::Style::new().bold()),
        settings.runbook.describe()
    ));
    let (mut reads, mut writes, mut manual) = (0, 0, 0);
    for unit in &units {
        term.out("");
        let how = if unit["concurrent"] == true {
            "checks run concurrently"
        } else {
            "steps run in order"
        };
        term.out(&format!(
            "{} {}",
            term.style(
                unit["title"].as_str().unwrap_or_default(),
                console::Style::new().bold()
            ),
            term.style(
                &format!(
                    "({}, {}; {how})",
                    unit["unit"].as_str().unwrap_or_default(),
                    unit["file"].as_str().unwrap_or_default()
                ),
                console::Style::new().dim()
            )
        ));
        for s in unit["steps"].as_array().into_iter().flatten() {
            let access: Access =
                serde_json::from_value(s["access"].clone()).unwrap_or(Access::Mutating);
            let (tag, style) = match access {
                Access::ReadOnly => {
                    reads += 1;
                    ("read  ", console::Style::new().green())
                }
                Access::Mutating => {
                    writes += 1;
                    ("change", console::Style::new().yellow())
                }
                Access::Manual => {
                    manual += 1;
                    ("ask   ", console::Style::new().cyan())
                }
            };
            let mut flags = Vec::new();
            // A dry run runs it on the runbook's word alone.
            if s["read_only_declared"] == true {
                flags.push("read-only (declared)".to_string());
            }
            if s["approval"] == true {
                flags.push("needs approval".to_string());
            }
            if s["optional"] == true {
                flags.push("optional".into());
            }
            if access == Access::Mutating {
                flags.push(format!(
                    "after a crash: {}",
                    s["in_doubt"].as_str().unwrap_or_default()
                ));
            }
            for raw in s["raw"].as_array().into_iter().flatten() {
                flags.push(format!(
                    "unescaped: {}",
                    raw["template"].as_str().unwrap_or_default()
                ));
            }
            if let Some(w) = s["when"].as_str() {
                flags.push(format!("when {w}"));
            }
            let status = s["status"].as_str().unwrap_or_default();
            if status != "pending" {
                flags.push(status.to_string());
            }
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
                s["id"].as_str().unwrap_or_default(),
                s["title"].as_str().unwrap_or_default()
            ));
            term.out(&format!(
                "           {}",
                term.style(
                    s["action"].as_str().unwrap_or_default(),
                    console::Style::new().dim()
                )
            ));
        }
    }
    term.out("");
    term.out(&format!(
        "{} steps: {reads} read, {writes} change, {manual} ask the operator",
        reads + writes + manual
    ));
    Ok(exit_codes::SUCCESS)
}
