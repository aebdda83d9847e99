//! `file`: edit a config file (the MCPify provider switch) with a backup rollback restores.
//! Writes are atomic: a temporary file beside the target, fsync, rename, fsync the directory.
//! `check: STEP_ID` tries a `file` step's edits in memory and writes nothing (pre-flight).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::state::Backups;
use crate::state::StateError;
use crate::template::Escape;

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct File;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FileStep")]
struct Spec {
    path: Option<String>,
    #[serde(default)]
    edits: Vec<Edit>,
    /// Put back the backup the named `file` step took. The loader sets `path` to that step's
    /// (a runbook may not): the restore writes there and nowhere else.
    restore: Option<String>,
    /// Try the named `file` step's edits on its file, writing nothing. The loader sets `path`
    /// and `edits` to that step's, so the check and the edit cannot drift apart.
    check: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, untagged)]
#[schemars(rename = "FileEdit")]
enum Edit {
    Replace { replace: String, with: String },
    EnsureLine { ensure_line: String },
    RemoveLine { remove_line: String },
}

/// What a backup was taken of, kept beside it.
#[derive(Serialize, Deserialize)]
struct BackupMeta {
    path: PathBuf,
    existed: bool,
}

fn invalid(message: impl Into<String>) -> SpecError {
    SpecError {
        path: Vec::new(),
        message: message.into(),
    }
}

impl StepKind for File {
    fn name(&self) -> &'static str {
        "file"
    }

    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Spec>()
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        let s: Spec = parse_spec(spec).map_err(|e| SpecError {
            path: e.path,
            message: format!(
                "{} (an edit is `replace`+`with`, `ensure_line` or `remove_line`)",
                e.message
            ),
        })?;
        if let Some(from) = &s.check {
            return match (&s.path, &s.restore, s.edits.is_empty()) {
                (None, None, true) => Ok(()),
                _ => Err(invalid(format!(
                    "`check` takes no `path`, `edits` or `restore`: it tries the edits of the file step `{from}`"
                ))),
            };
        }
        match (&s.path, &s.restore, s.edits.is_empty()) {
            (Some(_), None, false) => {}
            (None, Some(_), true) => {}
            (Some(_), Some(from), true) => {
                return Err(invalid(format!(
                    "`restore` takes no `path`: it puts back the file step `{from}` edited"
                )));
            }
            (_, Some(_), false) => return Err(invalid("`restore` takes no `edits`")),
            (None, None, _) => {
                return Err(invalid(
                    "`file` needs `path` and `edits`, or `restore: STEP_ID`",
                ));
            }
            (Some(_), None, true) => return Err(invalid("`file` needs at least one edit")),
        }
        for edit in &s.edits {
            if let Edit::Replace { replace, .. } = edit
                && !replace.contains("{{")
                && let Err(e) = Regex::new(replace)
            {
                return Err(invalid(format!(
                    "invalid regular expression `{replace}`: {e}"
                )));
            }
        }
        Ok(())
    }

    fn access(&self, spec: &Value) -> Access {
        match spec.get("check") {
            Some(_) => Access::ReadOnly,
            None => Access::Mutating,
        }
    }

    fn writes_by_nature(&self, spec: &Value) -> Option<String> {
        match (spec.get("restore"), spec.get("check")) {
            (_, Some(_)) => None,
            (Some(_), None) => Some("a `file` restore writes the file back".into()),
            (None, None) => Some("a `file` step edits a file".into()),
        }
    }

    /// Values match literally in a `replace` pattern and stay on their line elsewhere.
    fn escape(&self, path: &[String]) -> Escape {
        match path {
            [edits, _, field] if edits == "edits" => match field.as_str() {
                "replace" => Escape::Regex,
                "with" | "ensure_line" | "remove_line" => Escape::Line,
                _ => Escape::Data,
            },
            _ => Escape::Data,
        }
    }

    /// An edit keeps the first backup (the original) and, run again, finds itself done when
    /// its edits turn that backup into the file as it is; a restore writes the same bytes
    /// again.
    fn idempotent(&self, _spec: &Value) -> bool {
        true
    }

    fn describe(&self, spec: &Value) -> String {
        match parse_spec::<Spec>(spec) {
            Ok(Spec {
                restore: Some(from),
                ..
            }) => format!("restore the file backed up by step `{from}`"),
            Ok(Spec {
                check: Some(from),
                path,
                ..
            }) => format!(
                "check that the edits of step `{from}` apply to {} (writes nothing)",
                path.as_deref().unwrap_or("its file")
            ),
            Ok(Spec {
                path: Some(path),
                edits,
                ..
            }) => format!(
                "edit {path} ({} edit{})",
                edits.len(),
                if edits.len() == 1 { "" } else { "s" }
            ),
            _ => spec.to_string(),
        }
    }

    fn preview(&self, spec: &Value) -> Option<Result<String, String>> {
        match parse_spec::<Spec>(spec) {
            Ok(Spec {
                path: Some(path),
                edits,
                restore: None,
                check: None,
            }) => Some(preview_edit(Path::new(&path), &edits)),
            _ => None,
        }
    }

    fn run<'a>(&'a self, spec: Value, step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let spec: Spec = parse_spec(&spec).map_err(|e| KindFailure::failed(e.message))?;
            match (spec.restore, spec.check, spec.path) {
                (Some(from), _, Some(path)) => {
                    restore(ctx.backups.as_ref(), &from, Path::new(&path))
                }
                (None, Some(from), Some(path)) => check_edits(&from, Path::new(&path), &spec.edits),
                (None, None, Some(path)) => {
                    edit(ctx.backups.as_ref(), step.id, Path::new(&path), &spec.edits)
                }
                (_, _, None) => Err(KindFailure::failed("`file` needs `path` or `restore`")),
            }
        })
    }
}

