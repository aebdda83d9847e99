//! `monitor`: the watch after the migration. Each round runs the monitoring rows that are due
//! (every row with `--once`) through the engine as a check unit, then records each row's
//! check in the state's history; the window and the history survive a restart.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::engine::execution_plan::Plan;
use crate::error::Error;
use crate::request::Target;
use crate::runbook::UnitKey;
use crate::settings::MonitorSettings;
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
    let due = |id: &str, every: std::time::Duration| {
        settings.once
            || history
                .and_then(|m| m.last(id))
                .is_none_or(|s| elapsed(s.at, now) >= every)
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

fn elapsed(since: Timestamp, now: Timestamp) -> std::time::Duration {
    std::time::Duration::from_secs(now.as_second().saturating_sub(since.as_second()).max(0) as u64)
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
    let monitoring = state
        .monitor
        .get_or_insert_with(|| Monitoring::new(started));
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
