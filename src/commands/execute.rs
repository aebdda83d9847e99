//! `preflight`, `phase N`, `rollback --level N`, `verify`, `run`: lock, guard, run the engine.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::engine::execution_plan::{self, Plan};
use crate::engine::guard;
use crate::engine::undo::UndoMap;
use crate::engine::{Engine, EngineOptions, Interrupt};
use crate::error::Error;
use crate::events::{Event, EventSink};
use crate::http_client::SharedHttp;
use crate::kinds::KindContext;
use crate::kinds::aws::{AwsConfig, AwsContext};
use crate::notify::{Channels, Notice, Notifier};
use crate::reporter::{self, terminal::Terminal};
use crate::request::Target;
use crate::runbook::Runbook;
use crate::secrets::Redactor;
use crate::settings::Settings;
use crate::state::lock::LockGuard;
use crate::state::{LockInfo, State, StateError, StateStore};

pub fn run(
    settings: &Settings,
    term: Arc<Terminal>,
    redactor: Arc<Redactor>,
) -> Result<i32, Error> {
    let target = settings.target.unwrap_or(Target::Run);
    crate::kinds::aws::load_trust_roots_early();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("failed to start the async runtime: {e}")))?;
    let early = early_identity(settings, &runtime);
    let runbook = super::load(settings)?;
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let mut plan = execution_plan::build(&runbook, target, vars, &settings.env)?;
    // A second person's timeout that is not a duration is said before anything runs.
    crate::engine::second_person::Policy::from_vars(&plan.vars)?;
    // A bad plan file is said before anything else is done.
    let saved = super::saved_plan::given(settings)?;
    let channels = notify_channels(settings, &runbook, &plan)?;
    let publishes = channels.as_ref().is_some_and(|c| c.sns_topic_arn.is_some());
    let config = aws_config(settings, &plan, publishes)?;
    let aws = match early {
        Some(asked) if *asked.config() == config => asked,
        _ => Arc::new(AwsContext::new(config)),
    };
    let expected_account = expected_account(settings, &runbook, &plan)?;
    let reporter: Arc<dyn EventSink> = reporter::for_output(settings.output, term.clone()).into();
    // The notifier stands in front of the reporter: every event reaches both.
    let http = Arc::new(SharedHttp::default());
    let sink = Notifier::new(
        reporter,
        channels,
        settings.dry_run,
        aws.clone(),
        http.clone(),
        runtime.handle().clone(),
    );
    let store: Arc<dyn StateStore> = settings.state_store_for(&plan.vars).into();

    // A dry run changes nothing, not even the state directory: it takes no lock.
    let _lock = if settings.dry_run {
        None
    } else {
        Some(lock(settings, store.as_ref(), &sink)?)
    };
    let mut state = load_state(settings, store.as_ref(), &runbook)?;
    let round = jiff::Timestamp::now();
    super::monitor::begin_round(&settings.monitor, &mut plan, &mut state, round);
    // Checked with the lock held: the state cannot move on between the check and the run.
    let src = super::saved_plan::Sources::new(settings, &runbook, &plan, Some(&state), &redactor);
    let guarded = runtime
        .block_on(src.check(&aws, saved.as_ref()))
        .and_then(|()| check_guards(settings, &runbook, &plan, &state, &sink));
    let would_refuse = match guarded {
        Ok(would_refuse) => would_refuse,
        Err(refused) => {
            runtime.block_on(sink.finish());
            return Err(refused);
        }
    };

    let kinds = KindContext {
        http,
        backups: store.backups(),
        prompter: term.clone(),
        aws,
        processes: Arc::default(),
    };
    // Dropped at the end of this function, after the runtime has stopped every step: the
    // directory and what steps wrote in it are removed.
    let scratch = scratch_dir()?;
    let options = EngineOptions {
        command: settings.command_line.clone(),
        dry_run: settings.dry_run,
        scratch_dir: scratch.path().to_owned(),
        yes: settings.yes,
        approve: settings.approve.clone(),
        overrides: settings.overrides.clone(),
        concurrency: settings.jobs,
        operator: format!("{}@{}", settings.user, settings.host),
        expected_account,
        would_refuse,
        typed: settings.typed.clone(),
        undo: UndoMap::from_runbook(&runbook),
    };
    let interrupt = Arc::new(Interrupt::new());
    let outcome = runtime.block_on(async {
        watch_interrupts(interrupt.clone(), &kinds, term.clone());
        let engine = Engine::new(
            &options,
            &plan,
            &settings.env,
            store.clone(),
            state,
            &sink as &dyn EventSink,
            &kinds,
            &redactor,
            &interrupt,
        );
        let outcome = engine.execute().await;
        // Each attempt stops its groups; this is the net for one a step left registered.
        kinds.processes.stop_all().await;
        // Each send is bounded by the section's timeout; the summary comes after them.
        sink.finish().await;
        outcome
    });
    // The Ctrl-C watcher never ends by itself: do not wait long for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !settings.dry_run {
        super::monitor::record_round(store.as_ref(), &plan, round)?;
    }
    Ok(outcome.exit_code())
}

