//! `{{ name }}` templating over vars, captures, `env.NAME` and `item`, built on minijinja.
//!
//! A string that is exactly one `{{ expression }}` keeps the expression's native value (a list
//! stays a list, a number a number); any other string renders to text.
//!
//! Templates are data, never code: where a string lands decides how the values interpolated
//! into it are written ([`Escape`]): shell-quoted in a command `sh -c` runs, percent-encoded in
//! a URL, regex-escaped in a pattern, single-line in a line of text. `{{ var | raw }}` is the
//! one way to write a value as it is, and only a var may take it.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use minijinja::machinery::{CodeGenerator, Instruction, parse, parse_expr};
use minijinja::value::Object;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

pub use crate::escape::Escape;
use crate::escape::place;

/// The name under which escaped strings are rendered: the formatter wraps every value written
/// there in markers, so that each value can be escaped for the place it lands in.
const MARKED: &str = "<escaped>";
/// Private-use characters around a marked value (hex-encoded between them, so a value can
/// never forge one).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The filter that writes a trusted var as it is.
pub const RAW: &str = "raw";

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // An unknown name is a runbook bug, never an empty string sent to AWS.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template's work and memory are bounded: `{{ 'x' * 100000000 }}` or a list built
    // item by item fails cleanly instead of taking the machine's memory.
    env.set_fuel(Some(FUEL));
    // `now()`: the epoch seconds when the template is rendered, for a window ending now
    // (`StartTime: "{{ now() - 3600 }}"`).
    env.add_function("now", || jiff::Timestamp::now().as_second());
    env.add_filter(RAW, |value: minijinja::Value| {
        minijinja::Value::from_object(Raw(value.to_string()))
    });
    env.set_formatter(|out, state, value| {
        if state.name() != MARKED {
            return minijinja::escape_formatter(out, state, value);
        }
        // Whatever the auto-escape setting and whatever marks a string "safe" (`tojson`,
        // `safe`), only `raw` is written unescaped.
        let (kind, text) = match value.downcast_object_ref::<Raw>() {
            Some(raw) => ('r', raw.0.clone()),
            None => (
                'v',
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned),
            ),
        };
        write!(out, "{OPEN}{kind}{}{CLOSE}", hex::encode(text)).map_err(minijinja::Error::from)
    });
    env
});

/// The work one rendering may do: about one fuel per instruction and per 64 bytes created,
/// so roughly a million instructions or 64 MB of text (four times the default HTTP body cap).
const FUEL: u64 = 1_000_000;

/// The most values (list items, map entries, scalars) a template may turn into data. A lazy
/// list such as `['x'] * 100000000` costs no fuel until it is turned into data, here.
const MAX_VALUES: usize = 1_000_000;

/// A value passed through `| raw`: written as it is where it lands.
#[derive(Debug)]
struct Raw(String);

impl Object for Raw {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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

/// The names a template string refers to; an error when it does not parse or uses a filter,
/// test or function that does not exist.
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
    check_calls(source, false)?;
    Ok(names
        .iter()
        .filter(|n| !is_global(n))
        .map(|n| Reference::parse(n))
        .collect())
}

/// The names a `when` condition (a bare expression) refers to.
pub fn condition_references(expr: &str) -> Result<BTreeSet<Reference>, String> {
    let names = ENV
        .compile_expression(expr)
        .map_err(describe)?
        .undeclared_variables(true);
    check_calls(expr, true)?;
    Ok(names
        .iter()
        .filter(|n| !is_global(n))
        .map(|n| Reference::parse(n))
        .collect())
}

/// A function templates may call (`range`, `dict`...), which is no name of the runbook's.
fn is_global(name: &str) -> bool {
    ENV.globals().any(|(g, _)| g == name)
}

/// What a template calls, from minijinja's own compiler.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    Filter(String),
    Test(String),
    Function(String),
}

fn calls(source: &str, bare_expression: bool) -> Result<Vec<Call>, String> {
    let (instructions, blocks) = match (bare_expression, whole_expression(source)) {
        (true, _) => compile_expr(source)?,
        (false, Some(expr)) => compile_expr(expr)?,
        (false, None) => {
            let ast = parse(source, "<template>", Default::default()).map_err(describe)?;
            let mut g = CodeGenerator::new("<template>", source);
            g.compile_stmt(&ast);
            g.finish()
        }
    };
    let mut found = Vec::new();
    for list in std::iter::once(&instructions).chain(blocks.values()) {
        let mut pc = 0;
        while let Some(instruction) = list.get(pc) {
            match instruction {
                Instruction::ApplyFilter(name, ..) => found.push(Call::Filter((*name).into())),
                Instruction::PerformTest(name, ..) => found.push(Call::Test((*name).into())),
                Instruction::CallFunction(name, ..) => found.push(Call::Function((*name).into())),
                _ => {}
            }
            pc += 1;
        }
    }
    Ok(found)
}

type Compiled<'s> = (
    minijinja::machinery::Instructions<'s>,
    std::collections::BTreeMap<&'s str, minijinja::machinery::Instructions<'s>>,
);

fn compile_expr(expr: &str) -> Result<Compiled<'_>, String> {
    let ast = parse_expr(expr).map_err(describe)?;
    let mut g = CodeGenerator::new("<expression>", expr);
    g.compile_expr(&ast);
    Ok(g.finish())
}

