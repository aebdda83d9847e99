//! One fuzz input for the loader target (fuzz/fuzz_targets/loader.rs), kept in the library so
//! that a unit test runs the seeds through it on stable Rust.
//!
//! The first byte picks what the rest becomes: one of the embedded runbook's files (loaded,
//! then every template of every step rendered, each escaped for where it lands, and every
//! JMESPath run), or, past the file count, a template and a JMESPath expression by themselves.
//! Whatever the bytes, the answer is a value or an error, never a panic.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{RunbookSource, Step, load, source::embedded_files};
use crate::engine::execution_plan;
use crate::query::Query;
use crate::template::{self, Escape};

/// Runs one fuzz input.
pub fn one_input(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let mut files: Vec<(String, Vec<u8>)> = embedded_files()
        .map(|(n, t)| (n.to_owned(), t.as_bytes().to_vec()))
        .collect();
    let text = String::from_utf8_lossy(body).into_owned();
    let Some(file) = files.get_mut(usize::from(pick)) else {
        template_and_query(&text);
        return;
    };
    file.1 = body.to_vec();
    let Ok(runbook) = load(&RunbookSource::Memory(files)) else {
        return;
    };
    let env = execution_plan::EnvMap::new();
    let Ok(vars) = execution_plan::render_vars(&runbook, &[], &env) else {
        return;
    };
    // Every capture and `item` holds the input itself: hostile values, rendered everywhere.
    let captures: BTreeMap<String, Value> = runbook
        .steps()
        .flat_map(|(_, s)| s.capture.iter().map(|(n, _)| (n.clone(), json!(text))))
        .collect();
    let ctx = execution_plan::context(&vars, &captures, &env, Some(&json!(text)), None);
    let output = serde_json::from_slice(body).unwrap_or_else(|_| json!({"stdout": text}));
    for (_, step) in runbook.steps() {
        exercise(step, &ctx, &output);
    }
}

fn exercise(step: &Step, ctx: &minijinja::Value, output: &Value) {
    let _ = step.kind.render(&step.spec, ctx);
    for (_, query) in &step.capture {
        let _ = query.search(output);
    }
    for expectation in &step.expect {
        let _ = expectation.check(output, ctx);
    }
    if let Some(probe) = &step.verify {
        exercise(probe, ctx, output);
    }
}

fn template_and_query(text: &str) {
    let _ = template::references(text);
    let _ = template::condition_references(text);
    let _ = template::raw_names(text);
    let _ = crate::escape::quoted_in_shell(text);
    let ctx = execution_plan::context(
        &serde_json::Map::from_iter([("x".to_owned(), json!(text))]),
        &BTreeMap::new(),
        &execution_plan::EnvMap::new(),
        Some(&json!([text])),
        None,
    );
    for escape in [
        Escape::Data,
        Escape::Shell,
        Escape::Url,
        Escape::Header,
        Escape::Regex,
        Escape::Line,
    ] {
        let _ = template::render_escaped(text, &ctx, escape);
        let _ = template::render_escaped("a {{ x }} b", &ctx, escape);
    }
    if let Ok(query) = Query::compile(text) {
        let _ = query.search(&json!({"x": text, "items": [1, "a", null]}));
    }
}

#[cfg(test)]
mod tests {
    /// The seeds (fuzz/seeds) and a few hostile inputs pass through the fuzz input without a
    /// panic: the target type-checks against the same function.
    #[test]
    fn seeds_and_hostile_inputs_run_through() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let mut count = 0;
        for entry in std::fs::read_dir(seeds).unwrap() {
            super::one_input(&std::fs::read(entry.unwrap().path()).unwrap());
            count += 1;
        }
        assert!(count >= 11, "only {count} seeds");
        for hostile in [
            "{{ x | raw }}",
            "{% filter upper %}{{ x }}{% endfilter %}",
            "echo '{{ x }}'",
            "a[?b=='{{ x }}'] | length(@)",
            "{{ x | urlencode }}",
            "not_a_function(@)",
            "\u{E000}v00\u{E001}{{ x }}",
        ] {
            super::one_input(format!("\u{ff}{hostile}").as_bytes());
        }
    }
}
