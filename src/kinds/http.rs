//! `http`: one request to a URL, as `curl` makes it. GET, HEAD and OPTIONS are read-only.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::template::Escape;

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Http;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HttpStep")]
struct Spec {
    #[serde(default = "get")]
    /// An HTTP method: a token, as `reqwest::Method::from_bytes` takes it.
    #[schemars(extend("pattern" = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    json: Option<Value>,
    /// Accepted statuses; any 2xx when empty.
    #[serde(default)]
    status: Vec<u16>,
    /// The largest response body read (`64MiB`, or a number of bytes); [`DEFAULT_MAX_BODY`]
    /// when absent.
    max_body: Option<Size>,
}

/// A byte count: a number, or text with a unit (`512KiB`, `64MiB`, `1GB`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// The response body read when a step does not say: larger bodies fail the step unread, so a
/// hostile or broken server cannot fill the operator's memory.
const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// The most a step may raise `max_body` to.
const LIMIT_MAX_BODY: u64 = 1024 * 1024 * 1024;

impl Spec {
    fn max_body(&self) -> Result<u64, SpecError> {
        let bytes = match &self.max_body {
            None => return Ok(DEFAULT_MAX_BODY),
            Some(Size::Bytes(n)) => *n,
            Some(Size::Text(t)) => t
                .trim()
                .parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
                .map_err(|e| SpecError {
                    path: vec!["max_body".into()],
                    message: format!("`max_body: {t}` is not a size ({e}); write e.g. 64MiB"),
                })?,
        };
        if bytes == 0 || bytes > LIMIT_MAX_BODY {
            return Err(SpecError {
                path: vec!["max_body".into()],
                message: format!(
                    "`max_body` must be between 1 byte and {}",
                    bytesize::ByteSize(LIMIT_MAX_BODY).display().iec()
                ),
            });
        }
        Ok(bytes)
    }
}

fn get() -> String {
    "GET".into()
}

/// The methods RFC 9110 calls safe: they only read.
const SAFE_METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

/// Why the step's method may change something, unless it is a safe one. A templated method
/// counts too: nothing vouches for what it renders to.
fn unsafe_method(spec: &Value) -> Option<String> {
    let method = spec.get("method").and_then(Value::as_str).unwrap_or("GET");
    if crate::template::is_template(method) {
        return Some(format!(
            "its method `{method}` is a template, which may render to one that changes something"
        ));
    }
    let method = method.to_ascii_uppercase();
    (!SAFE_METHODS.contains(&method.as_str()))
        .then(|| format!("an HTTP {method} asks the server to change something"))
}

