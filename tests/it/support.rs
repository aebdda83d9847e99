//! Test helpers: a fluent runner around the built binary, a runbook builder, and a local HTTP
//! server that records what it receives.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the helpers"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_outpost-migrate");

/// A runbook on disk: every unit present with a harmless step, any file replaceable.
#[derive(Clone)]
pub struct Runbook {
    pub files: BTreeMap<String, String>,
}

const UNITS: &[(&str, &str)] = &[
    ("checks/preflight.yaml", "pre"),
    ("phases/1.yaml", "p1"),
    ("phases/2.yaml", "p2"),
    ("phases/3.yaml", "p3"),
    ("phases/4.yaml", "p4"),
    ("phases/5.yaml", "p5"),
    ("checks/verify.yaml", "ver"),
    ("phases/r1.yaml", "r1"),
    ("phases/r2.yaml", "r2"),
    ("phases/r3.yaml", "r3"),
];

impl Runbook {
    pub fn minimal() -> Self {
        let mut files = BTreeMap::new();
        files.insert(
            "runbook.yaml".to_string(),
            Self::root("  greeting: hello\n"),
        );
        for (file, id) in UNITS {
            let content = if file.starts_with("checks/") {
                format!(
                    "title: {id} checks\ngroups:\n  - title: Group\n    steps:\n      - id: {id}-noop\n        shell: {{ command: \"true\" }}\n        mutates: false\n"
                )
            } else {
                format!(
                    "title: {id} unit\nsteps:\n  - id: {id}-noop\n    shell: {{ command: \"true\" }}\n    mutates: false\n"
                )
            };
            files.insert(file.to_string(), content);
        }
        Runbook { files }
    }

    fn root(vars: &str) -> String {
        format!(
            "format: 1\nname: test-runbook\nvars:\n{vars}preflight: checks/preflight.yaml\nphases:\n  - {{ phase: 1, file: phases/1.yaml }}\n  - {{ phase: 2, file: phases/2.yaml }}\n  - {{ phase: 3, file: phases/3.yaml }}\n  - {{ phase: 4, file: phases/4.yaml }}\n  - {{ phase: 5, file: phases/5.yaml }}\nverify: checks/verify.yaml\nrollback:\n  - {{ level: 1, file: phases/r1.yaml }}\n  - {{ level: 2, file: phases/r2.yaml }}\n  - {{ level: 3, file: phases/r3.yaml }}\n"
        )
    }

    /// Replaces the `vars:` block (YAML lines indented by two spaces).
    pub fn vars(mut self, vars: &str) -> Self {
        self.files.insert("runbook.yaml".into(), Self::root(vars));
        self
    }

    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.files.insert(name.into(), content.into());
        self
    }

    /// A phase file (1–5) with these steps (a YAML list at column 0).
    pub fn phase(self, n: u8, steps: &str) -> Self {
        self.file(
            &format!("phases/{n}.yaml"),
            &format!("title: Phase {n}\nsteps:\n{}", indent(steps, 2)),
        )
    }

    pub fn rollback(self, n: u8, extra: &str, steps: &str) -> Self {
        self.file(
            &format!("phases/r{n}.yaml"),
            &format!("title: Rollback {n}\n{extra}steps:\n{}", indent(steps, 2)),
        )
    }

    pub fn preflight(self, groups: &str) -> Self {
        self.file(
            "checks/preflight.yaml",
            &format!("title: Pre-flight\ngroups:\n{}", indent(groups, 2)),
        )
    }

    pub fn verify(self, groups: &str) -> Self {
        self.file(
            "checks/verify.yaml",
            &format!("title: Verify\ngroups:\n{}", indent(groups, 2)),
        )
    }

    pub fn write(&self, dir: &Path) {
        for (name, content) in &self.files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
    }
}

