//! Parsing one runbook file into a tree that keeps locations, and the located diagnostics
//! for what serde or the YAML parser refuses (with a hint naming what was expected).

use serde::de::DeserializeOwned;

use crate::runbook::diagnostic::{Diagnostic, Loc};
use crate::runbook::node::Node;
use crate::runbook::source::{ReadFailure, SourceFile};

/// Runbook files larger than this are refused before parsing.
pub(super) const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One parsed file and the diagnostics it produces.
#[derive(Clone)]
pub(super) struct FileCx {
    pub(super) file: SourceFile,
}

impl FileCx {
    /// Moves `loc` (the start of a scalar) to where `needle` appears on its line, so the caret
    /// points at the offending name rather than at the start of the string.
    pub(super) fn refine(&self, loc: Loc, needle: &str) -> Loc {
        let Some(line) = self.file.text.lines().nth(loc.line.saturating_sub(1)) else {
            return loc;
        };
        let start: usize = line
            .chars()
            .take(loc.col.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        match line.get(start..).and_then(|rest| rest.find(needle)) {
            Some(offset) => Loc {
                line: loc.line,
                col: loc.col + line[start..start + offset].chars().count(),
            },
            None => loc,
        }
    }

    pub(super) fn diag(&self, loc: Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file.name, Some(&self.file.text), loc, message)
    }

    /// Deserialises `node` into `T`, locating the first problem.
    pub(super) fn typed<T: DeserializeOwned>(
        &self,
        node: &Node,
        step: Option<&str>,
    ) -> Result<T, Diagnostic> {
        serde_path_to_error::deserialize(node.to_json()).map_err(|e| {
            let message = e.inner().to_string();
            let loc = locate_error(node.locate(e.path()), &message);
            let mut d = self
                .diag(loc, format!("{} (at `{}`)", message, e.path()))
                .step(step);
            if let Some(field) = unknown_field(&message) {
                d.message = format!("unknown field `{field}`");
                if let Some(hint) = expected_fields_hint(&message, field) {
                    d = d.hint(hint);
                }
            } else {
                d = d.hint(type_hint(&message));
            }
            d
        })
    }
}

/// A hint for serde's type and shape errors ("invalid type: ..., expected ...").
pub(super) fn type_hint(message: &str) -> String {
    match message.split_once("expected ") {
        Some((_, expected)) => format!(
            "write {} here (see the runbook format in the README)",
            expected.trim_end_matches('.')
        ),
        None => "see the runbook format in the README".into(),
    }
}

pub(super) fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

pub(super) fn expected_fields_hint(message: &str, field: &str) -> Option<String> {
    let expected = message.split_once(", expected ")?.1;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    Some(match did_you_mean(field, &names) {
        Some(best) => format!(
            "did you mean `{best}`? expected one of: {}",
            names.join(", ")
        ),
        None => format!("expected one of: {}", names.join(", ")),
    })
}

pub(super) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// An unknown field points at its key; anything else at the value.
pub(super) fn locate_error(node: &Node, message: &str) -> Loc {
    unknown_field(message)
        .and_then(|f| node.entry(f))
        .map_or(node.loc, |(k, _)| k.loc)
}

pub(super) fn parse_file(file: SourceFile) -> Result<(FileCx, Node), Diagnostic> {
    let cx = FileCx { file };
    if cx.file.text.len() > MAX_FILE_BYTES {
        return Err(cx
            .diag(
                Loc { line: 1, col: 1 },
                format!(
                    "file is {} bytes; runbook files are limited to {MAX_FILE_BYTES}",
                    cx.file.text.len()
                ),
            )
            .hint("split it, or check that the path points at a runbook"));
    }
    // YAML 1.2 core booleans only: a key or value `n`, `y`, `no`, `yes`, `on` or `off` is the
    // text it reads as, not a YAML 1.1 boolean (a var named `no` stays `no`).
    let options = serde_saphyr::options! { with_snippet: false, strict_booleans: true };
    match serde_saphyr::from_str_with_options::<Node>(&cx.file.text, options) {
        Ok(node) => Ok((cx, node)),
        Err(e) => {
            let loc = e.location().map_or(Loc { line: 1, col: 1 }, |l| Loc {
                line: (l.line() as usize).max(1),
                col: (l.column() as usize).max(1),
            });
            // The parser's advice is for programs using it, not for runbook authors.
            let message = first_line(&e.without_snippet().to_string())
                .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
            Err(cx
                .diag(loc, format!("invalid YAML: {message}"))
                .hint("check indentation, quoting and `key: value` pairs"))
        }
    }
}

