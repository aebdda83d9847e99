//! Expectations over a step's output: a JMESPath query and a matcher (`equals`, `gte`, `all`...).

use regex::Regex;
use serde_json::Value;

use crate::query::Query;
use crate::template;

/// The matcher names, for error hints.
pub const MATCHERS: &[&str] = &[
    "equals",
    "not_equals",
    "contains",
    "matches",
    "gte",
    "lte",
    "len",
    "all",
    "any",
    "exists",
];

#[derive(Debug, Clone)]
pub enum Matcher {
    Equals(Value),
    NotEquals(Value),
    Contains(Value),
    Matches(Regex),
    Gte(Value),
    Lte(Value),
    Len(Box<Matcher>),
    All(Box<Matcher>),
    Any(Box<Matcher>),
    Exists(bool),
}

/// `query` must satisfy `matcher`.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub query: Query,
    pub matcher: Matcher,
}

/// Where in an expectation's definition a problem is, as a key path, with what is wrong.
#[derive(Debug)]
pub struct ExpectError {
    pub key: Option<String>,
    pub message: String,
}

impl Expectation {
    /// Parses `{query: ..., <matcher>: ...}`.
    pub fn parse(value: &Value) -> Result<Self, ExpectError> {
        let Value::Object(map) = value else {
            return Err(ExpectError {
                key: None,
                message: "an expectation is a mapping with `query` and one matcher".into(),
            });
        };
        let query_src = map
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| ExpectError {
                key: None,
                message: "an expectation needs `query` (a JMESPath expression)".into(),
            })?;
        let query = Query::compile(query_src).map_err(|e| ExpectError {
            key: Some("query".into()),
            message: format!("invalid JMESPath: {e}"),
        })?;
        let rest: serde_json::Map<String, Value> = map
            .iter()
            .filter(|(k, _)| k.as_str() != "query")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let matcher = Matcher::parse_map(&rest)?;
        Ok(Expectation { query, matcher })
    }

    /// Checks the output; `ctx` renders templated expected values. Returns the value found.
    pub fn check(&self, output: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
        let found = self
            .query
            .search(output)
            .map_err(|e| format!("query `{}` failed: {e}", self.query.source()))?;
        // Missing data satisfies no matcher: JMESPath answers null for a missing field, and a
        // null that passed `len: 0` or `not_equals` would be a check that cannot fail.
        // `exists: false` is the one way to require absence.
        if found.is_null() && !matches!(self.matcher, Matcher::Exists(_)) {
            return Err(format!("found nothing at `{}`", self.query.source()));
        }
        self.matcher.check(&found, ctx).map_err(|why| {
            format!(
                "expected `{}` {why}, found {}",
                self.query.source(),
                short(&found)
            )
        })?;
        Ok(found)
    }
}

impl Matcher {
    fn parse_map(map: &serde_json::Map<String, Value>) -> Result<Self, ExpectError> {
        let mut entries = map.iter();
        let (key, value) = match (entries.next(), entries.next()) {
            (Some(entry), None) => entry,
            (None, _) => {
                return Err(ExpectError {
                    key: None,
                    message: format!("no matcher: add one of {}", MATCHERS.join(", ")),
                });
            }
            (Some(_), Some((second, _))) => {
                return Err(ExpectError {
                    key: Some(second.clone()),
                    message: "only one matcher per expectation: split it into several".into(),
                });
            }
        };
        let err = |message: String| ExpectError {
            key: Some(key.clone()),
            message,
        };
        let nested = |v: &Value| -> Result<Box<Matcher>, ExpectError> {
            match v {
                Value::Object(m) => Matcher::parse_map(m).map(Box::new),
                other => Ok(Box::new(Matcher::Equals(other.clone()))),
            }
        };
        Ok(match key.as_str() {
            "equals" => Matcher::Equals(value.clone()),
            "not_equals" => Matcher::NotEquals(value.clone()),
            "contains" => Matcher::Contains(value.clone()),
            "matches" => {
                let src = value
                    .as_str()
                    .ok_or_else(|| err("`matches` takes a regular expression string".into()))?;
                Matcher::Matches(Regex::new(src).map_err(|e| {
                    // The regex error draws a caret over several lines; its last one says what.
                    let text = e.to_string();
                    let what = text
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .to_owned();
                    err(format!("invalid regular expression: {what}"))
                })?)
            }
            "gte" => Matcher::Gte(value.clone()),
            "lte" => Matcher::Lte(value.clone()),
            "len" => Matcher::Len(nested(value)?),
            "all" => Matcher::All(nested(value)?),
            "any" => Matcher::Any(nested(value)?),
            "exists" => Matcher::Exists(
                value
                    .as_bool()
                    .ok_or_else(|| err("`exists` takes true or false".into()))?,
            ),
            other => {
                return Err(ExpectError {
                    key: Some(other.to_owned()),
                    message: format!(
                        "unknown matcher `{other}`; use one of {}",
                        MATCHERS.join(", ")
                    ),
                });
            }
        })
    }

