//! Test helpers, one file per concern: the runbook builder, the binary runner, the HTTP
//! stand-in, the AWS emulator and the rehearsal. Test modules import them from here.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the helpers"
)]

mod emulator;
mod http;
mod rehearsal;
mod runbook;
mod runner;

pub use emulator::{ACCOUNT, Moto};
pub use http::Server;
pub use rehearsal::{mcpify_files_before, rehearsal_script};
pub use runbook::{Runbook, indent};
pub use runner::{BIN, Run, Test};
