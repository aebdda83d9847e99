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
    let concurrent = matches!(
        key,
        UnitKey::Preflight | UnitKey::Verify | UnitKey::Diagnose(_) | UnitKey::Monitor
    );
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
    let (steps, nodes): (Vec<_>, Vec<_>) = expanded
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
    super::watch::check_rows(cx, key, &steps, &nodes, diags);
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

/// A unit loaded for a test, the files read for it and the problems found.
#[cfg(test)]
pub(super) type UnitOf = (
    Option<(Unit, Vec<Node>)>,
    HashMap<String, FileCx>,
    Vec<Diagnostic>,
);

/// A unit (phase 1) from a YAML snippet (`t.yaml`), with the runbook's other files, the
/// files it read and the problems found, for the unit tests of the stages that follow.
#[cfg(test)]
pub(super) fn unit_of(yaml: &str, others: &[(&str, &str)]) -> UnitOf {
    let (cx, node) = super::parse::snippet(yaml);
    let source = RunbookSource::Memory(
        others
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.as_bytes().to_vec()))
            .collect(),
    );
    let mut files = HashMap::new();
    let mut diags = Vec::new();
    let unit = load_unit(
        UnitKey::Phase(1),
        "t.yaml",
        &cx,
        &node,
        &source,
        &mut files,
        &mut diags,
    );
    files.insert(cx.file.name.clone(), cx);
    (unit, files, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(diags: &[Diagnostic]) -> Vec<(usize, &str)> {
        diags
            .iter()
            .map(|d| (d.loc.line, d.message.as_str()))
            .collect()
    }

    #[test]
    fn groups_give_their_steps_a_title() {
        let (unit, _, diags) = unit_of(
            "title: Checks\ngroups:\n  - title: DNS\n    steps:\n      - { id: a, confirm: ok? }\n",
            &[],
        );
        assert!(diags.is_empty(), "{diags:#?}");
        let (unit, nodes) = unit.expect("a unit");
        assert_eq!(unit.title, "Checks");
        assert_eq!(unit.steps[0].group.as_deref(), Some("DNS"));
        assert_eq!(nodes.len(), 1);
    }

    #[test]
    fn a_unit_has_steps_or_groups_and_at_least_one_step() {
        let (unit, _, diags) = unit_of("title: T\nsteps: []\ngroups: []\n", &[]);
        assert!(unit.is_none());
        assert_eq!(
            messages(&diags),
            [(1, "a unit file needs either `steps` or `groups` (not both)")]
        );
        let (_, _, diags) = unit_of("title: T\nsteps: []\n", &[]);
        assert_eq!(messages(&diags), [(1, "phase 1 has no steps")]);
    }
}
