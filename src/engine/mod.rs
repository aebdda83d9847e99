//! The engine: turns a plan into step runs, saving state after every step and emitting events.

mod attempts;
mod crash;
mod gate;
pub mod guard;
pub mod interrupt;
pub mod plan;
pub mod prompt;
mod record;
mod run;
mod step;
#[cfg(test)]
mod testkit;

pub use interrupt::Interrupt;
pub use plan::Target;
pub use run::{Engine, EngineOptions};
