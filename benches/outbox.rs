//! Outbox benchmark: the `App` on a loopback port with a real SMTP server
//! on loopback (the tests' sink), N users, then N password-reset requests
//! from 32 concurrent clients. Prints the request rate (each a durable write
//! of token + mail + audit) and the delivery rate: from the first request to
//! the N-th message received by the SMTP server.
//!
//!     cargo bench --bench outbox
//!     ROSTER_BENCH_MAILS=5000 cargo bench --bench outbox

#[path = "../tests/support/smtp_sink.rs"]
#[allow(dead_code)]
mod smtp_sink;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use roster::{App, Config};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin@example.com";
const ADMIN_PW: &str = "bench-admin-password";
const CLIENTS: usize = 32;

/// Runs `n` jobs (numbered) over `CLIENTS` concurrent tasks.
async fn fan_out<F, Fut>(n: usize, job: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    job(i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("ROSTER_BENCH_MAILS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sink = smtp_sink::SmtpSink::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path());
    config.auth.bootstrap_admin = Some((ADMIN.into(), ADMIN_PW.into()));
    config.auth.login_rate_limit = None;
    config.rate_limit = None;
    config.mail.smtp_url = Some(sink.url());
    let app = App::build(config).await.expect("app");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
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

    let (c, b) = (client.clone(), base.clone());
    fan_out(n, move |i| {
        let (c, b, token) = (c.clone(), b.clone(), token.clone());
        async move {
            let res = c
                .post(format!("{b}/api/v1/users"))
                .bearer_auth(&token)
                .json(&json!({"email": format!("user{i}@example.com")}))
                .send()
                .await
                .expect("create");
            assert_eq!(res.status(), 201);
        }
    })
    .await;

    let start = Instant::now();
    let (c, b) = (client.clone(), base.clone());
    fan_out(n, move |i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            let res = c
                .post(format!("{b}/api/v1/auth/password-reset/request"))
                .json(&json!({"email": format!("user{i}@example.com")}))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 202);
        }
    })
    .await;
    let requested = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while sink.count() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} mails arrived",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = start.elapsed();
    // The answer must not tell whether an address has an account: one at a
    // time, alternating, the latency of requests for known and unknown
    // addresses (both do one durable, audited write).
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..200 {
        for (email, into) in [
            (format!("user{i}@example.com"), &mut known),
            (format!("nobody{i}@example.com"), &mut unknown),
        ] {
            let t = Instant::now();
            let res = client
                .post(format!("{base}/api/v1/auth/password-reset/request"))
                .json(&json!({"email": email}))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 202);
            into.push(t.elapsed());
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    let p90 = |v: &Vec<Duration>| v[v.len() * 9 / 10].as_secs_f64() * 1e3;
    println!("outbox: {n} password-reset requests from {CLIENTS} clients, SMTP on loopback");
    println!(
        "  requests answered (202, token + mail + audit durably written): {:>8.0} /s  ({:.2} s)",
        n as f64 / requested.as_secs_f64(),
        requested.as_secs_f64()
    );
    println!(
        "  mails received by the SMTP server:                              {:>8.0} /s  ({:.2} s from the first request)",
        n as f64 / delivered.as_secs_f64(),
        delivered.as_secs_f64()
    );
    let (mk, mu) = (median(&mut known), median(&mut unknown));
    println!(
        "  one at a time, known address:   median {mk:.2} ms, p90 {:.2} ms",
        p90(&known)
    );
    println!(
        "  one at a time, unknown address: median {mu:.2} ms, p90 {:.2} ms",
        p90(&unknown)
    );
}
