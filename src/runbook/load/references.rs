//! Template references: every `{{ name }}` names a var, an engine value (`env`, `item`,
//! `attempt`, `run`) or a capture of an earlier step; and what each step needs from earlier ones.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::parse::{FileCx, did_you_mean};
use crate::runbook::diagnostic::{Diagnostic, Loc};
use crate::runbook::model::{ForEach, Step, Unit};
use crate::runbook::node::Node;
use crate::template;

/// What templates see of the run itself (`run.dry_run`, `run.scratch_dir`).
pub(super) const RUN_FIELDS: [&str; 2] = ["dry_run", "scratch_dir"];

/// Every `{{ name }}` must be a var, `env.NAME`, `item` in a `for_each` step, or a capture
/// of a step that runs earlier. Sets each step's `needs` (the captures it uses).
pub(super) fn validate_references(
    vars: &[(String, Value)],
    units: &mut [(Unit, Vec<Node>)],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let all_captures: HashMap<String, String> = units
        .iter()
        .flat_map(|(u, _)| &u.steps)
        .flat_map(|s| {
            s.capture
                .iter()
                .map(move |(c, _)| (c.clone(), s.id.clone()))
        })
        .collect();
    let mut scope = Scope {
        var_names: vars.iter().map(|(n, _)| n.as_str()).collect(),
        all_captures,
        available: BTreeSet::new(),
        producers: HashMap::new(),
    };
    for (unit, nodes) in units.iter_mut() {
        for (step, step_node) in unit.steps.iter_mut().zip(nodes.iter()) {
            let Some(cx) = files.get(&step.file) else {
                continue;
            };
            let mut needs = BTreeSet::new();
            for (text, loc, is_condition) in template_strings(step_node) {
                check_template(
                    cx,
                    step,
                    &scope,
                    (&text, loc, is_condition),
                    &mut needs,
                    diags,
                );
            }
            if let Some(ForEach::Template(_)) = &step.for_each
                && let Some(n) = needs.iter().next()
            {
                diags.push(
                    cx.diag(
                        step.loc,
                        format!("`for_each` may only use vars, not the capture `{n}`"),
                    )
                    .step(Some(&step.id))
                    .hint("items are known when the plan is made; loop inside the step instead"),
                );
            }
            step.needs = needs.into_iter().collect();
            check_captures(cx, step, &mut scope, diags);
        }
    }
}

/// What templates may name at a step, walking the steps in run order.
struct Scope<'a> {
    var_names: BTreeSet<&'a str>,
    /// Every capture in the runbook and the step that makes it (for hints).
    all_captures: HashMap<String, String>,
    /// The captures of the steps before this one.
    available: BTreeSet<String>,
    /// The step that first made each of `available`.
    producers: HashMap<String, String>,
}

/// One template string of `step` at `loc` (`true`: a bare `when` expression): its syntax,
/// its `raw` filters and the names it uses; captures it uses go into `needs`.
fn check_template(
    cx: &FileCx,
    step: &Step,
    scope: &Scope,
    (text, loc, is_condition): (&str, Loc, bool),
    needs: &mut BTreeSet<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let refs = if is_condition {
        template::condition_references(text)
    } else {
        template::references(text)
    };
    let refs = match refs {
        Ok(r) => r,
        Err(e) => {
            diags.push(
                cx.diag(loc, format!("invalid template: {e}"))
                    .hint("templates are `{{ name }}` (minijinja); close every `{{` with `}}`")
                    .step(Some(&step.id)),
            );
            return;
        }
    };
    if !is_condition {
        check_raw(cx, step, scope, text, loc, diags);
    }
    for r in refs {
        let name = r.root.as_str();
        let known = (name == "env" || name == "attempt") && !r.path.is_empty()
            || name == "run" && RUN_FIELDS.contains(&r.path.as_str())
            || name == "item" && step.for_each.is_some()
            || scope.var_names.contains(name);
        if known {
            continue;
        }
        if scope.available.contains(name) {
            needs.insert(name.to_owned());
            continue;
        }
        diags.push(undefined_variable(cx, step, scope, name, loc));
    }
}

