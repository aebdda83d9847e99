//! `plan --out FILE` and `--plan FILE`: the command side of saved plans (the identity, the
//! refusals); the format and the comparison are `crate::saved_plan`.

use std::path::{Path, PathBuf};

use crate::engine::execution_plan::Plan;
use crate::error::Error;
use crate::kinds::aws::AwsContext;
use crate::request::Target;
use crate::runbook::Runbook;
use crate::saved_plan::{self, Context, SavedPlan};
use crate::secrets::Redactor;
use crate::settings::{Action, Settings};
use crate::state::State;

/// The account and region the credentials resolve to, by the account guard's own call
/// (STS GetCallerIdentity), when the plan calls AWS; `None` when it does not.
async fn identity(aws: &AwsContext, plan: &Plan<'_>) -> Result<Option<(String, String)>, Error> {
    if !super::execute::calls_aws(plan) {
        return Ok(None);
    }
    let id = crate::kinds::aws::caller_identity(aws)
        .await
        .map_err(|f| Error::Setup(f.message))?;
    Ok(Some((id.account, id.region)))
}

/// The things a plan is built from, as the command has them.
pub struct Sources<'a> {
    pub settings: &'a Settings,
    pub runbook: &'a Runbook,
    pub plan: &'a Plan<'a>,
    pub state: Option<&'a State>,
    pub redactor: &'a Redactor,
}

impl<'a> Sources<'a> {
    pub fn new(
        settings: &'a Settings,
        runbook: &'a Runbook,
        plan: &'a Plan<'a>,
        state: Option<&'a State>,
        redactor: &'a Redactor,
    ) -> Self {
        Sources {
            settings,
            runbook,
            plan,
            state,
            redactor,
        }
    }

    /// `--plan FILE`: the saved plan must equal the plan built now (same runbook, steps,
    /// vars, overrides, state serial, account, region, target), or the command is refused
    /// naming every difference. Called with the lock held, so the state cannot move on after
    /// the check. Without `--plan`, nothing to check.
    pub async fn check(
        &self,
        aws: &AwsContext,
        saved: Option<&(PathBuf, SavedPlan)>,
    ) -> Result<(), Error> {
        let Some((path, saved)) = saved else {
            return Ok(());
        };
        let now = self.build(identity(aws, self.plan).await?);
        let drift = saved_plan::drift(saved, &now);
        if drift.is_empty() {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "the saved plan {} no longer matches, so nothing was run: {}. Make a new plan (`outpost-migrate plan {} --out FILE`) and have it reviewed",
            path.display(),
            drift.join("; "),
            self.plan.target.to_string().replace("--level ", "")
        )))
    }

    fn build(&self, identity: Option<(String, String)>) -> SavedPlan {
        saved_plan::build(&Context {
            runbook: self.runbook,
            plan: self.plan,
            state: self.state,
            env: &self.settings.env,
            identity,
            redactor: self.redactor,
            overrides: &self.settings.overrides,
            by: format!("{}@{}", self.settings.user, self.settings.host),
        })
    }
}

/// `plan TARGET --out FILE`: asks AWS who the credentials are (refusing an account other
/// than the runbook's), then writes the plan. A plan is for one command: `all` is refused.
pub fn write(src: &Sources, out: &Path) -> Result<(), Error> {
    if src.plan.target == Target::All {
        return Err(Error::Usage(format!(
            "--out {}: a saved plan is for one command; name it: plan preflight, plan phase N, plan rollback N, plan verify or plan run",
            out.display()
        )));
    }
    let aws = AwsContext::new(super::execute::aws_config(src.settings, src.plan, false)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("failed to start the async runtime: {e}")))?;
    let identity = runtime.block_on(identity(&aws, src.plan))?;
    let expected = super::execute::expected_account(src.settings, src.runbook, src.plan)?;
    if let (Some((account, _)), Some(expected)) = (&identity, &expected)
        && account != expected
    {
        return Err(Error::Refused(format!(
            "the AWS credentials are for account {account}, but this runbook runs against account {expected}; no plan was written. Check --profile/AWS_PROFILE"
        )));
    }
    saved_plan::write(out, &src.build(identity))
}

/// The saved plan a command was given (`--plan FILE`), read: a file that is not one is an
/// error naming it.
pub fn given(settings: &Settings) -> Result<Option<(PathBuf, SavedPlan)>, Error> {
    let Action::Execute {
        plan: Some(path), ..
    } = &settings.action
    else {
        return Ok(None);
    };
    Ok(Some((path.clone(), saved_plan::read(path)?)))
}
