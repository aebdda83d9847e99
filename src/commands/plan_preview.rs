//! What makes `plan` a preview rather than a list: the header (account, region, profile,
//! state), each `when` evaluated where its inputs are known, what is left to do, and whether a
//! real run would be refused.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::execution_plan::Plan;
use crate::engine::guard;
use crate::error::Error;
use crate::exit_codes;
use crate::kinds::Access;
use crate::runbook::Runbook;
use crate::settings::Settings;
use crate::state::{State, StateStore};
use crate::template;

/// Where a real run would act and where it keeps its state.
#[derive(Debug, Serialize)]
pub struct PlanHeader {
    /// The AWS account the runbook expects the credentials to belong to.
    pub account: Option<String>,
    /// Whether the plan calls AWS at all; region and profile mean nothing otherwise.
    pub calls_aws: bool,
    pub region: Option<String>,
    /// Where the region comes from (`--region`, the runbook's vars.region, AWS_REGION...).
    pub region_source: Option<String>,
    /// `None`: the SDK's default chain.
    pub profile: Option<String>,
    /// Why AWS cannot be used as configured (the first AWS step would fail with it).
    pub aws_problem: Option<String>,
    pub state_dir: String,
    /// What the state directory holds: no run yet, or the last save.
    pub state: String,
}

/// A step's `when`, evaluated with the vars and the captures saved so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum WhenResult {
    True,
    False,
    /// It uses a capture that no run has made yet: known once that step runs.
    Unknown {
        until: String,
    },
    /// It cannot be evaluated (a real run fails the step).
    Invalid {
        message: String,
    },
}

/// What is left to do: changes, checks (read-only steps) and questions (confirmations, and
/// approvals not given by `--yes` or `--approve`).
#[derive(Debug, Default, Serialize)]
pub struct PlanCounts {
    pub steps: usize,
    pub changes: usize,
    pub checks: usize,
    pub questions: usize,
    /// Succeeded or skipped in the saved state.
    pub done: usize,
    /// Their `when` is false: a real run skips them.
    pub skipped: usize,
}

impl PlanCounts {
    pub fn nothing_left(&self) -> bool {
        self.changes + self.checks + self.questions == 0
    }

    /// "N changes, M checks, K questions", or "nothing left to do".
    pub fn summary(&self) -> String {
        if self.nothing_left() {
            return "nothing left to do".into();
        }
        let n =
            |count: usize, one: &str| format!("{count} {one}{}", if count == 1 { "" } else { "s" });
        format!(
            "{}, {}, {}",
            n(self.changes, "change"),
            n(self.checks, "check"),
            n(self.questions, "question")
        )
    }

    /// Counts a step still to run (`asks`: the run will ask the operator about it).
    pub fn add_left(&mut self, access: Access, asks: bool) {
        match access {
            Access::Mutating => self.changes += 1,
            Access::ReadOnly => self.checks += 1,
            Access::Manual => {}
        }
        if asks {
            self.questions += 1;
        }
    }
}

/// A real run of the plan's command would stop before its first step: why, and its exit code.
#[derive(Debug, Serialize)]
pub struct WouldRefuse {
    pub message: String,
    pub exit_code: i32,
}

/// Each capture of the runbook and the step that makes it.
pub fn producers(runbook: &Runbook) -> HashMap<String, String> {
    let mut producers = HashMap::new();
    for (_, step) in runbook.steps() {
        for (name, _) in &step.capture {
            producers
                .entry(name.clone())
                .or_insert_with(|| step.id.clone());
        }
    }
    producers
}

/// What a `when` can be evaluated with before a run.
pub struct Known<'a> {
    pub vars: &'a Map<String, Value>,
    /// The captures saved by earlier runs.
    pub captures: &'a BTreeMap<String, Value>,
    /// Each capture and the step that makes it.
    pub producers: &'a HashMap<String, String>,
    /// Steps this plan skips (their `when` is false): their captures are never made, so a
    /// real run evaluates conditions with them undefined, as the plan can.
    pub skipped: &'a HashSet<String>,
}

/// `when: COND` with what is known now: vars, `env`, and the captures saved by earlier runs.
/// A capture not saved yet makes it unknown until its step runs.
pub fn when_result(cond: &str, ctx: &minijinja::Value, known: &Known) -> WhenResult {
    let refs = template::condition_references(cond).unwrap_or_default();
    let missing = refs.iter().find_map(|r| {
        let name = r.root.as_str();
        let unknown = !known.vars.contains_key(name) && !known.captures.contains_key(name);
        let producer = known.producers.get(name);
        producer.filter(|step| unknown && !known.skipped.contains(*step))
    });
    if let Some(step) = missing {
        return WhenResult::Unknown {
            until: step.clone(),
        };
    }
    match template::eval_condition(cond, ctx) {
        Ok(true) => WhenResult::True,
        Ok(false) => WhenResult::False,
        Err(message) => WhenResult::Invalid { message },
    }
}