fn edit(
    backups: &dyn Backups,
    step_id: &str,
    path: &Path,
    edits: &[Edit],
) -> Result<Value, KindFailure> {
    // A file that is not there is not the file the runbook means: never created empty.
    let original = read_target(path)
        .map_err(|why| KindFailure::failed(format!("cannot edit {}: {why}", path.display())))?;
    let meta_name = backup_meta_name(step_id);
    let result = |changed: bool| json!({"path": path.display().to_string(), "changed": changed, "backup": backups.locate(step_id)});
    // Run again (after a crash, or resumed): the edits were applied when they turn the backup
    // of the original into the file as it is now. Its patterns need not match any more.
    if already_applied(backups, step_id, path, edits, &original)? {
        return Ok(result(false));
    }
    let mut text = original.clone();
    for (n, e) in edits.iter().enumerate() {
        let (next, matched) = apply(&text, e)?;
        // An edit that matches nothing is the file not being what the runbook expects (the
        // other quotes, another layout): a failure, not a silent no-op. An edit whose
        // replacement is already there was made before (by hand, or by an earlier run).
        if !matched && !already_there(&text, e) {
            return Err(KindFailure::failed(format!(
                "edit {} of {}: {}; nothing was written",
                n + 1,
                path.display(),
                e.mismatch()
            )));
        }
        text = next;
    }
    // The first backup is the original: a rerun after a partial edit must not overwrite it.
    if read_backup(backups, &meta_name)?.is_none() {
        backups
            .write(step_id, original.as_bytes())
            .map_err(backup_failure)?;
        let meta = BackupMeta {
            path: absolute(path),
            existed: true,
        };
        let meta =
            serde_json::to_vec_pretty(&meta).map_err(|e| KindFailure::failed(e.to_string()))?;
        backups.write(&meta_name, &meta).map_err(backup_failure)?;
    }
    let changed = original != text;
    if changed {
        let mode = fs::metadata(path).ok().map(|m| m.permissions());
        write_atomic(path, text.as_bytes(), mode)?;
    }
    Ok(result(changed))
}

