//! Test doubles for the engine's unit tests: a kind that returns scripted results, a step of
//! it, a prompter without a terminal and a sink that records events.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::{Event, EventSink};
use crate::kinds::{Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef};
use crate::prompt::Prompter;
use crate::runbook::Step;

/// A kind that returns scripted results, one an attempt; with none left it never ends.
pub struct Scripted {
    results: Mutex<VecDeque<Result<Value, KindFailure>>>,
}

impl Scripted {
    pub fn leaked(results: Vec<Result<Value, KindFailure>>) -> &'static Scripted {
        Box::leak(Box::new(Scripted {
            results: Mutex::new(results.into()),
        }))
    }
}

impl StepKind for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn spec_schema(&self, _: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({})
    }
    fn check(&self, _spec: &Value) -> Result<(), SpecError> {
        Ok(())
    }
    fn access(&self, _spec: &Value) -> Access {
        Access::ReadOnly
    }
    fn describe(&self, _spec: &Value) -> String {
        "scripted".into()
    }
    fn run<'a>(&'a self, _: Value, _: StepRef<'a>, _: &'a KindContext) -> KindFuture<'a> {
        let next = self.results.lock().unwrap().pop_front();
        Box::pin(async move {
            match next {
                Some(result) => result,
                None => std::future::pending().await,
            }
        })
    }
}

pub struct NoTerminal;

impl Prompter for NoTerminal {
    fn can_prompt(&self) -> bool {
        false
    }
    fn confirm(&self, _question: &str) -> bool {
        false
    }
}

#[derive(Default)]
pub struct Recorded(Mutex<Vec<Event>>);

impl EventSink for Recorded {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorded {
    pub fn retries(&self) -> Vec<u32> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                Event::StepRetrying { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect()
    }
}

/// A read-only step of `kind`, without retry, expectations or captures.
pub fn step(kind: &'static dyn StepKind) -> Step {
    Step {
        id: "s".into(),
        title: "a step".into(),
        group: None,
        kind,
        spec: json!({}),
        when: None,
        for_each: None,
        retry: None,
        timeout: Duration::from_secs(5),
        capture: Vec::new(),
        expect: Vec::new(),
        access: Access::ReadOnly,
        idempotent: false,
        approval: false,
        second_person: false,
        optional: false,
        secret: false,
        reverts: None,
        hint: None,
        show: None,
        verify: None,
        watch: None,
        needs: Vec::new(),
        hash: String::new(),
        file: "runbook.yaml".into(),
        loc: Default::default(),
    }
}

/// Read-only steps by (id, captures made, captures needed), for scheduling tests.
pub fn steps(specs: &[(&str, &[&str], &[&str])]) -> Vec<Step> {
    specs
        .iter()
        .map(|(id, captures, needs)| Step {
            id: (*id).into(),
            capture: captures
                .iter()
                .map(|c| ((*c).into(), crate::query::Query::compile("@").unwrap()))
                .collect(),
            needs: needs.iter().map(|n| (*n).into()).collect(),
            ..step(Scripted::leaked(Vec::new()))
        })
        .collect()
}

/// The plan's view of `steps`: one plan step each, without an item.
pub fn plan_steps(steps: &[Step]) -> Vec<crate::engine::execution_plan::PlanStep<'_>> {
    steps
        .iter()
        .map(|s| crate::engine::execution_plan::PlanStep {
            id: s.id.clone(),
            step: s,
            item: None,
            title: s.title.clone(),
            hash: String::new(),
        })
        .collect()
}
