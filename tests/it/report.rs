//! `report`: the migration's evidence as Markdown and as one self-contained HTML page, from the
//! state and the audit log of real runs (a small runbook with a failure and a rollback, and
//! the rehearsal).

use std::process::{Command, Stdio};

use crate::support::{BIN, Runbook, Test, rehearsal_script};
use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS};

const TOKEN: &str = "tok-SECRET-0123456789";
const API_KEY: &str = "op_test_reportkey0000000000000000";

/// Phase 1 reads a secret, captures a hostile value under a hostile title, asks an approval
/// and a confirmation, echoes the API key and fails with a hint; rollback 1 undoes it.
fn failed_and_rolled_back() -> Test {
    let rb = Runbook::minimal()
        .file(
            "phases/1.yaml",
            &format!(
                r#"title: "Phase 1 <b>bold</b>"
steps:
  - id: read-token
    title: Read the token
    shell: {{ command: printf {TOKEN} }}
    mutates: false
    secret: true
    capture: {{ token: stdout }}
  - id: hostile
    title: "<script>alert('title')</script> | pipe"
    shell: {{ command: "printf '<script>alert(1)</script>'" }}
    mutates: false
    capture: {{ hostile_value: stdout }}
  - id: echo-key
    title: Echo the API key
    shell: {{ command: 'printf %s "$OUTPOST_API_KEY"' }}
    mutates: false
    capture: {{ key_echo: stdout }}
  - id: apply
    title: Apply the change
    approval: true
    shell: {{ command: 'true' }}
  - id: window-open
    confirm: Is the change window open
  - id: health
    title: Health answers
    shell: {{ command: 'echo unhealthy: {{{{ token }}}} >&2; exit 3' }}
    mutates: false
    hint: "Run `outpost-migrate diagnose control-plane`; greeting {{{{ greeting }}}}"
"#
            ),
        )
        .rollback(
            1,
            "",
            "- id: undo\n  title: Undo the change\n  reverts: 1\n  shell: { command: 'true' }\n",
        );
    let t = Test::new().runbook(rb).env("OUTPOST_API_KEY", API_KEY);
    t.run(&[
        "phase",
        "1",
        "--force",
        "--approve",
        "apply",
        "--approve",
        "window-open",
    ])
    .code(STEP_FAILED);
    t.run(&["rollback", "--level", "1", "--yes"]).code(SUCCESS);
    t
}

#[track_caller]
fn assert_no_secret(text: &str) {
    for secret in [TOKEN, API_KEY] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
}

#[test]
fn the_markdown_report_shows_runs_approvals_outcomes_failures_and_rollbacks() {
    let t = failed_and_rolled_back();
    let run = t.run(&["report"]);
    run.code(SUCCESS);
    let md = &run.stdout;
    assert_no_secret(md);
    assert_no_secret(&run.stderr);
    let operator = t.state()["operator"].as_str().unwrap().to_owned();
    let host = operator.rsplit_once('@').unwrap().1.to_owned();
    let state_dir = t.state_dir().display().to_string();
    let runbook_dir = t.runbook_dir().display().to_string();
    let filters = [
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ".to_owned(), "[time]"),
        (r"\b\d+(?:\.\d)?(?:ms|s)\b".to_owned(), "[duration]"),
        (regex::escape(&state_dir), "[state dir]"),
        (regex::escape(&runbook_dir), "[runbook dir]"),
        (regex::escape(&operator), "[operator]"),
        (format!("`{}`", regex::escape(&host)), "`[host]`"),
    ];
    let mut settings = insta::Settings::clone_current();
    for (regex, with) in filters {
        settings.add_filter(&regex, with);
    }
    settings.bind(|| {
        insta::assert_snapshot!("markdown_report_of_a_failed_phase_and_its_rollback", md);
    });
}

