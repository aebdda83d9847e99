//! What the operator asked the core for: the target to run and the guards' refusals to
//! override. The settings resolve them from the command line; the engine and its guards
//! obey them. A plain vocabulary both sides use, so neither imports the other's types.

use std::collections::BTreeSet;
use std::fmt;

use crate::runbook::{Symptom, UnitKey};

/// What a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Preflight,
    Phase(u8),
    Verify,
    Rollback(u8),
    /// `run`: pre-flight, phases 1–5, post-verification.
    Run,
    /// `plan all`: everything, rollback levels included.
    All,
    /// `diagnose [SYMPTOM]`: one symptom's unit, or every symptom's (never part of `all`).
    Diagnose(Option<Symptom>),
    /// `monitor`: the watch after the migration.
    Monitor,
}

impl Target {
    pub fn units(self) -> Vec<UnitKey> {
        match self {
            Target::Preflight => vec![UnitKey::Preflight],
            Target::Phase(n) => vec![UnitKey::Phase(n)],
            Target::Verify => vec![UnitKey::Verify],
            Target::Monitor => vec![UnitKey::Monitor],
            Target::Rollback(level) => (1..=level).map(UnitKey::Rollback).collect(),
            Target::Run => std::iter::once(UnitKey::Preflight)
                .chain((1..=5).map(UnitKey::Phase))
                .chain(std::iter::once(UnitKey::Verify))
                .collect(),
            Target::All => std::iter::once(UnitKey::Preflight)
                .chain((1..=5).map(UnitKey::Phase))
                .chain(std::iter::once(UnitKey::Verify))
                .chain((1..=3).map(UnitKey::Rollback))
                .collect(),
            Target::Diagnose(Some(s)) => vec![UnitKey::Diagnose(s)],
            Target::Diagnose(None) => Symptom::ALL.map(UnitKey::Diagnose).to_vec(),
        }
    }

    /// The command line that runs this target (for resume hints).
    pub fn command(self) -> String {
        match self {
            Target::Preflight => "outpost-migrate preflight".into(),
            Target::Phase(n) => format!("outpost-migrate phase {n}"),
            Target::Verify => "outpost-migrate verify".into(),
            Target::Monitor => "outpost-migrate monitor".into(),
            Target::Rollback(l) => format!("outpost-migrate rollback --level {l}"),
            Target::Run | Target::All => "outpost-migrate run".into(),
            Target::Diagnose(s) => format!("outpost-migrate {}", Target::Diagnose(s)),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Preflight => write!(f, "preflight"),
            Target::Phase(n) => write!(f, "phase {n}"),
            Target::Verify => write!(f, "verify"),
            Target::Rollback(l) => write!(f, "rollback --level {l}"),
            Target::Run => write!(f, "run"),
            Target::All => write!(f, "all"),
            Target::Diagnose(None) => write!(f, "diagnose"),
            Target::Diagnose(Some(s)) => write!(f, "diagnose {s}"),
            Target::Monitor => write!(f, "monitor"),
        }
    }
}

/// The operator's overrides of the guards.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub force: bool,
    pub accept_changed: BTreeSet<String>,
    pub retry_in_doubt: BTreeSet<String>,
    pub mark_done: BTreeSet<String>,
}
