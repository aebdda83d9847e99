//! `-v` logs (tracing) on stderr, passed through the redactor line by line; libraries are
//! capped below the levels at which they print what they send and receive.

use std::io::Write;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::secrets::Redactor;

/// The most any library may log, whatever `-v` says: at `trace` the AWS SDK prints response
/// bodies and deserialised outputs (a Scan's items) before the step that asked for them can
/// register a secret among them, so `trace` is only ever the tool's own.
const LIBRARY_CAP: LevelFilter = LevelFilter::DEBUG;
/// Libraries that print message contents below `trace`: rmcp prints the server's notifications
/// at `info` and the answers it gives the server at `debug`; h2 prints every frame it sends and
/// receives at `debug`.
const TIGHTER_CAPS: &[(&str, LevelFilter)] =
    &[("rmcp", LevelFilter::WARN), ("h2", LevelFilter::INFO)];

/// Installs the log subscriber: warnings by default, more with each `-v`.
pub fn init(verbose: u8, quiet: bool, redactor: Arc<Redactor>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, quiet))
        .with_writer(RedactingStderr { redactor })
        .with_ansi(false)
        .with_target(true)
        .try_init();
}

/// The level `-v`/`-q` ask for: all of it for the tool's own logs, capped for libraries.
/// Without `-v` libraries say nothing: what goes wrong reaches the operator as a step's plain
/// message (the SDK's IMDS warnings, rmcp's transport errors would only repeat it in their
/// own terms); `-v` shows their detail.
fn filter(verbose: u8, quiet: bool) -> EnvFilter {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (_, 0) => LevelFilter::WARN,
        (_, 1) => LevelFilter::INFO,
        (_, 2) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let libraries = if verbose == 0 || quiet {
        LevelFilter::OFF
    } else {
        level.min(LIBRARY_CAP)
    };
    let mut directives = vec![
        libraries.to_string(),
        format!("{}={level}", env!("CARGO_CRATE_NAME")),
    ];
    for (target, cap) in TIGHTER_CAPS {
        directives.push(format!("{target}={}", libraries.min(*cap)));
    }
    EnvFilter::new(directives.join(","))
}

#[derive(Clone)]
struct RedactingStderr {
    redactor: Arc<Redactor>,
}

/// Buffers one log record and writes it redacted when dropped.
struct RecordWriter {
    redactor: Arc<Redactor>,
    buf: Vec<u8>,
}

impl Write for RecordWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let _ = std::io::stderr()
            .lock()
            .write_all(self.redactor.redact(&text).as_bytes());
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RecordWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter {
            redactor: self.redactor.clone(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn libraries_never_log_at_trace_whatever_v_says() {
        let directives = filter(3, false).to_string();
        let has = |d: &str| directives.split(',').any(|x| x == d);
        assert!(has("debug"), "{directives}");
        assert!(has("outpost_migrate=trace"), "{directives}");
        assert!(has("rmcp=warn"), "{directives}");
        let quiet = filter(3, true).to_string();
        assert!(
            quiet
                .split(',')
                .all(|d| d.ends_with("error") || d.ends_with("off")),
            "{quiet}"
        );
    }

    #[test]
    fn without_v_libraries_log_nothing_and_the_tool_its_warnings() {
        let directives = filter(0, false).to_string();
        let has = |d: &str| directives.split(',').any(|x| x == d);
        assert!(has("off") && has("rmcp=off"), "{directives}");
        assert!(has("outpost_migrate=warn"), "{directives}");
        let v = filter(1, false).to_string();
        assert!(v.split(',').any(|x| x == "info"), "{v}");
    }
}
