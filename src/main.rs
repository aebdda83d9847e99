//! `outpost-migrate`: parse the command line, resolve settings, run, map to an exit code.

use outpost_migrate::{cli, commands, error, exit_codes, reporter, secrets, settings};

use std::sync::Arc;

use clap::Parser;

fn main() {
    // Lossy rather than a panic on a word that is not UTF-8; clap reports such a word itself.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = cli::Cli::parse();
    let env = std::env::vars().collect();
    let code = match settings::resolve(cli, env, args) {
        Ok(settings) => run(settings),
        Err(e) => report(&e, false),
    };
    std::process::exit(code);
}

fn run(mut settings: settings::Settings) -> i32 {
    // Test builds read crash points from FAILPOINTS (see engine/crash.rs).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let redactor = Arc::new(secrets::Redactor::new());
    for (name, secret) in &settings.secret_env {
        if !redactor.add(secret) {
            eprintln!(
                "warning: {name} is shorter than {} characters, so it is not masked in output",
                secrets::MIN_SECRET_LEN
            );
        }
    }
    // The command line goes to the lock, the audit log and `run_started`: a `--var` may
    // carry a secret (`--var key=$OUTPOST_API_KEY`).
    settings.command_line = redactor.redact(&settings.command_line);
    settings.typed.redact(|word| redactor.redact(word));
    reporter::log::init(settings.verbose, settings.quiet, redactor.clone());
    if settings.show_settings {
        let shown = serde_json::to_value(&settings).unwrap_or_default();
        println!(
            "{}",
            serde_json::to_string_pretty(&redactor.redact_value(&shown)).unwrap_or_default()
        );
        return exit_codes::SUCCESS;
    }
    let color = settings.terminal.color_stderr;
    match commands::run(settings, redactor.clone()) {
        Ok(code) => code,
        Err(e) => report_redacted(&e, color, &redactor),
    }
}

fn report(e: &error::Error, color: bool) -> i32 {
    report_redacted(e, color, &secrets::Redactor::new())
}

/// Prints an error on stderr: runbook problems as located snippets, the rest on one line.
fn report_redacted(e: &error::Error, color: bool, redactor: &secrets::Redactor) -> i32 {
    if let error::Error::Runbook(diags) = e {
        for d in diags {
            eprintln!("{}", redactor.redact(&d.render(color)));
        }
    }
    let label = if color {
        // Decided by the settings, not by console's own guess about the stream.
        console::Style::new()
            .red()
            .bold()
            .force_styling(true)
            .apply_to("error")
            .to_string()
    } else {
        "error".into()
    };
    eprintln!("{label}: {}", redactor.redact(&e.to_string()));
    e.exit_code()
}
