//! Renders the evidence with minijinja: `report.html` auto-escaped as HTML (a title or value
//! holding `<script>` is text), `report.md` through the `md`, `code` and `fenced` filters,
//! which keep a value from becoming Markdown (a table cell, a link, a heading).

use minijinja::{AutoEscape, Environment};

use super::evidence::Evidence;
use crate::settings::ReportFormat;

const MARKDOWN: &str = include_str!("report.md");
const HTML: &str = include_str!("report.html");

pub fn render(evidence: &Evidence, format: ReportFormat) -> Result<String, String> {
    let mut env = Environment::new();
    let syntax = env
        .syntax()
        .to_builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| e.to_string())?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("md", md);
    env.add_filter("code", code);
    env.add_filter("fenced", fenced);
    env.add_template("report.md", MARKDOWN)
        .and_then(|()| env.add_template("report.html", HTML))
        .map_err(|e| e.to_string())?;
    let name = match format {
        ReportFormat::Markdown => "report.md",
        ReportFormat::Html => "report.html",
    };
    env.get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(evidence))))
        .map_err(|e| format!("{e:#}"))
}

/// Text in Markdown, inside a line (never at its start, where `#`, `-` and `+` would count):
/// every character Markdown gives a meaning there is escaped, and a line break becomes a
/// space (a table row is one line).
fn md(text: String) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(&text).chars() {
        if "\\`*_[]<>|~&".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span holding `text` as it is: its backtick fence is longer than any run of
/// backticks inside, and a `|` is escaped so that it cannot end a table cell.
fn code(text: String) -> String {
    let line = one_line(&text).replace('|', "\\|");
    let fence = "`".repeat(longest_backtick_run(&line) + 1);
    let pad = if line.starts_with('`') || line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{line}{pad}{fence}")
}

/// A fenced code block holding `text` as it is, however many lines and backticks it has.
fn fenced(text: String) -> String {
    let fence = "`".repeat(longest_backtick_run(&text).max(2) + 1);
    format!("{fence}text\n{}\n{fence}", text.trim_end())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_text_cannot_become_markup() {
        assert_eq!(
            md("<script>a|b</script>\n# [x](y)".into()),
            "\\<script\\>a\\|b\\</script\\> # \\[x\\](y)"
        );
    }

    #[test]
    fn a_code_span_outlasts_the_backticks_inside() {
        assert_eq!(code("a`b".into()), "``a`b``");
        assert_eq!(code("`x`".into()), "`` `x` ``");
        assert_eq!(code("a|b".into()), "`a\\|b`");
    }

    #[test]
    fn a_fenced_block_outlasts_the_fences_inside() {
        assert_eq!(fenced("x\n```\ny".into()), "````text\nx\n```\ny\n````");
        assert_eq!(fenced("plain".into()), "```text\nplain\n```");
    }
}
