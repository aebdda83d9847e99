//! The default state backend: a local directory (`.outpost-migrate/`) holding `state.json`,
//! `lock`, `audit.jsonl` and `backups/`, private to the user (checked at every use), files
//! created mode 0600 and never reached through a symbolic link.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::audit::AuditRecord;
use super::backups::{Backups, LocalBackups};
use super::files;
use super::lock::{LockGuard, LockInfo};
use super::model::State;
use super::process::{self, Liveness};
use super::store::{StateError, StateStore, Unlocked};

/// The largest `state.json` read: a real migration's state is a few hundred kilobytes.
pub const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// The largest `audit.jsonl` read back: a migration writes a few thousand lines.
pub const MAX_AUDIT_BYTES: u64 = 256 * 1024 * 1024;

pub struct LocalStore {
    dir: PathBuf,
    /// The serial of the state file as this process last read or wrote it, with the file's
    /// identity then: a save checks the serial with a `stat`, not by reading the file again.
    known: Mutex<Option<Known>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    serial: u64,
    stamp: Stamp,
}

/// What identifies one version of a file: any write or rename changes one of these (the
/// change time cannot be set back by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the lock file says.
enum LockFile {
    Free,
    Held(LockInfo),
    Unreadable(String),
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore {
            dir: dir.into(),
            known: Mutex::new(None),
        }
    }

    fn local_backups(&self) -> LocalBackups {
        LocalBackups::new(self.dir.join("backups"))
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        files::ensure_private_dir(&self.dir)
    }

    /// Checks the directory when it exists; `false` when it does not (nothing to read).
    fn existing_dir(&self) -> Result<bool, StateError> {
        match fs::symlink_metadata(&self.dir) {
            Ok(_) => files::check_private_dir(&self.dir).map(|()| true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StateError::Io {
                path: self.dir.clone(),
                source: e,
            }),
        }
    }

    fn read_lock_file(file: &mut File, path: &Path) -> Result<LockFile, StateError> {
        file.rewind().map_err(io(path))?;
        // A lock file is a few hundred bytes; a huge one is garbage, not something to load.
        let bytes = match files::read_capped(file, path, 64 * 1024) {
            Ok(b) => b,
            Err(StateError::TooLarge { size, .. }) => {
                return Ok(LockFile::Unreadable(format!("{size} bytes long")));
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        if text.trim().is_empty() {
            return Ok(LockFile::Free);
        }
        Ok(match serde_json::from_str(&text) {
            Ok(info) => LockFile::Held(info),
            Err(e) => LockFile::Unreadable(e.to_string()),
        })
    }

    fn open_lock(&self) -> Result<File, StateError> {
        files::open(
            &self.lock_path(),
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600),
        )
    }

    fn remember(&self, known: Option<Known>) {
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = known;
    }

    /// The serial stored now: the one remembered if the file is the version this process last
    /// read or wrote, else read again.
    fn stored_serial(&self) -> Result<u64, StateError> {
        let path = self.state_path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StateError::Io { path, source: e }),
        };
        let remembered = *self.known.lock().unwrap_or_else(|e| e.into_inner());
        match remembered {
            Some(k) if meta.file_type().is_file() && k.stamp == Stamp::of(&meta) => Ok(k.serial),
            _ => Ok(self.load()?.map_or(0, |s| s.serial)),
        }
    }
}

fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Whether the holder a lock file names may still be running, with the reason it is not.
fn holder_gone(info: &LockInfo) -> Option<&'static str> {
    match process::liveness(info.pid, info.process_start, info.boot_id.as_deref()) {
        Liveness::Alive => None,
        Liveness::Gone => Some("is gone"),
        Liveness::Reused => Some("is gone (its pid now belongs to another process)"),
    }
}

impl StateStore for LocalStore {
    fn load(&self) -> Result<Option<State>, StateError> {
        if !self.existing_dir()? {
            return Ok(None);
        }
        let path = self.state_path();
        let Some(file) = files::open_existing(&path)? else {
            self.remember(None);
            return Ok(None);
        };
        let stamp = Stamp::of(&file.metadata().map_err(io(&path))?);
        let bytes = files::read_capped(&file, &path, MAX_STATE_BYTES)?;
        let state = State::parse(&bytes, &path)?;
        self.remember(Some(Known {
            serial: state.serial,
            stamp,
        }));
        Ok(Some(state))
    }