/// The edits applied in memory to the file as it is now, as a unified diff (empty when the
/// file already reads so); `Err` says why a real run would fail here. Nothing is written.
fn preview_edit(path: &Path, edits: &[Edit]) -> Result<String, String> {
    let original = fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} does not exist: a real run fails here (a `file` step never creates a file)",
            path.display()
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let mut text = original.clone();
    for (n, e) in edits.iter().enumerate() {
        let (next, matched) = apply(&text, e).map_err(|f| f.message)?;
        if !matched && !already_there(&text, e) {
            return Err(format!(
                "edit {} of {}: {}: a real run fails here",
                n + 1,
                path.display(),
                e.mismatch()
            ));
        }
        text = next;
    }
    let name = path.display().to_string();
    Ok(similar::TextDiff::from_lines(&original, &text)
        .unified_diff()
        .context_radius(1)
        .header(&name, &name)
        .to_string())
}

/// The file an edit acts on; why it cannot be read (missing: it is never created).
fn read_target(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "it does not exist (a `file` step edits an existing file, it never creates one)"
                .to_owned()
        }
        _ => e.to_string(),
    })
}

/// Tries step `from`'s edits on `path` in memory, in order as the step makes them, and writes
/// nothing. Output `{path, edits, mismatches}`: `mismatches` names each edit that neither finds
/// what it acts on nor is made already, which the step would fail on.
fn check_edits(from: &str, path: &Path, edits: &[Edit]) -> Result<Value, KindFailure> {
    let mut text = read_target(path).map_err(|why| {
        KindFailure::failed(format!(
            "cannot read {} (edited by step `{from}`): {why}",
            path.display()
        ))
    })?;
    let mut mismatches = Vec::new();
    for (n, e) in edits.iter().enumerate() {
        let (next, matched) = apply(&text, e)?;
        if !matched && !already_there(&text, e) {
            mismatches.push(format!("edit {}: {}", n + 1, e.mismatch()));
        }
        text = next;
    }
    Ok(json!({"path": path.display().to_string(), "edits": edits.len(), "mismatches": mismatches}))
}

/// Whether this step's backup of `path` proves its edits done: applied to the original it
/// took, they give the file as it is `now`.
fn already_applied(
    backups: &dyn Backups,
    step_id: &str,
    path: &Path,
    edits: &[Edit],
    now: &str,
) -> Result<bool, KindFailure> {
    let Some(meta) = read_backup(backups, &backup_meta_name(step_id))? else {
        return Ok(false);
    };
    let Ok(meta) = serde_json::from_slice::<BackupMeta>(&meta) else {
        return Ok(false);
    };
    if meta.path != absolute(path) || !meta.existed {
        return Ok(false);
    }
    let Some(Ok(mut text)) = read_backup(backups, step_id)?.map(String::from_utf8) else {
        return Ok(false);
    };
    for e in edits {
        text = apply(&text, e)?.0;
    }
    Ok(text == now)
}

/// An edit's result is in `text` already: a replacement (not empty) or a line to ensure.
fn already_there(text: &str, edit: &Edit) -> bool {
    match edit {
        Edit::Replace { with, .. } => !with.is_empty() && text.contains(with.as_str()),
        Edit::EnsureLine { .. } => true,
        Edit::RemoveLine { .. } => false,
    }
}

impl Edit {
    /// Why this edit did nothing, for its failure.
    fn mismatch(&self) -> String {
        match self {
            Edit::Replace { replace, .. } => {
                format!(
                    "the pattern `{replace}` matches nothing (and its replacement is not there)"
                )
            }
            Edit::RemoveLine { remove_line } => format!("there is no line `{remove_line}`"),
            Edit::EnsureLine { ensure_line } => format!("cannot add the line `{ensure_line}`"),
        }
    }
}

