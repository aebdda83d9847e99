//! Loading: read the runbook files, parse them with locations, build the typed model and
#![allow(
    clippy::result_large_err,
    reason = "a diagnostic is built once per problem; loading is not a hot path"
)]
//! validate it, collecting every problem found rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::diagnostic::{Diagnostic, Loc};
use super::model::{ForEach, Retry, Reverts, Runbook, Step, Unit, UnitKey};
use super::node::Node;
use super::schedule;
use super::source::{ReadFailure, RunbookSource, SourceFile};
use crate::expect::Expectation;
use crate::kinds::{self, Access};
use crate::query::Query;
use crate::template::{self, Escape};

/// The runbook format this build reads.
pub const FORMAT: u32 = 1;
const PHASES: [u8; 5] = [1, 2, 3, 4, 5];
const LEVELS: [u8; 3] = [1, 2, 3];
/// Runbook files larger than this are refused before parsing.
const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What templates see of the run itself (`run.dry_run`, `run.scratch_dir`).
const RUN_FIELDS: [&str; 2] = ["dry_run", "scratch_dir"];

/// Names every template already has (`env.NAME`, `item`, `attempt`, `run`): a var or capture
/// of one of these names would be silently hidden by, or hide, the engine's own value.
const RESERVED_NAMES: [&str; 4] = ["env", "item", "attempt", "run"];

/// A var or capture named like one of the engine's own template values.
fn reserved_name(cx: &FileCx, loc: Loc, what: &str, name: &str) -> Option<Diagnostic> {
    RESERVED_NAMES.contains(&name).then(|| {
        cx.diag(
            loc,
            format!("{what} `{name}` has a name templates already use"),
        )
        .hint(format!(
            "`env`, `item`, `attempt` and `run` are the engine's own values; rename the {what}"
        ))
    })
}

