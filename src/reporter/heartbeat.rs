//! The heartbeat: without spinners (CI logs, a pipe), a line at most every heartbeat period
//! (`settings::HEARTBEAT`, 30 s) says what the run is waiting for, so a long poll or a long
//! step does not look like a hung run.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::human::duration;
use super::terminal::Terminal;
use crate::events::Event;

/// A thread that writes the heartbeat lines on stderr, fed with the run's events.
pub struct Heartbeat {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    beat: Mutex<Beat>,
    wake: Condvar,
}

struct Beat {
    /// The steps under way, in the order they started.
    steps: Vec<Waiting>,
    /// When the last line was written: the next one is due a period later.
    last_line: Instant,
    stop: bool,
}

struct Waiting {
    step: String,
    started: Instant,
    /// After a failed attempt: the attempt that follows, of how many, the waits left then.
    retry: Option<(u32, u32, Duration, Instant)>,
}

impl Heartbeat {
    pub fn start(term: Arc<Terminal>) -> Self {
        let shared = Arc::new(Shared {
            beat: Mutex::new(Beat {
                steps: Vec::new(),
                last_line: Instant::now(),
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let period = term.heartbeat;
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || beat(&shared, &term, period))
        };
        Heartbeat {
            shared,
            thread: Some(thread),
        }
    }

    /// Follows the steps under way; an event that writes a line puts the next beat off.
    pub fn saw(&self, event: &Event) {
        let mut beat = self.shared.lock();
        let now = Instant::now();
        match event {
            Event::StepStarted { step, .. } => beat.steps.push(Waiting {
                step: step.clone(),
                started: now,
                retry: None,
            }),
            Event::StepRetrying {
                step,
                attempt,
                max_attempts,
                remaining_ms,
                ..
            } => {
                if let Some(w) = beat.steps.iter_mut().find(|w| w.step == *step) {
                    let left = Duration::from_millis(*remaining_ms);
                    w.retry = Some((attempt + 1, *max_attempts, left, now));
                }
            }
            Event::StepFinished(r) => {
                beat.steps.retain(|w| w.step != r.step);
                beat.last_line = now;
            }
            _ => beat.last_line = now,
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Beat> {
        self.beat.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The thread: sleeps until a line is due, writes it (outside the lock: the terminal may be
/// busy with a prompt), and again until told to stop.
fn beat(shared: &Shared, term: &Terminal, period: Duration) {
    let mut beat = shared.lock();
    while !beat.stop {
        let now = Instant::now();
        let due = beat.last_line + period;
        if now < due {
            beat = shared
                .wake
                .wait_timeout(beat, due - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        beat.last_line = now;
        let Some(line) = beat.line(now) else { continue };
        drop(beat);
        term.err(&line);
        beat = shared.lock();
    }
}

impl Beat {
    /// What the run waits for: the step under way longest, and how many others.
    fn line(&self, now: Instant) -> Option<String> {
        let first = self.steps.first()?;
        let what = match first.retry {
            Some((attempt, max, left, at)) => format!(
                "attempt {attempt}/{max}, {} left",
                duration(left.saturating_sub(now - at).as_millis() as u64)
            ),
            None => format!(
                "running for {}",
                duration((now - first.started).as_millis() as u64)
            ),
        };
        let others = match self.steps.len() - 1 {
            0 => String::new(),
            1 => " (and 1 other step)".to_owned(),
            n => format!(" (and {n} other steps)"),
        };
        Some(format!("  … waiting for {}: {what}{others}", first.step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(
        step: &str,
        started: Instant,
        retry: Option<(u32, u32, Duration, Instant)>,
    ) -> Waiting {
        Waiting {
            step: step.into(),
            started,
            retry,
        }
    }

    #[test]
    fn the_line_names_the_longest_wait_its_attempt_and_the_time_left() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(10);
        let mut beat = Beat {
            steps: Vec::new(),
            last_line: t0,
            stop: false,
        };
        assert_eq!(beat.line(now), None, "nothing under way, nothing to say");
        let left = Duration::from_secs(600);
        beat.steps
            .push(waiting("dispatch-poll", t0, Some((7, 60, left, t0))));
        assert_eq!(
            beat.line(now).unwrap(),
            "  … waiting for dispatch-poll: attempt 7/60, 9m50s left"
        );
        beat.steps.push(waiting("apply", t0, None));
        beat.steps.push(waiting("plan", t0, None));
        assert!(beat.line(now).unwrap().ends_with(" (and 2 other steps)"));
        beat.steps.remove(0);
        assert_eq!(
            beat.line(now).unwrap(),
            "  … waiting for apply: running for 10.0s (and 1 other step)"
        );
    }
}
