//! What `report` shows, gathered from the plan, the state and the audit log: every text is
//! redacted here, before any template sees it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::super::status::{self, StepStatusView, UnitStatus, UnitStatusView};
use super::timeline::{self, Span, Timeline};
use crate::engine::execution_plan::{self, EnvMap, Plan, PlanStep};
use crate::runbook::UnitKey;
use crate::secrets::{self, Redactor};
use crate::state::{AuditRecord, State, StepStatus};
use crate::template;

/// The longest capture value shown; longer ones are cut (after redaction).
const MAX_VALUE_CHARS: usize = 200;

#[derive(Debug, Serialize)]
pub struct Evidence {
    pub runbook: String,
    pub state_dir: String,
    pub generated_at: String,
    pub created_at: String,
    pub updated_at: String,
    /// Who ran the last command.
    pub operator: String,
    /// Everyone the audit log names, in order of first appearance.
    pub operators: Vec<String>,
    /// Hosts, where the operator was recorded as user@host (before an AWS identity was known).
    pub hosts: Vec<String>,
    pub runs: Vec<RunView>,
    pub approvals: Vec<ApprovalView>,
    pub units: Vec<UnitView>,
    pub failures: Vec<FailureView>,
    pub timeline: Timeline,
    pub monitoring: super::monitoring::MonitoringView,
}

/// One command, from its `run_started` audit line to its `run_finished`.
#[derive(Debug, Serialize)]
pub struct RunView {
    pub at: String,
    pub operator: String,
    pub command: String,
    pub finished_at: Option<String>,
    pub exit: Option<String>,
}

/// An approval, a confirmation, or an operator's override (`--mark-done`, `--accept-changed`).
#[derive(Debug, Serialize)]
pub struct ApprovalView {
    pub at: String,
    pub step: String,
    pub title: String,
    pub operator: String,
    pub how: String,
}

