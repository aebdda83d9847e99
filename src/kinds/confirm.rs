//! `confirm`: a checklist item no program can check; the operator answers it at a prompt
//! (or `--approve ID`, `--yes`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Access, KindContext, KindFailure, KindFuture, SpecError, StepKind, StepRef, parse_spec,
};

pub struct Confirm;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "ConfirmStep")]
enum Spec {
    Prompt(String),
    Full(Full),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ConfirmPrompt")]
struct Full {
    prompt: String,
}

impl Spec {
    fn prompt(self) -> String {
        match self {
            Spec::Prompt(p) | Spec::Full(Full { prompt: p }) => p,
        }
    }
}

impl StepKind for Confirm {
    fn name(&self) -> &'static str {
        "confirm"
    }

    fn spec_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Spec>()
    }

    fn check(&self, spec: &Value) -> Result<(), SpecError> {
        parse_spec::<Spec>(spec).map(|_| ()).map_err(|e| SpecError {
            path: e.path,
            message: "`confirm` takes the question as a string, or `{ prompt: ... }`".into(),
        })
    }

    fn access(&self, _spec: &Value) -> Access {
        Access::Manual
    }

    fn describe(&self, spec: &Value) -> String {
        parse_spec::<Spec>(spec)
            .map(|s| format!("ask: {}", s.prompt()))
            .unwrap_or_else(|_| spec.to_string())
    }

    fn run<'a>(&'a self, spec: Value, step: StepRef<'a>, ctx: &'a KindContext) -> KindFuture<'a> {
        Box::pin(async move {
            let prompt = parse_spec::<Spec>(&spec)
                .map_err(|e| KindFailure::failed(e.message))?
                .prompt();
            if step.approved {
                return Ok(json!({"confirmed": true, "by": "flag"}));
            }
            if !ctx.prompter.can_prompt() {
                return Err(KindFailure::refused(format!(
                    "`{prompt}` needs an operator's answer and there is no terminal; rerun with --approve {} or --yes",
                    step.id
                )));
            }
            let prompter = ctx.prompter.clone();
            let question = format!("{prompt}?");
            let yes = tokio::task::spawn_blocking(move || prompter.confirm(&question))
                .await
                .map_err(|e| KindFailure::failed(format!("prompt failed: {e}")))?;
            if yes {
                Ok(json!({"confirmed": true, "by": "operator"}))
            } else {
                Err(KindFailure::failed(format!(
                    "the operator answered no to `{prompt}`"
                )))
            }
        })
    }
}
