//! `for_each`: a literal list bounded and its items' ids unique.

use serde_json::Value;

use super::super::diagnostic::Diagnostic;
use super::super::model::ForEach;
use super::super::node::Node;
use super::parse::FileCx;
use crate::template;

/// A literal `for_each` list is bounded, and its items' ids are unique (ids key the saved
/// state: two items sharing one would make the second look already done). Items that are
/// templates are checked once rendered, when the plan is made.
pub(super) fn check_for_each(
    cx: &FileCx,
    node: &Node,
    for_each: &ForEach,
    step: &str,
) -> Vec<Diagnostic> {
    let ForEach::Items(items) = for_each else {
        return Vec::new();
    };
    let list = node.get("for_each").unwrap_or(node);
    let item_nodes = list.as_seq().unwrap_or_default();
    let item_loc = |i: usize| item_nodes.get(i).map_or(list.loc, |n| n.loc);
    let mut problems = Vec::new();
    if items.len() > ForEach::MAX_ITEMS {
        problems.push(
            cx.diag(
                list.loc,
                format!(
                    "`for_each` has {} items; the limit is {}",
                    items.len(),
                    ForEach::MAX_ITEMS
                ),
            )
            .step(Some(step))
            .hint("each item is a step of its own; loop inside one step over a long list"),
        );
    }
    let literal = items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item_is_template(item));
    if let Some((first, second, suffix)) = ForEach::id_collision(literal) {
        problems.push(
            cx.diag(
                item_loc(second),
                format!(
                    "`for_each` items {} and {} would both be step `{step}.{suffix}`",
                    items[first], items[second]
                ),
            )
            .step(Some(step))
            .hint(format!(
                "an item's id is the item itself when it is a name (letters, digits, `-`, `_`, `.`), else its position; item {} is at {}:{}:{}",
                items[first],
                cx.file.name,
                item_loc(first).line,
                item_loc(first).col
            )),
        );
    }
    problems
}

pub(super) fn item_is_template(item: &Value) -> bool {
    match item {
        Value::String(s) => template::is_template(s),
        Value::Array(items) => items.iter().any(item_is_template),
        Value::Object(map) => map.values().any(item_is_template),
        _ => false,
    }
}
