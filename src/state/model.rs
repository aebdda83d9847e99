//! The state file's content: a format version, a serial that refuses stale writers, and one
//! record per step.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::StateError;

/// The state format this build writes and reads.
pub const STATE_FORMAT: u32 = 1;

/// Far more attempts than any retry schedule makes; a larger count in a state file was written
/// by hand or damaged, and counting on from it could overflow.
pub const MAX_RECORDED_ATTEMPTS: u32 = 1 << 30;

/// Far more saves than any migration makes, and room to count on.
pub const MAX_SERIAL: u64 = 1 << 53;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: u32,
    /// Bumped on every save; a save whose expected serial is not the stored one is refused.
    pub serial: u64,
    pub runbook: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Who ran the last command (user@host, or the AWS caller ARN once known).
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub steps: BTreeMap<String, StepState>,
    /// `monitor`'s window and history (absent until it first runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<super::monitoring::Monitoring>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    /// Done for ordering purposes: later phases may go ahead.
    pub fn is_done(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Skipped)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepState {
    pub unit: String,
    pub status: StepStatus,
    pub attempts: u32,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// Hash of the step's definition when it last ran.
    pub hash: String,
    #[serde(default)]
    pub captures: BTreeMap<String, Value>,
    /// Captures of a `secret: true` step are never saved; they are listed here as redacted.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub message: Option<String>,
}

impl State {
    pub fn new(runbook: &str) -> Self {
        let now = Timestamp::now();
        State {
            format: STATE_FORMAT,
            serial: 0,
            runbook: runbook.to_owned(),
            created_at: now,
            updated_at: now,
            operator: None,
            steps: BTreeMap::new(),
            monitor: None,
        }
    }

    /// Every saved capture (secret ones excluded), for templating later steps.
    pub fn captures(&self) -> BTreeMap<String, Value> {
        self.steps
            .values()
            .filter(|s| s.status == StepStatus::Succeeded && !s.secret)
            .flat_map(|s| s.captures.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }

    /// Refuses counters no run could have written, before anything counts on from them.
    pub fn check_counters(&self) -> Result<(), String> {
        if self.serial > MAX_SERIAL {
            return Err(format!(
                "serial {} is beyond the largest a state file reaches ({MAX_SERIAL})",
                self.serial
            ));
        }
        match self
            .steps
            .iter()
            .find(|(_, s)| s.attempts > MAX_RECORDED_ATTEMPTS)
        {
            Some((id, s)) => Err(format!(
                "step `{id}` records {} attempts, more than any run makes ({MAX_RECORDED_ATTEMPTS})",
                s.attempts
            )),
            None => Ok(()),
        }
    }

    /// A stored state's bytes, as `path` holds them: its format checked first, then its
    /// content and counters.
    pub fn parse(bytes: &[u8], path: &std::path::Path) -> Result<State, StateError> {
        let corrupt = |message: String| StateError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        let found = raw.get("format").and_then(Value::as_u64).unwrap_or(0);
        if found != u64::from(STATE_FORMAT) {
            return Err(StateError::UnsupportedFormat {
                path: path.to_path_buf(),
                found,
                supported: STATE_FORMAT,
            });
        }
        let state: State = serde_json::from_value(raw).map_err(|e| corrupt(e.to_string()))?;
        state.check_counters().map_err(corrupt)?;
        Ok(state)
    }

    pub fn status(&self, step: &str) -> Option<StepStatus> {
        self.steps.get(step).map(|s| s.status)
    }
}
