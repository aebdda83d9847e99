//! `status`: each unit and step of the saved state, when, attempts and captures (redacted).

use comfy_table::{Table, presets};
use serde_json::{Value, json};

use crate::engine::execution_plan::{self, Target};
use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::secrets::{MASK, Redactor};
use crate::settings::{OutputFormat, Settings};
use crate::state::{StateError, StepStatus};

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

    let mut units = Vec::new();
    for unit in &plan.units {
        let mut steps = Vec::new();
        for ps in &unit.steps {
            let saved = state.as_ref().and_then(|s| s.steps.get(&ps.id));
            let captures: serde_json::Map<String, Value> = saved
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
            steps.push(json!({
                "id": ps.id,
                "group": ps.step.group,
                "title": ps.title,
                "status": saved.map_or(StepStatus::Pending, |s| s.status),
                "attempts": saved.map_or(0, |s| s.attempts),
                "started_at": saved.and_then(|s| s.started_at),
                "ended_at": saved.and_then(|s| s.ended_at),
                "captures": captures,
                "message": saved.and_then(|s| s.message.clone()).map(|m| redactor.redact(&m)),
                "changed": saved.is_some_and(|s| s.status == StepStatus::Succeeded && s.hash != ps.hash),
            }));
        }
        let statuses: Vec<&str> = steps.iter().filter_map(|s| s["status"].as_str()).collect();
        let unit_status = if statuses.iter().all(|s| *s == "pending") {
            "not started"
        } else if statuses.contains(&"failed") {
            "failed"
        } else if statuses.contains(&"running") {
            "in doubt"
        } else if statuses
            .iter()
            .all(|s| *s == "succeeded" || *s == "skipped")
        {
            "done"
        } else {
            "in progress"
        };
        // Redacted whole, before anything is cut or wrapped into a table: titles and
        // messages may hold a secret a `--var` or `env` put there.
        units.push(redactor.redact_value(&json!({"unit": unit.unit.key.slug(), "title": unit.unit.title, "status": unit_status, "steps": steps})));
    }

    if settings.output == OutputFormat::Json {
        let doc = json!({
            "state_dir": settings.state_dir.display().to_string(),
            "serial": state.as_ref().map(|s| s.serial),
            "updated_at": state.as_ref().map(|s| s.updated_at),
            "operator": state.as_ref().and_then(|s| s.operator.clone()),
            "lock": lock,
            "lock_problem": lock_problem,
            "units": units,
        });
        term.out(&redactor.redact_value(&doc).to_string());
        return Ok(exit_codes::SUCCESS);
    }

    match &state {
        None => term.out(&format!(
            "no run has been recorded in {} yet",
            settings.state_dir.display()
        )),
        Some(s) => term.out(&redactor.redact(&format!(
            "state in {} · serial {} · updated {} by {}",
            settings.state_dir.display(),
            s.serial,
            s.updated_at,
            s.operator.as_deref().unwrap_or("unknown")
        ))),
    }
    if let Some(l) = &lock {
        term.out(&format!(
            "{} {}",
            term.style("locked:", console::Style::new().yellow().bold()),
            redactor.redact(&l.to_string())
        ));
    }
    if let Some(problem) = &lock_problem {
        term.out(&format!(
            "{} {}",
            term.style("lock:", console::Style::new().yellow().bold()),
            redactor.redact(problem)
        ));
    }
    for unit in &units {
        term.out("");
        term.out(&format!(
            "{} — {}",
            term.style(
                unit["title"].as_str().unwrap_or_default(),
                console::Style::new().bold()
            ),
            unit["status"].as_str().unwrap_or_default()
        ));
        let mut table = Table::new();
        table.load_style(presets::UTF8_BORDERS_ONLY);
        if !term.color {
            table.force_no_tty();
        }
        table.set_header(vec![
            "step",
            "status",
            "attempts",
            "ended",
            "captures / message",
        ]);
        for s in unit["steps"].as_array().into_iter().flatten() {
            let mut status = s["status"].as_str().unwrap_or_default().to_string();
            if s["changed"] == true {
                status.push_str(" (changed since)");
            }
            if status == "running" {
                status = "running (in doubt)".into();
            }
            let captures = s["captures"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            format!(
                                "{k}={}",
                                v.as_str()
                                    .map_or_else(|| crate::expect::short(v), str::to_owned)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let detail = match s["message"].as_str() {
                Some(m) if captures.is_empty() => m.to_string(),
                Some(m) => format!("{captures} {m}"),
                None => captures,
            };
            table.add_row(vec![
                match s["group"].as_str() {
                    Some(g) => format!("{g} / {}", s["id"].as_str().unwrap_or_default()),
                    None => s["id"].as_str().unwrap_or_default().to_string(),
                },
                status,
                s["attempts"].to_string(),
                s["ended_at"]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map_or("-".into(), |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()),
                detail,
            ]);
        }
        term.out(&table.to_string());
    }
    Ok(exit_codes::SUCCESS)
}
