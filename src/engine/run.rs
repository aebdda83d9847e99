//! Running a plan: units in order; a check unit's steps concurrently (bounded, each once the
//! captures it needs exist), a phase's steps one by one; state saved after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;

use super::execution_plan::{EnvMap, Plan, PlanUnit};
use super::interrupt::Interrupt;
use super::record::Audit;
use super::undo::RollbackAdvice;
use crate::error::Error;
use crate::events::{Counts, Event, EventSink, Outcome, RunSummary, UnitStatus, UnitSummary};
use crate::exit_codes;
use crate::kinds::KindContext;
use crate::request::{Overrides, Target};
use crate::secrets::Redactor;
use crate::state::{State, StateError, StateStore, StepStatus};

/// What the operator asked for, resolved from the command line.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub command: String,
    pub dry_run: bool,
    /// A private directory of this run (0700, removed when it ends), which templates see as
    /// `run.scratch_dir`: where a dry run's terraform writes instead of the module directory.
    pub scratch_dir: std::path::PathBuf,
    pub yes: bool,
    pub approve: BTreeSet<String>,
    pub overrides: Overrides,
    pub concurrency: usize,
    /// user@host until the AWS identity is known, then the caller ARN.
    pub operator: String,
    /// The AWS account the credentials must belong to, when the runbook declares one.
    pub expected_account: Option<String>,
    /// A dry run: why a real run of this command would be refused. The dry run still shows
    /// every step, then ends in that refusal instead of a success.
    pub would_refuse: Option<String>,
    /// The command as typed (redacted), which the resume and rollback hints repeat.
    pub typed: crate::command_line::TypedCommand,
    /// Which rollback level undoes each forward phase.
    pub undo: super::undo::UndoMap,
}

/// How a run ended (its report already emitted): the command's exit code comes from it.
#[derive(Debug)]
pub enum RunOutcome {
    /// Every step of the plan was done (or, in a dry run, judged).
    Completed,
    /// The failure that stopped the run.
    Stopped(Error),
}

impl RunOutcome {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunOutcome::Completed => exit_codes::SUCCESS,
            RunOutcome::Stopped(e) => e.exit_code(),
        }
    }
}

pub struct Engine<'a> {
    pub(super) opts: &'a EngineOptions,
    pub(super) plan: &'a Plan<'a>,
    pub(super) env: &'a EnvMap,
    /// Shared with the blocking thread each save runs on.
    pub(super) store: Arc<dyn StateStore>,
    pub(super) state: Mutex<State>,
    pub(super) sink: &'a dyn EventSink,
    pub(super) kinds: &'a KindContext,
    pub(super) redactor: &'a Redactor,
    pub(super) interrupt: &'a Interrupt,
    /// Captures made in this run or loaded from state (secret ones only in memory).
    pub(super) captures: Mutex<BTreeMap<String, Value>>,
    /// Steps of a check unit refused while another check failed: the failure stops the run,
    /// and the summary names these after it.
    refused: Mutex<Vec<String>>,
    /// Dry run: captures a step that was not executed would have made.
    pub(super) unknown: Mutex<BTreeMap<String, String>>,
    /// Captures whose step failed: steps needing them are blocked.
    pub(super) failed: Mutex<BTreeMap<String, String>>,
    /// Who is running: user@host, then the AWS caller ARN once known.
    pub(super) operator: Mutex<String>,
    /// Group commit (see `change_state`): the changes to `state` to be saved, counted...
    changes: AtomicU64,
    /// ...and how many of them are on disk, held by the save under way.
    saved: tokio::sync::Mutex<u64>,
}

