//! How the state directory and its files are opened: the directory must be the user's own and
//! private, and no file in it is ever reached through a symbolic link.
//!
//! The tool runs with production credentials; a directory someone else can write lets them
//! forge the state (steps "done"), the backups rollback restores, or point `audit.jsonl` at a
//! file of their choosing that we would then append to.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::store::StateError;

/// Why the state directory, or a file in it, is not used.
fn unsafe_path(path: &Path, problem: String, hint: String) -> StateError {
    StateError::Unsafe {
        path: path.to_path_buf(),
        problem,
        hint,
    }
}

fn io(path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a directory owned by another user or writable by group or others.
pub fn check_private_dir(dir: &Path) -> Result<(), StateError> {
    let meta = fs::metadata(dir).map_err(|e| io(dir, e))?;
    if !meta.is_dir() {
        return Err(unsafe_path(
            dir,
            "it is not a directory".into(),
            "pass --state-dir a directory (it is created if missing)".into(),
        ));
    }
    let me = effective_uid();
    if meta.uid() != me {
        return Err(unsafe_path(
            dir,
            format!(
                "it is owned by uid {}, not by you (uid {me}); its owner could forge the state and the backups rollback restores",
                meta.uid()
            ),
            format!(
                "use a state directory of your own, or take this one over with `chown -R {me} {}`",
                dir.display()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_path(
            dir,
            format!(
                "it is writable by {} (mode {:o}); others could forge the state and the backups rollback restores",
                match meta.mode() & 0o022 {
                    0o020 => "its group",
                    0o002 => "others",
                    _ => "its group and others",
                },
                meta.mode() & 0o7777
            ),
            format!("run `chmod go-w {}`", dir.display()),
        ));
    }
    Ok(())
}

/// Creates `dir` (and missing parents) private to the user, or checks the one there.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StateError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The mode is applied at creation (masked by the umask, which can only remove
            // bits), so the directory is never briefly open to others.
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io(dir, e))?;
        }
        Err(e) => return Err(io(dir, e)),
    }
    check_private_dir(dir)
}

/// Creates `backups/` inside the state directory mode 0700 whatever the umask, or makes the
/// one there 0700; a symbolic link there is refused.
pub fn ensure_backup_dir(dir: &Path) -> Result<(), StateError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(symlink(dir)),
        Ok(meta) if !meta.is_dir() => Err(unsafe_path(
            dir,
            "it is not a directory".into(),
            "move it out of the state directory".into(),
        )),
        Ok(meta) if meta.uid() != effective_uid() => Err(unsafe_path(
            dir,
            format!("it is owned by uid {}, not by you", meta.uid()),
            "move it out of the way, or `chown -R` it to yourself".into(),
        )),
        Ok(_) => {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io(dir, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|e| io(dir, e))?;
            // The umask cannot add bits, but say 0700 explicitly rather than rely on it.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io(dir, e))
        }
        Err(e) => Err(io(dir, e)),
    }
}

/// Refuses a link (symbolic or hard) at `path` up front, so that a run stops before its first
/// step rather than at its first write ([`open`] refuses it again at the write itself).
pub fn refuse_link(path: &Path) -> Result<(), StateError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(symlink(path)),
        Ok(meta) if meta.nlink() > 1 && !meta.is_dir() => Err(hard_link(path, meta.nlink())),
        _ => Ok(()),
    }
}

fn hard_link(path: &Path, names: u64) -> StateError {
    unsafe_path(
        path,
        format!("it has {names} names (hard links); a write to it would change another file"),
        format!("remove it (`rm {}`) and run again", path.display()),
    )
}

fn symlink(path: &Path) -> StateError {
    unsafe_path(
        path,
        "it is a symbolic link; files of the state directory are never reached through links, which could point a write at any file".into(),
        format!(
            "remove the link (`rm {}`) and run again",
            path.display()
        ),
    )
}

/// Opens a file of the state directory without following a symbolic link in its last
/// component (`O_NOFOLLOW`), and refuses anything but a regular file.
pub fn open(path: &Path, options: &mut OpenOptions) -> Result<File, StateError> {
    // O_NONBLOCK: opening a FIFO planted there must fail later, not hang; it has no effect on
    // regular files.
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                symlink(path)
            } else {
                io(path, e)
            }
        })?;
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if !meta.is_file() {
        return Err(unsafe_path(
            path,
            "it is not a regular file".into(),
            "move it out of the state directory".into(),
        ));
    }
    // Every file the tool writes here has one name; a second is a hard link planted to make a
    // write land in another file, as a symbolic link would.
    if meta.nlink() > 1 {
        return Err(hard_link(path, meta.nlink()));
    }
    Ok(file)
}

/// Opens an existing file of the state directory for reading (see [`open`]); `None` when it
/// does not exist.
pub fn open_existing(path: &Path) -> Result<Option<File>, StateError> {
    match open(path, OpenOptions::new().read(true)) {
        Ok(f) => Ok(Some(f)),
        Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads at most `max` bytes of `file`; a longer file is refused without reading it all.
pub fn read_capped(file: &File, path: &Path, max: u64) -> Result<Vec<u8>, StateError> {
    let size = file.metadata().map_err(|e| io(path, e))?.len();
    if size > max {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
            size,
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow between the stat and the read: never read past the cap.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_writable_directory_is_refused_with_a_chmod_hint() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o770)).unwrap();
        let err = check_private_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("writable by its group"), "{err}");
        assert!(err.contains("chmod go-w"), "{err}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        check_private_dir(dir.path()).unwrap();
    }

    #[test]
    fn a_symlink_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("target"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("link")).unwrap();
        let err = open_existing(&dir.path().join("link")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_hard_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("target"), "x").unwrap();
        fs::hard_link(dir.path().join("target"), dir.path().join("link")).unwrap();
        let err = open(&dir.path().join("link"), OpenOptions::new().append(true)).unwrap_err();
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(fs::read_to_string(dir.path().join("target")).unwrap(), "x");
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, [b'x'; 11]).unwrap();
        let file = open_existing(&path).unwrap().unwrap();
        assert!(matches!(
            read_capped(&file, &path, 10),
            Err(StateError::TooLarge {
                size: 11,
                max: 10,
                ..
            })
        ));
        assert_eq!(read_capped(&file, &path, 11).unwrap().len(), 11);
    }
}
