//! The break matrix (rehearsal/break_matrix.py): every check of the shipped runbook (a
//! read-only step with expectations, as `plan --output json` lists them) fails with its hint in
//! a rehearsal world broken for it, and a check without a breaking case fails the matrix.

use std::path::Path;

use outpost_migrate::exit_codes::SUCCESS;

use crate::support::{Runbook, Test, rehearsal_script};

/// Copies the shipped runbook (runbook.yaml, checks/, phases/) into `dir`.
fn copy_shipped_runbook(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(root.join("runbook.yaml"), dir.join("runbook.yaml")).unwrap();
    for sub in ["checks", "phases"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(sub).join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn plan_json_counts_each_steps_expectations_and_says_whether_it_has_a_hint() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        r#"- id: polled
  shell: { command: "echo ok" }
  mutates: false
  retry: { attempts: 2, interval: 100ms, until: [{ query: stdout, matches: ok }] }
  expect: [{ query: stdout, contains: ok }, { query: exit_code, equals: 0 }]
  hint: Check the thing.
- id: bare
  shell: { command: "true" }
  mutates: false
"#,
    ));
    let run = t.run(&["plan", "phase", "1", "--output", "json"]);
    run.code(SUCCESS);
    let plan: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let steps = &plan["units"][0]["steps"];
    assert_eq!(steps[0]["id"], "polled");
    assert_eq!(steps[0]["expectations"], 3);
    assert_eq!(steps[0]["has_hint"], true);
    assert_eq!(steps[1]["id"], "bare");
    assert_eq!(steps[1]["expectations"], 0);
    assert_eq!(steps[1]["has_hint"], false);
}

#[test]
fn a_check_without_a_breaking_case_or_a_hint_fails_the_break_matrix() {
    let t = Test::new();
    let dir = t.path("shipped");
    copy_shipped_runbook(&dir);
    let dir_arg = dir.to_str().unwrap();
    let (code, text) =
        rehearsal_script("break_matrix.py", &["--list-missing", "--runbook", dir_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(" 0 problems"), "{text}");

    // A new pre-flight check, with neither a case nor a hint.
    let preflight = dir.join("checks/preflight.yaml");
    let mut yaml = std::fs::read_to_string(&preflight).unwrap();
    yaml.push_str(
        r#"
  - title: Added later
    steps:
      - id: cluster-named
        title: "The cluster is named {{ cluster }}"
        aws:
          service: ecs
          operation: DescribeClusters
          input: { clusters: ["{{ cluster }}"] }
        expect:
          - query: "clusters[0].clusterName"
            equals: "{{ cluster }}"
"#,
    );
    // And a check renamed: its case names no check any more.
    let yaml = yaml.replace("- id: ecs-cluster-active", "- id: ecs-cluster-up");
    std::fs::write(&preflight, yaml).unwrap();
    let (code, text) =
        rehearsal_script("break_matrix.py", &["--list-missing", "--runbook", dir_arg]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("check `cluster-named` (preflight) has no breaking case"),
        "{text}"
    );
    assert!(
        text.contains("check `cluster-named` (preflight) has no hint"),
        "{text}"
    );
    assert!(
        text.contains("check `ecs-cluster-up` (preflight) has no breaking case"),
        "{text}"
    );
    assert!(
        text.contains("case `ecs-cluster-active` names no check of the runbook"),
        "{text}"
    );
}

/// The whole matrix: one rehearsal world migrated and rolled back green; for each check, the
/// check passes in the green world, fails with its hint once the world is broken for it, and
/// the world is repaired.
#[test]
fn every_check_of_the_shipped_runbook_fails_with_its_hint_in_a_world_broken_for_it() {
    let (code, text) = rehearsal_script("break_matrix.py", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("every check of the runbook fails with its hint in a world broken for it"),
        "{text}"
    );
    // "N checks, N cases, 0 problems": one case per check, each seen failing.
    let line = text.lines().find(|l| l.contains(" checks, ")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], words[2], "{line}");
    assert_eq!(words[4], "0", "{line}");
    let cases: usize = words[0].parse().unwrap();
    assert!(cases >= 62, "{line}");
    assert_eq!(
        text.matches("\n✔ ").count() + usize::from(text.starts_with("✔ ")),
        cases,
        "{text}"
    );
}
