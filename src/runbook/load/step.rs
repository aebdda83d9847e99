//! One step: its envelope split from its kind, the kind's spec checked, and the envelope's
//! fields turned into the typed [`Step`].

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::access::step_access;
use super::document::{ApprovalDoc, EnvelopeDoc, envelope};
use super::for_each::parse_for_each;
use super::names::valid_id;
use super::parse::{FileCx, did_you_mean, expected_fields_hint, locate_error, unknown_field};
use super::queries::{parse_captures, parse_expectations, parse_show};
use super::retry::parse_retry;
use super::timing::step_timeout;
use super::verify::{probe_node, read_only_probe};
use crate::kinds::{self, StepKind};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::{Reverts, Step};
use crate::runbook::node::{Key, Node, Value as NodeValue};
use crate::template::{self, Escape};

/// Builds one step, pushing every problem found; `None` when it has any. `reverts` is the
/// rollback level's own, which a step without `reverts` inherits.
pub(super) fn load_step(
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
    let step = node.get("id").and_then(Node::as_str);
    let Entries {
        envelope: envelope_node,
        kind,
        mut ok,
    } = split_entries(cx, node, entries, step, diags);
    let env: EnvelopeDoc = match cx.typed(&envelope_node, step) {
        Ok(e) => e,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let Some((kind, kind_node)) = kind else {
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
    ok &= check_spec(cx, kind, kind_node, &spec, &env.id, diags);
    if let Some(d) = invalid_id(cx, node, &env.id) {
        diags.push(d);
        ok = false;
    }
    let verify = load_verify(cx, node, &env.id, diags).unwrap_or_else(|d| {
        diags.push(d);
        ok = false;
        None
    });

    let mut fail = |d: Diagnostic| {
        diags.push(d);
        ok = false;
    };
    let sid = env.id.clone();
    let timeout = step_timeout(cx, node, env.timeout.as_deref(), &sid, &mut fail);
    let capture = parse_captures(cx, node, &env.capture, &sid, &mut fail);
    let show = parse_show(cx, node, env.show.as_deref(), &sid, &mut fail);
    let expect = parse_expectations(cx, &env.expect, node.get("expect"), &sid, &mut fail);
    let retry = env.retry.as_ref().map(|r| {
        let rnode = node.get("retry").unwrap_or(node);
        parse_retry(cx, rnode, r, &sid, &mut fail)
    });
    check_when(cx, node, env.when.as_deref(), &sid, &mut fail);
    let for_each = parse_for_each(cx, node, env.for_each.as_ref(), &sid, &mut fail);
    let watch = super::watch::parse_watch(cx, node, &env, &sid, &mut fail);
    let access = step_access(cx, node, kind, &spec, env.mutates, &sid, diags);
    let idempotent = env.idempotent.unwrap_or_else(|| kind.idempotent(&spec));
    if !ok {
        return None;
    }
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
        approval: env.approval != ApprovalDoc::None,
        second_person: env.approval == ApprovalDoc::SecondPerson,
        optional: env.optional,
        secret: env.secret,
        reverts: env.reverts.or(reverts.map(Reverts::Phase)),
        hint: env.hint,
        show,
        verify,
        watch,
        needs: Vec::new(),
        hash: step_hash(node),
        file: cx.file.name.clone(),
        loc: node.get("id").map_or(node.loc, |n| n.loc),
    })
}

/// The step's `verify` probe, loaded as a step of its own. A probe that fails to load as a
/// step has pushed its own problems and gives `Ok(None)`; `Err` is a probe refused as one.
fn load_verify(
    cx: &FileCx,
    node: &Node,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Result<Option<Box<Step>>, Diagnostic> {
    let Some(probe) = probe_node(cx, node, id)? else {
        return Ok(None);
    };
    match load_step(cx, &probe, None, None, diags) {
        Some(loaded) => read_only_probe(cx, &probe, id, loaded).map(Some),
        None => Ok(None),
    }
}

/// A step's entries sorted: the envelope fields (as a node of their own, for serde) and the
/// one kind with its spec. `ok` is false when an entry was refused.
struct Entries<'a> {
    envelope: Node,
    kind: Option<(&'static dyn StepKind, &'a Node)>,
    ok: bool,
}

