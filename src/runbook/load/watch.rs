//! A monitoring row's envelope fields: `every` (its interval) and `breach` (the rollback
//! level a breach held for `after` calls for), read with their locations; and the unit-level
//! rule that every step of `monitor` has an interval and no other step has one.

use std::time::Duration;

use super::document::{BreachDoc, EnvelopeDoc};
use super::parse::FileCx;
use super::root::LEVELS;
use super::timing::duration;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::{Breach, Step, UnitKey, Watch};
use crate::runbook::node::Node;

/// The shortest interval a row may have (tests use it; a real watch uses minutes).
const MIN_EVERY: Duration = Duration::from_secs(1);
/// The longest: a row checked less than daily is not watched over a 24-hour window.
const MAX_EVERY: Duration = Duration::from_secs(24 * 3600);

/// `every` and `breach` of a step, `None` when it has no `every`.
pub(super) fn parse_watch(
    cx: &FileCx,
    node: &Node,
    env: &EnvelopeDoc,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Option<Watch> {
    let Some(text) = env.every.as_deref() else {
        if env.breach.is_some() {
            let loc = node.get("breach").map_or(node.loc, |n| n.loc);
            fail(cx
                .diag(loc, "`breach` needs `every`")
                .step(Some(sid))
                .hint("a breach is judged on a monitoring row: give the row an interval such as `every: 5m`"));
        }
        return None;
    };
    let every = match duration(cx, node, "every", text, sid) {
        Ok(d) if (MIN_EVERY..=MAX_EVERY).contains(&d) => d,
        Ok(_) => {
            let loc = node.get("every").map_or(node.loc, |n| n.loc);
            fail(
                cx.diag(loc, format!("`every: {text}` is out of bounds"))
                    .step(Some(sid))
                    .hint("a row's interval is between 1s and 24h"),
            );
            return None;
        }
        Err(d) => {
            fail(d);
            return None;
        }
    };
    let breach = env
        .breach
        .as_ref()
        .and_then(|b| parse_breach(cx, node.get("breach").unwrap_or(node), b, sid, fail));
    Some(Watch { every, breach })
}

fn parse_breach(
    cx: &FileCx,
    node: &Node,
    doc: &BreachDoc,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Option<Breach> {
    if !LEVELS.contains(&doc.rollback) {
        let loc = node.get("rollback").map_or(node.loc, |n| n.loc);
        fail(
            cx.diag(loc, format!("there is no rollback level {}", doc.rollback))
                .step(Some(sid))
                .hint("rollback levels are numbered 1–3"),
        );
        return None;
    }
    let after = match duration(cx, node, "after", &doc.after, sid) {
        Ok(d) if d <= MAX_EVERY => d,
        Ok(_) => {
            let loc = node.get("after").map_or(node.loc, |n| n.loc);
            fail(
                cx.diag(
                    loc,
                    format!("`after: {}` is longer than the 24h window", doc.after),
                )
                .step(Some(sid))
                .hint("a breach calls for its rollback after at most 24h"),
            );
            return None;
        }
        Err(d) => {
            fail(d);
            return None;
        }
    };
    Some(Breach {
        rollback: doc.rollback,
        after,
    })
}

/// Every step of `monitor` is a row with an interval; a step of any other unit has none.
pub(super) fn check_rows(
    cx: &FileCx,
    key: UnitKey,
    steps: &[Step],
    nodes: &[Node],
    diags: &mut Vec<Diagnostic>,
) {
    for (step, node) in steps.iter().zip(nodes) {
        let monitor = key == UnitKey::Monitor;
        if monitor && step.watch.is_none() {
            diags.push(
                cx.diag(
                    step.loc,
                    format!("monitoring row `{}` has no `every`", step.id),
                )
                .step(Some(&step.id))
                .hint("give each row its interval, such as `every: 5m` or `every: 1h`"),
            );
        } else if !monitor && step.watch.is_some() {
            let loc = node.get("every").map_or(step.loc, |n| n.loc);
            diags.push(
                cx.diag(loc, format!("`every` on step `{}` of {key}", step.id))
                    .step(Some(&step.id))
                    .hint("only the rows of `monitor:` (checks/monitor.yaml) are checked at an interval"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runbook::load::step::step_of;
    use std::time::Duration;

    #[test]
    fn every_and_breach_are_read_with_their_bounds_and_locations() {
        let (step, diags) = step_of(
            "id: a\nevery: 5m\nbreach: { rollback: 2, after: 15m }\nshell: { command: 'true' }\n",
        );
        assert!(diags.is_empty(), "{diags:#?}");
        let watch = step.expect("a step").watch.expect("a watch");
        assert_eq!(watch.every, Duration::from_secs(300));
        let breach = watch.breach.expect("a breach");
        assert_eq!(
            (breach.rollback, breach.after),
            (2, Duration::from_secs(900))
        );

        let (_, diags) = step_of("id: a\nevery: often\nshell: { command: 'true' }\n");
        assert!(
            diags[0]
                .message
                .starts_with("invalid duration `often` for `every`")
        );
        assert_eq!((diags[0].loc.line, diags[0].loc.col), (2, 8));
        let (_, diags) = step_of("id: a\nevery: 2d\nshell: { command: 'true' }\n");
        assert_eq!(diags[0].message, "`every: 2d` is out of bounds");
        let (_, diags) = step_of(
            "id: a\nevery: 1m\nbreach: { rollback: 4, after: 1m }\nshell: { command: 'true' }\n",
        );
        assert_eq!(diags[0].message, "there is no rollback level 4");
        assert_eq!((diags[0].loc.line, diags[0].loc.col), (3, 21));
        let (_, diags) =
            step_of("id: a\nbreach: { rollback: 1, after: 1m }\nshell: { command: 'true' }\n");
        assert_eq!(diags[0].message, "`breach` needs `every`");
    }
}
