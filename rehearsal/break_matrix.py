"""The break matrix: every check of the runbook must be able to fail.

A check is a read-only step with at least one expectation (`expect` items or a retry's
`until`), as `outpost-migrate plan --output json` lists them (`access: read_only`,
`expectations` > 0, `has_hint`). For each check this script holds a case: a way to break the
rehearsal world (see rehearse.py) so that this check, and no mistake elsewhere, fails.

One rehearsal world is started and migrated green (`run`), later rolled back
(`rollback --level 3`); both states are kept. Each case then, on a copy of the green state
with only the check under test pending:

1. runs the check's command in the world as it is: the check must succeed (or be skipped,
   where the green world never takes its branch, as the case says);
2. breaks the world (an emulator call, a control-plane fault, an MCPify file or process, the
   operator's environment, a var naming something that does not exist, or a capture pointing
   at something else);
3. runs it again: the check must fail (`failed`, or `failed_optional` for an optional one)
   and print its hint;
4. repairs the world.

The script fails, naming them, when a check has no case, a case names a step that is not a
check, a check has no hint, or a case did not make its check fail with its hint.

Usage: python3 rehearsal/break_matrix.py --binary PATH [--keep]
       python3 rehearsal/break_matrix.py --binary PATH --list-missing [--runbook DIR]
`--list-missing` only compares the runbook's checks with the cases (no world is started):
exit 1 naming each check without a case (or without a hint), 0 when every check has both.
"""

import argparse
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import boto3

import rehearse

# Short waits: a broken world would otherwise be polled for minutes. Every run passes them
# (the green runs too), so a check's wait is the same in both.
WAITS = {
    "alb_health_attempts": "2",
    "alb_health_interval": "200ms",
    "dns_change_attempts": "2",
    "dns_change_interval": "200ms",
    "dns_resolve_attempts": "1",
    "dns_resolve_interval": "200ms",
    "dns_health_attempts": "1",
    "dns_health_interval": "200ms",
    "dns_gone_attempts": "1",
    "dns_gone_interval": "200ms",
    "ssm_result_attempts": "2",
    "ssm_result_interval": "200ms",
    "ecs_drain_attempts": "2",
    "ecs_drain_interval": "200ms",
    "dispatch_poll_attempts": "4",
    "dispatch_poll_interval": "1s",
}
# A name under the reserved `.invalid` top-level domain never resolves (RFC 6761).
NOWHERE = "break-matrix.invalid"
# A Route53 change id the emulator never issued.
UNKNOWN_CHANGE = "/change/C0BREAKMATRIX0000"
ACCOUNT = rehearse.ACCOUNT
FAILED = {"failed", "failed_optional"}


