//! Disk trouble: a damaged store file at start, and a full disk at run time.
//!
//! A file left by a killed process is repaired at open; the crash test
//! (`crash.rs`) covers that on every round.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::crash::start_roster;
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Checked, assert_problem, http_client, login, roster_bin,
    test_config,
};

/// The ways a store file gets damaged outside roster: garbage, a file cut
/// short, and garbage written over a healthy file's pages (in a copy, and
/// in the file roster closed cleanly, which it would otherwise not verify).
fn damaged_stores() -> Vec<(&'static str, tempfile::TempDir)> {
    let garbage = tempfile::tempdir().expect("temp dir");
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(garbage.path().join("roster.redb"), &noise).expect("write");

    let healthy = tempfile::tempdir().expect("temp dir");
    drop(roster::store::Store::open(healthy.path()).expect("a new store"));
    let file = std::fs::read(healthy.path().join("roster.redb")).expect("read");
    let truncated = tempfile::tempdir().expect("temp dir");
    std::fs::write(truncated.path().join("roster.redb"), &file[..5000]).expect("write");
    let overwritten = tempfile::tempdir().expect("temp dir");
    let mut bad = file.clone();
    bad[8192..8192 + 3000].copy_from_slice(&noise[..3000]);
    std::fs::write(overwritten.path().join("roster.redb"), &bad).expect("write");
    // Damaged where it lies, after roster closed it cleanly (and noted so).
    let in_place = tempfile::tempdir().expect("temp dir");
    drop(roster::store::Store::open(in_place.path()).expect("a new store"));
    // Past a coarse clock's tick, so that the write changes the file's time
    // on kernels without fine-grained file timestamps too.
    std::thread::sleep(Duration::from_millis(25));
    std::fs::write(in_place.path().join("roster.redb"), &bad).expect("write");
    vec![
        ("garbage", garbage),
        ("truncated", truncated),
        ("overwritten", overwritten),
        ("overwritten in place", in_place),
    ]
}

#[tokio::test]
async fn a_damaged_store_file_is_a_clear_error_from_app_build() {
    for (what, dir) in damaged_stores() {
        let file = dir.path().join("roster.redb").display().to_string();
        let err = match roster::App::build(test_config(dir.path())).await {
            Ok(_) => panic!("{what}: a damaged store started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(&file), "{what}: {err}");
        assert!(!err.contains('\n'), "{what}: {err}");
    }
}

#[test]
fn a_damaged_store_file_stops_the_binary_with_one_line() {
    for (what, dir) in damaged_stores() {
        let out = Command::new(roster_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .env("ROSTER_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ROSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .output()
            .expect("roster runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{what} panicked: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: {stderr}");
        let file = dir.path().join("roster.redb").display().to_string();
        assert!(
            lines[0].starts_with("roster: ") && lines[0].contains(&file),
            "{what}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{what}: {stderr}"
        );
    }
}

async fn create(client: &Client, base: &str, token: &str, email: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(token)
        .json(&json!({"email": email, "name": "Filler", "attributes": {"pad": "x".repeat(2000)}}))
        .check()
        .await
}

async fn get_ok(client: &Client, base: &str, token: &str, path: &str) -> Value {
    let res = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    res.json().await.expect("json")
}

#[tokio::test]
async fn a_full_disk_gives_503s_keeps_reads_and_recovers_without_restart() {
    assert!(
        Command::new("prlimit")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "this test needs prlimit (util-linux)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    // Make the store once, then start with a file-size limit just above it
    // (and above its journal, which is written ahead, as a full disk would
    // find it): writes that grow a file past it fail with EFBIG (SIGXFSZ
    // is ignored, and stays ignored across exec). Only the soft limit is
    // lowered, so that `prlimit` may raise it again without privileges.
    drop(start_roster(dir.path(), None));
    let size_kib = ["roster.redb", "roster.redb.journal"]
        .iter()
        .map(|f| {
            std::fs::metadata(dir.path().join(f))
                .expect("a store")
                .len()
        })
        .max()
        .unwrap_or(0)
        / 1024;
    let script = format!(
        "trap '' XFSZ; ulimit -S -f {}; exec \"$0\" \"$@\"",
        size_kib + 64
    );
    let (mut roster, base) = start_roster(dir.path(), Some(&["bash", "-c", &script]));
    let child = &mut roster.0;
    let pid = child.id().to_string();
    let client = http_client();
    let token = login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let mut acked = Vec::new();
    let mut failed = None;
    for n in 0..5000 {
        let email = format!("fill{n}@disk.test");
        let res = create(&client, &base, &token, &email).await;
        if res.status() == StatusCode::CREATED {
            acked.push(res.json::<Value>().await.expect("user json"));
            continue;
        }
        let problem = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
        failed = Some((email, problem));
        break;
    }
    let (failed, problem) = failed.expect("the disk filled up");
    assert!(child.try_wait().expect("status").is_none(), "roster died");
    eprintln!(
        "disk full after {} creates (limit {} KiB): {problem}",
        acked.len(),
        size_kib + 64
    );
    assert!(acked.len() >= 3, "seeded only {} users", acked.len());

    // Reads keep working while writes cannot.
    let first = &acked[0];
    let id = first["id"].as_str().expect("an id");
    assert_eq!(
        &get_ok(&client, &base, &token, &format!("/api/v1/users/{id}")).await,
        first
    );
    let page = get_ok(&client, &base, &token, "/api/v1/users?limit=5").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(5));
    let email = first["email"].as_str().expect("an email");
    // The index follows the store a moment behind (more on a busy machine).
    let mut hits = Value::Null;
    for _ in 0..100 {
        hits = get_ok(
            &client,
            &base,
            &token,
            &format!("/api/v1/users/search?q={email}"),
        )
        .await;
        if hits["total"] != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hits["hits"][0]["user"]["id"].as_str(), Some(id), "{hits}");
    assert!(child.try_wait().expect("status").is_none(), "roster died");

    // Space returns: the next writes succeed, with no restart; the failed
    // create left nothing behind, so its email is free exactly once.
    let status = Command::new("prlimit")
        .args(["--pid", &pid, "--fsize=unlimited"])
        .status()
        .expect("prlimit runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = create(&client, &base, &token, &failed).await;
        if res.status() == StatusCode::CREATED {
            break;
        }
        assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(Instant::now() < deadline, "writes did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dup = create(&client, &base, &token, &failed).await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    for u in &acked {
        let id = u["id"].as_str().expect("an id");
        assert_eq!(
            &get_ok(&client, &base, &token, &format!("/api/v1/users/{id}")).await,
            u
        );
    }
    drop(roster);

    let store = roster::store::Store::open(dir.path()).expect("the store opens");
    let report = store.check().expect("the check runs");
    assert!(report.is_healthy(), "{:#?}", report.problems);
    assert_eq!(
        report.users,
        acked.len() as u64 + 2,
        "seeded, recovered and the admin"
    );
    store.close().await;
}
