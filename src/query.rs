//! JMESPath queries over a step's output, as `aws --query` runs them.

use std::fmt;
use std::sync::Arc;

use jmespath::ast::Ast;
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
        if let Some(name) = unknown_function(compiled.as_ast()) {
            return Err(format!("unknown function `{name}()`"));
        }
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

/// The first function the expression calls that JMESPath does not have: the interpreter finds
/// it only when it gets there, and `validate` should. Iterative, so a deep expression cannot
/// exhaust the stack here.
fn unknown_function(ast: &Ast) -> Option<String> {
    let mut stack = vec![ast];
    while let Some(node) = stack.pop() {
        match node {
            Ast::Function { name, args, .. } => {
                if jmespath::DEFAULT_RUNTIME.get_function(name).is_none() {
                    return Some(name.clone());
                }
                stack.extend(args);
            }
            Ast::Comparison { lhs, rhs, .. }
            | Ast::Projection { lhs, rhs, .. }
            | Ast::And { lhs, rhs, .. }
            | Ast::Or { lhs, rhs, .. }
            | Ast::Subexpr { lhs, rhs, .. } => stack.extend([&**lhs, &**rhs]),
            Ast::Condition {
                predicate, then, ..
            } => stack.extend([&**predicate, &**then]),
            Ast::Expref { ast: node, .. }
            | Ast::Flatten { node, .. }
            | Ast::Not { node, .. }
            | Ast::ObjectValues { node, .. } => stack.push(node),
            Ast::MultiList { elements, .. } => stack.extend(elements),
            Ast::MultiHash { elements, .. } => stack.extend(elements.iter().map(|kv| &kv.value)),
            Ast::Identity { .. }
            | Ast::Field { .. }
            | Ast::Index { .. }
            | Ast::Literal { .. }
            | Ast::Slice { .. } => {}
        }
    }
    None
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
        assert_eq!(
            Query::compile("length(a) && [b, {c: to_upper(d)}]").unwrap_err(),
            "unknown function `to_upper()`"
        );
        assert!(Query::compile("sort_by(items, &name)[?contains(tags, 'x')]").is_ok());
    }
}
