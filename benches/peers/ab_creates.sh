#!/usr/bin/env bash
# Two roster binaries side by side on creates: the same 20 000 users, a
# fresh data dir per run, rate limits off, `wrk -t1 -c1` then `-t2 -c64`
# (durable creates of unique emails) and `/livez`, the binaries alternating
# so that the machine's drift weighs on both.
#
#   benches/peers/ab_creates.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECS]
#
# Needs `wrk` (Debian: apt-get install wrk) and python3.
set -euo pipefail
A="$1"; B="$2"; ROUNDS="${3:-3}"; SECS="${4:-5}"
WORK="$(mktemp -d)"; PORT=18931; BASE="http://127.0.0.1:$PORT"
trap 'pkill -f "data $WORK/data serve" || true; rm -rf "$WORK"' EXIT
python3 - "$WORK/users.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write(json.dumps({"email": f"user{i}@example.com",
                            "name": f"First{i % 50} Last{i % 77}",
                            "attributes": {"team": f"t{i % 9}"}}) + "\n")
PY
cat > "$WORK/create.lua" <<'LUA'
local n = 0
local threads = 0
-- setup runs in wrk's main state; `tag` becomes a global of each thread's,
-- so that two threads never send the same email (a 409, not a create).
setup = function(thread) threads = threads + 1; thread:set("tag", threads) end
request = function()
  n = n + 1
  local body = string.format('{"email":"c%d-%d-%d@example.com"}', os.time(), tag or 0, n)
  return wrk.format("POST", "/api/v1/users", {["Authorization"] = os.getenv("AUTH"),
    ["Content-Type"] = "application/json"}, body)
end
LUA
start() {
  pkill -f "data $WORK/data serve" || true; sleep 0.5
  rm -rf "$WORK/data"
  "$1" --data "$WORK/data" import "$WORK/users.ndjson" >/dev/null 2>&1
  echo correct-horse-battery | "$1" --data "$WORK/data" admin create \
    --email admin@example.com --password-stdin >/dev/null 2>&1
  ROSTER_RATE_LIMIT=off ROSTER_LOGIN_RATE_LIMIT=off \
    "$1" --data "$WORK/data" serve --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
  AUTH="Bearer $(curl -s -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"login":"admin@example.com","password":"correct-horse-battery"}' |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')"
  export AUTH
}
figures() { grep -E "Requests/sec|  50%|  99%|Non-2xx" | awk '{print $1, $2}' | tr '\n' ' '; }
for round in $(seq "$ROUNDS"); do
  for bin in "$A" "$B"; do
    start "$bin"
    one=$(wrk -t1 -c1 -d"${SECS}s" --latency -s "$WORK/create.lua" "$BASE" | figures)
    many=$(wrk -t2 -c64 -d"${SECS}s" --latency -s "$WORK/create.lua" "$BASE" | figures)
    live=$(wrk -t2 -c64 -d3s "$BASE/livez" | grep Requests/sec | awk '{print $2}')
    echo "$(date -u +%H:%M:%S) $bin | 1 client: $one| 64 clients: $many| /livez $live"
  done
done