/// The runbook's `notify:` section rendered over the vars, with the settings' secrets;
/// `None` when the runbook has no section.
pub(super) fn notify_channels(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan,
) -> Result<Option<Channels>, Error> {
    let Some(spec) = &runbook.notify else {
        return Ok(None);
    };
    let ctx = execution_plan::context(&plan.vars, &Default::default(), &settings.env, None, None);
    let render = |field: &str, t: &str| {
        crate::template::render_str(t, &ctx)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .map_err(|e| format!("failed to render `notify.{field}`: {e}"))
    };
    Channels::resolve(&runbook.name, spec, &settings.notify, render)
        .map(Some)
        .map_err(Error::Usage)
}

/// Resolved (and an environment region that contradicts the runbook's refused) only when
/// the plan calls AWS: a plan without AWS steps runs whatever the AWS configuration.
/// Notifications published to SNS use the run's AWS configuration too.
/// Sends the account guard's call while the unit files load and the plan is made: it waits a
/// round trip to AWS, and the loading then costs nothing of it. Made from the top file's vars
/// when it names an `account`; the run uses this context (and its answer) when the plan's AWS
/// configuration is the same, which it is unless the plan calls no AWS. Any problem here is
/// left to the whole runbook's load to report.
fn early_identity(settings: &Settings, runtime: &Runtime) -> Option<Arc<AwsContext>> {
    let root = crate::runbook::load_root(&settings.runbook)?;
    root.account.as_ref()?;
    let vars = execution_plan::render_vars(&root, &settings.vars, &settings.env).ok()?;
    let config = settings.aws_config(&vars).ok()?;
    if config.unusable.is_some() {
        return None;
    }
    let asked = Arc::new(AwsContext::new(config));
    let asking = asked.clone();
    runtime.spawn(async move {
        // The answer is kept in the context; the guard reads it (or its error) from there.
        let _ = crate::kinds::aws::caller_identity(&asking).await;
    });
    Some(asked)
}

pub(super) fn aws_config(
    settings: &Settings,
    plan: &Plan,
    publishes: bool,
) -> Result<AwsConfig, Error> {
    if publishes || calls_aws(plan) {
        settings.aws_config(&plan.vars)
    } else {
        Ok(AwsConfig::default())
    }
}

/// Whether a step of the plan, or its `verify` probe, is an `aws` step, or a step waits for
/// a second person (told apart by AWS identity).
pub(super) fn calls_aws(plan: &Plan) -> bool {
    plan.steps().any(|(_, ps)| {
        ps.step.kind.name() == "aws"
            || ps.step.second_person
            || ps
                .step
                .verify
                .as_ref()
                .is_some_and(|v| v.kind.name() == "aws")
    })
}

/// The runbook's `account`, rendered with the vars.
pub(super) fn expected_account(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan,
) -> Result<Option<String>, Error> {
    let Some(t) = &runbook.account else {
        return Ok(None);
    };
    let ctx = execution_plan::context(&plan.vars, &Default::default(), &settings.env, None, None);
    let rendered = crate::template::render_str(t, &ctx)
        .map_err(|e| Error::Usage(format!("failed to render the runbook's `account`: {e}")))?;
    Ok(Some(
        rendered
            .as_str()
            .map_or_else(|| rendered.to_string(), str::to_owned),
    ))
}

