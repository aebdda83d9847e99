//! A monitoring row whose breach has lasted its `breach.after`: the rollback level it calls
//! for is announced (the `monitor_breach` notice), then asked for at the terminal, or started
//! at once with `--auto-rollback`, through the same path as `rollback --level N`. What became
//! of it is kept in the state (`monitor.rollbacks`) and the audit log.

use std::sync::Arc;

use jiff::Timestamp;

use crate::engine::execution_plan::Plan;
use crate::error::Error;
use crate::events::EventSink;
use crate::kinds::aws::AwsContext;
use crate::notify::{Notice, Notifier, Severity};
use crate::prompt::Prompter;
use crate::reporter::terminal::Terminal;
use crate::request::Target;
use crate::runbook::Runbook;
use crate::secrets::Redactor;
use crate::settings::{Action, Settings};
use crate::state::AuditRecord;
use crate::state::monitoring::{BreachRollback, Monitoring};

/// A row whose breach calls for a rollback now.
pub(super) struct Due {
    pub row: String,
    pub level: u8,
    pub value: String,
}

/// The rows of `plan` breaching for at least their `breach.after` at `now`, for which no
/// rollback was decided since the breach began.
pub(super) fn due(plan: &Plan<'_>, monitoring: &Monitoring, now: Timestamp) -> Vec<Due> {
    plan.steps()
        .filter_map(|(_, ps)| {
            let breach = ps.step.watch.as_ref()?.breach?;
            let since = monitoring.breaching_since(&ps.id)?;
            let after = jiff::SignedDuration::try_from(breach.after).ok()?;
            let decided = monitoring
                .rollbacks
                .iter()
                .any(|r| r.row == ps.id && r.at >= since);
            (since.checked_add(after).ok()? <= now && !decided).then(|| Due {
                row: ps.id.clone(),
                level: breach.rollback,
                value: monitoring
                    .last(&ps.id)
                    .and_then(|s| s.message.clone())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Announces the breach, then runs its rollback when `--auto-rollback` says so or the
/// operator approves it at the terminal. Returns the rollback's exit code when it ran.
pub(super) fn act(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan<'_>,
    due: &Due,
    term: Arc<Terminal>,
    redactor: Arc<Redactor>,
) -> Result<Option<i32>, Error> {
    notify(settings, runbook, plan, due, term.clone())?;
    let question = format!(
        "monitoring row `{}` has breached for its `after`: run `outpost-migrate rollback --level {}` now?",
        due.row, due.level
    );
    let approved = if settings.monitor.auto_rollback {
        Some("--auto-rollback")
    } else if term.can_prompt() && term.confirm(&question) {
        Some("approved at the prompt")
    } else {
        None
    };
    let code = match approved {
        Some(_) => Some(rollback(settings, due, term.clone(), redactor)?),
        None => None,
    };
    let outcome = match (approved, code) {
        (Some(how), Some(code)) => format!("rollback ran ({how}), exit code {code}"),
        _ if term.can_prompt() => "declined at the prompt".to_owned(),
        _ => "not run: no terminal to ask (--auto-rollback runs it)".to_owned(),
    };
    record(settings, due, &outcome)?;
    Ok(code)
}

/// The `monitor_breach` notice, sent to the runbook's channels (P1: production is degraded
/// past its target for the time the runbook allows).
fn notify(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan<'_>,
    due: &Due,
    term: Arc<Terminal>,
) -> Result<(), Error> {
    let channels = super::execute::notify_channels(settings, runbook, plan)?;
    let publishes = channels.as_ref().is_some_and(|c| c.sns_topic_arn.is_some());
    let aws = Arc::new(AwsContext::new(super::execute::aws_config(
        settings, plan, publishes,
    )?));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("failed to start the async runtime: {e}")))?;
    let reporter: Arc<dyn EventSink> = crate::reporter::for_output(settings.output, term).into();
    let sink = Notifier::new(
        reporter,
        channels,
        settings.dry_run,
        aws,
        Arc::default(),
        runtime.handle().clone(),
    );
    let mut notice = Notice::monitor_breach(&due.row, &due.value, Severity::P1);
    notice.details.push((
        "rollback",
        format!("outpost-migrate rollback --level {}", due.level),
    ));
    sink.notify(notice);
    runtime.block_on(sink.finish());
    Ok(())
}

/// `rollback --level N` as if typed, its approvals given by the decision to run it.
fn rollback(
    settings: &Settings,
    due: &Due,
    term: Arc<Terminal>,
    redactor: Arc<Redactor>,
) -> Result<i32, Error> {
    let target = Target::Rollback(due.level);
    let mut s = settings.clone();
    s.target = Some(target);
    s.action = Action::Execute {
        target: target.to_string(),
        plan: None,
    };
    s.yes = true;
    s.command_line = format!(
        "{} (monitor: `{}` breached; {})",
        target.command(),
        due.row,
        settings.command_line
    );
    super::execute::run(&s, term, redactor)
}

/// What became of the breach's rollback, in the state and the audit log.
fn record(settings: &Settings, due: &Due, outcome: &str) -> Result<(), Error> {
    let store = settings.state_store();
    let now = Timestamp::now();
    if let Some(mut state) = store.load()? {
        let monitoring = state.monitor.get_or_insert_with(Monitoring::default);
        monitoring.rollbacks.push(BreachRollback {
            row: due.row.clone(),
            level: due.level,
            at: now,
            outcome: outcome.to_owned(),
        });
        store.save(&mut state)?;
    }
    store.append_audit(&AuditRecord {
        at: now,
        operator: format!("{}@{}", settings.user, settings.host),
        command: settings.command_line.clone(),
        event: "monitor_breach".into(),
        unit: Some("monitor".into()),
        step: Some(due.row.clone()),
        status: None,
        attempts: None,
        message: Some(format!("rollback --level {}: {outcome}", due.level)),
        run: None,
        arn: None,
    })?;
    Ok(())
}
