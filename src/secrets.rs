//! Redaction: every secret value the run learns is replaced by `***` before anything is
//! printed, logged, saved or reported, in its plain, base64, URL-encoded and JSON-escaped forms.
//! A text cut short is marked with [`CUT`] ([`head`], [`tail`]); redaction also masks what a
//! cut left of a secret beside that mark, so a cut made before redaction shows no piece of one.

use std::sync::RwLock;

use base64::Engine as _;
use serde_json::Value;

pub const MASK: &str = "***";
/// Marks where [`head`] and [`tail`] cut a text.
pub const CUT: char = '…';
/// What URL encoders leave alone in a query component (RFC 3986 unreserved characters).
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Shorter values would mask ordinary words (`test` in "latest" and "tests" when
/// `AWS_SECRET_ACCESS_KEY=test`, moto's and LocalStack's default): they are not masked, and
/// whoever registers one says so.
pub const MIN_SECRET_LEN: usize = 8;

#[derive(Debug, Default)]
pub struct Redactor {
    forms: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value. False when it is too short to be masked (and not blank):
    /// the caller warns that it is shown as it is.
    pub fn add(&self, secret: &str) -> bool {
        let trimmed = secret.trim();
        if trimmed.is_empty() {
            return true;
        }
        if trimmed.chars().count() < MIN_SECRET_LEN {
            return false;
        }
        // Command output ends with a newline that displays drop: the bare value is secret too.
        if trimmed != secret {
            self.add(trimmed);
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
            if form.chars().count() >= MIN_SECRET_LEN && !forms.contains(&form) {
                forms.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        true
    }

    pub fn redact(&self, text: &str) -> String {
        let forms = self.forms.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for form in forms.iter() {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        if out.contains(CUT) {
            out = mask_at_cuts(&out, &forms);
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

    /// Registers every string inside a value (a `secret: true` capture). False when some
    /// part of it is too short to be masked.
    pub fn add_value(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.add(s),
            Value::Array(items) => self.add_all(items.iter()),
            Value::Object(map) => self.add_all(map.values()),
            Value::Number(n) => self.add(&n.to_string()),
            _ => true,
        }
    }

    /// Registers every value, each one even after one too short.
    fn add_all<'a>(&self, values: impl Iterator<Item = &'a Value>) -> bool {
        let mut all = true;
        for v in values {
            all &= self.add_value(v);
        }
        all
    }
}

/// The first `max` characters of `text`, ending in [`CUT`] when it was longer.
pub fn head(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}{CUT}", &text[..end]),
        None => text.to_owned(),
    }
}

/// The last `max` characters of `text`, starting with [`CUT`] when it was longer.
pub fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    match count.checked_sub(max).filter(|skip| *skip > 0) {
        Some(skip) => {
            let start = text.char_indices().nth(skip).map_or(0, |(i, _)| i);
            format!("{CUT}{}", &text[start..])
        }
        None => text.to_owned(),
    }
}

/// Masks, beside each [`CUT`], the longest piece of a secret form the cut left: text before
/// the mark ending in the start of a form, text after it beginning with the end of one.
fn mask_at_cuts(text: &str, forms: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pieces = text.split(CUT).peekable();
    let mut first = true;
    while let Some(piece) = pieces.next() {
        let mut piece = piece;
        let after_cut = !first;
        let before_cut = pieces.peek().is_some();
        first = false;
        let mut start = "";
        if after_cut {
            let n = forms
                .iter()
                .map(|f| longest_overlap(f, piece, Side::End))
                .max()
                .unwrap_or(0);
            if n > 0 {
                start = MASK;
                piece = &piece[n..];
            }
        }
        let mut end = "";
        if before_cut {
            let n = forms
                .iter()
                .map(|f| longest_overlap(f, piece, Side::Start))
                .max()
                .unwrap_or(0);
            if n > 0 {
                piece = &piece[..piece.len() - n];
                end = MASK;
            }
        }
        out.push_str(start);
        out.push_str(piece);
        out.push_str(end);
        if before_cut {
            out.push(CUT);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Side {
    /// A start of the form, at the end of the text (the text was cut after it).
    Start,
    /// An end of the form, at the start of the text (the text was cut before it).
    End,
}

/// The length in bytes of the longest proper piece of `form` (its start or its end) that
/// `text` ends or begins with.
fn longest_overlap(form: &str, text: &str, side: Side) -> usize {
    let bounds = form.char_indices().map(|(i, _)| i).skip(1);
    match side {
        Side::Start => bounds
            .filter(|&i| text.ends_with(&form[..i]))
            .max()
            .unwrap_or(0),
        Side::End => bounds
            .filter(|&i| text.starts_with(&form[i..]))
            .map(|i| form.len() - i)
            .max()
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_encoding() {
        let r = Redactor::new();
        assert!(r.add("op_test_s3cr3t/+="));
        let b64 = base64::engine::general_purpose::STANDARD.encode("op_test_s3cr3t/+=");
        let text = format!("a op_test_s3cr3t/+= b {b64} c op_test_s3cr3t%2F%2B%3D");
        assert_eq!(r.redact(&text), "a *** b *** c ***");
    }

    #[test]
    fn short_values_are_not_secrets() {
        let r = Redactor::new();
        assert!(!r.add("test"));
        assert!(!r.add("1234567\n"));
        assert!(r.add(""));
        assert_eq!(
            r.redact("tagged latest, unit tests"),
            "tagged latest, unit tests"
        );
        assert!(!r.add_value(&serde_json::json!(["long-enough-value", "short"])));
        assert_eq!(r.redact("a long-enough-value"), "a ***");
    }

    #[test]
    fn a_cut_leaves_no_piece_of_a_secret() {
        let r = Redactor::new();
        r.add("tok_0123456789");
        let text = "value tok_0123456789 end";
        // Cut inside the secret, from either side, before redaction.
        assert_eq!(r.redact(&head(text, 12)), "value ***…");
        assert_eq!(r.redact(&tail(text, 10)), "…*** end");
        // A cut elsewhere, or text that is no piece of a secret, is left alone.
        assert_eq!(r.redact(&head(text, 3)), "val…");
        assert_eq!(r.redact("waiting… done"), "waiting… done");
        assert_eq!(head("short", 10), "short");
        assert_eq!(tail("short", 5), "short");
        assert_eq!(tail("ünïcödé", 3), "…ödé");
    }
}