/// Checks the state can be written, then takes the run lock.
fn lock(
    settings: &Settings,
    store: &dyn StateStore,
    sink: &dyn EventSink,
) -> Result<LockGuard, Error> {
    store.check_writable().map_err(|e| match e {
        // Says itself why the directory (or bucket) is not used, and what to do.
        StateError::Unsafe { .. } | StateError::Unreachable { .. } => Error::State(e),
        e => Error::Refused(format!(
            "the state directory cannot be written, so progress could not be saved: {e}"
        )),
    })?;
    let info = LockInfo::new(&settings.command_line, &settings.user, &settings.host);
    let mut warn = |m: String| sink.emit(Event::Warning { message: m });
    match store.lock(info, &mut warn) {
        Ok(guard) => Ok(guard),
        Err(StateError::LockHeld(holder)) => Err(Error::Refused(format!(
            "another run holds the lock on {}: {holder}. Wait for it to finish; if it is gone, run `outpost-migrate unlock --lock-id {}`",
            settings.state_dir.display(),
            holder.id
        ))),
        Err(e @ StateError::LeaseExpired { .. }) => Err(Error::Refused(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The saved state, or a new one; a state of another runbook is refused.
fn load_state(
    settings: &Settings,
    store: &dyn StateStore,
    runbook: &Runbook,
) -> Result<State, Error> {
    match store.load()? {
        Some(s) if s.runbook != runbook.name => Err(Error::Refused(format!(
            "the state in {} belongs to runbook `{}`, not `{}`; use another --state-dir",
            settings.state_dir.display(),
            s.runbook,
            runbook.name
        ))),
        Some(s) => Ok(s),
        None => Ok(State::new(&runbook.name)),
    }
}

/// The refusals a real run stops at. A dry run goes on to show every step, warned, and
/// returns the first refusal: the engine ends the dry run in it.
fn check_guards(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan,
    state: &State,
    sink: &Notifier,
) -> Result<Option<String>, Error> {
    let refusals = guard::refusals(
        runbook,
        plan,
        state,
        &settings.env,
        &settings.overrides,
        &settings.state_dir,
    );
    let Some(first) = refusals.first() else {
        return Ok(None);
    };
    if !settings.dry_run {
        // A run stopped by a step in doubt needs a person: escalate it.
        let in_doubt = guard::check_in_doubt(plan, state, &settings.overrides).err();
        if in_doubt.is_some_and(|d| d.0 == first.0) {
            sink.notify(Notice::refused(&first.0));
        }
        return Err(Error::Refused(first.0.clone()));
    }
    for refusal in &refusals {
        sink.emit(Event::Warning {
            message: format!("a real run would refuse: {}", refusal.0),
        });
    }
    Ok(Some(first.0.clone()))
}

/// Listens for Ctrl-C before any step starts: from then on a Ctrl-C is ours, not the
/// default (which would end the process at once). Called on the runtime.
fn watch_interrupts(interrupt: Arc<Interrupt>, kinds: &KindContext, said: Arc<Terminal>) {
    let processes = kinds.processes.clone();
    let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    tokio::spawn(async move {
        let Ok(mut sigint) = sigint else { return };
        if sigint.recv().await.is_some() {
            // The engine acknowledges it (an event naming the steps it finishes first).
            interrupt.request();
            // The second Ctrl-C does not wait for the running step, but does not leave its
            // processes running either (they are in their own group, out of the
            // terminal's reach): SIGTERM, the grace period, SIGKILL.
            if sigint.recv().await.is_some() {
                said.err(&format!(
                    "Ctrl-C again: stopping the running steps' processes (SIGTERM, then SIGKILL after {})",
                    humantime::format_duration(crate::kinds::process::GRACE)
                ));
                interrupt.force();
                processes.stop_all().await;
                std::process::exit(crate::exit_codes::INTERRUPTED);
            }
        }
    });
}

/// The run's private scratch directory, under the system's temporary directory (`TMPDIR`):
/// created 0700, so no other user can read a plan written there or swap what a step reads.
pub(super) fn scratch_dir() -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix("outpost-migrate-run-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| Error::Setup(format!("cannot create the run's scratch directory: {e}")))
}
