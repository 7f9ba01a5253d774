//! Encryption at rest, end to end: nothing readable on disk or in a backup,
//! a wrong or missing key refused without a byte changed, the same search
//! results with and without a key, and a key rotation killed at random
//! points that resumes and ends readable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use roster::crypt::Key;
use roster::{App, Config};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, roster_bin, spawn_app_with, test_config};

const USERS: usize = 1000;

fn email(i: usize) -> String {
    format!("quillon.vexmar{i}@plovercrypt.example")
}
fn name(i: usize) -> String {
    format!("Quillon Vexmar{i} Dravenholt")
}
fn codeword(i: usize) -> String {
    format!("ploverine-secret-{i}")
}

fn users_ndjson(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let rec = json!({
            "email": email(i),
            "name": name(i),
            "username": format!("qvex{i}"),
            "attributes": {"codeword": codeword(i), "team": if i % 2 == 0 { "red" } else { "blue" }},
        });
        out.push_str(&rec.to_string());
        out.push('\n');
    }
    out
}

/// The real binary on `data`, with the key (if any) in the environment.
fn roster(data: &Path, key: Option<&Key>, args: &[&str]) -> Command {
    let mut cmd = Command::new(roster_bin());
    cmd.arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ROSTER_ADMIN_EMAIL")
        .env_remove("ROSTER_ENCRYPTION_KEY")
        .env_remove("ROSTER_ENCRYPTION_KEY_FILE")
        .stdin(Stdio::null());
    if let Some(k) = key {
        cmd.env("ROSTER_ENCRYPTION_KEY", k.to_base64());
    }
    cmd
}

fn run(data: &Path, key: Option<&Key>, args: &[&str]) -> Output {
    roster(data, key, args).output().expect("roster runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A data dir holding `n` imported users (offline import, real binary).
fn imported(n: usize, key: Option<&Key>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("users.ndjson");
    std::fs::write(&file, users_ndjson(n)).unwrap();
    let out = run(&data, key, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    std::fs::remove_file(&file).unwrap();
    (dir, data)
}

fn config(data: &Path, key: Option<&Key>) -> Config {
    let mut c = test_config(data);
    c.encryption_key = key.cloned();
    c
}

/// Every needle in the forms it could take on disk: as is, lower case,
/// UTF-16LE, hex, and base64 at each of the three alignments (the part of
/// the encoding that does not depend on the neighbouring bytes).
fn encodings(needles: &[String]) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for n in needles {
        out.push(n.as_bytes().to_vec());
        out.push(n.to_lowercase().into_bytes());
        out.push(n.encode_utf16().flat_map(u16::to_le_bytes).collect());
        out.push(
            n.bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        );
        for shift in 0..3 {
            let mut padded = vec![0u8; shift];
            padded.extend_from_slice(n.as_bytes());
            let enc = b64.encode(&padded);
            // Skip the characters touched by the padding at either end.
            let start = (shift * 4).div_ceil(3) + 1;
            let end = enc.len().saturating_sub(4);
            if end > start + 8 {
                out.push(enc.as_bytes()[start..end].to_vec());
            }
        }
    }
    out
}

/// Files under `root` (recursively) in which any needle occurs, with the
/// first needle found in each.
fn scan(paths: &[PathBuf], needles: &[String]) -> BTreeMap<PathBuf, String> {
    let patterns = encodings(needles);
    let ac = AhoCorasick::new(&patterns).unwrap();
    let mut found = BTreeMap::new();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        if let Some(m) = ac.find(&bytes) {
            found.insert(f, text(&patterns[m.pattern().as_usize()]));
        }
    }
    found
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            collect(&e.unwrap().path(), out);
        }
    } else {
        out.push(p.to_owned());
    }
}

fn needles() -> Vec<String> {
    (0..USERS)
        .flat_map(|i| [email(i), name(i), codeword(i)])
        .collect()
}

