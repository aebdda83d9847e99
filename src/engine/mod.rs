//! The engine: turns a plan into step runs, saving state after every step and emitting events.

mod crash;
pub mod guard;
pub mod interrupt;
pub mod plan;
pub mod prompt;
mod run;
mod step;

pub use interrupt::Interrupt;
pub use plan::Target;
pub use run::{Engine, EngineOptions};
