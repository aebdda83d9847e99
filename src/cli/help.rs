//! The help's examples, one block per subcommand, and the exit codes the long help lists
//! (generated from `exit_codes::ALL`, so the help cannot drift from the codes).

use crate::exit_codes;

pub const TOP: &str = "\
Examples:
  outpost-migrate validate                 # is the runbook valid? runs nothing
  outpost-migrate plan phase 3             # what phase 3 would do
  outpost-migrate preflight                # the pre-migration checklist
  outpost-migrate run                      # pre-flight, phases 1-5, verification, resuming
  outpost-migrate rollback --level 2       # undo MCPify, then DNS
  outpost-migrate status                   # where are we?
  outpost-migrate validate && outpost-migrate run --dry-run --output junit   # the CI gate

`outpost-migrate COMMAND --help` lists what each command takes.";

pub const VALIDATE: &str = "\
Examples:
  outpost-migrate validate
  outpost-migrate validate --runbook ./my-runbook --var domain=api.example.dev
  outpost-migrate validate --output junit > validate.xml";

pub const SCHEMA: &str = "\
Examples:
  outpost-migrate schema > runbook.schema.json
  # then, as the first line of a runbook file:
  # yaml-language-server: $schema=runbook.schema.json";

pub const IAM_POLICY: &str = "\
Examples:
  outpost-migrate iam-policy > outpost-migrate-policy.json   # every target
  outpost-migrate iam-policy preflight                       # pre-flight only: reads
  OUTPOST_MIGRATE_STATE=s3://team-state/outpost outpost-migrate iam-policy phase 2";

pub const PLAN: &str = "\
Examples:
  outpost-migrate plan                     # everything, rollback levels included
  outpost-migrate plan phase 3
  outpost-migrate plan rollback 2 --state-dir /srv/outpost/.outpost-migrate
  outpost-migrate plan preflight --dry-run --output json
  outpost-migrate plan phase 3 --out plan.json  # the saved plan to review";

pub const PREFLIGHT: &str = "\
Examples:
  outpost-migrate preflight
  outpost-migrate preflight --dry-run --output junit > preflight.xml
  outpost-migrate preflight --profile soc --jobs 4";

pub const PHASE: &str = "\
Examples:
  outpost-migrate phase 1                  # asks before `terraform apply`
  outpost-migrate phase 1 --approve alb-terraform-apply
  outpost-migrate phase 3 --dry-run        # what would change, changing nothing
  outpost-migrate phase 4 --force          # out of order, on purpose
  outpost-migrate phase 3 --plan plan.json # only what the reviewed plan says";

pub const ROLLBACK: &str = "\
Examples:
  outpost-migrate rollback --level 1       # MCPify back to the SSM provider
  outpost-migrate rollback --level 2       # level 1, then DNS back to the legacy host
  outpost-migrate rollback --level 3 --dry-run
  outpost-migrate rollback --level 1 --state-dir /srv/outpost/.outpost-migrate";

pub const DIAGNOSE: &str = "\
Examples:
  outpost-migrate diagnose                 # every symptom (agent and artifacts need their argument)
  outpost-migrate diagnose control-plane   # /health, ECS tasks, the last 10 minutes of its log
  outpost-migrate diagnose agent codex
  outpost-migrate diagnose artifacts dsp_0123 --output json";

pub const VERIFY: &str = "\
Examples:
  outpost-migrate verify
  outpost-migrate verify --output junit > verify.xml";

pub const RUN: &str = "\
Examples:
  outpost-migrate run                      # resumes where the last run stopped
  outpost-migrate run --dry-run --output junit > migration.xml   # the CI gate
  outpost-migrate run --retry-in-doubt STEP_ID   # after a crash: run that step again
  outpost-migrate run --mark-done STEP_ID        # after a crash: it had done its work";

pub const STATUS: &str = "\
Examples:
  outpost-migrate status
  outpost-migrate status --state-dir /srv/outpost/.outpost-migrate --output json";

pub const UNLOCK: &str = "\
Examples:
  outpost-migrate unlock                   # a lock left by a dead process on this host
  outpost-migrate unlock --lock-id ID      # the id `status` or the refused run showed";

pub const APPROVE: &str = "\
Examples:
  outpost-migrate approve dns-upsert-alias # as another AWS identity than the waiting run's
  outpost-migrate approve rollback-scale-control-plane --profile reviewer";

/// A subcommand's examples followed by the exit codes, for its long help (`--help`).
pub fn long(examples: &str) -> String {
    format!("{examples}\n\n{}", exit_codes_help())
}

/// The exit codes, one line each: code, name, meaning.
pub fn exit_codes_help() -> String {
    let width = exit_codes::ALL
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let lines: Vec<String> = exit_codes::ALL
        .iter()
        .map(|c| {
            format!(
                "  {:>3}  {:<width$}  {}",
                c.code,
                c.name,
                c.meaning,
                width = width
            )
        })
        .collect();
    format!("Exit codes:\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_help_lists_every_exit_code() {
        let help = exit_codes_help();
        for code in exit_codes::ALL {
            assert!(
                help.contains(&format!("{:>3}  {}", code.code, code.name)),
                "{help}"
            );
        }
    }
}
