//! What steps say of one another: ids unique, `reverts` naming a real step or phase, every
//! changing rollback step saying what it reverts, `restore` and `check` naming a `file` step.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::parse::FileCx;
use super::root::PHASES;
use crate::kinds::Access;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::{Reverts, Step, Unit, UnitKey};
use crate::runbook::node::Node;

pub(super) fn validate_ids(
    units: &[Unit],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let ids: BTreeSet<&str> = units
        .iter()
        .flat_map(|u| &u.steps)
        .map(|s| s.id.as_str())
        .collect();
    for step in units.iter().flat_map(|u| &u.steps) {
        let problem = match &step.reverts {
            Some(Reverts::Step(id)) if !ids.contains(id.as_str()) => {
                Some(format!("`reverts: {id}` names no step"))
            }
            Some(Reverts::Phase(n)) if !PHASES.contains(n) => {
                Some(format!("`reverts: {n}` names no phase"))
            }
            _ => None,
        };
        if let Some(message) = problem {
            let d = match files.get(&step.file) {
                Some(cx) => cx.diag(step.loc, message),
                None => Diagnostic::new(&step.file, None, step.loc, message),
            };
            diags.push(d.step(Some(&step.id)).hint(
                "`reverts` takes a phase number (1–5) or the id of the forward step this undoes",
            ));
        }
    }
    let mut seen: HashMap<&str, &Step> = HashMap::new();
    for step in units.iter().flat_map(|u| &u.steps) {
        if let Some(first) = seen.get(step.id.as_str()) {
            let d = match files.get(&step.file) {
                Some(cx) => cx.diag(step.loc, format!("duplicate step id `{}`", step.id)),
                None => Diagnostic::new(
                    &step.file,
                    None,
                    step.loc,
                    format!("duplicate step id `{}`", step.id),
                ),
            };
            diags.push(d.step(Some(&step.id)).hint(format!(
                "ids key the saved state and must be unique; first used at {}:{}:{}",
                first.file, first.loc.line, first.loc.col
            )));
        } else {
            seen.insert(&step.id, step);
        }
    }
}

/// A rollback step that changes something says what it `reverts` (its own, or its level's):
/// without it, it would undo a phase that never ran, as a rollback from a fresh state scaled
/// the control plane down.
pub(super) fn validate_rollback_reverts(
    units: &[Unit],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let unreverted = units
        .iter()
        .filter(|u| matches!(u.key, UnitKey::Rollback(_)))
        .flat_map(|u| &u.steps)
        .filter(|s| s.access == Access::Mutating && s.reverts.is_none());
    for step in unreverted {
        let message = format!(
            "rollback step `{}` changes something but does not say what it `reverts`",
            step.id
        );
        let d = match files.get(&step.file) {
            Some(cx) => cx.diag(step.loc, message),
            None => Diagnostic::new(&step.file, None, step.loc, message),
        };
        diags.push(d.step(Some(&step.id)).hint(
            "add `reverts: N` (the phase it undoes) or `reverts: STEP_ID` (the forward step), on the step or on its rollback file: it runs only when that ran",
        ));
    }
}

