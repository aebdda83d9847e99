//! Who holds the run lock, and the guard that releases it.

use std::fs::File;
use std::io::{Seek, Write};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::process;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub user: String,
    pub command: String,
    pub started_at: Timestamp,
    /// The process's start time (clock ticks since boot): with the pid, it tells the holder
    /// from a later process that got the same pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
    /// The boot the holder ran in: after a reboot, no holder is alive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// A lock shared across machines (S3) is a lease: its holder renews it every so often;
    /// one not renewed for its whole term is stale (see [`LockInfo::lease_expired`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// When a lease was last renewed, and for how long a renewal holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    pub renewed_at: Timestamp,
    pub term_seconds: u64,
}

impl LockInfo {
    pub fn new(command: &str, user: &str, host: &str) -> Self {
        let pid = std::process::id();
        let started_at = Timestamp::now();
        LockInfo {
            id: format!("{host}-{pid}-{}", started_at.as_millisecond()),
            pid,
            host: host.to_owned(),
            user: user.to_owned(),
            command: command.to_owned(),
            started_at,
            process_start: process::own_start_time(),
            boot_id: process::boot_id(),
            lease: None,
        }
    }

    /// How long ago a lease ran out without being renewed; `None` while it holds (or for a
    /// lock without a lease).
    pub fn lease_expired(&self, now: Timestamp) -> Option<std::time::Duration> {
        let lease = self.lease.as_ref()?;
        let idle = now.duration_since(lease.renewed_at);
        let idle = std::time::Duration::try_from(idle).unwrap_or_default();
        (idle > std::time::Duration::from_secs(lease.term_seconds)).then_some(idle)
    }
}

impl LockInfo {
    /// Whether the run holding the lock is still running, as far as this host can tell: a
    /// holder on another host is taken to be (its process cannot be looked at from here).
    pub fn holder_alive(&self, this_host: &str) -> bool {
        if self.lease_expired(Timestamp::now()).is_some() {
            return false;
        }
        self.host != this_host
            || process::liveness(self.pid, self.process_start, self.boot_id.as_deref())
                == process::Liveness::Alive
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` run by {} on {} (pid {}) since {} [lock id {}]",
            self.command, self.user, self.host, self.pid, self.started_at, self.id
        )?;
        match &self.lease {
            Some(l) => write!(
                f,
                " (lease of {}s, last renewed {})",
                l.term_seconds, l.renewed_at
            ),
            None => Ok(()),
        }
    }
}

/// Holds the run lock until dropped. Locally it holds the OS lock on the lock file; dropping
/// it empties the file (an empty lock file is a free lock; the file is never deleted, so two
/// runs can never lock different inodes). A remote backend gives what releases its lock.
pub struct LockGuard {
    file: Option<File>,
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("file", &self.file)
            .field("remote", &self.release.is_some())
            .finish()
    }
}

impl LockGuard {
    pub fn new(file: File) -> Self {
        LockGuard {
            file: Some(file),
            release: None,
        }
    }

    /// A lock held elsewhere: `release` runs once, when the guard is dropped.
    pub fn remote(release: impl FnOnce() + Send + 'static) -> Self {
        LockGuard {
            file: None,
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
        if let Some(mut file) = self.file.take() {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = file.flush();
            let _ = file.sync_all();
            let _ = file.unlock();
        }
    }
}
