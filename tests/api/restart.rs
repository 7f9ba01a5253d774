use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Checked, FirstRun, login, roster_bin, spawn_app, spawn_app_with,
    spawn_app_with_login, test_config,
};

#[tokio::test]
async fn a_restart_keeps_every_acknowledged_write() {
    let app = spawn_app().await;
    let ada = app
        .create_user(json!({"email": "ada@example.com", "username": "ada"}))
        .await;
    let grace = app.create_user(json!({"email": "grace@example.com"})).await;
    let gone = app.create_user(json!({"email": "gone@example.com"})).await;
    let ada_path = format!("/api/v1/users/{}", ada["id"].as_str().unwrap());
    let patched: Value = app
        .send_json(Method::PATCH, &ada_path, &json!({"name": "Ada"}))
        .await
        .json()
        .await
        .unwrap();
    let gone_path = format!("/api/v1/users/{}", gone["id"].as_str().unwrap());
    assert_eq!(
        app.request(Method::DELETE, &gone_path)
            .check()
            .await
            .status(),
        204
    );
    let (dir, guard) = app.stop().await;

    let app = spawn_app_with(test_config(&dir)).await;
    assert_eq!(
        app.get(&ada_path).await.json::<Value>().await.unwrap(),
        patched
    );
    let grace_path = format!("/api/v1/users/{}", grace["id"].as_str().unwrap());
    assert_eq!(
        app.get(&grace_path).await.json::<Value>().await.unwrap(),
        grace
    );
    assert_eq!(app.get(&gone_path).await.status(), StatusCode::NOT_FOUND);
    // The unique indexes came back too.
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "x@example.com", "username": "ADA"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    app.stop().await;
    drop(guard);
}

#[tokio::test]
async fn the_change_log_has_one_entry_per_write_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(test_config(dir.path())).await;
    let u = app.create_user(json!({"email": "ada@example.com"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    app.send_json(Method::PATCH, &path, &json!({"name": "A"}))
        .await;
    // A failed write logs nothing.
    app.send_json(
        Method::POST,
        "/api/v1/users",
        &json!({"email": "ADA@example.com"}),
    )
    .await;
    app.request(Method::DELETE, &path).check().await;
    app.stop().await;

    let store = roster::store::Store::open(dir.path()).unwrap();
    let changes = store.read(|r| r.changes_since(0, 100)).unwrap();
    let id = uuid::Uuid::parse_str(u["id"].as_str().unwrap())
        .unwrap()
        .as_u128();
    // Entry 1 is the bootstrap admin.
    let seen: Vec<_> = changes
        .iter()
        .map(|(seq, c)| (*seq, c.kind.as_str(), c.id, c.version, c.fields.clone()))
        .collect();
    assert_eq!(seen[0].1, "user.created");
    assert_eq!(
        seen[1..],
        vec![
            (2, "user.created", id, 1, vec![]),
            (3, "user.updated", id, 2, vec!["name".to_owned()]),
            (4, "user.deleted", id, 2, vec![]),
        ]
    );
    // Each entry carries the user as the change left it (as it was, for
    // the deletion), whatever happened to it later.
    let names: Vec<_> = changes[1..]
        .iter()
        .map(|(_, c)| {
            c.user()
                .unwrap()
                .unwrap()
                .name
                .map(|n| n.as_str().to_owned())
        })
        .collect();
    assert_eq!(names[0], None);
    assert!(names[1].is_some());
    assert_eq!(names[1], names[2]);
    assert_eq!(store.committed_seq(), 4);
    store.close().await;
}

/// Starts the real binary on port 0; returns it, its address (read from
/// its JSON log) and the log lines after that one, collected until it
/// exits.
fn start_binary(data: &std::path::Path) -> (Child, String, std::thread::JoinHandle<Vec<String>>) {
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
        .env("ROSTER_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ROSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("roster logs before exiting").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(a) = v["address"].as_str() {
            break a.to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    (child, addr, rest)
}

#[tokio::test]
async fn sigterm_drains_commits_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, log) = start_binary(dir.path());
    let client = crate::helpers::http_client();
    let token = login(
        &client,
        &format!("http://{addr}"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("http://{addr}/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"email": "ada@example.com"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: Value = res.json().await.unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    // The log is written by a thread of its own: its last lines (logged
    // just before `main` returns) were written out before the process
    // exited.
    let log = log.join().unwrap();
    assert!(log.iter().any(|l| l.contains("roster stopped")), "{log:?}");

    let (mut child, addr, _) = start_binary(dir.path());
    let res = client
        .get(format!(
            "http://{addr}/api/v1/users/{}",
            user["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_data_dir_in_use_is_refused_clearly() {
    let app = spawn_app().await;
    let out = Command::new(roster_bin())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The running server is unharmed.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn first_run_prints_a_single_use_setup_link() {
    let server = FirstRun::start();
    assert!(
        server
            .link
            .starts_with(&format!("{}/admin/setup?token=", server.base)),
        "{}",
        server.link
    );
    let (token, addr) = (
        server.token.clone(),
        server.base.trim_start_matches("http://").to_owned(),
    );
    let client = crate::helpers::http_client();
    let setup = |t: String, email: &'static str| {
        client
            .post(format!("http://{addr}/api/v1/setup"))
            .json(&json!({"token": t, "email": email, "password": "first-admin-pw"}))
            .send()
    };
    assert_eq!(
        setup("wrong".into(), "a@example.com")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        setup(token.clone(), "first@example.com")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let again = setup(token, "second@example.com").await.unwrap().status();
    assert!(
        again == StatusCode::CONFLICT || again == StatusCode::UNAUTHORIZED,
        "{again}"
    );
    login(
        &client,
        &format!("http://{addr}"),
        "first@example.com",
        "first-admin-pw",
    )
    .await;
}

#[tokio::test]
async fn offline_admin_create_and_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = Command::new(roster_bin())
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        "ops-password-1\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        &[
            "admin",
            "create",
            "--email",
            "two@example.com",
            "--password-stdin",
        ],
        "ops-password-1\n",
    );
    assert!(!ok && out.contains("already exists"), "{out}");

    let mut config = roster::Config::for_data_dir(dir.path());
    config.rate_limit = None;
    let app = spawn_app_with_login(config.clone(), "ops@example.com", "ops-password-1").await;
    let old_token = app.token.clone();
    app.stop().await;

    let (ok, out) = run(&["keys", "rotate"], "");
    assert!(ok, "{out}");
    let app = spawn_app_with_login(config, "ops@example.com", "ops-password-1").await;
    let new_token = app.token.clone();
    let kid = |t: &str| t.split('.').next().unwrap().to_owned();
    assert_ne!(kid(&old_token), kid(&new_token), "a new key signs");
    // The old token still verifies after the rotation.
    assert_eq!(
        app.as_token(&old_token, Method::GET, "/api/v1/auth/me")
            .check()
            .await
            .status(),
        StatusCode::OK
    );
    app.stop().await;
}
