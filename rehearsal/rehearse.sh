#!/usr/bin/env bash
# Rehearse the whole migration locally (see rehearse.py): build, then run against the
# realistic AWS emulator (`--plain` for the plain one; `--fault NAME` to break a part).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/outpost-migrate/target}"
python3 -c 'import moto.server, mcp.server.fastmcp' 2>/dev/null || python3 -m pip install --quiet 'moto[server]' 'mcp>=1.20,<2'
# The tests' features (`failpoints`, inert unless FAILPOINTS is set): after `cargo test
# --features failpoints` this build compiles nothing and the rehearsal runs the binary the tests
# ran (.ci/run checks it).
cargo build --quiet --features failpoints --manifest-path "$root/Cargo.toml"
exec python3 "$root/rehearsal/rehearse.py" --binary "$CARGO_TARGET_DIR/debug/outpost-migrate" "$@"
