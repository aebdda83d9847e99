//! Notifications (the runbook's `notify:` section) through the binary, against local
//! receivers standing in for Slack's incoming webhook and PagerDuty's Events API, and the
//! emulator's SNS: who gets which event at which severity, and that a receiver down or
//! hanging, `--no-notify` and a dry run change nothing of the run.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::{Value, json};

use crate::support::{Moto, Run, Runbook, Test, indent};

/// The secrets: the webhook's token is the tail of its URL, the routing key goes in PagerDuty's body.
const SLACK_TOKEN: &str = "xoxb-notify-secret-token-9f2c";
const ROUTING_KEY: &str = "R0UTINGKEY-secret-7d41e2";
const HINT: &str = "run `outpost-migrate diagnose control-plane`";

/// What the receivers got: the path and the JSON body of each POST.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// A local server playing Slack (`/slack/...`, 200), PagerDuty (`/pd`, 202) and a receiver
/// that never answers (`/hang`).
struct Receiver {
    url: String,
    seen: Seen,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    fn start() -> Self {
        let seen: Seen = Arc::default();
        let record = |status: StatusCode| {
            move |State(seen): State<Seen>, uri: axum::http::Uri, body: String| async move {
                let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
                seen.lock().unwrap().push((uri.path().to_owned(), body));
                status
            }
        };
        let app = Router::new()
            .route("/slack/{*rest}", post(record(StatusCode::OK)))
            .route("/pd", post(record(StatusCode::ACCEPTED)))
            .route(
                "/hang",
                post(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    StatusCode::OK
                }),
            )
            .with_state(seen.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let serve = axum::serve(listener, app);
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Receiver {
            url: format!("http://{}", rx.recv().unwrap()),
            seen,
            _stop: stop,
        }
    }

    fn slack_url(&self) -> String {
        format!("{}/slack/T000/B000/{SLACK_TOKEN}", self.url)
    }