fn split_entries<'a>(
    cx: &FileCx,
    node: &Node,
    entries: &'a [(Key, Node)],
    step: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Entries<'a> {
    let fields = envelope();
    let mut kind_entry: Option<(&'static dyn StepKind, &'a Node)> = None;
    let mut envelope = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        if fields.contains(&key.name.as_str()) {
            envelope.push((key.clone(), value.clone()));
        } else if let Some(kind) = kinds::find(&key.name) {
            if let Some((first, _)) = &kind_entry {
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
                kind_entry = Some((kind, value));
            }
        } else {
            diags.push(unknown_step_field(cx, key, step));
            ok = false;
        }
    }
    Entries {
        envelope: Node {
            loc: node.loc,
            value: NodeValue::Map(envelope),
        },
        kind: kind_entry,
        ok,
    }
}

/// A key that is neither an envelope field nor a kind, with the nearest name as a hint.
fn unknown_step_field(cx: &FileCx, key: &Key, step: Option<&str>) -> Diagnostic {
    let mut candidates: Vec<&str> = envelope().to_vec();
    candidates.extend(kinds::names());
    let hint = match did_you_mean(&key.name, &candidates) {
        Some(best) => format!(
            "did you mean `{best}`? kinds: {}",
            kinds::names().join(", ")
        ),
        None => format!(
            "step kinds are {}; step fields are {}",
            kinds::names().join(", "),
            envelope().join(", ")
        ),
    };
    cx.diag(
        key.loc,
        format!("unknown step field or kind `{}`", key.name),
    )
    .step(step)
    .hint(hint)
}

/// The kind's own check of its spec, and templates quoted inside a shell command (values
/// are quoted for the shell when rendered, so quotes around them would be doubled). Returns
/// whether the spec passed.
fn check_spec(
    cx: &FileCx,
    kind: &dyn StepKind,
    kind_node: &Node,
    spec: &Value,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let mut ok = true;
    if let Err(e) = kind.check(spec) {
        let at = kind_node.locate_keys(&e.path);
        let loc = locate_error(at, &e.message);
        let mut d = cx
            .diag(
                loc,
                format!("invalid `{}` step: {}", kind.name(), e.message),
            )
            .step(Some(id));
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
    for (path, text) in template::spec_strings(spec) {
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
                .step(Some(id))
                .hint("values are quoted for you: write {{ name }} without quotes around it, or put the value in `env:` and use \"$NAME\" in the command"),
            );
            ok = false;
        }
    }
    ok
}

/// `when` is a bare expression, checked for syntax here and for its names with the other
/// template references.
fn check_when(
    cx: &FileCx,
    node: &Node,
    when: Option<&str>,
    sid: &str,
    fail: &mut impl FnMut(Diagnostic),
) {
    if let Some(w) = when
        && let Err(e) = template::condition_references(w)
    {
        fail(
            cx.diag(
                node.get("when").map_or(node.loc, |n| n.loc),
                format!("invalid `when` condition: {e}"),
            )
            .step(Some(sid))
            .hint("`when` is a bare expression such as `domain != ''`, without {{ }}"),
        );
    }
}

/// The hash of the step's whole entry as written: a step that succeeded and has changed
/// anywhere since (its spec, `expect`, `retry` ...) is refused when the run resumes.
fn step_hash(node: &Node) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(&node.to_json()).unwrap_or_default(),
    ))
}

fn invalid_id(cx: &FileCx, node: &Node, id: &str) -> Option<Diagnostic> {
    (!valid_id(id)).then(|| {
        let loc = node.get("id").map_or(node.loc, |n| n.loc);
        cx.diag(loc, format!("invalid step id `{id}`"))
            .step(Some(id))
            .hint("ids use letters, digits, `-` and `_`")
    })
}

