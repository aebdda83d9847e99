//! Loading: read the runbook files, parse them with locations, build the typed model and
//! validate it, collecting every problem found rather than stopping at the first.
//!
//! The stages, each in a file of its own: `parse` reads a file into a located tree,
//! `document` gives the shapes serde checks, `root` reads the top file (`notify` its
//! `notify:` section), `unit` and `include`
//! gather a unit's steps, `step` builds each step (with `access`, `retry`, `queries`,
//! `for_each`, `verify`, `timing` and `names` for its fields), and `links` and `references`
//! check what steps say of one another.
#![allow(
    clippy::result_large_err,
    reason = "a diagnostic is built once per problem; loading is not a hot path"
)]

mod access;
mod diagnose;
pub(super) mod document;
mod for_each;
mod include;
mod links;
mod names;
pub(super) mod notify;
mod parse;
mod queries;
mod references;
mod retry;
mod root;
mod step;
mod timing;
mod unit;
mod verify;
mod watch;

use std::collections::HashMap;

use self::document::RootDoc;
use self::links::{link_restores, validate_ids, validate_rollback_reverts};
use self::parse::{FileCx, parse_file, read_failure};
use self::references::validate_references;
use self::root::{check_var_template, load_vars, unit_files};
use self::unit::load_unit;
use super::diagnostic::Diagnostic;
use super::model::{Runbook, Unit};
use super::source::RunbookSource;

/// The runbook format this build reads.
pub const FORMAT: u32 = 1;

/// The top file alone (its vars and `account`, no unit), or `None` at its first problem: for
/// work that may start before the whole runbook is read (the account guard's call). `load`
/// reads it again and reports every problem.
pub fn load_root(source: &RunbookSource) -> Option<Runbook> {
    let (root_cx, root) = parse_file(source.read(source.root_file()).ok()?).ok()?;
    let doc: RootDoc = root_cx.typed(&root, None).ok()?;
    let mut diags = Vec::new();
    let vars = load_vars(&root_cx, &root, &mut diags);
    (diags.is_empty() && doc.format == FORMAT).then(|| Runbook {
        digest: String::new(),
        name: doc.name,
        description: doc.description,
        account: doc.account,
        vars,
        units: Vec::new(),
        notify: None,
    })
}

/// Loads and validates the runbook, returning every problem found.
pub fn load(source: &RunbookSource) -> Result<Runbook, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let root_name = source.root_file().to_string();
    let root_file = source
        .read(&root_name)
        .map_err(|(name, why)| vec![read_failure(&name, why, None)])?;
    let (root_cx, root) = parse_file(root_file).map_err(|d| vec![d])?;
    let doc: RootDoc = root_cx.typed(&root, None).map_err(|d| vec![d])?;
    if doc.format != FORMAT {
        let loc = root.get("format").map_or(root.loc, |n| n.loc);
        diags.push(
            root_cx
                .diag(loc, format!("unsupported runbook format {}", doc.format))
                .hint(format!("this outpost-migrate reads format {FORMAT}")),
        );
    }

    let vars = load_vars(&root_cx, &root, &mut diags);
    let notify = notify::load_notify(&root_cx, &root, &vars, &mut diags);
    if let Some(node) = root.get("account") {
        check_var_template(&root_cx, node, "account", &vars, &mut diags);
    }

    // Each unit file, in the order commands run them.
    let mut refs = unit_files(&root_cx, &root, &doc, &mut diags);
    refs.extend(diagnose::unit_files(
        &root_cx, &root, &doc, &vars, &mut diags,
    ));
    let mut units = Vec::new();
    let mut files: HashMap<String, FileCx> = HashMap::new();
    for (key, rel, ref_loc) in refs {
        let file = match source.read(&rel) {
            Ok(f) => f,
            Err((name, why)) => {
                diags.push(read_failure(&name, why, Some((&root_cx, ref_loc))));
                continue;
            }
        };
        let (cx, node) = match parse_file(file) {
            Ok(parsed) => parsed,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if let Some(loaded) = load_unit(key, &rel, &cx, &node, source, &mut files, &mut diags) {
            units.push(loaded);
        }
        files.insert(cx.file.name.clone(), cx);
    }

    link_restores(&mut units, &files, &mut diags);
    validate_references(&vars, &mut units, &files, &mut diags);
    let units: Vec<Unit> = units.into_iter().map(|(u, _)| u).collect();
    validate_ids(&units, &files, &mut diags);
    validate_rollback_reverts(&units, &files, &mut diags);
    diagnose::validate_read_only(&units, &files, &mut diags);

    if diags.is_empty() {
        let digest = super::source::digest(
            std::iter::once(&root_cx)
                .chain(files.values())
                .map(|cx| (source.relative(&cx.file.name), cx.file.text.as_str())),
        );
        Ok(Runbook {
            digest,
            name: doc.name,
            description: doc.description,
            account: doc.account,
            vars,
            units,
            notify,
        })
    } else {
        Err(diags)
    }
}
