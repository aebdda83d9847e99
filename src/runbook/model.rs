//! The typed runbook: units (pre-flight, phases, verification, rollback levels) made of steps.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::diagnostic::Loc;
use crate::expect::Expectation;
use crate::kinds::{Access, StepKind};
use crate::query::Query;

/// The whole validated runbook.
#[derive(Debug)]
pub struct Runbook {
    pub name: String,
    /// SHA-256 of the files it was loaded from (`source::digest`).
    pub digest: String,
    pub description: String,
    /// The AWS account (a template) the credentials must belong to before any AWS step runs.
    pub account: Option<String>,
    /// Declared variables in file order; values may be templates over `env` and earlier vars.
    pub vars: Vec<(String, Value)>,
    pub units: Vec<Unit>,
    /// Where to send escalation notifications (the `notify:` section), templates over vars.
    pub notify: Option<NotifySpec>,
}

/// The `notify:` section as written: templates over vars and `env`, rendered when a command
/// runs. The webhook URL and routing key are secrets and live in the settings, not here.
#[derive(Debug, Clone, Default)]
pub struct NotifySpec {
    /// Who is on call (the PagerDuty rotation), shown on failure.
    pub on_call: String,
    /// The Slack channel the incoming webhook posts to, shown on failure.
    pub slack_channel: String,
    /// Where non-urgent problems are filed (the GitHub issues URL).
    pub issues_url: String,
    /// The PagerDuty Events API v2 endpoint.
    pub pagerduty_url: String,
    /// The SNS topic every event is published to; empty: none.
    pub sns_topic_arn: String,
    /// How long one send may take before it is given up with a warning.
    pub timeout: Duration,
}

impl Runbook {
    pub fn unit(&self, key: UnitKey) -> Option<&Unit> {
        self.units.iter().find(|u| u.key == key)
    }

    pub fn steps(&self) -> impl Iterator<Item = (&Unit, &Step)> {
        self.units
            .iter()
            .flat_map(|u| u.steps.iter().map(move |s| (u, s)))
    }
}

/// Which part of the migration a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitKey {
    Preflight,
    Phase(u8),
    Verify,
    Rollback(u8),
    /// A symptom of the troubleshooting guide (`diagnose`): read-only, outside the migration.
    Diagnose(super::Symptom),
    /// The watch after the migration (`monitor`): rows checked at their own interval.
    Monitor,
}

impl UnitKey {
    /// The stable key used in the state file and JSON output.
    pub fn slug(&self) -> String {
        match self {
            UnitKey::Preflight => "preflight".into(),
            UnitKey::Phase(n) => format!("phase-{n}"),
            UnitKey::Verify => "verify".into(),
            UnitKey::Rollback(n) => format!("rollback-{n}"),
            UnitKey::Diagnose(s) => format!("diagnose-{s}"),
            UnitKey::Monitor => "monitor".into(),
        }
    }
}

impl fmt::Display for UnitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitKey::Preflight => write!(f, "pre-flight"),
            UnitKey::Phase(n) => write!(f, "phase {n}"),
            UnitKey::Verify => write!(f, "post-verification"),
            UnitKey::Rollback(n) => write!(f, "rollback level {n}"),
            UnitKey::Diagnose(s) => write!(f, "diagnose {s}"),
            UnitKey::Monitor => write!(f, "monitoring"),
        }
    }
}

/// A pre-flight or verification check file, a phase, or a rollback level.
#[derive(Debug)]
pub struct Unit {
    pub key: UnitKey,
    pub title: String,
    pub file: String,
    /// Check units run their steps concurrently, each as soon as the captures it needs exist;
    /// phases and rollback levels run in order.
    pub concurrent: bool,
    pub steps: Vec<Step>,
}

/// What a rollback step undoes: it is skipped when that never happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Reverts {
    /// A forward phase: skipped when no step of it ever ran.
    Phase(u8),
    /// A forward step: skipped unless it succeeded.
    Step(String),
}

