//! Load benchmark: starts the real `roster` binary (release build under
//! `cargo bench`) on a temporary data dir and a loopback port, drives it over
//! HTTP with a fixed number of concurrent clients, and prints one table:
//! throughput, p50 and p99 per scenario, and the ratio to `/livez`.
//!
//!     cargo bench --bench load
//!     ROSTER_BENCH_SECS=10 ROSTER_BENCH_USERS=1000000 cargo bench --bench load
//!     ROSTER_BENCH_BIN=/path/to/other/roster cargo bench --bench load   # another build
//!     ROSTER_BENCH_WORDS=10 ROSTER_BENCH_USERS=1000000 cargo bench --bench load   # dense names
//!     ROSTER_ENCRYPTION_KEY=$(roster keys generate-encryption-key) cargo bench --bench load
//!
//! The server and the import inherit the environment, so the last form
//! measures an encrypted store and index (compare it with a plain run).
//!
//! The users (100 000 by default) are generated as NDJSON and loaded with
//! `roster import` before the server starts, which also measures the import
//! rate (including indexing) and the start-up time to a ready `/readyz` on an
//! intact index. At the end the server's peak RSS (VmHWM) is read from /proc.
//! `ROSTER_BENCH_WORDS` (10 to 20, default all) draws the first and the last
//! names from that many words: at 10, "grace", "hopper" and "lovelace" are
//! each held by 10 % of the users and the searches run on dense words.
//!
//! Request logging is turned down (RUST_LOG=warn) so that the numbers measure
//! the server, not the terminal.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[allow(dead_code)]
#[path = "../tests/support/passkey.rs"]
mod passkey;
use passkey::Authenticator;

const ADMIN: &str = "bench-admin@example.com";
const ADMIN_PW: &str = "bench-admin-password";
const USER_PW: &str = "bench-user-password";

/// GraphQL operations asking for what their REST equivalents answer: every
/// field of a user (and a hit's score and highlights; the cursors stand for
/// `next_cursor`).
const GQL_USERS: &str = "{ users(first: 20) { edges { cursor node { id email username name roles \
    status emailVerified mfaEnabled attributes createdAt updatedAt version } } \
    pageInfo { hasNextPage endCursor } } }";
const GQL_SEARCH: &str = "{ searchUsers(q: \"grace hopper\", first: 20) { total tookMs \
    edges { score highlights { field text } node { id email username name roles status \
    emailVerified mfaEnabled attributes createdAt updatedAt version } } } }";

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FIRST: [&str; 20] = [
    "Ada",
    "Grace",
    "Alan",
    "Barbara",
    "Donald",
    "Edsger",
    "Frances",
    "John",
    "Katherine",
    "Linus",
    "Radia",
    "Ken",
    "Dennis",
    "Bjarne",
    "Guido",
    "Anita",
    "Margaret",
    "Hedy",
    "Claude",
    "Niklaus",
];
const LAST: [&str; 25] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Liskov",
    "Knuth",
    "Dijkstra",
    "Allen",
    "Johnson",
    "Johansson",
    "Torvalds",
    "Perlman",
    "Thompson",
    "Ritchie",
    "Stroustrup",
    "Rossum",
    "Borg",
    "Hamilton",
    "Lamarr",
    "Shannon",
    "Wirth",
    "Hoare",
    "Lamport",
    "Backus",
    "Kay",
    "Engelbart",
];

