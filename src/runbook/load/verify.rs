//! `verify:` on a step: a read-only probe, loaded as a step of its own (`ID-verify`), that
//! tells after a crash whether the step left in doubt took effect.

use super::parse::FileCx;
use crate::kinds::Access;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::Step;
use crate::runbook::node::{Key, Node, Value as NodeValue};

/// The probe of the step `node` (id `id`) as a step entry of its own, named `ID-verify`, if
/// the step has one; `Err` when it is refused before it is loaded.
pub(super) fn probe_node(cx: &FileCx, node: &Node, id: &str) -> Result<Option<Node>, Diagnostic> {
    let Some((key, probe)) = node.entry("verify") else {
        return Ok(None);
    };
    let Some(entries) = probe.as_map() else {
        return Err(cx
            .diag(
                probe.loc,
                "`verify` is a read-only step without an id: a kind, `expect`, `capture`",
            )
            .step(Some(id))
            .hint("e.g. `verify: { aws: { ... }, expect: [...] }`"));
    };
    if let Some((k, _)) = entries
        .iter()
        .find(|(k, _)| ["id", "verify", "for_each"].contains(&k.name.as_str()))
    {
        return Err(cx
            .diag(k.loc, format!("a `verify` probe takes no `{}`", k.name))
            .step(Some(id))
            .hint("the probe runs once, for this step"));
    }
    let mut with_id = vec![(
        Key {
            name: "id".into(),
            loc: key.loc,
        },
        Node {
            loc: key.loc,
            value: NodeValue::Str(format!("{id}-verify")),
        },
    )];
    with_id.extend(entries.iter().cloned());
    Ok(Some(Node {
        loc: probe.loc,
        value: NodeValue::Map(with_id),
    }))
}

/// The loaded probe, refused unless it only reads: it runs when the step is in doubt, so it
/// must not change anything itself.
pub(super) fn read_only_probe(
    cx: &FileCx,
    probe: &Node,
    id: &str,
    loaded: Step,
) -> Result<Box<Step>, Diagnostic> {
    if loaded.access != Access::ReadOnly {
        return Err(cx
            .diag(probe.loc, "a `verify` probe must only read")
            .step(Some(id))
            .hint("use a read-only call, or say `mutates: false` when it only reads"));
    }
    Ok(Box::new(loaded))
}

#[cfg(test)]
mod tests {
    use crate::kinds::Access;
    use crate::runbook::load::step::step_of;

    const SHELL: &str = "shell: { command: 'true' }\n";

    #[test]
    fn a_probe_is_a_read_only_step_named_after_its_step() {
        let (step, diags) = step_of(&format!(
            "id: a\nverify: {{ mutates: false, shell: {{ command: ls }} }}\n{SHELL}"
        ));
        assert!(diags.is_empty(), "{diags:#?}");
        let probe = step.and_then(|s| s.verify).expect("a probe");
        assert_eq!(probe.id, "a-verify");
        assert_eq!(probe.access, Access::ReadOnly);
    }

    #[test]
    fn a_probe_that_writes_or_has_an_id_is_refused() {
        let (step, diags) = step_of(&format!(
            "id: a\nverify:\n  shell: {{ command: rm x }}\n{SHELL}"
        ));
        assert!(step.is_none());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].message, "a `verify` probe must only read");
        assert_eq!(diags[0].loc.line, 3);
        let (_, diags) = step_of(&format!(
            "id: a\nverify:\n  id: b\n  shell: {{ command: ls }}\n{SHELL}"
        ));
        assert_eq!(diags[0].message, "a `verify` probe takes no `id`");
        assert_eq!(diags[0].loc.line, 3);
        let (_, diags) = step_of(&format!("id: a\nverify: ls\n{SHELL}"));
        assert!(
            diags[0]
                .message
                .starts_with("`verify` is a read-only step without an id")
        );
    }
}
