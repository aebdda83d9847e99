//! JMESPath queries over a step's output, as `aws --query` runs them.

use std::fmt;
use std::sync::Arc;

use jmespath::ast::Ast;
use serde_json::Value;

/// How deeply an expression may nest (brackets, `!`, and chained operators such as `.`, `|`,
/// `&&` or comparisons, each of which nests the parsed tree one level further). The parser and
/// the evaluator recurse once per level; a few hundred levels overflow a thread's stack, so
/// the depth is measured on the text before the parser sees it.
pub const MAX_DEPTH: usize = 64;

/// A compiled JMESPath expression, kept with its source text.
#[derive(Clone)]
pub struct Query {
    source: String,
    compiled: Arc<jmespath::Expression<'static>>,
}

impl Query {
    pub fn compile(source: &str) -> Result<Self, String> {
        let depth = depth(source);
        if depth > MAX_DEPTH {
            return Err(format!(
                "the expression nests {depth} levels deep; the limit is {MAX_DEPTH}: split it or query less deeply"
            ));
        }
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

/// An upper bound on the depth of the tree the parser would build, from the text alone.
///
/// Every bracket opens a level, and every operator adds one to the level it appears in: a
/// chain `a.b.c` or `!!x` nests once per operator. Siblings separated by `,` (in a list, a
/// hash or a function's arguments) do not add up. Quoted names, raw strings and JSON literals
/// are skipped (a JSON literal is parsed by serde_json, which bounds its own depth).
fn depth(source: &str) -> usize {
    // The operator count of each open bracket level, outermost first.
    let mut levels: Vec<usize> = vec![0];
    let mut deepest = 0;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                while let Some(inner) = chars.next() {
                    if inner == '\\' {
                        chars.next();
                    } else if inner == c {
                        break;
                    }
                }
                continue;
            }
            '(' | '[' | '{' => {
                bump(&mut levels);
                levels.push(0);
            }
            ')' | ']' | '}' if levels.len() > 1 => {
                levels.pop();
            }
            ',' => {
                if let Some(top) = levels.last_mut() {
                    *top = 0;
                }
            }
            '|' | '&' | '=' | '!' | '<' | '>' => {
                // Two-character operators (`||`, `&&`, `==`, `!=`, `<=`, `>=`) count once.
                if chars
                    .peek()
                    .is_some_and(|n| "|&=".contains(*n) && (*n == c || *n == '='))
                {
                    chars.next();
                }
                bump(&mut levels);
            }
            '.' => bump(&mut levels),
            _ => {}
        }
        deepest = deepest.max(levels.iter().sum::<usize>() + levels.len() - 1);
    }
    deepest
}

fn bump(levels: &mut [usize]) {
    if let Some(top) = levels.last_mut() {
        *top += 1;
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

    #[test]
    fn depth_counts_nesting_and_chains_but_not_siblings() {
        assert_eq!(depth("a"), 0);
        assert_eq!(depth("a.b.c"), 2);
        assert_eq!(depth("!!a"), 2);
        assert_eq!(depth("a || b && c"), 2);
        assert_eq!(depth("((a))"), 4);
        assert_eq!(depth("[a.b, c.d, e.f]"), 3);
        assert_eq!(depth("f(a.b, c.d)"), 3);
        // Operators inside quoted names, raw strings and literals are text.
        assert_eq!(depth("\"a.b.c\" == 'x.y.z' || `[[[1]]]`"), 2);
        assert_eq!(depth("'it\\'s.a.b' == a"), 1);
    }

    #[test]
    fn too_deep_expressions_are_refused_before_parsing() {
        // Parsed, these overflow the stack (3,000 `!` aborted `validate`).
        for deep in [
            format!("{}a", "!".repeat(3000)),
            format!("a{}", ".a".repeat(3000)),
            format!("{}a{}", "(".repeat(3000), ")".repeat(3000)),
            format!("a{}", "[0]".repeat(3000)),
        ] {
            let err = Query::compile(&deep).unwrap_err();
            assert!(err.contains("the limit is 64"), "{err}");
        }
        let deepest_allowed = format!("a{}", ".a".repeat(MAX_DEPTH));
        let found = Query::compile(&deepest_allowed)
            .unwrap()
            .search(&json!({"a": {"a": 1}}))
            .unwrap();
        assert_eq!(found, Value::Null);
    }
}