class World:
    """The rehearsal world the cases break and repair, with clients of its emulator."""

    def __init__(self, rehearsal, binary):
        self.r = rehearsal
        self.binary = binary
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        self.client = lambda name: session.client(name, endpoint_url=rehearsal.aws_endpoint)
        self.dynamodb = session.resource("dynamodb", endpoint_url=rehearsal.aws_endpoint)
        # The operator's environment as a break changes it (OUTPOST_API_KEY).
        self.env_extra = {}

    def faults(self, **faults):
        with open(self.r.path("faults.json"), "w") as f:
            json.dump(faults, f)

    def outpost(self, state_dir, command, variables):
        """Runs outpost-migrate with `--output json`; gives its exit code, its step_finished
        events by step id, and its output."""
        cmd = [self.binary, *command, "--state-dir", state_dir, "--yes", "--output", "json",
               "--var", "verify_public_dns=false", "--var", "test_workspace_id=ws-rehearsal-test",
               "--var", "cloudtrail_settle_seconds=1", "--var", "cloudtrail_poll_seconds=1"]
        for name, value in {**WAITS, **variables}.items():
            cmd += ["--var", f"{name}={value}"]
        env = self.r.env()
        env.pop("AWS_REGION", None)
        # `dig` answers from the emulator's public zones (see public-dns/dig).
        env["PATH"] = os.path.join(rehearse.HERE, "public-dns") + os.pathsep + env.get("PATH", "")
        env.update(self.env_extra)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        finished = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == "step_finished":
                    finished[event["step"]] = event
        return proc.returncode, finished, proc.stdout + proc.stderr

    def hosted_zone(self):
        zones = self.client("route53").list_hosted_zones_by_name(DNSName="outpost.dev")["HostedZones"]
        return next(z["Id"] for z in zones if not z["Config"]["PrivateZone"])

    def a_record(self):
        records = self.client("route53").list_resource_record_sets(
            HostedZoneId=self.hosted_zone(), StartRecordName="api.outpost.dev", StartRecordType="A", MaxItems="1")["ResourceRecordSets"]
        return records[0] if records and records[0]["Name"] == "api.outpost.dev." and records[0]["Type"] == "A" else None

    def change_record(self, action, record):
        self.client("route53").change_resource_record_sets(
            HostedZoneId=self.hosted_zone(), ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record}]})

    def api(self, method, path, body=None):
        request = urllib.request.Request(
            f"{self.r.cp_url}{path}", method=method, data=json.dumps(body).encode() if body else None,
            headers={"Authorization": f"Bearer {rehearse.API_KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def restart_mcpify(self):
        subprocess.run([os.path.join(rehearse.HERE, "mcpify-restart.sh")], env=self.r.env(), check=True, stdout=subprocess.DEVNULL)


# Each break changes the world and returns what repairs it (or None: nothing to repair).

def fault(**faults):
    def apply(w):
        w.faults(**faults)
        return lambda: w.faults()
    return apply


def scale_service(desired, back):
    def apply(w):
        ecs = w.client("ecs")
        ecs.update_service(cluster="outpost-dev", service="outpost-control-plane", desiredCount=desired)
        return lambda: ecs.update_service(cluster="outpost-dev", service="outpost-control-plane", desiredCount=back)
    return apply


def target_stopped(w):
    """The ALB's target (the seeded instance) stops: its health turns from healthy."""
    ec2 = w.client("ec2")
    elbv2 = w.client("elbv2")
    tg = elbv2.describe_target_groups(Names=["outpost-control-plane"])["TargetGroups"][0]["TargetGroupArn"]
    ids = [d["Target"]["Id"] for d in elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]]
    ec2.stop_instances(InstanceIds=ids)
    return lambda: ec2.start_instances(InstanceIds=ids)


def image_untagged(repo):
    def apply(w):
        ecr = w.client("ecr")
        image = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "latest"}])["images"][0]
        ecr.put_image(repositoryName=repo, imageManifest=image["imageManifest"], imageTag="previous")
        ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "latest"}])
        return lambda: ecr.put_image(repositoryName=repo, imageManifest=image["imageManifest"], imageTag="latest")
    return apply


