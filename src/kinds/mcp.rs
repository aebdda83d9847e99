//! `mcp`: call one tool on an MCP server (MCPify) with the rmcp client, over stdio (a spawned
//! command) or streamable HTTP. The tool's result is the step's output, as JSON when it is.

use std::collections::BTreeMap;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::template::Escape;

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Mcp;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// A command (run by `sh -c`) that serves MCP on its stdin and stdout.
    command: Option<String>,
    /// The URL of a streamable-HTTP MCP endpoint.
    url: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    tool: String,
    #[serde(default)]
    arguments: Map<String, Value>,
}

impl Spec {
    fn server(&self) -> Result<&str, &'static str> {
        match (&self.command, &self.url) {
            (Some(c), None) => Ok(c),
            (None, Some(u)) => Ok(u),
            _ => Err("`mcp` needs either `command` (stdio) or `url` (streamable HTTP)"),
        }
    }
}

impl StepKind for Mcp {
    fn name(&self) -> &'static str {
        "mcp"
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        let s: Spec = parse_spec(spec)?;
        s.server().map(|_| ()).map_err(|m| SpecError {
            path: Vec::new(),
            message: m.into(),
        })
    }

    /// A tool call may do anything; read-only tools say `mutates: false`.
    fn access(&self, _spec: &Value) -> Access {
        Access::Mutating
    }

    /// A stdio server's `command` runs through `sh -c`; `url` is a URL.
    fn escape(&self, path: &[String]) -> Escape {
        match path {
            [field] if field == "command" => Escape::Shell,
            [field] if field == "url" => Escape::Url,
            _ => Escape::Data,
        }
    }

    fn describe(&self, spec: &Value) -> String {
        match parse_spec::<Spec>(spec) {
            Ok(s) => format!(
                "mcp call {} {} (on {})",
                s.tool,
                Value::Object(s.arguments.clone()),
                s.server().unwrap_or("?")
            ),
            Err(_) => spec.to_string(),
        }
    }

    fn run<'a>(&'a self, spec: Value, step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let spec: Spec = parse_spec(&spec).map_err(|e| KindFailure::failed(e.message))?;
            let server = spec.server().map_err(KindFailure::failed)?.to_owned();
            let params = CallToolRequestParams::new(spec.tool.clone())
                .with_arguments(spec.arguments.clone());
            let cannot_reach =
                |e: &(dyn std::error::Error + 'static)| unreachable(&server, os_reason(&server, e));
            // A command server's stderr is kept, never passed through: it may print what its
            // `env` holds (an API key), and only the step's redacted failure may show it.
            let mut stderr = StderrTail::default();
            let result = match &spec.command {
                Some(cmd) => {
                    let mut command = tokio::process::Command::new("sh");
                    ctx.aws.apply_to(&mut command);
                    // Its own process group, stopped as a whole after the attempt, as a
                    // `shell` step's is.
                    command.arg("-c").arg(cmd).envs(&spec.env).process_group(0);
                    let (transport, pipe) = TokioChildProcess::builder(command)
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .map_err(|e| cannot_reach(&e))?;
                    ctx.processes.register(step.id, transport.id());
                    stderr = StderrTail::collect(pipe);
                    let client = match ().serve(transport).await {
                        Ok(client) => client,
                        Err(e) => {
                            let plain = cannot_reach(&e).message;
                            return Err(KindFailure::failed(format!(
                                "{plain}{}",
                                stderr.detail().await
                            )));
                        }
                    };
                    let result = client.call_tool(params).await;
                    let _ = client.cancel().await;
                    result
                }
                None => {
                    let transport = StreamableHttpClientTransport::from_uri(server.clone());
                    let served = ().serve(transport).await;
                    let client = match served.map_err(|e| os_reason(&server, &e)) {
                        Ok(client) => client,
                        Err(found) => {
                            let reason = match found {
                                Some(reason) => Some(reason),
                                None => connect_reason(&server).await,
                            };
                            return Err(unreachable(&server, reason));
                        }
                    };
                    let result = client.call_tool(params).await;
                    let _ = client.cancel().await;
                    result
                }
            };
            let result = match result {
                Ok(result) => result,
                Err(e) => {
                    return Err(KindFailure::failed(format!(
                        "mcp call {} failed: {e}{}",
                        spec.tool,
                        stderr.detail().await
                    )));
                }
            };
            let text: String = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect::<Vec<_>>()
                .join("\n");
            if result.is_error == Some(true) {
                return Err(KindFailure::failed(format!(
                    "tool {} answered an error: {}",
                    spec.tool,
                    text.trim()
                )));
            }
            Ok(match result.structured_content {
                Some(v) => v,
                None => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            })
        })
    }
}

/// A server that could not be reached, in one plain line: `cannot reach the MCP server URL`
/// and the operating system's reason, never the transport's own wording, which names its
/// Rust types (that goes to `-v`).
fn unreachable(server: &str, reason: Option<String>) -> KindFailure {
    KindFailure::failed(match reason {
        Some(reason) => format!("cannot reach the MCP server {server}: {reason}"),
        None => format!("cannot reach the MCP server {server}"),
    })
}

/// The operating system's reason an error carries ("connection refused"), if any; the whole
/// error is logged at `-v`.
fn os_reason(server: &str, e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut reason = None;
    let mut detail = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        detail.push(err.to_string());
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            reason = Some(io.kind().to_string());
        }
        next = err.source();
    }
    tracing::info!("MCP server {server}: {}", detail.join(": "));
    reason
}

/// Why an HTTP server did not answer the MCP handshake, found by connecting to it once more:
/// the HTTP client's error does not carry the operating system's reason.
async fn connect_reason(server: &str) -> Option<String> {
    let url = reqwest::Url::parse(server).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default()?;
    let connect = tokio::net::TcpStream::connect((host, port));
    Some(
        match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
            Ok(Ok(_)) => "it accepts connections but did not answer as an MCP server".to_owned(),
            Ok(Err(e)) => e.kind().to_string(),
            Err(_) => "connecting timed out".to_owned(),
        },
    )
}

/// The last bytes a command server wrote to stderr, gathered in the background: read without
/// waiting, since a server's child may hold the pipe open after the call.
#[derive(Default)]
struct StderrTail(Option<(Kept, tokio::task::JoinHandle<()>)>);

type Kept = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// How much of a server's stderr is kept for a failure message.
const STDERR_KEPT: usize = 600;

impl StderrTail {
    fn collect(pipe: Option<tokio::process::ChildStderr>) -> Self {
        let Some(mut pipe) = pipe else {
            return StderrTail(None);
        };
        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = kept.clone();
        let reader = tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = tokio::io::AsyncReadExt::read(&mut pipe, &mut chunk).await {
                if n == 0 {
                    break;
                }
                let mut kept = sink.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                // Bounded: only the end is ever shown, and redaction sees it whole before the
                // final cut (4 times the shown size keeps a long secret whole).
                let excess = kept.len().saturating_sub(4 * STDERR_KEPT);
                kept.drain(..excess);
            }
        });
        StderrTail(Some((kept, reader)))
    }

    /// `" (server stderr: <its end>)"`, or nothing when the server wrote none. A server that
    /// failed has usually exited: its stderr is read to the end, waiting a moment at most (a
    /// child of the server may still hold the pipe).
    async fn detail(&mut self) -> String {
        let Some((kept, reader)) = &mut self.0 else {
            return String::new();
        };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), reader).await;
        let bytes = kept.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let tail = crate::secrets::tail(text.trim(), STDERR_KEPT);
        if tail.is_empty() {
            String::new()
        } else {
            format!(" (server stderr: {tail})")
        }
    }
}
