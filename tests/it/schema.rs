//! `schema`: the runbook format's JSON Schema is the copy the repository keeps, every shipped
//! runbook file names that copy on its first line and is valid against it, and the shape and
//! type errors of the bad-runbook collection are refused by it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use outpost_migrate::exit_codes::SUCCESS;
use serde_json::Value;

use crate::support::{BIN, Runbook, Test};

/// The repository's copy, which the shipped files' `yaml-language-server` line names.
const SCHEMA_FILE: &str = "schema/runbook.schema.json";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema_command(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("schema")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(SUCCESS), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The schema `schema` prints, compiled.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

fn validator() -> Validator {
    let schema: Value = serde_json::from_str(&schema_command(&[])).unwrap();
    let (mut schemas, mut compiler) = (boon::Schemas::new(), boon::Compiler::new());
    let url = "https://outpost-migrate.invalid/runbook.schema.json";
    compiler.add_resource(url, schema).unwrap();
    let index = compiler
        .compile(url, &mut schemas)
        .expect("a valid JSON Schema");
    Validator { schemas, index }
}

/// A runbook file as the loader reads it (YAML 1.2 booleans); `None` when it is not YAML.
fn yaml(text: &str) -> Option<Value> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).ok()
}

/// The schema's first complaint about `doc`, if any.
fn refusal(validator: &Validator, doc: &Value) -> Option<String> {
    validator
        .schemas
        .validate(doc, validator.index)
        .err()
        .map(|e| format!("{e:#}"))
}

#[test]
fn the_schema_command_prints_the_schema_the_repository_keeps() {
    let printed = schema_command(&[]);
    let kept = std::fs::read_to_string(repo().join(SCHEMA_FILE)).unwrap();
    assert!(
        printed.trim_end() == kept.trim_end(),
        "{SCHEMA_FILE} is not what `schema` prints: run `outpost-migrate schema > {SCHEMA_FILE}`"
    );
    let doc: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(doc["$schema"], "http://json-schema.org/draft-07/schema#");
    let line = schema_command(&["--output", "json"]);
    let line: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(
        (line["schema"].clone(), line["exit_code"].clone()),
        (doc, SUCCESS.into())
    );
}

#[test]
fn every_shipped_runbook_file_names_the_schema_and_is_valid_against_it() {
    let validator = validator();
    let root = std::fs::read_to_string(repo().join("runbook.yaml")).unwrap();
    let top = yaml(&root).expect("runbook.yaml is YAML");
    let mut files = vec![
        "runbook.yaml".to_owned(),
        top["preflight"].as_str().unwrap().into(),
    ];
    for (list, _) in [("phases", "phase"), ("rollback", "level")] {
        for unit in top[list].as_array().unwrap() {
            files.push(unit["file"].as_str().unwrap().into());
        }
    }
    files.push(top["verify"].as_str().unwrap().into());
    assert_eq!(files.len(), 11, "{files:?}");
    for file in files {
        let path = repo().join(&file);
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let named = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{file}: the first line does not name the schema: {first}"));
        // yaml-language-server reads the path from the file's own directory.
        let resolved = path.parent().unwrap().join(named);
        assert_eq!(
            resolved.canonicalize().unwrap(),
            repo().join(SCHEMA_FILE).canonicalize().unwrap(),
            "{file}"
        );
        let doc = yaml(&text).unwrap_or_else(|| panic!("{file} is not YAML"));
        assert_eq!(refusal(&validator, &doc), None, "{file}");
    }
}

/// The cases whose error is one of shape or type: a field unknown, a value of the wrong
/// type, a kind missing or doubled, an operation or input field the `aws` kind lacks. The
/// others need the whole runbook to see (ids unique, names defined, files present, JMESPath
/// and templates that parse) or are not YAML at all.
const REFUSED_BY_THE_SCHEMA: &[&str] = &[
    "aws-unknown-input-field",
    "aws-unsupported-operation",
    "http-bad-method",
    "include-without-steps",
    "invalid-step-id",
    "mcp-without-server",
    "no-kind",
    "phase-out-of-range",
    "step-not-a-mapping",
    "two-kinds",
    "two-matchers",
    "unknown-envelope-field",
    "unknown-kind",
    "unknown-kind-field",
    "unknown-matcher",
    "unknown-root-field",
    "unknown-unit-field",
    "unsupported-format",
    "wrong-type-attempts",
    "wrong-type-bool",
    "wrong-type-for-each",
    "wrong-type-headers",
    "wrong-type-idempotent",
    "wrong-type-timeout",
    "wrong-value-approval",
];

/// Every YAML file under `dir`, by its path relative to `dir`.
fn yaml_files(dir: &Path, under: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, under, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            // A file that is not UTF-8 is no document for the schema to judge.
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.insert(path.strip_prefix(under).unwrap().to_path_buf(), text);
            }
        }
    }
}

#[test]
fn the_bad_runbooks_shape_and_type_errors_are_refused_by_the_schema() {
    let validator = validator();
    let t = Test::new().runbook(Runbook::minimal());
    t.run(&["validate"]).code(SUCCESS);
    let mut minimal = BTreeMap::new();
    yaml_files(&t.runbook_dir(), &t.runbook_dir(), &mut minimal);
    for (file, text) in &minimal {
        let doc = yaml(text).unwrap();
        assert_eq!(
            refusal(&validator, &doc),
            None,
            "the minimal runbook's {file:?}"
        );
    }
    let root = repo().join("tests/data/bad-runbooks");
    let mut refused = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = BTreeMap::new();
        yaml_files(&case, &case, &mut files);
        let refusals: Vec<String> = files
            .values()
            .filter_map(|text| yaml(text))
            .filter_map(|doc| refusal(&validator, &doc))
            .collect();
        if !refusals.is_empty() {
            refused.push(name);
        }
    }
    assert_eq!(refused, REFUSED_BY_THE_SCHEMA);
}