#[test]
fn the_html_report_is_one_well_formed_page_with_everything_escaped() {
    let t = failed_and_rolled_back();
    let html = t.path("report.html");
    let run = t.run(&[
        "report",
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
    ]);
    run.code(SUCCESS);
    assert_eq!(run.stdout, "", "the report goes to the file only");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_no_secret(&page);
    let doc = check_html(&page);
    let text = texts(&doc);
    // Hostile titles and values are text, not markup.
    assert!(
        text.contains("<script>alert('title')</script> | pipe"),
        "{text}"
    );
    assert!(text.contains("<script>alert(1)</script>"), "{text}");
    assert!(text.contains("Phase 1 <b>bold</b>"), "{text}");
    assert!(!doc.descendants().any(|n| n.has_tag_name("b")));
    for needle in [
        "Phase 1 <b>bold</b> (phase-1): failed",
        "--approve apply",
        "--approve window-open",
        "token = ***",
        "key_echo = ***",
        "unhealthy: ***",
        "Run `outpost-migrate diagnose control-plane`; greeting hello",
        "Rollback 1 (rollback-1): done",
        "No monitoring recorded.",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // The timeline: a bar for each unit and each step that ran, coloured by its outcome.
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .map(|n| n.attribute("class").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        bars,
        [
            "failed",
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded",
            "failed",
            "done",
            "succeeded"
        ]
    );
}

/// Parses the page (it is well-formed XML), checks it is self-contained, and returns it.
fn check_html(page: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(page, opts)
        .unwrap_or_else(|e| panic!("not well-formed: {e}\n{page}"));
    assert_eq!(doc.root_element().tag_name().name(), "html");
    for node in doc.descendants().filter(|n| n.is_element()) {
        assert!(
            !node.has_tag_name("script") && !node.has_tag_name("link"),
            "{node:?}"
        );
        for attr in ["src", "href"] {
            if let Some(url) = node.attribute(attr) {
                assert!(!url.contains("://"), "an external asset: {attr}={url}");
            }
        }
    }
    assert!(doc.descendants().any(|n| n.has_tag_name("style")));
    assert!(doc.descendants().any(|n| n.has_tag_name("svg")));
    doc
}

/// The page's text, each element's own text on one line.
fn texts(doc: &roxmltree::Document<'_>) -> String {
    doc.descendants()
        .filter(|n| n.is_element() && !n.has_tag_name("style"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_report_of_a_state_directory_with_no_run_is_refused_and_says_so() {
    let t = Test::new();
    t.run(&["report"])
        .code(REFUSED)
        .stderr_has("no run has been recorded in")
        .stderr_has("nothing to report");
    t.run(&["report", "--format", "html"]).code(REFUSED);
}

#[test]
fn a_damaged_audit_line_is_refused_naming_its_number() {
    let t = Test::new();
    t.run(&["preflight"]).code(SUCCESS);
    let audit = t.state_dir().join("audit.jsonl");
    let lines = std::fs::read_to_string(&audit).unwrap().lines().count();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&audit)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"at\": \"torn\n").unwrap();
    t.run(&["report"])
        .code(REFUSED)
        .stderr_has("audit.jsonl is not valid")
        .stderr_has(&format!("line {}", lines + 1));
}

#[test]
fn steps_the_runbook_no_longer_has_are_still_reported() {
    let mut t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: old-step\n  shell: { command: 'echo gone >&2; exit 3' }\n  mutates: false\n",
    ));
    t.run(&["phase", "1", "--force"]).code(STEP_FAILED);
    t.rewrite(Runbook::minimal());
    t.run(&["report"])
        .code(SUCCESS)
        .stdout_has("### Steps this runbook no longer has (`not-in-runbook`): failed")
        .stdout_has("| `old-step` (recorded in phase-1) | failed | 1 |")
        .stdout_has("### `old-step` (recorded in phase-1) (`not-in-runbook`)");
}

