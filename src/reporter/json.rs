//! `--output json`: one JSON object per event per line on stdout, the summary last (with the
//! run's `error`, beside its `exit_code`).

use std::sync::Arc;

use super::terminal::Terminal;
use crate::events::{Event, EventSink};

pub struct JsonReporter {
    term: Arc<Terminal>,
}

impl JsonReporter {
    pub fn new(term: Arc<Terminal>) -> Self {
        JsonReporter { term }
    }
}

impl EventSink for JsonReporter {
    fn emit(&self, event: Event) {
        let line = serde_json::to_value(&event).map(|mut line| {
            if let Event::RunFinished(summary) = &event {
                line["error"] = summary.error().into();
            }
            line.to_string()
        });
        match line {
            Ok(line) => self.term.out(&line),
            Err(e) => self
                .term
                .err(&format!("error: failed to encode an event: {e}")),
        }
    }
}
