//! Reading a step's `input` map with the API's field names, with errors that name the field.

use serde_json::{Map, Value};

use super::error::AwsFailure;

pub struct Input<'a> {
    service: &'a str,
    op: &'a str,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Input<'a> {
    pub fn new(service: &'a str, op: &'a str, map: &'a Map<String, Value>) -> Self {
        Input {
            service,
            op,
            map: Some(map),
        }
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> AwsFailure {
        AwsFailure::Input(format!(
            "`{key}` of {} {} must be {want}, not {got}",
            self.service, self.op
        ))
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// A nested map (`ChangeBatch`, `ResourceRecordSet`...).
    pub fn object(&self, key: &str) -> Result<Option<Input<'a>>, AwsFailure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Input {
                service: self.service,
                op: self.op,
                map: Some(m),
            })),
            Some(other) => Err(self.wrong(key, "a mapping", other)),
        }
    }

    pub fn req_object(&self, key: &str) -> Result<Input<'a>, AwsFailure> {
        self.object(key)?.ok_or_else(|| self.missing(key))
    }

    /// A list of maps (`Changes`, `LookupAttributes`...).
    pub fn objects(&self, key: &str) -> Result<Vec<Input<'a>>, AwsFailure> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(Input {
                        service: self.service,
                        op: self.op,
                        map: Some(m),
                    }),
                    other => Err(self.wrong(key, "a list of mappings", other)),
                })
                .collect(),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }

    fn missing(&self, key: &str) -> AwsFailure {
        AwsFailure::Input(format!("{} {} needs `{key}`", self.service, self.op))
    }

    pub fn str(&self, key: &str) -> Result<Option<String>, AwsFailure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<String, AwsFailure> {
        self.str(key)?.ok_or_else(|| self.missing(key))
    }

    /// A list of strings; a single string is taken as a list of one.
    pub fn strs(&self, key: &str) -> Result<Option<Vec<String>>, AwsFailure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(self.wrong(key, "a list of strings", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, "a list of strings", other)),
        }
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, AwsFailure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", &Value::Number(n.clone()))),
            // Templates render to text: "3" is a number here.
            Some(v @ Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.wrong(key, "an integer", v)),
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    pub fn i32(&self, key: &str) -> Result<Option<i32>, AwsFailure> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| self.wrong(key, "a 32-bit integer", &Value::from(n))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, AwsFailure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v @ Value::String(s)) => match s.as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.wrong(key, "true or false", v)),
            },
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// A timestamp: RFC 3339 text (`2026-11-28T02:00:00Z`) or epoch seconds.
    pub fn datetime(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_sts::primitives::DateTime>, AwsFailure> {
        use aws_sdk_sts::primitives::{DateTime, DateTimeFormat};
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(|f| Some(DateTime::from_secs_f64(f)))
                .ok_or_else(|| self.wrong(key, "a timestamp", &Value::Number(n.clone()))),
            Some(v @ Value::String(s)) => match s.parse::<f64>() {
                Ok(f) => Ok(Some(DateTime::from_secs_f64(f))),
                Err(_) => DateTime::from_str(s, DateTimeFormat::DateTimeWithOffset)
                    .or_else(|_| DateTime::from_str(s, DateTimeFormat::DateTime))
                    .map(Some)
                    .map_err(|_| self.wrong(key, "an RFC 3339 timestamp or epoch seconds", v)),
            },
            Some(other) => Err(self.wrong(key, "a timestamp", other)),
        }
    }

    /// The raw JSON of a field (for maps of lists such as SSM `Parameters`).
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// The raw JSON of a field, as an operation's declared field reads it.
    pub fn value(&self, key: &str) -> Result<Option<&'a Value>, AwsFailure> {
        Ok(self.get(key))
    }

    /// A list of maps that may be absent (absent is not the same as empty to the API).
    pub fn list(&self, key: &str) -> Result<Option<Vec<Input<'a>>>, AwsFailure> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.objects(key).map(Some),
        }
    }
}
