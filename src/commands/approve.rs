//! `approve STEP_ID`: the second person's approval of a step a run waits at. It takes no lock
//! (the waiting run holds it): it reads who holds the lock and what that run waits for from
//! the lock and the audit log, and appends its approval there, through the state store.

use crate::engine::execution_plan;
use crate::error::Error;
use crate::exit_codes;
use crate::kinds::aws::{AwsContext, caller_identity};
use crate::reporter::terminal::Terminal;
use crate::settings::{OutputFormat, Settings};
use crate::state::{AuditRecord, LockInfo, StateStore, approval};

pub fn run(settings: &Settings, term: &Terminal, step: &str) -> Result<i32, Error> {
    let store = settings.state_store();
    let (lock, operator, unit) = waiting_run(settings, store.as_ref(), step)?;
    let runbook = super::load(settings)?;
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let aws = AwsContext::new(settings.aws_config(&vars)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("failed to start the async runtime: {e}")))?;
    let me = runtime
        .block_on(caller_identity(&aws))
        .map_err(|f| Error::Setup(format!("cannot tell who approves: {}", f.message)))?
        .arn;
    if me == operator {
        return Err(Error::Refused(format!(
            "{me} is the operator of the waiting run ({lock}); step `{step}` needs a second person: an AWS identity other than the operator's must approve it"
        )));
    }
    let audit = store.read_audit()?;
    let said = if approval::approval(&audit, step, &lock.id, &operator).is_some() {
        format!("step `{step}` is already approved for the run {}", lock.id)
    } else {
        store.append_audit(&AuditRecord {
            at: jiff::Timestamp::now(),
            operator: me.clone(),
            command: settings.command_line.clone(),
            event: approval::APPROVED.to_owned(),
            unit,
            step: Some(step.to_owned()),
            status: None,
            attempts: None,
            message: Some(format!(
                "second person {me}, for the run {} of {operator}",
                lock.id
            )),
            run: Some(lock.id.clone()),
            arn: Some(me.clone()),
        })?;
        format!(
            "approved step `{step}` as {me} for the run {} of {operator}; it proceeds when it next looks",
            lock.id
        )
    };
    match settings.output {
        OutputFormat::Human => term.out(&said),
        OutputFormat::Json => term.out(&super::json_line(&serde_json::json!({
            "step": step,
            "run": lock.id,
            "approver": me,
            "operator": operator,
            "message": said,
        }))),
        OutputFormat::Junit => super::junit_out(
            term,
            "approve",
            vec![super::Case::passed(said).property("approver", me)],
        ),
    }
    Ok(exit_codes::SUCCESS)
}

/// The run holding the lock, its operator's ARN and the unit, when it waits at `step`;
/// otherwise why approving now means nothing.
fn waiting_run(
    settings: &Settings,
    store: &dyn StateStore,
    step: &str,
) -> Result<(LockInfo, String, Option<String>), Error> {
    let Some(lock) = store.lock_info()? else {
        return Err(Error::Refused(format!(
            "no run holds the lock on {}, so none waits for step `{step}`; `approve` approves a step a running command waits at",
            settings.state_dir.display()
        )));
    };
    if !lock.holder_alive(&settings.host) {
        return Err(Error::Refused(format!(
            "the run that held the lock ({lock}) is gone; nothing waits for step `{step}`"
        )));
    }
    let audit = store.read_audit()?;
    match approval::waiting(&audit, step, &lock.id) {
        Some(w) => Ok((lock, w.arn.clone().unwrap_or_default(), w.unit.clone())),
        None => {
            let at = approval::waited_at(&audit, &lock.id);
            let waits = match at.last() {
                Some(last) => format!("; it waits at `{last}`"),
                None => "; it waits for no approval".to_owned(),
            };
            Err(Error::Refused(format!(
                "the run holding the lock ({lock}) is not waiting for step `{step}`{waits}"
            )))
        }
    }
}
