//! Reporters: they listen to the engine's events and own everything written to the terminal.

pub mod diagnose;
pub mod document;
mod heartbeat;
pub mod human;
pub mod json;
pub mod junit;
pub mod log;
mod monitor_table;
pub mod terminal;

use std::sync::Arc;

use crate::events::EventSink;
use crate::settings::OutputFormat;
use terminal::Terminal;

/// The reporter for `--output`.
pub fn for_output(format: OutputFormat, term: Arc<Terminal>) -> Box<dyn EventSink> {
    match format {
        OutputFormat::Human => Box::new(human::HumanReporter::new(term)),
        OutputFormat::Json => Box::new(json::JsonReporter::new(term)),
        OutputFormat::Junit => Box::new(junit::JunitReporter::new(term)),
    }
}
