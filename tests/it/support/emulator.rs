//! The AWS emulator: moto on a free loopback port with the project's extensions
//! (tests/fixtures/moto_outpost.py), and the `Test` settings that point a run at it.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::runner::Test;

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
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
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
}
