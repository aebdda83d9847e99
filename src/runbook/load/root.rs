//! The top file's own checks: phases and rollback levels numbered once each, and `vars`
//! (and templates over them such as `account`) using only what is declared above them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::document::RootDoc;
use super::parse::FileCx;
use super::references::reserved_name;
use crate::runbook::diagnostic::{Diagnostic, Loc};
use crate::runbook::model::UnitKey;
use crate::runbook::node::Node;
use crate::template;

pub(super) const PHASES: [u8; 5] = [1, 2, 3, 4, 5];
pub(super) const LEVELS: [u8; 3] = [1, 2, 3];

pub(super) fn entry_loc(root: &Node, list: &str, index: usize) -> Loc {
    root.get(list)
        .and_then(|n| n.as_seq())
        .and_then(|items| items.get(index))
        .map_or(root.loc, |n| n.get("file").map_or(n.loc, |f| f.loc))
}

pub(super) fn check_numbered(
    cx: &FileCx,
    root: &Node,
    key: &str,
    field: &str,
    want: &[u8],
    got: Vec<u8>,
    diags: &mut Vec<Diagnostic>,
) {
    let loc = root.entry(key).map_or(root.loc, |(k, _)| k.loc);
    let mut seen = BTreeSet::new();
    for (i, n) in got.iter().enumerate() {
        let item_loc = root
            .get(key)
            .and_then(|l| l.as_seq())
            .and_then(|s| s.get(i))
            .map_or(loc, |n| n.loc);
        if !want.contains(n) {
            diags.push(
                cx.diag(item_loc, format!("there is no {field} {n}"))
                    .hint(format!(
                        "{key} are numbered {}–{}",
                        want[0],
                        want[want.len() - 1]
                    )),
            );
        } else if !seen.insert(*n) {
            diags.push(
                cx.diag(item_loc, format!("{field} {n} is listed twice"))
                    .hint(format!("each {field} points at exactly one file")),
            );
        }
    }
    for n in want {
        if !seen.contains(n) && !got.contains(n) {
            diags.push(
                cx.diag(loc, format!("{field} {n} is missing from `{key}`"))
                    .hint(format!(
                        "a runbook needs {key} {}–{}, each pointing at a file",
                        want[0],
                        want[want.len() - 1]
                    )),
            );
        }
    }
}

pub(super) fn load_vars(
    cx: &FileCx,
    root: &Node,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, Value)> {
    let mut vars: Vec<(String, Value)> = Vec::new();
    for (key, value) in root.get("vars").and_then(Node::as_map).unwrap_or_default() {
        diags.extend(reserved_name(cx, key.loc, "var", &key.name));
        for (s, loc) in value.strings() {
            match template::references(s) {
                Err(e) => diags.push(
                    cx.diag(loc, format!("invalid template in var `{}`: {e}", key.name))
                        .hint("templates are `{{ name }}` (minijinja); close every `{{` with `}}`"),
                ),
                Ok(refs) => {
                    for r in refs {
                        if r.root != "env" && !vars.iter().any(|(n, _)| *n == r.root) {
                            diags.push(
                                cx.diag(
                                    loc,
                                    format!(
                                        "undefined variable `{}` in var `{}`",
                                        r.root, key.name
                                    ),
                                )
                                .hint("a var may use `env.NAME` and vars declared above it"),
                            );
                        }
                    }
                }
            }
        }
        vars.push((key.name.clone(), value.to_json()));
    }
    vars
}

/// A top-level template (such as `account`) may use `env.NAME` and vars.
pub(super) fn check_var_template(
    cx: &FileCx,
    node: &Node,
    field: &str,
    vars: &[(String, Value)],
    diags: &mut Vec<Diagnostic>,
) {
    for (s, loc) in node.strings() {
        match template::references(s) {
            Err(e) => diags.push(
                cx.diag(loc, format!("invalid template in `{field}`: {e}"))
                    .hint("templates are `{{ name }}` (minijinja); close every `{{` with `}}`"),
            ),
            Ok(refs) => {
                for r in refs
                    .into_iter()
                    .filter(|r| r.root != "env" && !vars.iter().any(|(n, _)| *n == r.root))
                {
                    diags.push(
                        cx.diag(
                            cx.refine(loc, &r.root),
                            format!("undefined variable `{}` in `{field}`", r.root),
                        )
                        .hint("declare it under `vars:`"),
                    );
                }
            }
        }
    }
}

/// The unit files the top file names, in the order commands run them (pre-flight, phases
/// 1–5, verification, rollback levels 1–3), each with where it is named.
pub(super) fn unit_files(
    cx: &FileCx,
    root: &Node,
    doc: &RootDoc,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(UnitKey, String, Loc)> {
    let mut refs: Vec<(UnitKey, String, Loc)> = Vec::new();
    let loc_of = |key: &str| root.get(key).map_or(root.loc, |n| n.loc);
    refs.push((
        UnitKey::Preflight,
        doc.preflight.clone(),
        loc_of("preflight"),
    ));
    check_numbered(
        cx,
        root,
        "phases",
        "phase",
        &PHASES,
        doc.phases.iter().map(|p| p.phase).collect(),
        diags,
    );
    check_numbered(
        cx,
        root,
        "rollback",
        "level",
        &LEVELS,
        doc.rollback.iter().map(|l| l.level).collect(),
        diags,
    );
    let mut phases: Vec<(u8, String, Loc)> = doc
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| (p.phase, p.file.clone(), entry_loc(root, "phases", i)))
        .collect();
    phases.sort_by_key(|p| p.0);
    refs.extend(
        phases
            .into_iter()
            .map(|(n, f, l)| (UnitKey::Phase(n), f, l)),
    );
    refs.push((UnitKey::Verify, doc.verify.clone(), loc_of("verify")));
    let mut levels: Vec<(u8, String, Loc)> = doc
        .rollback
        .iter()
        .enumerate()
        .map(|(i, l)| (l.level, l.file.clone(), entry_loc(root, "rollback", i)))
        .collect();
    levels.sort_by_key(|l| l.0);
    refs.extend(
        levels
            .into_iter()
            .map(|(n, f, l)| (UnitKey::Rollback(n), f, l)),
    );

    refs
}
