//! The rehearsal: its scripts run on the binary under test, and its terraform module copied
//! into a test's directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::runner::{BIN, Test};

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

/// MCPify's files as rehearse.py writes them before the migration: (file, content).
pub fn mcpify_files_before() -> Vec<(String, String)> {
    static FILES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    FILES
        .get_or_init(|| {
            let out = Command::new("python3")
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/rehearsal"))
                .args([
                    "-c",
                    "import json, rehearse; print(json.dumps([['config.ts', rehearse.CONFIG_TS], \
                     ['registry.ts', rehearse.REGISTRY_TS], ['mcpify.env', rehearse.MCPIFY_ENV]]))",
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .clone()
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

impl Test {
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
