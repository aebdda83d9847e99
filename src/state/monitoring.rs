//! What `monitor` keeps in the state: when its window began and each row's history (when it
//! was checked, whether it was within target, its value), so a restart continues the window
//! and keeps the history. Optional in the state file: a state without it loads as before.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most samples kept per row: a 5-minute row over 24 hours is 288; older ones are
/// dropped first, so the state stays small however long a watch is restarted.
pub const MAX_SAMPLES: usize = 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// When the watch's window began (its first round); `--once` starts none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_started_at: Option<Timestamp>,
    /// Each row's checks, oldest first.
    #[serde(default)]
    pub rows: BTreeMap<String, Vec<Sample>>,
    /// Rollbacks a sustained breach called for and what became of them.
    #[serde(default)]
    pub rollbacks: Vec<BreachRollback>,
}

/// One check of a row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub at: Timestamp,
    /// Within target.
    pub ok: bool,
    /// The row's value (its first capture), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Why it breached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A rollback a row's sustained breach called for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreachRollback {
    pub row: String,
    pub level: u8,
    pub at: Timestamp,
    /// What became of it: `started`, `declined`, or the rollback's exit code.
    pub outcome: String,
}

impl Monitoring {
    /// Adds a row's check, dropping the oldest beyond `MAX_SAMPLES`.
    pub fn push(&mut self, row: &str, sample: Sample) {
        let history = self.rows.entry(row.to_owned()).or_default();
        history.push(sample);
        let extra = history.len().saturating_sub(MAX_SAMPLES);
        history.drain(..extra);
    }

    /// The row's last check.
    pub fn last(&self, row: &str) -> Option<&Sample> {
        self.rows.get(row).and_then(|h| h.last())
    }

    /// Since when the row has been breaching without a check within target between, if it
    /// is breaching now.
    pub fn breaching_since(&self, row: &str) -> Option<Timestamp> {
        let history = self.rows.get(row)?;
        if history.last().is_none_or(|s| s.ok) {
            return None;
        }
        history
            .iter()
            .rev()
            .take_while(|s| !s.ok)
            .last()
            .map(|s| s.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: i64, ok: bool) -> Sample {
        Sample {
            at: Timestamp::from_second(secs).unwrap(),
            ok,
            value: None,
            message: None,
        }
    }

    #[test]
    fn a_breach_is_dated_from_its_first_failed_check_since_the_last_good_one() {
        let mut m = Monitoring::default();
        assert_eq!(m.breaching_since("a"), None);
        for (t, ok) in [(1, false), (2, true), (3, false), (4, false)] {
            m.push("a", sample(t, ok));
        }
        assert_eq!(m.breaching_since("a"), Timestamp::from_second(3).ok());
        m.push("a", sample(5, true));
        assert_eq!(m.breaching_since("a"), None);
    }

    #[test]
    fn history_keeps_the_newest_samples() {
        let mut m = Monitoring::default();
        for t in 0..(MAX_SAMPLES as i64 + 5) {
            m.push("a", sample(t, true));
        }
        let history = &m.rows["a"];
        assert_eq!(history.len(), MAX_SAMPLES);
        assert_eq!(history[0].at, Timestamp::from_second(5).unwrap());
    }
}
