//! A runbook error located in its file, rendered as a snippet pointing at the offending line.

use std::fmt::Write;

/// A 1-based line and column in a runbook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Loc {
    pub line: usize,
    pub col: usize,
}

/// One problem found while loading or validating a runbook.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub loc: Loc,
    pub step: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    /// The text of the offending line, shown under the location.
    #[serde(skip)]
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &str, text: Option<&str>, loc: Loc, message: impl Into<String>) -> Self {
        let source_line = text
            .and_then(|t| t.lines().nth(loc.line.saturating_sub(1)))
            .map(str::to_owned);
        Diagnostic {
            file: file.to_owned(),
            loc,
            step: None,
            message: message.into(),
            hint: None,
            source_line,
        }
    }

    pub fn step(mut self, step: Option<&str>) -> Self {
        self.step = step.map(str::to_owned);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders like rustc and Hurl: message, location, the line with a caret, a hint.
    pub fn render(&self, color: bool) -> String {
        let paint = |s: &str, style: console::Style| {
            if color {
                style.force_styling(true).apply_to(s).to_string()
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let step = self
            .step
            .as_deref()
            .map(|s| format!(" (step `{s}`)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}{}{}",
            paint("error", console::Style::new().red().bold()),
            paint(&format!(": {}", self.message), console::Style::new().bold()),
            step
        );
        let gutter = self.loc.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{pad}--> {}:{}:{}",
            self.file, self.loc.line, self.loc.col
        );
        if let Some(line) = &self.source_line {
            let shown = line.replace('\t', " ");
            let caret_at = shown.chars().take(self.loc.col.saturating_sub(1)).count();
            let width = shown
                .chars()
                .skip(caret_at)
                .take_while(|c| !c.is_whitespace() && *c != ':')
                .count()
                .max(1);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", self.loc.line, shown);
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(caret_at),
                paint(&"^".repeat(width), console::Style::new().red().bold())
            );
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{pad} = hint: {hint}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let text = "steps:\n  - id: a\n    retires: 3\n";
        let d = Diagnostic::new(
            "phases/x.yaml",
            Some(text),
            Loc { line: 3, col: 5 },
            "unknown field `retires`",
        )
        .step(Some("a"))
        .hint("did you mean `retry`?");
        let out = d.render(false);
        assert!(out.contains("--> phases/x.yaml:3:5"), "{out}");
        assert!(out.contains("3 |     retires: 3"), "{out}");
        assert!(out.contains("  |     ^^^^^^^\n"), "{out}");
        assert!(out.contains("hint: did you mean `retry`?"), "{out}");
        assert!(out.contains("(step `a`)"), "{out}");
    }
}