/// `for_each`: a literal list, or a template over vars resolving to one.
#[derive(Debug, Clone)]
pub enum ForEach {
    Items(Vec<Value>),
    Template(String),
}

impl ForEach {
    /// The most items a `for_each` may expand to: each is a step of its own in the plan, the
    /// state and the reports, so a runaway list is refused before it is built.
    pub const MAX_ITEMS: usize = 1000;

    /// The id suffix of an item (`step.SUFFIX`): the item itself when it is a plain name,
    /// else its position. Ids key the saved state, so two items of a step must differ here.
    pub fn item_suffix(index: usize, item: &Value) -> String {
        match item {
            Value::String(s)
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                s.clone()
            }
            _ => index.to_string(),
        }
    }

    /// The first pair of items (by position) that would share an id, with that suffix.
    pub fn id_collision<'a>(
        items: impl IntoIterator<Item = (usize, &'a Value)>,
    ) -> Option<(usize, usize, String)> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in items {
            let suffix = Self::item_suffix(i, item);
            if let Some(&first) = seen.get(&suffix) {
                return Some((first, i, suffix));
            }
            seen.insert(suffix, i);
        }
        None
    }
}

#[derive(Debug, Clone)]
pub struct Retry {
    pub attempts: u32,
    /// `attempts` as a template over vars, rendered when the step runs.
    pub attempts_template: Option<String>,
    pub interval: Duration,
    /// `interval` as a template over vars, rendered when the step runs.
    pub interval_template: Option<String>,
    pub backoff: f32,
    pub max_interval: Option<Duration>,
    /// Keep polling until these hold (how waits are written).
    pub until: Vec<Expectation>,
}

/// One step: the shared envelope plus the kind's own (unrendered) fields.
pub struct Step {
    pub id: String,
    pub title: String,
    /// The title of the `groups:` entry a step of a check file is listed under; reports show
    /// checks under it.
    pub group: Option<String>,
    pub kind: &'static dyn StepKind,
    pub spec: Value,
    pub when: Option<String>,
    pub for_each: Option<ForEach>,
    pub retry: Option<Retry>,
    pub timeout: Duration,
    pub capture: Vec<(String, Query)>,
    pub expect: Vec<Expectation>,
    pub access: Access,
    /// Running it twice has the effect of running it once: in doubt after a crash, it is
    /// simply run again.
    pub idempotent: bool,
    pub approval: bool,
    /// `approval: second_person`: another AWS identity than the operator's must approve it
    /// (`outpost-migrate approve`); `approval` is true too.
    pub second_person: bool,
    pub optional: bool,
    pub secret: bool,
    /// For rollback steps: the forward phase this step undoes; skipped when it never ran.
    pub reverts: Option<Reverts>,
    /// Advice shown when the step fails.
    pub hint: Option<String>,
    /// What of the output to show under the step's line.
    pub show: Option<Query>,
    /// A read-only probe: after a crash left this step in doubt, it tells whether the step
    /// had done its work (and its captures give the step's).
    pub verify: Option<Box<Step>>,
    /// A monitoring row's interval and the rollback its sustained breach calls for.
    pub watch: Option<Watch>,
    /// Capture names (and vars) this step's templates refer to.
    pub needs: Vec<String>,
    /// Hash of the step's definition: a succeeded step whose hash changed is refused on resume.
    pub hash: String,
    pub file: String,
    pub loc: Loc,
}

/// How a monitoring row is watched: `every` (its interval) and `breach` (the rollback level
/// a breach held for `after` calls for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub every: Duration,
    pub breach: Option<Breach>,
}

/// A row's breach that calls for a rollback once it has lasted `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breach {
    pub rollback: u8,
    pub after: Duration,
}