def table_deleted(name):
    """The table is gone; the repair creates it again with the items it held."""
    def apply(w):
        client = w.client("dynamodb")
        items = w.dynamodb.Table(name).scan(ConsistentRead=True)["Items"]
        client.delete_table(TableName=name)

        def repair():
            client.create_table(
                TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
            for item in items:
                w.dynamodb.Table(name).put_item(Item=item)
        return repair
    return apply


def secret_deleted(name):
    def apply(w):
        secrets = w.client("secretsmanager")
        value = secrets.get_secret_value(SecretId=name)["SecretString"]
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        return lambda: secrets.create_secret(Name=name, SecretString=value)
    return apply


def orphan_target_group(w):
    """A target group attached to no load balancer (the service's, in the case's state)."""
    elbv2 = w.client("elbv2")
    vpc = elbv2.describe_target_groups(Names=["outpost-control-plane"])["TargetGroups"][0]["VpcId"]
    arn = elbv2.create_target_group(Name="outpost-orphan", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    w.case_captures["target_group_arn"] = arn
    return lambda: elbv2.delete_target_group(TargetGroupArn=arn)


def second_public_zone(w):
    route53 = w.client("route53")
    zone = route53.create_hosted_zone(Name="outpost.dev", CallerReference=f"break-matrix-{time.time()}")["HostedZone"]["Id"]
    return lambda: route53.delete_hosted_zone(Id=zone)


# An address AAAA record at the domain, as Route53 lists it (and phase 2 captures it).
AAAA = {"Name": "api.outpost.dev.", "Type": "AAAA", "TTL": 300, "ResourceRecords": [{"Value": "2001:db8::10"}]}


def aaaa_record(w):
    w.change_record("CREATE", AAAA)
    return lambda: w.change_record("DELETE", AAAA)


def a_record_replaced(w):
    """Someone points api.outpost.dev elsewhere; the repair writes back what was there."""
    before = w.a_record()
    w.change_record("UPSERT", {"Name": "api.outpost.dev", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "198.51.100.7"}]})
    return lambda: w.change_record("UPSERT", before)


def a_record_deleted(w):
    before = w.a_record()
    w.change_record("DELETE", before)
    return lambda: w.change_record("CREATE", before)


def capture(**values):
    """The check reads a capture naming something else (the values, or `w.case_captures`)."""
    def apply(w):
        w.case_captures.update(values)
        return None
    return apply


def pending_dispatch(name):
    """The warm pool is exhausted: a new dispatch stays pending, and the capture `name` (the
    dispatch the check polls) is that one."""
    def apply(w):
        w.faults(pool_exhausted=True)
        w.case_captures[name] = w.api("POST", "/dispatch", {"agent": "claude", "task": "break matrix: stays pending", "repo": "rgsuarez/outpost"})["data"]["dispatchId"]
        return lambda: w.faults()
    return apply


def artifacts_deleted(w):
    s3 = w.client("s3")
    bucket = f"outpost-artifacts-{ACCOUNT}"
    prefix = f"dispatches/{w.captures['dispatch_id']}/"
    saved = {}
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        saved[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        s3.delete_object(Bucket=bucket, Key=obj["Key"])

    def repair():
        for key, body in saved.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    return repair


def alarm_firing(name):
    def apply(w):
        cloudwatch = w.client("cloudwatch")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="break matrix")
        return lambda: cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="break matrix repaired")
    return apply


def task_stopped(w):
    """A control-plane task that stopped, with its reason, as the capture `stopped_tasks`."""
    ecs = w.client("ecs")
    task = ecs.run_task(cluster="outpost-dev", taskDefinition="outpost-control-plane", launchType="FARGATE", count=1)["tasks"][0]["taskArn"]
    ecs.stop_task(cluster="outpost-dev", task=task, reason="Essential container in task exited (break matrix)")
    w.case_captures["stopped_tasks"] = [task]
    return None


def error_logged(w):
    logs = w.client("logs")
    stream = f"break-matrix-{time.time()}"
    logs.create_log_stream(logGroupName="/outpost/control-plane", logStreamName=stream)
    logs.put_log_events(logGroupName="/outpost/control-plane", logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "Error: dispatcher lost its DynamoDB connection"}])
    return lambda: logs.delete_log_stream(logGroupName="/outpost/control-plane", logStreamName=stream)


def cancelled_dispatch(w):
    """The test dispatch the check reads is the one phase 5 cancelled."""
    w.case_captures["tool_dispatch_id"] = w.captures["cancel_id"]
    return None


def ssm_command_sent(w):
    """Something still sends an SSM command to the legacy instance after the cutover."""
    w.client("ssm").send_command(InstanceIds=["mi-0bbd8fed3f0650ddb"], DocumentName="AWS-RunShellScript", Parameters={"commands": ["uptime"]})
    return None


