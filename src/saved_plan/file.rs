//! Reading and writing a saved plan. It is written whole or not at all (a temporary file in
//! the same directory, synced, then renamed over FILE), readable by its owner only (0600);
//! a file that is not a saved plan this build reads is an error naming the path.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;

use super::{FORMAT, SavedPlan, VERSION};
use crate::error::Error;

/// A file larger than this is refused without being read whole: no saved plan is near it.
const MAX_BYTES: u64 = 64 << 20;

/// Writes `plan` to `path` atomically, mode 0600. On any failure (or a kill) `path` is left
/// as it was; the temporary file is removed when it can be.
pub fn write(path: &Path, plan: &SavedPlan) -> Result<(), Error> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::Setup(format!("cannot write the plan to {}: {e}", path.display()))
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut text = serde_json::to_string_pretty(plan).map_err(|e| failed(&e))?;
    text.push('\n');
    // tempfile creates it 0600, so the plan is never readable by others, even for a moment.
    let mut tmp = tempfile::Builder::new()
        .prefix(".outpost-migrate-plan-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| failed(&e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| failed(&e))?;
    tmp.as_file().sync_all().map_err(|e| failed(&e))?;
    tmp.persist(path).map_err(|e| failed(&e.error))?;
    // The rename is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a saved plan: an unreadable file, one that is not JSON, not a saved plan, or of
/// another format version is a usage error (exit 2) naming the path.
pub fn read(path: &Path) -> Result<SavedPlan, Error> {
    let bad = |why: String| Error::Usage(format!("--plan {}: {why}", path.display()));
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(bad(format!(
            "larger than {} MiB, which no saved plan is",
            MAX_BYTES >> 20
        )));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a saved plan: not JSON ({e}); write one with `outpost-migrate plan TARGET --out FILE`"
        ))
    })?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "not a saved plan (no `\"format\": \"{FORMAT}\"`); write one with `outpost-migrate plan TARGET --out FILE`"
        )));
    }
    match value.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        other => {
            let found = other.map_or_else(|| "none".to_owned(), |v| v.to_string());
            return Err(bad(format!(
                "saved plan format version {found}, but this outpost-migrate reads version {VERSION}; make the plan again with this build"
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| bad(format!("not a valid saved plan: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saved_plan::Created;

    fn plan() -> SavedPlan {
        SavedPlan {
            format: FORMAT.into(),
            version: VERSION,
            runbook: "rb".into(),
            runbook_hash: "abc".into(),
            target: "phase 1".into(),
            account: None,
            region: None,
            state_serial: 3,
            overrides: Vec::new(),
            vars: Default::default(),
            steps: Vec::new(),
            created: Created {
                at: "now".into(),
                by: "me@host".into(),
                tool_version: "0".into(),
            },
        }
    }

    #[test]
    fn a_written_plan_reads_back_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write(&path, &plan()).unwrap();
        assert_eq!(read(&path).unwrap(), plan());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left");
    }

    #[test]
    fn a_failed_write_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("plan.json");
        let e = write(&path, &plan()).unwrap_err();
        assert!(e.to_string().contains("missing-dir"), "{e}");
        assert!(!path.exists());
    }
}
