//! Import, export, backup and restore: offline through the real binary on a
//! temp data dir, online through the API of a running server.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    assert_problem, login, roster_bin, spawn_app, spawn_app_with, spawn_app_with_login, test_config,
};

fn roster(data: &Path, args: &[&str]) -> Output {
    Command::new(roster_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ROSTER_ADMIN_EMAIL")
        .stdin(Stdio::null())
        .output()
        .expect("roster runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `n` good NDJSON lines, with bad ones at known line numbers.
fn ndjson_with_bad_lines(n: usize) -> (String, Vec<(u64, &'static str)>) {
    let mut out = String::new();
    let mut bad = Vec::new();
    let mut line = 0u64;
    for i in 0..n {
        line += 1;
        let rec = json!({
            "email": format!("user{i}@example.com"),
            "name": format!("Imported Person {i}"),
            "username": format!("imp{i}"),
            "attributes": {"n": i},
        });
        out.push_str(&rec.to_string());
        out.push('\n');
        match i {
            100 => {
                line += 1;
                out.push_str("{\"email\": \"not an email\"}\n");
                bad.push((line, "email:"));
            }
            200 => {
                line += 1;
                out.push_str("this is not json\n");
                bad.push((line, "not valid JSON"));
            }
            300 => {
                line += 1;
                out.push_str(&json!({"email": "user3@example.com"}).to_string());
                out.push('\n');
                bad.push((line, "email: is already taken"));
            }
            400 => {
                line += 1;
                out.push_str(&json!({"email": "x400@example.com", "roles": ["root"]}).to_string());
                out.push('\n');
                bad.push((line, "roles:"));
            }
            500 => {
                line += 1;
                out.push_str(
                    &json!({"email": "x500@example.com", "password_hash": "$1$md5$nope"})
                        .to_string(),
                );
                out.push('\n');
                bad.push((line, "password_hash:"));
            }
            _ => {}
        }
    }
    (out, bad)
}

#[tokio::test]
async fn offline_import_reports_bad_lines_and_the_server_starts_ready() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.ndjson");
    let (body, bad) = ndjson_with_bad_lines(3000);
    std::fs::write(&file, body).unwrap();
    let data = dir.path().join("data");
    let out = roster(&data, &["import", file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "bad lines make the command fail");
    for (line, why) in &bad {
        let reported = stderr
            .lines()
            .find(|l| l.starts_with(&format!("line {line}: ")))
            .unwrap_or_else(|| panic!("line {line} not reported: {stderr}"));
        assert!(reported.contains(why), "{reported}");
    }
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("line ")).count(),
        bad.len(),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("imported 3000 users; 5 bad lines"));
    // No background merge raced the final one (tantivy warns when it does).
    assert!(!stderr.contains("couldn't find segment"), "{stderr}");

    // The server starts with the index caught up: search answers at once.
    let app = spawn_app_with(test_config(&data)).await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    // Every imported user is indexed at once (the admin this start creates
    // may still be on its way to the index).
    assert_eq!(ready["checks"]["index"]["state"], "ready", "{ready}");
    assert!(
        ready["checks"]["index"]["docs"].as_u64() >= Some(3000),
        "{ready}"
    );
    assert!(
        ready["checks"]["index"]["lag"].as_u64() <= Some(1),
        "{ready}"
    );
    assert_eq!(
        ready["checks"]["index"]["rebuilt_at_start"], false,
        "{ready}"
    );
    let found: Value = app
        .get("/api/v1/users/search?q=imported%20person%202999")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["hits"][0]["user"]["email"], "user2999@example.com");
    let all: Value = app
        .get("/api/v1/users/search?limit=1&consistent=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 3001, "3000 imported + the admin");
}

#[tokio::test]
async fn csv_import_and_password_migration_from_bcrypt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bcrypt_hash = bcrypt::hash("legacy-password-1", 4).unwrap();
    let csv = format!(
        "email,name,roles,email_verified,attributes,password_hash,password\n\
         ada@example.com,Ada Lovelace,admin;user,true,\"{{\"\"team\"\":\"\"engines\"\"}}\",{bcrypt_hash},\n\
         grace@example.com,Grace Hopper,user,false,,,a-plain-password\n\
         bad-row@example.com,Bad,user,maybe,,,\n\
         \"unterminated@example.com,x\n"
    );
    let file = dir.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();
    let out = roster(&data, &["import", file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 4: email_verified"), "{stderr}");
    assert!(
        text(&out.stdout).contains("imported 2 users; 2 bad lines"),
        "{stderr}"
    );

    // Ada, an imported admin, is the server's only admin: no bootstrap one.
    // Her bcrypt hash verifies at login; afterwards the stored hash is argon2id.
    let app =
        spawn_app_with_login(test_config(&data), "ada@example.com", "legacy-password-1").await;
    let ada = login(
        &app.client,
        &app.base,
        "ada@example.com",
        "legacy-password-1",
    )
    .await;
    assert_eq!(ada["user"]["roles"], json!(["admin", "user"]));
    assert_eq!(ada["user"]["email_verified"], true);
    assert_eq!(ada["user"]["attributes"], json!({"team": "engines"}));
    login(
        &app.client,
        &app.base,
        "grace@example.com",
        "a-plain-password",
    )
    .await;
    let (data, _guard) = app.stop().await;
    let out = roster(&data, &["export", "--include-secrets"]);
    let exported = text(&out.stdout);
    let ada_line = exported
        .lines()
        .find(|l| l.contains("ada@example.com"))
        .unwrap();
    let ada: Value = serde_json::from_str(ada_line).unwrap();
    assert!(
        ada["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$"),
        "re-hashed on first login: {ada}"
    );
}

#[tokio::test]
async fn export_then_import_round_trips_and_keeps_secrets_out_by_default() {
    let app = spawn_app().await;
    for i in 0..50 {
        app.create_user(json!({
            "email": format!("p{i}@example.com"),
            "username": format!("p{i}"),
            "name": format!("Person {i}, \"quoted\"; semi"),
            "password": "a-long-password",
            "roles": if i % 5 == 0 { json!(["admin", "user"]) } else { json!(["user"]) },
            "status": if i % 7 == 0 { "disabled" } else { "active" },
            "attributes": {"i": i, "nested": {"a": [1, 2]}, "text": "comma, quote \" newline\n"},
        }))
        .await;
    }
    let (data, _guard) = app.stop().await;

    for format in ["ndjson", "csv"] {
        let plain = roster(&data, &["export", "--format", format]);
        assert!(plain.status.success(), "{}", text(&plain.stderr));
        let plain = text(&plain.stdout);
        assert!(
            !plain.contains("argon2") && !plain.contains("password"),
            "no secrets by default"
        );

        let with = roster(&data, &["export", "--format", format, "--include-secrets"]);
        let with = text(&with.stdout);
        assert!(with.contains("$argon2id$"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("users.{format}"));
        std::fs::write(&file, &with).unwrap();
        let copy = dir.path().join("copy");
        let out = roster(&copy, &["import", file.to_str().unwrap()]);
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let again = roster(&copy, &["export", "--format", format, "--include-secrets"]);
        assert_eq!(
            text(&again.stdout),
            with,
            "{format}: the copy exports the same"
        );

        // Passwords came along: a user of the copy can log in.
        let app = spawn_app_with(test_config(&copy)).await;
        login(&app.client, &app.base, "p3@example.com", "a-long-password").await;
        app.stop().await;
    }
}

#[tokio::test]
async fn backup_and_restore_round_trip_online_and_offline() {
    let app = spawn_app().await;
    for i in 0..40 {
        app.create_user(
            json!({"email": format!("b{i}@example.com"), "name": format!("Backed Up {i}")}),
        )
        .await;
    }
    let key: Value = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "k", "scopes": ["users:read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    // Online: a snapshot of the running server, while it keeps working.
    // Sent without the helpers' secret check: a backup holds the hashes.
    let res = app
        .request(Method::GET, "/api/v1/admin/backup")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    let snapshot = res.bytes().await.unwrap();
    app.create_user(json!({"email": "after@example.com"})).await;
    let (data, _guard) = app.stop().await;
    let original = text(&roster(&data, &["export", "--include-secrets"]).stdout);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.backup");
    std::fs::write(&file, &snapshot).unwrap();
    let restored = dir.path().join("restored");
    let out = roster(&restored, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = text(&roster(&restored, &["export", "--include-secrets"]).stdout);
    let without_after: String = original
        .lines()
        .filter(|l| !l.contains("after@example.com"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        copy, without_after,
        "the snapshot is the state when it was taken"
    );

    // The restored server answers searches, logins and the API key.
    let app = spawn_app_with(test_config(&restored)).await;
    let found: Value = app
        .get("/api/v1/users/search?q=backed%20up%2039")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["hits"][0]["user"]["email"], "b39@example.com");
    let secret = key["secret"].as_str().unwrap();
    let res = app
        .as_token(secret, Method::GET, "/api/v1/users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (restored, _g2) = app.stop().await;

    // Offline backup of the original, restored over a non-empty dir: only with --force.
    let offline = dir.path().join("offline.backup");
    let out = roster(&data, &["backup", offline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = roster(&restored, &["restore", offline.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&roster(&restored, &["export", "--include-secrets"]).stdout),
        without_after,
        "a refused restore changes nothing"
    );

    // A damaged or truncated backup is refused and changes nothing.
    let mut bytes = std::fs::read(&offline).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let damaged = dir.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let truncated = dir.path().join("truncated.backup");
    std::fs::write(&truncated, &std::fs::read(&offline).unwrap()[..mid]).unwrap();
    for bad in [&damaged, &truncated] {
        let out = roster(&restored, &["restore", "--force", bad.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("not a usable roster backup"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&roster(&restored, &["export", "--include-secrets"]).stdout),
            without_after
        );
    }
    let out = roster(
        &restored,
        &["restore", "--force", offline.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&roster(&restored, &["export", "--include-secrets"]).stdout),
        original
    );
}

#[tokio::test]
async fn offline_commands_refuse_a_data_dir_in_use() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("u.ndjson");
    std::fs::write(&file, "{\"email\":\"x@example.com\"}\n").unwrap();
    let backup = dir.path().join("b.backup");
    std::fs::write(&backup, b"ROSTERBK").unwrap();
    for args in [
        vec!["import", file.to_str().unwrap()],
        vec!["export"],
        vec!["backup", dir.path().join("out.backup").to_str().unwrap()],
        vec!["restore", "--force", backup.to_str().unwrap()],
        vec!["reindex"],
    ] {
        let started = std::time::Instant::now();
        let out = roster(&app.data_dir, &args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("in use by another roster process"),
            "{args:?}: {stderr}"
        );
        assert!(started.elapsed().as_secs() < 10, "{args:?} fails at once");
    }
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn online_import_and_export_for_admins() {
    let app = spawn_app().await;
    let (body, bad) = ndjson_with_bad_lines(600);
    let res = app
        .request(Method::POST, "/api/v1/users/import")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["imported"], 600, "{report}");
    assert_eq!(report["failed"], 5, "{report}");
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, bad.iter().map(|b| b.0).collect::<Vec<_>>());

    let found: Value = app
        .get("/api/v1/users/search?q=imported%20person%20599&consistent=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["hits"][0]["user"]["email"], "user599@example.com");

    let res = app.get("/api/v1/users/export?format=ndjson").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let exported = res.text().await.unwrap();
    assert_eq!(exported.lines().count(), 601);
    assert!(!exported.contains("password"));
    let first: Value = serde_json::from_str(exported.lines().next().unwrap()).unwrap();
    let id = first["id"].as_str().unwrap();
    let mut api: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    // Second factors do not travel: an import starts without them.
    assert_eq!(
        api.as_object_mut().unwrap().remove("mfa_enabled"),
        Some(json!(false))
    );
    assert_eq!(
        first, api,
        "an export line is the API's user but for mfa_enabled"
    );
    // Compressed on request (a compressing layer must not break the stream).
    for path in ["/api/v1/users/export", "/api/v1/admin/backup"] {
        let res = app
            .request(Method::GET, path)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["content-encoding"], "gzip", "{path}");
        let body = res.bytes().await.expect("the whole compressed body");
        assert!(
            body.len() > 100 && body[..2] == [0x1f, 0x8b],
            "{path}: gzip data"
        );
    }
    let csv = app
        .get("/api/v1/users/export?format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("id,email,username,name,roles,status"));
    assert_eq!(csv.lines().count(), 602);

    // Wrong media type, bad format, non-admins: refused, nothing written.
    let res = app
        .request(Method::POST, "/api/v1/users/import")
        .header("content-type", "application/json")
        .body("{\"email\":\"z@example.com\"}")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let res = app
        .request(Method::GET, "/api/v1/users/export?format=xml")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    let (_, token) = app
        .user_with_token("plain@example.com", "a-long-password")
        .await;
    let token = token.as_str();
    for (method, path) in [
        (Method::GET, "/api/v1/users/export"),
        (Method::GET, "/api/v1/admin/backup"),
    ] {
        let res = app.as_token(token, method, path).send().await.unwrap();
        assert_problem(res, StatusCode::FORBIDDEN).await;
    }
    let res = app
        .as_token(token, Method::POST, "/api/v1/users/import")
        .header("content-type", "application/x-ndjson")
        .body("{\"email\":\"sneaky@example.com\"}\n")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = app
        .get("/api/v1/users/search?q=sneaky&consistent=true")
        .await;
    let found: Value = res.json().await.unwrap();
    assert_eq!(found["total"], 0);
}
