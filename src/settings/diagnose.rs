//! `diagnose`'s own command line: which symptom, and its argument as the var it sets.

use super::{Action, Groups};
use crate::cli::{DiagnoseArgs, RunbookArgs};
use crate::error::Error;
use crate::request::Target;
use crate::runbook::Symptom;

/// The symptom `diagnose` was asked for (`None`: every symptom), as `--show-settings` says it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiagnoseRequest {
    pub symptom: Option<String>,
}

/// What `diagnose` asks for, and the argument groups it takes.
pub(super) fn split(args: DiagnoseArgs) -> Result<(Action, Option<Target>, Groups), Error> {
    let DiagnoseArgs {
        symptom,
        argument,
        runbook,
        aws,
        jobs,
    } = args;
    let (symptom, runbook) = request(symptom, argument, runbook)?;
    Ok((
        Action::Diagnose(DiagnoseRequest {
            symptom: symptom.map(|s| s.to_string()),
        }),
        Some(Target::Diagnose(symptom)),
        Groups {
            runbook,
            aws,
            jobs,
            ..Groups::default()
        },
    ))
}

/// `diagnose [SYMPTOM [ARGUMENT]]`: the symptom, and its argument as the var it sets (after
/// any `--var` of it, so it wins). A symptom that takes no argument refuses one.
pub(super) fn request(
    symptom: Option<String>,
    argument: Option<String>,
    mut runbook: RunbookArgs,
) -> Result<(Option<Symptom>, RunbookArgs), Error> {
    let Some(name) = symptom else {
        return Ok((None, runbook));
    };
    let symptom = Symptom::from_name(&name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown symptom `{name}`; use {}",
            Symptom::names().join(", ")
        ))
    })?;
    match (symptom.argument(), argument) {
        (Some((var, _)), Some(value)) => runbook.vars.push((var.to_owned(), value)),
        (None, Some(value)) => {
            return Err(Error::Usage(format!(
                "`diagnose {symptom}` takes no argument (got `{value}`)"
            )));
        }
        (_, None) => {}
    }
    Ok((Some(symptom), runbook))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_argument_sets_its_symptoms_var_and_a_symptom_without_one_refuses_it() {
        let (s, args) = request(
            Some("agent".into()),
            Some("codex".into()),
            RunbookArgs::default(),
        )
        .expect("agent takes a name");
        assert_eq!(s, Some(Symptom::Agent));
        assert_eq!(
            args.vars,
            [("diagnose_agent".to_owned(), "codex".to_owned())]
        );
        let refused = request(
            Some("auth".into()),
            Some("x".into()),
            RunbookArgs::default(),
        );
        assert!(refused.is_err());
        let (s, args) = request(None, None, RunbookArgs::default()).expect("every symptom");
        assert_eq!(s, None);
        assert!(args.vars.is_empty());
    }
}
