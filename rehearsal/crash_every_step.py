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
- the state holds the same captures, step by step, as the uninterrupted run's, with the same
  values (ids the emulator makes up and times masked);
- the emulator, the MCPify files and terraform's state equal the uninterrupted run's.

Usage: python3 rehearsal/crash_every_step.py --binary PATH   (a `--features failpoints` build)
Exit 0 when all holds; 1 with what differs. `--keep` keeps both environments' files.
`--s3-state` keeps the state on the emulator's S3 (`--state s3://...`) instead of a directory:
after each kill the chain removes the dead run's lock with `unlock --lock-id` (an S3 lock is
never broken by a run), and nothing may be written in the local state directory.
"""

import argparse
import json
import os
import re
import sys

import subprocess

import boto3
from botocore.exceptions import ClientError

import rehearse

POINTS = ["step-before", "step-after-effect", "step-after-checkpoint"]
COMMANDS = [["run"], ["rollback", "--level", "3"]]
KILLED = -9
STATE_BUCKET = "outpost-state"
STATE_PREFIX = "rehearsal"
STATE_URL = f"s3://{STATE_BUCKET}/{STATE_PREFIX}"


def read_json_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def on_s3(env):
    return getattr(env.args, "state_url", None) is not None


def state_object(env, name):
    """An object of the S3 state, as text; None when there is none."""
    try:
        body = client(env, "s3").get_object(Bucket=STATE_BUCKET, Key=f"{STATE_PREFIX}/{name}")["Body"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise
    return body.read().decode()


def state(env):
    if on_s3(env):
        text = state_object(env, "state.json")
        return json.loads(text) if text else {}
    path = env.path("state", "state.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def audit(env):
    """The audit records, oldest first: `audit.jsonl`, or one S3 object per record."""
    if not on_s3(env):
        return read_json_lines(env.path("state", "audit.jsonl"))
    pages = client(env, "s3").get_paginator("list_objects_v2").paginate(Bucket=STATE_BUCKET, Prefix=f"{STATE_PREFIX}/audit/")
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    return [json.loads(state_object(env, k.split("/", 1)[1])) for k in keys]


def unlock_killed(env):
    """Removes the lock a killed run left on S3, by its id (a run never breaks it)."""
    text = state_object(env, "lock.json")
    if text is None:
        return 0
    cmd = [env.args.binary, "unlock", "--lock-id", json.loads(text)["id"], "--state", STATE_URL]
    # `unlock` reads no runbook, so not its region either: the environment names the bucket's.
    tool_env = dict(env.tool_env(), AWS_REGION="us-east-1")
    with open(env.path("outpost.log"), "ab") as out:
        return subprocess.run(cmd, env=tool_env, stdout=out, stderr=out, stdin=subprocess.DEVNULL).returncode


def which(record):
    """The command (of COMMANDS) an audit record comes from: it holds the command line as typed."""
    return "rollback" if " rollback " in f" {record.get('command', '')} " else "run"


def started_in_order(env, command):
    """The steps `command` started in the uninterrupted run, in the order they started."""
    seen = []
    for record in audit(env):
        if record.get("event") == "step_started" and which(record) == command[0] and record["step"] not in seen:
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
    files = {name: open(env.path("mcpify", name)).read() for name in ["config.ts", "registry.ts", "mcpify.env"]}
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


# What differs between two runs by nature: ids the emulator and the control plane make up, and
# times. Masked in captured values, which must otherwise be equal.
GENERATED = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\bdsp_[0-9a-f]+"), "dsp_<id>"),
    (re.compile(r"/(hostedzone|change)/[A-Z0-9]+"), r"/\1/<id>"),
    (re.compile(r"/[0-9a-f]{16}\b"), "/<id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), "<time>"),
    (re.compile(r"\b\d{10}(\d{3})?\b"), "<epoch>"),
]


def masked(value):
    """A captured value as JSON text, its generated ids and times masked."""
    text = json.dumps(value, sort_keys=True)
    for pattern, mask in GENERATED:
        text = pattern.sub(mask, text)
    return text


def captures(env):
    """Each step's captures, name by name, their values masked (see GENERATED)."""
    return {
        k: {name: masked(value) for name, value in v.get("captures", {}).items()}
        for k, v in state(env).get("steps", {}).items()
    }


def repeated_successes(env):
    """Steps that started again after the audit log recorded them succeeded."""
    done, repeated = set(), []
    for record in audit(env):
        key = (which(record), record.get("step"))
        if record.get("event") == "step_started" and key in done:
            repeated.append(key)
        if record.get("event") == "step_finished" and record.get("status") == "succeeded":
            done.add(key)
    return repeated


def chain(env, targets):
    """One chain of killed processes in `env` through COMMANDS. `targets` maps a command's first
    word to its (step, point) boundaries, in order. Each process is aimed at the first boundary
    left (and at the same point of every later step left, in case an earlier step in doubt,
    settled by its probe, leads the run past that step). Returns the boundaries crossed by a
    kill, those not reached, and problems."""
    hit, missed, problems = [], [], []
    for command in COMMANDS:
        name = " ".join(command)
        pending = list(targets[command[0]])
        while pending:
            point = pending[0][1]
            aim = "|".join(s for s, p in pending if p == point)
            before = os.path.getsize(env.path("outpost.log")) if os.path.exists(env.path("outpost.log")) else 0
            code = env.outpost(*command, env_extra={"FAILPOINTS": f"{point}=return({aim})"}, log="outpost.log")
            with open(env.path("outpost.log")) as f:
                f.seek(before)
                output = f.read()
            if code == 0:
                missed += [(name, s, p) for s, p in pending]
                pending = []
                break
            marker = f"failpoint: SIGKILL at {point} of `"
            if code != KILLED or marker not in output:
                problems.append(f"`{name}` aimed at {point} of {pending[0][0]}: exit code {code}, not killed:\n{output[-3000:]}")
                return hit, missed, problems
            step = output.split(marker, 1)[1].split("`", 1)[0]
            at = pending.index((step, point))
            missed += [(name, s, p) for s, p in pending[:at]]
            hit.append((name, step, point))
            pending = pending[at + 1:]
            if on_s3(env) and unlock_killed(env) != 0:
                problems.append(f"`unlock` of the run killed at {point} of {step} failed: see {env.path('outpost.log')}")
                return hit, missed, problems
        if env.outpost(*command, log="outpost.log") != 0:
            problems.append(f"the last resume of `{name}` failed: see {env.path('outpost.log')}")
    return hit, missed, problems


