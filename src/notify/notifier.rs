//! The notifier: an event sink in front of the reporter. It passes every event on, turns
//! those that call for it into notices and sends them in the background (in order on each
//! channel), each within the section's timeout; a failed send is a warning. The summary is
//! held until the sends end, so it stays the run's last word (and `--output json`'s last
//! line).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::events::{Event, EventSink};
use crate::http_client::SharedHttp;
use crate::kinds::aws::AwsContext;

use super::channels::{Channel, Channels};
use super::message;
use super::notice::{Notice, Severity};

pub struct Notifier {
    reporter: Arc<dyn EventSink>,
    /// `None`: the runbook has no `notify:` section.
    channels: Option<Arc<Channels>>,
    dry_run: bool,
    aws: Arc<AwsContext>,
    http: Arc<SharedHttp>,
    runtime: Handle,
    /// Each channel's last send. A send waits for the one before it on its channel, so a
    /// channel hears the notices in the order they happened ("rollback started" before
    /// "rollback finished"), whatever each connection's speed.
    sends: Mutex<HashMap<Channel, JoinHandle<()>>>,
    /// The run's summary, passed on once the sends have ended.
    summary: Mutex<Option<Event>>,
    /// The most urgent failure notified, for the escalation line.
    worst: Mutex<Option<Severity>>,
}

impl Notifier {
    pub fn new(
        reporter: Arc<dyn EventSink>,
        channels: Option<Channels>,
        dry_run: bool,
        aws: Arc<AwsContext>,
        http: Arc<SharedHttp>,
        runtime: Handle,
    ) -> Self {
        Notifier {
            reporter,
            channels: channels.map(Arc::new),
            dry_run,
            aws,
            http,
            runtime,
            sends: Mutex::default(),
            summary: Mutex::default(),
            worst: Mutex::default(),
        }
    }

    /// Sends a notice to the channels its severity calls for; a dry run shows it instead.
    pub fn notify(&self, notice: Notice) {
        let Some(channels) = &self.channels else {
            return;
        };
        if notice.failure {
            let mut worst = self.worst.lock().unwrap_or_else(|e| e.into_inner());
            *worst = Some(worst.map_or(notice.severity, |w| w.min(notice.severity)));
        }
        let text = message::text(&notice, &channels.runbook, &channels.contacts);
        for channel in channels.route(notice.severity) {
            if self.dry_run {
                self.reporter.emit(Event::WouldNotify {
                    channel: channels.name(channel),
                    severity: notice.severity.label().into(),
                    message: text.clone(),
                });
                continue;
            }
            let send = self.send(channel, channels.clone(), notice.clone(), text.clone());
            let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
            let before = sends.remove(&channel);
            let ordered = async move {
                if let Some(before) = before {
                    // A send that panicked has nothing more to say than its warning would.
                    let _ = before.await;
                }
                send.await;
            };
            sends.insert(channel, self.runtime.spawn(ordered));
        }
    }

    fn send(
        &self,
        channel: Channel,
        channels: Arc<Channels>,
        notice: Notice,
        text: String,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (http, aws, reporter) = (self.http.clone(), self.aws.clone(), self.reporter.clone());
        async move {
            let sent = async {
                // `http.get()`: the run's one client, built by the first send or HTTP step.
                match channel {
                    Channel::Slack => {
                        let url = channels.slack_webhook_url.as_deref().unwrap_or_default();
                        super::slack::send(http.get()?, url, &text).await
                    }
                    Channel::PagerDuty => {
                        let (url, key) = channels.pagerduty.clone().unwrap_or_default();
                        let headline = message::headline(&notice, &channels.runbook);
                        super::pagerduty::send(
                            http.get()?,
                            &url,
                            &key,
                            &notice,
                            &channels.runbook,
                            &headline,
                        )
                        .await
                    }
                    Channel::Sns => {
                        let topic = channels.sns_topic_arn.as_deref().unwrap_or_default();
                        super::sns::send(&aws, topic, &notice, &text).await
                    }
                }
            };
            let why = match tokio::time::timeout(channels.timeout, sent).await {
                Ok(Ok(())) => return,
                Ok(Err(why)) => why,
                Err(_) => format!(
                    "no answer within {}",
                    humantime::format_duration(channels.timeout)
                ),
            };
            reporter.emit(Event::Warning {
                message: format!(
                    "notification `{}` to {} not sent (the run goes on): {why}",
                    notice.kind,
                    channels.name(channel)
                ),
            });
        }
    }

    /// Waits for the sends (each bounded by its timeout), says who to escalate to after a
    /// failure, then passes the held summary on.
    pub async fn finish(&self) {
        let sends = std::mem::take(&mut *self.sends.lock().unwrap_or_else(|e| e.into_inner()));
        for send in sends.into_values() {
            let _ = send.await;
        }
        let worst = *self.worst.lock().unwrap_or_else(|e| e.into_inner());
        let contacts = self
            .channels
            .as_ref()
            .and_then(|c| message::contact_line(&c.contacts));
        if let (Some(severity), Some(contacts)) = (worst, contacts) {
            self.reporter.emit(Event::Escalation {
                severity: severity.label().into(),
                contacts,
            });
        }
        if let Some(summary) = self
            .summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            self.reporter.emit(summary);
        }
    }
}

impl EventSink for Notifier {
    fn emit(&self, event: Event) {
        let notice = Notice::from_event(&event);
        if matches!(event, Event::RunFinished(_)) {
            *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(event);
        } else {
            // The event first: a dry run's notice is shown after what called for it.
            self.reporter.emit(event);
        }
        if let Some(notice) = notice {
            self.notify(notice);
        }
    }
}