/// Puts back the backup step `from` took of `path` (the path that step edits, as the runbook
/// says): a backup record naming another path is refused, never followed.
fn restore(backups: &dyn Backups, from: &str, path: &Path) -> Result<Value, KindFailure> {
    let meta_name = backup_meta_name(from);
    let Some(bytes) = read_backup(backups, &meta_name)? else {
        return Err(KindFailure::failed(format!(
            "there is no backup from step `{from}`: it never edited its file"
        )));
    };
    let meta: BackupMeta = serde_json::from_slice(&bytes).map_err(|e| {
        KindFailure::failed(format!(
            "backup record {} is damaged: {e}",
            backups.locate(&meta_name)
        ))
    })?;
    let target = absolute(path);
    if meta.path != target {
        return Err(KindFailure::refused(format!(
            "the backup record {} says it was taken of {}, but step `{from}` edits {}; nothing was restored. The record was altered, or the path changed since (a var or the working directory): restore by hand from {}",
            backups.locate(&meta_name),
            meta.path.display(),
            target.display(),
            backups.locate(from)
        )));
    }
    let backup = backups.locate(from);
    if meta.existed {
        let content = read_backup(backups, from)?
            .ok_or_else(|| KindFailure::failed(format!("the backup {backup} is missing")))?;
        let mode = fs::metadata(&target).ok().map(|m| m.permissions());
        write_atomic(&target, &content, mode)?;
    } else if target.exists() {
        fs::remove_file(&target)
            .map_err(|e| KindFailure::failed(format!("cannot remove {}: {e}", target.display())))?;
    }
    Ok(json!({"path": target.display().to_string(), "changed": true, "backup": backup}))
}

/// A backup or its record; `None` when missing.
fn read_backup(backups: &dyn Backups, name: &str) -> Result<Option<Vec<u8>>, KindFailure> {
    backups.read(name).map_err(backup_failure)
}

/// A link or a foreign directory among the backups is refused (exit 4), like one elsewhere in
/// the state directory; anything else fails the step.
fn backup_failure(e: StateError) -> KindFailure {
    match e {
        StateError::Unsafe { .. } => KindFailure::refused(e.to_string()),
        e => KindFailure::failed(e.to_string()),
    }
}

/// The record of what step `step_id`'s backup was taken of.
fn backup_meta_name(step_id: &str) -> String {
    format!("{step_id}.json")
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Applies one edit; says whether it found what it acts on (an `ensure_line` always does).
fn apply(text: &str, edit: &Edit) -> Result<(String, bool), KindFailure> {
    Ok(match edit {
        Edit::Replace { replace, with } => {
            let re = Regex::new(replace).map_err(|e| {
                KindFailure::failed(format!("invalid regular expression `{replace}`: {e}"))
            })?;
            (
                re.replace_all(text, regex::NoExpand(with)).into_owned(),
                re.is_match(text),
            )
        }
        Edit::EnsureLine { ensure_line } => {
            if text.lines().any(|l| l.trim() == ensure_line.trim()) {
                (text.to_owned(), true)
            } else {
                let sep = if text.is_empty() || text.ends_with('\n') {
                    ""
                } else {
                    "\n"
                };
                (format!("{text}{sep}{ensure_line}\n"), true)
            }
        }
        Edit::RemoveLine { remove_line } => {
            let kept: Vec<&str> = text
                .split_inclusive('\n')
                .filter(|l| l.trim() != remove_line.trim())
                .collect();
            let kept = kept.concat();
            let matched = kept.len() != text.len();
            (kept, matched)
        }
    })
}

/// Writes `content` to `path` so that a crash leaves the old or the new file, never a torn one.
fn write_atomic(
    path: &Path,
    content: &[u8],
    permissions: Option<fs::Permissions>,
) -> Result<(), KindFailure> {
    let fail =
        |e: std::io::Error| KindFailure::failed(format!("cannot write {}: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".outpost-migrate.")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(content).map_err(fail)?;
    if let Some(p) = permissions {
        tmp.as_file().set_permissions(p).map_err(fail)?;
    }
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(fail)
}

#[cfg(test)]
mod tests;
