//! Where runbook files come from: the copy embedded in the binary, or a directory on disk.

use std::path::{Path, PathBuf};

/// The repo's runbook, compiled in so the binary works from anywhere.
const EMBEDDED: &[(&str, &str)] = &[
    ("runbook.yaml", include_str!("../../runbook.yaml")),
    (
        "checks/preflight.yaml",
        include_str!("../../checks/preflight.yaml"),
    ),
    (
        "checks/post-verify.yaml",
        include_str!("../../checks/post-verify.yaml"),
    ),
    ("phases/1-alb.yaml", include_str!("../../phases/1-alb.yaml")),
    ("phases/2-dns.yaml", include_str!("../../phases/2-dns.yaml")),
    (
        "phases/3-mcpify-http.yaml",
        include_str!("../../phases/3-mcpify-http.yaml"),
    ),
    (
        "phases/4-disable-ssm.yaml",
        include_str!("../../phases/4-disable-ssm.yaml"),
    ),
    (
        "phases/5-verify-tools.yaml",
        include_str!("../../phases/5-verify-tools.yaml"),
    ),
    (
        "phases/rollback-1-mcpify.yaml",
        include_str!("../../phases/rollback-1-mcpify.yaml"),
    ),
    (
        "phases/rollback-2-dns.yaml",
        include_str!("../../phases/rollback-2-dns.yaml"),
    ),
    (
        "phases/rollback-3-infrastructure.yaml",
        include_str!("../../phases/rollback-3-infrastructure.yaml"),
    ),
    (
        "checks/diagnose-control-plane.yaml",
        include_str!("../../checks/diagnose-control-plane.yaml"),
    ),
    (
        "checks/diagnose-dispatch-pending.yaml",
        include_str!("../../checks/diagnose-dispatch-pending.yaml"),
    ),
    (
        "checks/diagnose-agent.yaml",
        include_str!("../../checks/diagnose-agent.yaml"),
    ),
    (
        "checks/diagnose-auth.yaml",
        include_str!("../../checks/diagnose-auth.yaml"),
    ),
    (
        "checks/diagnose-artifacts.yaml",
        include_str!("../../checks/diagnose-artifacts.yaml"),
    ),
    (
        "checks/monitor.yaml",
        include_str!("../../checks/monitor.yaml"),
    ),
];

/// The runbook files compiled into the binary, by path.
pub fn embedded_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED.iter().copied()
}

/// A runbook's fingerprint: SHA-256 (hex) over its files in path order, each as its path
/// relative to the runbook's root, its length and its text. The same files give the same
/// hash wherever they lie, embedded or on disk.
pub fn digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    use sha2::{Digest, Sha256};
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort_unstable();
    let mut hash = Sha256::new();
    for (path, text) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The embedded runbook's `name` and fingerprint, without loading it (for `--version`).
pub fn embedded_identity() -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let name = EMBEDDED
        .iter()
        .find(|(path, _)| *path == "runbook.yaml")
        .and_then(|(_, text)| serde_saphyr::from_str::<Named>(text).ok())
        .map_or_else(|| "unnamed".to_owned(), |n| n.name);
    (name, digest(embedded_files()))
}

/// One runbook file's text, with the name errors show for it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Why a runbook file could not be read.
#[derive(Debug)]
pub enum ReadFailure {
    Missing,
    NotUtf8 { line: usize, col: usize },
    Io(String),
}

/// The root a runbook's relative file references are resolved against.
#[derive(Debug, Clone)]
pub enum RunbookSource {
    Embedded,
    Disk {
        dir: PathBuf,
        root_file: String,
    },
    /// Files held in memory, by path relative to the root `runbook.yaml` (the fuzz target).
    Memory(Vec<(String, Vec<u8>)>),
}

impl RunbookSource {
    /// `--runbook PATH`: a directory holding `runbook.yaml`, or the top file itself.
    pub fn from_path(path: &Path) -> Self {
        if path.is_dir() {
            RunbookSource::Disk {
                dir: path.to_path_buf(),
                root_file: "runbook.yaml".into(),
            }
        } else {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let root_file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "runbook.yaml".into());
            RunbookSource::Disk { dir, root_file }
        }
    }

    /// A file's name as `read` gave it, relative to the runbook's root again (for `digest`).
    pub fn relative<'a>(&self, name: &'a str) -> &'a str {
        match self {
            RunbookSource::Disk { dir, .. } => Path::new(name)
                .strip_prefix(dir)
                .ok()
                .and_then(Path::to_str)
                .unwrap_or(name),
            RunbookSource::Embedded | RunbookSource::Memory(_) => name,
        }
    }

    pub fn root_file(&self) -> &str {
        match self {
            RunbookSource::Embedded | RunbookSource::Memory(_) => "runbook.yaml",
            RunbookSource::Disk { root_file, .. } => root_file,
        }
    }

    /// A label for messages: where the runbook was loaded from.
    pub fn describe(&self) -> String {
        match self {
            RunbookSource::Embedded => "embedded runbook".into(),
            RunbookSource::Disk { dir, root_file } => dir.join(root_file).display().to_string(),
            RunbookSource::Memory(_) => "runbook in memory".into(),
        }
    }

    /// Reads `rel` (a path relative to the runbook root). The name kept for errors is the path
    /// as the operator would open it.
    pub fn read(&self, rel: &str) -> Result<SourceFile, (String, ReadFailure)> {
        match self {
            RunbookSource::Embedded => EMBEDDED
                .iter()
                .find(|(name, _)| *name == rel)
                .map(|(name, text)| SourceFile {
                    name: (*name).into(),
                    text: (*text).into(),
                })
                .ok_or_else(|| (rel.to_string(), ReadFailure::Missing)),
            RunbookSource::Disk { dir, .. } => {
                let path = dir.join(rel);
                let name = path.display().to_string();
                let bytes = match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err((name, ReadFailure::Missing));
                    }
                    Err(e) => return Err((name, ReadFailure::Io(e.to_string()))),
                };
                text(name, bytes)
            }
            RunbookSource::Memory(files) => match files.iter().find(|(n, _)| n == rel) {
                Some((name, bytes)) => text(name.clone(), bytes.clone()),
                None => Err((rel.to_owned(), ReadFailure::Missing)),
            },
        }
    }
}

/// A file's bytes as text, or where its first byte that is not UTF-8 stands.
fn text(name: String, bytes: Vec<u8>) -> Result<SourceFile, (String, ReadFailure)> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile { name, text }),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            let col = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            Err((name, ReadFailure::NotUtf8 { line, col }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_memory_load_like_files_on_disk() {
        let files: Vec<(String, Vec<u8>)> = embedded_files()
            .map(|(n, t)| (n.to_owned(), t.as_bytes().to_vec()))
            .collect();
        assert!(crate::runbook::load(&RunbookSource::Memory(files.clone())).is_ok());
        let mut broken = files;
        broken[0].1 = b"format: [1\n".to_vec();
        let diags = crate::runbook::load(&RunbookSource::Memory(broken)).unwrap_err();
        assert_eq!(diags[0].file, "runbook.yaml");
        assert!(
            diags[0].message.starts_with("invalid YAML"),
            "{}",
            diags[0].message
        );
    }
}
