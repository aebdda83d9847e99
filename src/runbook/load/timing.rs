//! Timing fields read with their locations: durations (`timeout`, retry intervals), the
//! timeout's default, and a broken timing bound reported at its field.

use std::time::Duration;

use super::parse::FileCx;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::node::Node;
use crate::runbook::schedule;

/// How long a step may run when it sets no `timeout`.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// `text`, the value of `field` in `node`, as a duration (`30s`, `5m`, `1h`).
pub(super) fn duration(
    cx: &FileCx,
    node: &Node,
    field: &str,
    text: &str,
    step: &str,
) -> Result<Duration, Diagnostic> {
    humantime::parse_duration(text).map_err(|e| {
        let loc = node.get(field).map_or(node.loc, |n| n.loc);
        cx.diag(loc, format!("invalid duration `{text}` for `{field}`: {e}"))
            .step(Some(step))
            .hint("write durations like 30s, 5m or 1h")
    })
}

/// A timing bound broken, located at its field.
pub(super) fn out_of_bounds(
    cx: &FileCx,
    node: &Node,
    b: schedule::OutOfBounds,
    step: &str,
) -> Diagnostic {
    let loc = node.get(b.field).map_or(node.loc, |n| n.loc);
    cx.diag(loc, b.message).step(Some(step)).hint(b.hint)
}

/// `timeout`, bounded; the default when absent or unreadable.
pub(super) fn step_timeout(
    cx: &FileCx,
    node: &Node,
    text: Option<&str>,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Duration {
    match text.map(|t| duration(cx, node, "timeout", t, sid)) {
        Some(Ok(d)) => {
            if let Err(b) = schedule::check_timeout(d) {
                fail(out_of_bounds(cx, node, b, sid));
            }
            d
        }
        Some(Err(d)) => {
            fail(d);
            DEFAULT_TIMEOUT
        }
        None => DEFAULT_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::diagnostic::Loc;
    use crate::runbook::load::step::step_of;

    fn only(diags: &[Diagnostic]) -> &Diagnostic {
        assert_eq!(diags.len(), 1, "{diags:#?}");
        &diags[0]
    }

    #[test]
    fn timeouts_are_durations_above_zero() {
        let (_, diags) = step_of("id: a\ntimeout: soon\nshell: { command: 'true' }\n");
        assert!(
            only(&diags)
                .message
                .starts_with("invalid duration `soon` for `timeout`")
        );
        let (step, diags) = step_of("id: a\ntimeout: 2m\nshell: { command: 'true' }\n");
        assert!(diags.is_empty());
        assert_eq!(step.expect("a step").timeout, Duration::from_secs(120));
        let (_, diags) = step_of("id: a\ntimeout: 0s\nshell: { command: 'true' }\n");
        assert_eq!(only(&diags).loc, Loc { line: 2, col: 10 });
    }
}