/// The fields every step may have besides its kind.
pub const ENVELOPE: &[&str] = &[
    "id",
    "title",
    "description",
    "when",
    "for_each",
    "retry",
    "timeout",
    "capture",
    "expect",
    "mutates",
    "idempotent",
    "approval",
    "optional",
    "secret",
    "reverts",
    "hint",
    "show",
    "verify",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootDoc {
    format: u32,
    name: String,
    #[serde(default)]
    description: String,
    /// The AWS account the credentials must belong to (a template over vars).
    account: Option<String>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "shape check only: vars are read from the node to keep their order"
    )]
    vars: serde_json::Map<String, Value>,
    preflight: String,
    phases: Vec<PhaseRef>,
    verify: String,
    rollback: Vec<LevelRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseRef {
    phase: u8,
    file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelRef {
    level: u8,
    file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitDoc {
    title: String,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    description: String,
    reverts: Option<u8>,
    steps: Option<Vec<Value>>,
    groups: Option<Vec<GroupDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDoc {
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    description: String,
    #[allow(
        dead_code,
        reason = "shape check only: the title is read from the node"
    )]
    title: String,
    #[allow(dead_code, reason = "shape check only: steps are read from the node")]
    steps: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeDoc {
    id: String,
    title: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    description: String,
    when: Option<String>,
    for_each: Option<Value>,
    retry: Option<RetryDoc>,
    timeout: Option<String>,
    #[serde(default)]
    capture: BTreeMap<String, String>,
    #[serde(default)]
    expect: Vec<Value>,
    mutates: Option<bool>,
    /// Running it again has the effect of running it once (read from the kind when absent).
    idempotent: Option<bool>,
    #[serde(default)]
    approval: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    secret: bool,
    reverts: Option<Reverts>,
    /// Advice shown when the step fails (the seed's troubleshooting guide).
    hint: Option<String>,
    /// A JMESPath whose value is shown under the step's line (a plan before its approval).
    show: Option<String>,
    /// A read-only probe for a step in doubt after a crash (read from the node).
    #[allow(
        dead_code,
        reason = "shape check only: the probe is loaded as a step of its own"
    )]
    verify: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryDoc {
    /// A number, or a template over vars (`"{{ poll_attempts }}"`).
    attempts: Value,
    interval: Option<String>,
    backoff: Option<f32>,
    max_interval: Option<String>,
    #[serde(default)]
    until: Vec<Value>,
}

/// One parsed file and the diagnostics it produces.
#[derive(Clone)]
struct FileCx {
    file: SourceFile,
}

impl FileCx {
    /// Moves `loc` (the start of a scalar) to where `needle` appears on its line, so the caret
    /// points at the offending name rather than at the start of the string.
    fn refine(&self, loc: Loc, needle: &str) -> Loc {
        let Some(line) = self.file.text.lines().nth(loc.line.saturating_sub(1)) else {
            return loc;
        };
        let start: usize = line
            .chars()
            .take(loc.col.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        match line.get(start..).and_then(|rest| rest.find(needle)) {
            Some(offset) => Loc {
                line: loc.line,
                col: loc.col + line[start..start + offset].chars().count(),
            },
            None => loc,
        }
    }

    fn diag(&self, loc: Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file.name, Some(&self.file.text), loc, message)
    }

    /// Deserialises `node` into `T`, locating the first problem.
    fn typed<T: DeserializeOwned>(&self, node: &Node, step: Option<&str>) -> Result<T, Diagnostic> {
        serde_path_to_error::deserialize(node.to_json()).map_err(|e| {
            let message = e.inner().to_string();
            let loc = locate_error(node.locate(e.path()), &message);
            let mut d = self
                .diag(loc, format!("{} (at `{}`)", message, e.path()))
                .step(step);
            if let Some(field) = unknown_field(&message) {
                d.message = format!("unknown field `{field}`");
                if let Some(hint) = expected_fields_hint(&message, field) {
                    d = d.hint(hint);
                }
            } else {
                d = d.hint(type_hint(&message));
            }
            d
        })
    }
}

/// A hint for serde's type and shape errors ("invalid type: ..., expected ...").
fn type_hint(message: &str) -> String {
    match message.split_once("expected ") {
        Some((_, expected)) => format!(
            "write {} here (see the runbook format in the README)",
            expected.trim_end_matches('.')
        ),
        None => "see the runbook format in the README".into(),
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

fn expected_fields_hint(message: &str, field: &str) -> Option<String> {
    let expected = message.split_once(", expected ")?.1;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    Some(match did_you_mean(field, &names) {
        Some(best) => format!(
            "did you mean `{best}`? expected one of: {}",
            names.join(", ")
        ),
        None => format!("expected one of: {}", names.join(", ")),
    })
}

fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// An unknown field points at its key; anything else at the value.
fn locate_error(node: &Node, message: &str) -> Loc {
    unknown_field(message)
        .and_then(|f| node.entry(f))
        .map_or(node.loc, |(k, _)| k.loc)
}

fn parse_file(file: SourceFile) -> Result<(FileCx, Node), Diagnostic> {
    let cx = FileCx { file };
    if cx.file.text.len() > MAX_FILE_BYTES {
        return Err(cx
            .diag(
                Loc { line: 1, col: 1 },
                format!(
                    "file is {} bytes; runbook files are limited to {MAX_FILE_BYTES}",
                    cx.file.text.len()
                ),
            )
            .hint("split it, or check that the path points at a runbook"));
    }
    // YAML 1.2 core booleans only: a key or value `n`, `y`, `no`, `yes`, `on` or `off` is the
    // text it reads as, not a YAML 1.1 boolean (a var named `no` stays `no`).
    let options = serde_saphyr::options! { with_snippet: false, strict_booleans: true };
    match serde_saphyr::from_str_with_options::<Node>(&cx.file.text, options) {
        Ok(node) => Ok((cx, node)),
        Err(e) => {
            let loc = e.location().map_or(Loc { line: 1, col: 1 }, |l| Loc {
                line: (l.line() as usize).max(1),
                col: (l.column() as usize).max(1),
            });
            // The parser's advice is for programs using it, not for runbook authors.
            let message = first_line(&e.without_snippet().to_string())
                .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
            Err(cx
                .diag(loc, format!("invalid YAML: {message}"))
                .hint("check indentation, quoting and `key: value` pairs"))
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Loads and validates the runbook, returning every problem found.
pub fn load(source: &RunbookSource) -> Result<Runbook, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let root_name = source.root_file().to_string();
    let root_file = source
        .read(&root_name)
        .map_err(|(name, why)| vec![read_failure(&name, why, None)])?;
    let (root_cx, root) = parse_file(root_file).map_err(|d| vec![d])?;
    let doc: RootDoc = root_cx.typed(&root, None).map_err(|d| vec![d])?;
    if doc.format != FORMAT {
        let loc = root.get("format").map_or(root.loc, |n| n.loc);
        diags.push(
            root_cx
                .diag(loc, format!("unsupported runbook format {}", doc.format))
                .hint(format!("this outpost-migrate reads format {FORMAT}")),
        );
    }

    let vars = load_vars(&root_cx, &root, &mut diags);
    if let Some(node) = root.get("account") {
        check_var_template(&root_cx, node, "account", &vars, &mut diags);
    }

    // Each unit file, in the order commands run them.
    let mut refs: Vec<(UnitKey, String, Loc)> = Vec::new();
    let loc_of = |key: &str| root.get(key).map_or(root.loc, |n| n.loc);
    refs.push((
        UnitKey::Preflight,
        doc.preflight.clone(),
        loc_of("preflight"),
    ));
    check_numbered(
        &root_cx,
        &root,
        "phases",
        "phase",
        &PHASES,
        doc.phases.iter().map(|p| p.phase).collect(),
        &mut diags,
    );
    check_numbered(
        &root_cx,
        &root,
        "rollback",
        "level",
        &LEVELS,
        doc.rollback.iter().map(|l| l.level).collect(),
        &mut diags,
    );
    let mut phases: Vec<(u8, String, Loc)> = doc
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| (p.phase, p.file.clone(), entry_loc(&root, "phases", i)))
        .collect();
    phases.sort_by_key(|p| p.0);
    refs.extend(
        phases
            .into_iter()
            .map(|(n, f, l)| (UnitKey::Phase(n), f, l)),
    );
    refs.push((UnitKey::Verify, doc.verify.clone(), loc_of("verify")));
    let mut levels: Vec<(u8, String, Loc)> = doc
        .rollback
        .iter()
        .enumerate()
        .map(|(i, l)| (l.level, l.file.clone(), entry_loc(&root, "rollback", i)))
        .collect();
    levels.sort_by_key(|l| l.0);
    refs.extend(
        levels
            .into_iter()
            .map(|(n, f, l)| (UnitKey::Rollback(n), f, l)),
    );

    let mut units = Vec::new();
    let mut files: HashMap<String, FileCx> = HashMap::new();
    for (key, rel, ref_loc) in refs {
        let file = match source.read(&rel) {
            Ok(f) => f,
            Err((name, why)) => {
                diags.push(read_failure(&name, why, Some((&root_cx, ref_loc))));
                continue;
            }
        };
        let (cx, node) = match parse_file(file) {
            Ok(parsed) => parsed,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if let Some(loaded) = load_unit(key, &rel, &cx, &node, source, &mut files, &mut diags) {
            units.push(loaded);
        }
        files.insert(cx.file.name.clone(), cx);
    }

    link_restores(&mut units, &files, &mut diags);
    validate_references(&vars, &mut units, &files, &mut diags);
    let units: Vec<Unit> = units.into_iter().map(|(u, _)| u).collect();
    validate_ids(&units, &files, &mut diags);
    validate_rollback_reverts(&units, &files, &mut diags);

    if diags.is_empty() {
        Ok(Runbook {
            name: doc.name,
            description: doc.description,
            account: doc.account,
            vars,
            units,
        })
    } else {
        Err(diags)
    }
}

fn read_failure(
    name: &str,
    why: ReadFailure,
    referenced_from: Option<(&FileCx, Loc)>,
) -> Diagnostic {
    match why {
        ReadFailure::NotUtf8 { line, col } => {
            Diagnostic::new(name, None, Loc { line, col }, "file is not valid UTF-8")
                .hint("runbook files must be UTF-8 text")
        }
        ReadFailure::Missing => match referenced_from {
            Some((cx, loc)) => cx
                .diag(loc, format!("file `{name}` does not exist"))
                .hint("fix the path; it is relative to runbook.yaml"),
            None => Diagnostic::new(
                name,
                None,
                Loc { line: 1, col: 1 },
                "runbook file does not exist",
            )
            .hint("pass --runbook DIR (holding runbook.yaml) or the path of the top runbook file"),
        },
        ReadFailure::Io(e) => {
            let loc = referenced_from
                .map(|(_, l)| l)
                .unwrap_or(Loc { line: 1, col: 1 });
            Diagnostic::new(name, None, loc, format!("cannot read file: {e}"))
        }
    }
}

fn entry_loc(root: &Node, list: &str, index: usize) -> Loc {
    root.get(list)
        .and_then(|n| n.as_seq())
        .and_then(|items| items.get(index))
        .map_or(root.loc, |n| n.get("file").map_or(n.loc, |f| f.loc))
}

fn check_numbered(
    cx: &FileCx,
    root: &Node,
    key: &str,
    field: &str,
    want: &[u8],
    got: Vec<u8>,
    diags: &mut Vec<Diagnostic>,
) {
    let loc = root.entry(key).map_or(root.loc, |(k, _)| k.loc);
    let mut seen = BTreeSet::new();
    for (i, n) in got.iter().enumerate() {
        let item_loc = root
            .get(key)
            .and_then(|l| l.as_seq())
            .and_then(|s| s.get(i))
            .map_or(loc, |n| n.loc);
        if !want.contains(n) {
            diags.push(
                cx.diag(item_loc, format!("there is no {field} {n}"))
                    .hint(format!(
                        "{key} are numbered {}–{}",
                        want[0],
                        want[want.len() - 1]
                    )),
            );
        } else if !seen.insert(*n) {
            diags.push(
                cx.diag(item_loc, format!("{field} {n} is listed twice"))
                    .hint(format!("each {field} points at exactly one file")),
            );
        }
    }
    for n in want {
        if !seen.contains(n) && !got.contains(n) {
            diags.push(
                cx.diag(loc, format!("{field} {n} is missing from `{key}`"))
                    .hint(format!(
                        "a runbook needs {key} {}–{}, each pointing at a file",
                        want[0],
                        want[want.len() - 1]
                    )),
            );
        }
    }
}

fn load_vars(cx: &FileCx, root: &Node, diags: &mut Vec<Diagnostic>) -> Vec<(String, Value)> {
    let mut vars: Vec<(String, Value)> = Vec::new();
    for (key, value) in root.get("vars").and_then(Node::as_map).unwrap_or_default() {
        diags.extend(reserved_name(cx, key.loc, "var", &key.name));
        for (s, loc) in value.strings() {
            match template::references(s) {
                Err(e) => diags.push(
                    cx.diag(loc, format!("invalid template in var `{}`: {e}", key.name))
                        .hint("templates are `{{ name }}` (minijinja); close every `{{` with `}}`"),
                ),
                Ok(refs) => {
                    for r in refs {
                        if r.root != "env" && !vars.iter().any(|(n, _)| *n == r.root) {
                            diags.push(
                                cx.diag(
                                    loc,
                                    format!(
                                        "undefined variable `{}` in var `{}`",
                                        r.root, key.name
                                    ),
                                )
                                .hint("a var may use `env.NAME` and vars declared above it"),
                            );
                        }
                    }
                }
            }
        }
        vars.push((key.name.clone(), value.to_json()));
    }
    vars
}

/// A top-level template (such as `account`) may use `env.NAME` and vars.
fn check_var_template(
    cx: &FileCx,
    node: &Node,
    field: &str,
    vars: &[(String, Value)],
    diags: &mut Vec<Diagnostic>,
) {
    for (s, loc) in node.strings() {
        match template::references(s) {
            Err(e) => diags.push(
                cx.diag(loc, format!("invalid template in `{field}`: {e}"))
                    .hint("templates are `{{ name }}` (minijinja); close every `{{` with `}}`"),
            ),
            Ok(refs) => {
                for r in refs
                    .into_iter()
                    .filter(|r| r.root != "env" && !vars.iter().any(|(n, _)| *n == r.root))
                {
                    diags.push(
                        cx.diag(
                            cx.refine(loc, &r.root),
                            format!("undefined variable `{}` in `{field}`", r.root),
                        )
                        .hint("declare it under `vars:`"),
                    );
                }
            }
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the loader's state, threaded through one unit"
)]
fn load_unit(
    key: UnitKey,
    rel: &str,
    cx: &FileCx,
    node: &Node,
    source: &RunbookSource,
    files: &mut HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Unit, Vec<Node>)> {
    let doc: UnitDoc = match cx.typed(node, None) {
        Ok(d) => d,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let concurrent = matches!(key, UnitKey::Preflight | UnitKey::Verify);
    let reverts = match key {
        UnitKey::Rollback(_) => doc.reverts,
        _ => None,
    };
    let mut step_nodes: Vec<(Option<String>, &Node)> = Vec::new();
    match (doc.steps.is_some(), doc.groups.is_some()) {
        (true, false) => {
            step_nodes.extend(
                node.get("steps")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .map(|n| (None, n)),
            );
        }
        (false, true) => {
            for group in node
                .get("groups")
                .and_then(Node::as_seq)
                .unwrap_or_default()
            {
                let title = group.get("title").and_then(Node::as_str).map(str::to_owned);
                step_nodes.extend(
                    group
                        .get("steps")
                        .and_then(Node::as_seq)
                        .unwrap_or_default()
                        .iter()
                        .map(|n| (title.clone(), n)),
                );
            }
        }
        _ => {
            diags.push(cx.diag(
                node.loc,
                "a unit file needs either `steps` or `groups` (not both)",
            ).hint("phases and rollback levels list `steps`; check files list `groups`, each with `title` and `steps`"));
            return None;
        }
    }
    let mut expanded = Vec::new();
    let mut stack = vec![rel.to_owned()];
    for (group, n) in step_nodes {
        expand_include(
            source,
            cx,
            n,
            group,
            &mut stack,
            files,
            diags,
            &mut expanded,
        );
    }
    if expanded.is_empty() {
        diags.push(
            cx.diag(node.loc, format!("{key} has no steps"))
                .hint("add at least one step"),
        );
    }
    let (steps, nodes) = expanded
        .into_iter()
        .filter_map(|(group, n, file)| {
            let step_cx = if file == cx.file.name {
                cx
            } else {
                files.get(&file)?
            };
            load_step(step_cx, &n, group, reverts, diags).map(|s| (s, n))
        })
        .unzip();
    Some((
        Unit {
            key,
            title: doc.title,
            file: cx.file.name.clone(),
            concurrent,
            steps,
        },
        nodes,
    ))
}

/// A step entry, or `- include: FILE` replaced by the steps of FILE (relative to the runbook
/// root; a file with `steps:`), recursively, refusing cycles.
#[allow(
    clippy::too_many_arguments,
    reason = "the loader's state, threaded through the recursion"
)]
fn expand_include(
    source: &RunbookSource,
    cx: &FileCx,
    entry: &Node,
    group: Option<String>,
    stack: &mut Vec<String>,
    files: &mut HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
    out: &mut Vec<(Option<String>, Node, String)>,
) {
    let Some((key, target)) = entry.entry("include") else {
        out.push((group, entry.clone(), cx.file.name.clone()));
        return;
    };
    let hint =
        "`- include: path/to/steps.yaml` (relative to runbook.yaml) stands alone in a step list";
    if entry.as_map().is_some_and(|m| m.len() > 1) {
        diags.push(
            cx.diag(key.loc, "an `include` entry takes no other fields")
                .hint(hint),
        );
        return;
    }
    let Some(rel) = target.as_str() else {
        diags.push(
            cx.diag(target.loc, "`include` takes a file path")
                .hint(hint),
        );
        return;
    };
    if stack.iter().any(|s| s == rel) {
        let chain = stack
            .iter()
            .chain(std::iter::once(&rel.to_owned()))
            .cloned()
            .collect::<Vec<_>>()
            .join(" → ");
        diags.push(
            cx.diag(target.loc, format!("include cycle: {chain}"))
                .hint("a file may not include itself, directly or through others"),
        );
        return;
    }
    let file = match source.read(rel) {
        Ok(f) => f,
        Err((name, why)) => {
            diags.push(read_failure(&name, why, Some((cx, target.loc))));
            return;
        }
    };
    let (included, node) = match parse_file(file) {
        Ok(parsed) => parsed,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let Some(steps) = node.get("steps").and_then(Node::as_seq) else {
        diags.push(
            included
                .diag(
                    node.loc,
                    "an included file needs `steps:` (a list of steps)",
                )
                .hint(hint),
        );
        return;
    };
    if let Some((k, _)) = node
        .as_map()
        .unwrap_or_default()
        .iter()
        .find(|(k, _)| k.name != "steps" && k.name != "description")
    {
        diags.push(
            included
                .diag(
                    k.loc,
                    format!("unknown field `{}` in an included file", k.name),
                )
                .hint("an included file has `steps` and an optional `description`"),
        );
    }
    files.insert(included.file.name.clone(), included.clone());
    stack.push(rel.to_owned());
    for step in steps {
        expand_include(
            source,
            &included,
            step,
            group.clone(),
            stack,
            files,
            diags,
            out,
        );
    }
    stack.pop();
}

fn duration(
    cx: &FileCx,
    node: &Node,
    field: &str,
    text: &str,
    step: &str,
) -> Result<Duration, Diagnostic> {
    humantime::parse_duration(text).map_err(|e| {
        let loc = node.get(field).map_or(node.loc, |n| n.loc);
        cx.diag(loc, format!("invalid duration `{text}` for `{field}`: {e}"))
            .step(Some(step))
            .hint("write durations like 30s, 5m or 1h")
    })
}

/// A timing bound broken, located at its field.
fn out_of_bounds(cx: &FileCx, node: &Node, b: schedule::OutOfBounds, step: &str) -> Diagnostic {
    let loc = node.get(b.field).map_or(node.loc, |n| n.loc);
    cx.diag(loc, b.message).step(Some(step)).hint(b.hint)
}

fn load_step(
    cx: &FileCx,
    node: &Node,
    group: Option<String>,
    reverts: Option<u8>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Step> {
    let Some(entries) = node.as_map() else {
        diags.push(
            cx.diag(node.loc, "a step is a mapping with an `id` and one kind")
                .hint("write `- id: my-step` followed by a kind such as `shell: { command: ... }`"),
        );
        return None;
    };
    let id_hint = node.get("id").and_then(Node::as_str).map(str::to_owned);
    let step = id_hint.as_deref();
    let mut kind_entry = None;
    let mut envelope = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        if ENVELOPE.contains(&key.name.as_str()) {
            envelope.push((key.clone(), value.clone()));
        } else if let Some(kind) = kinds::find(&key.name) {
            if let Some((first, _, _)) = &kind_entry {
                let first: &&dyn kinds::StepKind = first;
                diags.push(
                    cx.diag(
                        key.loc,
                        format!(
                            "a step has one kind, but this one has `{}` and `{}`",
                            first.name(),
                            key.name
                        ),
                    )
                    .step(step)
                    .hint("split it into two steps"),
                );
                ok = false;
            } else {
                kind_entry = Some((kind, key.clone(), value));
            }
        } else {
            let mut candidates: Vec<&str> = ENVELOPE.to_vec();
            candidates.extend(kinds::names());
            let hint = match did_you_mean(&key.name, &candidates) {
                Some(best) => format!(
                    "did you mean `{best}`? kinds: {}",
                    kinds::names().join(", ")
                ),
                None => format!(
                    "step kinds are {}; step fields are {}",
                    kinds::names().join(", "),
                    ENVELOPE.join(", ")
                ),
            };
            diags.push(
                cx.diag(
                    key.loc,
                    format!("unknown step field or kind `{}`", key.name),
                )
                .step(step)
                .hint(hint),
            );
            ok = false;
        }
    }
    let envelope_node = Node {
        loc: node.loc,
        value: super::node::Value::Map(envelope),
    };
    let env: EnvelopeDoc = match cx.typed(&envelope_node, step) {
        Ok(e) => e,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let Some((kind, _kind_key, kind_node)) = kind_entry else {
        if ok {
            diags.push(
                cx.diag(node.loc, format!("step `{}` has no kind", env.id))
                    .step(Some(&env.id))
                    .hint(format!("add one of: {}", kinds::names().join(", "))),
            );
        }
        return None;
    };
    let spec = kind_node.to_json();
    if let Err(e) = kind.check(&spec) {
        let at = kind_node.locate_keys(&e.path);
        let loc = locate_error(at, &e.message);
        let mut d = cx
            .diag(
                loc,
                format!("invalid `{}` step: {}", kind.name(), e.message),
            )
            .step(Some(&env.id));
        if let Some(field) = unknown_field(&e.message) {
            d.message = format!("unknown field `{field}` in `{}`", kind.name());
            if let Some(h) = expected_fields_hint(&e.message, field) {
                d = d.hint(h);
            }
        } else {
            d = d.hint(format!(
                "see `{}` under Kinds in the README's runbook format",
                kind.name()
            ));
        }
        diags.push(d);
        ok = false;
    }
    for (path, text) in template::spec_strings(&spec) {
        if kind.escape(&path) != Escape::Shell {
            continue;
        }
        if let Some(tag) = crate::escape::quoted_in_shell(text) {
            let loc = cx.refine(kind_node.locate_keys(&path).loc, tag);
            diags.push(
                cx.diag(
                    loc,
                    format!("`{tag}` inside quotes in a shell command"),
                )
                .step(Some(&env.id))
                .hint("values are quoted for you: write {{ name }} without quotes around it, or put the value in `env:` and use \"$NAME\" in the command"),
            );
            ok = false;
        }
    }
    if !valid_id(&env.id) {
        let loc = node.get("id").map_or(node.loc, |n| n.loc);
        diags.push(
            cx.diag(loc, format!("invalid step id `{}`", env.id))
                .step(Some(&env.id))
                .hint("ids use letters, digits, `-` and `_`"),
        );
        ok = false;
    }

    let mut probe_problems = Vec::new();
    let mut probe_fail = |d: Diagnostic| probe_problems.push(d);
    let verify = node.entry("verify").and_then(|(key, probe)| {
        let probe_id = format!("{}-verify", env.id);
        let Some(entries) = probe.as_map() else {
            probe_fail(
                cx.diag(
                    probe.loc,
                    "`verify` is a read-only step without an id: a kind, `expect`, `capture`",
                )
                .step(Some(&env.id))
                .hint("e.g. `verify: { aws: { ... }, expect: [...] }`"),
            );
            return None;
        };
        if let Some((k, _)) = entries
            .iter()
            .find(|(k, _)| ["id", "verify", "for_each"].contains(&k.name.as_str()))
        {
            probe_fail(
                cx.diag(k.loc, format!("a `verify` probe takes no `{}`", k.name))
                    .step(Some(&env.id))
                    .hint("the probe runs once, for this step"),
            );
            return None;
        }
        let mut with_id = vec![(
            super::node::Key {
                name: "id".into(),
                loc: key.loc,
            },
            Node {
                loc: key.loc,
                value: super::node::Value::Str(probe_id),
            },
        )];
        with_id.extend(entries.iter().cloned());
        let probe_node = Node {
            loc: probe.loc,
            value: super::node::Value::Map(with_id),
        };
        let loaded = load_step(cx, &probe_node, None, None, diags)?;
        if loaded.access != Access::ReadOnly {
            probe_fail(
                cx.diag(probe.loc, "a `verify` probe must only read")
                    .step(Some(&env.id))
                    .hint("use a read-only call, or say `mutates: false` when it only reads"),
            );
            return None;
        }
        Some(Box::new(loaded))
    });
    if !probe_problems.is_empty() {
        diags.extend(probe_problems);
        ok = false;
    }

    let mut fail = |d: Diagnostic| {
        diags.push(d);
        ok = false;
    };
    let sid = env.id.clone();
    let timeout = match env
        .timeout
        .as_deref()
        .map(|t| duration(cx, node, "timeout", t, &sid))
    {
        Some(Ok(d)) => {
            if let Err(b) = schedule::check_timeout(d) {
                fail(out_of_bounds(cx, node, b, &sid));
            }
            d
        }
        Some(Err(d)) => {
            fail(d);
            DEFAULT_TIMEOUT
        }
        None => DEFAULT_TIMEOUT,
    };
    let mut capture = Vec::new();
    for (name, expr) in &env.capture {
        let loc = node
            .get("capture")
            .and_then(|c| c.get(name))
            .map_or(node.loc, |n| n.loc);
        if let Some(d) = jmespath_template(cx, loc, expr, &format!("capture `{name}`"), &sid) {
            fail(d);
            continue;
        }
        match Query::compile(expr) {
            Ok(q) => capture.push((name.clone(), q)),
            Err(e) => fail(
                cx.diag(loc, format!("invalid JMESPath in capture `{name}`: {e}"))
                    .hint("captures use JMESPath, as `aws --query` does: e.g. `clusters[0].status`")
                    .step(Some(&sid)),
            ),
        }
        if let Some(d) = reserved_name(cx, loc, "capture", name) {
            fail(d.step(Some(&sid)));
        }
        if !valid_id(name) || name.contains('-') {
            fail(
                cx.diag(loc, format!("invalid capture name `{name}`"))
                    .step(Some(&sid))
                    .hint("capture names use letters, digits and `_`"),
            );
        }
    }
    let show_loc = node.get("show").map_or(node.loc, |n| n.loc);
    if let Some(d) = env
        .show
        .as_deref()
        .and_then(|q| jmespath_template(cx, show_loc, q, "`show`", &sid))
    {
        fail(d);
    }
    let show = env.show.as_deref().and_then(|q| match Query::compile(q) {
        Ok(q) => Some(q),
        Err(e) => {
            fail(
                cx.diag(
                    node.get("show").map_or(node.loc, |n| n.loc),
                    format!("invalid JMESPath in `show`: {e}"),
                )
                .step(Some(&sid))
                .hint("`show` is a JMESPath over the step's output, e.g. `stdout`"),
            );
            None
        }
    });
    let expect_node = node.get("expect");
    let expect = parse_expectations(cx, &env.expect, expect_node, &sid, &mut fail);
    let retry = env.retry.as_ref().map(|r| {
        let rnode = node.get("retry").unwrap_or(node);
        let mut parse_dur = |field: &str, text: &Option<String>, default: Duration| match text {
            Some(t) => duration(cx, rnode, field, t, &sid).unwrap_or_else(|d| {
                fail(d);
                default
            }),
            None => default,
        };
        // A templated interval is rendered when the step runs.
        let interval_template = r.interval.clone().filter(|t| template::is_template(t));
        let interval = match interval_template {
            Some(_) => Duration::from_secs(5),
            None => parse_dur("interval", &r.interval, Duration::from_secs(5)),
        };
        let max_interval = r
            .max_interval
            .as_ref()
            .map(|_| parse_dur("max_interval", &r.max_interval, Duration::from_secs(60)));
        let (attempts, attempts_template) = match &r.attempts {
            Value::Number(n) => (
                n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
                None,
            ),
            Value::String(t) if template::is_template(t) => (1, Some(t.clone())),
            _ => (0, None),
        };
        if attempts == 0 {
            fail(
                cx.diag(
                    rnode.get("attempts").map_or(rnode.loc, |n| n.loc),
                    "`attempts` must be a number of at least 1 (or a `{{ var }}`)",
                )
                .step(Some(&sid))
                .hint("`attempts` counts the first try: 1 means no retry"),
            );
        }
        let backoff = r.backoff.unwrap_or(1.0).max(1.0);
        // What is spelt out is bounded now; a `{{ var }}` schedule when it is rendered.
        let max_ok =
            || max_interval.map_or(Ok(()), |m| schedule::check_interval("max_interval", m));
        let bounds = match (&attempts_template, &interval_template) {
            _ if attempts == 0 => Ok(()),
            (None, None) => schedule::check_retry(attempts, interval, backoff, max_interval),
            (Some(_), None) => {
                schedule::check_interval("interval", interval).and_then(|()| max_ok())
            }
            (_, Some(_)) => max_ok(),
        };
        if let Err(b) = bounds {
            fail(out_of_bounds(cx, rnode, b, &sid));
        }
        let until = parse_expectations(cx, &r.until, rnode.get("until"), &sid, &mut fail);
        Retry {
            attempts: attempts.max(1),
            attempts_template,
            interval,
            interval_template,
            backoff,
            max_interval,
            until,
        }
    });
    if let Some(w) = &env.when
        && let Err(e) = template::condition_references(w)
    {
        fail(
            cx.diag(
                node.get("when").map_or(node.loc, |n| n.loc),
                format!("invalid `when` condition: {e}"),
            )
            .step(Some(&sid))
            .hint("`when` is a bare expression such as `domain != ''`, without {{ }}"),
        );
    }
    let for_each = match &env.for_each {
        None => None,
        Some(Value::Array(items)) => Some(ForEach::Items(items.clone())),
        Some(Value::String(t)) if template::is_template(t) => Some(ForEach::Template(t.clone())),
        Some(_) => {
            fail(
                cx.diag(
                    node.get("for_each").map_or(node.loc, |n| n.loc),
                    "`for_each` takes a list or a `{{ var }}` naming one",
                )
                .step(Some(&sid))
                .hint("for example `for_each: \"{{ images }}\"` or `for_each: [a, b]`"),
            );
            None
        }
    };
    if let Some(for_each) = &for_each {
        check_for_each(cx, node, for_each, &sid)
            .into_iter()
            .for_each(&mut fail);
    }
    let access = match env.mutates {
        // A confirmation neither reads nor writes: it asks, and a dry run never asks. Either
        // declaration would change that (`false` would make a dry run prompt).
        Some(_) if kind.access(&spec) == Access::Manual => {
            let loc = node.entry("mutates").map_or(node.loc, |(k, _)| k.loc);
            diags.push(
                cx.diag(loc, "`mutates` on a step that asks the operator")
                    .step(Some(&sid))
                    .hint(format!(
                        "a `{}` step is manual: a dry run shows it and never asks; remove `mutates`",
                        kind.name()
                    )),
            );
            Access::Manual
        }
        Some(true) => Access::Mutating,
        Some(false) => {
            // The step is whole otherwise: it stays in the model so that the steps referring
            // to it (captures, `reverts`) do not report problems of their own.
            if let Some(why) = kind.writes_by_nature(&spec) {
                diags.push(refuse_declared_read_only(cx, node, &sid, &why));
            }
            Access::ReadOnly
        }
        None => kind.access(&spec),
    };
    let idempotent = env.idempotent.unwrap_or_else(|| kind.idempotent(&spec));
    if !ok {
        return None;
    }
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&node.to_json()).unwrap_or_default(),
    ));
    Some(Step {
        title: env.title.clone().unwrap_or_else(|| env.id.clone()),
        id: env.id,
        group,
        kind,
        spec,
        when: env.when,
        for_each,
        retry,
        timeout,
        capture,
        expect,
        access,
        idempotent,
        approval: env.approval,
        optional: env.optional,
        secret: env.secret,
        reverts: env.reverts.or(reverts.map(Reverts::Phase)),
        hint: env.hint,
        show,
        verify,
        needs: Vec::new(),
        hash,
        file: cx.file.name.clone(),
        loc: node.get("id").map_or(node.loc, |n| n.loc),
    })
}

/// A literal `for_each` list is bounded, and its items' ids are unique (ids key the saved
/// state: two items sharing one would make the second look already done). Items that are
/// templates are checked once rendered, when the plan is made.
fn check_for_each(cx: &FileCx, node: &Node, for_each: &ForEach, step: &str) -> Vec<Diagnostic> {
    let ForEach::Items(items) = for_each else {
        return Vec::new();
    };
    let list = node.get("for_each").unwrap_or(node);
    let item_nodes = list.as_seq().unwrap_or_default();
    let item_loc = |i: usize| item_nodes.get(i).map_or(list.loc, |n| n.loc);
    let mut problems = Vec::new();
    if items.len() > ForEach::MAX_ITEMS {
        problems.push(
            cx.diag(
                list.loc,
                format!(
                    "`for_each` has {} items; the limit is {}",
                    items.len(),
                    ForEach::MAX_ITEMS
                ),
            )
            .step(Some(step))
            .hint("each item is a step of its own; loop inside one step over a long list"),
        );
    }
    let literal = items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item_is_template(item));
    if let Some((first, second, suffix)) = ForEach::id_collision(literal) {
        problems.push(
            cx.diag(
                item_loc(second),
                format!(
                    "`for_each` items {} and {} would both be step `{step}.{suffix}`",
                    items[first], items[second]
                ),
            )
            .step(Some(step))
            .hint(format!(
                "an item's id is the item itself when it is a name (letters, digits, `-`, `_`, `.`), else its position; item {} is at {}:{}:{}",
                items[first],
                cx.file.name,
                item_loc(first).line,
                item_loc(first).col
            )),
        );
    }
    problems
}

fn item_is_template(item: &Value) -> bool {
    match item {
        Value::String(s) => template::is_template(s),
        Value::Array(items) => items.iter().any(item_is_template),
        Value::Object(map) => map.values().any(item_is_template),
        _ => false,
    }
}

/// `mutates: false` on a step that writes by its nature would make a dry run run it.
fn refuse_declared_read_only(cx: &FileCx, node: &Node, step: &str, why: &str) -> Diagnostic {
    let loc = node.entry("mutates").map_or(node.loc, |(k, _)| k.loc);
    cx.diag(
        loc,
        format!("`mutates: false` on a step that writes: {why}"),
    )
    .step(Some(step))
    .hint("a dry run runs read-only steps, so only a `shell` or `mcp` step may declare itself read-only; remove `mutates: false`, or read with a GET or a Describe/List/Get call instead")
}

fn parse_expectations(
    cx: &FileCx,
    items: &[Value],
    node: Option<&Node>,
    step: &str,
    fail: &mut impl FnMut(Diagnostic),
) -> Vec<Expectation> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_node = node.and_then(Node::as_seq).and_then(|s| s.get(i));
        if let Some(query) = item.get("query").and_then(Value::as_str) {
            let loc = item_node
                .map(|n| n.get("query").map_or(n.loc, |q| q.loc))
                .unwrap_or_default();
            if let Some(d) = jmespath_template(cx, loc, query, "`query`", step) {
                fail(d);
                continue;
            }
        }
        match Expectation::parse(item) {
            Ok(e) => out.push(e),
            Err(e) => {
                let loc = item_node
                    .map(|n| {
                        e.key
                            .as_deref()
                            .and_then(|k| n.entry(k))
                            .map_or(n.loc, |(k, _)| k.loc)
                    })
                    .unwrap_or_default();
                fail(
                    cx.diag(loc, format!("invalid expectation: {}", e.message))
                        .hint(format!("an expectation is `{{ query: JMESPath, <matcher>: value }}`; matchers: {}", crate::expect::MATCHERS.join(", ")))
                        .step(Some(step)),
                );
            }
        }
    }
    out
}

/// A template inside a JMESPath expression: refused, since a value rendered into a query can
/// change what it asks (quotes in the value) or, unrendered, match nothing and pass.
fn jmespath_template(
    cx: &FileCx,
    loc: Loc,
    expr: &str,
    field: &str,
    step: &str,
) -> Option<Diagnostic> {
    template::is_template(expr).then(|| {
        let open = if expr.contains("{{") { "{{" } else { "{%" };
        cx.diag(
            cx.refine(loc, open),
            format!("{field} is a JMESPath expression and may not hold a template"),
        )
        .step(Some(step))
        .hint("put the value in the matcher instead: query the field (e.g. `ResourceRecordSets[0].Name`) and match it with `equals: \"{{ domain }}.\"`")
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn validate_ids(units: &[Unit], files: &HashMap<String, FileCx>, diags: &mut Vec<Diagnostic>) {
    let ids: BTreeSet<&str> = units
        .iter()
        .flat_map(|u| &u.steps)
        .map(|s| s.id.as_str())
        .collect();
    for step in units.iter().flat_map(|u| &u.steps) {
        let problem = match &step.reverts {
            Some(Reverts::Step(id)) if !ids.contains(id.as_str()) => {
                Some(format!("`reverts: {id}` names no step"))
            }
            Some(Reverts::Phase(n)) if !PHASES.contains(n) => {
                Some(format!("`reverts: {n}` names no phase"))
            }
            _ => None,
        };
        if let Some(message) = problem {
            let d = match files.get(&step.file) {
                Some(cx) => cx.diag(step.loc, message),
                None => Diagnostic::new(&step.file, None, step.loc, message),
            };
            diags.push(d.step(Some(&step.id)).hint(
                "`reverts` takes a phase number (1–5) or the id of the forward step this undoes",
            ));
        }
    }
    let mut seen: HashMap<&str, &Step> = HashMap::new();
    for step in units.iter().flat_map(|u| &u.steps) {
        if let Some(first) = seen.get(step.id.as_str()) {
            let d = match files.get(&step.file) {
                Some(cx) => cx.diag(step.loc, format!("duplicate step id `{}`", step.id)),
                None => Diagnostic::new(
                    &step.file,
                    None,
                    step.loc,
                    format!("duplicate step id `{}`", step.id),
                ),
            };
            diags.push(d.step(Some(&step.id)).hint(format!(
                "ids key the saved state and must be unique; first used at {}:{}:{}",
                first.file, first.loc.line, first.loc.col
            )));
        } else {
            seen.insert(&step.id, step);
        }
    }
}

/// A rollback step that changes something says what it `reverts` (its own, or its level's):
/// without it, it would undo a phase that never ran, as a rollback from a fresh state scaled
/// the control plane down.
fn validate_rollback_reverts(
    units: &[Unit],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let unreverted = units
        .iter()
        .filter(|u| matches!(u.key, UnitKey::Rollback(_)))
        .flat_map(|u| &u.steps)
        .filter(|s| s.access == Access::Mutating && s.reverts.is_none());
    for step in unreverted {
        let message = format!(
            "rollback step `{}` changes something but does not say what it `reverts`",
            step.id
        );
        let d = match files.get(&step.file) {
            Some(cx) => cx.diag(step.loc, message),
            None => Diagnostic::new(&step.file, None, step.loc, message),
        };
        diags.push(d.step(Some(&step.id)).hint(
            "add `reverts: N` (the phase it undoes) or `reverts: STEP_ID` (the forward step), on the step or on its rollback file: it runs only when that ran",
        ));
    }
}

/// `file: { restore: ID }` must name a `file` step that edits a `path`. That path (a
/// template, rendered when the restore runs) goes into the restore's spec: a restore writes
/// only the file its step edited, never a path a backup record names.
fn link_restores(
    units: &mut [(Unit, Vec<Node>)],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let edited: HashMap<String, Value> = units
        .iter()
        .flat_map(|(u, _)| &u.steps)
        .filter(|s| s.kind.name() == "file")
        .filter_map(|s| s.spec.get("path").map(|p| (s.id.clone(), p.clone())))
        .collect();
    for (unit, nodes) in units.iter_mut() {
        for (step, node) in unit.steps.iter_mut().zip(nodes.iter()) {
            if step.kind.name() != "file" {
                continue;
            }
            let Some(from) = step
                .spec
                .get("restore")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            match (edited.get(&from), step.spec.as_object_mut()) {
                (Some(path), Some(spec)) => {
                    spec.insert("path".into(), path.clone());
                }
                _ => {
                    let loc = node
                        .get("file")
                        .and_then(|f| f.get("restore"))
                        .map_or(step.loc, |n| n.loc);
                    let message =
                        format!("`restore: {from}` names no `file` step that edits a `path`");
                    let d = match files.get(&step.file) {
                        Some(cx) => cx.diag(loc, message),
                        None => Diagnostic::new(&step.file, None, loc, message),
                    };
                    diags.push(d.step(Some(&step.id)).hint(
                        "`restore` takes the id of the `file` step whose backup it puts back",
                    ));
                }
            }
        }
    }
}

/// Every `{{ name }}` must be a var, `env.NAME`, `item` in a `for_each` step, or a capture
/// of a step that runs earlier.
fn validate_references(
    vars: &[(String, Value)],
    units: &mut [(Unit, Vec<Node>)],
    files: &HashMap<String, FileCx>,
    diags: &mut Vec<Diagnostic>,
) {
    let var_names: BTreeSet<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    let all_captures: HashMap<String, String> = units
        .iter()
        .flat_map(|(u, _)| &u.steps)
        .flat_map(|s| {
            s.capture
                .iter()
                .map(move |(c, _)| (c.clone(), s.id.clone()))
        })
        .collect();
    let mut available: BTreeSet<String> = BTreeSet::new();
    let mut producers: HashMap<String, String> = HashMap::new();
    for (unit, nodes) in units.iter_mut() {
        for (step, step_node) in unit.steps.iter_mut().zip(nodes.iter()) {
            let Some(cx) = files.get(&step.file) else {
                continue;
            };
            let mut needs = BTreeSet::new();
            for (text, loc, is_condition) in template_strings(step_node) {
                let refs = if is_condition {
                    template::condition_references(&text)
                } else {
                    template::references(&text)
                };
                let refs = match refs {
                    Ok(r) => r,
                    Err(e) => {
                        diags.push(
                            cx.diag(loc, format!("invalid template: {e}"))
                                .hint("templates are `{{ name }}` (minijinja); close every `{{` with `}}`")
                                .step(Some(&step.id)),
                        );
                        continue;
                    }
                };
                if !is_condition {
                    match template::raw_names(&text) {
                        Err(e) => diags.push(
                            cx.diag(cx.refine(loc, template::RAW), e)
                                .step(Some(&step.id))
                                .hint("`raw` writes a trusted var as it is (a whole command); drop it to have the value escaped"),
                        ),
                        Ok(names) => {
                            for name in names.iter().filter(|n| !var_names.contains(n.as_str())) {
                                diags.push(
                                    cx.diag(
                                        cx.refine(loc, name),
                                        format!("`raw` on `{name}`, which is not a var"),
                                    )
                                    .step(Some(&step.id))
                                    .hint("only a var (set in the runbook or with --var) may be written unescaped; a capture, `env.NAME` or `item` is always escaped"),
                                );
                            }
                        }
                    }
                }
                for r in refs {
                    let name = r.root.as_str();
                    let known = (name == "env" || name == "attempt") && !r.path.is_empty()
                        || name == "run" && RUN_FIELDS.contains(&r.path.as_str())
                        || name == "item" && step.for_each.is_some()
                        || var_names.contains(name);
                    if known {
                        continue;
                    }
                    if available.contains(name) {
                        needs.insert(name.to_owned());
                        continue;
                    }
                    let d = cx
                        .diag(cx.refine(loc, name), format!("undefined variable `{name}`"))
                        .step(Some(&step.id));
                    let d = match all_captures.get(name) {
                        Some(producer) if *producer == step.id => d.hint(format!(
                            "`{name}` is captured by this step itself; use it in a later step"
                        )),
                        Some(producer) => d.hint(format!(
                            "`{name}` is captured by step `{producer}`, which runs after this one"
                        )),
                        None if name == "item" => {
                            d.hint("`item` exists only in steps with `for_each`")
                        }
                        None if name == "env" => {
                            d.hint("write `env.NAME` for an environment variable")
                        }
                        None if name == "attempt" => {
                            d.hint("write `attempt.started_at` or `attempt.started_epoch`")
                        }
                        None if name == "run" => d.hint(format!(
                            "`run` has {}",
                            RUN_FIELDS.map(|f| format!("`run.{f}`")).join(" and ")
                        )),
                        None => {
                            let mut names: Vec<&str> = var_names.iter().copied().collect();
                            names.extend(available.iter().map(String::as_str));
                            match did_you_mean(name, &names) {
                                Some(best) => d.hint(format!("did you mean `{best}`?")),
                                None => d.hint("declare it under `vars:` in runbook.yaml, or capture it in an earlier step"),
                            }
                        }
                    };
                    diags.push(d);
                }
            }
            if let Some(ForEach::Template(_)) = &step.for_each
                && let Some(n) = needs.iter().next()
            {
                diags.push(
                    cx.diag(
                        step.loc,
                        format!("`for_each` may only use vars, not the capture `{n}`"),
                    )
                    .step(Some(&step.id))
                    .hint("items are known when the plan is made; loop inside the step instead"),
                );
            }
            step.needs = needs.into_iter().collect();
            for (name, _) in &step.capture {
                if var_names.contains(name.as_str()) {
                    diags.push(
                        cx.diag(step.loc, format!("capture `{name}` has the name of a var"))
                            .step(Some(&step.id))
                            .hint("rename the capture"),
                    );
                }
            }
            for (name, _) in &step.capture {
                if let Some(first) = producers.get(name) {
                    diags.push(
                        cx.diag(
                            step.loc,
                            format!("capture `{name}` is also made by step `{first}`"),
                        )
                        .step(Some(&step.id))
                        .hint(
                            "two steps capturing one name make later steps ambiguous; rename one",
                        ),
                    );
                } else {
                    producers.insert(name.clone(), step.id.clone());
                }
            }
            available.extend(step.capture.iter().map(|(n, _)| n.clone()));
        }
    }
}

/// The strings of a step that are templates, with their locations; `true` marks a bare
/// `when` expression.
fn template_strings(node: &Node) -> Vec<(String, Loc, bool)> {
    let mut out = Vec::new();
    for (key, value) in node.as_map().unwrap_or_default() {
        match key.name.as_str() {
            "when" => {
                if let Some(s) = value.as_str() {
                    out.push((s.to_owned(), value.loc, true));
                }
            }
            "id" | "description" | "capture" | "timeout" => {}
            _ => out.extend(
                value
                    .strings()
                    .into_iter()
                    .filter(|(s, _)| template::is_template(s))
                    .map(|(s, l)| (s.to_owned(), l, false)),
            ),
        }
    }
    out
}
