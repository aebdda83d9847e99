"""Rehearse the whole migration locally: pre-flight, phases 1-5, post-verification and
`rollback --level 3`, against real local parts started here on free loopback ports:

- the moto AWS emulator (tests/fixtures/moto_outpost.py), seeded with the Outpost fleet, in
  its realistic mode (MOTO_REALISTIC=1: CloudTrail delivers late, SSM invocations appear after
  a while, ECS tasks drain, Route53 changes are PENDING before INSYNC, a share of calls is
  throttled, paginated calls answer in small pages) unless `--plain`; the runbook's waits are
  shortened through vars to seconds to match;
- the control plane stand-in (control_plane.py), keeping dispatches in the emulator;
- the MCPify stand-in (mcpify.py), an MCP server whose provider its config.ts chooses;
- terraform on the rehearsal module (terraform/), with built-in resources only.

Everything started is stopped at the end, also on failure or Ctrl-C.

Usage: python3 rehearsal/rehearse.py [--binary PATH] [--forward-only] [--fault NAME]
       [--monitor [--monitor-fault NAME]] [--dry-run] [--record] [--plain] [--interactive] [--keep] [--hold] [--diagnose 'SYMPTOM [ARG]']...
       [-- EXTRA outpost-migrate ARGS]
--diagnose: run `outpost-migrate diagnose SYMPTOM [ARG]` (repeatable; '' for every symptom) in
the world before any migration, instead of the migration; `@dispatch` in ARG is a dispatch
made for it (with the fault on, e.g. pool-exhausted, it stays pending). Each command's exit code
is printed; the rehearsal's is the last one's.
--binary: the outpost-migrate to rehearse (default: debug/outpost-migrate under
$CARGO_TARGET_DIR, else target/); rehearse.sh passes the one it builds.
--interactive: no --yes; the tool asks its confirmations and approvals at the terminal.
--keep: keep the directory, with rehearsal.env (the tool's environment, to `source`).
--hold: --keep, and keep the world running after the commands until Enter.
--monitor: after the run, `monitor --once` (every monitoring row, on the metrics the control
plane stand-in publishes); --monitor-fault NAME switches a fault on just before it.
Faults: unhealthy, bad-gateway, slow, agent-unavailable, agent-missing, pool-exhausted, alarm,
wrong-key (the operator's OUTPOST_API_KEY is not a valid key; MCPify keeps its own),
scope-revoked (every key has lost the `artifacts` scope: 403),
ssm-offline (the legacy instance's SSM agent is not connected), ssm-late (MCPify still sends
an SSM command to the legacy instance two seconds after each restart, which CloudTrail delivers
late: phase 4 must fail).
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
ACCOUNT = "311493921645"
API_KEY = "op_test_rehearsal0000000000000000"
# outpost-migrate's exit code for a refusal (src/exit_codes.rs).
REFUSED = 4
FAULTS = {
    "unhealthy": {"unhealthy": True},
    "bad-gateway": {"bad_gateway": True},
    "slow": {"slow_seconds": 3},
    "agent-unavailable": {"unavailable_agent": "codex"},
    "agent-missing": {"missing_agent": "grok"},
    "pool-exhausted": {"pool_exhausted": True},
    "alarm": {},
    "wrong-key": {},
    # The key is valid but has lost the `artifacts` scope: 403 there, 401 nowhere.
    "scope-revoked": {"revoked_scopes": ["artifacts"]},
    "ssm-offline": {},
    "ssm-late": {},
}

# The runbook's waits, shortened to the realistic emulator's delays (REALISTIC in
# moto_outpost.py: CloudTrail 3 s, Route53 PENDING 2 s, ECS drain 3 s). The settle window
# covers a command sent two seconds after the restart and delivered 3 s later.
REALISTIC_VARS = {
    "cloudtrail_settle_seconds": "8",
    "cloudtrail_poll_seconds": "1",
    "dns_change_interval": "1s",
    "ecs_drain_interval": "1s",
    # SSM answers InvocationDoesNotExist for 2 s after SendCommand.
    "ssm_result_interval": "1s",
}
PLAIN_VARS = {"cloudtrail_settle_seconds": "1", "cloudtrail_poll_seconds": "1"}

# MCPify's provider config before the migration, as the seed shows it.
CONFIG_TS = """export const outpostConfig = {
  provider: 'ssm',
  instanceId: 'mi-0bbd8fed3f0650ddb',
  awsProfile: 'soc',
  awsRegion: 'us-east-1',

  tools: [
    'outpost_dispatch',
    'outpost_status',
    'outpost_cancel',
    'outpost_health',
    'outpost_list_workspaces',
    'outpost_delete_workspace',
    'outpost_get_artifacts'
  ]
};
"""

# MCPify's service environment before the migration (its systemd EnvironmentFile): phase 3
# sets OUTPOST_API_URL and OUTPOST_PROVIDER=http here, rollback 1 restores it. The stand-in
# reads both from this file only, and will not start when OUTPOST_PROVIDER is not its provider.
MCPIFY_ENV = """# MCPify service environment
OUTPOST_PROVIDER=ssm
"""

REGISTRY_TS = """registerTool('dispatch', ssmDispatch);
registerTool('list_runs', ssmListRuns);
registerTool('outpost_dispatch', httpDispatch);
registerTool('outpost_status', httpStatus);
"""


class Stopped(Exception):
    """SIGTERM: the rehearsal stops at once, the tool with it."""


def foreground(cmd, env):
    """Runs the tool in the terminal's foreground, as an operator would: a Ctrl-C reaches it
    too (one process group), so it acknowledges it, finishes its step and exits 130, which ends
    the rehearsal; the rehearsal waits for that rather than kill it mid-step."""
    proc = subprocess.Popen(cmd, env=env)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bound_port(port_file, proc, what, timeout=60):
    """The port a server started on port 0 bound, once it has written it to `port_file` (no
    other process can take it in between, as it could with a port chosen beforehand)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        if os.path.exists(port_file):
            with open(port_file) as f:
                return int(f.read())
        time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


