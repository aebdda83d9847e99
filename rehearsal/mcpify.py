"""A stand-in for MCPify's Outpost provider, for rehearsals and tests: an MCP server with the
7 `outpost_*` tools. Its provider comes from the same config.ts the runbook edits (phase 3
switches `provider: 'ssm'` to `provider: 'http'`, rollback level 1 switches it back); the
file is read when the server starts, so a switch takes effect on restart, as with MCPify.

- provider `http`: the tools call the control plane at `endpoint` with OUTPOST_API_KEY.
- `--env-file PATH`: MCPify's service environment (a systemd EnvironmentFile, which phase 3
  edits). OUTPOST_API_URL and OUTPOST_PROVIDER then come from that file alone, as a service
  sees none of the operator's shell: the endpoint is `process.env.OUTPOST_API_URL || <the
  config's fallback>`, and the server refuses to start when OUTPOST_PROVIDER is not the
  config's provider (provider http needs OUTPOST_PROVIDER=http).
- provider `ssm`: the legacy path, SSM SendCommand to `instanceId` on AWS (AWS_ENDPOINT_URL
  in a rehearsal); the two tools v1 never had answer an error.

With MCPIFY_LATE_SSM_SECONDS set (the rehearsal's `ssm-late` fault), it still sends one SSM
command to `instanceId` that long after each start (once it answers), as a forgotten SSM job
would.

Usage: python3 mcpify.py --config config.ts [--env-file mcpify.env] (--port N | --stdio)
"""

import argparse
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import boto3
from mcp.server.fastmcp import FastMCP


def read_config(path):
    with open(path) as f:
        text = f.read()
    # Only lines that are not commented out count, as in TypeScript.
    live = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))

    def field(name):
        m = re.search(rf"\b{name}\s*:\s*(?:[^,\n]*?\|\|\s*)?'([^']*)'", live)
        return m.group(1) if m else None

    return {"provider": field("provider"), "endpoint": field("endpoint"), "instanceId": field("instanceId")}


def read_env_file(path):
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (comments and blank lines
    skipped, an `export ` prefix and quotes around the value allowed; a later line wins)."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.removeprefix("export ").partition("=")
            if sep:
                values[key.strip()] = value.strip().strip("'\"")
    return values


def service_environment(cfg, env_file):
    """The endpoint MCPify's HTTP provider uses, after checking that the environment file
    agrees with the config's provider; exits (the service does not start) when it does not."""
    service_env = read_env_file(env_file)
    wanted = service_env.get("OUTPOST_PROVIDER")
    if cfg["provider"] == "http" and wanted != "http":
        raise SystemExit(
            f"{env_file}: OUTPOST_PROVIDER={wanted or '(unset)'} but the config's provider is http: not starting"
        )
    if wanted is not None and wanted != cfg["provider"]:
        raise SystemExit(f"{env_file}: OUTPOST_PROVIDER={wanted} but the config's provider is {cfg['provider']}: not starting")
    return service_env.get("OUTPOST_API_URL") or cfg["endpoint"]


class HttpProvider:
    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")
        # MCPify's own key; a rehearsal may give the operator a different one.
        self.key = os.environ.get("MCPIFY_API_KEY") or os.environ.get("OUTPOST_API_KEY", "")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"control plane answered {e.code}: {e.read().decode(errors='replace')}") from None
        except urllib.error.URLError as e:
            raise RuntimeError(f"control plane unreachable at {self.endpoint}: {e.reason}") from None