/// `| raw` writes a value unescaped, which only a var (trusted, set by the operator) may be.
fn check_raw(
    cx: &FileCx,
    step: &Step,
    scope: &Scope,
    text: &str,
    loc: Loc,
    diags: &mut Vec<Diagnostic>,
) {
    match template::raw_names(text) {
        Err(e) => diags.push(
            cx.diag(cx.refine(loc, template::RAW), e)
                .step(Some(&step.id))
                .hint("`raw` writes a trusted var as it is (a whole command); drop it to have the value escaped"),
        ),
        Ok(names) => {
            for name in names.iter().filter(|n| !scope.var_names.contains(n.as_str())) {
                diags.push(
                    cx.diag(
                        cx.refine(loc, name),
                        format!("`raw` on `{name}`, which is not a var"),
                    )
                    .step(Some(&step.id))
                    .hint("only a var (set in the runbook or with --var) may be written unescaped; a capture, `env.NAME` or `item` is always escaped"),
                );
            }
        }
    }
}

/// A name no var, engine value or earlier capture gives, with a hint for why it is missing.
fn undefined_variable(cx: &FileCx, step: &Step, scope: &Scope, name: &str, loc: Loc) -> Diagnostic {
    let d = cx
        .diag(cx.refine(loc, name), format!("undefined variable `{name}`"))
        .step(Some(&step.id));
    match scope.all_captures.get(name) {
        Some(producer) if *producer == step.id => d.hint(format!(
            "`{name}` is captured by this step itself; use it in a later step"
        )),
        Some(producer) => d.hint(format!(
            "`{name}` is captured by step `{producer}`, which runs after this one"
        )),
        None if name == "item" => d.hint("`item` exists only in steps with `for_each`"),
        None if name == "env" => d.hint("write `env.NAME` for an environment variable"),
        None if name == "attempt" => {
            d.hint("write `attempt.started_at` or `attempt.started_epoch`")
        }
        None if name == "run" => d.hint(format!(
            "`run` has {}",
            RUN_FIELDS.map(|f| format!("`run.{f}`")).join(" and ")
        )),
        None => {
            let mut names: Vec<&str> = scope.var_names.iter().copied().collect();
            names.extend(scope.available.iter().map(String::as_str));
            match did_you_mean(name, &names) {
                Some(best) => d.hint(format!("did you mean `{best}`?")),
                None => d.hint(
                    "declare it under `vars:` in runbook.yaml, or capture it in an earlier step",
                ),
            }
        }
    }
}

/// A step's captures: none named like a var, none made by an earlier step too; then they
/// are available to the steps after it.
fn check_captures(cx: &FileCx, step: &Step, scope: &mut Scope, diags: &mut Vec<Diagnostic>) {
    for (name, _) in &step.capture {
        if scope.var_names.contains(name.as_str()) {
            diags.push(
                cx.diag(step.loc, format!("capture `{name}` has the name of a var"))
                    .step(Some(&step.id))
                    .hint("rename the capture"),
            );
        }
    }
    for (name, _) in &step.capture {
        if let Some(first) = scope.producers.get(name) {
            diags.push(
                cx.diag(
                    step.loc,
                    format!("capture `{name}` is also made by step `{first}`"),
                )
                .step(Some(&step.id))
                .hint("two steps capturing one name make later steps ambiguous; rename one"),
            );
        } else {
            scope.producers.insert(name.clone(), step.id.clone());
        }
    }
    scope
        .available
        .extend(step.capture.iter().map(|(n, _)| n.clone()));
}