#[derive(Debug, Serialize)]
pub struct UnitView {
    pub slug: String,
    pub title: String,
    pub status: &'static str,
    pub rollback: bool,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration: Option<String>,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub group: Option<String>,
    pub title: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub attempts: u32,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration: Option<String>,
    pub captures: Vec<CaptureView>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CaptureView {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct FailureView {
    pub unit: String,
    pub step: String,
    pub title: String,
    pub at: Option<String>,
    pub error: String,
    pub hint: Option<String>,
}

/// What the evidence is gathered from.
pub struct Sources<'a> {
    pub plan: &'a Plan<'a>,
    /// The runbook's monitoring rows (`monitor`), shown in their own section.
    pub watch: &'a Plan<'a>,
    pub state: &'a State,
    pub audit: &'a [AuditRecord],
    pub env: &'a EnvMap,
    pub state_dir: String,
}

pub fn gather(src: &Sources<'_>, redactor: &Redactor) -> Evidence {
    let state = src.state;
    let mut units = Vec::new();
    let mut failures = Vec::new();
    let mut spans = Vec::new();
    let mut views: Vec<(UnitStatusView, Vec<Option<&PlanStep<'_>>>, bool)> = src
        .plan
        .units
        .iter()
        .map(|pu| {
            let view = status::unit_view(pu, Some(state), false, redactor);
            let rollback = matches!(pu.unit.key, UnitKey::Rollback(_));
            (view, pu.steps.iter().map(Some).collect(), rollback)
        })
        .collect();
    if let Some(view) = unlisted(src, redactor) {
        let none = vec![None; view.steps.len()];
        views.push((view, none, false));
    }
    for (view, steps, rollback) in views {
        if view.steps.iter().all(|s| s.status == StepStatus::Pending) {
            continue;
        }
        for (ps, sv) in steps.iter().zip(&view.steps) {
            if sv.status == StepStatus::Failed {
                failures.push(failure(src, *ps, sv, &view.unit, redactor));
            }
        }
        spans.extend(unit_spans(&view));
        units.push(unit_view(&view, &steps, rollback));
    }
    let who = |r: &AuditRecord| redactor.redact(&r.operator);
    let operators: Vec<String> = src.audit.iter().map(who).fold(Vec::new(), |mut v, o| {
        if !v.contains(&o) {
            v.push(o);
        }
        v
    });
    let hosts = operators
        .iter()
        .filter(|o| !o.starts_with("arn:"))
        .filter_map(|o| o.rsplit_once('@').map(|(_, host)| host.to_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Evidence {
        runbook: redactor.redact(&state.runbook),
        state_dir: redactor.redact(&src.state_dir),
        generated_at: time(Timestamp::now()),
        created_at: time(state.created_at),
        updated_at: time(state.updated_at),
        operator: redactor.redact(state.operator.as_deref().unwrap_or("unknown")),
        operators,
        hosts,
        runs: runs(src.audit, redactor),
        approvals: approvals(src, redactor),
        units,
        failures,
        timeline: timeline::build(&spans),
        monitoring: super::monitoring::gather(state, src.watch, redactor),
    }
}

fn unit_view(view: &UnitStatusView, steps: &[Option<&PlanStep<'_>>], rollback: bool) -> UnitView {
    let started = view.steps.iter().filter_map(|s| s.started_at).min();
    let ended = view.steps.iter().filter_map(|s| s.ended_at).max();
    UnitView {
        slug: view.unit.clone(),
        title: view.title.clone(),
        status: view.status.name(),
        rollback,
        started_at: started.map(time),
        ended_at: ended.map(time),
        duration: started.zip(ended).map(|(s, e)| duration(s, e)),
        steps: view
            .steps
            .iter()
            .zip(steps)
            .map(|(s, ps)| StepView {
                id: s.id.clone(),
                group: s.group.clone(),
                title: s.title.clone(),
                kind: ps.map_or("unknown", |ps| ps.step.kind.name()),
                status: status::status_name(s.status),
                attempts: s.attempts,
                started_at: s.started_at.map(time),
                ended_at: s.ended_at.map(time),
                duration: s.started_at.zip(s.ended_at).map(|(a, b)| duration(a, b)),
                captures: s
                    .captures
                    .iter()
                    .map(|(name, v)| CaptureView {
                        name: name.clone(),
                        value: secrets::head(&shown(v), MAX_VALUE_CHARS),
                    })
                    .collect(),
                message: s.message.clone(),
            })
            .collect(),
    }
}

/// A capture's value as text (already redacted by the status view).
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The unit's bar, then its steps', for the timeline.
fn unit_spans(view: &UnitStatusView) -> Vec<Span> {
    let started = view.steps.iter().filter_map(|s| s.started_at).min();
    let ended = view.steps.iter().filter_map(|s| s.ended_at).max();
    let mut spans = vec![Span {
        label: view.title.clone(),
        status: view.status.name(),
        start: started,
        end: ended,
        unit: true,
    }];
    spans.extend(view.steps.iter().map(|s: &StepStatusView| Span {
        label: s.id.clone(),
        status: status::status_name(s.status),
        start: s.started_at,
        end: s.ended_at,
        unit: false,
    }));
    spans
}

fn failure(
    src: &Sources<'_>,
    ps: Option<&PlanStep<'_>>,
    sv: &StepStatusView,
    unit: &str,
    redactor: &Redactor,
) -> FailureView {
    // The hint as the failed run rendered it: vars, the captures saved, the step's item.
    let hint = ps
        .and_then(|ps| ps.step.hint.as_ref().map(|h| (ps, h)))
        .map(|(ps, h)| {
            let ctx = execution_plan::context(
                &src.plan.vars,
                &src.state.captures(),
                src.env,
                ps.item.as_ref(),
                None,
            );
            let text = match template::render_str(h, &ctx) {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(_) => h.clone(),
            };
            redactor.redact(&text)
        });
    FailureView {
        unit: unit.to_owned(),
        step: sv.id.clone(),
        title: sv.title.clone(),
        at: sv.ended_at.map(time),
        error: sv
            .message
            .clone()
            .unwrap_or_else(|| "no error recorded".into()),
        hint,
    }
}

/// Steps the state records that the runbook no longer has (renamed or removed since they
/// ran): still evidence, shown under a unit of their own.
fn unlisted(src: &Sources<'_>, redactor: &Redactor) -> Option<UnitStatusView> {
    let planned: BTreeSet<&str> = src.plan.steps().map(|(_, ps)| ps.id.as_str()).collect();
    let steps: Vec<StepStatusView> = src
        .state
        .steps
        .iter()
        .filter(|(id, s)| !planned.contains(id.as_str()) && s.unit != "monitor")
        .map(|(id, s)| StepStatusView {
            id: redactor.redact(id),
            group: None,
            title: format!("(recorded in {})", redactor.redact(&s.unit)),
            status: s.status,
            attempts: s.attempts,
            started_at: s.started_at,
            ended_at: s.ended_at,
            // A secret step's captures were never saved; the others are redacted again.
            captures: s
                .captures
                .iter()
                .map(|(k, v)| (k.clone(), redactor.redact_value(v)))
                .collect(),
            message: s.message.as_deref().map(|m| redactor.redact(m)),
            changed: false,
            in_doubt: false,
            operator_decides: false,
        })
        .collect();
    let done = steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::Skipped))
        .count();
    (!steps.is_empty()).then(|| UnitStatusView {
        // Read only by `status`'s next-command logic, which never sees this view.
        key: UnitKey::Verify,
        done,
        total: steps.len(),
        unit: "not-in-runbook".into(),
        title: "Steps this runbook no longer has".into(),
        status: UnitStatus::of(&steps),
        steps,
    })
}

fn runs(audit: &[AuditRecord], redactor: &Redactor) -> Vec<RunView> {
    let mut runs: Vec<RunView> = Vec::new();
    for r in audit {
        match r.event.as_str() {
            "run_started" => runs.push(RunView {
                at: time(r.at),
                operator: redactor.redact(&r.operator),
                command: redactor.redact(&r.command),
                finished_at: None,
                exit: None,
            }),
            "run_finished" => {
                let command = redactor.redact(&r.command);
                if let Some(run) = runs
                    .iter_mut()
                    .rev()
                    .find(|run| run.finished_at.is_none() && run.command == command)
                {
                    run.finished_at = Some(time(r.at));
                    run.exit = r
                        .message
                        .as_deref()
                        .map(|m| redactor.redact(m.strip_prefix("exit code ").unwrap_or(m)));
                }
            }
            _ => {}
        }
    }
    runs
}

/// Approvals and overrides from the audit log, and confirmations answered at a prompt (a
/// confirm step that succeeded with no approval recorded), oldest first.
fn approvals(src: &Sources<'_>, redactor: &Redactor) -> Vec<ApprovalView> {
    let titles: BTreeMap<&str, &PlanStep<'_>> = src
        .plan
        .steps()
        .map(|(_, ps)| (ps.id.as_str(), ps))
        .collect();
    let title = |id: &str| titles.get(id).map_or(id.to_owned(), |ps| ps.title.clone());
    let mut out: Vec<(Timestamp, ApprovalView)> = Vec::new();
    let mut approved = BTreeSet::new();
    for r in src.audit {
        let how = match r.event.as_str() {
            "approved" | "marked_done" | "accepted_change" => r.message.clone().unwrap_or_default(),
            _ => continue,
        };
        let step = r.step.clone().unwrap_or_default();
        approved.insert(step.clone());
        out.push((
            r.at,
            approval(r.at, &step, &title(&step), &r.operator, &how, redactor),
        ));
    }
    for (id, ps) in &titles {
        let saved = src.state.steps.get(*id);
        let Some(ended) = saved
            .filter(|s| s.status == StepStatus::Succeeded && ps.step.kind.name() == "confirm")
            .filter(|_| !approved.contains(*id))
            .and_then(|s| s.ended_at)
        else {
            continue;
        };
        let operator = src
            .audit
            .iter()
            .rfind(|r| r.event == "step_finished" && r.step.as_deref() == Some(*id))
            .map_or("unknown", |r| r.operator.as_str());
        let how = "answered yes at the prompt";
        out.push((
            ended,
            approval(ended, id, &ps.title, operator, how, redactor),
        ));
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, a)| a).collect()
}

fn approval(
    at: Timestamp,
    step: &str,
    title: &str,
    operator: &str,
    how: &str,
    redactor: &Redactor,
) -> ApprovalView {
    ApprovalView {
        at: time(at),
        step: redactor.redact(step),
        title: redactor.redact(title),
        operator: redactor.redact(operator),
        how: redactor.redact(how),
    }
}

pub fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A step's duration as a person reads it: `850ms`, `4.2s`, `3m 07s`, `1h 02m`.
pub fn duration(start: Timestamp, end: Timestamp) -> String {
    let ms = end.duration_since(start).as_millis().max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m {:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h {:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let after = |ms: i64| t0 + jiff::SignedDuration::from_millis(ms);
        assert_eq!(duration(t0, after(850)), "850ms");
        assert_eq!(duration(t0, after(4_240)), "4.2s");
        assert_eq!(duration(t0, after(187_000)), "3m 07s");
        assert_eq!(duration(t0, after(3_720_000)), "1h 02m");
        assert_eq!(duration(after(5), t0), "0ms");
    }
}