impl<'a> Engine<'a> {
    #[allow(
        clippy::too_many_arguments,
        reason = "the engine's collaborators, each resolved once by the command"
    )]
    pub fn new(
        opts: &'a EngineOptions,
        plan: &'a Plan<'a>,
        env: &'a EnvMap,
        store: Arc<dyn StateStore>,
        state: State,
        sink: &'a dyn EventSink,
        kinds: &'a KindContext,
        redactor: &'a Redactor,
        interrupt: &'a Interrupt,
    ) -> Self {
        let captures = Mutex::new(state.captures());
        Engine {
            opts,
            plan,
            env,
            store,
            state: Mutex::new(state),
            sink,
            kinds,
            redactor,
            interrupt,
            captures,
            refused: Mutex::new(Vec::new()),
            unknown: Mutex::new(BTreeMap::new()),
            failed: Mutex::new(BTreeMap::new()),
            operator: Mutex::new(opts.operator.clone()),
            changes: AtomicU64::new(0),
            saved: tokio::sync::Mutex::new(0),
        }
    }

    pub(super) fn emit(&self, event: Event) {
        self.sink.emit(event);
    }

    pub(super) fn operator(&self) -> String {
        self.operator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The account guard: before any AWS step, the credentials must be the runbook's account.
    /// The caller ARN becomes the operator recorded in state and audit log.
    async fn check_identity(&self) -> Result<(), Error> {
        let Some(expected) = &self.opts.expected_account else {
            return Ok(());
        };
        if !self
            .plan
            .steps()
            .any(|(_, ps)| ps.step.kind.name() == "aws")
        {
            return Ok(());
        }
        // The steps' clients are built while the guard's call is in flight: building one calls
        // nothing, and the checks then start the moment the guard passes.
        if let Ok(clients) = self.kinds.aws.clients().await {
            let services: BTreeSet<&'static str> = self
                .plan
                .steps()
                .filter(|(_, ps)| ps.step.kind.name() == "aws")
                .filter_map(|(_, ps)| crate::kinds::aws::service_of(&ps.step.spec))
                .collect();
            tokio::task::spawn_blocking(move || clients.build(services));
        }
        let id = crate::kinds::aws::caller_identity(&self.kinds.aws)
            .await
            // Said as it is: the AWS CLI's words for the failures an operator meets first.
            .map_err(|f| Error::Setup(f.message))?;
        let ok = id.account == *expected;
        self.emit(Event::Identity {
            account: id.account.clone(),
            arn: id.arn.clone(),
            expected: expected.clone(),
            ok,
            region: id.region.clone(),
            region_source: self.kinds.aws.region_source().map(str::to_owned),
        });
        if !ok {
            return Err(Error::Refused(format!(
                "the AWS credentials are for account {} ({}), but this runbook runs against account {expected}; nothing was run. Check --profile/AWS_PROFILE",
                id.account, id.arn
            )));
        }
        *self.operator.lock().unwrap_or_else(|e| e.into_inner()) = id.arn;
        Ok(())
    }

    /// Applies a change to the state and saves it (not in a dry run).
    pub(super) async fn update_state(&self, f: impl FnOnce(&mut State)) -> Result<(), StateError> {
        self.change_state(true, f).await
    }

    /// Applies a change to the state, saving it when `persist` (never in a dry run). Returns
    /// once the change is durable: written by a save that began after it was made.
    ///
    /// Checks that finish together share one save (group commit): the first to save lets every
    /// other check that is ready record its result first, then writes them all; those find
    /// their change saved and return. A step reports itself finished, and a step needing its
    /// captures starts, only after this returns: each finished step is on disk before
    /// anything sees it finished, as with one save a step.
    pub(super) async fn change_state(
        &self,
        persist: bool,
        f: impl FnOnce(&mut State),
    ) -> Result<(), StateError> {
        let mine = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut state);
            if self.opts.dry_run || !persist {
                return Ok(());
            }
            // Numbered under the state's lock: a save holds every change numbered before it.
            self.changes.fetch_add(1, Ordering::SeqCst) + 1
        };
        let mut saved = self.saved.lock().await;
        if *saved >= mine {
            return Ok(());
        }
        // The checks run as one task: yielding lets those whose answers are in record theirs.
        tokio::task::yield_now().await;
        let (mut snapshot, upto) = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (state.clone(), self.changes.load(Ordering::SeqCst))
        };
        // Written and synced on a blocking thread: the checks still running are polled on
        // this one, and their answers are not held up for the disk.
        let store = self.store.clone();
        let written =
            tokio::task::spawn_blocking(move || store.save(&mut snapshot).map(|()| snapshot))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.serial, state.updated_at) = (written.serial, written.updated_at);
        *saved = upto;
        Ok(())
    }

    /// Runs every unit of the plan, stopping at the first unit that fails. The first Ctrl-C is
    /// acknowledged at once, naming the steps the run finishes before it stops.
    pub async fn execute(self) -> RunOutcome {
        let acknowledge = async {
            self.interrupt.requested().await;
            self.emit(Event::StopRequested {
                running: self.interrupt.under_way(),
            });
            std::future::pending::<RunOutcome>().await
        };
        tokio::select! {
            outcome = self.run_units() => outcome,
            never = acknowledge => never,
        }
    }

    async fn run_units(&self) -> RunOutcome {
        let started = Instant::now();
        let total: usize = self.plan.units.iter().map(|u| u.steps.len()).sum();
        self.emit(Event::RunStarted {
            command: self.opts.command.clone(),
            target: self.plan.target.to_string(),
            dry_run: self.opts.dry_run,
            units: self.plan.units.iter().map(|u| u.unit.key.slug()).collect(),
            steps: total,
            operator: self.opts.operator.clone(),
        });
        let mut fatal: Option<Error> = self.check_identity().await.err();
        if fatal.is_none() {
            let prologue = self
                .mark_done_overrides()
                .await
                .and_then(|()| self.audit(Audit::event("run_started")));
            fatal = prologue.err().map(Error::Save);
        }
        let mut units = Vec::new();
        let mut totals = Counts::default();
        let mut stopped_at = None;
        for unit in &self.plan.units {
            if fatal.is_some() {
                break;
            }
            if self.interrupt.is_requested() {
                fatal = Some(Error::Interrupted);
                break;
            }
            let (summary, unit_fatal, stop) = self.run_unit(unit).await;
            add(&mut totals, &summary.counts);
            let failed = summary.status == UnitStatus::Failed;
            self.emit(Event::UnitFinished(summary.clone()));
            units.push(summary);
            if unit_fatal.is_some() || failed {
                fatal = unit_fatal;
                stopped_at = stop;
                if fatal.is_none() {
                    fatal = Some(Error::StepFailed);
                }
                break;
            }
        }
        let outcome = match (fatal, &self.opts.would_refuse) {
            (None, Some(why)) => {
                RunOutcome::Stopped(Error::Refused(format!("a real run would refuse: {why}")))
            }
            (None, None) => RunOutcome::Completed,
            (Some(e), _) => RunOutcome::Stopped(e),
        };
        let exit_code = outcome.exit_code();
        let message = match &outcome {
            RunOutcome::Completed => None,
            RunOutcome::Stopped(Error::StepFailed) => self.also_refused(),
            RunOutcome::Stopped(e) => e.reason(),
        };
        let (resume, rollback) = self.next_commands(exit_code, !units.is_empty());
        let message = message.map(|m| self.redactor.redact(&m));
        let _ = self.audit(Audit::event("run_finished").message(format!("exit code {exit_code}")));
        let summary = RunSummary {
            command: self.opts.command.clone(),
            target: self.plan.target.to_string(),
            dry_run: self.opts.dry_run,
            exit_code,
            units,
            counts: totals,
            duration_ms: started.elapsed().as_millis() as u64,
            stopped_at,
            message,
            resume,
            rollback,
        };
        self.emit(Event::RunFinished(summary));
        outcome
    }

    /// What a failed run's summary adds after the failure: the steps refused beside it.
    fn also_refused(&self) -> Option<String> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        (!refused.is_empty()).then(|| {
            let ids: Vec<String> = refused.iter().map(|id| format!("`{id}`")).collect();
            format!("also refused: {}", ids.join(", "))
        })
    }

    /// What the summary says to run next when the run stopped: the command again (when a
    /// unit ran: after a set-up error where nothing ran there is nothing to resume), and for a
    /// forward command, the rollback level undoing every change applied so far.
    fn next_commands(&self, exit_code: i32, ran: bool) -> (Option<String>, Option<RollbackAdvice>) {
        if exit_code == exit_codes::SUCCESS || self.opts.dry_run || !ran {
            return (None, None);
        }
        let resume = Some(self.opts.typed.resume());
        if matches!(self.plan.target, Target::Rollback(_)) {
            return (resume, None);
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rollback = self
            .opts
            .undo
            .applied(&state)
            .map(|(level, phases)| RollbackAdvice {
                level,
                phases,
                command: self.opts.typed.rollback(level),
            });
        (resume, rollback)
    }

    async fn mark_done_overrides(&self) -> Result<(), StateError> {
        let ids: Vec<String> = self
            .plan
            .steps()
            .filter(|(_, ps)| self.opts.overrides.mark_done.contains(&ps.id))
            .filter(|(_, ps)| {
                self.state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .status(&ps.id)
                    != Some(StepStatus::Succeeded)
            })
            .map(|(_, ps)| ps.id.clone())
            .collect();
        for id in ids {
            self.update_state(|s| {
                if let Some(st) = s.steps.get_mut(&id) {
                    st.status = StepStatus::Succeeded;
                    st.message = Some("marked done by the operator (--mark-done)".into());
                }
            })
            .await?;
            self.audit(
                Audit::event("marked_done")
                    .step(&id)
                    .status(StepStatus::Succeeded)
                    .message("--mark-done"),
            )?;
        }
        for id in &self.opts.overrides.accept_changed {
            self.audit(
                Audit::event("accepted_change")
                    .step(id)
                    .message("--accept-changed: the earlier result is kept"),
            )?;
        }
        Ok(())
    }

    async fn run_unit(&self, unit: &PlanUnit<'_>) -> (UnitSummary, Option<Error>, Option<String>) {
        let started = Instant::now();
        let slug = unit.unit.key.slug();
        self.emit(Event::UnitStarted {
            unit: slug.clone(),
            title: unit.unit.title.clone(),
            steps: unit.steps.len(),
        });
        let (counts, fatal, failed_step) = if unit.unit.concurrent {
            self.run_concurrently(unit, &slug).await
        } else {
            self.run_in_order(unit, &slug).await
        };
        let status = if counts.failed > 0 {
            UnitStatus::Failed
        } else if fatal.is_some() {
            UnitStatus::Stopped
        } else if self.opts.dry_run {
            UnitStatus::Checked
        } else {
            UnitStatus::Succeeded
        };
        let summary = UnitSummary {
            unit: slug.clone(),
            title: unit.unit.title.clone(),
            status,
            counts,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let _ = self.audit(
            Audit::event("unit_finished")
                .unit(&slug)
                .message(format!("{status:?}").to_lowercase()),
        );
        (summary, fatal, failed_step)
    }

    /// A check unit's steps, concurrently (bounded), each once the captures it needs exist.
    async fn run_concurrently(
        &self,
        unit: &PlanUnit<'_>,
        slug: &str,
    ) -> (Counts, Option<Error>, Option<String>) {
        let mut counts = Counts::default();
        let mut fatal = None;
        let mut failed_step: Option<String> = None;
        // By the step's place in the unit: which failed, which were refused.
        let mut failed: BTreeMap<usize, String> = BTreeMap::new();
        let mut refused: BTreeMap<usize, String> = BTreeMap::new();
        let mut pending: Vec<usize> = super::critical_path::longest_chain_first(&unit.steps);
        let mut in_flight: BTreeSet<&str> = BTreeSet::new();
        let mut running = FuturesUnordered::new();
        loop {
            if fatal.is_none() && !self.interrupt.is_requested() {
                // A step starts once every capture it needs is settled: no step still
                // pending or running in this unit makes it.
                let unsettled: BTreeSet<&str> = pending
                    .iter()
                    .map(|i| &unit.steps[*i])
                    .chain(
                        unit.steps
                            .iter()
                            .filter(|s| in_flight.contains(s.id.as_str())),
                    )
                    .flat_map(|s| s.step.capture.iter().map(|(c, _)| c.as_str()))
                    .collect();
                let mut i = 0;
                while i < pending.len() && running.len() < self.opts.concurrency.max(1) {
                    let ps = &unit.steps[pending[i]];
                    if ps
                        .step
                        .needs
                        .iter()
                        .all(|n| !unsettled.contains(n.as_str()))
                    {
                        in_flight.insert(ps.id.as_str());
                        let index = pending[i];
                        running
                            .push(async move { (index, ps, self.run_step(slug, ps, None).await) });
                        pending.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            let Some((index, ps, result)) = running.next().await else {
                break;
            };
            in_flight.remove(ps.id.as_str());
            match result {
                Ok(r) => {
                    count(&mut counts, r.outcome);
                    if r.outcome == Outcome::Failed {
                        failed.insert(index, ps.id.clone());
                    }
                    if r.outcome.is_failure() && failed_step.is_none() {
                        failed_step = Some(ps.id.clone());
                    }
                }
                Err(f) => {
                    if matches!(f, Error::Refused(_)) {
                        refused.insert(index, ps.id.clone());
                    }
                    failed_step.get_or_insert_with(|| ps.id.clone());
                    fatal.get_or_insert(f);
                }
            }
        }
        if fatal.is_none() && !pending.is_empty() {
            fatal = Some(Error::Interrupted);
        }
        // A check that failed comes before a refusal (a confirmation nobody could answer): the
        // run fails at the first failed check, in the unit's order, and names the refusals.
        if let Some((_, first)) = failed.first_key_value() {
            if matches!(fatal, Some(Error::Refused(_))) {
                fatal = None;
                *self.refused.lock().unwrap_or_else(|e| e.into_inner()) =
                    refused.into_values().collect();
            }
            if fatal.is_none() {
                failed_step = Some(first.clone());
            }
        }
        (counts, fatal, failed_step)
    }

    /// A phase's steps, one by one, stopping at the first that fails.
    async fn run_in_order(
        &self,
        unit: &PlanUnit<'_>,
        slug: &str,
    ) -> (Counts, Option<Error>, Option<String>) {
        let mut counts = Counts::default();
        let mut fatal = None;
        let mut failed_step: Option<String> = None;
        // Dry run: the first step shown but not run; what follows sees a world without it.
        let mut not_run_before: Option<String> = None;
        for ps in &unit.steps {
            if self.interrupt.is_requested() {
                fatal = Some(Error::Interrupted);
                failed_step.get_or_insert_with(|| ps.id.clone());
                break;
            }
            match self.run_step(slug, ps, not_run_before.as_deref()).await {
                Ok(r) => {
                    if r.outcome == Outcome::WouldRun && not_run_before.is_none() {
                        not_run_before = Some(ps.id.clone());
                    }
                    count(&mut counts, r.outcome);
                    if r.outcome.is_failure() {
                        failed_step = Some(ps.id.clone());
                        break;
                    }
                }
                Err(f) => {
                    failed_step = Some(ps.id.clone());
                    fatal = Some(f);
                    break;
                }
            }
        }
        (counts, fatal, failed_step)
    }
}

fn count(c: &mut Counts, outcome: Outcome) {
    match outcome {
        Outcome::Succeeded => c.succeeded += 1,
        Outcome::Failed | Outcome::Refused => c.failed += 1,
        Outcome::FailedOptional | Outcome::Skipped | Outcome::Blocked => c.skipped += 1,
        Outcome::WouldRun => c.would_run += 1,
        Outcome::Unknown => c.unknown += 1,
        // Neither done nor failed: the run stops there, and the summary says it was interrupted.
        Outcome::Interrupted => {}
    }
}

fn add(total: &mut Counts, c: &Counts) {
    total.succeeded += c.succeeded;
    total.failed += c.failed;
    total.skipped += c.skipped;
    total.would_run += c.would_run;
    total.unknown += c.unknown;
}