/// The strings of a step that are templates, with their locations; `true` marks a bare
/// `when` expression.
pub(super) fn template_strings(node: &Node) -> Vec<(String, Loc, bool)> {
    let mut out = Vec::new();
    for (key, value) in node.as_map().unwrap_or_default() {
        match key.name.as_str() {
            "when" => {
                if let Some(s) = value.as_str() {
                    out.push((s.to_owned(), value.loc, true));
                }
            }
            "id" | "description" | "capture" | "timeout" => {}
            _ => out.extend(
                value
                    .strings()
                    .into_iter()
                    .filter(|(s, _)| template::is_template(s))
                    .map(|(s, l)| (s.to_owned(), l, false)),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::unit::unit_of;

    /// The steps of a unit from `yaml` after reference validation against `vars`, and the
    /// problems found as (line, col, message).
    fn validated(yaml: &str, vars: &[&str]) -> (Vec<Step>, Vec<(usize, usize, String)>) {
        let (unit, files, diags) = unit_of(yaml, &[]);
        assert!(diags.is_empty(), "{diags:#?}");
        let vars: Vec<(String, Value)> = vars
            .iter()
            .map(|v| ((*v).to_owned(), Value::Null))
            .collect();
        let mut units = vec![unit.expect("a unit")];
        let mut diags = Vec::new();
        validate_references(&vars, &mut units, &files, &mut diags);
        let steps = units.pop().expect("the unit").0.steps;
        let found = diags
            .into_iter()
            .map(|d| (d.loc.line, d.loc.col, d.message))
            .collect();
        (steps, found)
    }

    #[test]
    fn a_step_needs_the_captures_of_earlier_steps_it_uses() {
        let (steps, found) = validated(
            "title: T\nsteps:\n  - { id: a, shell: { command: ls }, capture: { out: stdout } }\n  - { id: b, when: \"out != ''\", shell: { command: 'echo {{ out }} {{ v }} {{ env.HOME }} {{ run.dry_run }}' } }\n",
            &["v"],
        );
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(steps[1].needs, ["out"]);
        assert!(steps[0].needs.is_empty());
    }

    #[test]
    fn a_name_from_nowhere_is_located_and_explained() {
        let (_, found) = validated(
            "title: T\nsteps:\n  - { id: a, shell: { command: 'echo {{ later }} {{ item }}' } }\n  - { id: b, shell: { command: ls }, capture: { later: stdout } }\n",
            &[],
        );
        assert_eq!(
            found,
            [
                (3, 53, "undefined variable `item`".into()),
                (3, 41, "undefined variable `later`".into()),
            ]
        );
    }

    #[test]
    fn raw_is_for_vars_only() {
        let (_, found) = validated(
            "title: T\nsteps:\n  - { id: a, shell: { command: ls }, capture: { out: stdout } }\n  - { id: b, shell: { command: '{{ cmd | raw }} {{ out | raw }}' } }\n",
            &["cmd"],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].2, "`raw` on `out`, which is not a var");
    }

    #[test]
    fn captures_keep_clear_of_vars_and_of_each_other() {
        let (_, found) = validated(
            "title: T\nsteps:\n  - { id: a, shell: { command: ls }, capture: { v: stdout, out: stdout } }\n  - { id: b, shell: { command: ls }, capture: { out: stdout } }\n",
            &["v"],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.2.as_str()).collect();
        assert_eq!(
            messages,
            [
                "capture `v` has the name of a var",
                "capture `out` is also made by step `a`"
            ]
        );
    }

    #[test]
    fn a_templated_for_each_uses_vars_only() {
        let (_, found) = validated(
            "title: T\nsteps:\n  - { id: a, shell: { command: ls }, capture: { names: stdout } }\n  - { id: b, for_each: '{{ names }}', shell: { command: 'echo {{ item }}' } }\n",
            &[],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].2,
            "`for_each` may only use vars, not the capture `names`"
        );
    }

    #[test]
    fn template_strings_skip_the_fields_that_are_never_rendered() {
        let (_, node) = crate::runbook::load::parse::snippet(
            "id: '{{ a }}'\ndescription: '{{ b }}'\nwhen: c\nshell: { command: 'echo {{ d }}', cwd: /tmp }\n",
        );
        let found: Vec<(String, bool)> = template_strings(&node)
            .into_iter()
            .map(|(s, _, when)| (s, when))
            .collect();
        assert_eq!(found, [("c".into(), true), ("echo {{ d }}".into(), false)]);
    }
}
