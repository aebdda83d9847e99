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
];

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
    Disk { dir: PathBuf, root_file: String },
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

    pub fn root_file(&self) -> &str {
        match self {
            RunbookSource::Embedded => "runbook.yaml",
            RunbookSource::Disk { root_file, .. } => root_file,
        }
    }

    /// A label for messages: where the runbook was loaded from.
    pub fn describe(&self) -> String {
        match self {
            RunbookSource::Embedded => "embedded runbook".into(),
            RunbookSource::Disk { dir, root_file } => dir.join(root_file).display().to_string(),
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
                match String::from_utf8(bytes) {
                    Ok(text) => Ok(SourceFile { name, text }),
                    Err(e) => {
                        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
                        let line_start =
                            valid.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
                        let col = String::from_utf8_lossy(&valid[line_start..])
                            .chars()
                            .count()
                            + 1;
                        Err((name, ReadFailure::NotUtf8 { line, col }))
                    }
                }
            }
        }
    }
}
