//! Hostile input: bodies too big, too deep or not UTF-8, heads too long,
//! look-alike identities, and clients that are slow or many. Each answer is
//! a clear 4xx (or a closed connection where HTTP cannot answer), nothing is
//! stored, and the server keeps answering others.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Checked, TestApp, assert_problem, roster_bin, spawn_app, spawn_app_tuned};

/// Every user id, sorted: compared before and after to show nothing changed.
async fn user_ids(app: &TestApp) -> Vec<String> {
    let res = app.get("/api/v1/users?limit=100").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Sends raw bytes with a bearer token's worth of head and returns what the
/// server answered before closing (or within `wait`).
async fn raw_exchange(addr: &str, request: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

async fn still_serves(app: &TestApp) {
    let started = Instant::now();
    let res = app.get("/api/v1/auth/me").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "slow answer");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_announced_or_chunked() {
    let app = spawn_app_tuned(|c| c.body_limit = 64 * 1024).await;
    let before = user_ids(&app).await;
    let name = "a".repeat(200 * 1024);
    let body = json!({"name": name, "email": "big@example.com"});
    let res = app.send_json(Method::POST, "/api/v1/users", &body).await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE).await;

    // No Content-Length: the limit is found while reading.
    let chunk = format!("{:x}\r\n{}\r\n", 32 * 1024, "a".repeat(32 * 1024));
    let mut req = format!(
        "POST /api/v1/users HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        app.token
    )
    .into_bytes();
    req.extend_from_slice(b"1\r\n\"\r\n");
    for _ in 0..4 {
        req.extend_from_slice(chunk.as_bytes());
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&addr(&app), &req, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.200}");
    assert!(answer.contains("application/problem+json"), "{answer:.400}");

    assert_eq!(user_ids(&app).await, before);
    still_serves(&app).await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_quickly_without_overflowing_the_stack() {
    let app = spawn_app().await;
    let before = user_ids(&app).await;
    for (path, method, ct) in [
        ("/api/v1/users", Method::POST, "application/json"),
        ("/api/v1/auth/login", Method::POST, "application/json"),
    ] {
        for body in [
            "[".repeat(100_000),
            format!("{{\"name\": {}", "[".repeat(100_000)),
            format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)),
        ] {
            let started = Instant::now();
            let res = app
                .request(method.clone(), path)
                .header("content-type", ct)
                .body(body)
                .check()
                .await;
            assert!(
                matches!(res.status().as_u16(), 400 | 422),
                "{path}: {}",
                res.status()
            );
            let status = res.status();
            assert_problem(res, status).await;
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{path} was slow"
            );
        }
    }
    // A merge patch of an existing user, too.
    let user = app
        .create_user(json!({"name": "Deep", "email": "deep@example.com"}))
        .await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let res = app
        .request(Method::PATCH, &path)
        .header("content-type", "application/merge-patch+json")
        .body(format!("{{\"attributes\": {}", "{\"a\":".repeat(100_000)))
        .check()
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(now, user);
    assert_eq!(user_ids(&app).await.len(), before.len() + 1);
    still_serves(&app).await;
}

#[tokio::test]
async fn invalid_utf8_in_bodies_and_query_strings_is_400() {
    let app = spawn_app().await;
    let before = user_ids(&app).await;
    for body in [
        &b"{\"name\": \"Ad\xffa\", \"email\": \"ada@example.com\"}"[..],
        &b"{\"name\": \"Ada\", \"email\": \"ad\xc3@example.com\"}"[..],
        &b"{\"na\xe9me\": \"Ada\", \"email\": \"ada@example.com\"}"[..],
    ] {
        let res = app
            .request(Method::POST, "/api/v1/users")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .check()
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    for path in [
        "/api/v1/users?status=%FF",
        "/api/v1/users?sort=%C3",
        "/api/v1/users/search?q=ad%E9",
        "/api/v1/users?%FF=1",
    ] {
        let res = app.get(path).await;
        let body = assert_problem(res, StatusCode::BAD_REQUEST).await;
        assert!(
            body["detail"].as_str().unwrap().contains("UTF-8"),
            "{path}: {body}"
        );
    }
    // Raw (not percent-encoded) bytes above 0x7F in the request line: the
    // HTTP parser refuses them before any handler runs.
    let answer = raw_exchange(
        &addr(&app),
        b"GET /api/v1/users?q=\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:.200}"
    );
    assert_eq!(user_ids(&app).await, before);
    still_serves(&app).await;
}

#[tokio::test]
async fn a_very_long_header_or_url_is_refused_and_others_are_still_served() {
    let app = spawn_app().await;
    let big = "a".repeat(64 * 1024);
    let res = app
        .request(Method::GET, "/api/v1/auth/me")
        .header("x-padding", &big)
        .send()
        .await;
    match res {
        Ok(r) => assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => eprintln!("64 KiB header: connection closed ({e})"),
    }
    // reqwest will not build a URL this long, so it goes over a raw socket.
    let request = format!(
        "GET /api/v1/users/search?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let answer = raw_exchange(&addr(&app), request.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 414")
            || answer.starts_with("HTTP/1.1 431"),
        "100 KiB URL: {answer:.200}"
    );
    // Many headers, each small.
    let mut req = app.request(Method::GET, "/api/v1/auth/me");
    for i in 0..200 {
        req = req.header(format!("x-h{i}"), "v");
    }
    match req.send().await {
        Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
        Err(e) => eprintln!("200 headers: connection closed ({e})"),
    }
    still_serves(&app).await;
}

