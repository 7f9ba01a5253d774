//! Change-stream benchmark: the release binary with N idle subscribers to
//! `GET /api/v1/events` (default 1 000). Prints the server's resident
//! memory before and with them (from /proc), and how long one write takes
//! to reach every subscriber.
//!
//!     cargo bench --bench events
//!     ROSTER_BENCH_SUBSCRIBERS=5000 cargo bench --bench events
//!
//! Linux only (reads /proc/<pid>/status). The binary is the one cargo
//! builds for this bench (`target/release/roster`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "bench-admin@example.com";
const ADMIN_PW: &str = "bench-admin-password";

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ROSTER_BENCH_SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data",
        ])
        .arg(dir.path())
        .env("ROSTER_ADMIN_EMAIL", ADMIN)
        .env("ROSTER_ADMIN_PASSWORD", ADMIN_PW)
        .env("ROSTER_RATE_LIMIT", "off")
        .env("ROSTER_MAX_CONCURRENT_REQUESTS", "4096")
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster starts");
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stderr.take().expect("piped")).lines();
    let addr = loop {
        let line = lines.next().expect("a log line").expect("a log line");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(a) = v["address"].as_str() {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": ADMIN, "password": ADMIN_PW}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    // Let start-up settle (the index writer, the first allocations).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(child.0.id());

    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let res = client
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("stream");
        assert_eq!(res.status(), 200);
        streams.push(res);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with = rss_kib(child.0.id());

    // One write; every subscriber reads until its event arrives.
    let started = Instant::now();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut res| {
            tokio::spawn(async move {
                let mut seen = String::new();
                while !seen.contains("user.created") {
                    let chunk = res.chunk().await.expect("stream").expect("open");
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                }
                started.elapsed()
            })
        })
        .collect();
    let res = client
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"email": "fan-out@example.com"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201);
    let mut latest = Duration::ZERO;
    for r in readers {
        latest = latest.max(r.await.expect("reader"));
    }
    let extra = with.saturating_sub(before);
    println!("subscribers: {n}");
    println!("server RSS before: {:.1} MiB", before as f64 / 1024.0);
    println!("server RSS with them: {:.1} MiB", with as f64 / 1024.0);
    println!(
        "extra: {:.1} MiB ({:.1} KiB per subscriber)",
        extra as f64 / 1024.0,
        extra as f64 / n as f64
    );
    println!(
        "one write reached all {n} subscribers in {:.1} ms",
        latest.as_secs_f64() * 1000.0
    );
}

/// The server goes with the bench, even when it panics.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
