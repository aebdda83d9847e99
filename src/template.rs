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
    env
});

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
            serde_json::to_value(&value).map_err(|e| e.to_string())
        }
        None => ENV
            .render_str(source, ctx)
            .map(Value::String)
            .map_err(describe),
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
    fn conditions_use_truthiness() {
        let c = ctx(json!({"domain": "", "other": "x"}));
        assert!(!eval_condition("domain", &c).unwrap());
        assert!(eval_condition("other", &c).unwrap());
        assert!(eval_condition("domain == ''", &c).unwrap());
    }
}
