"""Benchmark: `outpost-migrate preflight` in a complete local world, the rehearsal's
(rehearsal/rehearse.py): the moto emulator seeded with the fleet (plain: no throttling, no late
answers), the control plane and MCPify stand-ins, the API key, MCPify's files, and
rehearsal/public-dns first on the PATH for `dig`. Pre-flight's checks beyond AWS (API key and
scopes, control plane, MCPify, its files, programs on the PATH) need them all to pass.

Two modes:

- Default: the seed's pre-flight as an operator types it (aws CLI commands one after another)
  against `outpost-migrate preflight`. Targets: at least 50x faster; the checks' wall time at
  most 1.5x the slowest single check.

- `--latency-ms MS`: the emulator answers each request MS after it arrived, requests in flight
  overlapping, as a region does; the stand-ins (control plane, MCPify) answer at once, so only
  the AWS calls carry the latency. Pre-flight is then held to its longest chain of dependent
  calls, read from the runbook (`plan --output json`: the captures each step makes and needs,
  one round trip an `aws` step, plus the account guard's before any of them; the HTTP and MCP
  checks to the local stand-ins are not in it): the chain's round trips x MS is the physical
  limit no run can beat. Reports pre-flight's wall time (median of --runs), that limit, their
  ratio (target <= 1.25x), the peak RSS of a run (target <= 30 MiB) and the same AWS calls made
  in sequence by a boto3 script (bench/preflight_boto3.py).

`--serve` starts that world (the emulator with --latency-ms if given), prints the environment to
reach it, and waits until interrupted: to time the binary with other tools (/usr/bin/time -v).

Usage: python3 bench/preflight.py [--binary PATH] [--runs N] [--latency-ms MS] [--serve]
"""

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "rehearsal"))
import rehearse  # noqa: E402  (the world, as the break matrix and the crash test start it)

ACCOUNT = rehearse.ACCOUNT
# Pre-flight's targets in latency mode.
CHAIN_RATIO_TARGET = 1.25
PEAK_MIB_TARGET = 30


def seed_commands():
    """The seed runbook's pre-flight verification commands, in its order."""
    common = ["--profile", "soc", "--region", "us-east-1"]
    cmds = [
        ["ecs", "describe-clusters", "--clusters", "outpost-dev"],
        ["ecs", "describe-services", "--cluster", "outpost-dev", "--services", "outpost-control-plane"],
        ["elbv2", "describe-load-balancers", "--names", "outpost-alb"],
        # <TG_ARN> in the seed: the operator looks it up first.
        ["elbv2", "describe-target-groups", "--names", "outpost-control-plane", "--query", "TargetGroups[0].TargetGroupArn", "--output", "text"],
        ["elbv2", "describe-target-health", "--target-group-arn", "{tg}"],
    ]
    for repo in ["outpost-base", "outpost-claude", "outpost-codex", "outpost-gemini", "outpost-aider", "outpost-grok", "outpost-control-plane"]:
        cmds.append(["ecr", "describe-images", "--repository-name", repo, "--query", "imageDetails[*].imageTags", "--output", "text"])
    for table in ["outpost-dispatches", "outpost-workspaces", "outpost-pool"]:
        cmds.append(["dynamodb", "describe-table", "--table-name", table, "--query", "Table.TableStatus"])
    cmds.append(["s3", "ls", f"s3://outpost-artifacts-{ACCOUNT}"])
    cmds.append(["secretsmanager", "list-secrets", "--filter", "Key=name,Values=/outpost/system", "--query", "SecretList[*].Name"])
    return [c + common for c in cmds]


