//! The binary runner: a working directory with a runbook and a state directory, the fluent
//! `Test` that runs the built binary in it, and the `Run` it returns to assert on.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::http::Server;
use super::rehearsal::mcpify_files_before;
use super::runbook::Runbook;

pub const BIN: &str = env!("CARGO_BIN_EXE_outpost-migrate");

/// A working directory with a runbook and a state directory, for running the binary.
pub struct Test {
    pub dir: tempfile::TempDir,
    pub(super) runbook: Option<Runbook>,
    pub(super) env: Vec<(String, String)>,
    /// The control plane and MCPify an embedded runbook's pre-flight reaches (`embedded`).
    world: Option<Server>,
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
            world: None,
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
        // Each command takes its own arguments, after its name: `--runbook` for all but
        // `unlock`, `--state-dir` for all but `validate`, unless the test gives its own. They
        // go last, so the command reads as the test wrote it (`phase 1 --force ...`).
        cmd.args(args);
        let sub = args.first().filter(|a| !a.starts_with('-')).copied();
        let given = |flag: &str| args.contains(&flag);
        if let Some(sub) = sub {
            if self.runbook.is_some() && sub != "unlock" && !given("--runbook") {
                cmd.arg("--runbook").arg(self.runbook_dir());
            }
            // `diagnose` keeps no state either.
            if !["validate", "diagnose"].contains(&sub)
                && !given("--state-dir")
                && !given("--state")
            {
                cmd.arg("--state-dir").arg(self.state_dir());
            }
        }
        cmd.env("NO_COLOR", "1").stdin(Stdio::null());
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
            "OUTPOST_SLACK_WEBHOOK_URL",
            "OUTPOST_PAGERDUTY_ROUTING_KEY",
            "OUTPOST_PAGERDUTY_URL",
            "OUTPOST_SNS_TOPIC_ARN",
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

    /// Runs against the embedded runbook (no `--runbook`), in a world its pre-flight passes
    /// in beyond AWS: the HTTP stand-in as the control plane and as MCPify's MCP endpoint, a
    /// well-formed API key, MCPify's files as before the migration, a restart command, the
    /// second person off (one AWS identity), and first on the PATH the rehearsal's `dig`
    /// (answering from the emulator's public zones, as in the break matrix). A test's own
    /// `env` wins, set before or after.
    pub fn embedded(mut self) -> Self {
        self.runbook = None;
        let server = Server::start();
        let mut world = vec![
            ("OUTPOST_API_URL".to_owned(), server.url.clone()),
            ("OUTPOST_API_KEY".into(), "op_test_embedded_world".into()),
            ("MCPIFY_URL".into(), format!("{}/mcp", server.url)),
            ("MCPIFY_RESTART".into(), "true".into()),
            // One AWS identity: the steps marked for a second person need only the operator's
            // approval (tests/it/second_person.rs turns it back on).
            ("OUTPOST_SECOND_PERSON_APPROVAL".into(), "false".into()),
            (
                "PATH".into(),
                format!(
                    "{}/rehearsal/public-dns:{}",
                    env!("CARGO_MANIFEST_DIR"),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
        ];
        std::fs::create_dir_all(self.path("mcpify")).unwrap();
        for (name, content) in mcpify_files_before() {
            let path = self.path(&format!("mcpify/{name}"));
            std::fs::write(&path, content).unwrap();
            let var = match name.as_str() {
                "config.ts" => "MCPIFY_CONFIG",
                "registry.ts" => "MCPIFY_REGISTRY",
                _ => "MCPIFY_ENV",
            };
            world.push((var.into(), path.display().to_string()));
        }
        world.append(&mut self.env);
        self.env = world;
        self.world = Some(server);
        self
    }
}
