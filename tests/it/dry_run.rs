//! A dry run that cannot write: `mutates: false` cannot vouch for a write, `plan` points out
//! the steps a dry run runs on the runbook's word, and the shipped terraform steps leave the
//! operator's module directory untouched and take no state lock.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use outpost_migrate::exit_codes::{SETUP, SUCCESS, USAGE_OR_RUNBOOK};
use serde_json::json;

use crate::support::{Moto, Runbook, Server, Test};

/// Every file and directory under `dir` with its bytes (directories as `None`): two equal
/// trees are byte-identical.
pub(crate) fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                pending.push(path);
                out.insert(rel, None);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// The names in a tree, for readable assertion messages.
fn names(tree: &BTreeMap<PathBuf, Option<Vec<u8>>>) -> Vec<String> {
    tree.keys().map(|p| p.display().to_string()).collect()
}

/// Asserts `phase 1 --dry-run`'s `validate` refusal: exit 2, located, with the hint.
#[track_caller]
fn refused_at(t: &Test, location: &str, why: &str) {
    let run = t.run(&["phase", "1", "--dry-run"]);
    run.code(USAGE_OR_RUNBOOK)
        .stderr_has("`mutates: false` on a step that writes")
        .stderr_has(why)
        .stderr_has("hint: a dry run runs read-only steps")
        // Only the step's own problem: it is not dropped, so nothing cascades from it.
        .stderr_has("the runbook is invalid: 1 problem found");
    let located = format!("{}/{location}", t.runbook_dir().display());
    run.stderr_has(&located);
}

#[test]
fn mutates_false_on_a_file_edit_is_refused_and_the_file_is_untouched() {
    let t = Test::new();
    let config = t.path("config.ts");
    std::fs::write(&config, "provider: 'ssm',\n").unwrap();
    let t = t.runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: edit\n  file: {{ path: \"{}\", edits: [{{ replace: \"'ssm'\", with: \"'http'\" }}] }}\n  mutates: false\n",
            config.display()
        ),
    ));
    refused_at(&t, "phases/1.yaml:5:5", "a `file` step edits a file");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "provider: 'ssm',\n"
    );
}

#[test]
fn mutates_false_on_an_http_post_is_refused_and_nothing_is_sent() {
    let server = Server::start();
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: bump\n  http: {{ method: POST, url: \"{}/counter\" }}\n  mutates: false\n",
            server.url
        ),
    ));
    refused_at(
        &t,
        "phases/1.yaml:5:5",
        "an HTTP POST asks the server to change something",
    );
    assert_eq!(server.count("POST", "/counter"), 0);
    assert_eq!(server.counter(), 0);

    // The safe methods may still be declared read-only (OPTIONS reads by default too).
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: look\n  http: {{ method: OPTIONS, url: \"{}/counter\", status: [404, 405] }}\n  mutates: false\n",
            server.url
        ),
    ));
    t.run(&["validate"]).code(SUCCESS);
}

#[test]
fn mutates_false_on_a_route53_change_is_refused_and_the_records_stay() {
    let moto = crate::aws::healthy();
    let before = crate::aws::records(&moto);
    let steps = "- id: zone\n  aws: { service: route53, operation: ListHostedZonesByName, input: { DNSName: outpost.dev } }\n  capture: { zone_id: \"HostedZones[0].Id\" }\n\
                 - id: plant\n  aws:\n    service: route53\n    operation: ChangeResourceRecordSets\n    input:\n      HostedZoneId: \"{{ zone_id }}\"\n      ChangeBatch: { Changes: [{ Action: CREATE, ResourceRecordSet: { Name: pwned.outpost.dev, Type: TXT, TTL: 60, ResourceRecords: [{ Value: '\"x\"' }] } }] }\n  mutates: false\n";
    let t = Test::new()
        .runbook(Runbook::minimal().phase(1, steps))
        .aws(&moto);
    refused_at(
        &t,
        "phases/1.yaml:13:5",
        "`ChangeResourceRecordSets` is not a read",
    );
    assert_eq!(crate::aws::records(&moto), before);
}

#[test]
fn a_verify_probe_cannot_declare_a_write_read_only() {
    let server = Server::start();
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        &format!(
            "- id: bump\n  http: {{ method: POST, url: \"{0}/counter\" }}\n  verify:\n    http: {{ method: POST, url: \"{0}/counter\" }}\n    mutates: false\n",
            server.url
        ),
    ));
    refused_at(
        &t,
        "phases/1.yaml:7:7",
        "an HTTP POST asks the server to change something",
    );
    assert_eq!(server.count("POST", "/counter"), 0);
}

#[test]
fn plan_marks_steps_read_only_only_by_declaration() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: look\n  shell: { command: \"ls\" }\n  mutates: false\n\
         - id: ask\n  http: { url: \"http://127.0.0.1:9/health\" }\n  mutates: false\n",
    ));
    let run = t.run(&["plan", "phase", "1"]);
    run.code(SUCCESS);
    let line = |id: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(&format!(" {id}  ")))
            .unwrap_or_else(|| panic!("no line for {id}:\n{}", run.stdout))
            .to_owned()
    };
    assert!(
        line("look").contains("[read-only (declared)]"),
        "{}",
        line("look")
    );
    assert!(!line("ask").contains("declared"), "{}", line("ask"));

    let run = t.run(&["plan", "phase", "1", "--output", "json"]);
    run.code(SUCCESS);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let steps = plan["units"][0]["steps"].as_array().unwrap();
    let declared: BTreeMap<&str, &serde_json::Value> = steps
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), &s["read_only_declared"]))
        .collect();
    assert_eq!(declared["look"], &json!(true));
    assert_eq!(declared["ask"], &json!(false));
}

