//! The runbook: its files, their parsing with locations, the typed model and its validation.

pub mod diagnostic;
pub mod fuzz;
pub mod load;
pub mod model;
pub mod node;
pub mod schedule;
pub mod schema;
pub mod source;
pub mod symptom;

pub use diagnostic::Diagnostic;
pub use load::{load, load_root};
pub use model::{ForEach, InDoubt, Reverts, Runbook, Step, Unit, UnitKey};
pub use source::RunbookSource;
pub use symptom::Symptom;
