//! Bounds on a step's timing: a timeout above zero, and retry schedules that neither spin (a
//! minimum interval) nor wait for days (a maximum total wait). `validate` checks them where
//! the runbook spells them out; a `{{ var }}` schedule is checked when it is rendered.

use std::time::Duration;

/// The shortest wait between attempts: a retry that does not wait starts hundreds of
/// processes (or requests) a second.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The longest a step may spend waiting between its attempts, in all.
pub const MAX_TOTAL_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The cap on one wait when the runbook sets no `max_interval`.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// A schedule out of bounds: what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfBounds {
    /// The field the problem is in (`timeout`, `interval`, `max_interval`, `attempts`).
    pub field: &'static str,
    pub message: String,
    pub hint: String,
}

pub fn check_timeout(timeout: Duration) -> Result<(), OutOfBounds> {
    if timeout.is_zero() {
        return Err(OutOfBounds {
            field: "timeout",
            message: "`timeout` must be more than zero".into(),
            hint: "a step's timeout is how long one attempt may run, e.g. 30s or 10m; leave it out for the default of 5m".into(),
        });
    }
    Ok(())
}

/// Checks one wait: `interval`, and `max_interval` (which caps every wait, the first too).
pub fn check_interval(field: &'static str, interval: Duration) -> Result<(), OutOfBounds> {
    if interval < MIN_INTERVAL {
        return Err(OutOfBounds {
            field,
            message: format!(
                "retry `{field}` of {} is below the minimum of {}",
                humantime::format_duration(interval),
                humantime::format_duration(MIN_INTERVAL)
            ),
            hint: "a retry that does not wait hammers what it polls: wait at least 100ms between attempts, e.g. `interval: 1s`".into(),
        });
    }
    Ok(())
}

/// Checks a whole schedule: each wait, then all the waits together.
pub fn check_retry(
    attempts: u32,
    interval: Duration,
    backoff: f32,
    max_interval: Option<Duration>,
) -> Result<(), OutOfBounds> {
    check_interval("interval", interval)?;
    if let Some(max) = max_interval {
        check_interval("max_interval", max)?;
    }
    let total = total_wait(attempts, interval, backoff, max_interval);
    if total > MAX_TOTAL_WAIT {
        return Err(OutOfBounds {
            field: "attempts",
            message: format!(
                "this retry schedule waits {} between its {attempts} attempts, more than the maximum of {}",
                if total == Duration::MAX {
                    "for ever".to_owned()
                } else {
                    format!("up to {}", humantime::format_duration(rounded(total)))
                },
                max_total()
            ),
            hint: "lower `attempts` or `interval` (or `backoff`, or set `max_interval`): a step that has not settled within a day needs the operator, not another attempt".into(),
        });
    }
    Ok(())
}

/// The sum of the waits between `attempts` attempts: `interval` grown by `backoff` after each
/// wait and capped by `max_interval` (as the engine's backoff does, without jitter). Stops
/// counting past `MAX_TOTAL_WAIT`; the caller has checked `interval >= MIN_INTERVAL`, so that
/// takes at most a million steps.
fn total_wait(
    attempts: u32,
    interval: Duration,
    backoff: f32,
    max_interval: Option<Duration>,
) -> Duration {
    let cap = max_interval.unwrap_or(DEFAULT_MAX_INTERVAL).as_secs_f64();
    let limit = MAX_TOTAL_WAIT.as_secs_f64();
    let waits = attempts.saturating_sub(1);
    let mut delay = interval.as_secs_f64().min(cap);
    let mut total = 0.0;
    for done in 0..waits {
        if delay >= cap {
            total += cap * f64::from(waits - done);
            break;
        }
        total += delay;
        if total > limit {
            break;
        }
        delay = (delay * f64::from(backoff.max(1.0))).min(cap);
    }
    Duration::try_from_secs_f64(total).unwrap_or(Duration::MAX)
}

/// The maximum as the README says it (humantime would say `1day`).
fn max_total() -> String {
    format!("{}h", MAX_TOTAL_WAIT.as_secs() / 3600)
}

/// To the second: a total is a rough figure.
fn rounded(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn zero_timeout_is_refused() {
        assert_eq!(check_timeout(Duration::ZERO).unwrap_err().field, "timeout");
        assert!(check_timeout(Duration::from_millis(1)).is_ok());
    }

    #[test]
    fn an_interval_below_the_minimum_is_refused() {
        let e = check_retry(3, Duration::ZERO, 1.0, None).unwrap_err();
        assert_eq!(e.field, "interval");
        assert!(check_retry(3, MIN_INTERVAL, 1.0, None).is_ok());
        let e = check_retry(3, S, 1.0, Some(Duration::from_millis(10))).unwrap_err();
        assert_eq!(e.field, "max_interval");
    }

    #[test]
    fn the_total_counts_backoff_and_its_cap() {
        assert_eq!(total_wait(1, S, 1.0, None), Duration::ZERO);
        assert_eq!(total_wait(4, S, 1.0, None), 3 * S);
        // 1 + 2 + 4 + 4 + 4: doubled, capped at 4s.
        assert_eq!(total_wait(6, S, 2.0, Some(4 * S)), 15 * S);
        // Without max_interval a wait is capped at an hour.
        assert_eq!(
            total_wait(3, 2 * DEFAULT_MAX_INTERVAL, 1.0, None),
            2 * DEFAULT_MAX_INTERVAL
        );
    }

    #[test]
    fn a_schedule_waiting_more_than_a_day_is_refused() {
        // The shipped runbook's longest: 30 attempts 60s apart.
        assert!(check_retry(30, 60 * S, 1.0, None).is_ok());
        // 86,400 waits of a second are exactly a day.
        assert!(check_retry(86_401, S, 1.0, None).is_ok());
        assert!(check_retry(86_402, S, 1.0, None).is_err());
        let e = check_retry(1_000_000, MIN_INTERVAL, 1.0, None).unwrap_err();
        assert_eq!(e.field, "attempts");
        assert!(
            e.message.contains("more than the maximum of 24h"),
            "{}",
            e.message
        );
        assert!(check_retry(u32::MAX, S, 10.0, None).is_err());
        assert!(check_retry(25, DEFAULT_MAX_INTERVAL, 1.0, None).is_ok());
        assert!(check_retry(26, DEFAULT_MAX_INTERVAL, 1.0, None).is_err());
    }
}