/// Writes `n` users (and 8 with passwords, for logins) as NDJSON and loads
/// them with `roster import`. Returns their ids and the import rate.
fn import_users(data: &std::path::Path, n: usize, words: usize) -> (Vec<String>, f64) {
    use std::io::Write;
    let file = data.with_extension("ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("seed file"));
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        let (f, l) = match words {
            0 => (FIRST[i % FIRST.len()], LAST[(i / FIRST.len()) % LAST.len()]),
            w => (FIRST[i % w], LAST[(i / w) % w]),
        };
        let team = ["engines", "compilers", "kernels", "databases"][i % 4];
        let rec = json!({
            "id": id,
            "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
            "username": format!("{}{i}", f.to_lowercase()),
            "name": format!("{f} {l}"),
            "status": if i % 10 == 0 { "disabled" } else { "active" },
            "attributes": {"team": team},
        });
        writeln!(out, "{rec}").expect("write seed");
        ids.push(id);
    }
    for i in 0..8 {
        let rec = json!({"email": format!("login{i}@example.com"), "password": USER_PW});
        writeln!(out, "{rec}").expect("write seed");
    }
    drop(out);
    let started = Instant::now();
    let status = Command::new(roster_bin())
        .arg("--data")
        .arg(data)
        .arg("import")
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("roster import runs");
    assert!(status.success(), "import failed");
    let rate = (n + 8) as f64 / started.elapsed().as_secs_f64();
    // The users of the two-step login scenario, after the timed import (their
    // password hashes would dominate it).
    let mfa_file = data.with_extension("mfa.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&mfa_file).expect("seed file"));
    for i in 0..MFA_USERS {
        let rec = json!({"email": format!("mfa{i}@example.com"), "password": USER_PW});
        writeln!(out, "{rec}").expect("write seed");
    }
    drop(out);
    let status = Command::new(roster_bin())
        .arg("--data")
        .arg(data)
        .arg("import")
        .arg(&mfa_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("roster import runs");
    assert!(status.success(), "import failed");
    let _ = std::fs::remove_file(&file);
    (ids, rate)
}

/// The binary under test: this build's, or another one named by
/// `ROSTER_BENCH_BIN` (to compare two builds with the same load).
fn roster_bin() -> std::path::PathBuf {
    std::env::var_os("ROSTER_BENCH_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_roster").into())
}

/// Starts the server on `data`; returns it and the time until `/readyz`
/// reported the store and the search index ready.
fn start_server(data: &std::path::Path) -> (Server, Duration) {
    let started = Instant::now();
    let mut child = Command::new(roster_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "warn,roster::app=info")
        .env("ROSTER_ADMIN_EMAIL", ADMIN)
        .env("ROSTER_ADMIN_PASSWORD", ADMIN_PW)
        // Limits would throttle a load generator on one address.
        .env("ROSTER_RATE_LIMIT", "off")
        .env("ROSTER_LOGIN_RATE_LIMIT", "off")
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("roster logs its address")
            .expect("utf-8 log");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(a) = v["address"].as_str() {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let base = format!("http://{addr}");
    loop {
        if readyz_says_ready(&addr) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "never ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    (Server { child, base }, started.elapsed())
}

/// One plain `GET /readyz` over a fresh connection: store and index ready?
fn readyz_says_ready(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let req = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    conn.write_all(req.as_bytes()).is_ok()
        && conn.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
        && answer.contains("\"state\":\"ready\"")
}

/// Peak resident memory of a process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One request of a scenario, given the client's index and a running counter.
type MakeRequest = Arc<dyn Fn(&Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync>;

/// One unit of work of several requests (a two-step sign-in): true if it
/// succeeded. Timed from its first request to its last answer.
type Flow = Arc<
    dyn Fn(Client, usize, u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
        + Send
        + Sync,
>;

/// Users with a second factor for the two-step login scenario: each signs
/// in once in it (a TOTP code is good once per user and 30 s step), so the
/// scenario runs at most `MFA_SECS`.
const MFA_USERS: usize = 800;
const MFA_SECS: f64 = 5.0;

struct Outcome {
    name: String,
    concurrency: usize,
    ok: u64,
    errors: u64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    /// The server's peak RSS (VmHWM) once this scenario ended, in MiB.
    peak_rss_mib: f64,
}

fn push_rss(results: &mut Vec<Outcome>, pid: u32, mut o: Outcome) {
    o.peak_rss_mib = peak_rss_mib(pid);
    results.push(o);
}

/// The server's resident memory now: (total, anonymous) in MiB, from
/// /proc/PID/smaps_rollup; the rest is file pages it maps (the index).
fn rss_now_mib(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("Rss:"), field("Anonymous:"))
}

async fn run(
    name: &str,
    concurrency: usize,
    secs: f64,
    expect: StatusCode,
    make: MakeRequest,
) -> Outcome {
    let flow: Flow = Arc::new(move |client, worker, n| {
        let req = make(&client, worker, n);
        Box::pin(async move {
            match req.send().await {
                Ok(r) => {
                    let s = r.status();
                    let _ = r.bytes().await;
                    s == expect
                }
                Err(_) => false,
            }
        })
    });
    run_flow(name, concurrency, secs, flow).await
}

async fn run_flow(name: &str, concurrency: usize, secs: f64, make: Flow) -> Outcome {
    let client = Client::builder()
        .pool_max_idle_per_host(concurrency)
        .default_headers(auth_header())
        .build()
        .expect("client");
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (client, make, counter, errors) = (
                client.clone(),
                make.clone(),
                counter.clone(),
                errors.clone(),
            );
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(16_384);
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if make(client.clone(), worker, n).await {
                        lat.push(t.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Outcome {
        name: name.to_owned(),
        concurrency,
        ok: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        peak_rss_mib: 0.0,
    }
}

static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn auth_header() -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    if let Some(t) = TOKEN.get() {
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}")
                .parse()
                .expect("a token is a valid header"),
        );
    }
    h
}

fn env_num(key: &str, default: f64) -> f64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // reqwest has rustls without a provider (no aws-lc): use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `cargo bench` passes `--bench`; a filter argument is not supported here.
    let secs = env_num("ROSTER_BENCH_SECS", 5.0);
    let seed_users = env_num("ROSTER_BENCH_USERS", 100_000.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let words = match env_num("ROSTER_BENCH_WORDS", 0.0) as usize {
        0 => 0,
        w => w.clamp(10, FIRST.len()),
    };
    let (ids, import_rate) = import_users(&data, seed_users, words);
    // The first start creates the admin (one password hash); the start-up
    // time is measured on the second, as a restart after a clean shutdown.
    let (mut first, _) = start_server(&data);
    let status = Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    // Its shutdown finishes (the store closes cleanly) before the restart.
    let exited = first.child.wait().expect("the first server exits");
    assert!(exited.success(), "the first server's shutdown: {exited}");
    drop(first);
    let (server, startup) = start_server(&data);
    let pid = server.child.id();
    let rss_at_ready = peak_rss_mib(pid);
    // At rest: a few seconds after ready, nothing asked yet.
    std::thread::sleep(Duration::from_secs(3));
    let (rest_rss, rest_anon) = rss_now_mib(pid);
    let base = Arc::new(server.base.clone());

    rt.block_on(async {
        let anon = Client::new();
        let login: Value = anon
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"login": ADMIN, "password": ADMIN_PW}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("token");
        TOKEN.set(login["access_token"].as_str().expect("access token").to_owned()).expect("set once");
        let client = Client::builder().default_headers(auth_header()).build().expect("client");
        // Cursors of the first 200 pages of 50, to fetch pages at random.
        let mut cursors = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..200 {
            let url = match &next {
                Some(c) => format!("{base}/api/v1/users?limit=50&cursor={c}"),
                None => format!("{base}/api/v1/users?limit=50"),
            };
            let page: Value = client.get(url).send().await.expect("page").json().await.expect("page json");
            match page["next_cursor"].as_str() {
                Some(c) => {
                    cursors.push(c.to_owned());
                    next = Some(c.to_owned());
                }
                None => break,
            }
        }
        let cursors = Arc::new(cursors);
        let ids = Arc::new(ids);
        let run_id = std::process::id();

        let mut results = Vec::new();
        let b = base.clone();
        push_rss(&mut results, pid,
            run("GET /livez", 64, secs, StatusCode::OK, Arc::new(move |c, _, _| c.get(format!("{b}/livez")))).await,
        );
        let (b, i) = (base.clone(), ids.clone());
        push_rss(&mut results, pid,
            run(
                "GET /api/v1/users/{id}",
                64,
                secs,
                StatusCode::OK,
                Arc::new(move |c, _, n| c.get(format!("{b}/api/v1/users/{}", i[n as usize % i.len()]))),
            )
            .await,
        );
        let (b, cur) = (base.clone(), cursors.clone());
        push_rss(&mut results, pid,
            run(
                "GET /api/v1/users?limit=50&cursor=…",
                64,
                secs,
                StatusCode::OK,
                Arc::new(move |c, _, n| {
                    c.get(format!("{b}/api/v1/users?limit=50&cursor={}", cur[n as usize % cur.len()]))
                }),
            )
            .await,
        );
        for (shape, query) in [
            ("search: word", "q=lovelace"),
            ("search: two words", "q=grace%20hopper"),
            ("search: typo", "q=dijkstar"),
            ("search: prefix + filter + facets", "q=marg&status=active&facets=status,roles"),
            ("search: browse + facets", "facets=status,roles&sort=-created_at"),
        ] {
            let b = base.clone();
            push_rss(&mut results, pid,
                run(
                    shape,
                    64,
                    secs,
                    StatusCode::OK,
                    Arc::new(move |c, _, _| c.get(format!("{b}/api/v1/users/search?{query}"))),
                )
                .await,
            );
        }
        // GraphQL beside its REST equivalent: the same page, the same
        // fields (all of a user's), the same search.
        let gql = |b: Arc<String>, query: &'static str| -> MakeRequest {
            Arc::new(move |c, _, _| c.post(format!("{b}/api/v1/graphql")).json(&json!({"query": query})))
        };
        for query in [GQL_USERS, GQL_SEARCH] {
            // A GraphQL error is a 200 too: check the answers once.
            let answer: Value = client.post(format!("{base}/api/v1/graphql")).json(&json!({"query": query}))
                .send().await.expect("graphql").json().await.expect("graphql json");
            assert!(answer.get("errors").is_none(), "{query}: {answer}");
        }
        // Each pair runs in the order REST, GraphQL, GraphQL, REST, so that
        // the machine's drift (±30 % within minutes here) weighs on both
        // sides alike; the ratio printed at the end is of the sums.
        let b = base.clone();
        let rest_users: MakeRequest = Arc::new(move |c, _, _| c.get(format!("{b}/api/v1/users?limit=20")));
        let b = base.clone();
        let rest_search: MakeRequest =
            Arc::new(move |c, _, _| c.get(format!("{b}/api/v1/users/search?q=grace%20hopper&limit=20")));
        for (rest_name, rest, gql_name, graphql) in [
            ("REST: GET /api/v1/users?limit=20", rest_users, "GraphQL: users(first: 20)", gql(base.clone(), GQL_USERS)),
            ("REST: search two words, 20 hits", rest_search, "GraphQL: searchUsers two words, 20 hits", gql(base.clone(), GQL_SEARCH)),
        ] {
            for (round, name, make) in [
                (1, rest_name, &rest),
                (1, gql_name, &graphql),
                (2, gql_name, &graphql),
                (2, rest_name, &rest),
            ] {
                push_rss(&mut results, pid,
                    run(&format!("{name} [{round}]"), 64, secs, StatusCode::OK, make.clone()).await,
                );
            }
        }
        let mut freshness = Vec::new();
        for concurrency in [1, 64] {
            let b = base.clone();
            // Beside the single client, a probe times how long a created user
            // takes to show up in search (without `consistent=true`).
            let probe = (concurrency == 1).then(|| tokio::spawn(search_freshness(base.clone(), secs)));
            push_rss(&mut results, pid,
                run(
                    "POST /api/v1/users (durable)",
                    concurrency,
                    secs,
                    StatusCode::CREATED,
                    Arc::new(move |c, w, n| {
                        c.post(format!("{b}/api/v1/users"))
                            .json(&json!({"email": format!("load-{run_id}-{concurrency}-{w}-{n}@example.com")}))
                    }),
                )
                .await,
            );
            if let Some(p) = probe {
                freshness = p.await.expect("probe");
            }
        }
        let (b, i) = (base.clone(), ids.clone());
        push_rss(&mut results, pid,
            run(
                "PATCH /api/v1/users/{id}",
                64,
                secs,
                StatusCode::OK,
                Arc::new(move |c, _, n| {
                    c.request(Method::PATCH, format!("{b}/api/v1/users/{}", i[n as usize % i.len()]))
                        .json(&json!({"name": format!("Renamed {n}")}))
                }),
            )
            .await,
        );

        let login_req = |b: Arc<String>| -> MakeRequest {
            Arc::new(move |c, w, _| {
                c.post(format!("{b}/api/v1/auth/login"))
                    .json(&json!({"login": format!("login{}@example.com", w % 8), "password": USER_PW}))
            })
        };
        push_rss(&mut results, pid, run("POST /api/v1/auth/login", 1, secs, StatusCode::OK, login_req(base.clone())).await);
        push_rss(&mut results, pid, run("POST /api/v1/auth/login", 8, secs, StatusCode::OK, login_req(base.clone())).await);
        // Reads while logins saturate the CPU, beside the same reads alone.
        let (b, i) = (base.clone(), ids.clone());
        let read: MakeRequest =
            Arc::new(move |c, _, n| c.get(format!("{b}/api/v1/users/{}", i[n as usize % i.len()])));
        push_rss(&mut results, pid, run("  GET /api/v1/users/{id} alone", 8, secs, StatusCode::OK, read.clone()).await);
        let (logins, reads) = tokio::join!(
            run("  logins (during mixed)", 8, secs, StatusCode::OK, login_req(base.clone())),
            run("  GET /api/v1/users/{id} while logins run", 8, secs, StatusCode::OK, read)
        );
        push_rss(&mut results, pid, logins);
        push_rss(&mut results, pid, reads);

        // Logins with a second factor: the password step, then a TOTP code.
        let apps = Arc::new(enrol_totp(&base).await);
        let (b, a) = (base.clone(), apps.clone());
        let flow: Flow = Arc::new(move |c, _, n| {
            let (b, a) = (b.clone(), a.clone());
            Box::pin(async move { two_step_login(&c, &b, &a, n as usize % MFA_USERS).await })
        });
        push_rss(&mut results, pid, run_flow("POST login + mfa/verify (TOTP)", 8, secs.min(MFA_SECS), flow).await);

        // Sign-ins with a passkey alone: challenge, signature, check. No
        // password hash: bound by the two requests and their writes.
        let keys = Arc::new(enrol_passkeys(&base).await);
        let (b, k) = (base.clone(), keys.clone());
        let flow: Flow = Arc::new(move |c, w, _| {
            let (b, k) = (b.clone(), k.clone());
            Box::pin(async move { passkey_login(&c, &b, &k[w]).await })
        });
        push_rss(&mut results, pid, run_flow("POST webauthn/login start + finish", 8, secs, flow).await);

        let floor = results[0].rps;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!();
        let names = match words {
            0 => format!("{} × {} names", FIRST.len(), LAST.len()),
            w => format!("{w} × {w} names: dense words"),
        };
        println!("roster load benchmark: {secs} s per scenario, {seed_users} imported users ({names}), {cores} cores");
        println!("| scenario | clients | ok | errors | req/s | p50 ms | p99 ms | vs /livez | peak RSS MiB |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &results {
            println!(
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1}% | {:.0} |",
                r.name,
                r.concurrency,
                r.ok,
                r.errors,
                r.rps,
                r.p50_us as f64 / 1000.0,
                r.p99_us as f64 / 1000.0,
                100.0 * r.rps / floor,
                r.peak_rss_mib
            );
        }
        let find = |prefix: &str, c: usize| {
            results.iter().find(|r| r.name.starts_with(prefix) && r.concurrency == c)
        };
        if let (Some(c1), Some(c64)) = (find("POST /api/v1/users", 1), find("POST /api/v1/users", 64)) {
            println!("\ngroup commit: durable creates with 64 clients = {:.1}x the rate of 1 client", c64.rps / c1.rps);
        }
        for (rest, graphql) in [("REST: GET", "GraphQL: users"), ("REST: search", "GraphQL: searchUsers")] {
            // Both rounds of each side (see where they run).
            let rate = |prefix: &str| -> (f64, usize, String) {
                let runs: Vec<&Outcome> = results.iter().filter(|o| o.name.starts_with(prefix)).collect();
                let name = runs.first().and_then(|o| o.name.rsplit_once(" [")).map(|(n, _)| n.to_owned());
                (runs.iter().map(|o| o.rps).sum::<f64>() / runs.len().max(1) as f64, runs.len(), name.unwrap_or_default())
            };
            let ((r, rn, r_name), (g, gn, g_name)) = (rate(rest), rate(graphql));
            if rn > 0 && gn > 0 {
                println!("{g_name}: {g:.0}/s = {:.2} of {r_name} ({r:.0}/s), mean of {gn} and {rn} runs", g / r);
            }
        }
                if let (Some(l1), Some(l8)) = (find("POST /api/v1/auth/login", 1), find("POST /api/v1/auth/login", 8)) {
            // One login at concurrency 1 is one hash plus a round trip: its
            // median is an upper bound of the single-hash time.
            let limit = cores as f64 / (l1.p50_us as f64 / 1e6);
            println!(
                "logins: {:.1}/s at concurrency 8 = {:.0}% of cores / single-login time ({:.1}/s)",
                l8.rps,
                100.0 * l8.rps / limit,
                limit
            );
            if let (Some(alone), Some(during)) =
                (find("  GET /api/v1/users/{id} alone", 8), find("  GET /api/v1/users/{id} while", 8))
            {
                println!(
                    "reads while 8 clients log in: p99 {:.2} ms = {:.1}x their p99 alone ({:.2} ms)",
                    during.p99_us as f64 / 1000.0,
                    during.p99_us as f64 / alone.p99_us.max(1) as f64,
                    alone.p99_us as f64 / 1000.0
                );
            }
            if let Some(p8) = find("POST webauthn/login", 8) {
                println!(
                    "passkey sign-ins: {:.1}/s at concurrency 8 = {:.1}x password-only logins",
                    p8.rps,
                    p8.rps / l8.rps
                );
            }
            if let Some(t8) = find("POST login + mfa/verify", 8) {
                println!(
                    "logins with TOTP: {:.1}/s at concurrency 8 = {:.0}% of that limit, {:.0}% of password-only logins",
                    t8.rps,
                    100.0 * t8.rps / limit,
                    100.0 * t8.rps / l8.rps
                );
            }
        }
        if !freshness.is_empty() {
            freshness.sort_by(f64::total_cmp);
            println!(
                "search freshness while one client creates: {} probes, median {:.0} ms, max {:.0} ms \
                 (created → found by search)",
                freshness.len(),
                freshness[freshness.len() / 2],
                freshness[freshness.len() - 1]
            );
        }
        println!(
            "import: {seed_users} users at {import_rate:.0} users/s (incl. indexing); \
             start-up to a ready /readyz: {:.0} ms; peak RSS (VmHWM): {:.0} MiB \
             ({rss_at_ready:.0} MiB when ready); at rest 3 s after ready: {rest_rss:.0} MiB \
             resident ({rest_anon:.0} MiB anonymous)",
            startup.as_secs_f64() * 1000.0,
            peak_rss_mib(pid)
        );
        let (rss, anon) = rss_now_mib(pid);
        println!(
            "resident now: {rss:.0} MiB, of which {anon:.0} MiB anonymous (heap) and {:.0} MiB \
             mapped files (index)",
            rss - anon
        );
    });
    drop(server);
}

