//! Which `rollback --level N` undoes what the forward phases have applied. The runbook says it
//! already: every changing rollback step names the phase or forward step it `reverts` (checked
//! at load), so phase N is undone by the highest level reverting it (a level runs the levels
//! below it too). The state says which phases have applied a change.

use serde::Serialize;

use crate::kinds::Access;
use crate::runbook::model::Reverts;
use crate::runbook::{Runbook, UnitKey};
use crate::state::{State, StepStatus};

/// Each forward phase some rollback level undoes: the level and the phase's changing steps.
#[derive(Debug, Clone, Default)]
pub struct UndoMap {
    phases: Vec<PhaseUndo>,
}

#[derive(Debug, Clone)]
struct PhaseUndo {
    phase: u8,
    level: u8,
    /// The ids of the phase's steps that change something (or that the operator does).
    changing: Vec<String>,
}

/// What a failure's summary advises: the level undoing every phase that applied a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackAdvice {
    pub level: u8,
    /// The phases that applied a change, each undone by this level or one below it.
    pub phases: Vec<u8>,
    /// The command, with the options of the command that failed.
    pub command: String,
}

impl UndoMap {
    pub fn from_runbook(runbook: &Runbook) -> Self {
        let mut phases = Vec::new();
        for unit in &runbook.units {
            let UnitKey::Phase(phase) = unit.key else {
                continue;
            };
            let ids: Vec<&str> = unit.steps.iter().map(|s| s.id.as_str()).collect();
            let level = runbook
                .units
                .iter()
                .filter_map(|u| match u.key {
                    UnitKey::Rollback(level) => Some((level, u)),
                    _ => None,
                })
                .filter(|(_, u)| {
                    u.steps.iter().any(|s| match &s.reverts {
                        Some(Reverts::Phase(n)) => *n == phase,
                        Some(Reverts::Step(id)) => ids.contains(&id.as_str()),
                        None => false,
                    })
                })
                .map(|(level, _)| level)
                .max();
            if let Some(level) = level {
                let changing = unit
                    .steps
                    .iter()
                    .filter(|s| s.access != Access::ReadOnly)
                    .map(|s| s.id.clone())
                    .collect();
                phases.push(PhaseUndo {
                    phase,
                    level,
                    changing,
                });
            }
        }
        UndoMap { phases }
    }

    /// The level undoing every phase the state shows a change of (a changing step that
    /// succeeded, failed part-way or was left running), and those phases; `None` when no
    /// phase has applied anything.
    pub fn applied(&self, state: &State) -> Option<(u8, Vec<u8>)> {
        let applied: Vec<&PhaseUndo> = self
            .phases
            .iter()
            .filter(|p| {
                let slug = UnitKey::Phase(p.phase).slug();
                state.steps.iter().any(|(id, st)| {
                    st.unit == slug
                        && matches!(
                            st.status,
                            StepStatus::Succeeded | StepStatus::Running | StepStatus::Failed
                        )
                        && p.changing.iter().any(|c| is_item_of(id, c))
                })
            })
            .collect();
        let level = applied.iter().map(|p| p.level).max()?;
        Some((level, applied.iter().map(|p| p.phase).collect()))
    }
}

/// A state id is the step's own, or one of its `for_each` items' (`step.item`).
fn is_item_of(id: &str, step: &str) -> bool {
    id.strip_prefix(step)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_id_belongs_to_its_step_and_a_longer_name_does_not() {
        assert!(is_item_of("dns-upsert-alias", "dns-upsert-alias"));
        assert!(is_item_of("scale.claude", "scale"));
        assert!(!is_item_of("scale-down", "scale"));
    }

    #[test]
    fn the_shipped_runbook_names_the_level_undoing_each_changing_phase() {
        let runbook = crate::runbook::load(&crate::runbook::RunbookSource::Embedded).unwrap();
        let map = UndoMap::from_runbook(&runbook);
        let levels: Vec<(u8, u8)> = map.phases.iter().map(|p| (p.phase, p.level)).collect();
        // ALB (infrastructure), DNS, MCPify HTTP provider, SSM disabled.
        assert_eq!(levels, [(1, 3), (2, 2), (3, 1), (4, 1)]);
    }
}
