//! The top file's own checks: phases and rollback levels numbered once each, and `vars`
//! (and templates over them such as `account`) using only what is declared above them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::document::RootDoc;
use super::names::reserved_name;
use super::parse::FileCx;
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
    if let Some(file) = &doc.monitor {
        refs.push((UnitKey::Monitor, file.clone(), loc_of("monitor")));
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::parse::snippet;

    fn messages(diags: &[Diagnostic]) -> Vec<(usize, &str)> {
        diags
            .iter()
            .map(|d| (d.loc.line, d.message.as_str()))
            .collect()
    }

    #[test]
    fn numbered_entries_are_each_listed_once_and_all_present() {
        let (cx, root) = snippet("phases:\n  - 1\n  - 1\n  - 7\n");
        let mut diags = Vec::new();
        check_numbered(
            &cx,
            &root,
            "phases",
            "phase",
            &[1, 2],
            vec![1, 1, 7],
            &mut diags,
        );
        assert_eq!(
            messages(&diags),
            [
                (3, "phase 1 is listed twice"),
                (4, "there is no phase 7"),
                (1, "phase 2 is missing from `phases`"),
            ]
        );
    }

    #[test]
    fn a_var_uses_env_and_the_vars_above_it_only() {
        let (cx, root) =
            snippet("vars:\n  a: x\n  b: '{{ a }}-{{ env.HOME }}'\n  c: '{{ d }}'\n  d: y\n");
        let mut diags = Vec::new();
        let vars = load_vars(&cx, &root, &mut diags);
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(messages(&diags), [(4, "undefined variable `d` in var `c`")]);
    }

    #[test]
    fn a_var_may_not_take_a_name_templates_already_use() {
        let (cx, root) = snippet("vars:\n  item: x\n");
        let mut diags = Vec::new();
        load_vars(&cx, &root, &mut diags);
        assert_eq!(
            messages(&diags),
            [(2, "var `item` has a name templates already use")]
        );
    }

    #[test]
    fn an_account_template_names_only_declared_vars() {
        let (cx, root) = snippet("account: '{{ acct }}'\n");
        let mut diags = Vec::new();
        let node = root.get("account").expect("account");
        check_var_template(&cx, node, "account", &[], &mut diags);
        assert_eq!(
            messages(&diags),
            [(1, "undefined variable `acct` in `account`")]
        );
        assert_eq!(diags[0].loc.col, 14);
        diags.clear();
        check_var_template(
            &cx,
            node,
            "account",
            &[("acct".into(), "1".into())],
            &mut diags,
        );
        assert!(diags.is_empty());
    }

    #[test]
    fn unit_files_come_in_the_order_commands_run_them() {
        let (cx, root) = snippet(
            "format: 1\nname: t\npreflight: pre.yaml\nverify: ver.yaml\n\
             phases:\n  - { phase: 2, file: two.yaml }\n  - { phase: 1, file: one.yaml }\n\
             rollback:\n  - { level: 1, file: r1.yaml }\n",
        );
        let doc: RootDoc = cx.typed(&root, None).expect("a root document");
        let mut diags = Vec::new();
        let files = unit_files(&cx, &root, &doc, &mut diags);
        let order: Vec<(UnitKey, &str, usize)> = files
            .iter()
            .map(|(k, f, l)| (*k, f.as_str(), l.line))
            .collect();
        assert_eq!(
            order,
            [
                (UnitKey::Preflight, "pre.yaml", 3),
                (UnitKey::Phase(1), "one.yaml", 7),
                (UnitKey::Phase(2), "two.yaml", 6),
                (UnitKey::Verify, "ver.yaml", 4),
                (UnitKey::Rollback(1), "r1.yaml", 9),
            ]
        );
        // Phases 3–5 and levels 2–3 are missing.
        assert_eq!(diags.len(), 5);
    }
}
