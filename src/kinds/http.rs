//! `http`: a request to a URL (the seed's curl commands). GET and HEAD are read-only.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::template::Escape;

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Http;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    json: Option<Value>,
    /// Accepted statuses; any 2xx when empty.
    #[serde(default)]
    status: Vec<u16>,
}

fn get() -> String {
    "GET".into()
}

impl StepKind for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        let s: Spec = parse_spec(spec)?;
        if reqwest::Method::from_bytes(s.method.to_ascii_uppercase().as_bytes()).is_err() {
            return Err(SpecError {
                path: Vec::new(),
                message: format!("`{}` is not an HTTP method", s.method),
            });
        }
        Ok(())
    }

    fn access(&self, spec: &Value) -> Access {
        let method = spec
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase();
        if method == "GET" || method == "HEAD" {
            Access::ReadOnly
        } else {
            Access::Mutating
        }
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
            let text = resp.text().await.map_err(|e| {
                KindFailure::failed(format!("reading the response of {} failed: {e}", spec.url))
            })?;
            let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
            let accepted = if spec.status.is_empty() {
                (200..300).contains(&status)
            } else {
                spec.status.contains(&status)
            };
            if !accepted {
                let snippet: String = body.to_string().chars().take(300).collect();
                return Err(KindFailure::failed(format!(
                    "{method} {} answered {status}: {snippet}",
                    spec.url
                )));
            }
            Ok(json!({"status": status, "headers": headers, "body": body}))
        })
    }
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
