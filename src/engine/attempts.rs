//! A step's attempts: running its kind under a timeout, judging the output (`until`, `expect`),
//! retrying with backoff, and the in-doubt probe. Nothing here reads or writes the state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::interrupt::Interrupt;
use super::waits::Waits;
use crate::events::{Event, EventSink};
use crate::kinds::{FailureClass, KindContext, KindFailure, StepRef};
use crate::query::Query;
use crate::runbook::Step;
use crate::runbook::model::Retry;
use crate::secrets::Redactor;
use crate::template;

/// What one step's attempts need: the step, and the services its kind runs with.
pub(super) struct Attempts<'a> {
    pub unit: &'a str,
    /// The plan id (`id` or `id.item` for a `for_each` item).
    pub id: &'a str,
    pub step: &'a Step,
    pub kinds: &'a KindContext,
    pub interrupt: &'a Interrupt,
    pub redactor: &'a Redactor,
    pub sink: &'a dyn EventSink,
}

/// What the attempts produced.
pub(super) struct Attempted {
    pub output: Result<Value, KindFailure>,
    pub attempts: u32,
    /// Ctrl-C came while waiting to retry: the step neither failed nor succeeded.
    pub interrupted: bool,
}

impl Attempted {
    fn ended(output: Result<Value, KindFailure>, attempts: u32) -> Self {
        Attempted {
            output,
            attempts,
            interrupted: false,
        }
    }
}

impl Attempts<'_> {
    /// Runs the kind with per-attempt timeouts, retrying (with backoff) failures and unmet
    /// `until` conditions while attempts remain. Set-up failures and refusals are final.
    pub async fn run(&self, spec: Value, ctx: &minijinja::Value, approved: bool) -> Attempted {
        let mut waits = match self.waits(ctx) {
            Ok(w) => w,
            Err(e) => {
                let message = format!("step `{}`: {e}", self.id);
                return Attempted::ended(Err(KindFailure::failed(message)), 0);
            }
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (result, stuck) = self.once(spec.clone(), ctx, approved).await;
            let failure = match result {
                Err(f) if f.class == FailureClass::Failed => f,
                done => return Attempted::ended(done, attempts),
            };
            let wait = waits.as_mut().and_then(Iterator::next);
            // A group SIGKILL did not end: another attempt would run beside it.
            let (Some(wait), None) = (wait, stuck) else {
                let message =
                    final_message(failure.message, attempts, stuck.filter(|_| wait.is_some()));
                return Attempted::ended(Err(KindFailure::failed(message)), attempts);
            };
            self.sink.emit(Event::StepRetrying {
                unit: self.unit.to_owned(),
                step: self.id.to_owned(),
                attempt: attempts,
                max_attempts: wait.max_attempts,
                delay_ms: wait.delay.as_millis() as u64,
                elapsed_ms: wait.elapsed.as_millis() as u64,
                remaining_ms: wait.remaining.as_millis() as u64,
                reason: self.redactor.redact(&failure.message),
            });
            if self.interrupt.sleep(wait.delay).await {
                let message = format!(
                    "interrupted while waiting to retry (after {attempts} attempt{}): {}",
                    if attempts == 1 { "" } else { "s" },
                    failure.message
                );
                return Attempted {
                    output: Err(KindFailure::failed(message)),
                    attempts,
                    interrupted: true,
                };
            }
        }
    }

    /// One attempt, judged; with the process group that outlived it, if any.
    async fn once(
        &self,
        spec: Value,
        ctx: &minijinja::Value,
        approved: bool,
    ) -> (Result<Value, KindFailure>, Option<i32>) {
        let step_ref = StepRef {
            id: self.id,
            approved,
        };
        let ran = tokio::time::timeout(
            self.step.timeout,
            self.step.kind.run(spec, step_ref, self.kinds),
        )
        .await;
        // No attempt (nor the next step) runs beside what this one started.
        let stuck = self.kinds.processes.stop_step(self.id, ran.is_ok()).await;
        self.interrupt.park_if_forced().await;
        let result = match ran {
            Err(_) => Err(KindFailure::failed(format!(
                "timed out after {}",
                humantime::format_duration(self.step.timeout)
            ))),
            Ok(Err(f)) => Err(f),
            Ok(Ok(output)) => {
                self.register_secret_captures(&self.step.capture, &output);
                self.judge(&output, ctx).map(|()| output)
            }
        };
        (result, stuck)
    }

    /// The waits between attempts, `None` without `retry:`.
    fn waits(&self, ctx: &minijinja::Value) -> Result<Option<Waits>, String> {
        let Some(retry) = &self.step.retry else {
            return Ok(None);
        };
        let (attempts, interval) = retry_schedule(retry, ctx)?;
        let max_interval = retry
            .max_interval
            .unwrap_or(crate::runbook::schedule::DEFAULT_MAX_INTERVAL);
        Ok(Some(Waits::new(
            attempts,
            interval,
            retry.backoff,
            max_interval,
        )))
    }

    /// Runs a step's `verify` probe once: its expectations hold → the captures it makes.
    pub async fn probe(
        &self,
        probe: &Step,
        ctx: &minijinja::Value,
    ) -> Result<BTreeMap<String, Value>, String> {
        let spec = probe.kind.render(&probe.spec, ctx)?;
        let step_ref = StepRef {
            id: self.id,
            approved: false,
        };
        let ran =
            tokio::time::timeout(probe.timeout, probe.kind.run(spec, step_ref, self.kinds)).await;
        self.kinds.processes.stop_step(self.id, ran.is_ok()).await;
        self.interrupt.park_if_forced().await;
        let output = ran
            .map_err(|_| "the probe timed out".to_string())?
            .map_err(|f| f.message)?;
        // What the probe captures stands for the step's captures: as secret as they are.
        self.register_secret_captures(&probe.capture, &output);
        for e in &probe.expect {
            e.check(&output, ctx)?;
        }
        probe
            .capture
            .iter()
            .map(|(name, q)| match q.search(&output)? {
                Value::Null => Err(format!("the probe's capture `{name}` found nothing")),
                v => Ok((name.clone(), v)),
            })
            .collect()
    }

    /// A secret step's captures are masked as soon as its output exists: before `until`,
    /// `expect`, `show` or a probe judge it, and before anything about it is printed or saved.
    fn register_secret_captures(&self, capture: &[(String, Query)], output: &Value) {
        if !self.step.secret {
            return;
        }
        for (_, query) in capture {
            if let Ok(v) = query.search(output) {
                self.redactor.add_value(&v);
            }
        }
    }

    /// `until` (polling) then `expect`; both failing are retryable while attempts remain.
    fn judge(&self, output: &Value, ctx: &minijinja::Value) -> Result<(), KindFailure> {
        if let Some(retry) = &self.step.retry {
            for until in &retry.until {
                until
                    .check(output, ctx)
                    .map_err(|e| KindFailure::failed(format!("still waiting: {e}")))?;
            }
        }
        for e in &self.step.expect {
            e.check(output, ctx).map_err(KindFailure::failed)?;
        }
        Ok(())
    }
}

