"""The yardstick of bench/preflight.py's latency mode: pre-flight's AWS calls as a plain boto3
script makes them, one after another: the account guard (sts GetCallerIdentity), then each
`aws` step of the plan in its order, with the captures later steps need.

Usage: python3 bench/preflight_boto3.py PLAN_JSON RUNBOOK_YAML
PLAN_JSON is `outpost-migrate plan preflight --output json`; the capture queries are read from
the unit files RUNBOOK_YAML points at (the plan names captures, not their queries). The AWS
endpoint, profile and credentials come from the environment, as for the binary.
"""

import json
import os
import re
import sys

import boto3
import jmespath
import yaml
from botocore import xform_name

ACCOUNT = "311493921645"
TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def capture_queries(runbook_dir, unit_file):
    """Step id (before any for_each suffix) -> {capture: JMESPath query}."""
    with open(os.path.join(runbook_dir, unit_file)) as f:
        unit = yaml.safe_load(f)
    out = {}
    for group in unit.get("groups", [{"steps": unit.get("steps", [])}]):
        for step in group["steps"]:
            if step.get("capture"):
                out[step["id"]] = step["capture"]
    return out


def main():
    plan_file, runbook = sys.argv[1], sys.argv[2]
    with open(plan_file) as f:
        plan = json.load(f)
    session = boto3.session.Session(profile_name="soc")
    clients = {}

    def client(service):
        if service not in clients:
            clients[service] = session.client(service)
        return clients[service]

    identity = client("sts").get_caller_identity()
    if identity["Account"] != ACCOUNT:
        sys.exit(f"wrong account {identity['Account']}")
    captures = {}
    calls = 1
    for unit in plan["units"]:
        queries = capture_queries(os.path.dirname(runbook), unit["file"])
        for step in unit["steps"]:
            if step["kind"] != "aws":
                continue
            _, service, operation, params = step["action"].split(" ", 3)
            params = json.loads(TEMPLATE.sub(lambda m: captures[m.group(1)], params))
            result = getattr(client(service), xform_name(operation))(**params)
            calls += 1
            for name, query in queries.get(step["id"], {}).items():
                captures[name] = jmespath.search(query, result)
    print(f"{calls} calls")


if __name__ == "__main__":
    main()
