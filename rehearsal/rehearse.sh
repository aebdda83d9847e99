#!/usr/bin/env bash
# Rehearse the whole migration locally (see rehearse.py): build, then run against the
# realistic AWS emulator (`--plain` for the plain one; `--fault NAME` to break a part).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python3 -c 'import moto.server, mcp.server.fastmcp' 2>/dev/null || python3 -m pip install --quiet 'moto[server]' 'mcp>=1.20,<2'
# The tests' build: the same target directory as `cargo test` (cargo's own choice: `target/`
# or $CARGO_TARGET_DIR) and the tests' features (`failpoints`, inert unless FAILPOINTS is set),
# so after `cargo test --features failpoints` this compiles nothing and the rehearsal runs the
# binary the tests ran (.ci/run checks it). The binary's path is the build's own answer.
binary="$(cargo build --quiet --features failpoints --manifest-path "$root/Cargo.toml" \
  --message-format=json-render-diagnostics | python3 -c '
import json, sys
bins = [m["executable"] for m in map(json.loads, sys.stdin)
        if m.get("reason") == "compiler-artifact" and m.get("executable")]
print(bins[-1]) if bins else sys.exit(1)')"
exec python3 "$root/rehearsal/rehearse.py" --binary "$binary" "$@"