    fn save(&self, state: &mut State) -> Result<(), StateError> {
        self.ensure_dir()?;
        let stored = self.stored_serial()?;
        if stored != state.serial {
            return Err(StateError::Stale {
                expected: state.serial,
                found: stored,
            });
        }
        let path = self.state_path();
        let next = state
            .serial
            .checked_add(1)
            .ok_or_else(|| StateError::Corrupt {
                path: path.clone(),
                message: format!("serial {} cannot be counted on from", state.serial),
            })?;
        let previous = (state.serial, state.updated_at);
        state.serial = next;
        state.updated_at = jiff::Timestamp::now();
        let written = self.write_state(state, &path);
        if written.is_err() {
            // Not saved: the next save must expect the serial still stored.
            (state.serial, state.updated_at) = previous;
        }
        written
    }

    fn lock(&self, info: LockInfo, warn: &mut dyn FnMut(String)) -> Result<LockGuard, StateError> {
        self.ensure_dir()?;
        let path = self.lock_path();
        let mut file = self.open_lock()?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = match Self::read_lock_file(&mut file, &path)? {
                    LockFile::Held(info) => info,
                    LockFile::Free | LockFile::Unreadable(_) => LockInfo {
                        id: "unknown".into(),
                        pid: 0,
                        host: "unknown".into(),
                        user: "unknown".into(),
                        command: "a run that is starting".into(),
                        started_at: jiff::Timestamp::now(),
                        process_start: None,
                        boot_id: None,
                        lease: None,
                    },
                };
                return Err(StateError::LockHeld(Box::new(holder)));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StateError::Io { path, source: e }),
        }
        match Self::read_lock_file(&mut file, &path)? {
            LockFile::Free => {}
            LockFile::Unreadable(message) => {
                // Whose it is cannot be told: the operator clears it with `unlock`.
                let _ = file.unlock();
                return Err(StateError::LockUnreadable { path, message });
            }
            LockFile::Held(previous) => {
                if previous.host != this_host() {
                    // Its process may be alive elsewhere (a shared directory): never break it.
                    let _ = file.unlock();
                    return Err(StateError::LockHeld(Box::new(previous)));
                }
                let Some(why) = holder_gone(&previous) else {
                    // Running, yet not holding the OS lock: not proof it is not a run (a copied
                    // directory, another lock implementation); never break it silently.
                    let _ = file.unlock();
                    return Err(StateError::LockHeld(Box::new(previous)));
                };
                warn(format!(
                    "reclaimed a stale lock: process {} ({}) on this host {why}; its run may have been interrupted",
                    previous.pid, previous.command
                ));
            }
        }
        let text = serde_json::to_string_pretty(&info).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        file.set_len(0).map_err(io(&path))?;
        file.rewind().map_err(io(&path))?;
        file.write_all(text.as_bytes()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        // Temporary files of writes a killed run never finished: nobody else writes while we
        // hold the lock, so they are garbage.
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".state.json.")
                {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(LockGuard::new(file))
    }

    fn unlock(&self, lock_id: Option<&str>) -> Result<Unlocked, StateError> {
        let path = self.lock_path();
        if !self.existing_dir()? || files::open_existing(&path)?.is_none() {
            return Err(StateError::NotLocked(self.dir.clone()));
        }
        let mut file = self.open_lock()?;
        let held = file.try_lock().is_err();
        let info = match Self::read_lock_file(&mut file, &path)? {
            LockFile::Free => return Err(StateError::NotLocked(self.dir.clone())),
            LockFile::Unreadable(_) if held => {
                return Err(StateError::UnreadableLockHeld { path });
            }
            LockFile::Unreadable(message) => {
                file.set_len(0).map_err(io(&path))?;
                file.sync_all().map_err(io(&path))?;
                return Ok(Unlocked::Unreadable(message));
            }
            LockFile::Held(info) => info,
        };
        let local = info.host == this_host();
        if held && local {
            return Err(StateError::LockAlive { pid: info.pid });
        }
        // Without --lock-id, only a lock whose process is known to be gone is removed.
        if lock_id.is_some_and(|id| id != info.id)
            || (lock_id.is_none() && (!local || holder_gone(&info).is_none()))
        {
            return Err(StateError::LockIdMismatch(Box::new(info)));
        }
        file.set_len(0).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        Ok(Unlocked::Lock(Box::new(info)))
    }

    fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        if !self.existing_dir()? {
            return Ok(None);
        }
        let path = self.lock_path();
        let Some(mut file) = files::open_existing(&path)? else {
            return Ok(None);
        };
        match Self::read_lock_file(&mut file, &path)? {
            LockFile::Free => Ok(None),
            LockFile::Held(info) => Ok(Some(info)),
            LockFile::Unreadable(message) => Err(StateError::LockUnreadable { path, message }),
        }
    }

    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        self.ensure_dir()?;
        let path = self.dir.join("audit.jsonl");
        let mut line = serde_json::to_vec(record).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        let mut file = files::open(
            &path,
            OpenOptions::new().append(true).create(true).mode(0o600),
        )?;
        // One write per line: appends of one line never interleave.
        // Not fsynced line by line: the state file is the durable record (fsynced at every
        // step); a crash of the process loses no line, only a crash of the machine might.
        file.write_all(&line).map_err(io(&path))
    }

    fn read_audit(&self) -> Result<Vec<AuditRecord>, StateError> {
        if !self.existing_dir()? {
            return Ok(Vec::new());
        }
        let path = self.dir.join("audit.jsonl");
        let Some(file) = files::open_existing(&path)? else {
            return Ok(Vec::new());
        };
        let bytes = files::read_capped(&file, &path, MAX_AUDIT_BYTES)?;
        String::from_utf8_lossy(&bytes)
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    message: format!("line {}: {e}", i + 1),
                })
            })
            .collect()
    }

    fn backups(&self) -> std::sync::Arc<dyn Backups> {
        std::sync::Arc::new(self.local_backups())
    }

    fn check_writable(&self) -> Result<(), StateError> {
        self.ensure_dir()?;
        for name in ["state.json", "lock", "audit.jsonl"] {
            files::refuse_link(&self.dir.join(name))?;
        }
        files::ensure_backup_dir(self.local_backups().dir())?;
        let probe = tempfile::Builder::new()
            .prefix(".probe.")
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir))?;
        // Real bytes, not a sparse length: a full disk must say so now, not mid-run.
        probe
            .as_file()
            .write_all(&[0u8; 4096])
            .map_err(io(&self.dir))?;
        probe.as_file().sync_all().map_err(io(&self.dir))?;
        Ok(())
    }
}