    /// The texts Slack received.
    fn slack(&self) -> Vec<String> {
        self.bodies("/slack/")
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The events PagerDuty received.
    fn pagerduty(&self) -> Vec<Value> {
        self.bodies("/pd")
    }

    fn bodies(&self, prefix: &str) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// A loopback URL nothing listens on: a receiver that is down.
fn down_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/down", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// The minimal runbook with a `notify:` section whose PagerDuty endpoint is `pd_url` and
/// whose SNS topic is the var `topic` (empty by default: no topic).
fn notifying(pd_url: &str) -> Runbook {
    let rb = Runbook::minimal().vars("  greeting: hello\n  topic: ''\n");
    let section = format!(
        "on_call: Test rotation\nslack_channel: '#test-alerts'\n\
         issues_url: https://github.com/example/outpost/issues\n\
         pagerduty_url: '{pd_url}'\nsns_topic_arn: '{{{{ topic }}}}'\ntimeout: 2s\n"
    );
    let root = format!(
        "{}notify:\n{}",
        rb.files["runbook.yaml"],
        indent(&section, 2)
    );
    rb.file("runbook.yaml", &root)
}

/// Phase 2 fails with a hint: production traffic is at stake (P1).
fn failing_phase_2(rb: Runbook) -> Runbook {
    rb.phase(
        2,
        &format!(
            "- id: p2-break\n  shell: {{ command: 'echo broken >&2; false' }}\n  hint: \"{HINT}\"\n"
        ),
    )
}

fn with_secrets(t: Test, slack_url: &str) -> Test {
    t.env("OUTPOST_SLACK_WEBHOOK_URL", slack_url)
        .env("OUTPOST_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
}

/// Neither secret in the run's output, state or audit log.
#[track_caller]
fn no_secret_in(t: &Test, runs: &[&Run]) {
    let files = ["state.json", "audit.jsonl", "lock"]
        .map(|f| std::fs::read_to_string(t.state_dir().join(f)).unwrap_or_default());
    for secret in [SLACK_TOKEN, ROUTING_KEY] {
        for run in runs {
            assert!(
                !run.stdout.contains(secret),
                "{secret} on stdout:\n{}",
                run.stdout
            );
            assert!(
                !run.stderr.contains(secret),
                "{secret} on stderr:\n{}",
                run.stderr
            );
        }
        for (name, text) in ["state.json", "audit.jsonl", "lock"].iter().zip(&files) {
            assert!(!text.contains(secret), "{secret} in {name}");
        }
    }
}

#[test]
fn a_failed_phase_step_pages_pagerduty_and_tells_slack_with_its_hint_and_contacts() {
    let rx = Receiver::start();
    let t = with_secrets(
        Test::new().runbook(failing_phase_2(notifying(&format!("{}/pd", rx.url)))),
        &rx.slack_url(),
    );
    // At the highest verbosity: the libraries' logs must not show a secret either.
    let run = t.run(&["run", "-vvv"]);
    run.code(STEP_FAILED)
        .stderr_has("escalation (P1 production down): escalate to on call: Test rotation · slack: #test-alerts · issues: https://github.com/example/outpost/issues");
    let pages = rx.pagerduty();
    assert_eq!(pages.len(), 1, "{pages:#?}");
    let page = &pages[0];
    assert_eq!(page["routing_key"], ROUTING_KEY);
    assert_eq!(page["event_action"], "trigger");
    assert_eq!(page["payload"]["severity"], "critical");
    assert_eq!(page["payload"]["class"], "step_failed");
    assert_eq!(page["payload"]["custom_details"]["step"], "p2-break");
    assert_eq!(page["payload"]["custom_details"]["unit"], "phase-2");
    assert_eq!(page["payload"]["custom_details"]["hint"], HINT);
    let slack = rx.slack();
    assert_eq!(slack.len(), 1, "{slack:#?}");
    for needle in [
        "P1 production down: step `p2-break` failed in phase-2",
        "broken",
        &format!("hint: {HINT}"),
        "escalate to on call: Test rotation",
    ] {
        assert!(slack[0].contains(needle), "{needle:?} not in {}", slack[0]);
    }
    no_secret_in(&t, &[&run]);
}

#[test]
fn a_preflight_failure_is_a_p3_slack_message_with_the_issues_link_and_pages_nobody() {
    let rx = Receiver::start();
    let rb = notifying(&format!("{}/pd", rx.url)).preflight(
        "- title: Group\n  steps:\n    - id: pre-check\n      shell: { command: 'false' }\n      mutates: false\n      hint: fix the check\n",
    );
    let t = with_secrets(Test::new().runbook(rb), &rx.slack_url());
    t.run(&["preflight"]).code(STEP_FAILED);
    assert!(rx.pagerduty().is_empty(), "{:#?}", rx.pagerduty());
    let slack = rx.slack();
    assert_eq!(slack.len(), 1, "{slack:#?}");
    assert!(
        slack[0].contains("P3 non-urgent: step `pre-check` failed"),
        "{}",
        slack[0]
    );
    assert!(
        slack[0].contains("file it at https://github.com/example/outpost/issues"),
        "{}",
        slack[0]
    );
}

#[test]
fn the_migration_done_and_a_rollback_started_and_finished_reach_slack_and_page_nobody() {
    let rx = Receiver::start();
    let t = with_secrets(
        Test::new().runbook(notifying(&format!("{}/pd", rx.url))),
        &rx.slack_url(),
    );
    let run = t.run(&["run"]);
    run.code(SUCCESS);
    let slack = rx.slack();
    assert_eq!(slack.len(), 1, "{slack:#?}");
    assert!(
        slack[0].contains("P3 non-urgent: migration done"),
        "{}",
        slack[0]
    );
    let rollback = t.run(&["rollback", "--level", "1"]);
    rollback.code(SUCCESS);
    let slack = rx.slack();
    assert_eq!(slack.len(), 3, "{slack:#?}");
    assert!(
        slack[1].contains("P2 degraded: rollback started: `outpost-migrate rollback --level 1`"),
        "{}",
        slack[1]
    );
    assert!(
        slack[2].contains("P2 degraded: rollback finished"),
        "{}",
        slack[2]
    );
    assert!(rx.pagerduty().is_empty(), "{:#?}", rx.pagerduty());
    no_secret_in(&t, &[&run, &rollback]);
}

#[test]
fn a_refusal_on_a_step_in_doubt_is_notified_with_the_contacts() {
    let rx = Receiver::start();
    let t = with_secrets(
        Test::new().runbook(notifying(&format!("{}/pd", rx.url)).phase(
            1,
            "- id: apply\n  shell: { command: echo applied >> applied }\n",
        )),
        &rx.slack_url(),
    );
    t.run(&["phase", "1", "--force", "--no-notify"])
        .code(SUCCESS);
    // What a crash mid-step leaves behind.
    let mut state = t.state();
    state["steps"]["apply"]["status"] = json!("running");
    std::fs::write(
        t.state_dir().join("state.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    t.run(&["phase", "1", "--force"])
        .code(REFUSED)
        .stderr_has("escalation (P2 degraded): escalate to on call: Test rotation");
    let slack = rx.slack();
    assert_eq!(slack.len(), 1, "{slack:#?}");
    assert!(
        slack[0].contains("P2 degraded: run refused: a step is in doubt"),
        "{}",
        slack[0]
    );
    assert!(slack[0].contains("--retry-in-doubt apply"), "{}", slack[0]);
}

#[test]
fn a_receiver_down_or_hanging_is_a_warning_and_the_exit_code_stays() {
    let rx = Receiver::start();
    // Slack never answers, PagerDuty is down.
    let t = with_secrets(
        Test::new().runbook(failing_phase_2(notifying(&down_url()))),
        &format!("{}/hang", rx.url),
    );
    let run = t.run(&["run"]);
    run.code(STEP_FAILED)
        .stderr_has("warning: notification `step_failed` to slack #test-alerts not sent (the run goes on): no answer within 2s")
        .stderr_has("warning: notification `step_failed` to pagerduty not sent (the run goes on)");
    let json = t.run(&["run", "--output", "json"]);
    json.code(STEP_FAILED);
    let lines = json.json_lines();
    assert!(
        lines.iter().any(|e| e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("notification `step_failed` to pagerduty not sent")),
        "{}",
        json.stdout
    );
    assert_eq!(
        lines.last().unwrap()["event"],
        "summary",
        "the summary stays last"
    );
    assert!(
        lines
            .iter()
            .any(|e| e["event"] == "escalation" && e["severity"] == "P1 production down"),
        "{}",
        json.stdout
    );
    // A green run stays green.
    let green = with_secrets(
        Test::new().runbook(notifying(&down_url())),
        &format!("{}/hang", rx.url),
    );
    green
        .run(&["run"])
        .code(SUCCESS)
        .stderr_has("warning: notification `migration_done` to slack #test-alerts not sent");
    no_secret_in(&t, &[&run, &json]);
}

#[test]
fn no_notify_sends_nothing_and_still_shows_the_contacts() {
    let rx = Receiver::start();
    let t = with_secrets(
        Test::new().runbook(failing_phase_2(notifying(&format!("{}/pd", rx.url)))),
        &rx.slack_url(),
    );
    t.run(&["run", "--no-notify"])
        .code(STEP_FAILED)
        .stderr_has("escalation (P1 production down): escalate to on call: Test rotation");
    assert!(rx.seen.lock().unwrap().is_empty());
}

#[test]
fn a_dry_run_sends_nothing_and_shows_what_it_would_send_where() {
    let rx = Receiver::start();
    let rb = notifying(&format!("{}/pd", rx.url)).preflight(
        "- title: Group\n  steps:\n    - id: pre-check\n      shell: { command: 'false' }\n      mutates: false\n      hint: fix the check\n",
    );
    let t = with_secrets(Test::new().runbook(rb), &rx.slack_url());
    let run = t.run(&["preflight", "--dry-run"]);
    run.code(STEP_FAILED)
        .stdout_has("would notify slack #test-alerts (P3 non-urgent):")
        .stdout_has("[test-runbook] P3 non-urgent: step `pre-check` failed in preflight")
        .stdout_has("hint: fix the check");
    assert!(rx.seen.lock().unwrap().is_empty());
    let json = t.run(&["preflight", "--dry-run", "--output", "json"]);
    json.code(STEP_FAILED);
    let would: Vec<Value> = json
        .json_lines()
        .into_iter()
        .filter(|e| e["event"] == "would_notify")
        .collect();
    assert_eq!(would.len(), 1, "{}", json.stdout);
    assert_eq!(would[0]["channel"], "slack #test-alerts");
    assert_eq!(would[0]["severity"], "P3 non-urgent");
    assert!(rx.seen.lock().unwrap().is_empty());
    no_secret_in(&t, &[&run, &json]);
}

#[test]
fn no_channel_configured_sends_nothing_and_warns_of_nothing() {
    let t = Test::new().runbook(failing_phase_2(notifying(&down_url())));
    let run = t.run(&["run"]);
    run.code(STEP_FAILED);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn an_unknown_notify_field_is_a_located_validation_error() {
    let rb = notifying("http://127.0.0.1:1/pd");
    let root = rb.files["runbook.yaml"].replace("  timeout: 2s\n", "  webhook: https://x\n");
    let t = Test::new().runbook(rb.file("runbook.yaml", &root));
    let line = root.lines().position(|l| l.contains("webhook")).unwrap() + 1;
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has(&format!("runbook.yaml:{line}:"))
        .stderr_has("unknown field `webhook`");
}

#[test]
fn a_failed_step_is_published_to_the_sns_topic_with_its_severity() {
    let moto = Moto::start();
    let topic = moto.call("sns", "CreateTopic", json!({"Name": "outpost-alerts"}))["TopicArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue = moto.call("sqs", "CreateQueue", json!({"QueueName": "alerts"}))["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue_arn = moto.call(
        "sqs",
        "GetQueueAttributes",
        json!({"QueueUrl": queue, "AttributeNames": ["QueueArn"]}),
    )["Attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_owned();
    moto.call(
        "sns",
        "Subscribe",
        json!({"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue_arn}),
    );
    let t = Test::new()
        .runbook(failing_phase_2(notifying("http://127.0.0.1:1/pd")))
        .aws(&moto);
    t.run(&["run", "--var", &format!("topic={topic}")])
        .code(STEP_FAILED);
    let got = moto.call(
        "sqs",
        "ReceiveMessage",
        json!({"QueueUrl": queue, "MaxNumberOfMessages": 10}),
    );
    let messages = got["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{got:#}");
    let envelope: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    let text = envelope["Message"].as_str().unwrap();
    assert!(
        text.contains("P1 production down: step `p2-break` failed in phase-2"),
        "{text}"
    );
    assert!(text.contains(&format!("hint: {HINT}")), "{text}");
    assert_eq!(envelope["MessageAttributes"]["severity"]["Value"], "P1");
    assert_eq!(
        envelope["MessageAttributes"]["kind"]["Value"],
        "step_failed"
    );
}