/// Fills a data dir as a running server would: imported users, sign-ins
/// (sessions, audit), an update (change log), then a backup over the API.
async fn exercise(data: &Path, key: Option<&Key>, backup: &Path) {
    let app = spawn_app_with(config(data, key)).await;
    for i in [1, 2, 3] {
        let res = app
            .send_json(
                Method::POST,
                "/api/v1/users",
                &json!({"email": format!("late{i}.{}", email(i)), "name": name(i), "password": "a-long-password-1"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app
            .anon(Method::POST, "/api/v1/auth/login")
            .json(
                &json!({"login": format!("late{i}.{}", email(i)), "password": "a-long-password-1"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let hits: Value = app
        .get("/api/v1/users/search?q=vexmar17")
        .await
        .json()
        .await
        .unwrap();
    let id = hits["hits"][0]["user"]["id"]
        .as_str()
        .or_else(|| hits["hits"][0]["id"].as_str())
        .expect("a hit")
        .to_owned();
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &json!({"attributes": {"codeword": codeword(17), "note": codeword(18)}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // (Not `get`: a plaintext backup holds password hashes, as it must.)
    let bytes = app
        .request(Method::GET, "/api/v1/admin/backup")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(backup, &bytes).unwrap();
    app.stop().await;
}

#[tokio::test]
async fn an_encrypted_data_dir_and_its_backup_hold_no_plaintext() {
    let key = Key::generate();
    let (dir, data) = imported(USERS, Some(&key));
    let backup = dir.path().join("backup.rbk");
    exercise(&data, Some(&key), &backup).await;
    let found = scan(&[data.clone(), backup.clone()], &needles());
    assert!(found.is_empty(), "plaintext on disk: {found:?}");

    // The same scan finds them without a key: the check can fail.
    let (plain_dir, plain) = imported(USERS, None);
    let plain_backup = plain_dir.path().join("backup.rbk");
    exercise(&plain, None, &plain_backup).await;
    let found = scan(&[plain.clone(), plain_backup.clone()], &needles());
    assert!(found.contains_key(&plain.join("roster.redb")), "{found:?}");
    assert!(found.contains_key(&plain_backup), "{found:?}");
    assert!(
        found.keys().any(|p| p.starts_with(plain.join("index"))),
        "{found:?}"
    );

    // The encrypted backup restores, under the same key only.
    let restored = dir.path().join("restored");
    let out = run(
        &restored,
        Some(&key),
        &["restore", backup.to_str().unwrap()],
    );
    assert!(out.status.success(), "restore: {}", text(&out.stderr));
    assert_serves_every_user(&restored, &key).await;
    let e = App::build(config(&restored, None)).await.err().unwrap();
    assert!(e.to_string().contains("is encrypted"), "{e}");

    // A backup that does not fit the key the data dir is used with is
    // refused before it replaces anything.
    let before = digests(&restored);
    for (backup, key) in [
        (&plain_backup, Some(&key)),
        (&backup, None),
        (&backup, Some(&Key::generate())),
    ] {
        let out = run(
            &restored,
            key,
            &["restore", "--force", backup.to_str().unwrap()],
        );
        assert!(!out.status.success(), "{}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains("does not fit the key"),
            "{}",
            text(&out.stderr)
        );
    }
    // (redb rewrites its header when the old store is locked, and its
    // journal starts new epochs: compare what the store holds, not its
    // bytes.)
    let after = digests(&restored);
    let changed: Vec<_> = after
        .keys()
        .filter(|f| before.get(*f) != after.get(*f))
        .collect();
    assert!(
        changed
            .iter()
            .all(|f| f.ends_with("roster.redb") || f.ends_with("roster.redb.journal")),
        "a refused restore changed {changed:?}"
    );
    assert_serves_every_user(&restored, &key).await;
}

/// A server on `data` under `key` finds every imported user.
async fn assert_serves_every_user(data: &Path, key: &Key) {
    let app = spawn_app_with(config(data, Some(key))).await;
    let hits: Value = app
        .get("/api/v1/users/search?q=dravenholt&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert!(hits["total"].as_u64().unwrap() >= USERS as u64, "{hits}");
    app.stop().await;
}

fn digests(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = Vec::new();
    collect(root, &mut files);
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect()
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_and_changes_nothing() {
    let key = Key::generate();
    let (_dir, data) = imported(50, Some(&key));
    let before = digests(&data);

    let e = App::build(config(&data, Some(&Key::generate())))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("is not the key of"), "{e}");
    assert!(e.contains(&key.id_hex()), "names the store's key id: {e}");
    let e = App::build(config(&data, None))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("is encrypted") && e.contains("--encryption-key-file"),
        "{e}"
    );
    let out = run(&data, Some(&Key::generate()), &["reindex"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not the key of"),
        "{}",
        text(&out.stderr)
    );
    // A rotation from the wrong current key, too, changes nothing (the
    // search index included).
    let wrong = Key::generate();
    let new_file = key_file(_dir.path(), "new.key", &Key::generate());
    let out = run(
        &data,
        Some(&wrong),
        &[
            "keys",
            "rotate-encryption-key",
            "--new-key-file",
            new_file.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not the key of"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(digests(&data), before, "a refused open changed files");

    // A store made without a key does not silently take one.
    let (_plain_dir, plain) = imported(5, None);
    let before = digests(&plain);
    let e = App::build(config(&plain, Some(&key)))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("is not encrypted"), "{e}");
    assert_eq!(digests(&plain), before);

    // An export of an encrypted store is refused unless asked for in clear.
    let out = run(&data, Some(&key), &["export"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--plaintext"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&data, Some(&key), &["export", "--plaintext"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 50);
}

/// What a search answers, without what differs between two stores (ids,
/// times, scores).
fn comparable(v: &Value, ordered: bool) -> Value {
    let hits: Vec<Value> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let u = if h.get("user").is_some() {
                &h["user"]
            } else {
                h
            };
            json!([u["email"], u["name"], u["attributes"]])
        })
        .collect();
    // Ties in relevance may fall in another order: compare the set, and
    // the order too where the query fixes it.
    let mut sorted = hits.clone();
    sorted.sort_by_key(|h| h.to_string());
    json!({"total": v["total"], "hits": sorted, "ordered": ordered.then_some(hits), "facets": v["facets"]})
}

#[tokio::test]
async fn search_answers_the_same_with_and_without_encryption() {
    let key = Key::generate();
    let (_a, sealed) = imported(300, Some(&key));
    let (_b, plain) = imported(300, None);
    let sealed = spawn_app_with(config(&sealed, Some(&key))).await;
    let plain = spawn_app_with(config(&plain, None)).await;
    let queries = [
        "q=vexmar17",
        "q=vexmr17",                     // a typo
        "q=dravenh&sort=name&limit=100", // a prefix
        "q=quillon&limit=50&sort=name",
        "q=ploverine-secret-42",
        "q=quillon&facets=roles,status&limit=5&sort=name",
        "q=qvex12",
        "q=plovercrypt.example&limit=100&sort=name",
    ];
    for q in queries {
        let path = format!("/api/v1/users/search?{q}&consistent=true");
        let a: Value = sealed.get(&path).await.json().await.unwrap();
        let b: Value = plain.get(&path).await.json().await.unwrap();
        assert!(a["total"].as_u64().unwrap_or(0) > 0, "{q}: {a}");
        let ordered = q.contains("sort=name");
        assert_eq!(comparable(&a, ordered), comparable(&b, ordered), "{q}");
    }
    // Listing in email order needs emails in order on disk: refused there.
    let res = sealed.get("/api/v1/users?sort=email").await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert!(p["detail"].as_str().unwrap().contains("encrypted"), "{p}");
    assert_eq!(plain.get("/api/v1/users?sort=email").await.status(), 200);
    sealed.stop().await;
    plain.stop().await;
}

/// Every user's email, read back through a server opened with `key`.
async fn emails(data: &Path, key: Option<&Key>) -> Vec<String> {
    let app = spawn_app_with(config(data, key)).await;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/users?limit=500".to_owned(),
            Some(c) => format!("/api/v1/users?limit=500&cursor={c}"),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        for u in page["items"].as_array().unwrap() {
            out.push(u["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // The unique index works under the new key: a taken address is refused.
    let res = app
        .send_json(Method::POST, "/api/v1/users", &json!({"email": email(7)}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // (After a decryption the index is rebuilt at start: 503 until then.)
    let mut hits = Value::Null;
    for _ in 0..600 {
        let res = app.get("/api/v1/users/search?q=vexmar1234").await;
        if res.status() != StatusCode::SERVICE_UNAVAILABLE {
            hits = res.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hits["hits"][0]["user"]["email"], email(1234), "{hits}");
    app.stop().await;
    out.sort();
    out
}

fn key_file(dir: &Path, name: &str, key: &Key) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, key.to_base64()).unwrap();
    p
}

#[tokio::test]
async fn a_rotation_killed_at_random_points_resumes_and_ends_readable() {
    const N: usize = 20_000;
    let old = Key::generate();
    let new = Key::generate();
    let (dir, data) = imported(N, Some(&old));
    let expected = {
        let mut e: Vec<String> = (0..N).map(email).collect();
        e.push(crate::helpers::ADMIN_EMAIL.to_owned());
        e.sort();
        e
    };
    let new_file = key_file(dir.path(), "new.key", &new);
    let rotate = [
        "keys",
        "rotate-encryption-key",
        "--new-key-file",
        new_file.to_str().unwrap(),
    ];
    // Kill it at growing delays until one run gets to finish on its own.
    let mut kills = 0;
    let mut finished = false;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for round in 0..12u64 {
        let delay = 20 + (seed.wrapping_mul(round + 7) % 60) + round * 40;
        let mut child = roster(&data, Some(&old), &rotate)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // Meanwhile the server refuses to start while a rotation is under
        // way; before the new file exists the store is wholly under the
        // old key and may start.
        let under_way = data.join("roster.redb.rotating").exists();
        match App::build(config(&data, Some(&old))).await {
            Err(e) if under_way => {
                assert!(e.to_string().contains("did not finish"), "{e}");
            }
            // Killed after the switch: the store is wholly under the new key.
            Err(e) if e.to_string().contains("is not the key of") => {}
            Err(e) => panic!("the store no longer opens with its key: {e}"),
            Ok(app) => {
                assert!(!under_way, "a server started on a half-rotated store");
                // Stopped as a server stops (its store closed) before the
                // next round.
                let addr = app.local_addr();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let task = tokio::spawn(app.run_until(async {
                    let _ = stopped.await;
                }));
                let res = crate::helpers::http_client()
                    .get(format!("http://{addr}/livez"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                stop.send(()).unwrap();
                task.await.unwrap().unwrap();
            }
        }
    }
    assert!(kills > 0, "the rotation was never interrupted");
    if !finished {
        let out = run(&data, Some(&old), &rotate);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // Run again: nothing left to do.
    let out = run(&data, Some(&old), &rotate);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already"),
        "{}",
        text(&out.stdout)
    );
    assert!(!data.join("roster.redb.rotating").exists());

    assert_eq!(emails(&data, Some(&new)).await, expected);
    let e = App::build(config(&data, Some(&old))).await.err().unwrap();
    assert!(e.to_string().contains("is not the key of"), "{e}");
    eprintln!("rotation interrupted {kills} times, then finished");

    // Decrypting, then encrypting a plaintext store, end readable too.
    let out = run(
        &data,
        Some(&new),
        &["keys", "rotate-encryption-key", "--decrypt"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(emails(&data, None).await, expected);
    let third = Key::generate();
    let third_file = key_file(dir.path(), "third.key", &third);
    let out = run(
        &data,
        None,
        &[
            "keys",
            "rotate-encryption-key",
            "--new-key-file",
            third_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(emails(&data, Some(&third)).await, expected);
}

#[test]
fn a_generated_key_file_is_private_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k");
    let out = run(
        dir.path(),
        None,
        &[
            "keys",
            "generate-encryption-key",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = Key::read_file(&file).unwrap();
    assert!(text(&out.stderr).contains(&key.id_hex()));
    assert!(!text(&out.stderr).contains(&key.to_base64()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = run(
        dir.path(),
        None,
        &[
            "keys",
            "generate-encryption-key",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(!again.status.success());
    assert_eq!(Key::read_file(&file).unwrap().id(), key.id());
}