/// The message of the last failed attempt: how many there were, and why no other followed
/// when a process group outlived SIGKILL.
fn final_message(message: String, attempts: u32, stuck: Option<i32>) -> String {
    let mut message = if attempts > 1 {
        format!("{message} (after {attempts} attempts)")
    } else {
        message
    };
    if let Some(pgid) = stuck {
        message.push_str(&format!(
            "; not retried: its process group {pgid} still runs after SIGKILL"
        ));
    }
    message
}

/// The captures a step's output gives, each required to find something.
pub(super) fn captures(step: &Step, output: &Value) -> Result<BTreeMap<String, Value>, String> {
    let mut captured = BTreeMap::new();
    for (name, query) in &step.capture {
        match query.search(output) {
            Ok(Value::Null) => {
                return Err(format!(
                    "capture `{name}`: `{}` found nothing in the output",
                    query.source()
                ));
            }
            Ok(v) => {
                captured.insert(name.clone(), v);
            }
            Err(e) => return Err(format!("capture `{name}`: {e}")),
        }
    }
    Ok(captured)
}

/// The attempts and interval of a retry, templates rendered.
fn retry_schedule(r: &Retry, ctx: &minijinja::Value) -> Result<(u32, Duration), String> {
    let attempts = match &r.attempts_template {
        Some(t) => match template::render_str(t, ctx)? {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("retry `attempts: {t}` is not a number of at least 1"))?,
        None => r.attempts,
    };
    let interval = match &r.interval_template {
        Some(t) => {
            let text = match template::render_str(t, ctx)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            humantime::parse_duration(text.trim())
                .map_err(|e| format!("retry `interval: {t}` is `{text}`, not a duration: {e}"))?
        }
        None => r.interval,
    };
    if r.attempts_template.is_some() || r.interval_template.is_some() {
        crate::runbook::schedule::check_retry(attempts, interval, r.backoff, r.max_interval)
            .map_err(|b| format!("{} ({})", b.message, b.hint))?;
    }
    Ok((attempts, interval))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::engine::testkit::{NoTerminal, Recorded, Scripted, step};
    use crate::expect::Expectation;
    use crate::kinds::aws::{AwsConfig, AwsContext};

    fn retry(attempts: u32, until: Vec<Expectation>) -> Retry {
        Retry {
            attempts,
            attempts_template: None,
            interval: Duration::from_millis(1),
            interval_template: None,
            backoff: 1.0,
            max_interval: None,
            until,
        }
    }

    fn expectation(v: Value) -> Expectation {
        Expectation::parse(&v).unwrap()
    }

    struct World {
        kinds: KindContext,
        interrupt: Interrupt,
        redactor: Redactor,
        sink: Recorded,
    }

    impl World {
        fn new() -> Self {
            World {
                kinds: KindContext {
                    http: Arc::default(),
                    backups: Arc::new(crate::state::LocalBackups::new(std::env::temp_dir())),
                    prompter: Arc::new(NoTerminal),
                    aws: std::sync::Arc::new(AwsContext::new(AwsConfig::default())),
                    processes: Arc::default(),
                },
                interrupt: Interrupt::new(),
                redactor: Redactor::new(),
                sink: Recorded::default(),
            }
        }

        async fn run(&self, step: &Step) -> Attempted {
            self.attempts(step)
                .run(json!({}), &minijinja::Value::UNDEFINED, false)
                .await
        }

        fn attempts<'a>(&'a self, step: &'a Step) -> Attempts<'a> {
            Attempts {
                unit: "phase-1",
                id: &step.id,
                step,
                kinds: &self.kinds,
                interrupt: &self.interrupt,
                redactor: &self.redactor,
                sink: &self.sink,
            }
        }
    }

    #[tokio::test]
    async fn a_failure_is_retried_until_an_attempt_succeeds() {
        let kind = Scripted::leaked(vec![
            Err(KindFailure::failed("refused connection")),
            Err(KindFailure::failed("refused connection")),
            Ok(json!({"ok": true})),
        ]);
        let mut s = step(kind);
        s.retry = Some(retry(5, Vec::new()));
        let world = World::new();
        let done = world.run(&s).await;
        assert_eq!(done.output.unwrap(), json!({"ok": true}));
        assert_eq!(done.attempts, 3);
        assert_eq!(world.sink.retries(), vec![1, 2]);
    }

    #[tokio::test]
    async fn the_last_failure_says_how_many_attempts_were_made() {
        let kind = Scripted::leaked(vec![
            Err(KindFailure::failed("first")),
            Err(KindFailure::failed("second")),
            Ok(json!({})),
        ]);
        let mut s = step(kind);
        s.retry = Some(retry(2, Vec::new()));
        let done = World::new().run(&s).await;
        let failure = done.output.unwrap_err();
        assert_eq!(failure.message, "second (after 2 attempts)");
        assert_eq!(failure.class, FailureClass::Failed);
        assert_eq!(done.attempts, 2);
        assert!(!done.interrupted);
    }

    #[tokio::test]
    async fn set_up_failures_and_refusals_are_never_retried() {
        for failure in [
            KindFailure::setup("no credentials"),
            KindFailure::refused("declined"),
        ] {
            let class = failure.class;
            let kind = Scripted::leaked(vec![Err(failure), Ok(json!({}))]);
            let mut s = step(kind);
            s.retry = Some(retry(3, Vec::new()));
            let world = World::new();
            let done = world.run(&s).await;
            assert_eq!(done.output.unwrap_err().class, class);
            assert_eq!(done.attempts, 1);
            assert!(world.sink.retries().is_empty());
        }
    }

    #[tokio::test]
    async fn until_polls_while_the_output_is_not_yet_as_awaited() {
        let kind = Scripted::leaked(vec![
            Ok(json!({"status": "PENDING"})),
            Ok(json!({"status": "INSYNC"})),
        ]);
        let mut s = step(kind);
        let until = expectation(json!({"query": "status", "equals": "INSYNC"}));
        s.retry = Some(retry(3, vec![until]));
        let world = World::new();
        let done = world.run(&s).await;
        assert_eq!(done.output.unwrap(), json!({"status": "INSYNC"}));
        assert_eq!(done.attempts, 2);
        assert_eq!(world.sink.retries(), vec![1]);
    }

    #[tokio::test]
    async fn until_never_met_fails_as_still_waiting() {
        let kind = Scripted::leaked(vec![
            Ok(json!({"status": "PENDING"})),
            Ok(json!({"status": "PENDING"})),
        ]);
        let mut s = step(kind);
        let until = expectation(json!({"query": "status", "equals": "INSYNC"}));
        s.retry = Some(retry(2, vec![until]));
        let done = World::new().run(&s).await;
        let message = done.output.unwrap_err().message;
        assert!(message.starts_with("still waiting: "), "{message}");
        assert!(message.ends_with("(after 2 attempts)"), "{message}");
    }

    #[tokio::test]
    async fn an_unmet_expectation_without_retry_fails_on_the_first_attempt() {
        let kind = Scripted::leaked(vec![Ok(json!({"count": 1})), Ok(json!({"count": 2}))]);
        let mut s = step(kind);
        s.expect = vec![expectation(json!({"query": "count", "equals": 2}))];
        let done = World::new().run(&s).await;
        assert!(done.output.is_err());
        assert_eq!(done.attempts, 1);
    }

    #[tokio::test]
    async fn an_attempt_that_outlasts_its_timeout_fails_as_timed_out() {
        let kind = Scripted::leaked(Vec::new());
        let mut s = step(kind);
        s.timeout = Duration::from_millis(20);
        let done = World::new().run(&s).await;
        assert_eq!(done.output.unwrap_err().message, "timed out after 20ms");
        assert_eq!(done.attempts, 1);
    }

    #[tokio::test]
    async fn ctrl_c_before_a_retry_wait_ends_the_attempts_as_interrupted() {
        let kind = Scripted::leaked(vec![Err(KindFailure::failed("not yet")), Ok(json!({}))]);
        let mut s = step(kind);
        s.retry = Some(retry(3, Vec::new()));
        let world = World::new();
        world.interrupt.request();
        let done = world.run(&s).await;
        assert!(done.interrupted);
        assert_eq!(done.attempts, 1);
        let message = done.output.unwrap_err().message;
        assert_eq!(
            message,
            "interrupted while waiting to retry (after 1 attempt): not yet"
        );
    }

    #[tokio::test]
    async fn a_probe_whose_expectations_hold_gives_its_captures() {
        let s = step(Scripted::leaked(Vec::new()));
        let mut probe = step(Scripted::leaked(vec![Ok(
            json!({"arn": "arn:x", "ok": true}),
        )]));
        probe.expect = vec![expectation(json!({"query": "ok", "equals": true}))];
        probe.capture = vec![("arn".into(), Query::compile("arn").unwrap())];
        let world = World::new();
        let captured = world
            .attempts(&s)
            .probe(&probe, &minijinja::Value::UNDEFINED)
            .await
            .unwrap();
        assert_eq!(captured.get("arn"), Some(&json!("arn:x")));
    }

    #[tokio::test]
    async fn a_probe_that_finds_nothing_or_fails_its_expectation_is_no_proof() {
        let s = step(Scripted::leaked(Vec::new()));
        let mut empty = step(Scripted::leaked(vec![Ok(json!({}))]));
        empty.capture = vec![("arn".into(), Query::compile("arn").unwrap())];
        let mut unmet = step(Scripted::leaked(vec![Ok(json!({"ok": false}))]));
        unmet.expect = vec![expectation(json!({"query": "ok", "equals": true}))];
        let world = World::new();
        let attempts = world.attempts(&s);
        let ctx = minijinja::Value::UNDEFINED;
        let err = attempts.probe(&empty, &ctx).await.unwrap_err();
        assert_eq!(err, "the probe's capture `arn` found nothing");
        assert!(attempts.probe(&unmet, &ctx).await.is_err());
    }

    #[test]
    fn a_capture_that_finds_nothing_is_an_error_naming_it() {
        let mut s = step(Scripted::leaked(Vec::new()));
        s.capture = vec![("zone".into(), Query::compile("zone_id").unwrap())];
        let err = captures(&s, &json!({"other": 1})).unwrap_err();
        assert_eq!(err, "capture `zone`: `zone_id` found nothing in the output");
        let got = captures(&s, &json!({"zone_id": "Z1"})).unwrap();
        assert_eq!(got.get("zone"), Some(&json!("Z1")));
    }
}
