//! What changed between a saved plan and the plan built now: each difference named, the
//! plan's value then the current one ("state serial: plan 12, now 14").

use std::collections::BTreeSet;

use serde_json::Value;

use super::{SavedPlan, SavedStep};

/// Every difference between the saved plan and `now`, in a fixed order; empty when the plan
/// still holds. `created` is not compared.
pub fn drift(saved: &SavedPlan, now: &SavedPlan) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |what: &str, plan: String, now: String| {
        if plan != now {
            out.push(format!("{what}: plan {plan}, now {now}"));
        }
    };
    differs("target", saved.target.clone(), now.target.clone());
    differs("runbook", saved.runbook.clone(), now.runbook.clone());
    differs(
        "runbook hash",
        short(&saved.runbook_hash),
        short(&now.runbook_hash),
    );
    differs("account", shown(&saved.account), shown(&now.account));
    differs("region", shown(&saved.region), shown(&now.region));
    differs(
        "state serial",
        saved.state_serial.to_string(),
        now.state_serial.to_string(),
    );
    let listed = |o: &[String]| match o {
        [] => "none".to_owned(),
        o => o.join(" "),
    };
    differs(
        "overrides",
        listed(&saved.overrides),
        listed(&now.overrides),
    );
    let names: BTreeSet<&String> = saved.vars.keys().chain(now.vars.keys()).collect();
    for name in names {
        differs(
            &format!("var `{name}`"),
            value(saved.vars.get(name)),
            value(now.vars.get(name)),
        );
    }
    out.extend(steps(saved, now));
    out
}

/// Steps missing on either side, reordered, or whose hash, fields or rendered inputs differ.
fn steps(saved: &SavedPlan, now: &SavedPlan) -> Vec<String> {
    let mut out = Vec::new();
    let find = |plan: &SavedPlan, id: &str| plan.steps.iter().position(|s| s.id == id);
    for (i, s) in saved.steps.iter().enumerate() {
        let Some(j) = find(now, &s.id) else {
            out.push(format!(
                "step `{}`: in the plan, not in the runbook now",
                s.id
            ));
            continue;
        };
        let n = &now.steps[j];
        if s.hash != n.hash {
            out.push(format!(
                "step `{}` hash: plan {}, now {}",
                s.id,
                short(&s.hash),
                short(&n.hash)
            ));
        } else {
            out.extend(step_fields(s, n));
        }
        if i != j {
            out.push(format!(
                "step `{}` position: plan {}, now {}",
                s.id,
                i + 1,
                j + 1
            ));
        }
    }
    for n in &now.steps {
        if find(saved, &n.id).is_none() {
            out.push(format!(
                "step `{}`: in the runbook now, not in the plan",
                n.id
            ));
        }
    }
    out
}

/// A step whose hash is the plan's, but not what the plan says of it: each field and each
/// rendered input named.
fn step_fields(s: &SavedStep, n: &SavedStep) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |what: &str, plan: String, now: String| {
        if plan != now {
            out.push(format!("step `{}` {what}: plan {plan}, now {now}", s.id));
        }
    };
    differs("unit", s.unit.clone(), n.unit.clone());
    differs("kind", s.kind.clone(), n.kind.clone());
    differs(
        "access",
        format!("{:?}", s.access),
        format!("{:?}", n.access),
    );
    differs("title", s.title.clone(), n.title.clone());
    let mut inputs = Vec::new();
    input_paths("", Some(&s.inputs), Some(&n.inputs), &mut inputs);
    for (path, plan, now) in inputs {
        differs(&format!("input `{path}`"), plan, now);
    }
    out
}

/// Each leaf where two rendered inputs differ, by its dotted path, with both values.
fn input_paths(
    path: &str,
    plan: Option<&Value>,
    now: Option<&Value>,
    out: &mut Vec<(String, String, String)>,
) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (plan, now) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                input_paths(&child(k), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                input_paths(&child(&i.to_string()), Some(x), Some(y), out);
            }
        }
        (a, b) if a != b => {
            let path = if path.is_empty() { "." } else { path };
            out.push((path.to_owned(), value(a), value(b)));
        }
        _ => {}
    }
}

