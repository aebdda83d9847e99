//! The runbook's AWS configuration reaches the SDK: its region (and profile) are the defaults,
//! `--region` overrides, and an environment region that contradicts it is refused.

use outpost_migrate::exit_codes::{REFUSED, SETUP, STEP_FAILED, SUCCESS};

use crate::aws::healthy;
use crate::support::{ACCOUNT, Moto, Test};

/// The emulator's endpoint and credentials, and no region at all in the environment.
fn without_region(moto: &Moto) -> Test {
    let mut t = Test::new().embedded();
    for (k, v) in moto.env() {
        if k != "AWS_REGION" {
            t = t.env(&k, &v);
        }
    }
    t.isolated_aws_files()
}

#[test]
fn preflight_from_an_empty_environment_runs_in_the_runbooks_region() {
    let moto = healthy();
    let t = without_region(&moto);
    t.run(&["preflight", "--yes"])
        .code(SUCCESS)
        .stdout_has(&format!(
            "✔ AWS account {ACCOUNT} as arn:aws:sts::{ACCOUNT}:user/moto, region us-east-1 (from the runbook's vars.region)"
        ))
        .stdout_has("✔ ALB target healthy");
}

#[test]
fn an_environment_region_other_than_the_runbooks_is_refused_naming_both() {
    let moto = healthy();
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        let t = without_region(&moto).env(var, "eu-west-1");
        let run = t.run(&["preflight", "--yes"]);
        run.code(REFUSED)
            .stderr_has(&format!(
                "the runbook runs in us-east-1 (the runbook's vars.region), but {var} says eu-west-1; nothing was run"
            ))
            .stderr_has("Pass --region us-east-1");
        assert!(
            !run.stdout.contains("AWS account"),
            "nothing may run before the refusal:\n{}",
            run.stdout
        );
        assert!(
            !t.state_dir().join("state.json").exists(),
            "a refused run leaves no state"
        );
    }
    // The dry run (the CI gate) is refused alike: its checks would read the wrong region.
    without_region(&moto)
        .env("AWS_REGION", "eu-west-1")
        .run(&["run", "--dry-run"])
        .code(REFUSED)
        .stderr_has("but AWS_REGION says eu-west-1");
}

#[test]
fn the_region_of_the_selected_profile_counts_as_the_environments() {
    let moto = healthy();
    let t = without_region(&moto);
    std::fs::write(t.path("aws-config"), "[profile soc]\nregion = eu-west-1\n").unwrap();
    t.run(&["preflight", "--yes"])
        .code(REFUSED)
        .stderr_has("but the region of profile `soc` says eu-west-1")
        .stderr_has("or change the profile's region");
    // The same profile in the runbook's region runs, with the environment's credentials.
    std::fs::write(t.path("aws-config"), "[profile soc]\nregion = us-east-1\n").unwrap();
    t.run(&["preflight", "--yes"]).code(SUCCESS);
}

#[test]
fn region_flag_overrides_the_runbook_and_the_environment() {
    let moto = healthy();
    let t = without_region(&moto).env("AWS_REGION", "eu-west-1");
    t.run(&["preflight", "--yes", "--region", "us-east-1"])
        .code(SUCCESS)
        .stdout_has("region us-east-1 (from --region)");
    // --region eu-west-1 really calls eu-west-1, where the emulator holds no fleet.
    let elsewhere = without_region(&moto);
    elsewhere
        .run(&["preflight", "--yes", "--region", "eu-west-1"])
        .code(STEP_FAILED)
        .stdout_has("region eu-west-1 (from --region)")
        .stdout_has("✘ ECS cluster operational");
}

#[test]
fn a_runbook_profile_missing_without_environment_credentials_is_a_setup_error_naming_it() {
    let moto = healthy();
    let t = Test::new()
        .embedded()
        .env("AWS_ENDPOINT_URL", &moto.url)
        .isolated_aws_files();
    t.run(&["preflight", "--yes"])
        .code(SETUP)
        .stdout_has("Unable to locate credentials.")
        .stdout_has("The runbook's profile (soc, the runbook's vars.profile) is not in")
        .stdout_has("--var profile=NAME");
    // An explicit --profile that does not exist is an error even with credentials in the
    // environment, as with the AWS CLI.
    without_region(&moto)
        .run(&["preflight", "--yes", "--profile", "nobody"])
        .code(SETUP)
        .stdout_has("The config profile (nobody) could not be found (named by --profile;");
}

#[test]
fn shell_steps_run_in_the_runs_region_and_a_steps_own_env_wins() {
    let moto = healthy();
    let rb = crate::support::Runbook::minimal()
        .vars("  region: eu-central-1\n")
        .preflight(
            r#"- title: AWS
  steps:
    - id: who
      aws: { service: sts, operation: GetCallerIdentity }
    - id: region-seen-by-commands
      shell: { command: 'echo "$AWS_REGION $AWS_DEFAULT_REGION"' }
      mutates: false
      expect:
        - { query: stdout, equals: "eu-central-1 eu-central-1\n" }
"#,
        );
    let t = without_region(&moto).runbook(rb);
    t.run(&["preflight"]).code(SUCCESS);
    // --region moves the commands too; a step's own `env` still wins over both.
    let rb = crate::support::Runbook::minimal()
        .vars("  region: eu-central-1\n")
        .preflight(
            r#"- title: AWS
  steps:
    - id: who
      aws: { service: sts, operation: GetCallerIdentity }
    - id: region-seen-by-commands
      shell: { command: 'echo "$AWS_REGION"' }
      mutates: false
      expect:
        - { query: stdout, equals: "ap-south-1\n" }
    - id: a-steps-own-env-wins
      shell: { command: 'echo "$AWS_REGION"', env: { AWS_REGION: us-west-2 } }
      mutates: false
      expect:
        - { query: stdout, equals: "us-west-2\n" }
"#,
        );
    let t = without_region(&moto)
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .runbook(rb);
    t.run(&["preflight", "--region", "ap-south-1"])
        .code(SUCCESS);
}

#[test]
fn environment_keys_win_over_a_profile_unless_profile_is_passed_as_with_the_aws_cli() {
    use std::os::unix::fs::PermissionsExt;
    let moto = healthy();
    let t = without_region(&moto);
    // The profile's credentials come from a process that leaves a mark when asked.
    let asked = t.path("profile-credentials-asked");
    let script = t.path("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"profile-key\", \"SecretAccessKey\": \"profile-secret\"}}'\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        t.path("aws-config"),
        format!("[profile soc]\ncredential_process = {}\n", script.display()),
    )
    .unwrap();
    // The runbook's profile `soc` exists, but the environment's keys come first.
    t.run(&["preflight", "--yes"]).code(SUCCESS);
    assert!(!asked.exists(), "the environment's keys were not used");
    // `--profile soc` takes the profile's credentials, whatever the environment holds.
    t.run(&["preflight", "--yes", "--profile", "soc"])
        .code(SUCCESS);
    assert!(
        asked.exists(),
        "--profile did not use the profile's credentials"
    );
}