/// Runs the binary on a pseudo-terminal (`script`), typing `answer` once it has had time to
/// ask; returns its exit code and what it printed.
fn run_on_a_terminal(t: &Test, args: &[&str], answer: &str) -> (Option<i32>, String) {
    let cmd = t.command(args);
    let line = std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &format!("NO_COLOR=1 {line}"), "/dev/null"])
        .current_dir(t.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) is needed for the terminal test");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        writeln!(stdin, "{answer}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn approvals_and_confirmations_answered_at_the_prompt_are_in_the_report() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .phase(
                1,
                "- id: apply\n  title: Apply the change\n  approval: true\n  shell: { command: 'true' }\n",
            )
            .phase(2, "- id: window-open\n  confirm: Is the change window open\n"),
    );
    for phase in ["1", "2"] {
        let (code, out) = run_on_a_terminal(&t, &["phase", phase, "--force"], "y");
        assert_eq!(code, Some(SUCCESS), "phase {phase}:\n{out}");
    }
    let run = t.run(&["report"]);
    run.code(SUCCESS);
    let operator = t.state()["operator"].as_str().unwrap().to_owned();
    for step in ["`apply` Apply the change", "`window-open` window-open"] {
        let row = format!("| {step} | `{operator}` | answered yes at the prompt |");
        assert!(
            run.stdout.contains(&row),
            "missing {row:?} in:\n{}",
            run.stdout
        );
    }
}

/// `report` on a kept rehearsal's state directory, with the embedded runbook.
fn report_of(state_dir: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["report", "--state-dir", state_dir])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_rehearsals_report_shows_every_step_that_ran_its_operator_and_approvals() {
    let (code, out) = rehearsal_script("rehearse.py", &["--keep"]);
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("rehearsal files kept in "))
        .unwrap_or_else(|| panic!("no kept directory in:\n{out}"))
        .trim()
        .to_owned();
    let state_dir = format!("{dir}/state");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{state_dir}/state.json")).unwrap())
            .unwrap();
    let md = report_of(&state_dir, &[]);
    let html = report_of(&state_dir, &["--format", "html"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, SUCCESS, "{out}");
    assert_eq!((md.0, html.0), (SUCCESS, SUCCESS), "{}\n{}", md.1, html.1);
    let (md, html) = (md.1, html.1);
    // The rehearsal's API key (rehearse.py's API_KEY) never appears.
    let key = "op_test_rehearsal0000000000000000";
    assert!(!md.contains(key) && !html.contains(key));
    // Every step the state records, in its unit's table, with its outcome.
    let steps = state["steps"].as_object().unwrap();
    assert!(steps.len() > 50, "{}", steps.len());
    for (id, step) in steps {
        let status = step["status"].as_str().unwrap();
        assert!(
            md.lines()
                .any(|l| l.starts_with(&format!("| `{id}` "))
                    && l.contains(&format!(" | {status} | "))),
            "step {id} ({status}) is missing from:\n{md}"
        );
    }
    for unit in [
        "preflight",
        "phase-1",
        "phase-5",
        "verify",
        "rollback-1",
        "rollback-3",
    ] {
        assert!(
            md.contains(&format!("(`{unit}`): done")),
            "{unit} in:\n{md}"
        );
    }
    // Who: the AWS caller the account guard recorded; approvals given with --yes.
    let operator = state["operator"].as_str().unwrap();
    assert!(operator.starts_with("arn:aws:"), "{operator}");
    assert!(md.contains(&format!("`{operator}`")), "{md}");
    assert!(md.contains("| --yes |"), "{md}");
    assert!(
        md.contains("`outpost-migrate run ") && md.contains(" --state-dir "),
        "the commands run: {md}"
    );
    assert!(md.contains("No step failed."), "{md}");
    let doc = check_html(&html);
    let text = texts(&doc);
    for id in steps.keys() {
        assert!(
            text.contains(id.as_str()),
            "step {id} is missing from the page"
        );
    }
    let bars = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
    assert!(bars > steps.len(), "a bar per unit and step: {bars}");
}
