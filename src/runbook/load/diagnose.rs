//! The `diagnose:` list of the top file: each symptom of the troubleshooting guide named once,
//! with the var its argument sets declared, and its unit only reading.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::document::RootDoc;
use super::parse::FileCx;
use super::root::entry_loc;
use crate::kinds::Access;
use crate::runbook::Symptom;
use crate::runbook::diagnostic::{Diagnostic, Loc};
use crate::runbook::model::{Unit, UnitKey};
use crate::runbook::node::Node;

/// The symptom units the top file names, in the guide's order, each with where it is named.
pub(super) fn unit_files(
    cx: &FileCx,
    root: &Node,
    doc: &RootDoc,
    vars: &[(String, Value)],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(UnitKey, String, Loc)> {
    let mut seen = BTreeSet::new();
    let mut refs = Vec::new();
    for (i, entry) in doc.diagnose.iter().enumerate() {
        let loc = root
            .get("diagnose")
            .and_then(Node::as_seq)
            .and_then(|items| items.get(i))
            .map_or(root.loc, |n| n.get("symptom").map_or(n.loc, |s| s.loc));
        let Some(symptom) = Symptom::from_name(&entry.symptom) else {
            diags.push(
                cx.diag(loc, format!("there is no symptom `{}`", entry.symptom))
                    .hint(format!(
                        "the troubleshooting guide's symptoms are {}",
                        Symptom::names().join(", ")
                    )),
            );
            continue;
        };
        if !seen.insert(symptom) {
            diags.push(
                cx.diag(loc, format!("symptom `{symptom}` is listed twice"))
                    .hint("each symptom points at exactly one file"),
            );
            continue;
        }
        if let Some((var, _)) = symptom.argument()
            && !vars.iter().any(|(n, _)| n == var)
        {
            diags.push(
                cx.diag(
                    loc,
                    format!("symptom `{symptom}` takes its argument in var `{var}`, which is not declared"),
                )
                .hint(format!("declare `{var}: \"\"` under `vars:`")),
            );
        }
        refs.push((
            UnitKey::Diagnose(symptom),
            entry.file.clone(),
            entry_loc(root, "diagnose", i),
        ));
    }
    refs.sort_by_key(|r| r.0);
    refs
}

/// `diagnose` only looks: a step of a symptom's unit that changes something or asks the
/// operator is refused where it is written.
pub(super) fn validate_read_only(
    units: &[Unit],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let writing = units
        .iter()
        .filter(|u| matches!(u.key, UnitKey::Diagnose(_)))
        .flat_map(|u| u.steps.iter().map(move |s| (u, s)))
        .filter(|(_, s)| s.access != Access::ReadOnly);
    for (unit, step) in writing {
        let message = format!(
            "step `{}` of {} does not only read; diagnose runs read-only steps",
            step.id, unit.key
        );
        let d = match files.get(&step.file) {
            Some(cx) => cx.diag(step.loc, message),
            None => Diagnostic::new(&step.file, None, step.loc, message),
        };
        diags.push(d.step(Some(&step.id)).hint(
            "a symptom gathers evidence: use a read-only operation, `mutates: false` for a shell step that only reads, and no `confirm`",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::parse::snippet;

    fn refs(yaml: &str, vars: &[(String, Value)]) -> (Vec<UnitKey>, Vec<String>) {
        let (cx, root) = snippet(yaml);
        let doc: RootDoc = cx.typed(&root, None).expect("a root document");
        let mut diags = Vec::new();
        let keys = unit_files(&cx, &root, &doc, vars, &mut diags)
            .into_iter()
            .map(|r| r.0)
            .collect();
        (keys, diags.into_iter().map(|d| d.message).collect())
    }

    const ROOT: &str =
        "format: 1\nname: t\npreflight: p.yaml\nverify: v.yaml\nphases: []\nrollback: []\n";

    #[test]
    fn symptoms_are_known_listed_once_and_come_in_the_guides_order() {
        let (keys, problems) = refs(
            &format!(
                "{ROOT}diagnose:\n  - {{ symptom: auth, file: a.yaml }}\n  - {{ symptom: control-plane, file: c.yaml }}\n  - {{ symptom: auth, file: b.yaml }}\n  - {{ symptom: network, file: n.yaml }}\n"
            ),
            &[],
        );
        assert_eq!(
            keys,
            [
                UnitKey::Diagnose(Symptom::ControlPlane),
                UnitKey::Diagnose(Symptom::Auth)
            ]
        );
        assert_eq!(
            problems,
            [
                "symptom `auth` is listed twice",
                "there is no symptom `network`"
            ]
        );
    }

    #[test]
    fn a_symptom_with_an_argument_needs_its_var_declared() {
        let yaml = format!("{ROOT}diagnose:\n  - {{ symptom: agent, file: a.yaml }}\n");
        let (_, problems) = refs(&yaml, &[]);
        assert_eq!(
            problems,
            ["symptom `agent` takes its argument in var `diagnose_agent`, which is not declared"]
        );
        let (keys, problems) = refs(&yaml, &[("diagnose_agent".into(), Value::from(""))]);
        assert!(problems.is_empty());
        assert_eq!(keys, [UnitKey::Diagnose(Symptom::Agent)]);
    }
}
