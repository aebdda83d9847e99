//! `monitor`: the watch after the migration. Each round runs the monitoring rows that are due
//! (every row with `--once`) through the engine as a check unit, then records each row's
//! check in the state's history; the window and the history survive a restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::monitor_breach;
use crate::engine::execution_plan::{self, Plan};
use crate::error::Error;
use crate::events::{Event, EventSink, MonitorRow, MonitorTable};
use crate::exit_codes;
use crate::reporter::{self, terminal::Terminal};
use crate::request::Target;
use crate::runbook::UnitKey;
use crate::secrets::Redactor;
use crate::settings::{MonitorSettings, Settings};
use crate::state::monitoring::{Monitoring, Sample};
use crate::state::{State, StateStore, StepStatus};

/// The rows of `plan` that are due at `now` (all with `--once`, and those never checked),
/// with the rows whose captures they need; the plan keeps only them and the state forgets
/// their last check, so the engine runs them again.
pub(super) fn begin_round(
    settings: &MonitorSettings,
    plan: &mut Plan<'_>,
    state: &mut State,
    now: Timestamp,
) {
    if plan.target != Target::Monitor {
        return;
    }
    let history = state.monitor.as_ref();
    let due = |id: &str, every: Duration| {
        settings.once
            || history
                .and_then(|m| m.last(id))
                .is_none_or(|s| due_at(s.at, every) <= now)
    };
    let mut run: BTreeSet<String> = plan
        .steps()
        .filter(|(_, ps)| ps.step.watch.as_ref().is_some_and(|w| due(&ps.id, w.every)))
        .map(|(_, ps)| ps.id.clone())
        .collect();
    // A due row runs with the rows whose captures it needs, so their values are this round's.
    loop {
        let needed: Vec<String> = plan
            .steps()
            .filter(|(_, ps)| run.contains(&ps.id))
            .flat_map(|(_, ps)| ps.step.needs.iter().cloned())
            .collect();
        let more: Vec<String> = plan
            .steps()
            .filter(|(_, ps)| !run.contains(&ps.id))
            .filter(|(_, ps)| ps.step.capture.iter().any(|(c, _)| needed.contains(c)))
            .map(|(_, ps)| ps.id.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        run.extend(more);
    }
    for unit in &mut plan.units {
        unit.steps.retain(|ps| run.contains(&ps.id));
    }
    state.steps.retain(|id, _| !run.contains(id));
}

/// When a row last checked at `last` is due again.
fn due_at(last: Timestamp, every: Duration) -> Timestamp {
    let every = jiff::SignedDuration::try_from(every).unwrap_or(jiff::SignedDuration::MAX);
    last.checked_add(every).unwrap_or(Timestamp::MAX)
}

/// Records the round's checks in the rows' history: every monitoring step the state says
/// ended since `started`, within target when it succeeded, its value its first capture.
pub(super) fn record_round(
    store: &dyn StateStore,
    plan: &Plan<'_>,
    started: Timestamp,
) -> Result<(), Error> {
    if plan.target != Target::Monitor {
        return Ok(());
    }
    let Some(mut state) = store.load()? else {
        return Ok(());
    };
    let unit = UnitKey::Monitor.slug();
    let monitoring = state.monitor.get_or_insert_with(Monitoring::default);
    let mut recorded = false;
    for (id, step) in &state.steps {
        let ended = step.ended_at.filter(|at| *at >= started);
        let (Some(at), true) = (ended, step.unit == unit) else {
            continue;
        };
        let ok = step.status == StepStatus::Succeeded;
        monitoring.push(
            id,
            Sample {
                at,
                ok,
                value: step.captures.values().next().cloned(),
                message: if ok { None } else { step.message.clone() },
            },
        );
        recorded = true;
    }
    if recorded {
        store.save(&mut state)?;
    }
    Ok(())
}

/// How many of a row's last checks its sparkline shows.
const SHOWN: usize = 20;

/// A monitoring row of the plan: its id, title and interval.
struct Row {
    id: String,
    title: String,
    every: Duration,
}

/// `monitor`: `--once` (and a dry run) is one round of every row; else rounds of the rows
/// due, a table after each, until the window saved in the state ends.
pub fn run(
    settings: &Settings,
    term: Arc<Terminal>,
    redactor: Arc<Redactor>,
) -> Result<i32, Error> {
    if settings.monitor.once || settings.dry_run {
        return super::execute::run(settings, term, redactor);
    }
    let runbook = super::load(settings)?;
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let plan = execution_plan::build(&runbook, Target::Monitor, vars, &settings.env)?;
    let rows: Vec<Row> = plan
        .steps()
        .filter_map(|(_, ps)| {
            ps.step.watch.as_ref().map(|w| Row {
                id: ps.id.clone(),
                title: ps.title.clone(),
                every: w.every,
            })
        })
        .collect();
    let reporter = reporter::for_output(settings.output, term.clone());
    let store = settings.state_store();
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("failed to start the async runtime: {e}")))?;
    let mut window_ends = None;
    loop {
        let code = super::execute::run(settings, term.clone(), redactor.clone())?;
        if code == exit_codes::INTERRUPTED {
            return Ok(code);
        }
        let now = Timestamp::now();
        let monitoring = start_window(store.as_ref(), now)?;
        let ends = *window_ends.get_or_insert_with(|| {
            let start = monitoring.window_started_at.unwrap_or(now);
            due_at(start, settings.monitor.window)
        });
        reporter.emit(Event::MonitorTable(table(&rows, &monitoring, ends)));
        for due in monitor_breach::due(&plan, &monitoring, now) {
            let acted = monitor_breach::act(
                settings,
                &runbook,
                &plan,
                &due,
                term.clone(),
                redactor.clone(),
            )?;
            if let Some(code) = acted {
                reporter.emit(Event::Warning {
                    message: format!(
                        "monitoring stopped: `{}` breached and `rollback --level {}` ran (exit code {code})",
                        due.row, due.level
                    ),
                });
                return Ok(code.max(exit_codes::STEP_FAILED));
            }
        }
        if now >= ends {
            return Ok(window_end(&rows, &monitoring, reporter.as_ref()));
        }
        let next = rows
            .iter()
            .filter_map(|r| monitoring.last(&r.id).map(|s| due_at(s.at, r.every)))
            .min()
            .unwrap_or(now)
            .min(ends);
        let wait = now.duration_until(next).unsigned_abs() + Duration::from_millis(50);
        if waiter.block_on(interrupted_within(wait)) {
            return Ok(exit_codes::INTERRUPTED);
        }
    }
}

