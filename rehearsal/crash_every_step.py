"""Kill outpost-migrate at every step boundary of the rehearsal and check that resuming
reaches the end state of an uninterrupted run.

Two rehearsal environments are started side by side (see rehearse.py). In the first, `run`
then `rollback --level 3` go through uninterrupted: that gives the steps that run, in order,
and the end state. In the second, one chain of processes goes through the same commands: each
process is killed with SIGKILL (the `failpoints` build's FAILPOINTS) before a step, after its
effect but before its checkpoint, or after its checkpoint, and the next process resumes and
is killed at the next boundary, until every boundary of every step has been crossed by a kill.
A step in doubt must be settled without the operator (by its probe, or because it is
idempotent or read-only). Then:

- every kill happened where it was aimed;
- no step recorded as succeeded started again (the audit log);
- the state holds the same captures, step by step, as the uninterrupted run's;
- the emulator, the MCPify files and terraform's state equal the uninterrupted run's.

Usage: python3 rehearsal/crash_every_step.py --binary PATH   (a `--features failpoints` build)
Exit 0 when all holds; 1 with what differs. `--keep` keeps both environments' files.
"""

import argparse
import json
import os
import sys

import boto3

import rehearse

POINTS = ["step-before", "step-after-effect", "step-after-checkpoint"]
COMMANDS = [["run"], ["rollback", "--level", "3"]]
KILLED = -9


def read_json_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def state(env):
    path = env.path("state", "state.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def started_in_order(env, command):
    """The steps `command` started in the uninterrupted run, in the order they started."""
    seen = []
    for record in read_json_lines(env.path("state", "audit.jsonl")):
        if record.get("event") == "step_started" and record.get("command") == command and record["step"] not in seen:
            seen.append(record["step"])
    return seen


def client(env, service):
    return boto3.client(
        service,
        endpoint_url=env.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def snapshot(env):
    """What the migration leaves behind, without the ids and names each environment makes up."""
    route53 = client(env, "route53")
    records = sorted(
        (r["Name"], r["Type"], "AliasTarget" in r)
        for z in route53.list_hosted_zones()["HostedZones"]
        for r in route53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
    )
    service = client(env, "ecs").describe_services(cluster="outpost-dev", services=["outpost-control-plane"])["services"][0]
    dynamodb = client(env, "dynamodb")
    dispatches = sorted(
        (i["agent"]["S"], i["task"]["S"], i["status"]["S"])
        for i in dynamodb.scan(TableName="outpost-dispatches")["Items"]
    )
    workspaces = sorted(i["id"]["S"] for i in dynamodb.scan(TableName="outpost-workspaces")["Items"])
    listed = client(env, "s3").list_objects_v2(Bucket=f"outpost-artifacts-{rehearse.ACCOUNT}").get("Contents", [])
    artifacts = sorted(o["Key"].rsplit("/", 1)[-1] for o in listed if o["Key"].startswith("dispatches/"))
    # The runbook's own SSM commands carry a comment; MCPify's legacy provider sends its own
    # (one per outpost_health on SSM), which are reported, not compared.
    commands = client(env, "ssm").list_commands()["Commands"]
    ours = sorted((c["Comment"], c["DocumentName"], json.dumps(c["Parameters"], sort_keys=True)) for c in commands if c.get("Comment"))
    tfstate_path = env.path("terraform", "terraform.tfstate")
    tf = json.load(open(tfstate_path)) if os.path.exists(tfstate_path) else {"resources": []}
    resources = sorted(
        f"{r.get('module', '')}.{r['type']}.{r['name']}" for r in tf["resources"] if r.get("instances")
    )
    files = {name: open(env.path("mcpify", name)).read() for name in ["config.ts", "registry.ts"]}
    return {
        "route53 records": records,
        "control plane desiredCount": service["desiredCount"],
        "dispatches (agent, task, status)": dispatches,
        "workspaces": workspaces,
        "artifacts": artifacts,
        "SSM commands sent by the runbook": ours,
        "terraform resources": resources,
        "MCPify files": files,
    }, len(commands) - len(ours)


def captures(env):
    return {k: sorted(v.get("captures", {})) for k, v in state(env).get("steps", {}).items()}


def repeated_successes(env):
    """Steps that started again after the audit log recorded them succeeded."""
    done, repeated = set(), []
    for record in read_json_lines(env.path("state", "audit.jsonl")):
        key = (record.get("command"), record.get("step"))
        if record.get("event") == "step_started" and key in done:
            repeated.append(key)
        if record.get("event") == "step_finished" and record.get("status") == "succeeded":
            done.add(key)
    return repeated


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="an outpost-migrate built with --features failpoints")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    # `--jobs 1`: checks one at a time, so every kill aimed at a check finds it not yet done.
    settings = argparse.Namespace(binary=args.binary, fault=None, dry_run=False, keep=args.keep, extra=["--jobs", "1"])
    reference, chain = rehearse.Rehearsal(settings), rehearse.Rehearsal(settings)
    problems = []
    try:
        reference.up()
        chain.up()
        for command in COMMANDS:
            if reference.outpost(*command, log="outpost.log") != 0:
                raise SystemExit(f"the uninterrupted `{' '.join(command)}` failed: see {reference.path('outpost.log')}")
        expected, _ = snapshot(reference)

        kills = 0
        for command in COMMANDS:
            name = " ".join(command)
            steps = started_in_order(reference, f"outpost-migrate {name}") or started_in_order(reference, name)
            if not steps:
                raise SystemExit(f"no step of `{name}` found in the reference audit log")
            for step in steps:
                for point in POINTS:
                    code = chain.outpost(*command, env_extra={"FAILPOINTS": f"{point}=return({step})"}, log="outpost.log")
                    if code != KILLED:
                        problems.append(f"`{name}` aimed at {point} of {step}: exit code {code}, not killed")
                        break
                    kills += 1
            if chain.outpost(*command, log="outpost.log") != 0:
                problems.append(f"the last resume of `{name}` failed")
            print(f"`{name}`: {len(steps)} steps, killed at each of their {len(steps) * len(POINTS)} boundaries", flush=True)

        repeated = repeated_successes(chain)
        if repeated:
            problems.append(f"succeeded steps started again: {repeated}")
        if captures(chain) != captures(reference):
            problems.append(f"captures differ:\n  uninterrupted {captures(reference)}\n  killed        {captures(chain)}")
        actual, extra_commands = snapshot(chain)
        for key in expected:
            if actual[key] != expected[key]:
                problems.append(f"{key} differ:\n  uninterrupted {expected[key]}\n  killed        {actual[key]}")
        print(f"{kills} kills; end state compared: {', '.join(expected)}", flush=True)
        print(f"MCPify's own SSM health commands (not compared): {extra_commands} in the killed run, {snapshot(reference)[1]} uninterrupted")
    finally:
        if problems or args.keep:
            settings.keep = True
            print(f"logs: {chain.path('outpost.log')}", file=sys.stderr)
        reference.down()
        chain.down()
    for p in problems:
        print(f"✘ {p}", file=sys.stderr)
    if not problems:
        print("every boundary crossed by a kill; the end state equals the uninterrupted run's")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