impl LocalStore {
    /// Temp file in the same directory, fsync, rename over, fsync the directory: a crash
    /// leaves either the old file or the new one, never a torn one. The rename replaces a
    /// link there rather than following it.
    fn write_state(&self, state: &State, path: &Path) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".state.json.")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir))?;
        tmp.write_all(&bytes).map_err(io(path))?;
        tmp.write_all(b"\n").map_err(io(path))?;
        tmp.as_file().sync_all().map_err(io(path))?;
        tmp.persist(path).map_err(|e| StateError::Io {
            path: path.to_path_buf(),
            source: e.error,
        })?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        // The rename may change the file's change time: stamp it as it now is.
        let meta = fs::symlink_metadata(path).map_err(io(path))?;
        self.remember(Some(Known {
            serial: state.serial,
            stamp: Stamp::of(&meta),
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_refuses_stale_serial_and_roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("s"));
        let mut a = State::new("rb");
        store.save(&mut a).unwrap();
        let mut stale = State::new("rb");
        assert!(matches!(
            store.save(&mut stale),
            Err(StateError::Stale {
                expected: 0,
                found: 1
            })
        ));
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.serial, 1);
        let mode = fs::metadata(dir.path().join("s/state.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_save_checks_the_serial_it_remembers_and_sees_an_outside_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("s"));
        let mut state = State::new("rb");
        store.save(&mut state).unwrap();
        store.save(&mut state).unwrap();
        // What the next save compares with is in memory, stamped with the file as written:
        // checking it costs a stat, not a read of the whole file.
        let path = dir.path().join("s/state.json");
        let known = store.known.lock().unwrap().unwrap();
        assert_eq!(known.serial, 2);
        assert_eq!(
            known.stamp,
            Stamp::of(&fs::symlink_metadata(&path).unwrap())
        );
        // Another writer's version of the file has another stamp, so it is read and refused.
        let mut theirs = state.clone();
        theirs.serial = 7;
        fs::write(&path, serde_json::to_vec(&theirs).unwrap()).unwrap();
        assert!(matches!(
            store.save(&mut state),
            Err(StateError::Stale {
                expected: 2,
                found: 7
            })
        ));
        assert_eq!(
            state.serial, 2,
            "a refused save leaves the serial as it was"
        );
    }

    #[test]
    fn a_serial_that_cannot_be_counted_on_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut state = State::new("rb");
        state.serial = u64::MAX;
        fs::write(
            dir.path().join("state.json"),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("serial 18446744073709551615 is beyond"),
            "{err}"
        );
        assert!(matches!(
            store.save(&mut state),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn old_format_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("state.json"),
            r#"{"format": 99, "serial": 1}"#,
        )
        .unwrap();
        let err = LocalStore::new(dir.path()).load().unwrap_err();
        assert!(err.to_string().contains("has format 99"), "{err}");
    }
}