def api_key(value):
    """The operator's OUTPOST_API_KEY is `value` (MCPify keeps its own)."""
    def apply(w):
        w.env_extra["OUTPOST_API_KEY"] = value
        return lambda: w.env_extra.pop("OUTPOST_API_KEY")
    return apply


def mcpify_stopped(w):
    """MCPify's process is gone; the repair starts it again."""
    with open(w.r.path("mcpify.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    return w.restart_mcpify


def mcpify_file(name, text):
    """MCPify's file `name` holds `text` instead (None: the file is gone)."""
    def apply(w):
        path = w.r.path("mcpify", name)
        with open(path) as f:
            before = f.read()
        if text is None:
            os.remove(path)
        else:
            with open(path, "w") as f:
                f.write(text)

        def repair():
            with open(path, "w") as f:
                f.write(before)
        return repair
    return apply


def mcpify_provider(provider):
    """MCPify's config.ts and its environment file name another provider, and MCPify
    restarted with it (it refuses to start when the two disagree)."""
    def apply(w):
        config, env = w.r.path("mcpify", "config.ts"), w.r.path("mcpify", "mcpify.env")
        before = {}
        for path in (config, env):
            with open(path) as f:
                before[path] = f.read()
        with open(config, "w") as f:
            f.write(rehearse.CONFIG_TS.replace("provider: 'ssm'", f"provider: '{provider}',\n  endpoint: '{w.r.cp_url}'"))
        with open(env, "w") as f:
            f.write(f"OUTPOST_API_URL={w.r.cp_url}\nOUTPOST_PROVIDER={provider}\n")
        w.restart_mcpify()

        def repair():
            for path, text in before.items():
                with open(path, "w") as f:
                    f.write(text)
            w.restart_mcpify()
        return repair
    return apply


class Case:
    """How to break the world for one check. `brk` breaks it (None: `broken_vars` or the world
    as it is break it); `variables` hold in both runs, `broken_vars` in the broken one only;
    `state` sets captures in both runs; `green_break` changes the world for the green run only
    (where the check passes in another world than the forward run's); `green` is the check's
    outcome in the green run: `skipped` where the rehearsal cannot take its branch; `base` is
    the state the case starts from: after the forward run or after the rollback."""

    def __init__(self, step, command, brk, why, variables=None, broken_vars=None, state=None, green="succeeded", green_break=None, base="forward"):
        self.step, self.command, self.brk, self.why = step, command, brk, why
        self.variables, self.broken_vars, self.state = variables or {}, broken_vars or {}, state or {}
        self.green, self.green_break, self.base = green, green_break, base


PREFLIGHT = ["preflight"]
VERIFY = ["verify"]


def phase(n):
    return ["phase", str(n)]


def rollback(n):
    return ["rollback", "--level", str(n)]


IMAGES = ["outpost-base", "outpost-claude", "outpost-codex", "outpost-gemini", "outpost-aider", "outpost-grok", "outpost-control-plane"]
TABLES = ["outpost-dispatches", "outpost-workspaces", "outpost-pool"]
SECRETS = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY", "GITHUB_PAT"]
AGENTS = ["claude", "codex", "gemini", "aider", "grok"]
ALARMS = ["HighDispatchFailureRate", "PoolExhausted", "ControlPlaneUnhealthy", "ALBUnhealthyTargets"]
# Rollback 2 as it runs when the domain had no A record before phase 2: it deletes the alias.
NO_LEGACY = {"legacy_record": {}}

CASES = [
    # Pre-flight.
    Case("ecs-cluster-active", PREFLIGHT, None, "no cluster of that name", broken_vars={"cluster": "outpost-dev-gone"}),
    Case("control-plane-running", PREFLIGHT, scale_service(0, 1), "the service scaled to 0 tasks"),
    Case("alb-provisioned", PREFLIGHT, None, "no load balancer of that name", broken_vars={"alb_name": "outpost-alb-gone"}),
    Case("alb-target-group", PREFLIGHT, None, "no service of that name (so no target group)", broken_vars={"service": "outpost-control-plane-gone"}),
    Case("alb-target-group-on-alb", PREFLIGHT, orphan_target_group, "the service's target group is attached to no load balancer"),
    Case("alb-targets-healthy", PREFLIGHT, target_stopped, "the target's instance stopped"),
    *[Case(f"ecr-image-latest.{repo}", PREFLIGHT, image_untagged(repo), f"{repo}'s image lost its latest tag") for repo in IMAGES],
    *[Case(f"dynamodb-table-active.{t}", PREFLIGHT, table_deleted(t), f"table {t} deleted") for t in TABLES],
    Case("s3-artifacts-bucket", PREFLIGHT, None, "no bucket of that name", broken_vars={"bucket": "outpost-artifacts-gone"}),
    *[Case(f"platform-secret-present.{i}", PREFLIGHT, secret_deleted(f"/outpost/system/{s}"), f"secret {s} deleted") for i, s in enumerate(SECRETS)],
    Case("api-key-set", PREFLIGHT, api_key("sk_live_not_an_outpost_key"), "an API key of another service"),
    Case("api-key-scope-read", PREFLIGHT, fault(revoked_scopes=["read"]), "the key without the read scope (403)"),
    Case("api-key-scope-artifacts", PREFLIGHT, fault(revoked_scopes=["artifacts"]), "the key without the artifacts scope (403)"),
    Case("control-plane-healthy", PREFLIGHT, fault(unhealthy=True), "the control plane reports unhealthy"),
    Case("control-plane-agents-available", PREFLIGHT, fault(unavailable_agent="codex"), "codex unavailable"),
    Case("control-plane-warm-pool", PREFLIGHT, fault(pool_exhausted=True), "the warm pool exhausted"),
    Case("mcpify-reachable", PREFLIGHT, mcpify_stopped, "MCPify stopped"),
    Case("mcpify-config-editable", PREFLIGHT, mcpify_file("config.ts", rehearse.CONFIG_TS.replace("'", '"')),
         "MCPify's config in double quotes (phase 3's first edit matches nothing)"),
    Case("mcpify-env-editable", PREFLIGHT, mcpify_file("mcpify.env", None), "MCPify's environment file gone"),
    Case("mcpify-registry-editable", PREFLIGHT, mcpify_file("registry.ts", rehearse.REGISTRY_TS.replace("'", '"')),
         "MCPify's registry in double quotes (phase 4's edits match nothing)"),
    Case("programs-on-path", PREFLIGHT, None, "MCPify's restart command not on the PATH", broken_vars={"mcpify_restart": "/nonexistent/restart-mcpify"}),
    # Post-verification.
    Case("health-control-plane", VERIFY, fault(unhealthy=True), "the control plane reports unhealthy"),
    Case("health-fleet", VERIFY, fault(missing_agent="grok"), "grok missing from the fleet"),
    *[Case(f"health-fleet-agent.{a}", VERIFY, fault(unavailable_agent=a), f"{a} unavailable") for a in AGENTS],
    Case("health-live", VERIFY, fault(bad_gateway=True), "502 from the load balancer"),
    Case("health-ready", VERIFY, fault(unhealthy=True), "the control plane is not ready"),
    Case("dispatch-poll-status", VERIFY, pending_dispatch("dispatch_id"), "the warm pool is exhausted: the dispatch stays pending"),
    Case("dispatch-get-artifacts", VERIFY, artifacts_deleted, "the dispatch's artifacts are gone from S3"),
    Case("dispatch-artifacts-in-s3", VERIFY, artifacts_deleted, "the dispatch's artifacts are gone from S3"),
    *[Case(f"cloudwatch-alarm-not-triggered.{a}", VERIFY, alarm_firing(a), f"{a} in ALARM") for a in ALARMS],
    Case("stopped-task-reasons", VERIFY, task_stopped, "a control-plane task stopped", green="skipped"),
    Case("control-plane-errors", VERIFY, error_logged, "an error logged by the control plane"),
    Case("ecs-service-running", VERIFY, scale_service(0, 1), "the service scaled to 0 tasks"),
    # Phases.
    Case("alb-dns-name", phase(1), None, "no load balancer of that name", broken_vars={"alb_name": "outpost-alb-gone"}),
    Case("alb-terraform-plan-resources", phase(1), None, "a resource the plan does not configure",
         broken_vars={"alb_plan_resources": '["outpost_alb", "http", "https", "control_plane", "redirect"]'}),
    Case("alb-health-live", phase(1), fault(bad_gateway=True), "the ALB answers 502"),
    Case("dns-hosted-zone", phase(2), second_public_zone, "a second public zone of the name"),
    Case("dns-change-insync", phase(2), capture(upsert_change_id=UNKNOWN_CHANGE), "a Route53 change that never settles (unknown to Route53)"),
    Case("dns-record-readback", phase(2), a_record_replaced, "the domain's A record points elsewhere"),
    Case("dns-resolve-domain", phase(2), a_record_deleted, "the domain's record gone from public DNS", variables={"verify_public_dns": "true"}),
    # No green run: it needs HTTPS through the domain over the internet.
    Case("dns-health-live", phase(2), None, "a domain that never resolves",
         broken_vars={"verify_public_dns": "true", "domain": NOWHERE}, green="skipped"),
    Case("mcpify-http-checkpoint", phase(3), fault(missing_agent="grok"), "grok missing from the fleet MCPify reports"),
    Case("mcpify-registry-http-only", phase(4), mcpify_file("registry.ts", rehearse.REGISTRY_TS),
         "MCPify's registry still registers the SSM tools"),
    Case("ssm-no-sendcommand", phase(4), ssm_command_sent, "an SSM command to the legacy instance after the cutover"),
    Case("tool-outpost-status", phase(5), cancelled_dispatch, "the test dispatch was cancelled"),
    Case("tool-outpost-health", phase(5), fault(unavailable_agent="gemini"), "gemini unavailable"),
    Case("tool-outpost-list-workspaces", phase(5), fault(bad_gateway=True), "the control plane answers 502"),
    Case("tool-outpost-get-artifacts", phase(5), pending_dispatch("tool_dispatch_id"), "the warm pool is exhausted: the test dispatch stays pending"),
    # Rollbacks.
    Case("rollback-mcpify-health-via-ssm", rollback(1), mcpify_provider("http"), "MCPify still on the HTTP provider", base="rollback"),
    Case("rollback-ssm-agent-online", rollback(1), None, "an instance not registered with SSM", broken_vars={"legacy_instance_id": "i-0notmanaged000000"}, base="rollback"),
    Case("rollback-ssm-test-result", rollback(1), capture(rollback_command_id="00000000-0000-0000-0000-000000000000"), "a test command SSM has no invocation of", base="rollback"),
    Case("rollback-dns-restore-insync", rollback(2), capture(restore_change_id=UNKNOWN_CHANGE), "a Route53 change that never settles (unknown to Route53)", base="rollback"),
    Case("rollback-dns-legacy-readback", rollback(2), a_record_replaced, "the domain's A record is not the legacy one", base="rollback"),
    Case("rollback-dns-replaced-insync", rollback(2), capture(replaced_change_id=UNKNOWN_CHANGE), "a Route53 change that never settles (unknown to Route53)",
         state={"replaced_change_id": lambda w: w.captures["restore_change_id"]}, base="rollback"),
    Case("rollback-dns-replaced-readback", rollback(2), None, "the AAAA record phase 2 replaced not back at the domain",
         state={"legacy_cname_or_aaaa": AAAA}, green_break=aaaa_record, base="rollback"),
    Case("rollback-dns-change-insync", rollback(2), capture(delete_change_id=UNKNOWN_CHANGE), "a Route53 change that never settles (unknown to Route53)",
         state={**NO_LEGACY, "delete_change_id": lambda w: w.captures["restore_change_id"]}, base="rollback"),
    Case("rollback-dns-record-gone", rollback(2), None, "an A record still at the domain", state=NO_LEGACY, green_break=a_record_deleted, base="rollback"),
    Case("rollback-dns-resolves-empty", rollback(2), None, "the domain still resolving over public DNS", variables={"verify_public_dns": "true"},
         state=NO_LEGACY, green_break=a_record_deleted, base="rollback"),
    Case("rollback-control-plane-scaled", rollback(3), scale_service(1, 0), "the service scaled up again", base="rollback"),
]


def plan_checks(binary, runbook):
    """The runbook's checks by id: (unit, has_hint), from `plan --output json`."""
    # Run from `/`, where no runbook.yaml lies: without `--runbook` the binary's own is read.
    cmd = [binary, "plan", *(["--runbook", os.path.abspath(runbook)] if runbook else []), "--output", "json"]
    plan = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, cwd="/").stdout)
    return {
        s["id"]: (u["unit"], s["has_hint"])
        for u in plan["units"]
        for s in u["steps"]
        if s["access"] == "read_only" and s["expectations"] > 0
    }


