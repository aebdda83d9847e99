//! `unlock`: remove a lock left behind by a run that is gone.

use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::settings::Settings;
use crate::state::{StateError, Unlocked};

pub fn run(settings: &Settings, term: &Terminal, lock_id: Option<&str>) -> Result<i32, Error> {
    let store = settings.state_store();
    match store.unlock(lock_id) {
        Ok(Unlocked::Lock(info)) => {
            term.out(&format!("removed the lock of {info}"));
            Ok(exit_codes::SUCCESS)
        }
        Ok(Unlocked::Unreadable(why)) => {
            term.out(&format!(
                "removed an unreadable lock file ({why}); no process held it"
            ));
            Ok(exit_codes::SUCCESS)
        }
        Err(StateError::NotLocked(dir)) => {
            term.out(&format!("no lock is held in {}", dir.display()));
            Ok(exit_codes::SUCCESS)
        }
        Err(StateError::LockIdMismatch(info)) => Err(Error::Refused(format!(
            "the lock is {info}; pass --lock-id {} to remove it (make sure that run is really gone)",
            info.id
        ))),
        Err(e) => Err(e.into()),
    }
}
