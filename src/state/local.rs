//! The default state backend: a local directory (`.outpost-migrate/`) holding `state.json`,
//! `lock` and `audit.jsonl`, all created mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::audit::AuditRecord;
use super::lock::{LockGuard, LockInfo};
use super::model::{STATE_FORMAT, State};
use super::store::{StateError, StateStore};

pub struct LocalStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore { dir: dir.into() }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(io(&self.dir))?;
        }
        Ok(())
    }

    fn read_lock_file(file: &mut File, path: &Path) -> Result<Option<LockInfo>, StateError> {
        let mut text = String::new();
        file.rewind().map_err(io(path))?;
        file.read_to_string(&mut text).map_err(io(path))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }

    fn open_lock(&self) -> Result<File, StateError> {
        let path = self.lock_path();
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))
    }
}

fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

impl StateStore for LocalStore {
    fn load(&self) -> Result<Option<State>, StateError> {
        let path = self.state_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Io { path, source: e }),
        };
        let raw: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let found = raw
            .get("format")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found != u64::from(STATE_FORMAT) {
            return Err(StateError::UnsupportedFormat {
                path,
                found,
                supported: STATE_FORMAT,
            });
        }
        serde_json::from_value(raw)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path,
                message: e.to_string(),
            })
    }

    fn save(&self, state: &mut State) -> Result<(), StateError> {
        self.ensure_dir()?;
        let stored = self.load()?.map_or(0, |s| s.serial);
        if stored != state.serial {
            return Err(StateError::Stale {
                expected: state.serial,
                found: stored,
            });
        }
        state.serial += 1;
        state.updated_at = jiff::Timestamp::now();
        let path = self.state_path();
        let bytes = serde_json::to_vec_pretty(&*state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        // Temp file in the same directory, fsync, rename over, fsync the directory: a crash
        // leaves either the old file or the new one, never a torn one.
        let mut tmp = tempfile::Builder::new()
            .prefix(".state.json.")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir))?;
        tmp.write_all(&bytes).map_err(io(&path))?;
        tmp.write_all(b"\n").map_err(io(&path))?;
        tmp.as_file().sync_all().map_err(io(&path))?;
        tmp.persist(&path).map_err(|e| StateError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }

    fn lock(&self, info: LockInfo, warn: &mut dyn FnMut(String)) -> Result<LockGuard, StateError> {
        self.ensure_dir()?;
        let path = self.lock_path();
        let mut file = self.open_lock()?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = Self::read_lock_file(&mut file, &path)?.unwrap_or_else(|| LockInfo {
                    id: "unknown".into(),
                    pid: 0,
                    host: "unknown".into(),
                    user: "unknown".into(),
                    command: "a run that is starting".into(),
                    started_at: jiff::Timestamp::now(),
                });
                return Err(StateError::LockHeld(Box::new(holder)));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StateError::Io { path, source: e }),
        }
        if let Some(previous) = Self::read_lock_file(&mut file, &path)? {
            if previous.host != this_host() {
                // Its process may be alive elsewhere (a shared directory): never break it.
                let _ = file.unlock();
                return Err(StateError::LockHeld(Box::new(previous)));
            }
            warn(format!(
                "reclaimed a stale lock: process {} ({}) on this host is gone; its run may have been interrupted",
                previous.pid, previous.command
            ));
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

    fn unlock(&self, lock_id: Option<&str>) -> Result<LockInfo, StateError> {
        let path = self.lock_path();
        if !path.exists() {
            return Err(StateError::NotLocked(self.dir.clone()));
        }
        let mut file = self.open_lock()?;
        let held = file.try_lock().is_err();
        let Some(info) = Self::read_lock_file(&mut file, &path)? else {
            return Err(StateError::NotLocked(self.dir.clone()));
        };
        if held && info.host == this_host() {
            return Err(StateError::LockAlive { pid: info.pid });
        }
        if lock_id.is_some_and(|id| id != info.id)
            || (lock_id.is_none() && info.host != this_host())
        {
            return Err(StateError::LockIdMismatch(Box::new(info)));
        }
        file.set_len(0).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        Ok(info)
    }

    fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        if !path.exists() {
            return Ok(None);
        }
        let mut file = File::open(&path).map_err(io(&path))?;
        Self::read_lock_file(&mut file, &path)
    }

    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        self.ensure_dir()?;
        let path = self.dir.join("audit.jsonl");
        let mut line = serde_json::to_vec(record).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        // One write per line: appends of one line never interleave.
        // Not fsynced line by line: the state file is the durable record (fsynced at every
        // step); a crash of the process loses no line, only a crash of the machine might.
        file.write_all(&line).map_err(io(&path))
    }

    fn backup_dir(&self) -> PathBuf {
        self.dir.join("backups")
    }

    fn check_writable(&self) -> Result<(), StateError> {
        self.ensure_dir()?;
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
