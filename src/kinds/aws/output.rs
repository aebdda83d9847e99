//! Building output JSON in the API's field names; absent fields are left out, as the AWS CLI
//! leaves them out.

use serde_json::{Map, Value};

/// An object from `(name, value)` pairs, skipping nulls.
pub fn obj<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut map = Map::new();
    for (k, v) in fields {
        if !v.is_null() {
            map.insert(k.to_owned(), v);
        }
    }
    Value::Object(map)
}

pub fn s(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

pub fn strs(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// Timestamps as RFC 3339 text, as `aws` prints them.
pub fn dt(v: Option<&aws_sdk_sts::primitives::DateTime>) -> Value {
    v.and_then(|d| {
        d.fmt(aws_sdk_sts::primitives::DateTimeFormat::DateTime)
            .ok()
    })
    .map_or(Value::Null, Value::String)
}

pub fn list<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    Value::Array(items.iter().map(f).collect())
}
