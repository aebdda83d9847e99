//! The JMESPath fields of a step (`expect` and `retry.until` matchers, `capture`, `show`):
//! compiled now, and refused when they hold a template.

use serde_json::Value;

use super::super::diagnostic::{Diagnostic, Loc};
use super::super::node::Node;
use super::parse::FileCx;
use crate::expect::Expectation;
use crate::template;

pub(super) fn parse_expectations(
    cx: &FileCx,
    items: &[Value],
    node: Option<&Node>,
    step: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Vec<Expectation> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_node = node.and_then(Node::as_seq).and_then(|s| s.get(i));
        if let Some(query) = item.get("query").and_then(Value::as_str) {
            let loc = item_node
                .map(|n| n.get("query").map_or(n.loc, |q| q.loc))
                .unwrap_or_default();
            if let Some(d) = jmespath_template(cx, loc, query, "`query`", step) {
                fail(d);
                continue;
            }
        }
        match Expectation::parse(item) {
            Ok(e) => out.push(e),
            Err(e) => {
                let loc = item_node
                    .map(|n| {
                        e.key
                            .as_deref()
                            .and_then(|k| n.entry(k))
                            .map_or(n.loc, |(k, _)| k.loc)
                    })
                    .unwrap_or_default();
                fail(
                    cx.diag(loc, format!("invalid expectation: {}", e.message))
                        .hint(format!("an expectation is `{{ query: JMESPath, <matcher>: value }}`; matchers: {}", crate::expect::MATCHERS.join(", ")))
                        .step(Some(step)),
                );
            }
        }
    }
    out
}

/// A template inside a JMESPath expression: refused, since a value rendered into a query can
/// change what it asks (quotes in the value) or, unrendered, match nothing and pass.
pub(super) fn jmespath_template(
    cx: &FileCx,
    loc: Loc,
    expr: &str,
    field: &str,
    step: &str,
) -> Option<Diagnostic> {
    template::is_template(expr).then(|| {
        let open = if expr.contains("{{") { "{{" } else { "{%" };
        cx.diag(
            cx.refine(loc, open),
            format!("{field} is a JMESPath expression and may not hold a template"),
        )
        .step(Some(step))
        .hint("put the value in the matcher instead: query the field (e.g. `ResourceRecordSets[0].Name`) and match it with `equals: \"{{ domain }}.\"`")
    })
}
