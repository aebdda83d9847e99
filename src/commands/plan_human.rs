//! `plan`'s human view: the header, each unit's steps with their conditions and diffs, what
//! is left, and the refusal a real run would meet.

use console::Style;

use super::plan::{PlanReport, PlanStatus, PlanStepView};
use super::plan_preview::{PlanHeader, WhenResult};
use crate::kinds::Access;
use crate::reporter::terminal::Terminal;
use crate::settings::Settings;
use crate::state::StepStatus;

/// Where a step's detail lines start, under its id.
const INDENT: &str = "           ";

pub fn render(report: &PlanReport, settings: &Settings, term: &Terminal) {
    term.out(&format!(
        "{} — plan for `{}` ({})",
        term.style(&report.runbook, Style::new().bold()),
        report.target,
        settings.runbook.describe()
    ));
    for line in header_lines(&report.header) {
        term.out(&format!("  {}", term.style(&line, Style::new().dim())));
    }
    for unit in &report.units {
        term.out("");
        let how = if unit.concurrent {
            "checks run concurrently"
        } else {
            "steps run in order"
        };
        term.out(&format!(
            "{} {}",
            term.style(&unit.title, Style::new().bold()),
            term.style(
                &format!("({}, {}; {how})", unit.unit, unit.file),
                Style::new().dim()
            )
        ));
        for step in &unit.steps {
            render_step(step, term);
        }
    }
    term.out("");
    let c = &report.counts;
    term.out(&format!(
        "{}  ({} steps: {} done, {} skipped by their condition)",
        term.style(&report.summary, Style::new().bold()),
        c.steps,
        c.done,
        c.skipped
    ));
    if let Some(r) = &report.would_refuse {
        term.out(&format!(
            "{} a real run would be refused (exit code {}): {}",
            term.style("✘", Style::new().red().bold()),
            r.exit_code,
            r.message
        ));
    }
    if let (Some(path), Some(target)) = (&report.saved_to, settings.target) {
        term.out(&format!(
            "Saved plan written to {path}; after review, apply it with `{} --plan {path}`",
            target.command()
        ));
    }
}

/// Account, region, profile and state, one line each.
fn header_lines(h: &PlanHeader) -> Vec<String> {
    let account = match &h.account {
        Some(a) => format!("AWS account  {a} (the runbook's `account`)"),
        None => "AWS account  any (the runbook names none)".into(),
    };
    let aws = if !h.calls_aws {
        vec![
            account,
            "AWS region   - (no step of this plan calls AWS)".into(),
        ]
    } else {
        let region = match (&h.region, &h.region_source) {
            (Some(r), Some(source)) => format!("AWS region   {r} (from {source})"),
            _ => "AWS region   the SDK's default (none configured)".into(),
        };
        let profile = match &h.profile {
            Some(p) => format!("AWS profile  {p}"),
            None => "AWS profile  none: the SDK's default credential chain".into(),
        };
        let mut lines = vec![account, region, profile];
        lines.extend(h.aws_problem.iter().map(|p| format!("AWS problem  {p}")));
        lines
    };
    let mut lines = aws;
    lines.push(format!("state        {} ({})", h.state_dir, h.state));
    lines
}

fn render_step(step: &PlanStepView, term: &Terminal) {
    let (tag, style) = if step.when_result == Some(WhenResult::False) {
        ("skip  ", Style::new().dim())
    } else {
        match step.access {
            Access::ReadOnly => ("read  ", Style::new().green()),
            Access::Mutating => ("change", Style::new().yellow()),
            Access::Manual => ("ask   ", Style::new().cyan()),
        }
    };
    let flags = flags(step);
    let flags = if flags.is_empty() {
        String::new()
    } else {
        term.style(&format!("  [{}]", flags.join(", ")), Style::new().dim())
    };
    term.out(&format!(
        "  {} {}  {}{flags}",
        term.style(tag, style),
        step.id,
        step.title
    ));
    term.out(&format!(
        "{INDENT}{}",
        term.style(&step.action, Style::new().dim())
    ));
    if let Some(preview) = &step.preview {
        for line in preview_lines(preview) {
            let style = match line.chars().next() {
                Some('+') => Style::new().green(),
                Some('-') => Style::new().red(),
                Some('!') => Style::new().red().bold(),
                _ => Style::new().dim(),
            };
            term.out(&format!("{INDENT}{}", term.style(&line, style)));
        }
    }
}

/// A diff's lines, a note when the file already reads so, or the problem a real run meets.
fn preview_lines(preview: &super::plan::EditPreview) -> Vec<String> {
    match (&preview.diff, &preview.problem) {
        (_, Some(problem)) => vec![format!("! {problem}")],
        (Some(diff), None) if diff.is_empty() => {
            vec!["(no change: the file already reads as the edits make it)".into()]
        }
        (Some(diff), None) => diff.lines().map(str::to_owned).collect(),
        (None, None) => Vec::new(),
    }
}

/// The notes after a step's title.
fn flags(step: &PlanStepView) -> Vec<String> {
    let mut flags = Vec::new();
    // A dry run runs it on the runbook's word alone.
    if step.read_only_declared {
        flags.push("read-only (declared)".to_string());
    }
    if step.second_person {
        flags.push("needs a second person (`outpost-migrate approve`)".to_string());
    } else if step.approval {
        flags.push("needs approval".to_string());
    }
    if step.optional {
        flags.push("optional".into());
    }
    if step.access == Access::Mutating {
        flags.push(format!("after a crash: {}", step.in_doubt));
    }
    for raw in &step.raw {
        flags.push(format!("unescaped: {}", raw.template));
    }
    if let Some(w) = &step.when {
        flags.push(match &step.when_result {
            Some(WhenResult::True) => format!("when {w}: true"),
            Some(WhenResult::False) => format!("when {w}: false, skipped"),
            Some(WhenResult::Unknown { until }) => {
                format!("when {w}: unknown until `{until}` runs")
            }
            Some(WhenResult::Invalid { message }) => {
                format!("when {w}: cannot evaluate: {message}")
            }
            None => format!("when {w}"),
        });
    }
    if step.status != PlanStatus::Saved(StepStatus::Pending) {
        flags.push(step.status.name());
    }
    flags
}
