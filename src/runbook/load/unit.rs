//! One unit file (pre-flight, a phase, verification, a rollback level): its `steps` or
//! `groups`, includes expanded, each step loaded.

use std::collections::HashMap;

use super::document::UnitDoc;
use super::include::expand_include;
use super::parse::FileCx;
use super::step::load_step;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::{Unit, UnitKey};
use crate::runbook::node::Node;
use crate::runbook::source::RunbookSource;

#[allow(
    clippy::too_many_arguments,
    reason = "the loader's state, threaded through one unit"
)]
pub(super) fn load_unit(
    key: UnitKey,
    rel: &str,
    cx: &FileCx,
    node: &Node,
    source: &RunbookSource,
    files: &mut HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Unit, Vec<Node>)> {
    let doc: UnitDoc = match cx.typed(node, None) {
        Ok(d) => d,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let concurrent = matches!(key, UnitKey::Preflight | UnitKey::Verify);
    let reverts = match key {
        UnitKey::Rollback(_) => doc.reverts,
        _ => None,
    };
    let step_nodes = match step_entries(cx, node, &doc) {
        Ok(entries) => entries,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let mut expanded = Vec::new();
    let mut stack = vec![rel.to_owned()];
    for (group, n) in step_nodes {
        expand_include(
            source,
            cx,
            n,
            group,
            &mut stack,
            files,
            diags,
            &mut expanded,
        );
    }
    if expanded.is_empty() {
        diags.push(
            cx.diag(node.loc, format!("{key} has no steps"))
                .hint("add at least one step"),
        );
    }
    let (steps, nodes) = expanded
        .into_iter()
        .filter_map(|(group, n, file)| {
            let step_cx = if file == cx.file.name {
                cx
            } else {
                files.get(&file)?
            };
            load_step(step_cx, &n, group, reverts, diags).map(|s| (s, n))
        })
        .unzip();
    Some((
        Unit {
            key,
            title: doc.title,
            file: cx.file.name.clone(),
            concurrent,
            steps,
        },
        nodes,
    ))
}

/// The step entries of a unit file, in order, each with the title of its group (check files
/// group their steps; phases and rollback levels list them).
fn step_entries<'a>(
    cx: &FileCx,
    node: &'a Node,
    doc: &UnitDoc,
) -> Result<Vec<(Option<String>, &'a Node)>, Diagnostic> {
    let mut step_nodes: Vec<(Option<String>, &Node)> = Vec::new();
    match (doc.steps.is_some(), doc.groups.is_some()) {
        (true, false) => {
            step_nodes.extend(
                node.get("steps")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .map(|n| (None, n)),
            );
        }
        (false, true) => {
            for group in node
                .get("groups")
                .and_then(Node::as_seq)
                .unwrap_or_default()
            {
                let title = group.get("title").and_then(Node::as_str).map(str::to_owned);
                step_nodes.extend(
                    group
                        .get("steps")
                        .and_then(Node::as_seq)
                        .unwrap_or_default()
                        .iter()
                        .map(|n| (title.clone(), n)),
                );
            }
        }
        _ => {
            return Err(cx.diag(
                node.loc,
                "a unit file needs either `steps` or `groups` (not both)",
            ).hint("phases and rollback levels list `steps`; check files list `groups`, each with `title` and `steps`"));
        }
    }
    Ok(step_nodes)
}
