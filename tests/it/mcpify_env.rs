//! Phase 3's MCPify edits as the source runbook makes them: the config's `tools:` list of the
//! 7 tools (written when missing) and MCPify's environment file (`OUTPOST_API_URL`,
//! `OUTPOST_PROVIDER=http`), proven by the MCPify stand-in, which reads both when phase 3
//! restarts it and will not start on the HTTP provider unless its environment says so;
//! rollback 1 restores both files exactly.

use std::path::PathBuf;

use outpost_migrate::exit_codes::{STEP_FAILED, SUCCESS};

use crate::support::{Moto, Server, Test};

/// The seed's config.ts without its `tools:` list.
const CONFIG_WITHOUT_TOOLS: &str = "export const outpostConfig = {\n  provider: 'ssm',\n  instanceId: 'mi-0bbd8fed3f0650ddb',\n  awsProfile: 'soc',\n  awsRegion: 'us-east-1',\n};\n";
/// MCPify's service environment before the migration: the SSM provider, said explicitly.
const ENV_FILE: &str =
    "# MCPify service environment\nOUTPOST_PROVIDER=ssm\nMCPIFY_LOG_LEVEL=info\n";
const TOOLS: [&str; 7] = [
    "outpost_dispatch",
    "outpost_status",
    "outpost_cancel",
    "outpost_health",
    "outpost_list_workspaces",
    "outpost_delete_workspace",
    "outpost_get_artifacts",
];

/// The MCPify stand-in the runbook's restarts start (a daemon of its own), stopped by its pid
/// file when the test ends.
struct Mcpify {
    pidfile: PathBuf,
}

impl Drop for Mcpify {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Phase 3 then rollback 1 over MCPify's `config` and the environment file above, with the
/// stand-in restarted by both: phase 3 leaves the whole list of tools once at the config's end
/// and MCPify's environment set; rollback 1 both files as they were.
fn phase_3_then_rollback_1_over(config_before: &str) {
    let moto = Moto::start();
    let server = Server::start();
    let port = free_port();
    let t = Test::new().embedded().aws(&moto);
    let (config, env_file) = (t.path("config.ts"), t.path("mcpify.env"));
    let (pidfile, log) = (t.path("mcpify.pid"), t.path("mcpify.log"));
    std::fs::write(&config, config_before).unwrap();
    std::fs::write(&env_file, ENV_FILE).unwrap();
    let t = t
        .env("MCPIFY_CONFIG", config.to_str().unwrap())
        .env("MCPIFY_ENV", env_file.to_str().unwrap())
        .env("MCPIFY_PIDFILE", pidfile.to_str().unwrap())
        .env("MCPIFY_PORT", &port.to_string())
        .env("MCPIFY_LOG", log.to_str().unwrap())
        .env("MCPIFY_URL", &format!("http://127.0.0.1:{port}/mcp"))
        .env(
            "MCPIFY_RESTART",
            &format!("{}/rehearsal/mcpify-restart.sh", env!("CARGO_MANIFEST_DIR")),
        )
        .env("OUTPOST_API_URL", &server.url)
        .env("OUTPOST_API_KEY", "op_test_mcpify_environment");
    // Declared after the test's directory, so dropped (and the daemon stopped) before it goes.
    let _mcpify = Mcpify { pidfile };

    let run = t.run(&["phase", "3", "--force", "--yes", "--output", "json"]);
    run.code(SUCCESS);
    // The stand-in started on the HTTP provider, so its environment file said so.
    assert_eq!(
        run.step_event("mcpify-http-checkpoint")["outcome"],
        "succeeded"
    );
    assert!(server.count("GET", "/health/fleet") >= 1);
    let edited = std::fs::read_to_string(&config).unwrap();
    let list = format!(
        "  tools: [\n{}\n  ]\n}};\n",
        TOOLS.map(|n| format!("    '{n}'")).join(",\n")
    );
    assert!(edited.ends_with(&list), "{edited}");
    assert_eq!(edited.matches("tools:").count(), 1, "{edited}");
    assert!(edited.contains("  provider: 'http',\n"), "{edited}");
    let env = std::fs::read_to_string(&env_file).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    assert!(
        lines.contains(&format!("OUTPOST_API_URL={}", server.url).as_str()),
        "{env}"
    );
    assert!(lines.contains(&"OUTPOST_PROVIDER=http"), "{env}");
    assert!(!env.contains("OUTPOST_PROVIDER=ssm"), "{env}");
    assert!(lines.contains(&"MCPIFY_LOG_LEVEL=info"), "{env}");
    assert!(
        !env.contains("op_test_mcpify_environment"),
        "the API key is never written: {env}"
    );

    let run = t.run(&["rollback", "--level", "1", "--yes", "--output", "json"]);
    run.code(SUCCESS);
    assert_eq!(
        run.step_event("rollback-restore-mcpify-env")["outcome"],
        "succeeded"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_before);
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), ENV_FILE);
    // Back on SSM, the stand-in answered through it (its environment agreeing again).
    assert_eq!(
        run.step_event("rollback-mcpify-health-via-ssm")["outcome"],
        "succeeded"
    );
}

#[test]
fn phase_3_writes_the_missing_tools_list_and_mcpifys_environment_and_rollback_1_restores_both() {
    phase_3_then_rollback_1_over(CONFIG_WITHOUT_TOOLS);
}

#[test]
fn phase_3_completes_a_partial_tools_list_at_the_configs_end() {
    // v1's five tools: the list is replaced by the whole one, not added a second time.
    let partial = CONFIG_WITHOUT_TOOLS.replace(
        "};\n",
        "\n  tools: [\n    'outpost_dispatch',\n    'outpost_status',\n    'outpost_cancel',\n    'outpost_health',\n    'outpost_list_workspaces'\n  ],\n};\n",
    );
    phase_3_then_rollback_1_over(&partial);
}

#[test]
fn the_mcpify_stand_in_will_not_start_on_http_unless_its_environment_says_so() {
    let t = Test::new();
    let (config, env_file) = (t.path("config.ts"), t.path("mcpify.env"));
    let (pidfile, log) = (t.path("mcpify.pid"), t.path("mcpify.log"));
    std::fs::write(
        &config,
        "export const outpostConfig = {\n  provider: 'http',\n  endpoint: process.env.OUTPOST_API_URL || 'http://127.0.0.1:1',\n};\n",
    )
    .unwrap();
    std::fs::write(&env_file, ENV_FILE).unwrap();
    let restart = format!("{}/rehearsal/mcpify-restart.sh", env!("CARGO_MANIFEST_DIR"));
    let t = t
        .runbook(crate::support::Runbook::minimal().phase(
            1,
            "- id: restart\n  shell: { command: \"{{ env.MCPIFY_RESTART }}\" }\n  idempotent: true\n",
        ))
        .env("MCPIFY_CONFIG", config.to_str().unwrap())
        .env("MCPIFY_ENV", env_file.to_str().unwrap())
        .env("MCPIFY_PIDFILE", pidfile.to_str().unwrap())
        .env("MCPIFY_PORT", &free_port().to_string())
        .env("MCPIFY_LOG", log.to_str().unwrap())
        .env("MCPIFY_RESTART", &restart);
    let _mcpify = Mcpify { pidfile };
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("MCPify exited at start");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("OUTPOST_PROVIDER=ssm but the config's provider is http: not starting")
    );
    std::fs::write(&env_file, "OUTPOST_PROVIDER=http\n").unwrap();
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
}
