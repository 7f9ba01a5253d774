//! The request log of the real binary writing to a pipe, as it does under
//! systemd, Docker or `2>file`: no terminal colour codes, one line per
//! request with the fields an operator filters on, and the
//! `--access-log` / `--access-log-sample` settings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::crash::Roster;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, http_client, login, roster_bin};

/// The binary with `args`, its stderr collected line by line.
struct Logged {
    _roster: Roster,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    fn start(args: &[&str]) -> (Logged, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(roster_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .args(args)
            .env("ROSTER_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ROSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("roster starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let logged = Logged {
            _roster: Roster(child),
            base: String::new(),
            lines,
        };
        let addr = logged
            .wait_for(|l| l.contains("listening"))
            .expect("a listening line");
        // `address` in JSON, `address=` in the compact format.
        let addr = match serde_json::from_str::<Value>(&addr) {
            Ok(v) => v["address"].as_str().unwrap().to_owned(),
            Err(_) => addr
                .split("address=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned(),
        };
        (
            Logged {
                base: format!("http://{addr}"),
                ..logged
            },
            dir,
        )
    }

    fn wait_for(&self, f: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| f(l)) {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// JSON request lines, once `n` of them have been written.
    async fn requests(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<Value> = self
                .all()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["status"].is_u64() && v["latency_us"].is_u64())
                .collect();
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_piped_log_has_no_colour_codes_and_a_line_per_request() {
    let (app, _dir) = Logged::start(&[]);
    let client = http_client();
    let res = client
        .get(format!("{}/livez", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let line = app
        .wait_for(|l| l.contains("status=404"))
        .expect("the 404 is logged");
    assert!(line.contains("route=\"<unmatched>\""), "{line}");
    assert!(line.contains("latency_us="), "{line}");
    let log = app.all().join("\n");
    assert!(!log.contains('\u{1b}'), "escape codes in a pipe: {log}");
}

#[tokio::test]
async fn json_request_lines_name_the_route_caller_and_outcome() {
    let (app, _dir) = Logged::start(&["--log-format", "json"]);
    let client = http_client();
    let token = login(&client, &app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .get(format!("{}/api/v1/users?limit=1", app.base))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let lines = app.requests(2).await;
    let line = lines
        .iter()
        .find(|v| v["span"]["request_id"] == "trace-me-1")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(line["status"], 200);
    assert!(line["latency_us"].as_u64().is_some());
    let span = &line["span"];
    assert_eq!(span["route"], "/api/v1/users");
    assert_eq!(span["method"], "GET");
    assert_eq!(span["client"], "127.0.0.1");
    assert!(line.get("spans").is_none(), "the span once: {line}");
    let principal = span["principal"].as_str().unwrap();
    assert!(principal.starts_with("user:"), "{line}");
    assert!(!line.to_string().contains(&token), "no token in the log");
}

/// The statuses logged by a server started with `args` after `successes`
/// answers of 200 and then one 404, once `expect` lines are there (or
/// after a pause when none are expected).
async fn logged_statuses(args: &[&str], successes: usize, expect: usize) -> Vec<u64> {
    let (app, _dir) = Logged::start(args);
    let client = http_client();
    for _ in 0..successes {
        client
            .get(format!("{}/livez", app.base))
            .send()
            .await
            .unwrap();
    }
    client
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    if expect == 0 {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.requests(expect)
        .await
        .iter()
        .map(|v| v["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn access_log_errors_only_and_sampling() {
    let errors = logged_statuses(&["--log-format", "json", "--access-log", "errors"], 5, 1).await;
    assert_eq!(errors, [404], "only the error");
    let sampled = logged_statuses(
        &["--log-format", "json", "--access-log-sample", "10"],
        30,
        4,
    )
    .await;
    assert_eq!(
        sampled,
        [200, 200, 200, 404],
        "one success in ten, every error"
    );
    let off = logged_statuses(&["--log-format", "json", "--access-log", "off"], 1, 0).await;
    assert!(off.is_empty(), "{off:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_lines_carry_the_forwarded_client_and_scheme() {
    let (app, _dir) = Logged::start(&["--log-format", "json", "--trusted-proxies", "127.0.0.1"]);
    let client = http_client();
    for (id, proto) in [("via-https", "https"), ("via-http", "http")] {
        let res = client
            .get(format!("{}/api/v1/users", app.base))
            .header("x-request-id", id)
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-forwarded-proto", proto)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let lines = app.requests(2).await;
    for (id, proto) in [("via-https", "https"), ("via-http", "http")] {
        let line = lines
            .iter()
            .find(|v| v["span"]["request_id"] == id)
            .unwrap_or_else(|| panic!("{lines:#?}"));
        assert_eq!(line["span"]["client"], "203.0.113.9", "{line}");
        assert_eq!(line["span"]["scheme"], proto, "{line}");
    }
}
