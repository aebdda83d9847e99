//! `outpost-migrate`: parse the command line, resolve settings, run, map to an exit code.

use outpost_migrate::{cli, commands, error, exit_codes, reporter, secrets, settings};

use std::sync::Arc;

use clap::Parser;
use outpost_migrate::runbook::Diagnostic;
use reporter::document::Failure;
use settings::OutputFormat;

fn main() {
    // Lossy rather than a panic on a word that is not UTF-8; clap reports such a word itself.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => std::process::exit(usage_error(&e, &args)),
    };
    let output = cli.global.output;
    if let cli::Command::Docs(docs) = &cli.command {
        let failed = Failed {
            output,
            command: cli::command_word(&args),
            color: false,
        };
        let code = match cli::docs::run(docs, &mut std::io::stdout().lock()) {
            Ok(()) => exit_codes::SUCCESS,
            Err(e) => failed.report(&e, &secrets::Redactor::new()),
        };
        std::process::exit(code);
    }
    let env = std::env::vars().collect();
    let code = match settings::resolve(cli, env, args.clone()) {
        Ok(settings) => run(settings),
        Err(e) => {
            let failed = Failed {
                output,
                command: cli::command_word(&args),
                color: false,
            };
            failed.report(&e, &secrets::Redactor::new())
        }
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
    let failed = Failed {
        output: settings.output,
        command: settings.action.name(),
        color: settings.terminal.color_stderr,
    };
    match commands::run(settings, redactor.clone()) {
        Ok(code) => code,
        Err(e) => failed.report(&e, &redactor),
    }
}

/// A command line clap refused: its message on stderr (help and `--version` on stdout, as
/// clap prints them), and the machine document on stdout when one was asked for.
fn usage_error(e: &clap::Error, args: &[String]) -> i32 {
    if !e.use_stderr() {
        let _ = e.print();
        return exit_codes::SUCCESS;
    }
    // A malformed `--var` is echoed: it may hold a secret of the environment.
    let redactor = secrets::Redactor::new();
    for (_, secret) in settings::secret_env(&std::env::vars().collect()) {
        redactor.add(&secret);
    }
    let rendered = e.render().to_string();
    let redacted = redactor.redact(&rendered);
    if redacted == rendered {
        let _ = e.print();
    } else {
        eprint!("{redacted}");
    }
    let message = match e.kind() {
        // clap showed the help: there is no error line to repeat.
        clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | clap::error::ErrorKind::MissingSubcommand => {
            "a command is needed; see `outpost-migrate --help`".to_owned()
        }
        // What clap says before its usage line, on one line.
        _ => redacted
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .trim_start_matches("error: ")
            .to_owned(),
    };
    let failure = Failure {
        command: cli::command_word(args),
        exit_code: exit_codes::USAGE_OR_RUNBOOK,
        error: message,
        problems: Vec::new(),
    };
    print_document(cli::requested_output(args), &failure);
    exit_codes::USAGE_OR_RUNBOOK
}

/// How a command that failed is reported.
struct Failed {
    output: OutputFormat,
    command: String,
    color: bool,
}

impl Failed {
    /// Prints an error on stderr (runbook problems as located snippets, the rest on one line)
    /// and, for `--output json` or `junit`, the document saying so on stdout.
    fn report(&self, e: &error::Error, redactor: &secrets::Redactor) -> i32 {
        let problems: Vec<_> = match e {
            error::Error::Runbook(diags) => diags.iter().map(|d| redacted(d, redactor)).collect(),
            _ => Vec::new(),
        };
        for d in &problems {
            eprintln!("{}", d.render(self.color));
        }
        let label = if self.color {
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
        let message = redactor.redact(&e.to_string());
        eprintln!("{label}: {message}");
        let failure = Failure {
            command: self.command.clone(),
            exit_code: e.exit_code(),
            error: message,
            problems,
        };
        print_document(self.output, &failure);
        e.exit_code()
    }
}

/// A runbook problem with what a secret could reach redacted.
fn redacted(d: &Diagnostic, redactor: &secrets::Redactor) -> Diagnostic {
    Diagnostic {
        message: redactor.redact(&d.message),
        hint: d.hint.as_deref().map(|h| redactor.redact(h)),
        source_line: d.source_line.as_deref().map(|l| redactor.redact(l)),
        ..d.clone()
    }
}

fn print_document(output: OutputFormat, failure: &Failure) {
    let doc = match output {
        OutputFormat::Human => return,
        OutputFormat::Json => Ok(failure.json()),
        OutputFormat::Junit => failure.junit(),
    };
    match doc {
        Ok(doc) => println!("{doc}"),
        Err(e) => eprintln!("error: {e}"),
    }
}