pub(super) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

pub(super) fn read_failure(
    name: &str,
    why: ReadFailure,
    referenced_from: Option<(&FileCx, Loc)>,
) -> Diagnostic {
    match why {
        ReadFailure::NotUtf8 { line, col } => {
            Diagnostic::new(name, None, Loc { line, col }, "file is not valid UTF-8")
                .hint("runbook files must be UTF-8 text")
        }
        ReadFailure::Missing => match referenced_from {
            Some((cx, loc)) => cx
                .diag(loc, format!("file `{name}` does not exist"))
                .hint("fix the path; it is relative to runbook.yaml"),
            None => Diagnostic::new(
                name,
                None,
                Loc { line: 1, col: 1 },
                "runbook file does not exist",
            )
            .hint("pass --runbook DIR (holding runbook.yaml) or the path of the top runbook file"),
        },
        ReadFailure::Io(e) => {
            let loc = referenced_from
                .map(|(_, l)| l)
                .unwrap_or(Loc { line: 1, col: 1 });
            Diagnostic::new(name, None, loc, format!("cannot read file: {e}"))
        }
    }
}

/// A YAML snippet parsed as the file `t.yaml`, for the stages' unit tests.
#[cfg(test)]
pub(super) fn snippet(text: &str) -> (FileCx, Node) {
    parse_file(SourceFile {
        name: "t.yaml".into(),
        text: text.into(),
    })
    .expect("the snippet is YAML")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load::document::RetryDoc;

    #[test]
    fn invalid_yaml_is_located_with_the_parsers_words() {
        let d = parse_file(SourceFile {
            name: "t.yaml".into(),
            text: "a: 1\nb: [2\n".into(),
        })
        .err()
        .expect("unclosed list");
        assert!(d.message.starts_with("invalid YAML: "), "{}", d.message);
        assert_eq!(d.file, "t.yaml");
        assert!(d.loc.line >= 2, "{:?}", d.loc);
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_parsing() {
        let d = parse_file(SourceFile {
            name: "big.yaml".into(),
            text: "#".repeat(MAX_FILE_BYTES + 1),
        })
        .err()
        .expect("too big");
        assert!(
            d.message.contains("runbook files are limited to"),
            "{}",
            d.message
        );
        assert_eq!(d.loc, Loc { line: 1, col: 1 });
    }

    #[test]
    fn yaml_1_1_booleans_stay_text() {
        let (_, node) = snippet("no: off\n");
        assert_eq!(node.get("no").and_then(Node::as_str), Some("off"));
    }

    #[test]
    fn an_unknown_field_is_located_on_its_line_and_suggests_the_nearest() {
        let (cx, node) = snippet("attempts: 3\nintervall: 5s\n");
        let d = cx
            .typed::<RetryDoc>(&node, Some("s"))
            .err()
            .expect("unknown");
        assert_eq!(d.message, "unknown field `intervall`");
        assert_eq!(d.loc.line, 2);
        assert_eq!(d.step.as_deref(), Some("s"));
        let hint = d.hint.unwrap_or_default();
        assert!(hint.starts_with("did you mean `interval`?"), "{hint}");
    }

    #[test]
    fn a_type_error_points_at_the_value_and_says_what_to_write() {
        let (cx, node) = snippet("attempts: 3\nbackoff: fast\n");
        let d = cx
            .typed::<RetryDoc>(&node, None)
            .err()
            .expect("not a number");
        assert_eq!(d.loc, Loc { line: 2, col: 10 });
        assert!(d.message.contains("(at `backoff`)"), "{}", d.message);
        assert!(d.hint.unwrap_or_default().starts_with("write "));
    }

    #[test]
    fn refine_moves_the_caret_to_the_name_on_the_line() {
        let (cx, node) = snippet("cmd: echo {{ who }}\n");
        let loc = node.get("cmd").expect("cmd").loc;
        assert_eq!(cx.refine(loc, "who"), Loc { line: 1, col: 14 });
        assert_eq!(cx.refine(loc, "absent"), loc);
    }

    #[test]
    fn a_missing_file_named_from_another_points_at_the_reference() {
        let (cx, node) = snippet("preflight: checks/nope.yaml\n");
        let loc = node.get("preflight").expect("preflight").loc;
        let d = read_failure("checks/nope.yaml", ReadFailure::Missing, Some((&cx, loc)));
        assert_eq!(d.file, "t.yaml");
        assert_eq!(d.loc, loc);
        assert_eq!(d.message, "file `checks/nope.yaml` does not exist");
    }
}
