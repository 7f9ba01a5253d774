//! Groups benchmark: one group of N members (default 100 000) on the
//! release binary. Imports N users, then over HTTP from one client: adds
//! them all (requests of 1 000 user ids, each one transaction), lists
//! every member (pages of 500), searches users by the group, and deletes
//! the group (its N memberships in one transaction). Prints rates, per
//! request p50/p99, and the server's peak RSS.
//!
//!     cargo bench --bench groups
//!     ROSTER_BENCH_MEMBERS=1000000 cargo bench --bench groups
//!
//! Linux only (reads /proc/<pid>/status).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "bench-admin@example.com";
const ADMIN_PW: &str = "bench-admin-password";
const BATCH: usize = 1000;
const PAGE: usize = 500;

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// p50 and p99 of `times`, in milliseconds.
fn percentiles(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// Writes `n` users with known ids as NDJSON and imports them.
fn import(data: &std::path::Path, n: usize) -> Vec<String> {
    let file = data.with_extension("ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("seed file"));
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        let rec = json!({"id": id, "email": format!("member{i}@example.com"), "name": format!("Member {i}")});
        writeln!(out, "{rec}").expect("write seed");
        ids.push(id);
    }
    drop(out);
    let status = Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("--data")
        .arg(data)
        .arg("import")
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("roster import runs");
    assert!(status.success(), "import failed");
    let _ = std::fs::remove_file(&file);
    ids
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ROSTER_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let ids = import(&data, n);
    let child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data",
        ])
        .arg(&data)
        .env("RUST_LOG", "warn,roster::app=info")
        .env("ROSTER_ADMIN_EMAIL", ADMIN)
        .env("ROSTER_ADMIN_PASSWORD", ADMIN_PW)
        .env("ROSTER_RATE_LIMIT", "off")
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
    let client = reqwest::Client::new();
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
    let send = |method: reqwest::Method, path: String| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
    };

    let group: Value = send(reqwest::Method::POST, "/api/v1/groups".into())
        .json(&json!({"name": "Everyone", "roles": ["user"]}))
        .send()
        .await
        .expect("create group")
        .json()
        .await
        .expect("group json");
    let gid = group["id"].as_str().expect("group id").to_owned();

    // Add every user, 1 000 per request.
    let mut times = Vec::new();
    let started = Instant::now();
    for chunk in ids.chunks(BATCH) {
        let t = Instant::now();
        let res = send(
            reqwest::Method::POST,
            format!("/api/v1/groups/{gid}/members"),
        )
        .json(&json!({ "user_ids": chunk }))
        .send()
        .await
        .expect("add members");
        assert_eq!(res.status(), 200);
        let _ = res.bytes().await;
        times.push(t.elapsed());
    }
    let add_secs = started.elapsed().as_secs_f64();
    let (add_p50, add_p99) = percentiles(&mut times);

    // List every member, 500 per page.
    let mut times = Vec::new();
    let mut seen = 0usize;
    let mut cursor: Option<String> = None;
    let started = Instant::now();
    loop {
        let mut path = format!("/api/v1/groups/{gid}/members?limit={PAGE}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let t = Instant::now();
        let page: Value = send(reqwest::Method::GET, path)
            .send()
            .await
            .expect("members page")
            .json()
            .await
            .expect("page json");
        times.push(t.elapsed());
        seen += page["items"].as_array().expect("items").len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let list_secs = started.elapsed().as_secs_f64();
    assert_eq!(seen, n, "every member listed once");
    let (list_p50, list_p99) = percentiles(&mut times);

    // Users of the group, by search (the index has caught up first).
    let mut times = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let found: Value = send(
            reqwest::Method::GET,
            format!(
                "/api/v1/users/search?group=Everyone&facets=groups&consistent={}&q=member",
                i == 0
            ),
        )
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("search json");
        times.push(t.elapsed());
        if i == 0 {
            assert_eq!(found["facets"]["groups"]["Everyone"], n, "{found}");
        }
    }
    let (search_p50, search_p99) = percentiles(&mut times);

    let t = Instant::now();
    let res = send(reqwest::Method::DELETE, format!("/api/v1/groups/{gid}"))
        .send()
        .await
        .expect("delete group");
    assert_eq!(res.status(), 204);
    let delete_secs = t.elapsed().as_secs_f64();

    println!("groups benchmark: one group of {n} members, one client");
    println!(
        "add members:   {:>8.0} members/s ({:.1} s; {BATCH} per request: p50 {add_p50:.1} ms, p99 {add_p99:.1} ms)",
        n as f64 / add_secs,
        add_secs
    );
    println!(
        "list members:  {:>8.0} members/s ({:.2} s; {PAGE} per page: p50 {list_p50:.1} ms, p99 {list_p99:.1} ms)",
        n as f64 / list_secs,
        list_secs
    );
    println!(
        "search q=member&group=Everyone&facets=groups: p50 {search_p50:.1} ms, p99 {search_p99:.1} ms"
    );
    println!("delete the group ({n} memberships, one transaction): {delete_secs:.2} s");
    println!("server peak RSS: {:.0} MiB", peak_rss_mib(child.0.id()));
}