    fn check(&self, found: &Value, ctx: &minijinja::Value) -> Result<(), String> {
        let want = |v: &Value| template::render_value(v, ctx);
        // A null item (a multi-select's missing field) is missing data too, inside `all`/`any`.
        if found.is_null() && !matches!(self, Matcher::Exists(_)) {
            return Err("to be there (found nothing)".into());
        }
        match self {
            Matcher::Equals(v) => {
                let v = want(v)?;
                loosely_equal(found, &v)
                    .then_some(())
                    .ok_or_else(|| format!("to equal {}", short(&v)))
            }
            Matcher::NotEquals(v) => {
                let v = want(v)?;
                (!loosely_equal(found, &v))
                    .then_some(())
                    .ok_or_else(|| format!("not to equal {}", short(&v)))
            }
            Matcher::Contains(v) => contains(found, &want(v)?),
            Matcher::Matches(re) => {
                let text = match found {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                re.is_match(&text)
                    .then_some(())
                    .ok_or_else(|| format!("to match /{}/", re.as_str()))
            }
            Matcher::Gte(v) | Matcher::Lte(v) => {
                let v = want(v)?;
                let (Some(a), Some(b)) = (number(found), number(&v)) else {
                    return Err(format!("to be a number comparable with {}", short(&v)));
                };
                let (ok, word) = match self {
                    Matcher::Gte(_) => (a >= b, ">="),
                    _ => (a <= b, "<="),
                };
                ok.then_some(())
                    .ok_or_else(|| format!("to be {word} {}", short(&v)))
            }
            Matcher::Len(m) => {
                let len = match found {
                    Value::Array(a) => a.len(),
                    Value::String(s) => s.chars().count(),
                    Value::Object(o) => o.len(),
                    _ => return Err("to be a list, a string or a mapping".into()),
                };
                m.check(&Value::from(len), ctx)
                    .map_err(|why| format!("to have a length {why} (length {len})"))
            }
            Matcher::All(m) => {
                let Value::Array(items) = found else {
                    return Err("to be a list".into());
                };
                if items.is_empty() {
                    return Err("to be a non-empty list where every item matches".into());
                }
                items
                    .iter()
                    .try_for_each(|i| m.check(i, ctx))
                    .map_err(|why| format!("to have every item {why}"))
            }
            Matcher::Any(m) => {
                let Value::Array(items) = found else {
                    return Err("to be a list".into());
                };
                items
                    .iter()
                    .any(|i| m.check(i, ctx).is_ok())
                    .then_some(())
                    .ok_or_else(|| "to have an item that matches".to_string())
            }
            Matcher::Exists(want) => {
                let exists = !found.is_null();
                (exists == *want).then_some(()).ok_or_else(|| {
                    if *want {
                        "to exist".into()
                    } else {
                        "not to exist".into()
                    }
                })
            }
        }
    }
}

/// `contains`: an item of a list, a substring of a string or a key of a mapping. A list of
/// wanted items must all be there, and those missing are named (the fleet check names the
/// agent that is not reported).
fn contains(found: &Value, v: &Value) -> Result<(), String> {
    if let (Value::Array(items), Value::Array(wanted)) = (found, v)
        && !items.iter().any(|i| loosely_equal(i, v))
    {
        let missing: Vec<String> = wanted
            .iter()
            .filter(|w| !items.iter().any(|i| loosely_equal(i, w)))
            .map(short)
            .collect();
        return missing
            .is_empty()
            .then_some(())
            .ok_or_else(|| format!("to contain {} (missing {})", short(v), missing.join(", ")));
    }
    let ok = match (found, v) {
        (Value::Array(items), _) => items.iter().any(|i| loosely_equal(i, v)),
        (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
        (Value::Object(m), Value::String(k)) => m.contains_key(k),
        _ => false,
    };
    ok.then_some(())
        .ok_or_else(|| format!("to contain {}", short(v)))
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// YAML writes `200` and `"200"` alike; a scalar equals another when their texts do.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::String(s), Value::Number(_) | Value::Bool(_)) => {
            Some(s.as_str()) == scalar_text(b).as_deref()
        }
        (Value::Number(_) | Value::Bool(_), Value::String(s)) => {
            Some(s.as_str()) == scalar_text(a).as_deref()
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value shortened for a one-line message; the cut is marked so that redaction masks any
/// piece of a secret it leaves.
pub fn short(v: &Value) -> String {
    crate::secrets::head(&v.to_string(), 120)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(spec: Value, output: Value) -> Result<Value, String> {
        Expectation::parse(&spec).unwrap().check(
            &output,
            &minijinja::Value::from(minijinja::value::Serde(json!({"acct": "311"}))),
        )
    }

    #[test]
    fn matchers() {
        assert!(
            check(
                json!({"query": "a", "equals": "ACTIVE"}),
                json!({"a": "ACTIVE"})
            )
            .is_ok()
        );
        assert!(check(json!({"query": "a", "equals": 200}), json!({"a": "200"})).is_ok());
        assert!(
            check(
                json!({"query": "a", "equals": "{{ acct }}"}),
                json!({"a": "311"})
            )
            .is_ok()
        );
        assert!(check(json!({"query": "n", "gte": 1}), json!({"n": 0})).is_err());
        assert!(check(json!({"query": "n", "gte": 1}), json!({"n": 2})).is_ok());
        assert!(
            check(
                json!({"query": "s[]", "all": {"equals": "healthy"}}),
                json!({"s": ["healthy", "draining"]})
            )
            .is_err()
        );
        assert!(
            check(
                json!({"query": "s[]", "all": {"equals": "healthy"}}),
                json!({"s": []})
            )
            .is_err()
        );
        assert!(
            check(
                json!({"query": "t[]", "contains": "latest"}),
                json!({"t": ["v1", "latest"]})
            )
            .is_ok()
        );
        assert!(check(json!({"query": "t", "len": {"gte": 2}}), json!({"t": [1]})).is_err());
        assert!(
            check(
                json!({"query": "x", "matches": "^op_(live|test)_"}),
                json!({"x": "op_test_1"})
            )
            .is_ok()
        );
        assert!(check(json!({"query": "x", "exists": true}), json!({})).is_err());
    }

    #[test]
    fn missing_data_satisfies_no_matcher() {
        for spec in [
            json!({"query": "a.b", "len": 0}),
            json!({"query": "a[?!ok]", "len": 0}),
            json!({"query": "a.b", "not_equals": "ALARM"}),
            json!({"query": "a.b", "equals": null}),
            json!({"query": "a.b", "contains": "x"}),
            json!({"query": "a.b", "matches": ".*"}),
            json!({"query": "a.b", "gte": 0}),
            json!({"query": "a.b", "lte": 0}),
            json!({"query": "a.b", "all": {"equals": true}}),
            json!({"query": "a.b", "any": {"equals": true}}),
        ] {
            let query = spec["query"].as_str().unwrap().to_owned();
            assert_eq!(
                check(spec, json!({})).unwrap_err(),
                format!("found nothing at `{query}`")
            );
        }
        assert!(check(json!({"query": "a.b", "exists": false}), json!({})).is_ok());
        // A missing field inside a multi-select is missing data too.
        assert!(
            check(
                json!({"query": "[a, b]", "all": {"equals": 1}}),
                json!({"a": 1})
            )
            .is_err()
        );
        // Data that is there still passes.
        assert!(
            check(
                json!({"query": "a[?!ok]", "len": 0}),
                json!({"a": [{"ok": true}]})
            )
            .is_ok()
        );
    }

    #[test]
    fn contains_a_list_names_what_is_missing() {
        let e = check(
            json!({"query": "a[].n", "contains": ["x", "y", "z"]}),
            json!({"a": [{"n": "y"}]}),
        )
        .unwrap_err();
        assert!(e.contains("missing \"x\", \"z\""), "{e}");
        assert!(
            check(
                json!({"query": "a[].n", "contains": ["x", "y"]}),
                json!({"a": [{"n": "y"}, {"n": "x"}]})
            )
            .is_ok()
        );
    }

    #[test]
    fn failure_names_query_and_value() {
        let e = check(
            json!({"query": "clusters[0].status", "equals": "ACTIVE"}),
            json!({"clusters": [{"status": "INACTIVE"}]}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "expected `clusters[0].status` to equal \"ACTIVE\", found \"INACTIVE\""
        );
    }

    #[test]
    fn rejects_two_matchers_and_unknown_ones() {
        assert!(Expectation::parse(&json!({"query": "a", "equals": 1, "gte": 1})).is_err());
        assert_eq!(
            Expectation::parse(&json!({"query": "a", "equal": 1}))
                .unwrap_err()
                .key
                .as_deref(),
            Some("equal")
        );
        assert!(Expectation::parse(&json!({"query": "a[", "equals": 1})).is_err());
    }
}
