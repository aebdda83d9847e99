//! How `monitor` watches: once, or for a window.

use std::time::Duration;

use serde::Serialize;

use crate::cli::MonitorArgs;

/// The default window: the source runbook's 24-hour checklist.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, Serialize)]
pub struct MonitorSettings {
    /// Every row once, then exit.
    pub once: bool,
    /// How long the watch lasts from its first check.
    #[serde(serialize_with = "as_text")]
    pub window: Duration,
    /// Run the rollback a row's sustained breach calls for without asking.
    pub auto_rollback: bool,
}

impl From<MonitorArgs> for MonitorSettings {
    fn from(args: MonitorArgs) -> Self {
        MonitorSettings {
            once: args.once,
            window: args.window.unwrap_or(DEFAULT_WINDOW),
            auto_rollback: args.auto_rollback,
        }
    }
}

fn as_text<S: serde::Serializer>(d: &Duration, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&humantime::format_duration(*d).to_string())
}
