//! `plan --output junit`: the preview as a JUnit report for CI. A suite per unit, a case per
//! step (done: passed; still to run or skipped by its condition: skipped, saying what it would
//! do, with a file edit's diff as its output), and a `plan` suite whose properties are the
//! header and the counts, with a failing case when a real run would be refused.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::plan::{PlanReport, PlanStepView};
use super::plan_preview::WhenResult;

pub fn render(report: &PlanReport) -> String {
    let mut junit = Report::new(format!("outpost-migrate plan {}", report.target));
    junit.add_test_suite(summary_suite(report));
    for unit in &report.units {
        let mut suite = TestSuite::new(unit.unit.clone());
        for step in &unit.steps {
            let mut case = TestCase::new(step.id.clone(), status(step));
            case.set_classname(format!("{}.plan", unit.unit));
            case.add_property(Property::new("access", access_name(step)));
            if let Some(diff) = step.preview.as_ref().and_then(|p| p.diff.as_ref()) {
                case.set_system_out(diff.as_str());
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit
        .to_string()
        .map(|xml| xml.trim_end().to_owned())
        .unwrap_or_else(|e| format!("<!-- failed to write the JUnit report: {e} -->"))
}

/// The header and counts as properties; the refusal a real run would meet as a failure.
fn summary_suite(report: &PlanReport) -> TestSuite {
    let mut suite = TestSuite::new("plan");
    let h = &report.header;
    let c = &report.counts;
    // `plan` itself succeeds; a refusal a real run would meet is a failing case, not its code.
    let mut properties = vec![
        Property::new("exit_code", crate::exit_codes::SUCCESS.to_string()),
        Property::new("runbook", report.runbook.as_str()),
        Property::new("state_dir", h.state_dir.as_str()),
        Property::new("summary", report.summary.as_str()),
        Property::new("changes", c.changes.to_string()),
        Property::new("checks", c.checks.to_string()),
        Property::new("questions", c.questions.to_string()),
    ];
    for (name, value) in [
        ("account", &h.account),
        ("region", &h.region),
        ("region_source", &h.region_source),
        ("profile", &h.profile),
    ] {
        if let Some(v) = value {
            properties.push(Property::new(name, v.as_str()));
        }
    }
    suite.add_properties(properties);
    let status = match &report.would_refuse {
        Some(r) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(r.message.as_str());
            st.set_type(format!("refused (exit code {})", r.exit_code));
            st
        }
        None => TestCaseStatus::success(),
    };
    suite.add_test_case(TestCase::new("a real run would start", status));
    suite
}

fn status(step: &PlanStepView) -> TestCaseStatus {
    if !step.to_run && step.when_result != Some(WhenResult::False) {
        return TestCaseStatus::success();
    }
    let mut st = TestCaseStatus::skipped();
    let why = match (&step.when_result, &step.preview) {
        (Some(WhenResult::False), _) => format!(
            "skipped: `when: {}` is false",
            step.when.as_deref().unwrap_or_default()
        ),
        (_, Some(p)) if p.problem.is_some() => {
            format!("would fail: {}", p.problem.as_deref().unwrap_or_default())
        }
        _ => format!("would run: {}", step.action),
    };
    st.set_message(why);
    st
}

fn access_name(step: &PlanStepView) -> &'static str {
    match step.access {
        crate::kinds::Access::ReadOnly => "read",
        crate::kinds::Access::Mutating => "change",
        crate::kinds::Access::Manual => "ask",
    }
}
