//! The HTTP stand-in: a local server playing the control plane (dispatches, their status, a
//! flaky endpoint) and MCPify's MCP endpoint (its tools listed), recording every request it
//! receives.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct ServerState {
    seen: Mutex<Vec<Seen>>,
    dispatches: AtomicUsize,
    polls: Mutex<BTreeMap<String, usize>>,
    flaky: AtomicUsize,
    counter: AtomicUsize,
}

/// A local HTTP server standing in for the control plane, recording every request.
pub struct Server {
    pub url: String,
    state: Arc<ServerState>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub fn start() -> Self {
        let state = Arc::new(ServerState::default());
        let app = Router::new()
            .route(
                "/health",
                get(|| async { axum::Json(json!({"status": "healthy"})) }),
            )
            .route(
                "/health/live",
                get(|| async { axum::Json(json!({"status": "ok"})) }),
            )
            // The fleet as the control plane reports it: the runbook's five agents, available.
            .route(
                "/health/fleet",
                get(|| async {
                    let agents: Vec<Value> = ["claude", "codex", "gemini", "aider", "grok"]
                        .iter()
                        .map(|a| json!({"agent": a, "available": true}))
                        .collect();
                    axum::Json(json!({"data": {"agents": agents, "pool": {"warmTasks": 3}}}))
                }),
            )
            .route("/dispatch", post(create_dispatch))
            .route("/dispatch/{id}", get(dispatch_status))
            .route(
                "/artifacts/{id}",
                get(|UrlPath(id): UrlPath<String>| async move {
                    axum::Json(json!({"data": {"dispatchId": id, "files": ["hello.py"]}}))
                }),
            )
            .route(
                "/mcp",
                post(mcp)
                    .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                    .delete(|| async { StatusCode::METHOD_NOT_ALLOWED }),
            )
            .route("/flaky", get(flaky))
            .route(
                "/hostile",
                get(|| async {
                    axum::Json(json!({
                        "name": "a$(touch PWNED)b",
                        "path": "../../admin/delete?all=true#",
                    }))
                }),
            )
            .route(
                "/counter",
                get(|State(s): State<Arc<ServerState>>| async move {
                    axum::Json(json!({"value": s.counter.load(Ordering::SeqCst)}))
                })
                .post(|State(s): State<Arc<ServerState>>| async move {
                    axum::Json(json!({"value": s.counter.fetch_add(1, Ordering::SeqCst) + 1}))
                }),
            )
            // Answers 400 with the JSON it was sent: an error body the test chooses.
            .route(
                "/echo",
                post(|axum::Json(body): axum::Json<Value>| async move {
                    (StatusCode::BAD_REQUEST, axum::Json(body))
                }),
            )
            .route(
                "/fail",
                get(|| async { (StatusCode::BAD_GATEWAY, "bad gateway") }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .fallback(any(|| async { StatusCode::NOT_FOUND }))
            .layer(axum::middleware::from_fn_with_state(state.clone(), record))
            .with_state(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Server {
            url: format!("http://{addr}"),
            state,
            _shutdown: stop_tx,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The value a `POST /counter` increments.
    pub fn counter(&self) -> usize {
        self.state.counter.load(Ordering::SeqCst)
    }

    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(path_prefix))
            .count()
    }
}

async fn record(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    state.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    next.run(req).await
}

async fn create_dispatch(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.starts_with("Bearer op_test_") && !auth.starts_with("Bearer op_live_") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid API key"})),
        )
            .into_response();
    }
    let n = state.dispatches.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(json!({"data": {"dispatchId": format!("d-{n}"), "agent": body["agent"]}}))
        .into_response()
}

/// pending, running, then success: the seed's poll loop has something to wait for.
async fn dispatch_status(
    State(state): State<Arc<ServerState>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let polls = {
        let mut map = state.polls.lock().unwrap();
        let p = map.entry(id.clone()).or_insert(0);
        *p += 1;
        *p
    };
    let status = match polls {
        1 => "pending",
        2 => "running",
        _ => "success",
    };
    axum::Json(json!({"data": {"dispatchId": id, "status": status}})).into_response()
}

/// Fails twice with 503, then answers.
async fn flaky(State(state): State<Arc<ServerState>>) -> Response {
    if state.flaky.fetch_add(1, Ordering::SeqCst) < 2 {
        (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response()
    } else {
        axum::Json(json!({"status": "ok"})).into_response()
    }
}

/// MCPify's tools, as the stand-in lists them.
const MCPIFY_TOOLS: [&str; 7] = [
    "outpost_dispatch",
    "outpost_status",
    "outpost_cancel",
    "outpost_health",
    "outpost_list_workspaces",
    "outpost_delete_workspace",
    "outpost_get_artifacts",
];

/// MCP over streamable HTTP, answered in JSON without a session: a client can initialize and
/// list MCPify's tools (pre-flight's `mcpify-reachable`); no tool can be called.
async fn mcp(axum::Json(message): axum::Json<Value>) -> Response {
    // A notification (no id) is accepted with nothing to answer.
    let Some(id) = message.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let mut answer = match message["method"].as_str() {
        Some("initialize") => json!({"result": {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mcpify-stand-in", "version": "0"},
        }}),
        Some("tools/list") => {
            let tools: Vec<Value> = MCPIFY_TOOLS
                .iter()
                .map(|name| json!({"name": name, "inputSchema": {"type": "object"}}))
                .collect();
            json!({"result": {"tools": tools}})
        }
        _ => json!({"error": {"code": -32601, "message": "method not found"}}),
    };
    answer["jsonrpc"] = json!("2.0");
    answer["id"] = id;
    axum::Json(answer).into_response()
}
