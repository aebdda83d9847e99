//! The human reporter: a spinner per running step, ✔/✘ lines with durations, check results
//! grouped like the seed's checklist tables, and a closing summary table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comfy_table::{Table, presets};
use console::Style;
use indicatif::{ProgressBar, ProgressStyle};

use super::heartbeat::Heartbeat;
use super::terminal::Terminal;
use crate::events::{Event, EventSink, Outcome, RunSummary, StepReport, UnitStatus, UnitSummary};

/// The title column: titles are padded to it so the results line up; a longer title gets what
/// the terminal's width leaves beside its result (off a terminal, it is cut here).
const TITLE_WIDTH: usize = 58;

pub struct HumanReporter {
    term: Arc<Terminal>,
    inner: Mutex<Inner>,
    /// Without spinners: a line now and then while steps run.
    heartbeat: Option<Heartbeat>,
}

#[derive(Default)]
struct Inner {
    spinners: HashMap<String, ProgressBar>,
    /// The titles of the steps with a spinner, for their retry lines.
    titles: HashMap<String, String>,
    /// Check units print their results grouped once the unit is done.
    grouped: Option<Vec<StepReport>>,
}

impl HumanReporter {
    pub fn new(term: Arc<Terminal>) -> Self {
        let heartbeat = (!term.live && !term.quiet).then(|| Heartbeat::start(term.clone()));
        HumanReporter {
            term,
            inner: Mutex::new(Inner::default()),
            heartbeat,
        }
    }

    fn symbol(&self, outcome: Outcome) -> String {
        let (s, style) = match outcome {
            Outcome::Succeeded => ("✔", Style::new().green()),
            Outcome::Failed => ("✘", Style::new().red().bold()),
            Outcome::FailedOptional => ("!", Style::new().yellow()),
            Outcome::Skipped => ("↷", Style::new().dim()),
            Outcome::WouldRun => ("○", Style::new().cyan()),
            Outcome::Unknown => ("?", Style::new().yellow()),
            Outcome::Refused => ("⊘", Style::new().red().bold()),
            Outcome::Blocked => ("⇣", Style::new().yellow()),
            Outcome::Interrupted => ("■", Style::new().yellow()),
        };
        self.term.style(s, style)
    }

    fn step_lines(&self, r: &StepReport) -> Vec<String> {
        let detail = match r.outcome {
            Outcome::Succeeded => r.found.clone().unwrap_or_default(),
            Outcome::Skipped => self.term.style(
                &format!("skipped: {}", r.message.clone().unwrap_or_default()),
                Style::new().dim(),
            ),
            Outcome::WouldRun => self.term.style("would run (dry run)", Style::new().cyan()),
            Outcome::Unknown => self
                .term
                .style("unknown in a dry run", Style::new().yellow()),
            Outcome::Blocked => self.term.style("not run", Style::new().yellow()),
            Outcome::FailedOptional => self.term.style("failed (optional)", Style::new().yellow()),
            Outcome::Failed => self.term.style("failed", Style::new().red()),
            Outcome::Refused => self.term.style("refused", Style::new().red()),
            Outcome::Interrupted => self.term.style("interrupted", Style::new().yellow()),
        };
        let time = if r.duration_ms >= 10
            && !matches!(
                r.outcome,
                Outcome::Skipped | Outcome::WouldRun | Outcome::Unknown
            ) {
            self.term.style(
                &format!("  ({})", duration(r.duration_ms)),
                Style::new().dim(),
            )
        } else {
            String::new()
        };
        let attempts = if r.attempts > 1 {
            self.term
                .style(&format!("  [{} attempts]", r.attempts), Style::new().dim())
        } else {
            String::new()
        };
        let after = format!("{detail}{attempts}{time}");
        let title = fit_title(&r.title, self.term.width, &after);
        let pad = TITLE_WIDTH.saturating_sub(title.chars().count());
        let mut lines = vec![format!(
            "  {} {title}{}  {after}",
            self.symbol(r.outcome),
            " ".repeat(pad)
        )];
        if let Some(shown) = &r.shown {
            lines.extend(shown.lines().map(|l| {
                format!(
                    "      {}",
                    self.term.style(&format!("│ {l}"), Style::new().dim())
                )
            }));
        }
        if let Some(w) = &r.would_run {
            lines.extend(
                w.lines()
                    .map(|l| format!("      {}", self.term.style(l, Style::new().dim()))),
            );
        }
        match r.outcome {
            Outcome::Failed
            | Outcome::Refused
            | Outcome::FailedOptional
            | Outcome::Unknown
            | Outcome::Blocked
            | Outcome::Interrupted => {
                if let Some(m) = &r.message {
                    let style = if r.outcome == Outcome::Failed || r.outcome == Outcome::Refused {
                        Style::new().red()
                    } else {
                        Style::new().yellow()
                    };
                    lines.push(format!("      └─ {}", self.term.style(m, style)));
                }
                if let Some(h) = &r.hint
                    && matches!(r.outcome, Outcome::Failed | Outcome::FailedOptional)
                {
                    lines.push(format!(
                        "         {}",
                        self.term.style(&format!("hint: {h}"), Style::new().cyan())
                    ));
                }
            }
            // A succeeded step says something only when it did not simply run (a probe).
            Outcome::Succeeded => {
                if let Some(m) = &r.message {
                    lines.push(format!(
                        "      └─ {}",
                        self.term.style(m, Style::new().dim())
                    ));
                }
            }
            _ => {}
        }
        lines
    }

