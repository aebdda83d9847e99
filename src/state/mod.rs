//! Checkpoint state: what ran, with what result and captures, behind a small store interface.

pub mod approval;
pub mod audit;
pub mod files;
pub mod local;
pub mod lock;
pub mod model;
pub mod monitoring;
mod process;
pub mod store;

pub use audit::AuditRecord;
pub use lock::LockInfo;
pub use model::{State, StepState, StepStatus};
pub use store::{StateError, StateStore, Unlocked};
