//! The report's monitoring section: each row `monitor` checked, with its title from the
//! runbook, how often it was within target, its last value and its history, and the
//! rollbacks a sustained breach called for; from the state, redacted here.

use serde::Serialize;

use super::evidence::time;
use crate::engine::execution_plan::Plan;
use crate::secrets::Redactor;
use crate::state::State;

/// The most recent checks of a row the report lists (all of them are counted).
const LISTED: usize = 50;

#[derive(Debug, Default, Serialize)]
pub struct MonitoringView {
    /// When `monitor`'s window began; none when only `monitor --once` ran.
    pub window_started_at: Option<String>,
    pub rows: Vec<RowView>,
    pub rollbacks: Vec<RollbackView>,
}

#[derive(Debug, Serialize)]
pub struct RowView {
    pub id: String,
    pub title: String,
    pub checks: usize,
    pub within: usize,
    pub last_value: Option<String>,
    pub last_at: Option<String>,
    /// Its last checks, newest first, at most `LISTED`.
    pub history: Vec<CheckView>,
}

#[derive(Debug, Serialize)]
pub struct CheckView {
    pub at: String,
    pub ok: bool,
    pub value: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RollbackView {
    pub row: String,
    pub level: u8,
    pub at: String,
    pub outcome: String,
}

/// The monitoring `state` records, titled by `watch` (the runbook's `monitor` plan).
pub fn gather(state: &State, watch: &Plan<'_>, redactor: &Redactor) -> MonitoringView {
    let Some(m) = &state.monitor else {
        return MonitoringView::default();
    };
    let title = |id: &str| {
        watch.steps().find(|(_, ps)| ps.id == id).map_or_else(
            || "(no longer in the runbook)".to_owned(),
            |(_, ps)| ps.title.clone(),
        )
    };
    let text = |v: &serde_json::Value| {
        redactor.redact(&v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    MonitoringView {
        window_started_at: m.window_started_at.map(time),
        rows: m
            .rows
            .iter()
            .map(|(id, history)| RowView {
                id: redactor.redact(id),
                title: redactor.redact(&title(id)),
                checks: history.len(),
                within: history.iter().filter(|s| s.ok).count(),
                last_value: history.last().and_then(|s| s.value.as_ref()).map(text),
                last_at: history.last().map(|s| time(s.at)),
                history: history
                    .iter()
                    .rev()
                    .take(LISTED)
                    .map(|s| CheckView {
                        at: time(s.at),
                        ok: s.ok,
                        value: s.value.as_ref().map(text),
                        message: s.message.as_deref().map(|m| redactor.redact(m)),
                    })
                    .collect(),
            })
            .collect(),
        rollbacks: m
            .rollbacks
            .iter()
            .map(|r| RollbackView {
                row: redactor.redact(&r.row),
                level: r.level,
                at: time(r.at),
                outcome: redactor.redact(&r.outcome),
            })
            .collect(),
    }
}