    fn print_step(&self, r: &StepReport) {
        let quiet_ok = self.term.quiet && !matches!(r.outcome, Outcome::Failed | Outcome::Refused);
        if !quiet_ok {
            for line in self.step_lines(r) {
                self.term.out(&line);
            }
        }
    }

    fn unit_finished(&self, u: &UnitSummary, grouped: Option<Vec<StepReport>>) {
        if let Some(mut reports) = grouped {
            // Groups in the order the runbook lists them: the order steps were planned.
            let mut order: Vec<Option<String>> = Vec::new();
            for r in &reports {
                if !order.contains(&r.group) {
                    order.push(r.group.clone());
                }
            }
            reports.sort_by_key(|r| order.iter().position(|g| *g == r.group));
            let mut current: Option<&Option<String>> = None;
            for r in &reports {
                if current != Some(&r.group) {
                    current = Some(&r.group);
                    if let Some(g) = &r.group
                        && !self.term.quiet
                    {
                        self.term.out(&format!(
                            "  {}",
                            self.term.style(g, Style::new().bold().underlined())
                        ));
                    }
                }
                self.print_step(r);
            }
        }
        if !self.term.quiet {
            let c = &u.counts;
            let status = match u.status {
                UnitStatus::Succeeded => self.term.style("done", Style::new().green()),
                UnitStatus::Checked => self.term.style("checked", Style::new().cyan()),
                UnitStatus::Failed => self.term.style("failed", Style::new().red().bold()),
                UnitStatus::Stopped => self.term.style("stopped", Style::new().yellow()),
            };
            self.term.out(&format!(
                "  {} {status}: {} succeeded, {} failed, {} skipped{}{} ({})",
                self.term.style("→", Style::new().dim()),
                c.succeeded,
                c.failed,
                c.skipped,
                if c.would_run > 0 {
                    format!(", {} not run (dry run)", c.would_run)
                } else {
                    String::new()
                },
                if c.unknown > 0 {
                    format!(", {} unknown", c.unknown)
                } else {
                    String::new()
                },
                duration(u.duration_ms)
            ));
        }
    }

    /// The run's first line: what runs, how many steps, and whether it is a dry run.
    fn run_started(&self, target: &str, dry_run: bool, steps: usize) {
        if self.term.quiet {
            return;
        }
        let dry = if dry_run {
            self.term.style(
                "  dry run: read-only steps run, nothing is changed",
                Style::new().cyan(),
            )
        } else {
            String::new()
        };
        self.term.out(&format!(
            "{} {target} · {steps} steps{dry}",
            self.term.style("outpost-migrate", Style::new().bold())
        ));
    }

    /// The account guard's verdict: the account, the caller and the region (with its source).
    fn identity(&self, account: &str, arn: &str, expected: &str, ok: bool, region: &str) {
        if ok {
            if !self.term.quiet {
                self.term.out(&format!(
                    "  {} AWS account {account} as {arn}, region {region}",
                    self.term.style("✔", Style::new().green())
                ));
            }
        } else {
            self.term.out(&format!(
                "  {} AWS account {account} as {arn}: expected {expected} (region {region})",
                self.term.style("✘", Style::new().red().bold())
            ));
        }
    }

