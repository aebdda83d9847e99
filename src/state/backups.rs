//! Where `file` steps keep the backups rollback restores: named blobs in the state backend,
//! so that whoever shares the state can restore them. Locally, `backups/` in the state
//! directory (0700, files 0600, never reached through a link); on S3, `backups/` under the
//! state's prefix.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::files;
use super::store::StateError;

/// The largest backup kept: `file` steps edit config files, not data.
pub const MAX_BACKUP_BYTES: u64 = 64 * 1024 * 1024;

pub trait Backups: Send + Sync {
    /// The backup `name`, or `None` when none was taken.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Writes the backup `name` whole: a crash leaves the old one or the new, never a torn one.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StateError>;
    /// Where the backup `name` is, as step output and messages name it.
    fn locate(&self, name: &str) -> String;
}

/// `backups/` of a local state directory.
pub struct LocalBackups {
    dir: PathBuf,
}

impl LocalBackups {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalBackups { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Backups for LocalBackups {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.dir.join(name);
        match files::open_existing(&path)? {
            Some(file) => files::read_capped(&file, &path, MAX_BACKUP_BYTES).map(Some),
            None => Ok(None),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        files::ensure_backup_dir(&self.dir)?;
        let path = self.dir.join(name);
        files::refuse_link(&path)?;
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        // Created 0600 by tempfile, in the directory itself, then renamed over the name.
        let mut tmp = tempfile::Builder::new()
            .prefix(".outpost-migrate.")
            .tempfile_in(&self.dir)
            .map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }

    fn locate(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_written_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let backups = LocalBackups::new(dir.path().join("backups"));
        assert_eq!(backups.read("step").unwrap(), None);
        backups.write("step", b"original").unwrap();
        assert_eq!(backups.read("step").unwrap().unwrap(), b"original");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("backups")), 0o700);
        assert_eq!(mode(&dir.path().join("backups/step")), 0o600);
        assert!(backups.locate("step").ends_with("backups/step"));
    }
}
