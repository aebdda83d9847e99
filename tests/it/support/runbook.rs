//! The runbook builder: a runbook on disk with every unit present and any file replaceable.

use std::collections::BTreeMap;
use std::path::Path;

/// A runbook on disk: every unit present with a harmless step, any file replaceable.
#[derive(Clone)]
pub struct Runbook {
    pub files: BTreeMap<String, String>,
}

const UNITS: &[(&str, &str)] = &[
    ("checks/preflight.yaml", "pre"),
    ("phases/1.yaml", "p1"),
    ("phases/2.yaml", "p2"),
    ("phases/3.yaml", "p3"),
    ("phases/4.yaml", "p4"),
    ("phases/5.yaml", "p5"),
    ("checks/verify.yaml", "ver"),
    ("phases/r1.yaml", "r1"),
    ("phases/r2.yaml", "r2"),
    ("phases/r3.yaml", "r3"),
];

impl Runbook {
    pub fn minimal() -> Self {
        let mut files = BTreeMap::new();
        files.insert(
            "runbook.yaml".to_string(),
            Self::root("  greeting: hello\n"),
        );
        for (file, id) in UNITS {
            let content = if file.starts_with("checks/") {
                format!(
                    "title: {id} checks\ngroups:\n  - title: Group\n    steps:\n      - id: {id}-noop\n        shell: {{ command: \"true\" }}\n        mutates: false\n"
                )
            } else {
                format!(
                    "title: {id} unit\nsteps:\n  - id: {id}-noop\n    shell: {{ command: \"true\" }}\n    mutates: false\n"
                )
            };
            files.insert(file.to_string(), content);
        }
        Runbook { files }
    }

    fn root(vars: &str) -> String {
        format!(
            "format: 1\nname: test-runbook\nvars:\n{vars}preflight: checks/preflight.yaml\nphases:\n  - {{ phase: 1, file: phases/1.yaml }}\n  - {{ phase: 2, file: phases/2.yaml }}\n  - {{ phase: 3, file: phases/3.yaml }}\n  - {{ phase: 4, file: phases/4.yaml }}\n  - {{ phase: 5, file: phases/5.yaml }}\nverify: checks/verify.yaml\nrollback:\n  - {{ level: 1, file: phases/r1.yaml }}\n  - {{ level: 2, file: phases/r2.yaml }}\n  - {{ level: 3, file: phases/r3.yaml }}\n"
        )
    }

    /// Replaces the `vars:` block (YAML lines indented by two spaces).
    pub fn vars(mut self, vars: &str) -> Self {
        self.files.insert("runbook.yaml".into(), Self::root(vars));
        self
    }

    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.files.insert(name.into(), content.into());
        self
    }

    /// A phase file (1–5) with these steps (a YAML list at column 0).
    pub fn phase(self, n: u8, steps: &str) -> Self {
        self.file(
            &format!("phases/{n}.yaml"),
            &format!("title: Phase {n}\nsteps:\n{}", indent(steps, 2)),
        )
    }

    pub fn rollback(self, n: u8, extra: &str, steps: &str) -> Self {
        self.file(
            &format!("phases/r{n}.yaml"),
            &format!("title: Rollback {n}\n{extra}steps:\n{}", indent(steps, 2)),
        )
    }

    pub fn preflight(self, groups: &str) -> Self {
        self.file(
            "checks/preflight.yaml",
            &format!("title: Pre-flight\ngroups:\n{}", indent(groups, 2)),
        )
    }

    pub fn verify(self, groups: &str) -> Self {
        self.file(
            "checks/verify.yaml",
            &format!("title: Verify\ngroups:\n{}", indent(groups, 2)),
        )
    }

    pub fn write(&self, dir: &Path) {
        for (name, content) in &self.files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
    }
}

pub fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}
