//! `- include: FILE` in a step list: replaced by the steps of FILE, recursively, refusing
//! cycles and files that are not a list of steps.

use std::collections::HashMap;

use super::parse::{FileCx, parse_file, read_failure};
use crate::runbook::diagnostic::{Diagnostic, Loc};
use crate::runbook::node::Node;
use crate::runbook::source::RunbookSource;

/// A step entry, or `- include: FILE` replaced by the steps of FILE (relative to the runbook
/// root; a file with `steps:`), recursively, refusing cycles.
#[allow(
    clippy::too_many_arguments,
    reason = "the loader's state, threaded through the recursion"
)]
pub(super) fn expand_include(
    source: &RunbookSource,
    cx: &FileCx,
    entry: &Node,
    group: Option<String>,
    stack: &mut Vec<String>,
    files: &mut HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
    out: &mut Vec<(Option<String>, Node, String)>,
) {
    let Some((key, target)) = entry.entry("include") else {
        out.push((group, entry.clone(), cx.file.name.clone()));
        return;
    };
    let hint =
        "`- include: path/to/steps.yaml` (relative to runbook.yaml) stands alone in a step list";
    if entry.as_map().is_some_and(|m| m.len() > 1) {
        diags.push(
            cx.diag(key.loc, "an `include` entry takes no other fields")
                .hint(hint),
        );
        return;
    }
    let Some(rel) = target.as_str() else {
        diags.push(
            cx.diag(target.loc, "`include` takes a file path")
                .hint(hint),
        );
        return;
    };
    if stack.iter().any(|s| s == rel) {
        let chain = stack
            .iter()
            .chain(std::iter::once(&rel.to_owned()))
            .cloned()
            .collect::<Vec<_>>()
            .join(" → ");
        diags.push(
            cx.diag(target.loc, format!("include cycle: {chain}"))
                .hint("a file may not include itself, directly or through others"),
        );
        return;
    }
    let (included, node) = match read_included(source, cx, rel, target.loc) {
        Ok(parsed) => parsed,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let Some(steps) = node.get("steps").and_then(Node::as_seq) else {
        diags.push(
            included
                .diag(
                    node.loc,
                    "an included file needs `steps:` (a list of steps)",
                )
                .hint(hint),
        );
        return;
    };
    if let Some((k, _)) = node
        .as_map()
        .unwrap_or_default()
        .iter()
        .find(|(k, _)| k.name != "steps" && k.name != "description")
    {
        diags.push(
            included
                .diag(
                    k.loc,
                    format!("unknown field `{}` in an included file", k.name),
                )
                .hint("an included file has `steps` and an optional `description`"),
        );
    }
    files.insert(included.file.name.clone(), included.clone());
    stack.push(rel.to_owned());
    for step in steps {
        expand_include(
            source,
            &included,
            step,
            group.clone(),
            stack,
            files,
            diags,
            out,
        );
    }
    stack.pop();
}

/// The included file `rel`, read and parsed; a missing one is reported at `at` in `cx`,
/// where it is named.
fn read_included(
    source: &RunbookSource,
    cx: &FileCx,
    rel: &str,
    at: Loc,
) -> Result<(FileCx, Node), Diagnostic> {
    let file = source
        .read(rel)
        .map_err(|(name, why)| read_failure(&name, why, Some((cx, at))))?;
    parse_file(file)
}

#[cfg(test)]
mod tests {
    use crate::runbook::diagnostic::Diagnostic;
    use crate::runbook::load::unit::unit_of;

    fn messages(diags: &[Diagnostic]) -> Vec<(&str, usize, &str)> {
        diags
            .iter()
            .map(|d| (d.file.as_str(), d.loc.line, d.message.as_str()))
            .collect()
    }

    #[test]
    fn an_include_is_replaced_by_the_files_steps_in_place() {
        let (unit, files, diags) = unit_of(
            "title: T\nsteps:\n  - { id: a, confirm: one? }\n  - include: more.yaml\n  - { id: d, confirm: four? }\n",
            &[(
                "more.yaml",
                "description: shared\nsteps:\n  - { id: b, confirm: two? }\n  - { id: c, confirm: three? }\n",
            )],
        );
        assert!(diags.is_empty(), "{diags:#?}");
        let (unit, _) = unit.expect("a unit");
        let steps: Vec<(&str, &str)> = unit
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.file.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                ("a", "t.yaml"),
                ("b", "more.yaml"),
                ("c", "more.yaml"),
                ("d", "t.yaml")
            ]
        );
        assert!(files.contains_key("more.yaml"));
    }

    #[test]
    fn a_cycle_is_refused_where_it_closes() {
        let (_, _, diags) = unit_of(
            "title: T\nsteps:\n  - include: a.yaml\n",
            &[
                ("a.yaml", "steps:\n  - include: b.yaml\n"),
                ("b.yaml", "steps:\n  - include: a.yaml\n"),
            ],
        );
        assert_eq!(
            messages(&diags)[0],
            (
                "b.yaml",
                2,
                "include cycle: t.yaml → a.yaml → b.yaml → a.yaml"
            )
        );
    }

    #[test]
    fn an_include_stands_alone_and_names_a_file_of_steps() {
        let (_, _, diags) = unit_of(
            "title: T\nsteps:\n  - include: a.yaml\n    id: x\n  - include: [a.yaml]\n  - include: gone.yaml\n  - include: b.yaml\n  - include: c.yaml\n",
            &[
                ("a.yaml", "steps: []\n"),
                ("b.yaml", "groups: []\n"),
                ("c.yaml", "title: C\nsteps: []\n"),
            ],
        );
        assert_eq!(
            messages(&diags),
            [
                ("t.yaml", 3, "an `include` entry takes no other fields"),
                ("t.yaml", 5, "`include` takes a file path"),
                ("t.yaml", 6, "file `gone.yaml` does not exist"),
                (
                    "b.yaml",
                    1,
                    "an included file needs `steps:` (a list of steps)"
                ),
                ("c.yaml", 1, "unknown field `title` in an included file"),
                ("t.yaml", 1, "phase 1 has no steps"),
            ]
        );
    }
}
