//! `iam-policy [TARGET]`: the least-privilege IAM policy the target's `aws` steps (and their
//! `verify` probes) need, from the plan with the vars rendered. The account is the runbook's
//! `account` (the one the account guard holds the credentials to) and the region its `region`
//! var; either unknown is `*`. The document goes to stdout, what it cannot cover to stderr
//! (`--output json`: one line with the `policy` and its `notes`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::engine::execution_plan;
use crate::error::Error;
use crate::exit_codes;
use crate::kinds::aws::iam::{self, ArnScope, Grant};
use crate::kinds::aws::policy::{self, StateBucket};
use crate::reporter::terminal::Terminal;
use crate::request::Target;
use crate::runbook::Step;
use crate::settings::{OutputFormat, Settings};
use crate::template;

/// What the operator learns on stderr: what the policy leaves out, and why.
#[derive(Default)]
struct Notes {
    /// Steps whose resources come from a capture, so that part of an ARN is `*`.
    captured: BTreeSet<String>,
    /// `shell` steps that run terraform or the AWS CLI, whose calls are their own.
    programs: BTreeSet<String>,
}

pub fn run(settings: &Settings, term: &Terminal) -> Result<i32, Error> {
    let runbook = super::load(settings)?;
    let target = settings.target.unwrap_or(Target::All);
    let vars = execution_plan::render_vars(&runbook, &settings.vars, &settings.env)?;
    let plan = execution_plan::build(&runbook, target, vars, &settings.env)?;
    let base = execution_plan::context(&plan.vars, &BTreeMap::new(), &settings.env, None, None);
    let account = runbook
        .account
        .as_deref()
        .and_then(|a| template::render_value(&Value::String(a.to_owned()), &base).ok())
        .and_then(|a| a.as_str().map(str::to_owned))
        .filter(|a| !a.is_empty());
    let region = plan
        .vars
        .get("region")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let scope = ArnScope {
        region: region.as_deref().unwrap_or("*"),
        account: account.as_deref().unwrap_or("*"),
    };
    let mut grants = Vec::new();
    let mut notes = Notes::default();
    for (_, ps) in plan.steps() {
        let ctx = execution_plan::context(
            &plan.vars,
            &BTreeMap::new(),
            &settings.env,
            ps.item.as_ref(),
            None,
        );
        let probe = ps.step.verify.as_deref();
        for step in std::iter::once(ps.step).chain(probe) {
            grants.extend(step_grant(step, &ctx, &scope, &mut notes));
        }
    }
    let state = settings
        .env
        .get(STATE_ENV)
        .and_then(|url| StateBucket::parse(url));
    if let Some(state) = &state {
        grants.extend(state.grants());
    }
    let policy = policy::document(grants);
    let notes = note_lines(
        &notes,
        &policy.withheld,
        account.is_none(),
        region.is_none(),
        state.is_some(),
    );
    match settings.output {
        OutputFormat::Json => term.out(&super::json_line(
            &serde_json::json!({ "policy": policy.document, "notes": notes }),
        )),
        OutputFormat::Human | OutputFormat::Junit => {
            term.out(&serde_json::to_string_pretty(&policy.document).unwrap_or_default());
            for line in notes {
                term.err(&format!("note: {line}"));
            }
        }
    }
    Ok(exit_codes::SUCCESS)
}

/// The S3 state backend's URL (`s3://bucket/prefix`), read as the state backend reads it.
const STATE_ENV: &str = "OUTPOST_MIGRATE_STATE";

/// What one step needs: an `aws` step's grant, its input rendered as far as the vars and
/// `item` allow (a value from a capture is `*`).
fn step_grant(
    step: &Step,
    ctx: &minijinja::Value,
    scope: &ArnScope,
    notes: &mut Notes,
) -> Option<Grant> {
    if step.kind.name() == "shell" {
        let command = step
            .spec
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if command.contains("terraform") || command.split_whitespace().any(|w| w == "aws") {
            notes.programs.insert(step.id.clone());
        }
        return None;
    }
    let service =
        crate::kinds::aws::service_of(&step.spec).filter(|_| step.kind.name() == "aws")?;
    let operation = step.spec.get("operation").and_then(Value::as_str)?;
    let operation = crate::kinds::aws::canonical_operation(operation);
    let mut unknown = false;
    let input = match step.spec.get("input") {
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(k, v)| (k.clone(), known(v, ctx, &mut unknown)))
            .collect(),
        _ => Map::new(),
    };
    if unknown {
        notes.captured.insert(step.id.clone());
    }
    iam::grant(service, &operation, &input, scope)
}

/// `value` rendered; a template that needs a capture is `*`.
fn known(value: &Value, ctx: &minijinja::Value, unknown: &mut bool) -> Value {
    match value {
        Value::String(_) => template::render_value(value, ctx).unwrap_or_else(|_| {
            *unknown = true;
            Value::String("*".into())
        }),
        Value::Array(items) => Value::Array(items.iter().map(|i| known(i, ctx, unknown)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), known(v, ctx, unknown)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn note_lines(
    notes: &Notes,
    withheld: &[String],
    no_account: bool,
    no_region: bool,
    s3_state: bool,
) -> Vec<String> {
    let ids = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut lines = Vec::new();
    if no_account {
        lines.push("the runbook names no `account`: ARNs hold `*` for the account".to_owned());
    }
    if no_region {
        lines.push("the runbook has no `region` var: ARNs hold `*` for the region".to_owned());
    }
    if !notes.captured.is_empty() {
        lines.push(format!(
            "some resources come from a value captured during the run and are `*` in their place: {}",
            ids(&notes.captured)
        ));
    }
    if !notes.programs.is_empty() {
        lines.push(format!(
            "programs run by `shell` steps (terraform, the AWS CLI) need their own permissions, not in this policy: {}",
            ids(&notes.programs)
        ));
    }
    if !withheld.is_empty() {
        lines.push(format!(
            "not granted because they read secret values (grant them yourself if a step must): {}",
            withheld.join(", ")
        ));
    }
    if s3_state {
        lines.push("if the state bucket encrypts with a KMS key, also grant kms:GenerateDataKey and kms:Decrypt on that key".to_owned());
    }
    lines
}
