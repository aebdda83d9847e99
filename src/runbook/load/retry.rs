//! `retry:` on a step: attempts, interval, backoff and `until`. A schedule spelt out is
//! bounded here; one written as a `{{ var }}` template is bounded when it is rendered.

use std::time::Duration;

use serde_json::Value;

use super::document::RetryDoc;
use super::parse::FileCx;
use super::queries::parse_expectations;
use super::timing::{duration, out_of_bounds};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::Retry;
use crate::runbook::node::Node;
use crate::runbook::schedule;
use crate::template;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The retry of step `sid`, from its `retry:` document `r` found at `rnode`.
pub(super) fn parse_retry(
    cx: &FileCx,
    rnode: &Node,
    r: &RetryDoc,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Retry {
    let mut parse_dur = |field: &str, text: &Option<String>, default: Duration| match text {
        Some(t) => duration(cx, rnode, field, t, sid).unwrap_or_else(|d| {
            fail(d);
            default
        }),
        None => default,
    };
    // A templated interval is rendered when the step runs.
    let interval_template = r.interval.clone().filter(|t| template::is_template(t));
    let interval = match interval_template {
        Some(_) => DEFAULT_INTERVAL,
        None => parse_dur("interval", &r.interval, DEFAULT_INTERVAL),
    };
    let max_interval = r
        .max_interval
        .as_ref()
        .map(|_| parse_dur("max_interval", &r.max_interval, DEFAULT_MAX_INTERVAL));
    let (attempts, attempts_template) = attempts(&r.attempts);
    if attempts == 0 {
        fail(
            cx.diag(
                rnode.get("attempts").map_or(rnode.loc, |n| n.loc),
                "`attempts` must be a number of at least 1 (or a `{{ var }}`)",
            )
            .step(Some(sid))
            .hint("`attempts` counts the first try: 1 means no retry"),
        );
    }
    let backoff = r.backoff.unwrap_or(1.0).max(1.0);
    // What is spelt out is bounded now; a `{{ var }}` schedule when it is rendered.
    let max_ok = || max_interval.map_or(Ok(()), |m| schedule::check_interval("max_interval", m));
    let bounds = match (&attempts_template, &interval_template) {
        _ if attempts == 0 => Ok(()),
        (None, None) => schedule::check_retry(attempts, interval, backoff, max_interval),
        (Some(_), None) => schedule::check_interval("interval", interval).and_then(|()| max_ok()),
        (_, Some(_)) => max_ok(),
    };
    if let Err(b) = bounds {
        fail(out_of_bounds(cx, rnode, b, sid));
    }
    let until = parse_expectations(cx, &r.until, rnode.get("until"), sid, fail);
    Retry {
        attempts: attempts.max(1),
        attempts_template,
        interval,
        interval_template,
        backoff,
        max_interval,
        until,
    }
}

/// `attempts` as a count (0 when it is not a usable one), and its template if it is one
/// (counted as 1 until rendered).
fn attempts(value: &Value) -> (u32, Option<String>) {
    match value {
        Value::Number(n) => (
            n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            None,
        ),
        Value::String(t) if template::is_template(t) => (1, Some(t.clone())),
        _ => (0, None),
    }
}

#[cfg(test)]
mod tests {
    use crate::runbook::load::step::step_of;

    const SHELL: &str = "shell: { command: 'true' }\n";

    fn retry_of(retry: &str) -> (Option<crate::runbook::model::Retry>, Vec<String>) {
        let (step, diags) = step_of(&format!("id: a\nretry: {retry}\n{SHELL}"));
        (
            step.and_then(|s| s.retry),
            diags.into_iter().map(|d| d.message).collect(),
        )
    }

    #[test]
    fn a_spelt_out_schedule_is_read_with_its_defaults() {
        let (retry, problems) = retry_of("{ attempts: 3, until: [{ query: status, equals: ok }] }");
        assert!(problems.is_empty(), "{problems:?}");
        let retry = retry.expect("a retry");
        assert_eq!(retry.attempts, 3);
        assert_eq!(retry.interval, super::DEFAULT_INTERVAL);
        assert_eq!(retry.backoff, 1.0);
        assert_eq!(retry.until.len(), 1);
    }

    #[test]
    fn templated_attempts_and_interval_wait_for_their_rendering() {
        let (retry, problems) =
            retry_of("{ attempts: '{{ n }}', interval: '{{ every }}', backoff: 0.5 }");
        assert!(problems.is_empty(), "{problems:?}");
        let retry = retry.expect("a retry");
        assert_eq!(retry.attempts, 1);
        assert_eq!(retry.attempts_template.as_deref(), Some("{{ n }}"));
        assert_eq!(retry.interval_template.as_deref(), Some("{{ every }}"));
        // A backoff below 1 would shorten the waits: it is taken as 1.
        assert_eq!(retry.backoff, 1.0);
    }

    #[test]
    fn zero_attempts_is_refused_at_attempts() {
        let (step, diags) = step_of(&format!("id: a\nretry:\n  attempts: 0\n{SHELL}"));
        assert!(step.is_none());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!((diags[0].loc.line, diags[0].loc.col), (3, 13));
        assert!(diags[0].message.starts_with("`attempts` must be a number"));
    }

    #[test]
    fn a_spelt_out_interval_is_bounded_now() {
        let (_, problems) = retry_of("{ attempts: 3, interval: 10ms }");
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (_, problems) = retry_of("{ attempts: 3, interval: often }");
        assert!(problems[0].starts_with("invalid duration `often` for `interval`"));
    }
}