def coverage(checks):
    """Problems of coverage: checks without a case or a hint, cases of no check."""
    cased = {c.step for c in CASES}
    problems = [f"check `{s}` ({u}) has no breaking case" for s, (u, _) in checks.items() if s not in cased]
    problems += [f"check `{s}` ({u}) has no hint" for s, (u, hint) in checks.items() if not hint]
    problems += [f"case `{s}` names no check of the runbook" for s in sorted(cased - set(checks))]
    return problems


def state_for(base, step, captures):
    """A copy of a green state with `step` pending and `captures` set. The steps the green
    run skipped (another branch) count as done, so that only the check under test runs."""
    state = copy.deepcopy(base)
    state["steps"].pop(step, None)
    for entry in state["steps"].values():
        if entry["status"] == "skipped":
            entry["status"] = "succeeded"
    for name, value in captures.items():
        owner = next((s for s in state["steps"].values() if s["status"] == "succeeded" and name in s["captures"]), None)
        if owner is None:
            # A capture the green run never made (another branch): held by any succeeded step.
            owner = next(s for s in state["steps"].values() if s["status"] == "succeeded")
        owner["captures"][name] = value
    return state


def write_state(world, name, base, state):
    """The case's state directory: the green one (`base`: its audit log and backups) with
    `state` as its state."""
    directory = world.r.path("cases", name)
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(world.r.path(f"green-{base}"), directory)
    os.remove(os.path.join(directory, "state.json"))
    with open(os.path.join(directory, "state.json"), "w") as f:
        json.dump(state, f)
    os.chmod(os.path.join(directory, "state.json"), 0o600)
    return directory


