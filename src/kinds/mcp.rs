//! `mcp`: call one tool on an MCP server (MCPify) with the rmcp client, over stdio (a spawned
//! command) or streamable HTTP. The tool's result is the step's output, as JSON when it is.
//! Without a `tool`, the step lists the server's tools (read-only): the server is reachable.

use std::collections::BTreeMap;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, RoleClient, ServiceError, ServiceExt};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::template::Escape;

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Mcp;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "McpStep")]
// `server`: one of `command` and `url`.
#[schemars(extend("oneOf" = [{ "required": ["command"] }, { "required": ["url"] }]))]
struct Spec {
    /// A command (run by `sh -c`) that serves MCP on its stdin and stdout.
    command: Option<String>,
    /// The URL of a streamable-HTTP MCP endpoint.
    url: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The tool to call; without one the step lists the server's tools.
    tool: Option<String>,
    #[serde(default)]
    arguments: Map<String, Value>,
}

/// What a step asks the server.
enum Ask {
    Call(CallToolRequestParams),
    /// `tools/list`: only reads, so a pre-flight check can prove the server answers without
    /// calling a tool that might act (MCPify's SSM provider sends a command for each call).
    ListTools,
}

enum Answer {
    Called(CallToolResult),
    Tools(Vec<String>),
}

impl Ask {
    async fn send(self, peer: &Peer<RoleClient>) -> Result<Answer, ServiceError> {
        match self {
            Ask::Call(params) => peer.call_tool(params).await.map(Answer::Called),
            Ask::ListTools => peer.list_all_tools().await.map(|tools| {
                Answer::Tools(tools.into_iter().map(|t| t.name.into_owned()).collect())
            }),
        }
    }
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

    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Spec>()
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        let s: Spec = parse_spec(spec)?;
        if s.tool.is_none() && !s.arguments.is_empty() {
            return Err(SpecError {
                path: vec!["arguments".into()],
                message: "`arguments` are for a `tool`: without one the step lists the tools"
                    .into(),
            });
        }
        s.server().map(|_| ()).map_err(|m| SpecError {
            path: Vec::new(),
            message: m.into(),
        })
    }

    /// A tool call may do anything; read-only tools say `mutates: false`. Listing the tools
    /// only reads.
    fn access(&self, spec: &Value) -> Access {
        match spec.get("tool") {
            None => Access::ReadOnly,
            Some(_) => Access::Mutating,
        }
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
            Ok(s) => {
                let server = s.server().unwrap_or("?");
                match &s.tool {
                    Some(tool) => format!(
                        "mcp call {tool} {} (on {server})",
                        Value::Object(s.arguments.clone())
                    ),
                    None => format!("mcp list tools (on {server})"),
                }
            }
            Err(_) => spec.to_string(),
        }
    }

    fn run<'a>(&'a self, spec: Value, step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let spec: Spec = parse_spec(&spec).map_err(|e| KindFailure::failed(e.message))?;
            let server = spec.server().map_err(KindFailure::failed)?.to_owned();
            let asked = match &spec.tool {
                Some(tool) => Ask::Call(
                    CallToolRequestParams::new(tool.clone()).with_arguments(spec.arguments.clone()),
                ),
                None => Ask::ListTools,
            };
            let what = match &spec.tool {
                Some(tool) => format!("mcp call {tool}"),
                None => "mcp tools/list".to_owned(),
            };
            let cannot_reach =
                |e: &(dyn std::error::Error + 'static)| unreachable(&server, os_reason(&server, e));
            // A command server's stderr is kept, never passed through: it may print what its
            // `env` holds (an API key), and only the step's redacted failure may show it.
            let mut stderr = StderrTail::default();
            let answer = match &spec.command {
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
                    let answer = asked.send(&client).await;
                    let _ = client.cancel().await;
                    answer
                }
                None => {
                    // rmcp's own default client would load the trust roots again.
                    let transport = StreamableHttpClientTransport::with_client(
                        ctx.http.mcp().map_err(KindFailure::setup)?.clone(),
                        StreamableHttpClientTransportConfig::with_uri(server.clone()),
                    );
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
                    let answer = asked.send(&client).await;
                    let _ = client.cancel().await;
                    answer
                }
            };
            match answer {
                Ok(Answer::Called(result)) => tool_output(spec.tool.as_deref(), result),
                Ok(Answer::Tools(names)) => Ok(serde_json::json!({ "tools": names })),
                Err(e) => Err(KindFailure::failed(format!(
                    "{what} failed: {e}{}",
                    stderr.detail().await
                ))),
            }
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

/// A tool's result as the step's output: its structured content, or its text (as JSON when
/// it is JSON); a tool error (`isError`) fails the step with the tool's message.
fn tool_output(tool: Option<&str>, result: CallToolResult) -> Result<Value, KindFailure> {
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    if result.is_error == Some(true) {
        return Err(KindFailure::failed(format!(
            "tool {} answered an error: {}",
            tool.unwrap_or_default(),
            text.trim()
        )));
    }
    Ok(match result.structured_content {
        Some(v) => v,
        None => serde_json::from_str(&text).unwrap_or(Value::String(text)),
    })
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
