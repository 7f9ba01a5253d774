//! Load benchmark: starts the real `roster` binary (release build under
//! `cargo bench`) on a temporary data dir and a loopback port, drives it over
//! HTTP with a fixed number of concurrent clients, and prints one table:
//! throughput, p50 and p99 per scenario, and the ratio to `/livez`.
//!
//!     cargo bench --bench load
//!     ROSTER_BENCH_SECS=10 ROSTER_BENCH_USERS=5000 cargo bench --bench load
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

const ADMIN: &str = "bench-admin@example.com";
const ADMIN_PW: &str = "bench-admin-password";
const USER_PW: &str = "bench-user-password";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data",
        ])
        .arg(dir.path())
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
    Server {
        child,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

/// One request of a scenario, given the client's index and a running counter.
type MakeRequest = Arc<dyn Fn(&Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync>;

struct Outcome {
    name: String,
    concurrency: usize,
    ok: u64,
    errors: u64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
}

async fn run(
    name: &str,
    concurrency: usize,
    secs: f64,
    expect: StatusCode,
    make: MakeRequest,
) -> Outcome {
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
                    let res = make(&client, worker, n).send().await;
                    let ok = match res {
                        Ok(r) => {
                            let s = r.status();
                            let _ = r.bytes().await;
                            s == expect
                        }
                        Err(_) => false,
                    };
                    if ok {
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
    let seed_users = env_num("ROSTER_BENCH_USERS", 2000.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = start_server();
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
        // Users with passwords, one per login client.
        for i in 0..8 {
            let res = client
                .post(format!("{base}/api/v1/users"))
                .json(&json!({"email": format!("login{i}@example.com"), "password": USER_PW}))
                .send()
                .await
                .expect("create login user");
            assert_eq!(res.status(), StatusCode::CREATED);
        }
        // Seed users to read and patch, 64 at a time.
        let mut ids = Vec::with_capacity(seed_users);
        for chunk in (0..seed_users).collect::<Vec<_>>().chunks(64) {
            let futs = chunk.iter().map(|i| {
                client
                    .post(format!("{base}/api/v1/users"))
                    .json(&json!({"email": format!("seed{i}@example.com"), "name": format!("Seed User {i}")}))
                    .send()
            });
            for res in futures::future::join_all(futs).await {
                let v: Value = res.expect("seed").json().await.expect("seed json");
                ids.push(v["id"].as_str().expect("id").to_owned());
            }
        }
        let ids = Arc::new(ids);
        let run_id = std::process::id();

        let mut results = Vec::new();
        let b = base.clone();
        results.push(
            run("GET /livez", 64, secs, StatusCode::OK, Arc::new(move |c, _, _| c.get(format!("{b}/livez")))).await,
        );
        let (b, i) = (base.clone(), ids.clone());
        results.push(
            run(
                "GET /api/v1/users/{id}",
                64,
                secs,
                StatusCode::OK,
                Arc::new(move |c, _, n| c.get(format!("{b}/api/v1/users/{}", i[n as usize % i.len()]))),
            )
            .await,
        );
        let b = base.clone();
        results.push(
            run(
                "GET /api/v1/users?limit=50",
                64,
                secs,
                StatusCode::OK,
                Arc::new(move |c, _, _| c.get(format!("{b}/api/v1/users?limit=50"))),
            )
            .await,
        );
        for concurrency in [1, 64] {
            let b = base.clone();
            results.push(
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
        }
        let (b, i) = (base.clone(), ids.clone());
        results.push(
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
        results.push(run("POST /api/v1/auth/login", 1, secs, StatusCode::OK, login_req(base.clone())).await);
        results.push(run("POST /api/v1/auth/login", 8, secs, StatusCode::OK, login_req(base.clone())).await);
        // Reads while logins saturate the CPU.
        let (b, i) = (base.clone(), ids.clone());
        let (logins, reads) = tokio::join!(
            run("  logins (during mixed)", 8, secs, StatusCode::OK, login_req(base.clone())),
            run(
                "  GET /api/v1/users/{id} while logins run",
                8,
                secs,
                StatusCode::OK,
                Arc::new(move |c, _, n| c.get(format!("{b}/api/v1/users/{}", i[n as usize % i.len()]))),
            )
        );
        results.push(logins);
        results.push(reads);

        let floor = results[0].rps;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!();
        println!("roster load benchmark: {secs} s per scenario, {seed_users} seeded users, {cores} cores");
        println!("| scenario | clients | ok | errors | req/s | p50 ms | p99 ms | vs /livez |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &results {
            println!(
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1}% |",
                r.name,
                r.concurrency,
                r.ok,
                r.errors,
                r.rps,
                r.p50_us as f64 / 1000.0,
                r.p99_us as f64 / 1000.0,
                100.0 * r.rps / floor
            );
        }
        let find = |prefix: &str, c: usize| {
            results.iter().find(|r| r.name.starts_with(prefix) && r.concurrency == c)
        };
        if let (Some(c1), Some(c64)) = (find("POST /api/v1/users", 1), find("POST /api/v1/users", 64)) {
            println!("\ngroup commit: durable creates with 64 clients = {:.1}x the rate of 1 client", c64.rps / c1.rps);
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
        }
    });
    drop(server);
}
