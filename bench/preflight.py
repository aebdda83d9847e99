"""Benchmark: the seed's pre-flight as an operator types it (aws CLI commands one after
another) against `outpost-migrate preflight`, on one moto emulator seeded with the fleet.

Targets (issue: AWS steps on a real emulator):
  (b) at least 50x faster than (a);
  (b)'s wall time at most 1.5x its slowest single check.

Usage: python3 bench/preflight.py [--binary PATH] [--runs N]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
ACCOUNT = "311493921645"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("the emulator exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"GET /moto-api/ HTTP/1.0\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1."):
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit("the emulator did not start")


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "outpost-migrate"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT, MOTO_ECS_SERVICE_RUNNING="1")
    moto = subprocess.Popen([sys.executable, os.path.join(FIXTURES, "moto_outpost.py"), str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, moto)
        subprocess.run([sys.executable, os.path.join(FIXTURES, "seed_fleet.py"), endpoint], check=True, stdout=subprocess.DEVNULL)
        with tempfile.TemporaryDirectory() as tmp:
            profile = os.path.join(tmp, "config")
            with open(profile, "w") as f:
                f.write("[profile soc]\nregion = us-east-1\n")
            creds = os.path.join(tmp, "credentials")
            with open(creds, "w") as f:
                f.write("[soc]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
            aws_env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE=profile, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_EC2_METADATA_DISABLED="true")
            aws_env.pop("AWS_PROFILE", None)

            # (a) the operator's commands, one after another.
            start = time.perf_counter()
            tg = ""
            for cmd in seed_commands():
                cmd = [c.replace("{tg}", tg) for c in cmd]
                out = subprocess.run(["aws"] + cmd, env=aws_env, capture_output=True, text=True)
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
                out = subprocess.run(
                    [args.binary, "--state-dir", state, "preflight", "--yes", "--profile", "soc", "--output", "json"],
                    env=aws_env, capture_output=True, text=True,
                )
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
    finally:
        moto.terminate()
        moto.wait()

    ratio = seed_seconds / wall
    print(f"(a) seed pre-flight, {len(seed_commands())} aws CLI commands in sequence: {seed_seconds:.2f} s")
    print(f"(b) outpost-migrate preflight ({len(checks)} checks, median of {args.runs}): {wall * 1000:.0f} ms wall, {unit * 1000:.0f} ms for the checks")
    print(f"    slowest single check: {slow * 1000:.0f} ms")
    print(f"ratio (a)/(b): {ratio:.0f}x   (target >= 50x)")
    print(f"(b) checks / slowest check: {unit / slow:.2f}x   (target <= 1.5x)")
    print(f"(b) whole process / slowest check: {wall / slow:.2f}x   (process start, AWS config, identity check included)")
    ok = ratio >= 50 and unit / slow <= 1.5
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
