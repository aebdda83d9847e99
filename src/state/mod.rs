//! Checkpoint state: what ran, with what result and captures, behind a small store interface.

pub mod approval;
pub mod audit;
pub mod backups;
pub mod files;
pub mod local;
pub mod location;
pub mod lock;
pub mod model;
pub mod monitoring;
mod process;
pub mod s3;
pub mod s3_io;
mod s3_lease;
mod s3_worker;
pub mod store;

pub use audit::AuditRecord;
pub use backups::{Backups, LocalBackups};
pub use lock::LockInfo;
pub use model::{State, StepState, StepStatus};
pub use store::{StateError, StateStore, Unlocked};
