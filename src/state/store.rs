//! The interface every state backend implements: the local directory (`local.rs`) and the
//! team backend on S3 (`s3.rs`). Whole-object writes and a serial that refuses stale writers.

use std::path::PathBuf;

use super::audit::AuditRecord;
use super::backups::Backups;
use super::lock::{LockGuard, LockInfo};
use super::model::State;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("failed to access the state at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state file {path} is not valid: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "the state file {path} has format {found}; this outpost-migrate reads format {supported}"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("the state changed underneath this run (expected serial {expected}, found {found})")]
    Stale { expected: u64, found: u64 },
    #[error("the state directory is locked by another run: {0}")]
    LockHeld(Box<LockInfo>),
    #[error("no lock is held in {0}")]
    NotLocked(PathBuf),
    #[error("the lock id does not match: the lock is {0}")]
    LockIdMismatch(Box<LockInfo>),
    #[error(
        "the lock is held by the running process {pid} on this host; it cannot be removed while that run is alive"
    )]
    LockAlive { pid: u32 },
    #[error(
        "the lock file {path} cannot be read ({message}); if no run is going, `outpost-migrate unlock` clears it"
    )]
    LockUnreadable { path: PathBuf, message: String },
    #[error(
        "the lock file {path} cannot be read and a running process holds it; wait for that run to finish"
    )]
    UnreadableLockHeld { path: PathBuf },
    #[error("refused to use {path}: {problem}. Hint: {hint}")]
    Unsafe {
        path: PathBuf,
        problem: String,
        hint: String,
    },
    #[error(
        "{path} is {size} bytes, more than the {max} it may be: it was damaged, or is not what outpost-migrate wrote"
    )]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// A remote backend cannot be used at all (credentials, bucket, network): a set-up
    /// problem (exit 3), not a refusal.
    #[error("cannot use the state at {url}: {problem}. Hint: {hint}")]
    Unreachable {
        url: String,
        problem: String,
        hint: String,
    },
    #[error(
        "the lock is held by {holder}, whose lease ran out {idle} ago without being renewed: that run may be gone, or cut off. It is never broken automatically: make sure it is not running, then `outpost-migrate unlock --lock-id {}`", holder.id
    )]
    LeaseExpired { holder: Box<LockInfo>, idle: String },
    #[error(
        "the lock is held by {0}, and its lease is being renewed: that run is alive; wait for it to finish"
    )]
    LeaseLive(Box<LockInfo>),
    #[error(
        "the lock at {url} changed while it was being removed (another run took or renewed it): nothing was removed; see `outpost-migrate status`"
    )]
    LockChanged { url: String },
    #[error(
        "this run's lock at {url} was removed or taken over by someone else (its lease could not be renewed): it stops here; see `outpost-migrate status`"
    )]
    LockLost { url: String },
}

/// What `unlock` removed.
#[derive(Debug)]
pub enum Unlocked {
    Lock(Box<LockInfo>),
    /// A lock file that could not be read, with why; no process held it.
    Unreadable(String),
}

pub trait StateStore: Send + Sync {
    fn load(&self) -> Result<Option<State>, StateError>;
    /// Writes the whole state if the stored serial is still `state.serial`, then bumps it.
    fn save(&self, state: &mut State) -> Result<(), StateError>;
    /// Takes the run lock, or says who holds it. `warn` hears about reclaimed stale locks.
    fn lock(&self, info: LockInfo, warn: &mut dyn FnMut(String)) -> Result<LockGuard, StateError>;
    /// Removes a lock left behind; `lock_id` must match when given. A lock file that cannot
    /// be read is removed when no process holds it.
    fn unlock(&self, lock_id: Option<&str>) -> Result<Unlocked, StateError>;
    fn lock_info(&self) -> Result<Option<LockInfo>, StateError>;
    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError>;
    /// Every audit line so far, oldest first (none when there is no log yet).
    fn read_audit(&self) -> Result<Vec<AuditRecord>, StateError>;
    /// Where `file` steps keep the backups rollback restores, in this backend.
    fn backups(&self) -> std::sync::Arc<dyn Backups>;
    /// Fails unless the store can be written (checked before anything runs).
    fn check_writable(&self) -> Result<(), StateError>;
}