def run_case(world, bases, case):
    """Green, break, broken, repair; gives the problems found."""
    base = bases[case.base]
    world.captures = {k: v for s in base["steps"].values() if s["status"] == "succeeded" for k, v in s["captures"].items()}
    # A capture's value may be a function of the world (of the green run's captures).
    world.case_captures = {k: v(world) if callable(v) else v for k, v in case.state.items()}
    repair_green = case.green_break(world) if case.green_break else None
    try:
        code, finished, output = world.outpost(write_state(world, case.step, case.base, state_for(base, case.step, world.case_captures)), case.command, case.variables)
    finally:
        if repair_green:
            repair_green()
    green = (finished.get(case.step) or {}).get("outcome")
    if green != case.green:
        return [f"`{case.step}` in the green world: {green or 'not run'} (want {case.green}), exit code {code}:\n{output[-2000:]}"]
    repair = case.brk(world) if case.brk else None
    try:
        code, finished, output = world.outpost(
            write_state(world, case.step, case.base, state_for(base, case.step, world.case_captures)), case.command, {**case.variables, **case.broken_vars})
    finally:
        if repair:
            repair()
    event = finished.get(case.step) or {}
    if event.get("outcome") not in FAILED:
        return [f"`{case.step}` with {case.why}: {event.get('outcome') or 'not run'}, not failed (exit code {code}):\n{output[-2000:]}"]
    if "ResponseError" in (event.get("message") or ""):
        # The SDK could not read the emulator's answer: the world did not make the check fail.
        return [f"`{case.step}` failed on an answer the SDK could not read, not on {case.why}: {event['message']}"]
    hint = (event.get("hint") or "").strip()
    if not hint:
        return [f"`{case.step}` failed with {case.why}, but without its hint"]
    if "{{" in hint or "{%" in hint:
        # A hint whose template does not render is shown as written.
        return [f"`{case.step}` failed with {case.why}, but its hint did not render: {hint}"]
    print(f"✔ {case.step}: fails with {case.why} ({event.get('message') or event.get('found') or ''})"[:220], flush=True)
    return []


