//! The machine output's last word. With `--output json` or `junit` every command writes a
//! document to stdout that holds its exit code and, when it failed, why: also when it failed
//! before anything ran (a bad command line, an invalid runbook, a refusal). JSON: the last
//! line is an object with `exit_code` and `error`; JUnit: a failing test case carries the
//! message.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{Value, json};

use crate::exit_codes;
use crate::runbook::Diagnostic;

/// Why a command failed, as the machine output tells it.
#[derive(Debug, Default)]
pub struct Failure {
    /// The command (`validate`, `phase 3`, `rollback --level 2`...).
    pub command: String,
    pub exit_code: i32,
    /// The error line, redacted.
    pub error: String,
    /// An invalid runbook's problems, each located.
    pub problems: Vec<Diagnostic>,
}

impl Failure {
    /// The last JSON line: `{"event": "error", "exit_code", "exit_name", "error", ...}`.
    pub fn json(&self) -> String {
        let mut doc = json!({
            "event": "error",
            "command": self.command,
            "exit_code": self.exit_code,
            "exit_name": exit_codes::name(self.exit_code),
            "error": self.error,
        });
        if !self.problems.is_empty() {
            doc["problems"] = serde_json::to_value(&self.problems).unwrap_or_default();
        }
        doc.to_string()
    }

    /// A JUnit report whose one suite (the command) fails: a test case per runbook problem,
    /// else one carrying the error.
    pub fn junit(&self) -> Result<String, String> {
        let mut suite = suite(&self.command, self.exit_code);
        let failing = |name: String, message: &str, detail: String| {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(message);
            status.set_type(exit_codes::name(self.exit_code));
            status.set_description(detail);
            let mut case = TestCase::new(name, status);
            case.set_classname(format!("outpost-migrate.{}", self.command));
            case
        };
        if self.problems.is_empty() {
            suite.add_test_case(failing(
                format!("outpost-migrate {}", self.command),
                &self.error,
                self.error.clone(),
            ));
        }
        for d in &self.problems {
            suite.add_test_case(failing(
                format!("{}:{}:{}", d.file, d.loc.line, d.loc.col),
                &d.message,
                d.render(false),
            ));
        }
        xml(&self.command, suite)
    }
}

/// A command's JSON document with its exit code and no error, as every successful
/// command's last line carries them.
pub fn json_success(doc: Value) -> String {
    let mut doc = doc;
    if let Value::Object(map) = &mut doc {
        map.insert("exit_code".into(), json!(exit_codes::SUCCESS));
        map.insert("error".into(), Value::Null);
    }
    doc.to_string()
}

/// One test case of a command's JUnit report: passed, or failed with a message.
pub struct Case {
    pub name: String,
    pub failure: Option<String>,
    pub properties: Vec<(String, String)>,
}

impl Case {
    pub fn passed(name: impl Into<String>) -> Self {
        Case {
            name: name.into(),
            failure: None,
            properties: Vec::new(),
        }
    }

    pub fn property(mut self, name: &str, value: impl ToString) -> Self {
        self.properties.push((name.to_owned(), value.to_string()));
        self
    }
}

/// The JUnit report of a command that ran to its end (`validate`, `plan`, `status`,
/// `unlock`): one suite, the command, with its cases.
pub fn junit(command: &str, exit_code: i32, cases: Vec<Case>) -> Result<String, String> {
    let mut suite = suite(command, exit_code);
    for c in cases {
        let status = match &c.failure {
            None => TestCaseStatus::success(),
            Some(message) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(message.as_str());
                status
            }
        };
        let mut case = TestCase::new(c.name, status);
        case.set_classname(format!("outpost-migrate.{command}"));
        for (name, value) in c.properties {
            case.add_property(Property::new(name, value));
        }
        suite.add_test_case(case);
    }
    xml(command, suite)
}

fn suite(command: &str, exit_code: i32) -> TestSuite {
    let mut suite = TestSuite::new(command);
    suite.add_property(Property::new("exit_code", exit_code.to_string()));
    suite
}

fn xml(command: &str, suite: TestSuite) -> Result<String, String> {
    let mut report = Report::new(format!("outpost-migrate {command}"));
    report.add_test_suite(suite);
    report
        .to_string()
        .map(|x| x.trim_end().to_owned())
        .map_err(|e| format!("failed to write the JUnit report: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_one_json_line_with_its_exit_code_and_error() {
        let f = Failure {
            command: "validate".into(),
            exit_code: exit_codes::USAGE_OR_RUNBOOK,
            error: "the runbook is invalid".into(),
            problems: Vec::new(),
        };
        let doc: Value = serde_json::from_str(&f.json()).unwrap();
        assert_eq!(doc["exit_code"], exit_codes::USAGE_OR_RUNBOOK);
        assert_eq!(doc["exit_name"], "USAGE_OR_RUNBOOK");
        assert_eq!(doc["error"], "the runbook is invalid");
        assert!(f.junit().unwrap().contains("<failure"));
    }
}
