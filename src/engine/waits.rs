//! A step's retry schedule as it runs: the waits between its attempts, how many attempts it
//! allows, and how long it may still wait, which the attempt events carry.

use std::time::{Duration, Instant};

use backon::BackoffBuilder;

/// The waits of one step's retry, consumed one by one as its attempts fail.
pub(super) struct Waits {
    delays: backon::ExponentialBackoff,
    max_attempts: u32,
    /// The sum of the waits not yet taken.
    remaining: Duration,
    started: Instant,
}

/// The wait before the next attempt, and where the schedule stands.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wait {
    pub delay: Duration,
    /// The waits still ahead, this one included.
    pub remaining: Duration,
    /// The most attempts the retry allows.
    pub max_attempts: u32,
    /// Since the first attempt began.
    pub elapsed: Duration,
}

impl Waits {
    /// `attempts` attempts, `interval` apart at first, grown by `backoff` after each wait and
    /// capped by `max_interval`; timed from now (the first attempt's start).
    pub fn new(attempts: u32, interval: Duration, backoff: f32, max_interval: Duration) -> Self {
        let build = || {
            backon::ExponentialBuilder::default()
                .with_min_delay(interval)
                .with_factor(backoff)
                .with_max_times(attempts.saturating_sub(1) as usize)
                .with_max_delay(max_interval)
                .build()
        };
        // Bounded: a schedule waits at most a day, at least 100ms a time (runbook::schedule).
        let remaining = build().fold(Duration::ZERO, Duration::saturating_add);
        Waits {
            delays: build(),
            max_attempts: attempts,
            remaining,
            started: Instant::now(),
        }
    }
}

impl Iterator for Waits {
    type Item = Wait;

    /// The wait before the next attempt; `None` once no attempt is left.
    fn next(&mut self) -> Option<Wait> {
        let delay = self.delays.next()?;
        let remaining = self.remaining;
        self.remaining = self.remaining.saturating_sub(delay);
        Some(Wait {
            delay,
            remaining,
            max_attempts: self.max_attempts,
            elapsed: self.started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn each_wait_says_the_waits_still_ahead_including_itself() {
        // The seed's dispatch poll: 60 attempts 10 s apart, 59 waits.
        let mut waits = Waits::new(60, 10 * S, 1.0, 3600 * S);
        let first = waits.next().unwrap();
        assert_eq!((first.delay, first.remaining), (10 * S, 590 * S));
        assert_eq!(first.max_attempts, 60);
        let second = waits.next().unwrap();
        assert_eq!(second.remaining, 580 * S);
        assert_eq!((2..59).filter_map(|_| waits.next()).count(), 57);
        assert!(waits.next().is_none(), "no wait after the last attempt");
    }

    #[test]
    fn backoff_and_its_cap_count_in_the_time_left() {
        // 1 + 2 + 4 + 4 + 4 s: doubled, capped at 4 s.
        let left: Vec<Duration> = Waits::new(6, S, 2.0, 4 * S).map(|w| w.remaining).collect();
        assert_eq!(left, vec![15 * S, 14 * S, 12 * S, 8 * S, 4 * S]);
    }
}
