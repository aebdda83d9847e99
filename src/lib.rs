//! The `outpost-migrate` library: the runbook loader, the engine and the commands. The binary
//! (`main.rs`) is a thin shell around it; the fuzz target drives the loader.

pub mod cli;
pub mod command_line;
pub mod commands;
pub mod diagnosis;
pub mod engine;
pub mod error;
pub mod escape;
pub mod events;
pub mod exit_codes;
pub mod expect;
pub mod http_client;
pub mod kinds;
pub mod notify;
pub mod prompt;
pub mod query;
pub mod reporter;
pub mod request;
pub mod runbook;
pub mod saved_plan;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod template;
