//! The JMESPath fields of a step (`expect` and `retry.until` matchers, `capture`, `show`):
//! compiled now, and refused when they hold a template.

use std::collections::BTreeMap;

use serde_json::Value;

use super::names::{reserved_name, valid_id};
use super::parse::FileCx;
use crate::expect::Expectation;
use crate::query::Query;
use crate::runbook::diagnostic::{Diagnostic, Loc};
use crate::runbook::node::Node;
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

/// `capture:`: each name a valid, unreserved identifier, each expression a JMESPath without
/// templates.
pub(super) fn parse_captures(
    cx: &FileCx,
    node: &Node,
    captures: &BTreeMap<String, String>,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Vec<(String, Query)> {
    let mut capture = Vec::new();
    for (name, expr) in captures {
        let loc = node
            .get("capture")
            .and_then(|c| c.get(name))
            .map_or(node.loc, |n| n.loc);
        if let Some(d) = jmespath_template(cx, loc, expr, &format!("capture `{name}`"), sid) {
            fail(d);
            continue;
        }
        match Query::compile(expr) {
            Ok(q) => capture.push((name.clone(), q)),
            Err(e) => fail(
                cx.diag(loc, format!("invalid JMESPath in capture `{name}`: {e}"))
                    .hint("captures use JMESPath, as `aws --query` does: e.g. `clusters[0].status`")
                    .step(Some(sid)),
            ),
        }
        if let Some(d) = reserved_name(cx, loc, "capture", name) {
            fail(d.step(Some(sid)));
        }
        if !valid_id(name) || name.contains('-') {
            fail(
                cx.diag(loc, format!("invalid capture name `{name}`"))
                    .step(Some(sid))
                    .hint("capture names use letters, digits and `_`"),
            );
        }
    }
    capture
}

/// `show:`, a JMESPath without templates over the step's output.
pub(super) fn parse_show(
    cx: &FileCx,
    node: &Node,
    show: Option<&str>,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Option<Query> {
    let show_loc = node.get("show").map_or(node.loc, |n| n.loc);
    if let Some(d) = show.and_then(|q| jmespath_template(cx, show_loc, q, "`show`", sid)) {
        fail(d);
    }
    show.and_then(|q| match Query::compile(q) {
        Ok(q) => Some(q),
        Err(e) => {
            fail(
                cx.diag(show_loc, format!("invalid JMESPath in `show`: {e}"))
                    .step(Some(sid))
                    .hint("`show` is a JMESPath over the step's output, e.g. `stdout`"),
            );
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::runbook::diagnostic::Loc;
    use crate::runbook::load::step::step_of;

    const SHELL: &str = "shell: { command: 'true' }\n";

    fn problems(fields: &str) -> Vec<(Loc, String)> {
        let (_, diags) = step_of(&format!("id: a\n{fields}{SHELL}"));
        diags.into_iter().map(|d| (d.loc, d.message)).collect()
    }

    #[test]
    fn captures_compile_and_keep_their_names() {
        let (step, diags) = step_of(&format!("id: a\ncapture: {{ out: stdout }}\n{SHELL}"));
        assert!(diags.is_empty(), "{diags:#?}");
        let names: Vec<String> = step
            .expect("a step")
            .capture
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["out"]);
    }

    #[test]
    fn a_capture_is_refused_for_a_template_a_bad_query_or_a_bad_name() {
        assert_eq!(
            problems("capture:\n  out: 'x[?a == `{{ v }}`]'\n"),
            [(
                Loc { line: 3, col: 18 },
                "capture `out` is a JMESPath expression and may not hold a template".into()
            )]
        );
        assert_eq!(
            problems("capture:\n  out: 'x[['\n")[0].1.split(':').next(),
            Some("invalid JMESPath in capture `out`")
        );
        assert_eq!(
            problems("capture:\n  my-out: stdout\n"),
            [(
                Loc { line: 3, col: 11 },
                "invalid capture name `my-out`".into()
            )]
        );
        assert_eq!(
            problems("capture:\n  item: stdout\n")[0].1,
            "capture `item` has a name templates already use"
        );
    }

    #[test]
    fn show_is_a_query_without_templates() {
        let (step, _) = step_of(&format!("id: a\nshow: stdout\n{SHELL}"));
        assert!(step.expect("a step").show.is_some());
        let found = problems("show: 'x[['\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.starts_with("invalid JMESPath in `show`"));
        assert_eq!(found[0].0, Loc { line: 2, col: 7 });
    }

    #[test]
    fn an_expectation_is_located_at_the_key_it_gets_wrong() {
        let found = problems("expect:\n  - query: status\n    bogus: 1\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.starts_with("invalid expectation: "), "{found:?}");
        assert_eq!(found[0].0, Loc { line: 4, col: 5 });
        let (step, _) = step_of(&format!(
            "id: a\nexpect:\n  - {{ query: status, equals: ok }}\n{SHELL}"
        ));
        assert_eq!(step.expect("a step").expect.len(), 1);
    }
}
