//! JMESPath queries over a step's output, as `aws --query` runs them.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// A compiled JMESPath expression, kept with its source text.
#[derive(Clone)]
pub struct Query {
    source: String,
    compiled: Arc<jmespath::Expression<'static>>,
}

impl Query {
    pub fn compile(source: &str) -> Result<Self, String> {
        // The parser's message spans lines (it repeats the expression); the first one says it.
        let compiled = jmespath::compile(source)
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())?;
        Ok(Query {
            source: source.to_owned(),
            compiled: Arc::new(compiled),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn search(&self, data: &Value) -> Result<Value, String> {
        let found = self.compiled.search(data).map_err(|e| e.to_string())?;
        serde_json::to_value(&*found).map_err(|e| e.to_string())
    }
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Query({:?})", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runs_aws_cli_style_queries() {
        let data = json!({"clusters": [{"status": "ACTIVE"}], "imageDetails": [{"imageTags": ["latest", "v1"]}]});
        assert_eq!(
            Query::compile("clusters[0].status")
                .unwrap()
                .search(&data)
                .unwrap(),
            json!("ACTIVE")
        );
        assert_eq!(
            Query::compile("imageDetails[*].imageTags")
                .unwrap()
                .search(&data)
                .unwrap(),
            json!([["latest", "v1"]])
        );
        assert!(Query::compile("clusters[0.status").is_err());
    }
}
