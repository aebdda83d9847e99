//! The audit log: one JSON line per step start and finish, appended, never rewritten; read
//! back whole by `report`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: Timestamp,
    pub operator: String,
    pub command: String,
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The run (its lock id) a second person's approval, or the wait for one, belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The AWS caller ARN of who waits (the operator) or who approved (the second person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}
