//! Renders what `diagnose` found (`crate::diagnosis`): human lines, one JSON document, or a
//! JUnit suite with a case per step. The command only builds the result.

use console::Style;

use super::document::{self, Case};
use super::terminal::Terminal;
use crate::diagnosis::{Diagnosis, SymptomReport, SymptomStatus};
use crate::events::Outcome;
use crate::settings::OutputFormat;

/// Writes the report in the format asked for.
pub fn render(format: OutputFormat, term: &Terminal, d: &Diagnosis) {
    match format {
        OutputFormat::Human => human(term, d),
        OutputFormat::Json => term.out(&json(d)),
        OutputFormat::Junit => match document::junit(&d.command, d.exit_code(), cases(d)) {
            Ok(xml) => term.out(&xml),
            Err(e) => term.err(&format!("error: {e}")),
        },
    }
}

/// One JSON document: the result, with `exit_code` and `error` as every command's last line.
pub fn json(d: &Diagnosis) -> String {
    let mut doc = serde_json::to_value(d).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut doc {
        map.insert("exit_code".into(), d.exit_code().into());
        let error = (d.findings > 0).then(|| d.verdict());
        map.insert("error".into(), error.into());
    }
    doc.to_string()
}

fn human(term: &Terminal, d: &Diagnosis) {
    for w in &d.warnings {
        term.err(&format!("warning: {w}"));
    }
    for s in &d.symptoms {
        term.out(&symptom_lines(term, s));
    }
    let style = if d.findings == 0 {
        Style::new().green()
    } else {
        Style::new().red().bold()
    };
    term.out(&term.style(&d.verdict(), style));
}

/// A symptom's block: its heading, then each step with what it found, its evidence and, for a
/// finding, the guide's resolution.
fn symptom_lines(term: &Terminal, s: &SymptomReport) -> String {
    let heading = format!("diagnose {}: {}", s.symptom, s.title);
    let mut out = vec![term.style(&heading, Style::new().bold())];
    if let Some(note) = &s.note {
        out.push(format!("  skipped: {note}"));
    }
    for c in &s.checks {
        let (mark, style) = match c.outcome {
            Outcome::Succeeded => ("✔", Style::new().green()),
            Outcome::Failed | Outcome::FailedOptional => ("✘", Style::new().red()),
            _ => ("·", Style::new().dim()),
        };
        let found = c
            .found
            .as_ref()
            .map_or(String::new(), |f| format!(" ({f})"));
        out.push(format!("  {} {}{found}", term.style(mark, style), c.title));
        if let Some(finding) = s.findings.iter().find(|f| f.step == c.step) {
            out.push(indent(&finding.message, "      "));
        } else if let Some(m) = c
            .message
            .as_ref()
            .filter(|_| c.outcome != Outcome::Succeeded)
        {
            out.push(indent(m, "      "));
        }
        if let Some(e) = s.evidence.iter().find(|e| e.step == c.step) {
            out.push(indent(&e.shown, "      │ "));
        }
        if let Some(r) = s
            .findings
            .iter()
            .find(|f| f.step == c.step)
            .and_then(|f| f.resolution.as_ref())
        {
            out.push(indent(&format!("resolution: {}", r.trim()), "      "));
        }
    }
    if s.status == SymptomStatus::NothingAbnormal {
        out.push("  nothing abnormal".into());
    }
    out.join("\n")
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn cases(d: &Diagnosis) -> Vec<Case> {
    let mut cases = Vec::new();
    for s in &d.symptoms {
        if let Some(note) = &s.note {
            cases.push(Case::passed(format!("{}: skipped", s.symptom)).property("note", note));
        }
        for c in &s.checks {
            let mut case = Case::passed(format!("{}: {}", s.symptom, c.title))
                .property("step", &c.step)
                .property(
                    "outcome",
                    serde_json::to_value(c.outcome).unwrap_or_default(),
                );
            if let Some(f) = s.findings.iter().find(|f| f.step == c.step) {
                let resolution = f.resolution.as_deref().unwrap_or_default();
                case.failure = Some(format!("{} {resolution}", f.message).trim().to_owned());
            }
            cases.push(case);
        }
    }
    cases
}
