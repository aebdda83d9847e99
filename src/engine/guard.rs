//! Checks made before a command runs anything: phase order, a forward run to roll back,
//! changed steps, steps in doubt.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::execution_plan::{self, EnvMap, Plan};
use crate::request::{Overrides, Target};
use crate::runbook::{InDoubt, Runbook, UnitKey};
use crate::state::{State, StepStatus};

/// Why a command refuses to start (exit code 4).
#[derive(Debug)]
pub struct Refusal(pub String);

/// Every refusal a real run of `plan`'s target would stop at, in the order it checks them:
/// phase order, a forward run to roll back, changed steps, steps in doubt. `run`, a dry run
/// and `plan` ask the same question.
pub fn refusals(
    runbook: &Runbook,
    plan: &Plan,
    state: &State,
    env: &EnvMap,
    overrides: &Overrides,
    state_dir: &std::path::Path,
) -> Vec<Refusal> {
    [
        check_order(runbook, plan, state, env, overrides.force).err(),
        check_forward_run(plan, state, state_dir, overrides.force).err(),
        check_changed(plan, state, &overrides.accept_changed).err(),
        check_in_doubt(plan, state, overrides).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `phase N` needs pre-flight and phases before N done, unless `--force`.
pub fn check_order(
    runbook: &Runbook,
    plan: &Plan,
    state: &State,
    env: &EnvMap,
    force: bool,
) -> Result<(), Refusal> {
    let Target::Phase(n) = plan.target else {
        return Ok(());
    };
    if force {
        return Ok(());
    }
    let mut before = vec![Target::Preflight];
    before.extend((1..n).map(Target::Phase));
    for target in before {
        let Ok(prior) = execution_plan::build(runbook, target, plan.vars.clone(), env) else {
            continue;
        };
        for unit in &prior.units {
            let pending: Vec<&str> = unit
                .steps
                .iter()
                .filter(|s| {
                    !s.step.optional && !state.status(&s.id).is_some_and(StepStatus::is_done)
                })
                .map(|s| s.id.as_str())
                .collect();
            if let Some(first) = pending.first() {
                let what = match unit.unit.key {
                    UnitKey::Preflight => "pre-flight".to_string(),
                    key => key.to_string(),
                };
                return Err(Refusal(format!(
                    "phase {n} needs {what} to have succeeded first, but step `{first}` has not{}; run `{}` first, or pass --force",
                    if pending.len() > 1 {
                        format!(" (nor {} more)", pending.len() - 1)
                    } else {
                        String::new()
                    },
                    target.command()
                )));
            }
        }
    }
    Ok(())
}

/// `rollback --level N` acts only on what a recorded forward run did: with no phase step ever
/// started in the state, it is refused (naming where it looked), unless `--force`. Run from
/// another directory (the state directory is relative), it would otherwise skip the levels
/// whose phases "never ran" and still scale the control plane down.
pub fn check_forward_run(
    plan: &Plan,
    state: &State,
    state_dir: &std::path::Path,
    force: bool,
) -> Result<(), Refusal> {
    let Target::Rollback(level) = plan.target else {
        return Ok(());
    };
    let forward_ran = state
        .steps
        .values()
        .any(|s| s.unit.starts_with("phase-") && s.status != StepStatus::Pending);
    if forward_ran || force {
        return Ok(());
    }
    // An `s3://` URL is no path to make absolute.
    let dir = if state_dir.starts_with("s3:") {
        state_dir.to_path_buf()
    } else {
        std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf())
    };
    Err(Refusal(format!(
        "rollback --level {level} undoes what a forward run did, but the state in {} records no phase ever run; run it where the migration ran (or pass its --state-dir), or pass --force to roll back anyway",
        dir.display()
    )))
}

/// A succeeded step whose definition changed since it ran is refused, naming it with both
/// hashes, unless accepted with `--accept-changed ID`.
pub fn check_changed(
    plan: &Plan,
    state: &State,
    accept: &BTreeSet<String>,
) -> Result<Vec<String>, Refusal> {
    let mut changed = Vec::new();
    let mut accepted = Vec::new();
    for (_, ps) in plan.steps() {
        let Some(saved) = state.steps.get(&ps.id) else {
            continue;
        };
        if saved.status == StepStatus::Succeeded && saved.hash != ps.hash {
            if accept.contains(&ps.id) {
                accepted.push(ps.id.clone());
            } else {
                changed.push(format!(
                    "`{}` (ran as {}, now {})",
                    ps.id,
                    shown(&saved.hash),
                    shown(&ps.hash)
                ));
            }
        }
    }
    if changed.is_empty() {
        Ok(accepted)
    } else {
        Err(Refusal(format!(
            "the runbook changed for step{} that already succeeded: {}. Resuming would mix two versions of the runbook; review the change, then pass --accept-changed ID to keep the earlier result",
            if changed.len() == 1 { "" } else { "s" },
            changed.join(", ")
        )))
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A hash as the operator reads it. An item of a `for_each` step is saved as
/// `STEP_HASH:ITEM`; its digest is taken over both (the step's own hash alone is the same
/// for every item) and the item is shown, so two versions of one item read differently.
fn shown(hash: &str) -> String {
    match hash.split_once(':') {
        Some((_, item)) => {
            let digest = hex::encode(Sha256::digest(hash.as_bytes()));
            let item: String = if item.chars().count() > 80 {
                item.chars().take(80).chain(std::iter::once('…')).collect()
            } else {
                item.to_owned()
            };
            format!("{} with item {item}", short(&digest))
        }
        None => short(hash).to_owned(),
    }
}

/// A step left `running` by a crash may or may not have acted. Read-only ones are re-checked,
/// confirmations asked again, ones with a `verify` probe probed, idempotent ones run again;
/// other mutating ones need the operator to say what to do.
pub fn check_in_doubt(plan: &Plan, state: &State, ov: &Overrides) -> Result<(), Refusal> {
    let doubtful: Vec<String> = plan
        .steps()
        .filter(|(_, ps)| state.status(&ps.id) == Some(StepStatus::Running))
        .filter(|(_, ps)| ps.step.in_doubt() == InDoubt::Operator)
        .filter(|(_, ps)| !ov.retry_in_doubt.contains(&ps.id) && !ov.mark_done.contains(&ps.id))
        .map(|(_, ps)| ps.id.clone())
        .collect();
    match doubtful.first() {
        None => Ok(()),
        Some(first) => Err(Refusal(format!(
            "step{} {} {} interrupted while running, so {} effect is unknown. Check by hand, then rerun with --retry-in-doubt {first} to run it again or --mark-done {first} to record it as done",
            if doubtful.len() == 1 { "" } else { "s" },
            doubtful
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if doubtful.len() == 1 { "was" } else { "were" },
            if doubtful.len() == 1 { "its" } else { "their" },
        ))),
    }
}