#[test]
fn templates_see_the_run_and_its_private_scratch_directory_which_is_removed() {
    let t = Test::new();
    let tmp = t.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let t = t.env("TMPDIR", &tmp.display().to_string()).runbook(Runbook::minimal().phase(
        1,
        "- id: where\n  shell: { command: \"{% if run.dry_run %}touch {{ run.scratch_dir }}/x && stat -c 'dry %a' {{ run.scratch_dir }}{% else %}echo real{% endif %}\" }\n  mutates: false\n  show: stdout\n",
    ));
    t.run(&["phase", "1", "--force", "--dry-run"])
        .code(SUCCESS)
        .stdout_has("dry 700");
    t.run(&["phase", "1", "--force"])
        .code(SUCCESS)
        .stdout_has("real");
    assert_eq!(scratch_dirs(&tmp), Vec::<String>::new(), "left behind");
}

#[test]
fn no_scratch_directory_is_a_setup_error_before_any_step() {
    let t = Test::new()
        .env("TMPDIR", "/nonexistent/outpost-migrate-test")
        .runbook(Runbook::minimal().phase(1, "- id: mark\n  shell: { command: \"touch ran\" }\n"));
    t.run(&["phase", "1", "--force"])
        .code(SETUP)
        .stderr_has("cannot create the run's scratch directory");
    assert!(!t.path("ran").exists());
}

#[test]
fn an_unknown_run_field_is_a_validation_error() {
    let t = Test::new().runbook(Runbook::minimal().phase(
        1,
        "- id: where\n  shell: { command: \"echo {{ run.scratch }}\" }\n",
    ));
    t.run(&["validate"])
        .code(USAGE_OR_RUNBOOK)
        .stderr_has("undefined variable `run`")
        .stderr_has("`run.dry_run` and `run.scratch_dir`");
}

/// Runs terraform itself (not through the tool) in `dir`, its data directory elsewhere.
fn terraform(dir: &Path, data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_DATA_DIR", data_dir)
        .env("TF_IN_AUTOMATION", "1")
        .stdin(Stdio::null())
        .output()
        .expect("terraform is needed")
}

/// A process holding the lock terraform's local backend takes on `terraform.tfstate`: an
/// fcntl write lock on the whole file (statemgr's filesystem_lock_unix.go). Released when the
/// holder's stdin closes.
struct StateLock(Child);

impl StateLock {
    fn hold(state: &Path) -> Self {
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import fcntl, sys\nf = open(sys.argv[1], 'r+')\nfcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nprint('locked', flush=True)\nsys.stdin.read()\n",
            ])
            .arg(state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        StateLock(child)
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// `phase 1 --dry-run` of the shipped runbook on `module`, with the emulator for the account
/// check and a private TMPDIR to see the scratch directory go.
fn dry_run_phase_1(module: &Path, moto: &Moto) -> crate::support::Run {
    let t = Test::new().embedded().aws(moto);
    let tmp = t.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let t = t.env("TMPDIR", &tmp.display().to_string());
    let run = t.run(&[
        "phase",
        "1",
        "--force",
        "--dry-run",
        "--output",
        "json",
        "--var",
        &format!("terraform_dir={}", module.display()),
    ]);
    run.code(SUCCESS);
    for step in [
        "alb-terraform-init",
        "alb-terraform-plan",
        "alb-terraform-show-plan",
    ] {
        assert_eq!(run.step_event(step)["outcome"], "succeeded", "{step}");
    }
    assert_eq!(
        run.step_event("alb-terraform-apply")["outcome"],
        "would_run"
    );
    assert_eq!(scratch_dirs(&tmp), Vec::<String>::new(), "left behind");
    run
}

/// The run scratch directories under `tmp`.
fn scratch_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("outpost-migrate-run-"))
        .collect()
}

#[test]
fn a_dry_run_of_phase_1_leaves_the_terraform_module_byte_identical() {
    let moto = Moto::start();
    let t = Test::new();
    let module = t.terraform_module();
    let before = tree(&module);
    let run = dry_run_phase_1(&module, &moto);
    let shown = run.step_event("alb-terraform-show-plan")["shown"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        shown.contains("module.alb.terraform_data.outpost_alb"),
        "{shown}"
    );
    let after = tree(&module);
    assert_eq!(names(&after), names(&before));
    assert_eq!(after, before, "the module directory changed");
}

#[test]
fn a_dry_run_of_phase_1_takes_no_terraform_state_lock() {
    let moto = Moto::start();
    let t = Test::new();
    let module = t.terraform_module();
    // An applied module, as after phase 1: terraform.tfstate in the module directory.
    let data = t.path("tf-data");
    for args in [
        &["init", "-input=false", "-no-color"][..],
        &["apply", "-input=false", "-no-color", "-auto-approve"][..],
    ] {
        let out = terraform(&module, &data, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let before = tree(&module);
    assert!(before.contains_key(Path::new("terraform.tfstate")));

    let lock = StateLock::hold(&module.join("terraform.tfstate"));
    // The lock is real: a plan that takes it (today's shipped command) fails.
    let plan = t.path("taken.plan");
    let locked = terraform(
        &module,
        &data,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-target=module.alb",
            &format!("-out={}", plan.display()),
        ],
    );
    assert!(!locked.status.success());
    assert!(
        String::from_utf8_lossy(&locked.stderr).contains("Error acquiring the state lock"),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );
    // The dry run's plan does not wait for it, nor take it.
    dry_run_phase_1(&module, &moto);
    drop(lock);
    assert_eq!(tree(&module), before, "the module directory changed");
}