/// The saved monitoring, its window started now unless a previous watch started it.
fn start_window(store: &dyn StateStore, now: Timestamp) -> Result<Monitoring, Error> {
    let Some(mut state) = store.load()? else {
        return Ok(Monitoring::default());
    };
    let monitoring = state.monitor.get_or_insert_with(Monitoring::default);
    if monitoring.window_started_at.is_some() {
        return Ok(monitoring.clone());
    }
    monitoring.window_started_at = Some(now);
    let monitoring = monitoring.clone();
    store.save(&mut state)?;
    Ok(monitoring)
}

/// Whether Ctrl-C came before `wait` passed.
async fn interrupted_within(wait: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => false,
        signal = tokio::signal::ctrl_c() => signal.is_ok(),
    }
}

fn table(rows: &[Row], monitoring: &Monitoring, ends: Timestamp) -> MonitorTable {
    MonitorTable {
        window_ends_at: ends.to_string(),
        rows: rows
            .iter()
            .map(|r| {
                let history = monitoring.rows.get(&r.id).map_or(&[][..], Vec::as_slice);
                let last = history.last();
                let next = last.map(|s| due_at(s.at, r.every)).filter(|n| *n < ends);
                MonitorRow {
                    row: r.id.clone(),
                    title: r.title.clone(),
                    value: last.and_then(|s| s.value.as_ref()).map(text),
                    history: history[history.len().saturating_sub(SHOWN)..]
                        .iter()
                        .map(|s| (s.ok, s.value.as_ref().and_then(Value::as_f64)))
                        .collect(),
                    state: match last {
                        None => "not checked",
                        Some(s) if s.ok => "ok",
                        Some(_) => "breach",
                    }
                    .into(),
                    breaching_since: monitoring.breaching_since(&r.id).map(|t| t.to_string()),
                    next_check: next.map(|t| t.to_string()),
                }
            })
            .collect(),
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// The window is over: 0 when every row's last check was within target, else 1, the rows
/// still breaching named.
fn window_end(rows: &[Row], monitoring: &Monitoring, sink: &dyn EventSink) -> i32 {
    let breaching: Vec<&str> = rows
        .iter()
        .filter(|r| monitoring.last(&r.id).is_some_and(|s| !s.ok))
        .map(|r| r.id.as_str())
        .collect();
    if breaching.is_empty() {
        return exit_codes::SUCCESS;
    }
    sink.emit(Event::Warning {
        message: format!(
            "the monitoring window ended with rows breaching: {}",
            breaching.join(", ")
        ),
    });
    exit_codes::STEP_FAILED
}
