//! README promises that had no test of their own: `--retry-in-doubt` runs a step again, `-q`
//! shows only failures and the final line, `--jobs` bounds the checks running at once, a JSON
//! `--var` keeps its type (a number, a list, a boolean), `include:` brings in a file's steps,
//! an HTTP `HEAD` is read-only (a dry run sends it), and a changed step's refusal names both
//! hashes.

use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS};

use crate::support::{Runbook, Server, Test};

#[test]
fn retry_in_doubt_runs_a_step_left_running_again() {
    let t = crate::resume::a_step_left_running();
    t.run(&["phase", "1", "--force"]).code(REFUSED);
    t.run(&["phase", "1", "--force", "--retry-in-doubt", "apply"])
        .code(SUCCESS)
        .stdout_has("✔ apply");
    assert_eq!(
        std::fs::read_to_string(t.path("applied")).unwrap(),
        "applied\napplied\n",
        "the step ran a second time"
    );
    assert_eq!(t.step_state("apply")["status"], "succeeded");
}

#[test]
fn quiet_shows_only_failures_and_the_final_line() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: good\n  shell: { command: 'true' }\n- id: bad\n  shell: { command: 'echo nope >&2; exit 3' }\n",
    ));
    let run = t.run(&["phase", "1", "--force", "-q"]);
    run.code(STEP_FAILED)
        .stdout_has("bad")
        .stdout_has("exited with 3: nope")
        .stdout_has("failed at step `bad`")
        .stdout_lacks("good");
    let loud = t.run(&["phase", "1", "--force"]);
    loud.code(STEP_FAILED).stdout_has("good");
}

/// A pre-flight of `n` checks, each writing `s` when it starts and `e` when it ends to one
/// event file; a check waits (up to 10 s) until `together` checks have started, so checks
/// allowed to run at once do.
fn concurrent_checks(n: usize, together: usize) -> Runbook {
    let steps: String = (0..n)
        .map(|i| {
            format!(
                "    - id: c{i}\n      shell: {{ command: 'echo s >> ev; i=0; while [ $(grep -c s ev) -lt {together} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; echo e >> ev' }}\n      mutates: false\n"
            )
        })
        .collect();
    Runbook::minimal().preflight(&format!("- title: Checks\n  steps:\n{steps}"))
}

/// The most checks running at once, from the event file.
fn most_at_once(t: &Test) -> usize {
    let mut running = 0usize;
    let mut most = 0;
    for line in std::fs::read_to_string(t.path("ev")).unwrap().lines() {
        if line == "s" {
            running += 1;
        } else {
            running -= 1;
        }
        most = most.max(running);
    }
    most
}

#[test]
fn jobs_bounds_the_checks_running_at_once() {
    let t = Test::new().runbook(concurrent_checks(5, 2));
    t.run(&["preflight", "--jobs", "2"]).code(SUCCESS);
    assert_eq!(most_at_once(&t), 2, "two at once, never three");
    let t = Test::new().runbook(concurrent_checks(3, 1));
    t.run(&["preflight", "--jobs", "1"]).code(SUCCESS);
    assert_eq!(most_at_once(&t), 1, "one at a time");
}

#[test]
fn a_json_var_keeps_its_type() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  n: 1\n  items: []\n  enabled: true\n")
            .phase(
                1,
                "- id: sum\n  shell: { command: 'echo {{ n + 1 }} > sum' }\n- id: each\n  for_each: \"{{ items }}\"\n  shell: { command: 'echo {{ item }} >> each' }\n- id: flagged\n  when: enabled\n  shell: { command: 'touch flagged' }\n",
            ),
    );
    t.run(&[
        "phase",
        "1",
        "--force",
        "--var",
        "n=41",
        "--var",
        r#"items=["a","b"]"#,
        "--var",
        "enabled=false",
    ])
    .code(SUCCESS);
    assert_eq!(std::fs::read_to_string(t.path("sum")).unwrap(), "42\n");
    assert_eq!(std::fs::read_to_string(t.path("each")).unwrap(), "a\nb\n");
    // `false` is the boolean (the text "false" would be true).
    assert!(!t.path("flagged").exists(), "enabled=false ran the step");
    assert_eq!(t.step_state("flagged")["status"], "skipped");
}

#[test]
fn include_brings_in_the_steps_of_a_file() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .phase(
                1,
                "- id: first\n  shell: { command: 'echo first >> order' }\n- include: more.yaml\n- id: last\n  shell: { command: 'echo last >> order' }\n",
            )
            .file(
                "more.yaml",
                "steps:\n  - id: included\n    shell: { command: 'echo included >> order' }\n",
            ),
    );
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_has("✔ included");
    assert_eq!(
        std::fs::read_to_string(t.path("order")).unwrap(),
        "first\nincluded\nlast\n"
    );
}

#[test]
fn an_http_head_is_read_only_and_runs_in_a_dry_run() {
    let server = Server::start();
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars(&format!("  api_url: {}\n", server.url))
            .phase(
                1,
                "- id: head\n  http: { method: HEAD, url: \"{{ api_url }}/health\" }\n- id: post\n  http: { method: POST, url: \"{{ api_url }}/counter\" }\n",
            ),
    );
    t.run(&["phase", "1", "--force", "--dry-run"])
        .code(SUCCESS)
        .stdout_has("✔ head");
    assert_eq!(server.count("HEAD", "/health"), 1, "the HEAD was sent");
    assert_eq!(server.count("POST", "/counter"), 0, "the POST was not");
}

#[test]
fn a_changed_step_is_refused_naming_both_hashes() {
    let version = |v: &str| {
        Runbook::minimal().phase(
            1,
            &format!("- id: apply\n  shell: {{ command: echo {v} >> applied }}\n"),
        )
    };
    // Each version's hash, as a run of it records it.
    let hash_of = |v: &str| {
        let t = Test::new().runbook(version(v));
        t.run(&["phase", "1", "--force"]).code(SUCCESS);
        t.step_state("apply")["hash"].as_str().unwrap().to_owned()
    };
    let (old, new) = (hash_of("v1"), hash_of("v2"));
    assert_ne!(old, new);
    let mut t = Test::new().runbook(version("v1"));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    t.rewrite(version("v2"));
    let refused = t.run(&["phase", "1", "--force"]);
    refused.code(REFUSED);
    for hash in [&old, &new] {
        assert!(
            refused.stderr.contains(&hash[..12]),
            "the refusal lacks {}:\n{}",
            &hash[..12],
            refused.stderr
        );
    }
}
