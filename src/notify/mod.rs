//! Escalation: notifications to Slack, PagerDuty and SNS, fed the engine's events as one
//! more listener. A send is bounded and never fails or blocks the run (a warning at most).

mod channels;
mod message;
mod notice;
mod notifier;
mod pagerduty;
mod slack;
mod sns;

pub use channels::{Channel, Channels, Contacts};
pub use notice::{Notice, Severity};
pub use notifier::Notifier;

/// A receiver's answer: any 2xx is delivered.
fn expect_success(status: reqwest::StatusCode) -> Result<(), String> {
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

/// Why a request failed, with its causes (connection refused...), never its URL: a
/// webhook's URL is its secret.
fn http_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    why
}