/// `file: { restore: ID }` and `file: { check: ID }` must name a `file` step that edits a
/// `path`. A restore gets that path (a template, rendered when the restore runs): it writes
/// only the file its step edited, never a path a backup record names. A check gets the path and
/// the edits: it tries exactly what the step will do, so the two cannot drift apart.
pub(super) fn link_restores(
    units: &mut [(Unit, Vec<Node>)],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let edited: HashMap<String, (Value, Value)> = units
        .iter()
        .flat_map(|(u, _)| &u.steps)
        .filter(|s| s.kind.name() == "file")
        .filter_map(|s| {
            let path = s.spec.get("path")?.clone();
            let edits = s.spec.get("edits").cloned().unwrap_or(Value::Null);
            Some((s.id.clone(), (path, edits)))
        })
        .collect();
    for (unit, nodes) in units.iter_mut() {
        for (step, node) in unit.steps.iter_mut().zip(nodes.iter()) {
            if step.kind.name() != "file" {
                continue;
            }
            let Some((key, from)) = ["restore", "check"].into_iter().find_map(|key| {
                let from = step.spec.get(key)?.as_str()?.to_owned();
                Some((key, from))
            }) else {
                continue;
            };
            match (edited.get(&from), step.spec.as_object_mut()) {
                (Some((path, edits)), Some(spec)) => {
                    spec.insert("path".into(), path.clone());
                    if key == "check" {
                        spec.insert("edits".into(), edits.clone());
                    }
                }
                _ => {
                    let loc = node
                        .get("file")
                        .and_then(|f| f.get(key))
                        .map_or(step.loc, |n| n.loc);
                    let message =
                        format!("`{key}: {from}` names no `file` step that edits a `path`");
                    let d = match files.get(&step.file) {
                        Some(cx) => cx.diag(loc, message),
                        None => Diagnostic::new(&step.file, None, loc, message),
                    };
                    diags.push(d.step(Some(&step.id)).hint(match key {
                        "check" => "`check` takes the id of the `file` step whose edits it tries",
                        _ => "`restore` takes the id of the `file` step whose backup it puts back",
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::unit::unit_of;

    /// The problems links find in a phase-1 unit from `yaml`, the unit made a rollback
    /// level when `rollback` is set.
    fn problems(yaml: &str, rollback: bool) -> Vec<(usize, String)> {
        let (unit, files, diags) = unit_of(yaml, &[]);
        assert!(diags.is_empty(), "{diags:#?}");
        let (mut unit, nodes) = unit.expect("a unit");
        if rollback {
            unit.key = UnitKey::Rollback(1);
        }
        let mut units = vec![(unit, nodes)];
        let mut diags = Vec::new();
        link_restores(&mut units, &files, &mut diags);
        let units: Vec<Unit> = units.into_iter().map(|(u, _)| u).collect();
        validate_ids(&units, &files, &mut diags);
        validate_rollback_reverts(&units, &files, &mut diags);
        diags.into_iter().map(|d| (d.loc.line, d.message)).collect()
    }

    #[test]
    fn ids_are_unique_and_the_second_points_at_the_first() {
        let (unit, files, _) = unit_of(
            "title: T\nsteps:\n  - { id: a, confirm: x? }\n  - { id: a, confirm: y? }\n",
            &[],
        );
        let mut diags = Vec::new();
        validate_ids(&[unit.expect("a unit").0], &files, &mut diags);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].message, "duplicate step id `a`");
        assert_eq!(diags[0].loc.line, 4);
        assert!(
            diags[0]
                .hint
                .as_deref()
                .unwrap_or_default()
                .ends_with("t.yaml:3:11")
        );
    }

    #[test]
    fn reverts_names_a_step_or_a_phase() {
        assert_eq!(
            problems(
                "title: T\nsteps:\n  - { id: a, reverts: nope, confirm: x? }\n  - { id: b, reverts: 9, confirm: x? }\n  - { id: c, reverts: a, confirm: x? }\n",
                false
            ),
            [
                (3, "`reverts: nope` names no step".into()),
                (4, "`reverts: 9` names no phase".into()),
            ]
        );
    }

    #[test]
    fn a_rollback_step_that_changes_something_says_what_it_reverts() {
        let yaml = "title: T\nsteps:\n  - { id: a, shell: { command: 'true' } }\n  - { id: b, reverts: 1, shell: { command: 'true' } }\n  - { id: c, shell: { command: ls }, mutates: false }\n";
        assert_eq!(
            problems(yaml, true),
            [(
                3,
                "rollback step `a` changes something but does not say what it `reverts`".into()
            )]
        );
        assert!(problems(yaml, false).is_empty());
    }

    #[test]
    fn a_check_takes_the_path_and_the_edits_of_its_step() {
        let yaml = "title: T\nsteps:\n  - id: edit\n    file: { path: /etc/x.conf, edits: [{ ensure_line: a }] }\n  - id: try\n    file: { check: edit }\n  - id: lost\n    file: { check: nothing }\n";
        let (unit, files, _) = unit_of(yaml, &[]);
        let mut units = vec![unit.expect("a unit")];
        let mut diags = Vec::new();
        link_restores(&mut units, &files, &mut diags);
        let check = &units[0].0.steps[1];
        assert_eq!(check.spec["path"], "/etc/x.conf");
        assert_eq!(
            check.spec["edits"],
            serde_json::json!([{ "ensure_line": "a" }])
        );
        assert_eq!(check.access, Access::ReadOnly);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].loc.line, 8);
        assert_eq!(
            diags[0].message,
            "`check: nothing` names no `file` step that edits a `path`"
        );
    }

    #[test]
    fn a_restore_takes_the_path_its_step_edited() {
        let yaml = "title: T\nsteps:\n  - id: edit\n    file: { path: /etc/x.conf, edits: [{ ensure_line: a }] }\n  - id: back\n    file: { restore: edit }\n  - id: lost\n    file: { restore: nothing }\n";
        let (unit, files, _) = unit_of(yaml, &[]);
        let mut units = vec![unit.expect("a unit")];
        let mut diags = Vec::new();
        link_restores(&mut units, &files, &mut diags);
        assert_eq!(units[0].0.steps[1].spec["path"], "/etc/x.conf");
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].loc.line, 8);
        assert_eq!(
            diags[0].message,
            "`restore: nothing` names no `file` step that edits a `path`"
        );
    }
}
