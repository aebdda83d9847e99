//! Unit tests of the `file` kind: previews, edits, checks.
use super::*;

#[test]
fn a_preview_diffs_the_file_as_it_is_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.ts");
    fs::write(&path, "a\nprovider: 'ssm',\nz\n").unwrap();
    let edits = [Edit::Replace {
        replace: "provider: 'ssm'".into(),
        with: "provider: 'http'".into(),
    }];
    let diff = preview_edit(&path, &edits).unwrap();
    assert!(
        diff.contains("-provider: 'ssm',\n+provider: 'http',"),
        "{diff}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "a\nprovider: 'ssm',\nz\n"
    );
    let missing = preview_edit(&dir.path().join("gone.ts"), &edits).unwrap_err();
    assert!(missing.contains("does not exist"), "{missing}");
    fs::write(&path, "other\n").unwrap();
    let mismatch = preview_edit(&path, &edits).unwrap_err();
    assert!(mismatch.contains("matches nothing"), "{mismatch}");
}

#[test]
fn edits_apply_and_are_idempotent() {
    let text = "provider: 'ssm',\ninstanceId: 'mi-1',\n";
    let (once, _) = apply(
        text,
        &Edit::Replace {
            replace: "provider: 'ssm'".into(),
            with: "provider: 'http'".into(),
        },
    )
    .unwrap();
    let (once, _) = apply(
        &once,
        &Edit::EnsureLine {
            ensure_line: "endpoint: 'x',".into(),
        },
    )
    .unwrap();
    let (once, _) = apply(
        &once,
        &Edit::RemoveLine {
            remove_line: "instanceId: 'mi-1',".into(),
        },
    )
    .unwrap();
    assert_eq!(once, "provider: 'http',\nendpoint: 'x',\n");
    let (twice, _) = apply(
        &once,
        &Edit::EnsureLine {
            ensure_line: "endpoint: 'x',".into(),
        },
    )
    .unwrap();
    assert_eq!(once, twice);
}

#[test]
fn a_check_names_each_edit_that_would_fail_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.ts");
    fs::write(&path, "provider: 'ssm',\n").unwrap();
    let edits = [
        Edit::Replace {
            replace: "provider: 'ssm'".into(),
            with: "provider: 'http'".into(),
        },
        Edit::RemoveLine {
            remove_line: "instanceId: 'mi-1',".into(),
        },
    ];
    let out = check_edits("edit", &path, &edits).unwrap();
    assert_eq!(
        out["mismatches"],
        json!(["edit 2: there is no line `instanceId: 'mi-1',`"])
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "provider: 'ssm',\n");
    // An edit made already (the file after the phase ran) is no mismatch.
    fs::write(&path, "provider: 'http',\n").unwrap();
    let out = check_edits("edit", &path, &edits[..1]).unwrap();
    assert_eq!(out["mismatches"], json!([]));
    let gone = check_edits("edit", &dir.path().join("gone.ts"), &edits).unwrap_err();
    assert!(gone.message.contains("does not exist"), "{}", gone.message);
    assert!(!dir.path().join("gone.ts").exists());
}

#[test]
fn an_edit_says_whether_it_found_its_target() {
    let replace = Edit::Replace {
        replace: "provider: 'ssm'".into(),
        with: "provider: 'http'".into(),
    };
    assert!(apply("provider: 'ssm'\n", &replace).unwrap().1);
    assert!(!apply("provider: \"ssm\"\n", &replace).unwrap().1);
    assert!(already_there("provider: 'http'\n", &replace));
    let remove = Edit::RemoveLine {
        remove_line: "a".into(),
    };
    assert!(apply("a\nb\n", &remove).unwrap().1);
    assert!(!apply("b\n", &remove).unwrap().1);
}
