//! Redaction: every secret value the run learns is replaced by `***` before anything is
//! printed, logged, saved or reported, in its plain, base64, URL-encoded and JSON-escaped forms.

use std::sync::RwLock;

use base64::Engine as _;
use serde_json::Value;

pub const MASK: &str = "***";
/// What URL encoders leave alone in a query component (RFC 3986 unreserved characters).
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Shorter values would redact ordinary words; such secrets are not secrets.
const MIN_SECRET_LEN: usize = 4;

#[derive(Debug, Default)]
pub struct Redactor {
    forms: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value.
    pub fn add(&self, secret: &str) {
        // Command output ends with a newline that displays drop: the bare value is secret too.
        let trimmed = secret.trim();
        if trimmed != secret {
            self.add(trimmed);
        }
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        let candidates = [
            secret.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            percent_encoding::utf8_percent_encode(secret, URL_COMPONENT).to_string(),
            json.trim_matches('"').to_owned(),
        ];
        let mut forms = self.forms.write().unwrap_or_else(|e| e.into_inner());
        for form in candidates {
            if form.len() >= MIN_SECRET_LEN && !forms.contains(&form) {
                forms.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    pub fn redact(&self, text: &str) -> String {
        let forms = self.forms.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for form in forms.iter() {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        out
    }

    pub fn redact_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.redact_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Registers every string inside a value (a `secret: true` capture).
    pub fn add_value(&self, value: &Value) {
        match value {
            Value::String(s) => self.add(s),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            Value::Number(n) => self.add(&n.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_encoding() {
        let r = Redactor::new();
        r.add("op_test_s3cr3t/+=");
        let b64 = base64::engine::general_purpose::STANDARD.encode("op_test_s3cr3t/+=");
        let text = format!("a op_test_s3cr3t/+= b {b64} c op_test_s3cr3t%2F%2B%3D");
        assert_eq!(r.redact(&text), "a *** b *** c ***");
        r.add("ab");
        assert_eq!(r.redact("ab"), "ab");
    }
}
