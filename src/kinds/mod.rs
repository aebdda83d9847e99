//! Step kinds: what a step does. Each kind is one file; `REGISTRY` is the one list to extend.

pub mod aws;
mod confirm;
mod file;
mod http;
mod mcp;
pub mod process;
mod shell;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http_client::SharedHttp;
use crate::prompt::Prompter;
use crate::template::Escape;

/// Every step kind the runbook may use, by its key in a step.
pub static REGISTRY: &[&dyn StepKind] = &[
    &shell::Shell,
    &http::Http,
    &confirm::Confirm,
    &file::File,
    &aws::Aws,
    &mcp::Mcp,
];

pub fn find(name: &str) -> Option<&'static dyn StepKind> {
    REGISTRY.iter().copied().find(|k| k.name() == name)
}

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|k| k.name()).collect()
}

/// What running a step may do to the world, which decides what `--dry-run` executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Only reads: runs in a dry run.
    ReadOnly,
    /// Changes something: shown, not run, in a dry run.
    Mutating,
    /// Asks the operator: shown, not asked, in a dry run.
    Manual,
}

/// What a kind's failure says about the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The thing being checked or changed is not as it should be: the step failed (exit 1),
    /// and it is retried while attempts remain.
    Failed,
    /// The environment (credentials, endpoint, a missing program) is broken rather than the
    /// thing being checked: never retried, exit 3.
    Setup,
    /// The operator declined or could not be asked: never retried, exit 4.
    Refused,
}

/// A step kind failed to do its work.
#[derive(Debug, Clone)]
pub struct KindFailure {
    pub message: String,
    pub class: FailureClass,
}

impl KindFailure {
    pub fn failed(message: impl Into<String>) -> Self {
        KindFailure {
            message: message.into(),
            class: FailureClass::Failed,
        }
    }
    pub fn setup(message: impl Into<String>) -> Self {
        KindFailure {
            message: message.into(),
            class: FailureClass::Setup,
        }
    }
    pub fn refused(message: impl Into<String>) -> Self {
        KindFailure {
            message: message.into(),
            class: FailureClass::Refused,
        }
    }
}

/// A problem in a kind's own fields, at a serde path under the kind's key.
#[derive(Debug)]
pub struct SpecError {
    /// Keys (and list indices) under the kind's key; empty for the kind's fields as a whole.
    pub path: Vec<String>,
    pub message: String,
}

/// Shared services a running step may use; built once per run.
pub struct KindContext {
    /// The run's HTTP client, shared with MCP steps and the notifier.
    pub http: Arc<SharedHttp>,
    /// Where `file` steps keep the backups rollback restores (the state backend's).
    pub backups: Arc<dyn crate::state::Backups>,
    pub prompter: Arc<dyn Prompter>,
    /// AWS clients, made on first use.
    pub aws: Arc<aws::AwsContext>,
    /// The process groups running steps started, stopped after each attempt (shared with
    /// the Ctrl-C handler, which stops them on the second Ctrl-C).
    pub processes: Arc<process::ProcessGroups>,
}

impl KindContext {
    pub fn http(&self) -> Result<&reqwest::Client, KindFailure> {
        self.http.get().map_err(KindFailure::setup)
    }
}

/// What the running step is, for kinds that need to know (backups, prompts).
pub struct StepRef<'a> {
    pub id: &'a str,
    /// The operator pre-approved it (`--yes`, `--approve ID`).
    pub approved: bool,
}

pub type KindFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, KindFailure>> + Send + 'a>>;

pub trait StepKind: Send + Sync {
    /// The key that selects this kind in a step.
    fn name(&self) -> &'static str;
    /// The JSON Schema of the kind's fields, from the spec type `check` reads them with
    /// (`outpost-migrate schema`).
    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// Checks the kind's fields at load time (templates still unrendered).
    fn check(&self, spec: &Value) -> Result<(), SpecError>;
    /// What the step does to the world, before `mutates:` overrides it.
    fn access(&self, spec: &Value) -> Access;
    /// Why the step is a write by its very nature, which `mutates: false` cannot vouch away
    /// (a dry run would run it): a file edit, a POST, an AWS call that is not a read. `None`
    /// for kinds that may be read-only or not depending on what they run (`shell`, `mcp`),
    /// whose author may declare them read-only.
    fn writes_by_nature(&self, _spec: &Value) -> Option<String> {
        None
    }
    /// Whether running the step twice has the effect of running it once, before
    /// `idempotent:` overrides it.
    fn idempotent(&self, _spec: &Value) -> bool {
        false
    }
    /// How values interpolated into the field at `path` (keys and list indices under the
    /// kind's key) are written: plain data unless the field is code, a URL, a pattern or a
    /// line of text.
    fn escape(&self, _path: &[String]) -> Escape {
        Escape::Data
    }
    /// Renders the templates of a spec, each value escaped for the field it lands in.
    fn render(&self, spec: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
        crate::template::render_spec(spec, ctx, &|path| self.escape(path))
    }
    /// A one-line description of the rendered step for plans and dry runs.
    fn describe(&self, spec: &Value) -> String;
    /// What the rendered step would change, worked out without acting, for `plan`: a `file`
    /// edit's unified diff of the file as it is now (`Err`: why a real run would fail, such as
    /// a missing file). `None` for kinds that cannot tell without running.
    fn preview(&self, _spec: &Value) -> Option<Result<String, String>> {
        None
    }
    /// Values in the rendered spec that must be redacted everywhere (Authorization headers...).
    fn secrets(&self, _spec: &Value) -> Vec<String> {
        Vec::new()
    }
    /// Runs the step with its rendered spec; the output is what `capture` and `expect` query.
    fn run<'a>(&'a self, spec: Value, step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a>;
}

/// Deserialises a kind's spec, keeping the path of the first problem for a located error.
pub fn parse_spec<T: DeserializeOwned>(spec: &Value) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(spec).map_err(|e| SpecError {
        path: e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                _ => None,
            })
            .collect(),
        message: e.inner().to_string(),
    })
}
