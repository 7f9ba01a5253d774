#!/usr/bin/env bash
# A relying party no one here wrote (Python's Authlib, tests/oidc_client.py)
# against the real debug binary as OpenID Provider: the code flow with
# PKCE through roster's own pages, ID-token validation, userinfo, refresh,
# introspection, revocation.
#
# Usage: tests/oidc_client.sh
# Needs python3 with tests/oidc-requirements.txt (.ci/run installs them in
# target/oidc-venv and puts it first on PATH) and target/debug/roster
# (built by `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${ROSTER_OIDC_PORT:-18943}"
BASE="http://127.0.0.1:$PORT"
DATA="$(mktemp -d)"
LOG=target/oidc-client-server.log

cleanup() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

ROSTER_ADMIN_EMAIL=oidc-admin@example.test \
ROSTER_ADMIN_PASSWORD=oidc-admin-password-1 \
RUST_LOG="${RUST_LOG:-warn}" \
  target/debug/roster serve --listen "127.0.0.1:$PORT" --data "$DATA/data" --log-format json \
  >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf "$BASE/readyz" >/dev/null && break
  sleep 0.1
done

python3 tests/oidc_client.py "$BASE" oidc-admin@example.test oidc-admin-password-1
