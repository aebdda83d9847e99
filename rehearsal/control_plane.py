"""A local stand-in for the Outpost v2 control plane, for rehearsals and tests.

It serves the API the seed runbook uses (health, fleet, dispatch, artifacts, workspaces),
checks Bearer API keys (`op_live_`/`op_test_`, with scopes), keeps dispatch records in the
emulator's DynamoDB table `outpost-dispatches` and artifacts in its S3 bucket under
`dispatches/{id}/`. Faults are switched live through a JSON file (`--faults`), re-read on
every request: {"unhealthy": true, "bad_gateway": true, "slow_seconds": 3,
"unavailable_agent": "codex", "missing_agent": "grok" (not reported), "pool_exhausted": true,
"revoked_scopes": ["read"] (every key has lost these scopes: 403, as for a key without them)}.
It writes its log lines to the emulator's CloudWatch Logs group /outpost/control-plane, as the
real one does: its start, the pool's replenishment and the faults switched on when it starts
(an error each), and each rejected API key, as a careless service would, key included.

With --metrics it publishes the CloudWatch metrics `monitor` reads (rehearsal/metrics.py).

Usage: python3 control_plane.py --port N [--port-file F] --aws-endpoint URL --bucket NAME
       [--keys 'op_test_x=dispatch,read,artifacts,workspaces;op_test_y=read'] [--faults PATH]
       [--metrics]
"""

import argparse
import json
import os
import time
import uuid

import boto3
from botocore.config import Config
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from metrics import Metrics

AGENTS = ["claude", "codex", "gemini", "aider", "grok"]
TERMINAL = {"success", "failed", "timeout", "cancelled"}
# A dispatch is pending this long, then running; a plain task then succeeds.
PENDING_SECONDS = 0.3
RUNNING_SECONDS = 1.0
# Which scope each route needs.
SCOPES = {"dispatch": "dispatch", "status": "read", "artifacts": "artifacts", "workspaces": "workspaces"}
LOG_GROUP = "/outpost/control-plane"
LOG_STREAM = "rehearsal"

app = Flask(__name__)
config = {}


def faults():
    path = config.get("faults")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def log(message):
    """A line in /outpost/control-plane (stream `rehearsal`), where `diagnose` reads it."""
    logs = config.get("logs")
    if logs is None:
        return
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM, logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])


def log_start():
    """The start's lines: the faults on at start are errors, as the real service logs them."""
    logs = config["logs"]
    try:
        logs.create_log_group(logGroupName=LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM)
    f = faults()
    log("INFO control plane started (2.0.0-rehearsal)")
    if f.get("unhealthy"):
        log("ERROR dispatcher not responding: health checks failing")
    if f.get("pool_exhausted"):
        log("ERROR pool: replenishment failed: no capacity to start a warm task (0/10 warm)")
    else:
        log("INFO pool: replenished, 3 warm tasks of 10")
    if f.get("unavailable_agent"):
        log(f"ERROR agent {f['unavailable_agent']}: task failed to start")


def error(status, code, message):
    return jsonify({"error": {"code": code, "message": message}}), status


@app.before_request
def apply_faults():
    f = faults()
    if f.get("slow_seconds"):
        time.sleep(float(f["slow_seconds"]))
    if f.get("bad_gateway"):
        return "502 Bad Gateway", 502