def green_state(world, base):
    """The state after a green run, kept aside as `green-<base>` for the cases to copy."""
    shutil.copytree(world.r.path("state"), world.r.path(f"green-{base}"))
    with open(world.r.path("state", "state.json")) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--runbook", help="the runbook to read the checks of (default: the binary's own)")
    parser.add_argument("--list-missing", action="store_true", help="only list the checks without a case or a hint")
    parser.add_argument("--keep", action="store_true", help="keep the world's files and logs")
    parser.add_argument("--only", action="append", default=[], metavar="STEP", help="run only this check's case (repeatable)")
    args = parser.parse_args()
    checks = plan_checks(args.binary, args.runbook)
    problems = coverage(checks)
    if args.list_missing or problems:
        for p in problems:
            print(f"✘ {p}", file=sys.stderr)
        print(f"{len(checks)} checks, {len(CASES)} cases, {len(problems)} problems")
        sys.exit(1 if problems else 0)

    started = time.time()
    # The emulator answers NoSuchChange for a Route53 change it never made (see moto_outpost.py).
    os.environ["MOTO_ROUTE53_KNOWN_CHANGES"] = "1"
    # The plain emulator: the cases judge the checks, the realistic rehearsal judges AWS's timing.
    settings = argparse.Namespace(binary=args.binary, fault=None, dry_run=False, keep=args.keep, extra=[], plain=True)
    rehearsal = rehearse.Rehearsal(settings)
    order = ["preflight", "verify", "phase-1", "phase-2", "phase-3", "phase-4", "phase-5", "rollback-1", "rollback-2", "rollback-3"]
    ordered = sorted((c for c in CASES if not args.only or c.step in args.only), key=lambda c: order.index(checks[c.step][0]))
    try:
        rehearsal.up()
        world = World(rehearsal, args.binary)
        code, _, output = world.outpost(rehearsal.path("state"), ["run"], {})
        if code != 0:
            raise SystemExit(f"the green `run` failed:\n{output[-3000:]}")
        bases = {"forward": green_state(world, "forward")}
        for case in [c for c in ordered if c.base == "forward"]:
            problems += run_case(world, bases, case)
        code, _, output = world.outpost(rehearsal.path("state"), rollback(3), {})
        if code != 0:
            raise SystemExit(f"the green `rollback --level 3` failed:\n{output[-3000:]}")
        bases["rollback"] = green_state(world, "rollback")
        for case in [c for c in ordered if c.base == "rollback"]:
            problems += run_case(world, bases, case)
    finally:
        if problems:
            settings.keep = True
        rehearsal.down()
    for p in problems:
        print(f"✘ {p}", file=sys.stderr)
    print(f"{len(checks)} checks, {len(CASES)} cases, {len(problems)} problems, {time.time() - started:.0f}s")
    if not problems:
        print("every check of the runbook fails with its hint in a world broken for it")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