class SsmProvider:
    def __init__(self, instance_id):
        self.instance_id = instance_id
        self.ssm = boto3.client("ssm", region_name=os.environ.get("AWS_REGION", "us-east-1"))

    def run(self, script):
        out = self.ssm.send_command(InstanceIds=[self.instance_id], DocumentName="AWS-RunShellScript", Parameters={"commands": [script]})
        command_id = out["Command"]["CommandId"]
        result = self.invocation(command_id)
        return {"provider": "ssm", "instanceId": self.instance_id, "commandId": command_id, "status": result["Status"]}

    def invocation(self, command_id, wait_seconds=30):
        """GetCommandInvocation, waiting out the InvocationDoesNotExist AWS answers for a few
        seconds after SendCommand (the invocation is not registered yet)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return self.ssm.get_command_invocation(CommandId=command_id, InstanceId=self.instance_id)
            except self.ssm.exceptions.InvocationDoesNotExist:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)


def send_late_ssm_command(instance_id, delay, port):
    """The `ssm-late` rehearsal fault: a leftover job of MCPify's that still sends an SSM
    command to the legacy instance `delay` seconds after every start (once it answers on
    `port`, when a restart counts as done), whatever the provider."""
    def send():
        while port:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(delay)
        ssm = boto3.client("ssm", region_name=os.environ.get("AWS_REGION", "us-east-1"))
        ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Parameters={"commands": ["uptime"]})

    threading.Thread(target=send, daemon=True).start()


def build(config_path, env_file=None):
    cfg = read_config(config_path)
    provider = cfg["provider"]
    endpoint = service_environment(cfg, env_file) if env_file else cfg["endpoint"]
    if provider == "http":
        backend = HttpProvider(endpoint or "https://api.outpost.dev")
    elif provider == "ssm":
        backend = SsmProvider(cfg["instanceId"] or "mi-0bbd8fed3f0650ddb")
    else:
        raise SystemExit(f"{config_path}: no provider: 'http' or 'ssm' found")
    server = FastMCP("mcpify")
    call_log = os.environ.get("MCPIFY_CALL_LOG")

    def called(name):
        # The rehearsal's record of tool calls, for checking what a dry run sent.
        if call_log:
            with open(call_log, "a") as f:
                f.write(name + "\n")

    def ssm_only(name):
        raise RuntimeError(f"{name} is not available with the SSM provider (v1 had 5 tools)")

    @server.tool()
    def outpost_dispatch(agent: str, task: str, repo: str = "", timeoutSeconds: int = 300) -> dict:
        """Dispatch a task to a coding agent."""
        called("outpost_dispatch")
        if provider == "ssm":
            return {"data": backend.run(f"/home/ubuntu/claude-executor/dispatch.sh {agent} '{task}'")}
        return backend.call("POST", "/dispatch", {"agent": agent, "task": task, "repo": repo, "timeoutSeconds": timeoutSeconds})

    @server.tool()
    def outpost_status(dispatchId: str) -> dict:
        """The status of a dispatch."""
        called("outpost_status")
        if provider == "ssm":
            return {"data": backend.run(f"cat /home/ubuntu/claude-executor/runs/{dispatchId}/status")}
        return backend.call("GET", f"/dispatch/{dispatchId}")

    @server.tool()
    def outpost_cancel(dispatchId: str) -> dict:
        """Cancel a dispatch."""
        called("outpost_cancel")
        if provider == "ssm":
            return {"data": backend.run(f"pkill -f {dispatchId}")}
        return backend.call("DELETE", f"/dispatch/{dispatchId}")

    @server.tool()
    def outpost_health() -> dict:
        """The fleet's health, through the configured provider."""
        called("outpost_health")
        if provider == "ssm":
            return {"data": backend.run("uptime")}
        fleet = backend.call("GET", "/health/fleet")
        return {"provider": "http", "endpoint": backend.endpoint, "data": fleet.get("data", {})}

    @server.tool()
    def outpost_list_workspaces() -> dict:
        """The agents' workspaces."""
        called("outpost_list_workspaces")
        if provider == "ssm":
            return {"data": backend.run("ls /home/ubuntu/claude-executor/runs/")}
        return backend.call("GET", "/workspaces")

    @server.tool()
    def outpost_delete_workspace(workspaceId: str) -> dict:
        """Delete a workspace."""
        called("outpost_delete_workspace")
        if provider == "ssm":
            ssm_only("outpost_delete_workspace")
        return backend.call("DELETE", f"/workspaces/{workspaceId}")

    @server.tool()
    def outpost_get_artifacts(dispatchId: str) -> dict:
        """The artifacts of a completed dispatch."""
        called("outpost_get_artifacts")
        if provider == "ssm":
            ssm_only("outpost_get_artifacts")
        return backend.call("GET", f"/artifacts/{dispatchId}")

    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--env-file")
    parser.add_argument("--port", type=int)
    parser.add_argument("--stdio", action="store_true")
    args = parser.parse_args()
    server = build(args.config, args.env_file)
    late = os.environ.get("MCPIFY_LATE_SSM_SECONDS")
    if late:
        send_late_ssm_command(read_config(args.config)["instanceId"] or "mi-0bbd8fed3f0650ddb", float(late), args.port)
    if args.stdio:
        server.run(transport="stdio")
    else:
        server.settings.host = "127.0.0.1"
        server.settings.port = args.port
        server.settings.log_level = "WARNING"
        server.run(transport="streamable-http")


if __name__ == "__main__":
    main()