/// A value as a drift line shows it: JSON, cut at 80 characters.
fn value(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "(none)".to_owned();
    };
    let text = v.to_string();
    if text.chars().count() > 80 {
        text.chars().take(80).chain(std::iter::once('…')).collect()
    } else {
        text
    }
}

fn shown(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(none)".to_owned())
}

/// A hash as the operator reads it (the first 12 hex digits; a `for_each` item's hash keeps
/// its item).
fn short(hash: &str) -> String {
    match hash.split_once(':') {
        Some((h, item)) => format!("{}:{item}", h.get(..12).unwrap_or(h)),
        None => hash.get(..12).unwrap_or(hash).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Access;
    use crate::saved_plan::{Created, FORMAT, VERSION};
    use serde_json::json;

    fn step(id: &str, hash: &str) -> SavedStep {
        SavedStep {
            id: id.into(),
            unit: "phase-1".into(),
            kind: "shell".into(),
            access: Access::Mutating,
            hash: hash.into(),
            title: id.into(),
            inputs: json!({"command": "true"}),
        }
    }

    fn plan() -> SavedPlan {
        SavedPlan {
            format: FORMAT.into(),
            version: VERSION,
            runbook: "rb".into(),
            runbook_hash: "0123456789abcdef".into(),
            target: "phase 1".into(),
            account: Some("111111111111".into()),
            region: Some("us-east-1".into()),
            state_serial: 12,
            overrides: Vec::new(),
            vars: json!({"greeting": "hello"}).as_object().unwrap().clone(),
            steps: vec![step("a", "aaaa"), step("b", "bbbb")],
            created: Created {
                at: "then".into(),
                by: "me@host".into(),
                tool_version: "0".into(),
            },
        }
    }

    #[test]
    fn an_unchanged_plan_has_no_drift_whoever_made_it_and_when() {
        let mut now = plan();
        now.created.at = "later".into();
        now.created.by = "ci@runner".into();
        assert!(drift(&plan(), &now).is_empty());
    }

    #[test]
    fn each_difference_is_named_with_both_values() {
        let mut now = plan();
        now.target = "phase 2".into();
        now.state_serial = 14;
        now.overrides = vec!["--force".into()];
        now.account = Some("999999999999".into());
        now.region = Some("eu-west-1".into());
        now.vars.insert("greeting".into(), json!("bye"));
        now.steps[0].hash = "zzzz".into();
        now.steps[1].inputs = json!({"command": "false"});
        now.steps.push(step("c", "cccc"));
        assert_eq!(
            drift(&plan(), &now),
            [
                "target: plan phase 1, now phase 2",
                "account: plan 111111111111, now 999999999999",
                "region: plan us-east-1, now eu-west-1",
                "state serial: plan 12, now 14",
                "overrides: plan none, now --force",
                "var `greeting`: plan \"hello\", now \"bye\"",
                "step `a` hash: plan aaaa, now zzzz",
                "step `b` input `command`: plan \"true\", now \"false\"",
                "step `c`: in the runbook now, not in the plan",
            ]
        );
    }

    #[test]
    fn a_removed_or_reordered_step_is_named() {
        let mut now = plan();
        now.steps.swap(0, 1);
        assert_eq!(
            drift(&plan(), &now),
            [
                "step `a` position: plan 1, now 2",
                "step `b` position: plan 2, now 1"
            ]
        );
        now.steps.pop();
        assert_eq!(
            drift(&plan(), &now),
            [
                "step `a`: in the plan, not in the runbook now",
                "step `b` position: plan 2, now 1"
            ]
        );
    }

    #[test]
    fn inputs_are_compared_leaf_by_leaf_and_long_values_cut() {
        let mut now = plan();
        now.steps[0].inputs =
            json!({"command": "true", "env": {"A": "x".repeat(100)}, "args": [1, 2]});
        let mut saved = plan();
        saved.steps[0].inputs = json!({"command": "true", "env": {"A": "y"}, "args": [1, 3]});
        let drift = drift(&saved, &now);
        assert_eq!(drift[0], "step `a` input `args.1`: plan 3, now 2");
        assert_eq!(
            drift[1],
            format!(
                "step `a` input `env.A`: plan \"y\", now \"{}…",
                "x".repeat(79)
            )
        );
        assert_eq!(drift.len(), 2);
    }
}