impl StepKind for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Spec>()
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        let s: Spec = parse_spec(spec)?;
        if reqwest::Method::from_bytes(s.method.to_ascii_uppercase().as_bytes()).is_err() {
            return Err(SpecError {
                path: Vec::new(),
                message: format!("`{}` is not an HTTP method", s.method),
            });
        }
        s.max_body()?;
        Ok(())
    }

    fn access(&self, spec: &Value) -> Access {
        if unsafe_method(spec).is_none() {
            Access::ReadOnly
        } else {
            Access::Mutating
        }
    }

    fn writes_by_nature(&self, spec: &Value) -> Option<String> {
        unsafe_method(spec)
    }

    /// Values in the URL are path segments or query values (after a base URL at its start);
    /// header values may not break their line.
    fn escape(&self, path: &[String]) -> Escape {
        match path {
            [field] if field == "url" => Escape::Url,
            [field, _] if field == "headers" => Escape::Header,
            _ => Escape::Data,
        }
    }

    fn describe(&self, spec: &Value) -> String {
        match parse_spec::<Spec>(spec) {
            Ok(s) => {
                let body = s.json.map(|b| format!(" {b}")).unwrap_or_default();
                format!("{} {}{body}", s.method.to_ascii_uppercase(), s.url)
            }
            Err(_) => spec.to_string(),
        }
    }

    fn secrets(&self, spec: &Value) -> Vec<String> {
        let Some(headers) = spec.get("headers").and_then(Value::as_object) else {
            return Vec::new();
        };
        headers
            .iter()
            .filter(|(k, _)| is_secret_header(k))
            .filter_map(|(_, v)| v.as_str())
            .flat_map(|v| {
                // The credential alone is as secret as the whole header.
                let token = v.split_once(' ').map(|(_, t)| t.trim().to_owned());
                std::iter::once(v.to_owned()).chain(token)
            })
            .collect()
    }

    fn run<'a>(&'a self, spec: Value, _step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let spec: Spec = parse_spec(&spec).map_err(|e| KindFailure::failed(e.message))?;
            let method = reqwest::Method::from_bytes(spec.method.to_ascii_uppercase().as_bytes())
                .map_err(|_| {
                KindFailure::failed(format!("`{}` is not an HTTP method", spec.method))
            })?;
            let mut req = ctx.http()?.request(method.clone(), &spec.url);
            for (k, v) in &spec.headers {
                req = req.header(k, v);
            }
            if let Some(body) = &spec.json {
                req = req.json(body);
            }
            let resp = req.send().await.map_err(|e| {
                KindFailure::failed(format!("{method} {} failed: {}", spec.url, error_chain(&e)))
            })?;
            let status = resp.status().as_u16();
            let mut headers = Map::new();
            for (k, v) in resp.headers() {
                if !is_secret_header(k.as_str()) {
                    headers.insert(
                        k.as_str().to_owned(),
                        Value::String(v.to_str().unwrap_or_default().to_owned()),
                    );
                }
            }
            let max_body = spec
                .max_body()
                .map_err(|e| KindFailure::failed(e.message))?;
            let text = read_body(resp, max_body).await.map_err(|e| {
                KindFailure::failed(format!("reading the response of {} failed: {e}", spec.url))
            })?;
            let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
            let accepted = if spec.status.is_empty() {
                (200..300).contains(&status)
            } else {
                spec.status.contains(&status)
            };
            if !accepted {
                // Marked where it is cut: redaction masks what is left of a secret there.
                let snippet = crate::secrets::head(&body.to_string(), 300);
                let advice = gateway_advice(status)
                    .map(|a| format!(". {a}"))
                    .unwrap_or_default();
                return Err(KindFailure::failed(format!(
                    "{method} {} answered {status}: {snippet}{advice}",
                    spec.url
                )));
            }
            Ok(json!({"status": status, "headers": headers, "body": body}))
        })
    }
}

/// What a gateway's error status says to check: the service behind the gateway, not the
/// request, which a retry cannot mend.
fn gateway_advice(status: u16) -> Option<&'static str> {
    match status {
        502 => Some(
            "A 502 comes from the load balancer or proxy in front: the service behind it gave no valid answer. Check that the service's tasks are running and its targets healthy (`aws ecs describe-services`, `aws elbv2 describe-target-health`) and read the service's logs",
        ),
        503 => Some(
            "A 503 means no healthy target or an overloaded service: check the target health (`aws elbv2 describe-target-health`) and the service's running count",
        ),
        504 => Some(
            "A 504 means the service behind the load balancer did not answer in time: check that it is up and not stuck (its logs) and the load balancer's idle timeout",
        ),
        _ => None,
    }
}

/// Reads the body as it streams in, stopping as soon as it passes `max` bytes: an oversized
/// body is refused by its announced length, or after `max` bytes at most, never held whole.
async fn read_body(mut resp: reqwest::Response, max: u64) -> Result<String, String> {
    let too_large = || {
        format!(
            "the body is larger than {} (`max_body`); raise `max_body` on the step if that is expected",
            bytesize::ByteSize(max).display().iec()
        )
    };
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "proxy-authorization"
        || name == "cookie"
        || name == "set-cookie"
        || name.contains("api-key")
        || name.contains("token")
}

/// reqwest hides the cause (connection refused, timeout) behind "error sending request".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_methods_read() {
        for method in ["GET", "head", "OPTIONS"] {
            let spec = json!({"method": method, "url": "http://x"});
            assert_eq!(Http.access(&spec), Access::ReadOnly, "{method}");
            assert_eq!(Http.writes_by_nature(&spec), None, "{method}");
        }
        assert_eq!(Http.access(&json!({"url": "http://x"})), Access::ReadOnly);
        for method in ["POST", "put", "DELETE", "PATCH"] {
            let spec = json!({"method": method, "url": "http://x"});
            assert_eq!(Http.access(&spec), Access::Mutating, "{method}");
            assert!(Http.writes_by_nature(&spec).is_some(), "{method}");
        }
    }

    #[test]
    fn a_templated_method_is_never_vouched_for() {
        let spec = json!({"method": "{{ verb }}", "url": "http://x"});
        assert_eq!(Http.access(&spec), Access::Mutating);
        assert!(
            Http.writes_by_nature(&spec)
                .unwrap()
                .contains("is a template")
        );
    }
}
