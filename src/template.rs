//! `{{ name }}` templating over vars, captures, `env.NAME` and `item`, built on minijinja.
//!
//! A string that is exactly one `{{ expression }}` keeps the expression's native value (a list
//! stays a list, a number a number); any other string renders to text.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // An unknown name is a runbook bug, never an empty string sent to AWS.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template's work and memory are bounded: `{{ 'x' * 100000000 }}` or a list built
    // item by item fails cleanly instead of taking the machine's memory.
    env.set_fuel(Some(FUEL));
    env
});

/// The work one rendering may do: about one fuel per instruction and per 64 bytes created,
/// so roughly a million instructions or 64 MB of text (four times the default HTTP body cap).
const FUEL: u64 = 1_000_000;

/// The most values (list items, map entries, scalars) a template may turn into data. A lazy
/// list such as `['x'] * 100000000` costs no fuel until it is turned into data, here.
const MAX_VALUES: usize = 1_000_000;

/// A name a template needs, split into its root (`env`, `item`, a var or a capture) and the
/// rest of its dotted path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub root: String,
    pub path: String,
}

impl Reference {
    fn parse(full: &str) -> Self {
        match full.split_once('.') {
            Some((root, rest)) => Reference {
                root: root.into(),
                path: rest.into(),
            },
            None => Reference {
                root: full.into(),
                path: String::new(),
            },
        }
    }
}

fn whole_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// True when the string contains template syntax at all.
pub fn is_template(source: &str) -> bool {
    source.contains("{{") || source.contains("{%")
}

/// The names a template string refers to; an error when it does not parse.
pub fn references(source: &str) -> Result<BTreeSet<Reference>, String> {
    if !is_template(source) {
        return Ok(BTreeSet::new());
    }
    let names = match whole_expression(source) {
        Some(expr) => ENV
            .compile_expression(expr)
            .map_err(describe)?
            .undeclared_variables(true),
        None => ENV
            .template_from_str(source)
            .map_err(describe)?
            .undeclared_variables(true),
    };
    Ok(names.iter().map(|n| Reference::parse(n)).collect())
}

/// The names a `when` condition (a bare expression) refers to.
pub fn condition_references(expr: &str) -> Result<BTreeSet<Reference>, String> {
    let names = ENV
        .compile_expression(expr)
        .map_err(describe)?
        .undeclared_variables(true);
    Ok(names.iter().map(|n| Reference::parse(n)).collect())
}

/// Renders one string.
pub fn render_str(source: &str, ctx: &minijinja::Value) -> Result<Value, String> {
    if !is_template(source) {
        return Ok(Value::String(source.to_owned()));
    }
    match whole_expression(source) {
        Some(expr) => {
            let value = ENV
                .compile_expression(expr)
                .map_err(describe)?
                .eval(ctx)
                .map_err(describe)?;
            if value.is_undefined() {
                return Err(format!(
                    "undefined value: `{expr}` names nothing that is set"
                ));
            }
            to_data(&value)
        }
        None => ENV
            .render_str(source, ctx)
            .map(Value::String)
            .map_err(describe),
    }
}

/// Renders a `for_each` template to its list of items, refusing more than `max` before any
/// item is turned into data.
pub fn render_items(
    source: &str,
    ctx: &minijinja::Value,
    max: usize,
) -> Result<Vec<Value>, String> {
    let value = match whole_expression(source) {
        Some(expr) => ENV
            .compile_expression(expr)
            .map_err(describe)?
            .eval(ctx)
            .map_err(describe)?,
        None => return Err(format!("`{source}` renders to text, not a list")),
    };
    if let Some(count) = value.len()
        && count > max
    {
        return Err(format!("it has {count} items; the limit is {max}"));
    }
    match to_data(&value)? {
        Value::Array(items) if items.len() > max => {
            Err(format!("it has {} items; the limit is {max}", items.len()))
        }
        Value::Array(items) => Ok(items),
        other => Err(format!("`{source}` is {other}, not a list")),
    }
}

/// A template's value as data, refused when it holds more than [`MAX_VALUES`] values.
fn to_data(value: &minijinja::Value) -> Result<Value, String> {
    let mut budget = MAX_VALUES;
    if !within(value, &mut budget) {
        return Err(format!(
            "the value is too large: more than {MAX_VALUES} items in all"
        ));
    }
    serde_json::to_value(value).map_err(|e| e.to_string())
}

/// Counts the values inside `value` against `budget`, stopping as soon as it runs out (a lazy
/// list is walked at most `budget` items far, never built).
fn within(value: &minijinja::Value, budget: &mut usize) -> bool {
    use minijinja::value::ValueKind;
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            let Ok(items) = value.try_iter() else {
                return true;
            };
            let is_map = value.kind() == ValueKind::Map;
            for item in items {
                if !within(&item, budget) {
                    return false;
                }
                if is_map
                    && let Ok(entry) = value.get_item(&item)
                    && !within(&entry, budget)
                {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

/// Renders every string inside a JSON value.
pub fn render_value(value: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => render_str(s, ctx)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Evaluates a `when` condition with Jinja truthiness.
pub fn eval_condition(expr: &str, ctx: &minijinja::Value) -> Result<bool, String> {
    Ok(ENV
        .compile_expression(expr)
        .map_err(describe)?
        .eval(ctx)
        .map_err(describe)?
        .is_true())
}

fn describe(e: minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> minijinja::Value {
        minijinja::Value::from(minijinja::value::Serde(&v))
    }

    #[test]
    fn whole_expression_keeps_native_type() {
        let c = ctx(json!({"items": ["a", "b"], "n": 3}));
        assert_eq!(render_str("{{ items }}", &c).unwrap(), json!(["a", "b"]));
        assert_eq!(render_str("{{ n }}", &c).unwrap(), json!(3));
        assert_eq!(render_str("n={{ n }}", &c).unwrap(), json!("n=3"));
    }

    #[test]
    fn undefined_names_fail() {
        assert!(render_str("{{ missing }}", &ctx(json!({}))).is_err());
        assert!(render_str("x {{ missing }}", &ctx(json!({}))).is_err());
    }

    #[test]
    fn references_split_root_and_path() {
        let refs = references("http://{{ alb_dns }}/{{ env.OUTPOST_API_URL }}").unwrap();
        let roots: Vec<_> = refs
            .iter()
            .map(|r| (r.root.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(roots, vec![("alb_dns", ""), ("env", "OUTPOST_API_URL")]);
        assert!(references("{{ unclosed").is_err());
    }

    #[test]
    fn runaway_templates_fail_without_building_their_value() {
        let c = ctx(json!({}));
        let err = render_items("{{ ['x'] * 100000000 }}", &c, 1000).unwrap_err();
        assert!(err.contains("100000000 items; the limit is 1000"), "{err}");
        // Nested inside a list, the lazy repetition is walked only as far as the budget.
        let err = render_str("{{ [['x'] * 100000000] }}", &c).unwrap_err();
        assert!(err.contains("too large"), "{err}");
        let err = render_str("{{ 'x' * 100000000 }}", &c).unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        assert_eq!(
            render_items("{{ ['a', 'b'] }}", &c, 2).unwrap(),
            vec![json!("a"), json!("b")]
        );
        assert!(render_items("{{ ['a', 'b', 'c'] }}", &c, 2).is_err());
    }

    #[test]
    fn conditions_use_truthiness() {
        let c = ctx(json!({"domain": "", "other": "x"}));
        assert!(!eval_condition("domain", &c).unwrap());
        assert!(eval_condition("other", &c).unwrap());
        assert!(eval_condition("domain == ''", &c).unwrap());
    }
}
