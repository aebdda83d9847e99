//! Asking the operator: the engine and kinds ask through this, the terminal answers.

pub trait Prompter: Send + Sync {
    /// Whether a person can be asked (stdin is a terminal).
    fn can_prompt(&self) -> bool;
    /// Asks a yes/no question; only called when `can_prompt`.
    fn confirm(&self, question: &str) -> bool;
}
