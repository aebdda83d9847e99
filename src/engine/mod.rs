//! The engine: turns a plan into step runs, saving state after every step and emitting events.

mod attempts;
mod crash;
mod critical_path;
pub mod execution_plan;
mod gate;
pub mod guard;
pub mod interrupt;
mod record;
mod run;
pub mod second_person;
mod step;
#[cfg(test)]
mod testkit;
pub mod undo;
mod waits;

pub use interrupt::Interrupt;
pub use run::{Engine, EngineOptions, RunOutcome};