def run_with_rusage(cmd, env):
    """Runs cmd to its end: (wall seconds, peak RSS of that process in MiB, exit code, stdout, stderr)."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss is in KiB on Linux.
        return wall, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read()


def longest_chain(plan):
    """The longest chain of dependent calls in pre-flight's plan: each `aws` step is one round
    trip after the steps making the captures it needs; the account guard is one before them
    all. Returns (round trips, the step ids along the chain)."""
    best = (0, [])
    for unit in plan["units"]:
        makers = {}
        for step in unit["steps"]:
            for capture in step["captures"]:
                makers[capture] = step["id"]
        steps = {s["id"]: s for s in unit["steps"]}
        memo = {}

        def depth(step_id):
            if step_id not in memo:
                step = steps[step_id]
                own = 1 if step["kind"] == "aws" else 0
                before = max((depth(makers[n]) for n in step["needs"] if n in makers), default=(0, []))
                memo[step_id] = (before[0] + own, before[1] + ([step_id] if own else []))
            return memo[step_id]

        for step_id in steps:
            best = max(best, depth(step_id), key=lambda d: d[0])
    if best[0]:
        return best[0] + 1, ["account guard (sts GetCallerIdentity)"] + best[1]
    return 0, []


def environment(rehearsal):
    """The rehearsal tool's environment (the emulator, the stand-ins' URLs, the API key,
    MCPify's files and restart), with a `soc` profile: the seed's aws CLI commands and the boto3
    script name it, and the rehearsal's AWS config files are empty. `dig` is the rehearsal's,
    for `programs-on-path` (the runbook checks public DNS by default)."""
    env = rehearsal.tool_env()
    profile = rehearsal.path("soc-config")
    with open(profile, "w") as f:
        f.write("[profile soc]\nregion = us-east-1\n")
    creds = rehearsal.path("soc-credentials")
    with open(creds, "w") as f:
        f.write("[soc]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env.update(
        AWS_CONFIG_FILE=profile,
        AWS_SHARED_CREDENTIALS_FILE=creds,
        PATH=os.path.join(rehearse.HERE, "public-dns") + os.pathsep + env.get("PATH", ""),
    )
    return env


def preflight_command(binary, state):
    return [binary, "preflight", "--state-dir", state, "--yes", "--profile", "soc", "--output", "json"]


def seed_vs_tool(args, env, tmp):
    # (a) the operator's commands, one after another.
    start = time.perf_counter()
    tg = ""
    for cmd in seed_commands():
        cmd = [c.replace("{tg}", tg) for c in cmd]
        out = subprocess.run(["aws"] + cmd, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"aws {' '.join(cmd)} failed: {out.stderr}")
        if "describe-target-groups" in cmd:
            tg = out.stdout.strip()
    seed_seconds = time.perf_counter() - start

    # (b) outpost-migrate preflight, the median of several runs.
    walls, units, slowest = [], [], []
    for i in range(args.runs):
        state = os.path.join(tmp, f"state-{i}")
        start = time.perf_counter()
        out = subprocess.run(preflight_command(args.binary, state), env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        if out.returncode != 0:
            sys.exit(f"preflight failed:\n{out.stdout}\n{out.stderr}")
        events = [json.loads(l) for l in out.stdout.splitlines()]
        checks = [e["duration_ms"] for e in events if e["event"] == "step_finished" and e["access"] == "read_only"]
        slowest.append(max(checks) / 1000)
        units.append(next(e["duration_ms"] for e in events if e["event"] == "unit_finished") / 1000)
    wall = statistics.median(walls)
    unit = statistics.median(units)
    slow = statistics.median(slowest)

    ratio = seed_seconds / wall
    print(f"(a) seed pre-flight, {len(seed_commands())} aws CLI commands in sequence: {seed_seconds:.2f} s")
    print(f"(b) outpost-migrate preflight ({len(checks)} checks, median of {args.runs}): {wall * 1000:.0f} ms wall, {unit * 1000:.0f} ms for the checks")
    print(f"    slowest single check: {slow * 1000:.0f} ms")
    print(f"ratio (a)/(b): {ratio:.0f}x   (target >= 50x)")
    print(f"(b) checks / slowest check: {unit / slow:.2f}x   (target <= 1.5x)")
    print(f"(b) whole process / slowest check: {wall / slow:.2f}x   (process start, AWS config, identity check included)")
    return ratio >= 50 and unit / slow <= 1.5


def tool_vs_chain(args, env, tmp):
    plan_out = subprocess.run(
        [args.binary, "plan", "preflight", "--state-dir", os.path.join(tmp, "plan-state"), "--output", "json"],
        env=env, capture_output=True, text=True, check=True,
    )
    plan = json.loads(plan_out.stdout)
    plan_file = os.path.join(tmp, "plan.json")
    with open(plan_file, "w") as f:
        f.write(plan_out.stdout)
    trips, chain = longest_chain(plan)
    limit = trips * args.latency_ms / 1000
    calls = 1 + sum(1 for u in plan["units"] for s in u["steps"] if s["kind"] == "aws")

    # One run not counted first: the file cache warm, as for every counted run.
    walls, peaks = [], []
    for i in range(args.runs + 1):
        wall, peak, code, out, err = run_with_rusage(preflight_command(args.binary, os.path.join(tmp, f"state-{i}")), env)
        if code != 0:
            sys.exit(f"preflight failed:\n{out}\n{err}")
        if i:
            walls.append(wall)
            peaks.append(peak)
    wall = statistics.median(walls)
    peak = max(peaks)

    boto3_cmd = [sys.executable, os.path.join(ROOT, "bench", "preflight_boto3.py"), plan_file, os.path.join(ROOT, "runbook.yaml")]
    seq_walls, seq_peaks = [], []
    for _ in range(max(1, args.runs // 2)):
        seq_wall, seq_peak, code, out, err = run_with_rusage(boto3_cmd, env)
        if code != 0:
            sys.exit(f"the boto3 sequence failed:\n{out}\n{err}")
        seq_walls.append(seq_wall)
        seq_peaks.append(seq_peak)
    seq_wall = statistics.median(seq_walls)
    seq_peak = max(seq_peaks)

    ratio = wall / limit
    print(f"emulator latency: {args.latency_ms} ms a request, requests in flight overlapping")
    print(f"longest chain of dependent calls: {trips} round trips ({' -> '.join(chain)})")
    print(f"physical limit: {trips} x {args.latency_ms} ms = {limit * 1000:.0f} ms")
    print(f"outpost-migrate preflight ({calls} AWS calls, median of {args.runs}): {wall * 1000:.0f} ms wall, peak RSS {peak:.1f} MiB")
    print(f"ratio to the chain: {ratio:.2f}x   (target <= {CHAIN_RATIO_TARGET}x)")
    print(f"peak RSS: {peak:.1f} MiB   (target <= {PEAK_MIB_TARGET} MiB)")
    print(f"boto3, the same {calls} AWS calls in sequence (median of {len(seq_walls)}): {seq_wall * 1000:.0f} ms, peak RSS {seq_peak:.1f} MiB ({seq_wall / wall:.1f}x pre-flight's time)")
    return ratio <= CHAIN_RATIO_TARGET and peak <= PEAK_MIB_TARGET


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "outpost-migrate"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=0, help="the emulator's latency a request (latency mode)")
    parser.add_argument("--serve", action="store_true", help="start the local world, print how to reach it, wait")
    args = parser.parse_args()

    # The rehearsal starts the emulator with this process's environment: the latency is the
    # emulator's alone (the stand-ins do not read it). The plain emulator, as the break matrix
    # uses it: the realistic one's throttling and late answers would be timed too.
    os.environ["MOTO_LATENCY_MS"] = str(args.latency_ms)
    rehearsal = rehearse.Rehearsal(argparse.Namespace(binary=args.binary, fault=None, dry_run=False, keep=False, extra=[], plain=True))
    try:
        rehearsal.up()
        env = environment(rehearsal)
        if args.serve:
            for name, value in sorted(env.items()):
                if name.startswith(("AWS_", "OUTPOST_", "MCPIFY_")) or name == "PATH":
                    print(f"export {name}={shlex.quote(value)}")
            print(f"# then: {' '.join(preflight_command(args.binary, 'STATE_DIR'))}", flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return
        if args.latency_ms:
            ok = tool_vs_chain(args, env, rehearsal.work)
        else:
            ok = seed_vs_tool(args, env, rehearsal.work)
    finally:
        rehearsal.down()
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
