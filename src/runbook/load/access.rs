//! Whether a step reads, writes or asks (which decides what a dry run runs): the kind's own
//! answer, or the step's `mutates` where the kind allows it.

use serde_json::Value;

use super::parse::FileCx;
use crate::kinds::{Access, StepKind};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::node::Node;

/// Whether the step reads, writes or asks: the kind's own answer unless `mutates` says
/// otherwise. A refused `mutates` is reported but keeps the step in the model, so that the
/// steps referring to it (captures, `reverts`) do not report problems of their own.
pub(super) fn step_access(
    cx: &FileCx,
    node: &Node,
    kind: &dyn StepKind,
    spec: &Value,
    mutates: Option<bool>,
    sid: &str,
    diags: &mut Vec<Diagnostic>,
) -> Access {
    match mutates {
        // A confirmation neither reads nor writes: it asks, and a dry run never asks. Either
        // declaration would change that (`false` would make a dry run prompt).
        Some(_) if kind.access(spec) == Access::Manual => {
            let loc = node.entry("mutates").map_or(node.loc, |(k, _)| k.loc);
            diags.push(
                cx.diag(loc, "`mutates` on a step that asks the operator")
                    .step(Some(sid))
                    .hint(format!(
                        "a `{}` step is manual: a dry run shows it and never asks; remove `mutates`",
                        kind.name()
                    )),
            );
            Access::Manual
        }
        Some(true) => Access::Mutating,
        Some(false) => {
            if let Some(why) = kind.writes_by_nature(spec) {
                diags.push(refuse_declared_read_only(cx, node, sid, &why));
            }
            Access::ReadOnly
        }
        None => kind.access(spec),
    }
}

/// `mutates: false` on a step that writes by its nature would make a dry run run it.
fn refuse_declared_read_only(cx: &FileCx, node: &Node, step: &str, why: &str) -> Diagnostic {
    let loc = node.entry("mutates").map_or(node.loc, |(k, _)| k.loc);
    cx.diag(
        loc,
        format!("`mutates: false` on a step that writes: {why}"),
    )
    .step(Some(step))
    .hint("a dry run runs read-only steps, so only a `shell` or `mcp` step may declare itself read-only; remove `mutates: false`, or read with a GET or a Describe/List/Get call instead")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::step::step_of;

    fn only(diags: &[Diagnostic]) -> &str {
        assert_eq!(diags.len(), 1, "{diags:#?}");
        &diags[0].message
    }

    #[test]
    fn mutates_overrides_the_kind_but_not_a_question_nor_a_write() {
        let (step, _) = step_of("id: a\nmutates: false\nshell: { command: ls }\n");
        assert_eq!(step.expect("a step").access, Access::ReadOnly);
        let (_, diags) = step_of("id: a\nmutates: true\nconfirm: sure?\n");
        assert_eq!(only(&diags), "`mutates` on a step that asks the operator");
        let (_, diags) = step_of(
            "id: a\nmutates: false\nhttp: { method: DELETE, url: 'https://example.com' }\n",
        );
        assert!(only(&diags).starts_with("`mutates: false` on a step that writes"));
    }
}
