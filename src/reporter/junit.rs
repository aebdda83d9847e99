//! `--output junit`: a test suite per unit and a test case per step, written when the run ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::terminal::Terminal;
use crate::events::{Event, EventSink, Outcome, RunSummary, StepReport};

pub struct JunitReporter {
    term: Arc<Terminal>,
    steps: Mutex<Vec<StepReport>>,
}

impl JunitReporter {
    pub fn new(term: Arc<Terminal>) -> Self {
        JunitReporter {
            term,
            steps: Mutex::new(Vec::new()),
        }
    }

    fn a_step_failed(&self) -> bool {
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps.iter().any(|s| s.outcome.is_failure())
    }

    fn report(&self, summary: &RunSummary) -> Report {
        let command = &summary.command;
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = Report::new(format!("outpost-migrate {command}"));
        let mut units: Vec<String> = Vec::new();
        for s in steps.iter() {
            if !units.contains(&s.unit) {
                units.push(s.unit.clone());
            }
        }
        for unit in units {
            let mut suite = TestSuite::new(unit.clone());
            for s in steps.iter().filter(|s| s.unit == unit) {
                let message = s.message.clone().unwrap_or_default();
                let status = match s.outcome {
                    Outcome::Succeeded => TestCaseStatus::success(),
                    Outcome::Failed | Outcome::Refused => {
                        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        st.set_message(message.clone());
                        st.set_type(format!("{:?}", s.outcome).to_lowercase());
                        st.set_description(match &s.hint {
                            Some(hint) => format!("{message}\nhint: {hint}"),
                            None => message,
                        });
                        st
                    }
                    Outcome::FailedOptional
                    | Outcome::Skipped
                    | Outcome::WouldRun
                    | Outcome::Unknown
                    | Outcome::Blocked
                    | Outcome::Interrupted => {
                        let mut st = TestCaseStatus::skipped();
                        let why = match (&s.would_run, message.is_empty()) {
                            (Some(w), _) => format!("{message}: {w}"),
                            (None, false) => message,
                            (None, true) => format!("{:?}", s.outcome).to_lowercase(),
                        };
                        st.set_message(why);
                        st
                    }
                };
                let mut case = TestCase::new(s.step.clone(), status);
                case.set_classname(format!(
                    "{}.{}",
                    unit,
                    s.group.clone().unwrap_or_else(|| "steps".into())
                ));
                case.set_time(Duration::from_millis(s.duration_ms));
                if let Some(found) = &s.found {
                    case.add_property(quick_junit::Property::new("found", found.as_str()));
                }
                suite.add_test_case(case);
            }
            // What to run next, on each suite: a CI system shows a suite's properties.
            if let Some(resume) = &summary.resume {
                suite.add_property(quick_junit::Property::new("resume", resume.as_str()));
            }
            if let Some(r) = &summary.rollback {
                suite.add_property(quick_junit::Property::new("rollback", r.command.as_str()));
                let level = r.level.to_string();
                suite.add_property(quick_junit::Property::new("rollback_level", level.as_str()));
            }
            report.add_test_suite(suite);
        }
        report
    }
}

/// A run that did not succeed with no failing step to say so (an interrupt, a setup error
/// between steps) gets a suite of its own whose failing case carries the exit code and why.
fn with_outcome(mut report: Report, summary: &RunSummary, a_step_failed: bool) -> Report {
    let Some(error) = summary.error().filter(|_| !a_step_failed) else {
        return report;
    };
    let mut suite = TestSuite::new("outpost-migrate");
    suite.add_property(quick_junit::Property::new(
        "exit_code",
        summary.exit_code.to_string(),
    ));
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(error.as_str());
    status.set_type(crate::exit_codes::name(summary.exit_code));
    let mut case = TestCase::new(format!("outpost-migrate {}", summary.target), status);
    case.set_classname("outpost-migrate.outcome");
    suite.add_test_case(case);
    report.add_test_suite(suite);
    report
}

impl EventSink for JunitReporter {
    fn emit(&self, event: Event) {
        match event {
            Event::StepFinished(s) => self.steps.lock().unwrap_or_else(|e| e.into_inner()).push(s),
            Event::Warning { message } => self.term.err(&format!("warning: {message}")),
            Event::StopRequested { running } => {
                self.term.err(&super::human::stop_requested(&running));
            }
            Event::RunFinished(summary) => {
                match with_outcome(self.report(&summary), &summary, self.a_step_failed())
                    .to_string()
                {
                    Ok(xml) => self.term.out(xml.trim_end()),
                    Err(e) => self
                        .term
                        .err(&format!("error: failed to write the JUnit report: {e}")),
                }
            }
            _ => {}
        }
    }
}