class Rehearsal:
    def __init__(self, args):
        self.args = args
        self.procs = []
        self.work = tempfile.mkdtemp(prefix="outpost-rehearsal-")
        # MCPify restarts on the same port, so its port is chosen here; the emulator and the
        # control plane bind their own (`up`).
        self.mcp_port = free_port()
        self.aws_endpoint = self.cp_url = None
        # Realistic unless asked for the plain emulator (callers' settings may predate --plain).
        self.realistic = not getattr(args, "plain", False)

    def recording(self):
        """Whether the emulator records every request (aws-requests.jsonl): `--dry-run` and
        `--record` (callers' settings may predate --record)."""
        return self.args.dry_run or getattr(self.args, "record", False)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def start(self, cmd, env=None, log=None):
        out = open(self.path(log), "ab") if log else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)
        self.procs.append(proc)
        return proc

    def env(self):
        env = dict(os.environ)
        for var in ["AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"]:
            env.pop(var, None)
        for name in ["aws-config", "aws-credentials"]:
            open(self.path(name), "w").close()
        env.update(
            AWS_ENDPOINT_URL=self.aws_endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=self.path("aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=self.path("aws-credentials"),
            OUTPOST_API_URL=self.cp_url,
            OUTPOST_API_KEY=API_KEY,
            OUTPOST_ALB_ENDPOINT=self.cp_url,
            OUTPOST_TERRAFORM_DIR=self.path("terraform"),
            # One AWS identity here: the steps marked for a second person need only the
            # operator's approval (tests/it/second_person.rs has two identities).
            OUTPOST_SECOND_PERSON_APPROVAL="false",
            MCPIFY_CONFIG=self.path("mcpify", "config.ts"),
            MCPIFY_REGISTRY=self.path("mcpify", "registry.ts"),
            MCPIFY_ENV=self.path("mcpify", "mcpify.env"),
            MCPIFY_RESTART=os.path.join(HERE, "mcpify-restart.sh"),
            MCPIFY_URL=f"http://127.0.0.1:{self.mcp_port}/mcp",
            MCPIFY_PORT=str(self.mcp_port),
            MCPIFY_PIDFILE=self.path("mcpify.pid"),
            MCPIFY_LOG=self.path("mcpify.log"),
            MCPIFY_API_KEY=API_KEY,
            MCPIFY_CALL_LOG=self.path("mcpify-calls.log"),
        )
        if self.args.fault == "ssm-late":
            env["MCPIFY_LATE_SSM_SECONDS"] = "2"
        return env

    def up(self):
        fault = self.args.fault
        moto_env = dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT, MOTO_ECS_SERVICE_RUNNING="1")
        if self.realistic:
            moto_env["MOTO_REALISTIC"] = "1"
        if self.recording():
            # moto's request recorder: what the run sent to AWS, for checking it changed nothing.
            moto_env.update(MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=self.path("aws-requests.jsonl"))
        if fault == "ssm-offline":
            # The legacy instance's SSM agent has dropped off: rollback 1 must say so.
            moto_env["MOTO_SSM_PING_STATUS"] = "ConnectionLost"
        moto = self.start([sys.executable, os.path.join(FIXTURES, "moto_outpost.py"), "0", self.path("emulator.port")], moto_env, "emulator.log")
        self.aws_endpoint = f"http://127.0.0.1:{bound_port(self.path('emulator.port'), moto, 'the AWS emulator')}"
        seed = [sys.executable, os.path.join(FIXTURES, "seed_fleet.py"), self.aws_endpoint]
        if fault == "alarm":
            seed += ["--break", "alarm"]
        subprocess.run(seed, check=True, stdout=subprocess.DEVNULL)
        if self.recording():
            # The seeding is not the run's doing.
            urllib.request.urlopen(urllib.request.Request(f"{self.aws_endpoint}/moto-api/recorder/reset-recording", method="POST")).read()
        with open(self.path("faults.json"), "w") as f:
            json.dump(FAULTS.get(fault, {}), f)
        cp = self.start(
            [
                sys.executable, os.path.join(HERE, "control_plane.py"),
                "--port", "0", "--port-file", self.path("control-plane.port"), "--aws-endpoint", self.aws_endpoint,
                "--bucket", f"outpost-artifacts-{ACCOUNT}", "--keys", f"{API_KEY}=dispatch,read,artifacts,workspaces",
                "--faults", self.path("faults.json"),
                # The metrics `monitor` reads; only then, so other rehearsals' AWS requests
                # stay the tool's own.
                *(["--metrics"] if getattr(self.args, "monitor", False) else []),
            ],
            dict(os.environ),
            "control-plane.log",
        )
        self.cp_url = f"http://127.0.0.1:{bound_port(self.path('control-plane.port'), cp, 'the control plane')}"
        os.makedirs(self.path("mcpify"))
        with open(self.path("mcpify", "config.ts"), "w") as f:
            f.write(CONFIG_TS)
        with open(self.path("mcpify", "registry.ts"), "w") as f:
            f.write(REGISTRY_TS)
        with open(self.path("mcpify", "mcpify.env"), "w") as f:
            f.write(MCPIFY_ENV)
        # Chosen again just before MCPify first binds it: a port found free seconds earlier (before
        # the emulator started and was seeded) may since have gone to a server of a test running
        # beside this one, whose answers MCPify's checks would then read.
        self.mcp_port = free_port()
        subprocess.run([os.path.join(HERE, "mcpify-restart.sh")], env=self.env(), check=True)
        shutil.copytree(os.path.join(HERE, "terraform"), self.path("terraform"), ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.plan"))

    def arguments(self, *command):
        """The tool's arguments for `command` (without the binary and --state-dir): the world's
        vars, and --yes unless the operator answers at the terminal (--interactive)."""
        # Local parts answer in a second: poll every second rather than the seed's 10 s.
        dry = ["--dry-run"] if self.args.dry_run else []
        yes = [] if getattr(self.args, "interactive", False) else ["--yes"]
        return [*command, *dry, *yes,
                "--var", "verify_public_dns=false", "--var", "test_workspace_id=ws-rehearsal-test",
                "--var", "dispatch_poll_interval=1s", "--var", "dispatch_poll_attempts=8",
                *(a for k, v in (REALISTIC_VARS if self.realistic else PLAIN_VARS).items() for a in ["--var", f"{k}={v}"]),
                *self.args.extra]

    def tool_env(self):
        """The environment the tool runs in."""
        env = self.env()
        # The tool runs in the runbook's region from an environment that names none (the
        # emulator and the stand-ins keep theirs); its commands get the region from it.
        env.pop("AWS_REGION", None)
        if self.args.fault == "wrong-key":
            env["OUTPOST_API_KEY"] = "sk_live_not_an_outpost_key"
        return env

    def write_env_file(self):
        """`rehearsal.env`: sourced in a shell, `outpost-migrate` and its environment are the
        rehearsal's (state directory included), so a command it printed runs as it did."""
        env = dict(self.tool_env(), OUTPOST_MIGRATE_STATE_DIR=self.path("state"))
        lines = [
            f"# The environment of the outpost-migrate rehearsal in {self.work}.",
            "# `source` it, then run a command the rehearsal printed (while its world runs: --hold),",
            "# or one that reads the state only, such as `outpost-migrate status`.",
            f"export PATH={shlex.quote(os.path.dirname(os.path.abspath(self.args.binary)))}:\"$PATH\"",
        ]
        # What the rehearsal sets, whatever the shell sourcing it holds; the rest as it differs.
        ours = ("AWS_", "OUTPOST_", "MCPIFY_")
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()) if k.startswith(ours) or os.environ.get(k) != v]
        # The tool's own environment names no region or profile, whatever the shell holds.
        unset = [k for k in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN") if k not in env]
        if unset:
            lines.append(f"unset {' '.join(unset)}")
        path = self.path("rehearsal.env")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"rehearsal environment: source {path}", flush=True)

    def state_arguments(self):
        """Where the tool keeps its state: the rehearsal's directory, or `state_url` (S3)."""
        url = getattr(self.args, "state_url", None)
        return ["--state", url] if url else ["--state-dir", self.path("state")]

    def outpost(self, *command, env_extra=None, log=None):
        """Runs outpost-migrate here; its output goes to `log` (a file name) when given."""
        arguments = self.arguments(*command)
        cmd = [self.args.binary, *arguments, *self.state_arguments()]
        env = self.tool_env()
        env.update(env_extra or {})
        if log is None:
            print(f"\n$ outpost-migrate {shlex.join(arguments)}", flush=True)
            return foreground(cmd, env)
        with open(self.path(log), "ab") as out:
            out.write(f"\n$ {' '.join(f'{k}={v}' for k, v in (env_extra or {}).items())} outpost-migrate {' '.join(command)}\n".encode())
            out.flush()
            return subprocess.run(cmd, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL).returncode

    def down(self):
        pidfile = self.path("mcpify.pid")
        if os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.args.keep or getattr(self.args, "hold", False):
            print(f"rehearsal files kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def make_dispatch(rehearsal):
    """A test dispatch made through the control plane; given time to complete (it stays
    pending while the pool is exhausted)."""
    request = urllib.request.Request(
        f"{rehearsal.cp_url}/dispatch", method="POST",
        data=json.dumps({"agent": "claude", "task": "diagnose rehearsal"}).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        dispatch_id = json.load(answer)["data"]["dispatchId"]
    for _ in range(30):
        status = urllib.request.Request(f"{rehearsal.cp_url}/dispatch/{dispatch_id}", headers={"Authorization": f"Bearer {API_KEY}"})
        with urllib.request.urlopen(status) as answer:
            if json.load(answer)["data"]["status"] == "success":
                break
        time.sleep(0.2)
    return dispatch_id


def diagnose(rehearsal, words):
    """`outpost-migrate diagnose WORDS` in the world; returns its exit code."""
    words = [make_dispatch(rehearsal) if w == "@dispatch" else w for w in shlex.split(words)]
    cmd = [rehearsal.args.binary, "diagnose", *words, *rehearsal.args.extra]
    print(f"\n$ outpost-migrate {shlex.join(cmd[1:])}", flush=True)
    code = subprocess.run(cmd, env=rehearsal.tool_env(), stdin=subprocess.DEVNULL).returncode
    print(f"diagnose {' '.join(words)}: exit code {code}", flush=True)
    return code


def realistic_seen(endpoint):
    """What the realistic emulator's behaviours did (throttled calls, PENDING answers)."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/outpost/realistic") as answer:
        return json.load(answer)


def dns_records(endpoint):
    """The custom domain's A record in the public and in the private outpost.dev zone."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    route53 = session.client("route53", endpoint_url=endpoint)
    found = {}
    for zone in route53.list_hosted_zones_by_name(DNSName="outpost.dev")["HostedZones"]:
        pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone["Id"])
        records = [r for page in pages for r in page["ResourceRecordSets"]]
        a = [r for r in records if r["Name"] == "api.outpost.dev." and r["Type"] == "A"]
        found["private" if zone["Config"]["PrivateZone"] else "public"] = a[0] if a else None
    return found


def dns_proof(rehearsal, before, stage):
    """Phase 2 must change the public record only; rollback 2 must put the legacy one back.
    Prints what holds, and returns 1 (the rehearsal fails) when it does not."""
    now = dns_records(rehearsal.aws_endpoint)
    if now["private"] != before["private"]:
        print(f"DNS: the private zone's record changed: {now['private']}", flush=True)
        return 1
    if stage == "run":
        alias = (now["public"] or {}).get("AliasTarget")
        if not alias:
            print(f"DNS: the public record is not an alias after phase 2: {now['public']}", flush=True)
            return 1
        print(f"DNS: public api.outpost.dev is an alias to {alias['DNSName']}; the private zone is untouched", flush=True)
        return 0
    if now["public"] != before["public"]:
        print(f"DNS: the public record is not the legacy one after rollback 2: {now['public']}", flush=True)
        return 1
    legacy = ", ".join(r["Value"] for r in before["public"]["ResourceRecords"])
    print(f"DNS: public api.outpost.dev points at the legacy server ({legacy}) again; the private zone is untouched", flush=True)
    return 0


def ecs_desired_count(rehearsal, stage):
    """Prints the control plane service's desired count as the emulator has it after `stage`
    (the test of the green rehearsal reads it: the tool's own lines are not the proof)."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    ecs = session.client("ecs", endpoint_url=rehearsal.aws_endpoint)
    service = ecs.describe_services(cluster="outpost-dev", services=["outpost-control-plane"])["services"][0]
    print(f"ECS after {stage}: outpost-control-plane desiredCount {service['desiredCount']}", flush=True)


def monitor_once(rehearsal, fault):
    """`monitor --once` after the run, `fault` switched on first; the metrics it reads are
    those the control plane stand-in published meanwhile (rehearsal/metrics.py)."""
    if fault:
        with open(rehearsal.path("faults.json"), "w") as f:
            json.dump(FAULTS[fault], f)
        print(f"monitor fault: {fault}", flush=True)
    return rehearsal.outpost("monitor", "--once")


def main():
    parser = argparse.ArgumentParser(description="Rehearse the whole Outpost migration locally.")
    default_binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "outpost-migrate")
    parser.add_argument("--binary", default=default_binary)
    parser.add_argument("--forward-only", action="store_true", help="stop after post-verification (no rollback)")
    parser.add_argument("--fault", choices=sorted(FAULTS), help="break one part to see the step that checks it fail")
    parser.add_argument("--keep", action="store_true", help="keep the rehearsal's files and logs, with rehearsal.env (the tool's environment, to source)")
    parser.add_argument("--hold", action="store_true", help="--keep, and keep the world running after the commands until Enter")
    parser.add_argument("--interactive", action="store_true", help="no --yes: answer the confirmations and approvals at the terminal")
    parser.add_argument("--dry-run", action="store_true", help="rehearse `run --dry-run` and `rollback --level 3 --dry-run`; AWS requests are recorded")
    parser.add_argument("--record", action="store_true", help="record every AWS request the emulator receives (aws-requests.jsonl; kept with --keep)")
    parser.add_argument("--plain", action="store_true", help="the plain emulator (AWS answers at once) rather than the realistic one")
    parser.add_argument("--diagnose", action="append", metavar="'SYMPTOM [ARG]'", help="run `diagnose SYMPTOM [ARG]` instead of the migration (repeatable)")
    parser.add_argument("--monitor", action="store_true", help="after the run, `monitor --once`")
    parser.add_argument("--monitor-fault", choices=sorted(FAULTS), help="with --monitor: switch this fault on before it")
    parser.add_argument("extra", nargs="*", help="more outpost-migrate arguments (after --)")
    args = parser.parse_args()
    if args.interactive and not sys.stdin.isatty():
        parser.error("--interactive needs a terminal to answer the prompts at")
    # Ctrl-C and SIGTERM both end in the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Stopped()))
    rehearsal = Rehearsal(args)
    code = 1
    try:
        rehearsal.up()
        print(f"AWS emulator: {'realistic (MOTO_REALISTIC=1)' if rehearsal.realistic else 'plain'}", flush=True)
        if args.keep or args.hold:
            rehearsal.write_env_file()
        if args.diagnose:
            for words in args.diagnose:
                code = diagnose(rehearsal, words)
            # The world is stopped on the way out (finally).
            sys.exit(code)
        dns_before = None if args.dry_run else dns_records(rehearsal.aws_endpoint)
        code = rehearsal.outpost("run")
        if code == 0 and not args.dry_run:
            code = dns_proof(rehearsal, dns_before, "run")
            ecs_desired_count(rehearsal, "run")
        if code == 0 and args.monitor and not args.dry_run:
            code = monitor_once(rehearsal, args.monitor_fault)
        if code == 0 and not args.forward_only:
            code = rehearsal.outpost("rollback", "--level", "3")
            if args.dry_run and code == REFUSED:
                # A dry run records no forward run, so a real rollback would be refused: the
                # dry run shows every step, then ends in that refusal, as it should.
                print("rollback --level 3 (dry run): a real run would be refused, as expected after a dry run", flush=True)
                code = 0
            if code == 0 and not args.dry_run:
                code = dns_proof(rehearsal, dns_before, "rollback")
                ecs_desired_count(rehearsal, "rollback")
        if rehearsal.realistic:
            seen = realistic_seen(rehearsal.aws_endpoint)
            print(f"AWS emulator: {sum(seen['throttled'].values())} calls throttled, {seen['route53_pending']} Route53 changes answered PENDING", flush=True)
        print(f"\nrehearsal {'passed' if code == 0 else f'failed (exit code {code})'}", flush=True)
        if args.hold:
            print(f"the rehearsal's world is still up: in another shell, `source {rehearsal.path('rehearsal.env')}`, then run a command above; press Enter here to stop it", flush=True)
            try:
                sys.stdin.readline()
            except KeyboardInterrupt:
                pass
    except (KeyboardInterrupt, Stopped):
        print("\nrehearsal interrupted", file=sys.stderr)
        code = 130
    finally:
        rehearsal.down()
    sys.exit(code)


if __name__ == "__main__":
    main()
