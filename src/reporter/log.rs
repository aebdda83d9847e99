//! `-v` logs (tracing) on stderr, passed through the redactor line by line.

use std::io::Write;
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

use crate::secrets::Redactor;

/// Installs the log subscriber: warnings by default, more with each `-v`.
pub fn init(verbose: u8, quiet: bool, redactor: Arc<Redactor>) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(level);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr { redactor })
        .with_ansi(false)
        .with_target(true)
        .try_init();
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
