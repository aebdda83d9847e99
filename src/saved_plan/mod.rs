//! Saved plans: what `plan --out FILE` writes for review, and what `--plan FILE` holds a
//! run to. A saved plan only gates: the steps a run executes still come from the runbook it
//! loads, and the run is refused unless the plan it builds now equals the saved one.

mod drift;
mod file;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use drift::drift;
pub use file::{read, write};

use crate::engine::execution_plan::{self, EnvMap, Plan, PlanStep};
use crate::kinds::Access;
use crate::request::Overrides;
use crate::runbook::Runbook;
use crate::secrets::Redactor;
use crate::state::State;

/// What the `format` field of a saved plan says, so another JSON file is told apart.
pub const FORMAT: &str = "outpost-migrate-plan";
/// The version of the format this build writes and reads.
pub const VERSION: u32 = 1;
/// What a saved plan shows for `run.scratch_dir`, which each run creates afresh.
const SCRATCH_PLACEHOLDER: &str = "<run scratch dir>";

/// A saved plan. Every field but `created` is compared when the plan is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub format: String,
    pub version: u32,
    /// The runbook's `name`.
    pub runbook: String,
    /// SHA-256 of the runbook's files.
    pub runbook_hash: String,
    /// The command it is for: `preflight`, `phase 3`, `rollback --level 2`, `verify`, `run`.
    pub target: String,
    /// The AWS account and region the credentials resolved to (GetCallerIdentity), when the
    /// plan calls AWS.
    pub account: Option<String>,
    pub region: Option<String>,
    /// The serial of the saved state it was made from (0: no run recorded yet).
    pub state_serial: u64,
    /// The guards' overrides it was made with (`--force`, `--accept-changed ID`...): a run
    /// cannot add one the reviewers did not see.
    pub overrides: Vec<String>,
    /// The rendered vars, secrets redacted.
    pub vars: Map<String, Value>,
    pub steps: Vec<SavedStep>,
    /// Who made it, when, with which build: shown, never compared.
    pub created: Created,
}

/// One step of a saved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedStep {
    pub id: String,
    pub unit: String,
    pub kind: String,
    pub access: Access,
    /// The hash of the step's definition (with its `for_each` item).
    pub hash: String,
    /// Rendered and redacted.
    pub title: String,
    /// The inputs rendered with the vars and the saved captures (as the template where a
    /// capture is not made yet), secrets redacted.
    pub inputs: Value,
}

/// Where a saved plan comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub at: String,
    pub by: String,
    pub tool_version: String,
}

/// Where a plan is made: the runbook, the state, the identity and the redactor.
pub struct Context<'a> {
    pub runbook: &'a Runbook,
    pub plan: &'a Plan<'a>,
    pub state: Option<&'a State>,
    pub env: &'a EnvMap,
    /// The account and region of the credentials (`None`: the plan calls no AWS).
    pub identity: Option<(String, String)>,
    pub redactor: &'a Redactor,
    /// The guards' overrides of the command line.
    pub overrides: &'a Overrides,
    /// user@host.
    pub by: String,
}

/// The saved plan of `ctx.plan` as things stand.
pub fn build(ctx: &Context) -> SavedPlan {
    let captures = ctx.state.map(State::captures).unwrap_or_default();
    // Every step's secrets are known before anything is redacted: a step's title or an
    // earlier step's inputs may hold a later step's secret.
    let rendered: Vec<(String, &PlanStep, Value)> = ctx
        .plan
        .steps()
        .map(|(unit, ps)| {
            let vars = &ctx.plan.vars;
            let tctx = execution_plan::context(vars, &captures, ctx.env, ps.item.as_ref(), None);
            let tctx = execution_plan::with_run(tctx, false, SCRATCH_PLACEHOLDER);
            // A step whose inputs need captures not made yet keeps its templates.
            let inputs = ps
                .step
                .kind
                .render(&ps.step.spec, &tctx)
                .unwrap_or_else(|_| ps.step.spec.clone());
            for secret in ps.step.kind.secrets(&inputs) {
                ctx.redactor.add(&secret);
            }
            (unit.unit.key.slug(), ps, inputs)
        })
        .collect();
    let steps = rendered
        .into_iter()
        .map(|(unit, ps, inputs)| SavedStep {
            id: ps.id.clone(),
            unit,
            kind: ps.step.kind.name().into(),
            access: ps.step.access,
            hash: ps.hash.clone(),
            title: ctx.redactor.redact(&ps.title),
            inputs: ctx.redactor.redact_value(&inputs),
        })
        .collect();
    let (account, region) = ctx
        .identity
        .clone()
        .map_or((None, None), |(a, r)| (Some(a), Some(r)));
    let vars = match ctx
        .redactor
        .redact_value(&Value::Object(ctx.plan.vars.clone()))
    {
        Value::Object(vars) => vars,
        _ => Map::new(),
    };
    SavedPlan {
        format: FORMAT.into(),
        version: VERSION,
        runbook: ctx.runbook.name.clone(),
        runbook_hash: ctx.runbook.digest.clone(),
        target: ctx.plan.target.to_string(),
        account,
        region,
        state_serial: ctx.state.map_or(0, |s| s.serial),
        overrides: overrides(ctx.overrides),
        vars,
        steps,
        created: Created {
            at: jiff::Timestamp::now().to_string(),
            by: ctx.by.clone(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
        },
    }
}

/// The overrides as the command line gives them, in a fixed order.
fn overrides(o: &Overrides) -> Vec<String> {
    let each = |flag: &str, ids: &std::collections::BTreeSet<String>| {
        ids.iter()
            .map(|id| format!("{flag} {id}"))
            .collect::<Vec<_>>()
    };
    let mut out: Vec<String> = o.force.then(|| "--force".to_owned()).into_iter().collect();
    out.extend(each("--accept-changed", &o.accept_changed));
    out.extend(each("--retry-in-doubt", &o.retry_in_doubt));
    out.extend(each("--mark-done", &o.mark_done));
    out
}