/// Emails are unique after NFC normalisation and lower-casing, so case and
/// composed/decomposed variants collide. Confusables from other scripts do
/// not: `аda@example.com` with a Cyrillic `а` (U+0430) is a different,
/// deliverable address (RFC 6531), so roster treats it as a different user
/// rather than guessing at a "skeleton" that would also merge real, distinct
/// people. Usernames are ASCII only, so look-alikes cannot arise there.
#[tokio::test]
async fn case_and_normalisation_variants_conflict_but_other_scripts_do_not() {
    let app = spawn_app().await;
    let ada = app
        .create_user(json!({"name": "Ada", "email": "Ada@Example.com", "username": "Ada"}))
        .await;
    let before = user_ids(&app).await;
    for (body, field) in [
        (json!({"name": "ada", "email": "ada@example.com"}), "email"),
        (json!({"name": "ada", "email": "ADA@EXAMPLE.COM"}), "email"),
        (
            json!({"name": "ada", "email": "other@example.com", "username": "ada"}),
            "username",
        ),
    ] {
        let res = app.send_json(Method::POST, "/api/v1/users", &body).await;
        let problem = assert_problem(res, StatusCode::CONFLICT).await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let nfc = app
        .create_user(json!({"name": "José", "email": "jos\u{e9}@example.com"}))
        .await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"name": "José", "email": "jose\u{301}@example.com"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT).await;

    let cyrillic = app
        .create_user(json!({"name": "Ada", "email": "\u{430}da@example.com"}))
        .await;
    assert_ne!(cyrillic["id"], ada["id"]);
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"name": "Ada", "email": "x@example.com", "username": "\u{430}da"}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let mut expected = before.clone();
    expected.push(nfc["id"].as_str().unwrap().to_owned());
    expected.push(cyrillic["id"].as_str().unwrap().to_owned());
    expected.sort();
    assert_eq!(user_ids(&app).await, expected);
}

/// True if the server closed the connection (EOF or reset) by `deadline`.
async fn closed_by(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_sending_headers_byte_by_byte_is_cut_off() {
    let app = spawn_app_tuned(|c| c.header_read_timeout = Duration::from_secs(2)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let head = b"GET /livez HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let started = Instant::now();
    let mut cut_off = None;
    for &b in head {
        if s.write_all(&[b]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = Some(started.elapsed());
                break;
            }
            _ => {}
        }
        still_serves_quietly(&app).await;
    }
    let cut_off = cut_off.expect("the slow client was never cut off");
    assert!(
        cut_off >= Duration::from_millis(1500) && cut_off < Duration::from_secs(5),
        "cut off after {cut_off:?}"
    );
    still_serves(&app).await;
}

async fn still_serves_quietly(app: &TestApp) {
    let res = app.anon(Method::GET, "/livez").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_sending_its_body_slowly_is_cut_off_by_the_request_timeout() {
    let app = spawn_app_tuned(|c| c.request_timeout = Duration::from_secs(2)).await;
    let before = user_ids(&app).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let body = br#"{"name": "Slow", "email": "slow@example.com"}"#;
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        app.token,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for &b in body.iter() {
        if s.write_all(&[b]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:.300}");
    assert!(
        elapsed < Duration::from_secs(5),
        "cut off after {elapsed:?}"
    );
    assert_eq!(user_ids(&app).await, before);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let app = spawn_app_tuned(|c| c.header_read_timeout = Duration::from_secs(2)).await;
    // Never says anything.
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    // Asks once, keeps the connection open, then falls silent.
    let mut done = TcpStream::connect(addr(&app)).await.unwrap();
    done.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = done.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(6);
    assert!(
        closed_by(&mut silent, deadline).await,
        "silent connection kept"
    );
    assert!(closed_by(&mut done, deadline).await, "idle keep-alive kept");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    still_serves(&app).await;
}

/// The soft limit on open files of this process (`ulimit -n`).
fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(1024)
}

/// 10 000 connections opened and left idle do not stop a new client from
/// being served promptly. The server is the real binary in its own process
/// (its own file limit); the connections come from this one, so their count
/// is capped by this process's limit, and the test says if it had to be.
#[tokio::test]
async fn ten_thousand_idle_connections_do_not_starve_a_new_client() {
    let limit = open_file_limit();
    let wanted = 10_000;
    let count = wanted.min(limit.saturating_sub(200));
    if count < wanted {
        eprintln!("open-file limit {limit}: opening {count} idle connections, not {wanted}");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -n 20000 2>/dev/null || true; exec "$0" "$@""#)
        .arg(roster_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--header-read-timeout", "120", "--rate-limit", "off"])
        .arg("--data")
        .arg(dir.path())
        .env_remove("ROSTER_ADMIN_EMAIL")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = crate::overload::listening_address(&mut child);
    let target = base.trim_start_matches("http://").to_owned();

    let mut idle = Vec::with_capacity(count);
    let started = Instant::now();
    while idle.len() < count {
        let batch = (count - idle.len()).min(500);
        let conns =
            futures::future::join_all((0..batch).map(|_| TcpStream::connect(target.clone()))).await;
        for c in conns {
            idle.push(c.expect("idle connection opened"));
        }
    }
    eprintln!(
        "{} idle connections open after {:?}",
        idle.len(),
        started.elapsed()
    );

    let client = crate::helpers::http_client();
    for path in ["/livez", "/readyz", "/api/v1/openapi.json"] {
        let t = Instant::now();
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{path} took {:?}",
            t.elapsed()
        );
    }
    // The idle ones are still open (the timeout is 120 s), not dropped to cope.
    let mut buf = [0u8; 1];
    let probe = &mut idle[count / 2];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), probe.read(&mut buf))
            .await
            .is_err(),
        "an idle connection was closed early"
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}