/// For `secs`, every 250 ms: creates a user with a word of its own, then
/// searches for that word every 5 ms until the user is found. The times
/// from the create's answer to the first search that finds it, in ms.
async fn search_freshness(base: Arc<String>, secs: f64) -> Vec<f64> {
    let client = Client::builder()
        .default_headers(auth_header())
        .build()
        .expect("client");
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut times = Vec::new();
    let mut k = 0u32;
    while Instant::now() < until {
        k += 1;
        // Letters only, unlike any other user's words.
        let tag: String = format!("{}{k:05}", std::process::id())
            .bytes()
            .map(|d| char::from(b'q' + (d - b'0')))
            .collect();
        let word = format!("fresh{tag}");
        let created = client
            .post(format!("{base}/api/v1/users"))
            .json(&json!({"email": format!("{word}@example.com"), "name": word}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), StatusCode::CREATED);
        let acked = Instant::now();
        loop {
            let found: Value = client
                .get(format!("{base}/api/v1/users/search?q={word}"))
                .send()
                .await
                .expect("search")
                .json()
                .await
                .expect("search json");
            if found["total"].as_u64().unwrap_or(0) > 0 {
                times.push(acked.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(30),
                "{word} never found"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    times
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Sets up TOTP for every `mfa{i}` user (eight at a time); their apps.
async fn enrol_totp(base: &str) -> Vec<totp_rs::TOTP> {
    let client = Client::new();
    let mut apps = Vec::with_capacity(MFA_USERS);
    for chunk in (0..MFA_USERS).collect::<Vec<_>>().chunks(8) {
        let enrolments = chunk.iter().map(|&i| {
            let client = client.clone();
            async move {
                let t: Value = client
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({"login": format!("mfa{i}@example.com"), "password": USER_PW}))
                    .send()
                    .await
                    .expect("login")
                    .json()
                    .await
                    .expect("tokens");
                let token = t["access_token"].as_str().expect("access token");
                let setup: Value = client
                    .post(format!("{base}/api/v1/auth/mfa/totp/setup"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("setup")
                    .json()
                    .await
                    .expect("setup json");
                let app = totp_rs::TOTP::from_url(setup["otpauth_url"].as_str().expect("url"))
                    .expect("an otpauth URL");
                let res = client
                    .post(format!("{base}/api/v1/auth/mfa/totp/confirm"))
                    .bearer_auth(token)
                    .json(&json!({"code": app.generate(unix_now())}))
                    .send()
                    .await
                    .expect("confirm");
                assert_eq!(res.status(), StatusCode::OK, "TOTP confirmed");
                app
            }
        });
        apps.extend(futures::future::join_all(enrolments).await);
    }
    apps
}

/// Registers a passkey for each of `login0` … `login7` (one per client of
/// the passkey scenario, so that each key's counter moves in order).
async fn enrol_passkeys(base: &str) -> Vec<Mutex<Authenticator>> {
    let client = Client::new();
    let mut keys = Vec::new();
    for i in 0..8u8 {
        let t: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"login": format!("login{i}@example.com"), "password": USER_PW}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("tokens");
        let token = t["access_token"].as_str().expect("access token");
        let options: Value = client
            .post(format!("{base}/api/v1/auth/webauthn/register/start"))
            .bearer_auth(token)
            .json(&json!({"password": USER_PW}))
            .send()
            .await
            .expect("register start")
            .json()
            .await
            .expect("options");
        let mut a = Authenticator::new(base, 100 + i);
        let res = client
            .post(format!("{base}/api/v1/auth/webauthn/register/finish"))
            .bearer_auth(token)
            .json(&json!({"credential": a.create(&options)}))
            .send()
            .await
            .expect("register finish");
        assert_eq!(res.status(), StatusCode::CREATED, "passkey registered");
        keys.push(Mutex::new(a));
    }
    keys
}

/// A sign-in with the passkey `key` alone.
async fn passkey_login(c: &Client, base: &str, key: &Mutex<Authenticator>) -> bool {
    let Ok(r) = c
        .post(format!("{base}/api/v1/auth/webauthn/login/start"))
        .json(&json!({}))
        .send()
        .await
    else {
        return false;
    };
    let Ok(options) = r.json::<Value>().await else {
        return false;
    };
    let credential = key.lock().await.get(&options);
    match c
        .post(format!("{base}/api/v1/auth/webauthn/login/finish"))
        .json(&json!({"credential": credential}))
        .send()
        .await
    {
        Ok(r) => {
            let ok = r.status() == StatusCode::OK;
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// A sign-in of `mfa{i}`: the password, then the code of the next step (the
/// code of enrolment's step is spent; one step ahead is within the skew).
async fn two_step_login(c: &Client, base: &str, apps: &[totp_rs::TOTP], i: usize) -> bool {
    let Ok(r) = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": format!("mfa{i}@example.com"), "password": USER_PW}))
        .send()
        .await
    else {
        return false;
    };
    let Ok(first) = r.json::<Value>().await else {
        return false;
    };
    let Some(token) = first["mfa_token"].as_str() else {
        return false;
    };
    let code = apps[i].generate(unix_now() + 30);
    match c
        .post(format!("{base}/api/v1/auth/mfa/verify"))
        .json(&json!({"mfa_token": token, "method": "totp", "code": code}))
        .send()
        .await
    {
        Ok(r) => {
            let ok = r.status() == StatusCode::OK;
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}
