#!/usr/bin/env bash
# SCIM 2.0 compliance: scim2-tester (through the scim2-cli package, PyPI)
# against the real debug binary, authenticated with an API key of scope
# `scim`. It reads /ServiceProviderConfig, /ResourceTypes and /Schemas, then
# creates, reads, lists, searches (root /.search), replaces, patches (add,
# remove, replace of every advertised attribute) and deletes Users and
# Groups, checking every answer against the advertised schemas. Every check
# must succeed: the CLI exits non-zero on any other result, skipped ones
# included.
#
# Usage: tests/scim_compliance.sh
# Needs `scim` on PATH (.ci/run installs tests/scim-requirements.txt in
# target/scim-venv) and target/debug/roster (built by `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${ROSTER_SCIM_PORT:-18941}"
BASE="http://127.0.0.1:$PORT"
BIN=target/debug/roster
DATA="$(mktemp -d)"
OUT=target/scim-compliance
mkdir -p "$OUT"

cleanup() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

# The checker sends a few hundred requests in seconds: no rate limit.
ROSTER_ADMIN_EMAIL=scim-admin@example.test \
ROSTER_ADMIN_PASSWORD=scim-admin-password-1 \
ROSTER_RATE_LIMIT=off \
RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" serve --listen "127.0.0.1:$PORT" --data "$DATA/data" --log-format json \
  >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf "$BASE/readyz" >/dev/null && break
  sleep 0.1
done

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
TOKEN=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"login":"scim-admin@example.test","password":"scim-admin-password-1"}' | json_field access_token)
KEY=$(curl -sf "$BASE/api/v1/api-keys" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"name":"scim compliance","scopes":["scim"]}' | json_field secret)

# The key goes through the environment, not the command line.
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $KEY" scim --url "$BASE/scim/v2" test >"$OUT/results.txt" 2>&1
STATUS=$?
set -e
passed=$(grep -c '^SUCCESS' "$OUT/results.txt" || true)
others=$(grep -cE '^(ERROR|CRITICAL|SKIPPED|DEVIATION|COMPLIANT|ACCEPTABLE)' "$OUT/results.txt" || true)
echo "scim2-tester: $passed checks succeeded, $others did not (full report: $OUT/results.txt)"
if [ "$STATUS" -ne 0 ]; then
  grep -vE '^SUCCESS' "$OUT/results.txt" | grep -vE '^  (Success|GET|POST|PUT|PATCH|DELETE|Resource|Schemas|/)' | head -60
  exit "$STATUS"
fi
