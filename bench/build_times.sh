#!/usr/bin/env bash
# Build and test times as a newcomer meets them: a fresh clone of this repository with an empty
# target directory, then each of the README's commands and CI, timed one at a time.
# Usage: bench/build_times.sh [WORK_DIR]   (default /tmp/outpost-build-times; it is replaced)
# Prints one line a command: its wall time in seconds, its exit code and the command.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/outpost-build-times}
rm -rf "$work" && mkdir -p "$work"
git clone -q "$repo" "$work/repo"
export CARGO_TARGET_DIR=$work/target CARGO_TERM_COLOR=never
cd "$work/repo"
timed() {
  local log start rc
  log="$work/log.$(echo "$*" | tr -c 'A-Za-z0-9' _ | cut -c1-60)"
  start=$(date +%s.%N)
  "$@" >"$log" 2>&1
  rc=$?
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):7.1f} s  exit {sys.argv[3]}  {sys.argv[4]}')" \
    "$start" "$(date +%s.%N)" "$rc" "$*"
}
timed cargo test --locked --features failpoints --no-run
timed cargo test --locked --features failpoints
timed rehearsal/rehearse.sh
timed cargo clippy --locked --all-targets --features failpoints -- -D warnings
timed .ci/run
