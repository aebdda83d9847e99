//! What `status` says comes next: the step in progress or failed, and the command to run
//! (with the `--runbook` and `--state-dir` this status read, so that it acts on this state).

use super::status::{CurrentStep, UnitStatus, UnitStatusView};
use crate::request::Target;
use crate::runbook::{RunbookSource, UnitKey};
use crate::settings::Settings;
use crate::state::{LockInfo, StepStatus};

/// The state directory when none is given (`--state-dir`'s default).
const DEFAULT_STATE_DIR: &str = ".outpost-migrate";

/// The first step, in run order, that is running, in doubt or failed.
pub fn current(units: &[UnitStatusView]) -> Option<CurrentStep> {
    units.iter().find_map(|u| {
        u.steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Running | StepStatus::Failed))
            .map(|s| CurrentStep {
                unit: u.unit.clone(),
                step: s.id.clone(),
                status: s.shown_status(),
                message: s.message.clone(),
            })
    })
}

/// The next command: wait for a live run; settle a step in doubt; resume a rollback that has
/// begun; else the first forward unit not done; else nothing.
pub fn next(settings: &Settings, units: &[UnitStatusView], live: Option<&LockInfo>) -> String {
    if let Some(lock) = live {
        return format!(
            "wait: `{}` is running (pid {} on {}); `outpost-migrate status` again to follow it",
            lock.command, lock.pid, lock.host
        );
    }
    let flags = repeated_flags(settings);
    let command = |t: Target| format!("{}{flags}", t.command());
    let rollbacks: Vec<&UnitStatusView> = units
        .iter()
        .filter(|u| matches!(u.key, UnitKey::Rollback(_)) && u.status != UnitStatus::NotStarted)
        .collect();
    let unit = match rollbacks.iter().map(|u| u.key).max() {
        Some(UnitKey::Rollback(level)) => {
            let target = Target::Rollback(level);
            let open = rollbacks.iter().find(|u| u.status != UnitStatus::Done);
            match open {
                Some(u) => (*u, target),
                None => return format!("nothing: rollback --level {level} is done"),
            }
        }
        _ => {
            let forward = units
                .iter()
                .filter(|u| !matches!(u.key, UnitKey::Rollback(_)))
                .find(|u| u.status != UnitStatus::Done);
            match forward {
                Some(u) => (u, target_of(u.key)),
                None => {
                    return format!(
                        "nothing: the migration is complete (to undo it: {})",
                        command(Target::Rollback(3))
                    );
                }
            }
        }
    };
    let (u, target) = unit;
    match u.steps.iter().find(|s| s.in_doubt && s.operator_decides) {
        Some(s) => format!(
            "{} --retry-in-doubt {id}   (or --mark-done {id} once you have checked by hand that it took effect)",
            command(target),
            id = s.id
        ),
        None => command(target),
    }
}

fn target_of(key: UnitKey) -> Target {
    match key {
        UnitKey::Preflight => Target::Preflight,
        UnitKey::Phase(n) => Target::Phase(n),
        UnitKey::Verify => Target::Verify,
        UnitKey::Rollback(n) => Target::Rollback(n),
        UnitKey::Diagnose(s) => Target::Diagnose(Some(s)),
        UnitKey::Monitor => Target::Monitor,
    }
}

/// `--runbook` and `--state-dir` as this status was given them, so that the command shown
/// acts on the same runbook and state.
fn repeated_flags(settings: &Settings) -> String {
    let mut flags = String::new();
    if let RunbookSource::Disk { dir, root_file } = &settings.runbook {
        let path = dir.join(root_file).display().to_string();
        flags.push_str(&format!(" --runbook {}", quoted(&path)));
    }
    if let crate::state::location::StateLocation::S3 { .. } = &settings.state.location {
        flags.push_str(&format!(
            " --state {}",
            quoted(&settings.state.location.to_string())
        ));
    } else if settings.state_dir != std::path::Path::new(DEFAULT_STATE_DIR) {
        flags.push_str(&format!(
            " --state-dir {}",
            quoted(&settings.state_dir.display().to_string())
        ));
    }
    flags
}

fn quoted(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| word.to_owned(), |q| q.into_owned())
}