/// Unknown filters, tests and functions fail at `validate`, not half-way through a run.
fn check_calls(source: &str, bare_expression: bool) -> Result<(), String> {
    for call in calls(source, bare_expression)? {
        let (what, name, probe, unknown) = match &call {
            Call::Filter(n) => ("filter", n, format!("none | {n}"), ErrorKind::UnknownFilter),
            Call::Test(n) => ("test", n, format!("none is {n}"), ErrorKind::UnknownTest),
            Call::Function(n) => {
                if is_global(n) {
                    continue;
                }
                ("function", n, String::new(), ErrorKind::UnknownFunction)
            }
        };
        // Whether a filter or test exists shows only when it is applied.
        let exists = !probe.is_empty()
            && ENV
                .compile_expression(&probe)
                .map(|e| e.eval(()).map_or_else(|e| e.kind() != unknown, |_| true))
                .unwrap_or(false);
        if !exists {
            return Err(format!("unknown {what} `{name}`"));
        }
    }
    Ok(())
}

/// The vars a template writes unescaped (`{{ name | raw }}`); an error when `raw` is applied
/// to anything but one name (a whole expression, a filter chain, `env.NAME`).
pub fn raw_names(source: &str) -> Result<Vec<String>, String> {
    if !is_template(source) || !source.contains(RAW) {
        return Ok(Vec::new());
    }
    static CANONICAL: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\|\s*raw\s*-?\}\}")
            .expect("a valid regex")
    });
    let applied = calls(source, false)?
        .iter()
        .filter(|c| **c == Call::Filter(RAW.into()))
        .count();
    let names: Vec<String> = CANONICAL
        .captures_iter(source)
        .map(|c| c[1].to_owned())
        .collect();
    if applied != names.len() {
        return Err("`raw` applies to one var alone, written `{{ name | raw }}`".to_string());
    }
    Ok(names)
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
            if let Some(raw) = value.downcast_object_ref::<Raw>() {
                return Ok(Value::String(raw.0.clone()));
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

/// Renders one string that lands where `escape` says.
pub fn render_escaped(
    source: &str,
    ctx: &minijinja::Value,
    escape: Escape,
) -> Result<Value, String> {
    if escape == Escape::Data {
        return render_str(source, ctx);
    }
    if !is_template(source) {
        return Ok(Value::String(source.to_owned()));
    }
    if source.contains([OPEN, CLOSE]) {
        return Err("the template holds reserved characters (U+E000, U+E001)".into());
    }
    let marked = ENV
        .render_named_str(MARKED, source, ctx)
        .map_err(describe)?;
    let mut out = String::new();
    for piece in pieces(&marked)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Value { raw, text } => {
                let written = place(escape, &out, raw, &text)?;
                out.push_str(&written);
            }
        }
    }
    Ok(Value::String(out))
}

/// Renders every string inside a kind's spec, each escaped for where it lands (`escape` maps a
/// field's path, keys and list indices, to its [`Escape`]).
pub fn render_spec(
    spec: &Value,
    ctx: &minijinja::Value,
    escape: &dyn Fn(&[String]) -> Escape,
) -> Result<Value, String> {
    fn walk(
        value: &Value,
        path: &mut Vec<String>,
        ctx: &minijinja::Value,
        escape: &dyn Fn(&[String]) -> Escape,
    ) -> Result<Value, String> {
        Ok(match value {
            Value::String(s) => render_escaped(s, ctx, escape(path)).map_err(|e| {
                if path.is_empty() {
                    e
                } else {
                    format!("`{}`: {e}", path.join("."))
                }
            })?,
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    let r = walk(v, path, ctx, escape);
                    path.pop();
                    out.push(r?);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    path.push(k.clone());
                    let r = walk(v, path, ctx, escape);
                    path.pop();
                    out.insert(k.clone(), r?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    walk(spec, &mut Vec::new(), ctx, escape)
}

/// Every string of a spec with its path (keys and list indices), for checks by field.
pub fn spec_strings(spec: &Value) -> Vec<(Vec<String>, &str)> {
    fn walk<'a>(value: &'a Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a str)>) {
        match value {
            Value::String(s) => out.push((path.clone(), s)),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(v, path, out);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(spec, &mut Vec::new(), &mut out);
    out
}

enum Piece<'a> {
    Text(&'a str),
    Value { raw: bool, text: String },
}

/// Splits a marked rendering into the template's own text and the values written into it.
fn pieces(marked: &str) -> Result<Vec<Piece<'_>>, String> {
    let broken = || {
        "a value was changed after it was written (a `{% filter %}` or `{% set %}` block over a value cannot be escaped); use the value directly".to_string()
    };
    let mut out = Vec::new();
    let mut parts = marked.split(OPEN);
    let first = parts.next().unwrap_or_default();
    if first.contains(CLOSE) {
        return Err(broken());
    }
    out.push(Piece::Text(first));
    for part in parts {
        let (value, text) = part.split_once(CLOSE).ok_or_else(broken)?;
        if text.contains(CLOSE) {
            return Err(broken());
        }
        let (raw, hexed) = match value.split_at_checked(1) {
            Some(("r", h)) => (true, h),
            Some(("v", h)) => (false, h),
            _ => return Err(broken()),
        };
        let bytes = hex::decode(hexed).map_err(|_| broken())?;
        let value = String::from_utf8(bytes).map_err(|_| broken())?;
        if value.contains([OPEN, CLOSE]) {
            return Err(broken());
        }
        out.push(Piece::Value { raw, text: value });
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// Renders every string inside a JSON value.
pub fn render_value(value: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
    render_spec(value, ctx, &|_| Escape::Data)
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
mod tests;
