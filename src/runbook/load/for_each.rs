//! `for_each`: a literal list bounded and its items' ids unique.

use serde_json::Value;

use super::parse::FileCx;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::ForEach;
use crate::runbook::node::Node;
use crate::template;

/// `for_each:` as a list, or a template naming one; checked as [`check_for_each`] says.
pub(super) fn parse_for_each(
    cx: &FileCx,
    node: &Node,
    for_each: Option<&Value>,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Option<ForEach> {
    let for_each = match for_each {
        None => None,
        Some(Value::Array(items)) => Some(ForEach::Items(items.clone())),
        Some(Value::String(t)) if template::is_template(t) => Some(ForEach::Template(t.clone())),
        Some(_) => {
            fail(
                cx.diag(
                    node.get("for_each").map_or(node.loc, |n| n.loc),
                    "`for_each` takes a list or a `{{ var }}` naming one",
                )
                .step(Some(sid))
                .hint("for example `for_each: \"{{ images }}\"` or `for_each: [a, b]`"),
            );
            None
        }
    };
    if let Some(for_each) = &for_each {
        check_for_each(cx, node, for_each, sid)
            .into_iter()
            .for_each(fail);
    }
    for_each
}

/// A literal `for_each` list is bounded, and its items' ids are unique (ids key the saved
/// state: two items sharing one would make the second look already done). Items that are
/// templates are checked once rendered, when the plan is made.
fn check_for_each(cx: &FileCx, node: &Node, for_each: &ForEach, step: &str) -> Vec<Diagnostic> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::step::step_of;

    const SHELL: &str = "shell: { command: 'true' }\n";

    #[test]
    fn a_list_or_a_template_loops() {
        let (step, diags) = step_of(&format!("id: a\nfor_each: [x, y]\n{SHELL}"));
        assert!(diags.is_empty(), "{diags:#?}");
        assert!(
            matches!(step.expect("a step").for_each, Some(ForEach::Items(items)) if items.len() == 2)
        );
        let (step, _) = step_of(&format!("id: a\nfor_each: '{{{{ names }}}}'\n{SHELL}"));
        assert!(matches!(
            step.expect("a step").for_each,
            Some(ForEach::Template(_))
        ));
    }

    #[test]
    fn anything_else_is_refused_at_for_each() {
        let (step, diags) = step_of(&format!("id: a\nfor_each: 3\n{SHELL}"));
        assert!(step.is_none());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].loc.line, 2);
        assert!(diags[0].message.starts_with("`for_each` takes a list"));
    }

    #[test]
    fn two_items_with_one_id_are_refused_at_the_second() {
        let (_, diags) = step_of(&format!("id: a\nfor_each:\n  - x\n  - y\n  - x\n{SHELL}"));
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].loc.line, 5);
        assert!(
            diags[0].message.contains("would both be step `a.x`"),
            "{}",
            diags[0].message
        );
        assert!(
            diags[0]
                .hint
                .as_deref()
                .unwrap_or_default()
                .ends_with("t.yaml:3:5")
        );
    }

    #[test]
    fn a_long_list_is_refused() {
        let items: Vec<String> = (0..=ForEach::MAX_ITEMS).map(|i| format!("i{i}")).collect();
        let (_, diags) = step_of(&format!("id: a\nfor_each: [{}]\n{SHELL}", items.join(", ")));
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert!(diags[0].message.contains("the limit is"));
    }
}
