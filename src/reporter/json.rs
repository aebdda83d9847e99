//! `--output json`: one JSON object per event per line on stdout, the summary last.

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
        match serde_json::to_string(&event) {
            Ok(line) => self.term.out(&line),
            Err(e) => self
                .term
                .err(&format!("error: failed to encode an event: {e}")),
        }
    }
}