def compare(reference, expected, env, problems):
    """The checks after a chain: no success repeated, captures kept, the same end state."""
    repeated = repeated_successes(env)
    if repeated:
        problems.append(f"succeeded steps started again: {repeated}")
    want, got = captures(reference), captures(env)
    probed = {k for k, v in state(env).get("steps", {}).items() if "its probe showed" in (v.get("message") or "")}
    for step in sorted(set(want) | set(got)):
        if want.get(step) == got.get(step):
            continue
        kept = got.get(step, {})
        if step in probed and all(want.get(step, {}).get(name) == value for name, value in kept.items()):
            # The probe found the work done but cannot give back what only the lost answer
            # held (a Route53 change id): later steps needing it are skipped, as the runbook
            # says. What it does capture must equal the run's.
            print(f"  note: `{step}` was settled by its probe, which captures {sorted(kept)} (the run: {sorted(want.get(step, {}))})")
            continue
        problems.append(f"captures of `{step}` differ: uninterrupted {want.get(step)}, killed {got.get(step)}")
    if on_s3(env) and os.path.exists(env.path("state")):
        problems.append(f"the S3 state's runs wrote locally: {env.path('state')}")
    actual, extra = snapshot(env)
    for key in expected:
        if actual[key] != expected[key]:
            problems.append(f"{key} differ:\n  uninterrupted {expected[key]}\n  killed        {actual[key]}")
    return extra


def up(env):
    """Starts an environment's world, and its state bucket when the state is on S3."""
    env.up()
    if on_s3(env):
        client(env, "s3").create_bucket(Bucket=STATE_BUCKET)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="an outpost-migrate built with --features failpoints")
    parser.add_argument("--keep", action="store_true", help="keep every environment's files and logs")
    parser.add_argument("--s3-state", action="store_true", help="keep the state on the emulator's S3 (--state s3://...)")
    parser.add_argument("extra", nargs="*", help="more outpost-migrate arguments (after --), e.g. --runbook DIR")
    args = parser.parse_args()
    # `--jobs 1` (through its environment variable: `rollback` takes no `--jobs`): checks one
    # at a time, so a kill aimed at a check finds it not yet done.
    os.environ["OUTPOST_MIGRATE_JOBS"] = "1"
    # The plain emulator: crash safety is about step boundaries, not AWS's timing, and the
    # realistic delays (phase 4's settle window, drains, throttling's backoff) would be waited
    # again by many of the chain's hundreds of resumed processes.
    settings = argparse.Namespace(binary=args.binary, fault=None, dry_run=False, plain=True, keep=args.keep, extra=args.extra,
                                  state_url=STATE_URL if args.s3_state else None)
    envs = [rehearse.Rehearsal(settings)]
    reference = envs[0]
    problems = []
    try:
        up(reference)
        for command in COMMANDS:
            if reference.outpost(*command, log="outpost.log") != 0:
                raise SystemExit(f"the uninterrupted `{' '.join(command)}` failed: see {reference.path('outpost.log')}")
        expected, reference_extra = snapshot(reference)
        print("uninterrupted end state: " + "; ".join(f"{k}: {len(v) if isinstance(v, (list, dict)) else v}" for k, v in expected.items()), flush=True)
        targets = {c[0]: [(s, p) for s in started_in_order(reference, c) for p in POINTS] for c in COMMANDS}
        total = sum(len(t) for t in targets.values())
        if not all(targets.values()):
            raise SystemExit("no step found in the reference audit log")
        print(f"uninterrupted: {', '.join(f'`{c[0]}` {len(targets[c[0]]) // len(POINTS)} steps' for c in COMMANDS)}; {total} boundaries", flush=True)

        # A boundary a chain does not reach (a step skipped there because an earlier step in
        # doubt was settled by its probe) is aimed at again in a fresh chain.
        crossed = 0
        for round_ in range(1, 4):
            env = rehearse.Rehearsal(settings)
            envs.append(env)
            up(env)
            hit, missed, found = chain(env, targets)
            problems += found
            crossed += len(hit)
            extra = compare(reference, expected, env, problems)
            print(f"chain {round_}: {len(hit)} kills, {len(missed)} boundaries not reached; MCPify's own SSM health commands (not compared): {extra} (uninterrupted: {reference_extra})", flush=True)
            for name, step, point in missed:
                print(f"  not reached: `{name}` {point} of {step}")
            if problems or not missed:
                break
            targets = {c[0]: [(s, p) for n, s, p in missed if n == " ".join(c)] for c in COMMANDS}
        if not problems and crossed != total:
            problems.append(f"only {crossed} of {total} boundaries were crossed by a kill")
        print(f"{crossed} of {total} boundaries crossed by a kill; end state compared: {', '.join(expected)}")
    finally:
        if problems or args.keep:
            settings.keep = True
        for env in envs:
            env.down()
    for p in problems:
        print(f"✘ {p}", file=sys.stderr)
    if not problems:
        print("every step boundary crossed by a kill; each resumed run reached the uninterrupted run's end state")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
