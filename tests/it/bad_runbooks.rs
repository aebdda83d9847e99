//! Every malformed runbook in tests/data/bad-runbooks gives a located error, exit code 2 and
//! no panic. Each case is a few files laid over the minimal runbook, with `expect.txt` saying
//! where the error points and what it says.

use std::path::Path;

use outpost_migrate::exit_codes::{SUCCESS, USAGE_OR_RUNBOOK};

use crate::support::{Runbook, Test};

fn overlay(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "expect.txt" || name == "GENERATED" {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            overlay(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[test]
fn every_bad_runbook_is_a_located_error_with_exit_code_2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad-runbooks");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} bad runbooks", cases.len());
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expect = std::fs::read_to_string(case.join("expect.txt"))
            .unwrap_or_else(|_| panic!("{name}: no expect.txt"));
        let field = |key: &str| {
            expect
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name}: no {key}"))
        };
        let t = Test::new().runbook(Runbook::minimal());
        t.run(&["validate"]).code(SUCCESS);
        overlay(&case, &t.runbook_dir());
        if case.join("GENERATED").exists() {
            // 50 MB of valid-looking steps: refused by size before parsing.
            let step = "  - id: x\n    shell: { command: 'true' }\n";
            let body = format!(
                "title: big\nsteps:\n{}",
                step.repeat(50 * 1024 * 1024 / step.len())
            );
            std::fs::write(t.runbook_dir().join("phases/1.yaml"), body).unwrap();
        }
        let out = std::process::Command::new(crate::support::BIN)
            .args(["validate", "--runbook"])
            .arg(t.runbook_dir())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr)
            .replace(&format!("{}/", t.runbook_dir().display()), "");
        assert_eq!(
            out.status.code(),
            Some(USAGE_OR_RUNBOOK),
            "{name}:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name} panicked:\n{stderr}");
        assert!(
            stderr.contains(&format!("--> {}", field("location:"))),
            "{name}: not at {}:\n{stderr}",
            field("location:")
        );
        assert!(
            stderr.contains(field("message:")),
            "{name}: no {:?}:\n{stderr}",
            field("message:")
        );
        assert!(stderr.contains("= hint:"), "{name}: no hint:\n{stderr}");
    }
}