/// The header: the runbook's account, the region and profile a real run would use (as it
/// resolves them), and the state directory.
pub fn header(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan,
    state: Option<&State>,
) -> (PlanHeader, Option<Error>) {
    let account = super::execute::expected_account(settings, runbook, plan)
        .ok()
        .flatten();
    let (aws, refused) = match super::execute::aws_config(settings, plan, false) {
        Ok(aws) => (aws, None),
        Err(e) => (Default::default(), Some(e)),
    };
    let state_line = match state {
        Some(s) => format!(
            "serial {}, updated {} by {}",
            s.serial,
            s.updated_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            s.operator.as_deref().unwrap_or("unknown")
        ),
        None => "no run recorded yet".into(),
    };
    let (region, region_source) = aws.region.map_or((None, None), |(r, s)| (Some(r), Some(s)));
    let header = PlanHeader {
        account,
        calls_aws: super::execute::calls_aws(plan),
        region,
        region_source,
        profile: aws.profile,
        aws_problem: aws.unusable,
        state_dir: settings.state_dir.display().to_string(),
        state: state_line,
    };
    (header, refused)
}

/// The first refusal a real run of the plan's command would stop at: a state of another
/// runbook, a region the environment contradicts, a live run holding the lock, the guards
/// (phase order, a rollback with no forward run, a changed step, a step in doubt).
pub fn would_refuse(
    settings: &Settings,
    runbook: &Runbook,
    plan: &Plan,
    store: &dyn StateStore,
    state: Option<&State>,
    aws_refusal: Option<Error>,
) -> Option<WouldRefuse> {
    let refused = |message: String| {
        Some(WouldRefuse {
            message,
            exit_code: exit_codes::REFUSED,
        })
    };
    if let Some(s) = state.filter(|s| s.runbook != runbook.name) {
        return refused(format!(
            "the state in {} belongs to runbook `{}`, not `{}`; use another --state-dir",
            settings.state_dir.display(),
            s.runbook,
            runbook.name
        ));
    }
    if let Some(e) = aws_refusal {
        return Some(WouldRefuse {
            message: e.reason().unwrap_or_else(|| e.to_string()),
            exit_code: e.exit_code(),
        });
    }
    if let Ok(Some(lock)) = store.lock_info()
        && lock.holder_alive(&settings.host)
    {
        return refused(format!(
            "another run holds the lock: {lock}; wait for it to finish"
        ));
    }
    let empty = State::new(&runbook.name);
    let refusals = guard::refusals(
        runbook,
        plan,
        state.unwrap_or(&empty),
        &settings.env,
        &settings.overrides,
        &settings.state_dir,
    );
    refusals.into_iter().next().and_then(|r| refused(r.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_changes_checks_and_questions_or_nothing_left() {
        let mut c = PlanCounts::default();
        assert_eq!(c.summary(), "nothing left to do");
        c.add_left(Access::Mutating, true);
        c.add_left(Access::ReadOnly, false);
        c.add_left(Access::ReadOnly, false);
        assert_eq!(c.summary(), "1 change, 2 checks, 1 question");
    }

    #[test]
    fn a_when_on_a_capture_not_made_yet_is_unknown_until_its_step_runs() {
        let vars: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"domain": ""})).unwrap();
        let producers = HashMap::from([("zone".to_owned(), "find-zone".to_owned())]);
        let none = BTreeMap::new();
        let none_skipped = HashSet::new();
        let when = |cond: &str, captures: &BTreeMap<String, Value>| {
            let ctx = crate::engine::execution_plan::context(
                &vars,
                captures,
                &Default::default(),
                None,
                None,
            );
            let known = Known {
                vars: &vars,
                captures,
                producers: &producers,
                skipped: &none_skipped,
            };
            when_result(cond, &ctx, &known)
        };
        assert_eq!(when("domain != ''", &none), WhenResult::False);
        assert_eq!(
            when("zone != ''", &none),
            WhenResult::Unknown {
                until: "find-zone".into()
            }
        );
        let made = BTreeMap::from([("zone".to_owned(), Value::from("Z1"))]);
        assert_eq!(when("zone != ''", &made), WhenResult::True);
        // Its maker skipped, the capture stays undefined in a real run too.
        let skipped = HashSet::from(["find-zone".to_owned()]);
        let ctx =
            crate::engine::execution_plan::context(&vars, &none, &Default::default(), None, None);
        let known = Known {
            vars: &vars,
            captures: &none,
            producers: &producers,
            skipped: &skipped,
        };
        assert_eq!(
            when_result("zone is defined", &ctx, &known),
            WhenResult::False
        );
    }
}