/// One step from a YAML snippet (the file `t.yaml`) and the problems it has, for the unit
/// tests of the step's stages.
#[cfg(test)]
pub(super) fn step_of(yaml: &str) -> (Option<Step>, Vec<Diagnostic>) {
    let (cx, node) = super::parse::snippet(yaml);
    let mut diags = Vec::new();
    let step = load_step(&cx, &node, None, None, &mut diags);
    (step, diags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Access;
    use crate::runbook::diagnostic::Loc;
    use crate::runbook::load::timing::DEFAULT_TIMEOUT;

    fn only(diags: &[Diagnostic]) -> &Diagnostic {
        assert_eq!(diags.len(), 1, "{diags:#?}");
        &diags[0]
    }

    #[test]
    fn a_plain_step_takes_the_defaults() {
        let (step, diags) = step_of("id: a\nshell: { command: 'true' }\n");
        assert!(diags.is_empty(), "{diags:#?}");
        let step = step.expect("a step");
        assert_eq!(step.title, "a");
        assert_eq!(step.kind.name(), "shell");
        assert_eq!(step.timeout, DEFAULT_TIMEOUT);
        assert_eq!(step.access, Access::Mutating);
        assert_eq!(step.loc, Loc { line: 1, col: 5 });
        assert_eq!(step.file, "t.yaml");
    }

    #[test]
    fn a_step_in_a_rollback_level_reverts_the_levels_phase_unless_it_says() {
        let (cx, node) = super::super::parse::snippet("id: a\nshell: { command: 'true' }\n");
        let mut diags = Vec::new();
        let step = load_step(&cx, &node, None, Some(2), &mut diags).expect("a step");
        assert_eq!(step.reverts, Some(Reverts::Phase(2)));
        let (cx, node) =
            super::super::parse::snippet("id: a\nreverts: 3\nshell: { command: 'true' }\n");
        let step = load_step(&cx, &node, None, Some(2), &mut diags).expect("a step");
        assert_eq!(step.reverts, Some(Reverts::Phase(3)));
    }

    #[test]
    fn two_kinds_are_refused_at_the_second() {
        let (step, diags) = step_of("id: a\nshell: { command: 'true' }\nconfirm: sure?\n");
        assert!(step.is_none());
        let d = only(&diags);
        assert_eq!(d.loc, Loc { line: 3, col: 1 });
        assert_eq!(
            d.message,
            "a step has one kind, but this one has `shell` and `confirm`"
        );
    }

    #[test]
    fn an_unknown_key_suggests_the_nearest_field_or_kind() {
        let (_, diags) = step_of("id: a\nshel: { command: 'true' }\n");
        let d = &diags[0];
        assert_eq!(d.message, "unknown step field or kind `shel`");
        assert_eq!(d.loc, Loc { line: 2, col: 1 });
        assert!(
            d.hint
                .as_deref()
                .unwrap_or_default()
                .starts_with("did you mean `shell`?")
        );
    }

    #[test]
    fn a_step_without_a_kind_lists_the_kinds() {
        let (_, diags) = step_of("id: a\ntitle: nothing\n");
        let d = only(&diags);
        assert_eq!(d.message, "step `a` has no kind");
        assert!(d.hint.as_deref().unwrap_or_default().contains("shell"));
    }

    #[test]
    fn an_id_with_spaces_is_refused_at_the_id() {
        let (_, diags) = step_of("id: a b\nshell: { command: 'true' }\n");
        let d = only(&diags);
        assert_eq!(d.message, "invalid step id `a b`");
        assert_eq!(d.loc, Loc { line: 1, col: 5 });
    }

    #[test]
    fn a_kinds_own_check_is_located_in_its_spec() {
        let (_, diags) = step_of("id: a\nshell:\n  command: 'true'\n  comand: x\n");
        let d = only(&diags);
        assert_eq!(d.message, "unknown field `comand` in `shell`");
        assert_eq!(d.loc.line, 4);
    }

    #[test]
    fn a_template_quoted_in_a_shell_command_is_refused_at_the_tag() {
        let (_, diags) = step_of("id: a\nshell: { command: \"echo '{{ x }}'\" }\n");
        let d = only(&diags);
        assert_eq!(d.message, "`{{ x }}` inside quotes in a shell command");
        assert_eq!(d.loc, Loc { line: 2, col: 26 });
    }

    #[test]
    fn a_bad_when_condition_is_refused() {
        let (_, diags) = step_of("id: a\nwhen: 'a =='\nshell: { command: 'true' }\n");
        assert!(only(&diags).message.starts_with("invalid `when` condition"));
    }

    #[test]
    fn the_hash_covers_the_whole_entry() {
        let (a, _) = step_of("id: a\nshell: { command: 'true' }\n");
        let (b, _) = step_of("id: a\nhint: h\nshell: { command: 'true' }\n");
        assert_ne!(a.expect("a").hash, b.expect("b").hash);
    }
}
