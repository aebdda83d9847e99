//! Bounds on what a runbook, its vars and the servers it talks to can make the tool do: each
//! runaway input is a clear error (located, or naming the step), never a crash or a machine
//! out of memory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use outpost_migrate::exit_codes::{REFUSED, STEP_FAILED, SUCCESS, USAGE_OR_RUNBOOK};

use crate::support::{Runbook, Test};

#[test]
fn a_deeply_nested_jmespath_is_a_located_error_not_a_stack_overflow() {
    let deep = "!".repeat(3000);
    for (field, step) in [
        (
            "capture",
            format!(
                "- id: deep\n  shell: {{ command: 'true' }}\n  capture: {{ x: \"{deep}a\" }}\n"
            ),
        ),
        (
            "expect",
            format!(
                "- id: deep\n  shell: {{ command: 'true' }}\n  expect:\n    - {{ query: \"{deep}a\", equals: 1 }}\n"
            ),
        ),
        (
            "show",
            format!("- id: deep\n  shell: {{ command: 'true' }}\n  show: \"{deep}a\"\n"),
        ),
        (
            "until",
            format!(
                "- id: deep\n  shell: {{ command: 'true' }}\n  retry:\n    attempts: 2\n    interval: 1s\n    until:\n      - {{ query: \"{deep}a\", equals: 1 }}\n"
            ),
        ),
        (
            "verify",
            format!(
                "- id: deep\n  shell: {{ command: 'true' }}\n  verify:\n    shell: {{ command: 'true' }}\n    mutates: false\n    expect:\n      - {{ query: \"{deep}a\", equals: 1 }}\n"
            ),
        ),
    ] {
        let t = Test::new().runbook(Runbook::minimal().phase(1, &step));
        let run = t.run(&["validate"]);
        run.code(USAGE_OR_RUNBOOK)
            .stderr_has("nests 3000 levels deep; the limit is 64")
            .stderr_has("phases/1.yaml:");
        assert!(
            run.stderr.contains("(step `deep"),
            "{field}: no step named\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_for_each_list_over_the_limit_is_a_located_error() {
    let items: Vec<String> = (0..1001).map(|i| format!("i{i}")).collect();
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: many\n  for_each: [{}]\n  shell: {{ command: 'true' }}\n",
            items.join(", ")
        ),
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("`for_each` has 1001 items; the limit is 1000")
        .stderr_has("--> ")
        .stderr_has("phases/1.yaml:4:15");
}

#[test]
fn a_templated_for_each_is_bounded_before_it_is_built() {
    let numbers: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let vars = format!("  numbers: [{}]\n", numbers.join(", "));
    // `['x'] * 100000000` once took `plan` to 5.6 GB: the list is refused by its length.
    for (items, count) in [
        ("{{ ['x'] * 100000000 }}", "100000000"),
        ("{{ numbers }}", "1001"),
    ] {
        let t = Test::new().runbook(Runbook::minimal().vars(&vars).phase(
            1,
            &format!("- id: many\n  for_each: \"{items}\"\n  shell: {{ command: 'true' }}\n"),
        ));
        t.run(&["validate"]).code(SUCCESS);
        t.run(&["plan", "phase", "1"])
            .code(USAGE_OR_RUNBOOK)
            .stderr_has("`for_each` of step `many`")
            .stderr_has(&format!("it has {count} items; the limit is 1000"));
    }
}

#[test]
fn a_template_that_builds_too_much_fails_its_step() {
    // A 100 MB string, or a lazy list of 100 million items turned into data.
    for (template, message) in [
        ("{{ 'x' * 100000000 }}", "engine ran out of fuel"),
        ("{{ [['x'] * 100000000] }}", "the value is too large"),
    ] {
        let t = Test::new().runbook(Runbook::minimal().phase(
            1,
            &format!(
                "- id: big\n  http: {{ url: \"http://127.0.0.1:9/\", json: \"{template}\" }}\n"
            ),
        ));
        t.run(&["phase", "1", "--force"])
            .code(STEP_FAILED)
            .stdout_has("big")
            .stdout_has(message);
    }
}

#[test]
fn for_each_items_with_one_id_are_refused() {
    // `"1"` is named by itself, `1` by its position: both would be step `dup.1`, and the
    // second was skipped as already succeeded.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: dup\n  for_each: [\"1\", 1]\n  shell: { command: 'echo {{ item }} >> seen' }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("`for_each` items \"1\" and 1 would both be step `dup.1`")
        .stderr_has("phases/1.yaml:4:21");
    assert!(!t.path("seen").exists());

    // Items that meet only once rendered are refused when the plan is made.
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  first: a\n")
            .phase(
                1,
                "- id: dup\n  for_each: [\"{{ first }}\", a]\n  shell: { command: 'echo {{ item }} >> seen' }\n",
            ),
    );
    t.run(&["phase", "1", "--force"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("items \"a\" and \"a\" would both be step `dup.a`");
    assert!(!t.path("seen").exists());
}

#[test]
fn a_changed_item_is_refused_showing_the_item_and_two_different_hashes() {
    // The step's definition is the same; only the item its var yields changed, so the step's
    // own hash (all that was shown) read the same twice.
    let t = Test::new().runbook(Runbook::minimal().vars("  objs: [{ n: 1 }]\n").phase(
        1,
        "- id: each\n  for_each: \"{{ objs }}\"\n  shell: { command: 'true' }\n",
    ));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    let run = t.run(&["phase", "1", "--force", "--var", r#"objs=[{"n": 2}]"#]);
    run.code(REFUSED);
    let shown = run
        .stderr
        .split("`each.0` (ran as ")
        .nth(1)
        .and_then(|rest| rest.split_once(')'))
        .map(|(inside, _)| inside.to_owned())
        .unwrap_or_else(|| panic!("no refusal for each.0:\n{}", run.stderr));
    let (before, after) = shown
        .split_once(", now ")
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(before.ends_with("with item {\"n\":1}"), "{shown}");
    assert!(after.ends_with("with item {\"n\":2}"), "{shown}");
    let hash = |s: &str| s.split(' ').next().unwrap().to_owned();
    assert_ne!(hash(before), hash(after), "{shown}");
}

#[test]
fn yaml_1_1_booleans_stay_text_in_keys_and_values() {
    let t = Test::new().runbook(
        Runbook::minimal()
            .vars("  n: en\n  y: why\n  no: non\n  yes: oui\n  on: sur\n  off: hors\n  answer: no\n")
            .phase(
                1,
                "- id: words\n  shell: { command: 'echo {{ n }} {{ y }} {{ no }} {{ yes }} {{ on }} {{ off }} {{ answer }} > words' }\n",
            ),
    );
    t.run(&["validate"]).code(SUCCESS);
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert_eq!(
        std::fs::read_to_string(t.path("words")).unwrap(),
        "en why non oui sur hors no\n"
    );
}

/// A server answering every request with `body_len` bytes of `x`; `announced` sends a
/// Content-Length (and then only a little of the body), otherwise the body is chunked.
fn body_server(body_len: usize, announced: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let chunk = vec![b'x'; 64 * 1024];
            if announced {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(&chunk);
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            let mut left = body_len;
            while left > 0 {
                let n = left.min(chunk.len());
                if write!(stream, "{n:x}\r\n")
                    .and_then(|()| stream.write_all(&chunk[..n]))
                    .and_then(|()| stream.write_all(b"\r\n"))
                    .is_err()
                {
                    break;
                }
                left -= n;
            }
            let _ = stream.write_all(b"0\r\n\r\n");
        }
    });
    url
}

#[test]
fn an_http_body_over_max_body_fails_the_step_unread() {
    // An 800 MB body, announced: refused by its length, before any of it is read.
    let url = body_server(800_000_000, true);
    let t = Test::new().runbook(
        Runbook::minimal().phase(1, &format!("- id: big\n  http: {{ url: \"{url}/\" }}\n")),
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("the body is larger than 16.0 MiB (`max_body`)");

    // A body that does not say its length is read up to the cap, and no further.
    let url = body_server(17 * 1024 * 1024, false);
    let t = Test::new().runbook(
        Runbook::minimal().phase(1, &format!("- id: big\n  http: {{ url: \"{url}/\" }}\n")),
    );
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("the body is larger than 16.0 MiB (`max_body`)");

    // `max_body` raises the cap for one step.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!("- id: big\n  http: {{ url: \"{url}/\", max_body: 32MiB }}\n  capture: {{ size: length(body) }}\n"),
    ));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
    assert_eq!(t.step_state("big")["captures"]["size"], 17 * 1024 * 1024);
}

#[test]
fn max_body_must_be_a_size_within_the_limit() {
    for (value, message) in [
        ("lots", "`max_body: lots` is not a size"),
        ("2GiB", "`max_body` must be between 1 byte and 1.0 GiB"),
    ] {
        let t = Test::new().runbook(Runbook::minimal().phase(
            1,
            &format!("- id: big\n  http: {{ url: \"http://127.0.0.1:9/\", max_body: {value} }}\n"),
        ));
        t.run(&["validate"])
            .code(USAGE_OR_RUNBOOK)
            .stderr_has(message)
            .stderr_has("phases/1.yaml:4:");
    }
}

#[test]
fn a_command_printing_more_than_the_output_limit_fails_its_step() {
    // 20 MB of output: past the 16 MiB a step keeps; the pipe is drained, so the command ends
    // and the step fails at once instead of holding it all in memory or hanging.
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: loud\n  shell: { command: 'head -c 20000000 /dev/zero' }\n  mutates: false\n",
    ));
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("printed more than 16 MiB on stdout");
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: loud-err\n  shell: { command: 'head -c 20000000 /dev/zero >&2; true' }\n  mutates: false\n",
    ));
    t.run(&["phase", "1", "--force"])
        .code(STEP_FAILED)
        .stdout_has("printed more than 16 MiB on stderr");
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: within\n  shell: { command: 'head -c 1000000 /dev/zero | wc -c' }\n  mutates: false\n  expect: [{ query: stdout, contains: '1000000' }]\n",
    ));
    t.run(&["phase", "1", "--force"]).code(SUCCESS);
}
