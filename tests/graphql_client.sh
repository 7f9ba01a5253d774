#!/usr/bin/env bash
# A GraphQL client no one here wrote (Python's gql, tests/graphql_client.py)
# against the real debug binary: schema by introspection, one query, one
# mutation, one subscription over a WebSocket.
#
# Usage: tests/graphql_client.sh
# Needs python3 with tests/graphql-requirements.txt (.ci/run installs them
# in target/gql-venv and puts it first on PATH) and target/debug/roster
# (built by `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${ROSTER_GQL_PORT:-18942}"
BASE="http://127.0.0.1:$PORT"
DATA="$(mktemp -d)"
LOG=target/graphql-client-server.log

cleanup() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

ROSTER_ADMIN_EMAIL=gql-admin@example.test \
ROSTER_ADMIN_PASSWORD=gql-admin-password-1 \
RUST_LOG="${RUST_LOG:-warn}" \
  target/debug/roster serve --listen "127.0.0.1:$PORT" --data "$DATA/data" --log-format json \
  >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf "$BASE/readyz" >/dev/null && break
  sleep 0.1
done

TOKEN=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"login":"gql-admin@example.test","password":"gql-admin-password-1"}' |
  python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")
python3 tests/graphql_client.py "$BASE" "$TOKEN"