/// What settles a step a crash left `running`, its effect unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDoubt {
    /// Read-only: simply run again.
    RunAgain,
    /// A confirmation: asked again.
    AskAgain,
    /// Its `verify` probe says whether it had done its work.
    Probe,
    /// Declared (or by its kind) idempotent: run again.
    Idempotent,
    /// None of these: the operator says (`--retry-in-doubt` / `--mark-done`).
    Operator,
}

impl InDoubt {
    /// How `plan` names it.
    pub fn describe(self) -> &'static str {
        match self {
            InDoubt::RunAgain => "run again",
            InDoubt::AskAgain => "asked again",
            InDoubt::Probe => "probed",
            InDoubt::Idempotent => "run again (idempotent)",
            InDoubt::Operator => "you decide (--retry-in-doubt / --mark-done)",
        }
    }
}

impl Step {
    /// Where this step writes a var unescaped (`{{ name | raw }}`): the field and its template, its
    /// `verify` probe's included, for `validate` and `plan` to list.
    pub fn raw_uses(&self) -> Vec<(String, String)> {
        let mut uses: Vec<(String, String)> = crate::template::spec_strings(&self.spec)
            .into_iter()
            .filter(|(_, text)| {
                crate::template::raw_names(text).is_ok_and(|names| !names.is_empty())
            })
            .map(|(path, text)| {
                let mut field = self.kind.name().to_owned();
                path.iter().for_each(|p| {
                    field.push('.');
                    field.push_str(p);
                });
                (field, text.to_owned())
            })
            .collect();
        if let Some(probe) = &self.verify {
            uses.extend(
                probe
                    .raw_uses()
                    .into_iter()
                    .map(|(field, text)| (format!("verify.{field}"), text)),
            );
        }
        uses
    }

    /// What settles this step when a crash left it in doubt: a read runs again, a question is
    /// asked again, a write runs its `verify` probe, runs again when idempotent, or else is
    /// left to the operator.
    pub fn in_doubt(&self) -> InDoubt {
        match self.access {
            Access::ReadOnly => InDoubt::RunAgain,
            Access::Manual => InDoubt::AskAgain,
            Access::Mutating if self.verify.is_some() => InDoubt::Probe,
            Access::Mutating if self.idempotent => InDoubt::Idempotent,
            Access::Mutating => InDoubt::Operator,
        }
    }

    /// How many expectations the step checks: its `expect` items and its retry's `until`
    /// items. A read-only step with at least one is a check, which the break matrix
    /// (rehearsal/break_matrix.py) must see fail.
    pub fn expectations(&self) -> usize {
        self.expect.len() + self.retry.as_ref().map_or(0, |r| r.until.len())
    }

    /// Read-only only because its author says so (`mutates: false` on a `shell` or `mcp`
    /// step): what a dry run runs on the runbook's word, which `plan` points out.
    pub fn read_only_declared(&self) -> bool {
        self.access == Access::ReadOnly && self.kind.access(&self.spec) != Access::ReadOnly
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("id", &self.id)
            .field("kind", &self.kind.name())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_ids_come_from_names_else_positions_and_collisions_are_found() {
        assert_eq!(
            ForEach::item_suffix(0, &json!("outpost-base")),
            "outpost-base"
        );
        assert_eq!(ForEach::item_suffix(3, &json!("a b")), "3");
        assert_eq!(ForEach::item_suffix(4, &json!({"n": 1})), "4");
        let items = [json!("1"), json!(1)];
        assert_eq!(
            ForEach::id_collision(items.iter().enumerate()),
            Some((0, 1, "1".to_owned()))
        );
        let items = [json!(2), json!("0"), json!("x")];
        assert_eq!(
            ForEach::id_collision(items.iter().enumerate()),
            Some((0, 1, "0".to_owned()))
        );
        let items = [json!("a"), json!("b"), json!({"c": 1})];
        assert_eq!(ForEach::id_collision(items.iter().enumerate()), None);
    }
}
