//! One step: its envelope split from its kind, the kind's spec checked, and the envelope's
//! fields turned into the typed [`Step`].

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::super::diagnostic::Diagnostic;
use super::super::model::{ForEach, Retry, Reverts, Step};
use super::super::node::{Key, Node, Value as NodeValue};
use super::super::schedule;
use super::document::{ENVELOPE, EnvelopeDoc};
use super::for_each::check_for_each;
use super::parse::{FileCx, did_you_mean, expected_fields_hint, locate_error, unknown_field};
use super::queries::{jmespath_template, parse_expectations};
use super::references::reserved_name;
use crate::kinds::{self, Access};
use crate::query::Query;
use crate::template::{self, Escape};

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) fn duration(
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
pub(super) fn out_of_bounds(
    cx: &FileCx,
    node: &Node,
    b: schedule::OutOfBounds,
    step: &str,
) -> Diagnostic {
    let loc = node.get(b.field).map_or(node.loc, |n| n.loc);
    cx.diag(loc, b.message).step(Some(step)).hint(b.hint)
}

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
        value: NodeValue::Map(envelope),
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
            Key {
                name: "id".into(),
                loc: key.loc,
            },
            Node {
                loc: key.loc,
                value: NodeValue::Str(probe_id),
            },
        )];
        with_id.extend(entries.iter().cloned());
        let probe_node = Node {
            loc: probe.loc,
            value: NodeValue::Map(with_id),
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

/// `mutates: false` on a step that writes by its nature would make a dry run run it.
pub(super) fn refuse_declared_read_only(
    cx: &FileCx,
    node: &Node,
    step: &str,
    why: &str,
) -> Diagnostic {
    let loc = node.entry("mutates").map_or(node.loc, |(k, _)| k.loc);
    cx.diag(
        loc,
        format!("`mutates: false` on a step that writes: {why}"),
    )
    .step(Some(step))
    .hint("a dry run runs read-only steps, so only a `shell` or `mcp` step may declare itself read-only; remove `mutates: false`, or read with a GET or a Describe/List/Get call instead")
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
