//! `shell`: run a command with `sh -c` (terraform, systemctl, dig...). Mutating by default.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::template::Escape;

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Shell;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ShellStep")]
struct Spec {
    command: String,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// How much of stderr a failure message quotes.
const STDERR_TAIL: usize = 600;

/// The most a command's stdout, and its stderr, may print: the output is kept in memory to be
/// captured and judged, so a command printing gigabytes would take the machine's memory.
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

impl StepKind for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Spec>()
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        parse_spec::<Spec>(spec).map(|_| ())
    }

    fn access(&self, _spec: &Value) -> Access {
        Access::Mutating
    }

    /// `sh -c` runs the command: each value in it is one quoted word.
    fn escape(&self, path: &[String]) -> Escape {
        match path {
            [field] if field == "command" => Escape::Shell,
            _ => Escape::Data,
        }
    }

    fn describe(&self, spec: &Value) -> String {
        match parse_spec::<Spec>(spec) {
            Ok(s) => match s.cwd {
                Some(cwd) => format!("$ {}   (in {cwd})", s.command),
                None => format!("$ {}", s.command),
            },
            Err(_) => spec.to_string(),
        }
    }

    fn run<'a>(&'a self, spec: Value, step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let spec: Spec = parse_spec(&spec).map_err(|e| KindFailure::failed(e.message))?;
            let mut cmd = tokio::process::Command::new("sh");
            ctx.aws.apply_to(&mut cmd);
            cmd.arg("-c")
                .arg(&spec.command)
                .envs(&spec.env)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                // Its own process group: the operator's Ctrl-C stops outpost-migrate after
                // this step, it does not kill terraform half-way through an apply. The group
                // is stopped as a whole when the attempt ends (see kinds/process.rs).
                .process_group(0)
                .kill_on_drop(true);
            if let Some(cwd) = &spec.cwd {
                if !std::path::Path::new(cwd).is_dir() {
                    return Err(KindFailure::setup(format!(
                        "working directory `{cwd}` does not exist"
                    )));
                }
                cmd.current_dir(cwd);
            }
            let mut child = cmd
                .spawn()
                .map_err(|e| KindFailure::setup(format!("cannot start `sh`: {e}")))?;
            ctx.processes.register(step.id, child.id());
            let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
            // The attempt ends when `sh` does: what it left in its group is stopped then,
            // rather than holding the output pipes (and the step) open until it exits.
            let ended = async {
                let status = child.wait().await;
                ctx.processes.stop_step(step.id, true).await;
                status
            };
            let (status, (stdout, stdout_over), (stderr, stderr_over)) =
                tokio::join!(ended, read_all(stdout), read_all(stderr));
            if let Some(stream) = [("stdout", stdout_over), ("stderr", stderr_over)]
                .into_iter()
                .find_map(|(name, over)| over.then_some(name))
            {
                return Err(KindFailure::failed(format!(
                    "`{}` printed more than {} MiB on {stream}: too much to capture or judge",
                    spec.command,
                    MAX_OUTPUT / (1024 * 1024)
                )));
            }
            let out = std::process::Output {
                status: status
                    .map_err(|e| KindFailure::failed(format!("cannot wait for `sh`: {e}")))?,
                stdout,
                stderr,
            };
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let code = out.status.code().unwrap_or(-1);
            if !out.status.success() {
                // Marked where it is cut: redaction masks what is left of a secret there.
                let tail = crate::secrets::tail(stderr.trim(), STDERR_TAIL);
                let detail = if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                };
                return Err(KindFailure::failed(format!(
                    "`{}` exited with {code}{detail}",
                    spec.command
                )));
            }
            let parsed = serde_json::from_str::<Value>(stdout.trim()).unwrap_or(Value::Null);
            Ok(json!({"exit_code": code, "stdout": stdout, "stderr": stderr, "json": parsed}))
        })
    }
}

/// What a pipe of the child gave until it closed: its first [`MAX_OUTPUT`] bytes, and whether
/// there was more. Past the limit the pipe is still drained (a command blocked on a full pipe
/// would only end at its timeout), but nothing more is kept. What a read error leaves out is
/// lost output, not a reason to fail the step.
async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut over = false;
    if let Some(mut pipe) = pipe {
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = tokio::io::AsyncReadExt::read(&mut pipe, &mut chunk).await {
            if n == 0 {
                break;
            }
            let room = MAX_OUTPUT - buf.len();
            over |= n > room;
            buf.extend_from_slice(&chunk[..n.min(room)]);
        }
    }
    (buf, over)
}
