//! The execution plan the engine runs (not the `plan` command, which shows it): the steps a
//! command needs, in order, with `for_each` expanded and vars rendered.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::request::Target;
use crate::runbook::{ForEach, Runbook, Step, Unit};
use crate::template;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown var `{0}` in --var; the runbook declares: {1}")]
    UnknownVar(String, String),
    #[error("failed to render var `{0}`: {1}")]
    Var(String, String),
    #[error("failed to expand `for_each` of step `{0}`: {1}")]
    ForEach(String, String),
}

/// One step to run: a runbook step, or one item of a `for_each` step.
#[derive(Debug)]
pub struct PlanStep<'r> {
    pub id: String,
    pub step: &'r Step,
    pub item: Option<Value>,
    /// Title with vars and `item` rendered.
    pub title: String,
    pub hash: String,
}

#[derive(Debug)]
pub struct PlanUnit<'r> {
    pub unit: &'r Unit,
    pub steps: Vec<PlanStep<'r>>,
}

#[derive(Debug)]
pub struct Plan<'r> {
    pub target: Target,
    pub units: Vec<PlanUnit<'r>>,
    pub vars: Map<String, Value>,
}

impl<'r> Plan<'r> {
    pub fn steps(&self) -> impl Iterator<Item = (&PlanUnit<'r>, &PlanStep<'r>)> {
        self.units
            .iter()
            .flat_map(|u| u.steps.iter().map(move |s| (u, s)))
    }
}

/// The environment as templates see it (`env.NAME`).
pub type EnvMap = BTreeMap<String, String>;

/// Renders the runbook's vars in order, after applying `--var` overrides.
pub fn render_vars(
    runbook: &Runbook,
    overrides: &[(String, String)],
    env: &EnvMap,
) -> Result<Map<String, Value>, PlanError> {
    for (k, _) in overrides {
        if !runbook.vars.iter().any(|(n, _)| n == k) {
            let names: Vec<&str> = runbook.vars.iter().map(|(n, _)| n.as_str()).collect();
            return Err(PlanError::UnknownVar(k.clone(), names.join(", ")));
        }
    }
    let mut vars = Map::new();
    for (name, raw) in &runbook.vars {
        let value = match overrides.iter().rev().find(|(k, _)| k == name) {
            // A var declared as text stays text (`--var restart=true`); others take a JSON
            // value (`--var verify_public_dns=false`, `--var 'images=["a"]'`).
            Some((_, v)) if raw.is_string() => Value::String(v.clone()),
            Some((_, v)) => serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone())),
            None => {
                let ctx = context(&vars, &BTreeMap::new(), env, None, None);
                template::render_value(raw, &ctx).map_err(|e| PlanError::Var(name.clone(), e))?
            }
        };
        vars.insert(name.clone(), value);
    }
    Ok(vars)
}

/// The template context: vars, captures, `env`, `item` and, while a step runs, `attempt`.
pub fn context(
    vars: &Map<String, Value>,
    captures: &BTreeMap<String, Value>,
    env: &EnvMap,
    item: Option<&Value>,
    attempt: Option<jiff::Timestamp>,
) -> minijinja::Value {
    let mut ctx = vars.clone();
    for (k, v) in captures {
        ctx.insert(k.clone(), v.clone());
    }
    ctx.insert("env".into(), serde_json::to_value(env).unwrap_or_default());
    if let Some(item) = item {
        ctx.insert("item".into(), item.clone());
    }
    if let Some(at) = attempt {
        ctx.insert("attempt".into(), attempt_value(at));
    }
    minijinja::Value::from(minijinja::value::Serde(&ctx))
}

/// Adds `run` to a template context: `run.dry_run`, and `run.scratch_dir`, the run's private
/// directory (a dry run's terraform writes there, not in the operator's module directory).
pub fn with_run(ctx: minijinja::Value, dry_run: bool, scratch_dir: &str) -> minijinja::Value {
    let run = serde_json::json!({ "dry_run": dry_run, "scratch_dir": scratch_dir });
    let run = minijinja::Value::from(minijinja::value::Serde(&run));
    minijinja::context! { run, ..ctx }
}

/// `attempt`: when the step's current attempt began (whole seconds, rounded down). What a
/// step creates can carry it, so that its `verify` probe finds what that attempt made.
fn attempt_value(at: jiff::Timestamp) -> Value {
    let second = at.as_second();
    let whole = jiff::Timestamp::from_second(second).unwrap_or(at);
    serde_json::json!({ "started_at": whole.to_string(), "started_epoch": second })
}

/// Builds the plan for `target`.
pub fn build<'r>(
    runbook: &'r Runbook,
    target: Target,
    vars: Map<String, Value>,
    env: &EnvMap,
) -> Result<Plan<'r>, PlanError> {
    let mut units = Vec::new();
    for key in target.units() {
        let Some(unit) = runbook.unit(key) else {
            continue;
        };
        let mut steps = Vec::new();
        for step in &unit.steps {
            steps.extend(expand(step, &vars, env)?);
        }
        units.push(PlanUnit { unit, steps });
    }
    Ok(Plan {
        target,
        units,
        vars,
    })
}

fn expand<'r>(
    step: &'r Step,
    vars: &Map<String, Value>,
    env: &EnvMap,
) -> Result<Vec<PlanStep<'r>>, PlanError> {
    let base_ctx = context(vars, &BTreeMap::new(), env, None, None);
    let items = match &step.for_each {
        None => {
            let title = render_title(&step.title, &base_ctx);
            return Ok(vec![PlanStep {
                id: step.id.clone(),
                step,
                item: None,
                title,
                hash: step.hash.clone(),
            }]);
        }
        Some(ForEach::Items(items)) => items
            .iter()
            .map(|i| template::render_value(i, &base_ctx))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PlanError::ForEach(step.id.clone(), e))?,
        Some(ForEach::Template(t)) => template::render_items(t, &base_ctx, ForEach::MAX_ITEMS)
            .map_err(|e| PlanError::ForEach(step.id.clone(), e))?,
    };
    // Rendered items may meet where their templates did not (`["{{ a }}", "x"]`).
    if let Some((first, second, suffix)) = ForEach::id_collision(items.iter().enumerate()) {
        return Err(PlanError::ForEach(
            step.id.clone(),
            format!(
                "items {} and {} would both be step `{}.{suffix}`; give each item a distinct name",
                items[first], items[second], step.id
            ),
        ));
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let suffix = ForEach::item_suffix(i, &item);
            let ctx = context(vars, &BTreeMap::new(), env, Some(&item), None);
            let title = render_title(&step.title, &ctx);
            let hash = format!("{}:{}", step.hash, item);
            PlanStep {
                id: format!("{}.{suffix}", step.id),
                step,
                item: Some(item),
                title,
                hash,
            }
        })
        .collect())
}

/// Titles may use captures that are not known yet; those keep their template text.
fn render_title(title: &str, ctx: &minijinja::Value) -> String {
    match template::render_str(title, ctx) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => title.to_owned(),
    }
}
