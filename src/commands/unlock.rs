//! `unlock`: remove a lock left behind by a run that is gone.

use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::settings::{OutputFormat, Settings};
use crate::state::{StateError, Unlocked};

pub fn run(settings: &Settings, term: &Terminal, lock_id: Option<&str>) -> Result<i32, Error> {
    let store = settings.state_store();
    let (removed, said) = match store.unlock(lock_id) {
        Ok(Unlocked::Lock(info)) => (true, format!("removed the lock of {info}")),
        Ok(Unlocked::Unreadable(why)) => (
            true,
            format!("removed an unreadable lock file ({why}); no process held it"),
        ),
        Err(StateError::NotLocked(dir)) => (false, format!("no lock is held in {}", dir.display())),
        Err(StateError::LockIdMismatch(info)) => {
            return Err(Error::Refused(format!(
                "the lock is {info}; pass --lock-id {} to remove it (make sure that run is really gone)",
                info.id
            )));
        }
        Err(e) => return Err(e.into()),
    };
    match settings.output {
        OutputFormat::Human => term.out(&said),
        OutputFormat::Json => term.out(&super::json_line(&serde_json::json!({
            "removed": removed,
            "message": said,
        }))),
        OutputFormat::Junit => super::junit_out(
            term,
            "unlock",
            vec![super::Case::passed(said).property("removed", removed)],
        ),
    }
    Ok(exit_codes::SUCCESS)
}