pub fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// A working directory with a runbook and a state directory, for running the binary.
pub struct Test {
    pub dir: tempfile::TempDir,
    runbook: Option<Runbook>,
    env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}\n--- stdout\n{}",
            self.stdout
        );
        self
    }

    /// Each stdout line as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The `step_finished` event of a step.
    pub fn step_event(&self, id: &str) -> Value {
        self.json_lines()
            .into_iter()
            .find(|e| e["event"] == "step_finished" && e["step"] == id)
            .unwrap_or_else(|| panic!("no step_finished for {id} in\n{}", self.stdout))
    }
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().unwrap(),
            runbook: Some(Runbook::minimal()),
            env: Vec::new(),
        }
    }

    pub fn runbook(mut self, rb: Runbook) -> Self {
        self.runbook = Some(rb);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn runbook_dir(&self) -> PathBuf {
        self.path("rb")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    /// Rewrites the runbook on disk (to change it between runs).
    pub fn rewrite(&mut self, rb: Runbook) {
        self.runbook = Some(rb);
        self.write_runbook();
    }

    fn write_runbook(&self) {
        if let Some(rb) = &self.runbook {
            rb.write(&self.runbook_dir());
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.write_runbook();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path());
        if self.runbook.is_some() {
            cmd.arg("--runbook").arg(self.runbook_dir());
        }
        cmd.arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        // Nothing of the machine's own configuration leaks into a test.
        for var in [
            "OUTPOST_API_KEY",
            "OUTPOST_API_URL",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = self.command(args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_dir().join("state.json")).unwrap())
            .unwrap()
    }

    pub fn step_state(&self, id: &str) -> Value {
        self.state()["steps"][id].clone()
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

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
                    axum::Json(json!({"data": {"agents": agents}}))
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

/// A moto AWS emulator on a free loopback port, extended with CloudTrail LookupEvents
/// (tests/fixtures/moto_outpost.py); stopped when dropped.
pub struct Moto {
    pub url: String,
    child: std::process::Child,
    /// Where the emulator writes the port it bound.
    _dir: tempfile::TempDir,
}

pub const ACCOUNT: &str = "311493921645";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

impl Moto {
    /// An emulator whose account is the runbook's and whose ECS services run one task.
    pub fn start() -> Self {
        Self::start_with(&[
            ("MOTO_ACCOUNT_ID", ACCOUNT),
            ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Self {
        // Port 0: the emulator binds a free port itself and writes it down, so no other
        // process can take the port between its choice and the bind.
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let mut cmd = Command::new("python3");
        cmd.arg(fixture("moto_outpost.py"))
            .arg("0")
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .expect("python3 with moto[server] is needed (see .ci/run)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                return Moto {
                    url: format!("http://127.0.0.1:{}", port.trim()),
                    child,
                    _dir: dir,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the emulator exited: {status}");
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                panic!("the emulator did not start");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Seeds the Outpost fleet, optionally with one resource broken (see seed_fleet.py).
    pub fn seed(&self, broken: Option<&str>) -> Value {
        let mut cmd = Command::new("python3");
        cmd.arg(fixture("seed_fleet.py")).arg(&self.url);
        if let Some(b) = broken {
            cmd.args(["--break", b]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "seeding failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Calls the emulator directly with boto3 (not through the tool under test).
    pub fn call(&self, service: &str, operation: &str, params: Value) -> Value {
        let out = Command::new("python3")
            .arg(fixture("aws_call.py"))
            .args([&self.url, service, operation, &params.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{service} {operation}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The environment the binary needs to reach this emulator and nothing else.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Test {
    /// Runs against the embedded runbook (no `--runbook`).
    pub fn embedded(mut self) -> Self {
        self.runbook = None;
        self
    }

    pub fn aws(mut self, moto: &Moto) -> Self {
        self.env.extend(moto.env());
        self.isolated_aws_files()
    }

    /// Empty AWS config and credentials files: the machine's own profiles stay out of tests.
    pub fn isolated_aws_files(mut self) -> Self {
        for (var, name) in [
            ("AWS_CONFIG_FILE", "aws-config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "aws-credentials"),
        ] {
            let path = self.path(name);
            std::fs::write(&path, "").unwrap();
            self.env.push((var.into(), path.display().to_string()));
        }
        self
    }

    /// A copy of the rehearsal's terraform module in the test's directory.
    pub fn terraform_module(&self) -> PathBuf {
        let dest = self.path("terraform");
        copy_dir(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rehearsal/terraform"),
            &dest,
        );
        dest
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".terraform")
            || name.to_string_lossy().contains("tfstate")
        {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// Runs a script of `rehearsal/` on the tool under test (`--binary`); returns its exit code
/// and everything it printed.
pub fn rehearsal_script(script: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new("python3")
        .arg(format!("{}/rehearsal/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(["--binary", BIN])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
