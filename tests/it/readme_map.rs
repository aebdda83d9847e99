//! The README's map of the source runbook ("The source runbook, item by item") held to the
//! shipped runbook through the binary: every step id the table names is a step `plan all`
//! lists, every command it names is one the binary takes, and every step of pre-flight, the
//! phases, verification and the rollback levels is named somewhere in it. So the table cannot
//! drift from the runbook.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::support::{BIN, Test};
use outpost_migrate::exit_codes::SUCCESS;

const SECTION: &str = "## The source runbook, item by item";
const HEADER: &str = "| source runbook | item | steps | command |";

/// One row of the table: its cells, and its text for messages.
struct Row {
    cells: Vec<String>,
    line: String,
}

fn table() -> Vec<Row> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split_once(&format!("\n{SECTION}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {SECTION:?}"))
        .1;
    let mut lines = section.lines().skip_while(|l| l.trim() != HEADER).skip(2);
    let rows: Vec<Row> = lines
        .by_ref()
        .take_while(|l| l.starts_with('|'))
        .map(|l| Row {
            cells: l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect(),
            line: l.to_owned(),
        })
        .collect();
    assert!(rows.len() > 40, "only {} rows under {HEADER:?}", rows.len());
    for row in &rows {
        assert_eq!(row.cells.len(), 4, "not 4 cells: {}", row.line);
    }
    rows
}

/// The text of each code span (`...`) of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Every unit of the shipped runbook and its steps' ids, as `plan all` and `plan monitor` list
/// them (a `for_each` step once per item: `ecr-image-latest.outpost-base`...).
fn shipped_steps() -> Vec<(String, Vec<String>)> {
    ["all", "monitor"]
        .iter()
        .flat_map(|target| {
            let run = Test::new()
                .embedded()
                .run(&["plan", target, "--output", "json"]);
            run.code(SUCCESS);
            let plan: Value = serde_json::from_str(run.stdout.trim()).unwrap();
            plan["units"].as_array().unwrap().clone()
        })
        .map(|unit| {
            let ids = unit["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect();
            (unit["unit"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

/// A step id as the table names it: a `for_each` step's items by their base id.
fn base_id(id: &str) -> &str {
    id.split_once('.').map_or(id, |(base, _)| base)
}

#[test]
fn every_step_id_the_readme_maps_is_a_step_of_the_shipped_runbook() {
    let rows = table();
    let units = shipped_steps();
    let known: BTreeSet<&str> = units
        .iter()
        .flat_map(|(_, ids)| ids.iter().map(|id| base_id(id)))
        .collect();
    let mut named = BTreeSet::new();
    let mut unknown = Vec::new();
    for row in &rows {
        for id in code_spans(&row.cells[2]) {
            named.insert(id);
            if !known.contains(id) {
                unknown.push(format!("{id}: {}", row.line));
            }
        }
    }
    assert!(unknown.is_empty(), "ids that are no step: {unknown:#?}");

    // Every step of the units this table maps is named in it.
    let mapped = |unit: &str| {
        unit == "preflight"
            || unit == "verify"
            || unit.starts_with("phase-")
            || unit.starts_with("rollback-")
    };
    let unnamed: Vec<String> = units
        .iter()
        .filter(|(unit, _)| mapped(unit))
        .flat_map(|(unit, ids)| ids.iter().map(move |id| (unit, base_id(id))))
        .filter(|(_, id)| !named.contains(id))
        .map(|(unit, id)| format!("{unit} {id}"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        unnamed.is_empty(),
        "steps the README's table does not name: {unnamed:#?}"
    );
    assert!(named.len() > 90, "only {} ids named", named.len());
}

/// `outpost-migrate WORDS --help`: clap checks the words it reads before the help.
fn help(words: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(words)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn every_command_the_readme_maps_is_one_the_binary_takes() {
    let commands: BTreeSet<String> = table()
        .iter()
        .flat_map(|row| code_spans(&row.cells[3]))
        .map(str::to_owned)
        .collect();
    assert!(commands.len() > 10, "{commands:?}");
    for command in &commands {
        let words: Vec<&str> = command
            .strip_prefix("outpost-migrate ")
            .unwrap_or_else(|| panic!("not an outpost-migrate command: {command}"))
            .split_whitespace()
            // Placeholders (NAME, DISPATCH_ID) stand for the operator's values.
            .filter(|w| {
                w.chars()
                    .any(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
            .collect();
        let out = help(&words);
        assert_eq!(
            out.status.code(),
            Some(SUCCESS),
            "`{command}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
