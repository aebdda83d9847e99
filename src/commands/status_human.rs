//! `status`'s human view: the state and lock, then a line per unit (the summary) or each
//! shown unit's steps, then the next command. Tables fit the terminal's width, cells cut with
//! an ellipsis.

use std::collections::BTreeMap;

use comfy_table::{ContentArrangement, Row, Table, presets};
use console::Style;

use super::status::{StatusReport, StepStatusView, UnitStatus, UnitStatusView};
use crate::reporter::terminal::Terminal;
use crate::secrets::Redactor;

/// The width of a stream that is not a terminal and of a terminal that does not say.
const DEFAULT_WIDTH: u16 = 80;
/// Narrower than this, no table is readable: they are drawn this wide and wrap.
const MIN_WIDTH: u16 = 40;

/// The width tables fit: the terminal's when stdout is one, else `$COLUMNS`, else 80.
pub fn width(env: &BTreeMap<String, String>) -> u16 {
    let terminal = console::Term::stdout()
        .size_checked()
        .map(|(_, columns)| columns);
    let columns = env
        .get("COLUMNS")
        .and_then(|c| c.trim().parse::<u16>().ok());
    terminal
        .or(columns)
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// `detailed`: each shown unit's steps (`status TARGET`, `--all`); else one line per unit.
pub fn render(
    report: &StatusReport,
    detailed: bool,
    width: u16,
    term: &Terminal,
    redactor: &Redactor,
) {
    state_lines(report, term, redactor);
    if detailed {
        for unit in &report.units {
            term.out("");
            term.out(&format!(
                "{} — {}",
                term.style(&unit.title, Style::new().bold()),
                unit.status.name()
            ));
            term.out(&steps_table(unit, term.color, width).to_string());
        }
    } else {
        term.out("");
        term.out(&summary_table(&report.units, term.color, width).to_string());
    }
    term.out("");
    term.out(&format!(
        "{} {}",
        term.style("next:", Style::new().bold()),
        report.next
    ));
}

fn state_lines(report: &StatusReport, term: &Terminal, redactor: &Redactor) {
    match (report.serial, report.updated_at) {
        (Some(serial), Some(updated_at)) => term.out(&redactor.redact(&format!(
            "state in {} · serial {serial} · updated {updated_at} by {}",
            report.state_dir,
            report.operator.as_deref().unwrap_or("unknown")
        ))),
        _ => term.out(&format!(
            "no run has been recorded in {} yet",
            report.state_dir
        )),
    }
    if let Some(l) = &report.lock {
        let label = if report.lock_alive {
            "locked:"
        } else {
            "stale lock:"
        };
        term.out(&format!(
            "{} {}",
            term.style(label, Style::new().yellow().bold()),
            redactor.redact(&l.to_string())
        ));
    }
    if let Some(problem) = &report.lock_problem {
        term.out(&format!(
            "{} {}",
            term.style("lock:", Style::new().yellow().bold()),
            redactor.redact(problem)
        ));
    }
}

/// A table fitted to `width`: columns shrink, and a cell too long for its column is cut to
/// one line ending in `…`.
fn fitted(header: Vec<&str>, color: bool, width: u16) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_BORDERS_ONLY);
    if !color {
        table.force_no_tty();
    }
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_truncation_indicator("…")
        .set_header(header);
    table
}

fn add_row(table: &mut Table, cells: Vec<String>) {
    let mut row = Row::from(cells);
    row.max_height(1);
    table.add_row(row);
}

/// One line per unit: its status, steps done, and the step running, in doubt or failed (or
/// the next one of a unit under way).
fn summary_table(units: &[UnitStatusView], color: bool, width: u16) -> Table {
    let mut table = fitted(vec!["unit", "status", "done", "step"], color, width);
    for u in units {
        add_row(
            &mut table,
            vec![
                u.title.clone(),
                u.status.name().to_owned(),
                format!("{}/{}", u.done, u.total),
                unit_step(u),
            ],
        );
    }
    table
}

/// The step a unit's line names.
fn unit_step(u: &UnitStatusView) -> String {
    let named = |s: &StepStatusView| match &s.message {
        Some(m) => format!("{} {}: {m}", s.shown_status(), s.id),
        None => format!("{} {}", s.shown_status(), s.id),
    };
    let stuck = u.steps.iter().find(|s| {
        matches!(
            s.status,
            crate::state::StepStatus::Running | crate::state::StepStatus::Failed
        )
    });
    match (stuck, u.status) {
        (Some(s), _) => named(s),
        (None, UnitStatus::InProgress) => u
            .steps
            .iter()
            .find(|s| !s.status.is_done())
            .map(|s| format!("next {}", s.id))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn steps_table(unit: &UnitStatusView, color: bool, width: u16) -> Table {
    let mut table = fitted(
        vec!["step", "status", "attempts", "ended", "captures / message"],
        color,
        width,
    );
    for s in &unit.steps {
        add_row(
            &mut table,
            vec![
                match &s.group {
                    Some(g) => format!("{g} / {}", s.id),
                    None => s.id.clone(),
                },
                s.shown_status(),
                s.attempts.to_string(),
                s.ended_at
                    .map_or("-".into(), |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()),
                detail(s),
            ],
        );
    }
    table
}

/// The captures, then the message.
fn detail(s: &StepStatusView) -> String {
    let captures = s
        .captures
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .map_or_else(|| crate::expect::short(v), str::to_owned)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    match &s.message {
        Some(m) if captures.is_empty() => m.clone(),
        Some(m) => format!("{captures} {m}"),
        None => captures,
    }
}
