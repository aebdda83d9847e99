//! The engine: turns a plan into step runs, saving state after every step and emitting events.

mod crash;
pub mod execution_plan;
pub mod guard;
pub mod interrupt;
mod run;
mod step;

pub use interrupt::Interrupt;
pub use run::{Engine, EngineOptions};