    /// A spinner for a step that starts on a terminal; with `-v` off one, a line.
    fn step_started(&self, inner: &mut Inner, step: String, title: String) {
        if self.term.live {
            let pb = self.term.multi.add(ProgressBar::new_spinner());
            pb.set_style(
                ProgressStyle::with_template("  {spinner:.cyan} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_message(title.clone());
            pb.enable_steady_tick(Duration::from_millis(100));
            inner.titles.insert(step.clone(), title);
            inner.spinners.insert(step, pb);
        } else if self.term.verbose > 0 {
            self.term.err(&format!("  … {title}"));
        }
    }

    fn run_finished(&self, s: &RunSummary) {
        if !self.term.quiet && !s.units.is_empty() {
            let mut table = Table::new();
            table.load_style(presets::UTF8_FULL_CONDENSED);
            if !self.term.color {
                table.force_no_tty();
            }
            table.set_header(vec![
                "unit",
                "result",
                "succeeded",
                "failed",
                "skipped",
                "not run",
                "time",
            ]);
            for u in &s.units {
                table.add_row(vec![
                    u.title.clone(),
                    format!("{:?}", u.status).to_lowercase(),
                    u.counts.succeeded.to_string(),
                    u.counts.failed.to_string(),
                    u.counts.skipped.to_string(),
                    (u.counts.would_run + u.counts.unknown).to_string(),
                    duration(u.duration_ms),
                ]);
            }
            self.term.out("");
            self.term.out(&table.to_string());
        }
        let c = &s.counts;
        let what = format!("{}{}", s.target, if s.dry_run { " (dry run)" } else { "" });
        let line = if s.exit_code == 0 {
            let extra = if s.dry_run {
                format!(", {} would run, {} unknown", c.would_run, c.unknown)
            } else {
                String::new()
            };
            format!(
                "{} {what} succeeded: {} steps succeeded, {} skipped{extra} in {}",
                self.term.style("✔", Style::new().green().bold()),
                c.succeeded,
                c.skipped,
                duration(s.duration_ms)
            )
        } else {
            let at = s
                .stopped_at
                .as_ref()
                .map(|st| format!(" at step `{st}`"))
                .unwrap_or_default();
            let why = s
                .message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let verb = if s.exit_code == crate::exit_codes::INTERRUPTED {
                "was interrupted"
            } else {
                "failed"
            };
            let why = if s.exit_code == crate::exit_codes::INTERRUPTED {
                String::new()
            } else {
                why
            };
            format!(
                "{} {what} {verb}{at}{why} (exit code {})",
                self.term.style("✘", Style::new().red().bold()),
                s.exit_code
            )
        };
        self.term.out("");
        self.term.out(&line);
        if let Some(resume) = &s.resume {
            self.term.out(&format!("  resume with: {resume}   (succeeded steps are skipped; `outpost-migrate status` shows where it stopped)"));
        }
        if let Some(r) = &s.rollback {
            self.term.out(&format!(
                "  to undo what {} applied: {}",
                phases(&r.phases),
                r.command
            ));
        }
    }
}

impl HumanReporter {
    /// Dry run: a notification that would be sent, under the step that called for it.
    fn would_notify(&self, to: &str, message: &str) {
        let body: Vec<String> = message.lines().map(|l| format!("    {l}")).collect();
        self.term
            .out(&format!("  would notify {to}:\n{}", body.join("\n")));
    }

    /// A failed run: who to escalate to.
    fn escalation(&self, severity: &str, contacts: &str) {
        let label = self.term.style("escalation", Style::new().yellow().bold());
        self.term.err(&format!("{label} ({severity}): {contacts}"));
    }
}

impl EventSink for HumanReporter {
    fn emit(&self, event: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.saw(&event);
        }
        match event {
            Event::RunStarted {
                target,
                dry_run,
                steps,
                ..
            } => self.run_started(&target, dry_run, steps),
            Event::UnitStarted { unit, title, steps } => {
                let check = unit == "preflight" || unit == "verify";
                inner.grouped = check.then(Vec::new);
                if !self.term.quiet {
                    self.term.out("");
                    self.term.out(&format!(
                        "{} {}",
                        self.term.style(&title, Style::new().bold()),
                        self.term
                            .style(&format!("({unit}, {steps} steps)"), Style::new().dim())
                    ));
                }
            }
            Event::StepStarted { step, title, .. } => self.step_started(&mut inner, step, title),
            Event::StepRetrying {
                step,
                attempt,
                max_attempts,
                delay_ms,
                remaining_ms,
                reason,
                ..
            } => {
                let retry = format!(
                    "attempt {attempt}/{max_attempts} failed, retrying in {}, {} left",
                    duration(delay_ms),
                    duration(remaining_ms)
                );
                if let Some(pb) = inner.spinners.get(&step) {
                    let title = inner.titles.get(&step).unwrap_or(&step);
                    pb.set_message(format!("{title}: {retry} ({reason})"));
                } else if self.term.verbose > 0 {
                    self.term.err(&format!("  ↻ {step}: {retry}: {reason}"));
                }
            }
            Event::StepFinished(r) => {
                inner.titles.remove(&r.step);
                if let Some(pb) = inner.spinners.remove(&r.step) {
                    pb.finish_and_clear();
                    self.term.multi.remove(&pb);
                }
                match inner.grouped.as_mut() {
                    Some(buffer) => buffer.push(r),
                    None => self.print_step(&r),
                }
            }
            Event::UnitFinished(u) => {
                let grouped = inner.grouped.take();
                self.unit_finished(&u, grouped);
            }
            Event::Identity {
                account,
                arn,
                expected,
                ok,
                region,
                region_source,
            } => {
                let source = region_source
                    .map(|source| format!(" (from {source})"))
                    .unwrap_or_default();
                self.identity(&account, &arn, &expected, ok, &format!("{region}{source}"));
            }
            Event::Warning { message } => self.term.err(&format!(
                "{}: {message}",
                self.term.style("warning", Style::new().yellow().bold())
            )),
            Event::AwaitingApproval {
                step,
                title,
                operator,
                timeout_ms,
                ..
            } => self.term.out(&format!(
                "  ⏸ {title}: waiting up to {} for a second person: run `outpost-migrate approve {step}` against this state as an AWS identity other than {operator}",
                humantime::format_duration(std::time::Duration::from_millis(timeout_ms))
            )),
            Event::StopRequested { running } => self.term.err(&stop_requested(&running)),
            Event::WouldNotify {
                channel,
                severity,
                message,
            } => self.would_notify(&format!("{channel} ({severity})"), &message),
            Event::Escalation { severity, contacts } => self.escalation(&severity, &contacts),
            Event::RunFinished(s) => self.run_finished(&s),
            Event::MonitorTable(t) => self.term.out(&super::monitor_table::render(&t)),
        }
    }
}

/// "phase 2", "phases 1 and 2", "phases 1, 2 and 3".
fn phases(list: &[u8]) -> String {
    let names: Vec<String> = list.iter().map(u8::to_string).collect();
    match names.as_slice() {
        [one] => format!("phase {one}"),
        [init @ .., last] => format!("phases {} and {last}", init.join(", ")),
        [] => "the phases".into(),
    }
}

/// The first Ctrl-C's acknowledgement: what the run finishes before it stops.
pub(super) fn stop_requested(running: &[String]) -> String {
    // Pre-flight runs many checks at once: the first few name the rest.
    const NAMED: usize = 3;
    let mut steps: Vec<String> = running
        .iter()
        .take(NAMED)
        .map(|s| format!("`{s}`"))
        .collect();
    if running.len() > NAMED {
        steps.push(format!("{} more", running.len() - NAMED));
    }
    let finishing = match steps.as_slice() {
        [] => "stopping before the next step".to_owned(),
        [one] => format!("finishing step {one}, then stopping"),
        many => format!("finishing steps {}, then stopping", many.join(", ")),
    };
    format!("Ctrl-C: {finishing}; Ctrl-C again to abort")
}

/// A step's title as its line shows it: whole when it fits the title column or, on a
/// terminal, the width left beside what follows it (`after`); else cut, with `…`.
fn fit_title(title: &str, width: Option<usize>, after: &str) -> String {
    // "  ✔ " before the title, two spaces after it, and the last column left free (a line
    // filling it wraps on some terminals).
    let room = width
        .map(|w| w.saturating_sub(4 + 2 + console::measure_text_width(after) + 1))
        .map_or(TITLE_WIDTH, |room| room.max(TITLE_WIDTH));
    if title.chars().count() > room {
        format!("{}…", title.chars().take(room - 1).collect::<String>())
    } else {
        title.to_owned()
    }
}

pub(super) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_takes_the_terminals_width_and_is_cut_only_beyond_it() {
        let long = "x".repeat(120);
        assert_eq!(fit_title(&long, Some(250), "found"), long);
        let cut = fit_title(&long, Some(100), "found");
        assert_eq!(cut.chars().count(), 100 - 4 - 2 - 5 - 1);
        assert!(cut.ends_with('…'));
        // A narrow terminal or none: the title column.
        assert_eq!(fit_title(&long, Some(40), "").chars().count(), TITLE_WIDTH);
        assert_eq!(fit_title(&long, None, "").chars().count(), TITLE_WIDTH);
        assert_eq!(fit_title("short", Some(250), ""), "short");
    }

    #[test]
    fn the_first_ctrl_c_says_what_finishes_before_the_run_stops() {
        assert_eq!(
            stop_requested(&["apply".into()]),
            "Ctrl-C: finishing step `apply`, then stopping; Ctrl-C again to abort"
        );
        assert_eq!(
            stop_requested(&["a".into(), "b".into()]),
            "Ctrl-C: finishing steps `a`, `b`, then stopping; Ctrl-C again to abort"
        );
        let five: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
        assert_eq!(
            stop_requested(&five),
            "Ctrl-C: finishing steps `a`, `b`, `c`, 2 more, then stopping; Ctrl-C again to abort"
        );
        assert_eq!(
            stop_requested(&[]),
            "Ctrl-C: stopping before the next step; Ctrl-C again to abort"
        );
    }
}
