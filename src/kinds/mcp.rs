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
            let unreachable = |e: &dyn std::fmt::Display| {
                KindFailure::failed(format!("cannot reach the MCP server {server}: {e}"))
            };
            let result = match &spec.command {
                Some(cmd) => {
                    let mut command = tokio::process::Command::new("sh");
                    ctx.aws.apply_to(&mut command);
                    // Its own process group, stopped as a whole after the attempt, as a
                    // `shell` step's is.
                    command.arg("-c").arg(cmd).envs(&spec.env).process_group(0);
                    let transport = TokioChildProcess::new(command).map_err(|e| unreachable(&e))?;
                    ctx.processes.register(step.id, transport.id());
                    let client = ().serve(transport).await.map_err(|e| unreachable(&e))?;
                    let result = client.call_tool(params).await;
                    let _ = client.cancel().await;
                    result
                }
                None => {
                    let client =
                        ().serve(StreamableHttpClientTransport::from_uri(server.clone()))
                            .await
                            .map_err(|e| unreachable(&e))?;
                    let result = client.call_tool(params).await;
                    let _ = client.cancel().await;
                    result
                }
            };
            let result = result
                .map_err(|e| KindFailure::failed(format!("mcp call {} failed: {e}", spec.tool)))?;
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
