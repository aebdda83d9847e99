#!/usr/bin/env bash
# Restarts the rehearsal's MCPify stand-in (what `systemctl restart mcpify` is in production):
# stops the running server, starts it again on the same port with the same config file, and
# waits until it answers. Reads MCPIFY_PIDFILE, MCPIFY_PORT, MCPIFY_CONFIG, MCPIFY_LOG and
# MCPIFY_ENV (the service's environment file, when set).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -f "$MCPIFY_PIDFILE" ]; then
  pid="$(cat "$MCPIFY_PIDFILE")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi
# A daemon of its own, as systemd makes it: a new session (setsid), so it is not in the
# process group of the step that restarts it, which outpost-migrate stops when the step ends.
# (A background job of this script is no group leader, so setsid does not fork: $! is its pid.)
setsid python3 "$here/mcpify.py" --config "$MCPIFY_CONFIG" ${MCPIFY_ENV:+--env-file "$MCPIFY_ENV"} \
  --port "$MCPIFY_PORT" </dev/null >>"${MCPIFY_LOG:-/dev/null}" 2>&1 &
started=$!
echo $started >"$MCPIFY_PIDFILE"
for _ in $(seq 200); do
  # A server that refused to start (its environment disagreeing with its config) is gone.
  if ! kill -0 "$started" 2>/dev/null; then
    echo "MCPify exited at start (log: ${MCPIFY_LOG:-none})" >&2
    exit 1
  fi
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$MCPIFY_PORT" 2>/dev/null; then
    exit 0
  fi
  sleep 0.05
done
echo "MCPify did not start on port $MCPIFY_PORT (log: ${MCPIFY_LOG:-none})" >&2
exit 1