def authorize(scope):
    """401 for a missing or malformed key, 403 for a key without the scope."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return error(401, "UNAUTHORIZED", "missing Authorization: Bearer <API key>")
    key = header[len("Bearer "):].strip()
    if not (key.startswith("op_live_") or key.startswith("op_test_")):
        log(f"WARN auth: rejected API key {key}: invalid format (401)")
        return error(401, "UNAUTHORIZED", "invalid API key format: keys start with op_live_ or op_test_")
    scopes = config["keys"].get(key)
    if scopes is None:
        return error(401, "UNAUTHORIZED", "unknown, expired or revoked API key")
    if scope not in scopes or scope in faults().get("revoked_scopes", []):
        return error(403, "FORBIDDEN", f"API key lacks the `{scope}` scope")
    return None


def table(name):
    return config["dynamodb"].Table(name)


def load(dispatch_id):
    return table("outpost-dispatches").get_item(Key={"id": dispatch_id}).get("Item")


def advance(item):
    """Moves a dispatch along pending → running → a terminal status, as time passes."""
    if item["status"] in TERMINAL:
        return item
    age = time.time() - float(item["created_at"])
    status = item["status"]
    if faults().get("pool_exhausted") and status == "pending":
        return item
    if age >= PENDING_SECONDS:
        status = "running"
    long_task = "sleep" in item["task"]
    if long_task and age >= float(item["timeout_seconds"]):
        status = "timeout"
    elif not long_task and age >= RUNNING_SECONDS:
        status = "success"
        prefix = f"dispatches/{item['id']}/"
        s3 = config["s3"]
        s3.put_object(Bucket=config["bucket"], Key=prefix + "output.log", Body=f"[{item['agent']}] {item['task']}\ndone\n".encode())
        s3.put_object(Bucket=config["bucket"], Key=prefix + "hello.py", Body=b'print("Hello World")\n')
    if status != item["status"] and status in TERMINAL and "metrics" in config:
        config["metrics"].count("DispatchesSucceeded" if status == "success" else "DispatchesFailed")
    if status != item["status"]:
        item["status"] = status
        item["updated_at"] = str(time.time())
        table("outpost-dispatches").put_item(Item=item)
    return item


def view(item):
    return {
        "dispatchId": item["id"],
        "agent": item["agent"],
        "task": item["task"],
        "repo": item.get("repo", ""),
        "status": item["status"],
        "timeoutSeconds": int(item["timeout_seconds"]),
    }


@app.get("/health")
def health():
    if faults().get("unhealthy"):
        return jsonify({"status": "unhealthy", "reason": "dispatcher not responding"}), 503
    return jsonify({"status": "healthy", "version": "2.0.0-rehearsal"})


@app.get("/health/live")
def live():
    return jsonify({"status": "ok"})


@app.get("/health/ready")
def ready():
    if faults().get("unhealthy"):
        return jsonify({"status": "not_ready"}), 503
    return jsonify({"status": "ready"})


@app.get("/health/fleet")
def fleet():
    f = faults()
    agents = [
        {"agent": a, "available": a != f.get("unavailable_agent")}
        for a in AGENTS
        if a != f.get("missing_agent")
    ]
    warm = 0 if f.get("pool_exhausted") else 3
    return jsonify({"data": {"agents": agents, "pool": {"warmTasks": warm, "maxTasks": 10}}})


@app.post("/dispatch")
def create_dispatch():
    denied = authorize(SCOPES["dispatch"])
    if denied:
        return denied
    body = request.get_json(silent=True) or {}
    agent, task = body.get("agent"), body.get("task")
    if agent not in AGENTS or not task:
        return error(400, "BAD_REQUEST", f"`agent` (one of {', '.join(AGENTS)}) and `task` are required")
    if faults().get("unavailable_agent") == agent:
        return error(503, "AGENT_UNAVAILABLE", f"agent {agent} is unavailable")
    item = {
        "id": f"dsp_{uuid.uuid4().hex[:16]}",
        "agent": agent,
        "task": task,
        "repo": body.get("repo", ""),
        "timeout_seconds": str(int(body.get("timeoutSeconds", 300))),
        "status": "pending",
        "created_at": str(time.time()),
    }
    table("outpost-dispatches").put_item(Item=item)
    if "metrics" in config:
        # A dispatch claims a warm task from the pool table, or waits for a cold one.
        pool = "PoolMisses" if faults().get("pool_exhausted") else "PoolHits"
        for name in (pool, "Read:outpost-pool", "Write:outpost-pool", "Write:outpost-dispatches"):
            config["metrics"].count(name)
    return jsonify({"data": view(item)}), 201


@app.get("/dispatch/<dispatch_id>")
def dispatch_status(dispatch_id):
    denied = authorize(SCOPES["status"])
    if denied:
        return denied
    item = load(dispatch_id)
    if not item:
        return error(404, "NOT_FOUND", f"no dispatch {dispatch_id}")
    return jsonify({"data": view(advance(item))})


@app.delete("/dispatch/<dispatch_id>")
def cancel_dispatch(dispatch_id):
    denied = authorize(SCOPES["dispatch"])
    if denied:
        return denied
    item = load(dispatch_id)
    if not item:
        return error(404, "NOT_FOUND", f"no dispatch {dispatch_id}")
    item = advance(item)
    if item["status"] not in TERMINAL:
        item["status"] = "cancelled"
        table("outpost-dispatches").put_item(Item=item)
    return jsonify({"data": view(item)})


@app.get("/artifacts/<dispatch_id>")
def artifacts(dispatch_id):
    denied = authorize(SCOPES["artifacts"])
    if denied:
        return denied
    item = load(dispatch_id)
    if not item:
        return error(404, "NOT_FOUND", f"no dispatch {dispatch_id}")
    item = advance(item)
    prefix = f"dispatches/{dispatch_id}/"
    listed = config["s3"].list_objects_v2(Bucket=config["bucket"], Prefix=prefix).get("Contents", [])
    files = [{"key": o["Key"], "name": o["Key"][len(prefix):], "size": o["Size"]} for o in listed]
    return jsonify({"data": {"dispatchId": dispatch_id, "status": item["status"], "artifacts": files}})


@app.get("/workspaces")
def list_workspaces():
    denied = authorize(SCOPES["workspaces"])
    if denied:
        return denied
    items = table("outpost-workspaces").scan().get("Items", [])
    return jsonify({"data": {"workspaces": [{"workspaceId": i["id"], "repo": i.get("repo", "")} for i in items]}})


@app.delete("/workspaces/<workspace_id>")
def delete_workspace(workspace_id):
    denied = authorize(SCOPES["workspaces"])
    if denied:
        return denied
    if "Item" not in table("outpost-workspaces").get_item(Key={"id": workspace_id}):
        return error(404, "NOT_FOUND", f"no workspace {workspace_id}")
    table("outpost-workspaces").delete_item(Key={"id": workspace_id})
    return jsonify({"data": {"workspaceId": workspace_id, "deleted": True}})


def parse_keys(text):
    keys = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        key, _, scopes = entry.partition("=")
        keys[key] = set(filter(None, scopes.split(","))) if scopes else set(SCOPES.values())
    return keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True, help="0: a free port, written to --port-file")
    parser.add_argument("--port-file", help="where to write the port once bound")
    parser.add_argument("--aws-endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--keys", default=os.environ.get("OUTPOST_API_KEYS", ""))
    parser.add_argument("--faults")
    parser.add_argument("--metrics", action="store_true", help="publish CloudWatch metrics (rehearsal/metrics.py)")
    args = parser.parse_args()
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    # Named as a call from inside the region: the benchmark's latency mode answers it at once,
    # as the real control plane's calls to its own tables are (tests/fixtures/moto_outpost.py).
    in_region = Config(user_agent_extra="outpost-in-region")
    config.update(
        faults=args.faults,
        bucket=args.bucket,
        keys=parse_keys(args.keys),
        dynamodb=session.resource("dynamodb", endpoint_url=args.aws_endpoint, config=in_region),
        s3=session.client("s3", endpoint_url=args.aws_endpoint, config=in_region),
        logs=session.client("logs", endpoint_url=args.aws_endpoint, config=in_region),
    )
    log_start()
    if args.metrics:
        # The metrics `monitor` reads (rehearsal/metrics.py), published to the emulator.
        config["metrics"] = Metrics(session, args.aws_endpoint, faults)
        config["metrics"].exclude(config["dynamodb"].meta.client)
        config["metrics"].exclude(config["s3"])
        app.wsgi_app = config["metrics"].middleware(app.wsgi_app)
        config["metrics"].start()
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_port))
        os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
