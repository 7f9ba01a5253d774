//! Crash safety: the real binary under concurrent writes, killed with
//! SIGKILL at a random moment, several times on one data dir. Nothing it
//! acknowledged may be lost, nothing half-written may appear, the store's
//! tables must agree (`Store::check`), and search must converge on the store.
//!
//! Opening the store offline after each kill also exercises redb's repair of
//! a file whose writer did not shut down cleanly (see `store::db::open_database`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Checked, http_client, login, roster_bin};

const ROUNDS: usize = 5;
const CLIENTS: usize = 16;

/// A child process killed (SIGKILL) and reaped when dropped, so that a
/// failing test leaves no server behind.
pub struct Roster(pub Child);

impl Drop for Roster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary on port 0 with a bootstrap admin and no rate limits,
/// optionally started through `wrap` (a program and its arguments, which
/// get the binary's path and arguments appended); returns it and its base
/// URL, read from its JSON log.
pub fn start_roster(data: &Path, wrap: Option<&[&str]>) -> (Roster, String) {
    start_roster_with(data, wrap, &[])
}

/// [`start_roster`] with more environment variables (settings).
pub fn start_roster_with(
    data: &Path,
    wrap: Option<&[&str]>,
    env: &[(&str, &str)],
) -> (Roster, String) {
    let mut cmd = match wrap {
        Some([program, args @ ..]) => {
            let mut c = Command::new(program);
            c.args(args).arg(roster_bin());
            c
        }
        _ => Command::new(roster_bin()),
    };
    let mut child = cmd
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
        .env("ROSTER_RATE_LIMIT", "off")
        .env("ROSTER_LOGIN_RATE_LIMIT", "off")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("roster logs its address before exiting")
            .expect("a log line");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(a) = v["address"].as_str() {
            break a.to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Roster(child), format!("http://{addr}"))
}

/// The content a write gives a user: enough to tell versions apart and to
/// see a mix of two (name and attributes always carry the same step).
#[derive(Debug, Clone, PartialEq)]
struct Content {
    version: u64,
    name: String,
    step: u64,
}

impl Content {
    fn of(u: &Value) -> Content {
        Content {
            version: u["version"].as_u64().expect("a version"),
            name: u["name"].as_str().unwrap_or("").to_owned(),
            step: u["attributes"]["step"].as_u64().unwrap_or(u64::MAX),
        }
    }
}

/// What the clients know about one user (keyed by its unique email).
#[derive(Debug, Default)]
struct Known {
    id: Option<String>,
    /// The last acknowledged state: `None` before the create was
    /// acknowledged or after an acknowledged delete.
    acked: Option<Content>,
    deleted: bool,
    /// The one write whose outcome is unknown (the kill cut it off); the
    /// client stops touching the user after it. `Some(None)` is a delete.
    unknown: Option<Option<Content>>,
}

#[derive(Default)]
struct Tally {
    acked: usize,
    unknown: usize,
    checked: usize,
}

type Model = Arc<Mutex<HashMap<String, Known>>>;

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_write() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let model: Model = Arc::default();
    let mut tally = Tally::default();
    for round in 0..ROUNDS {
        let (mut roster, base) = start_roster(dir.path(), None);
        let client = http_client();
        let token = admin_token(&client, &base).await;
        verify(&client, &base, &token, &model, &mut tally).await;

        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                let (model, stop) = (model.clone(), stop.clone());
                tokio::spawn(
                    async move { drive(&client, &base, &token, &model, &stop, round, c).await },
                )
            })
            .collect();
        let delay = rand::rng().random_range(50..=400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        roster.0.kill().expect("SIGKILL");
        roster.0.wait().expect("reaped");
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            let (acked, unknown) = c.await.expect("client task");
            tally.acked += acked;
            tally.unknown += unknown;
        }

        // The process is gone, so its lock is free: check the file offline.
        let store = roster::store::Store::open(dir.path()).expect("the killed store opens");
        let report = store.check().expect("the check runs");
        // And the index, as the kill left it, holds each user at most once.
        let (index, _) = roster::search::SearchIndex::open(&dir.path().join("index"))
            .expect("the killed index opens");
        let ids = index.all_ids().expect("the index reads");
        let mut seen = std::collections::HashSet::new();
        let twice: Vec<_> = ids.iter().filter(|id| !seen.insert(**id)).collect();
        assert!(twice.is_empty(), "round {round}: indexed twice: {twice:x?}");
        drop(index);
        assert!(report.is_healthy(), "round {round}: {:#?}", report.problems);
        store.close().await;
    }
    let (roster, base) = start_roster(dir.path(), None);
    let client = http_client();
    let token = admin_token(&client, &base).await;
    verify(&client, &base, &token, &model, &mut tally).await;
    drop(roster);
    eprintln!(
        "crash test: {ROUNDS} SIGKILL rounds, {CLIENTS} clients, {} acknowledged writes, \
         {} unknown outcomes, {} user checks after restarts, {:.1} s",
        tally.acked,
        tally.unknown,
        tally.checked,
        started.elapsed().as_secs_f64()
    );
}

async fn admin_token(client: &Client, base: &str) -> String {
    login(client, base, ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// One client: creates users and patches or deletes them, one request at a
/// time, until the server dies. Returns (acknowledged, unknown) counts.
async fn drive(
    client: &Client,
    base: &str,
    token: &str,
    model: &Model,
    stop: &AtomicBool,
    round: usize,
    c: usize,
) -> (usize, usize) {
    let (mut acked, mut unknown) = (0, 0);
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let email = format!("r{round}c{c}n{n}@crash.test");
        let first = Content {
            version: 1,
            name: format!("step 0 of {email}"),
            step: 0,
        };
        model.lock().await.entry(email.clone()).or_default();
        let res = client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(token)
            .json(&json!({"email": email, "name": first.name, "attributes": {"step": 0}}))
            .send()
            .await;
        let body: Value = match res {
            Ok(r) if r.status() == StatusCode::CREATED => r.json().await.expect("user json"),
            Ok(r) => panic!("create of {email}: {}", r.status()),
            Err(_) => {
                model.lock().await.get_mut(&email).expect("known").unknown = Some(Some(first));
                unknown += 1;
                break;
            }
        };
        acked += 1;
        let id = body["id"].as_str().expect("an id").to_owned();
        assert_eq!(Content::of(&body), first);
        {
            let mut m = model.lock().await;
            let k = m.get_mut(&email).expect("known");
            k.id = Some(id.clone());
            k.acked = Some(first.clone());
        }
        let mut current = first;
        let patches = (n + c) % 4;
        for step in 1..=patches as u64 {
            let next = Content {
                version: current.version + 1,
                name: format!("step {step} of {email}"),
                step,
            };
            let res = client
                .patch(format!("{base}/api/v1/users/{id}"))
                .bearer_auth(token)
                .header("If-Match", format!("\"{}\"", current.version))
                .json(&json!({"name": next.name, "attributes": {"step": step}}))
                .send()
                .await;
            match res {
                Ok(r) if r.status() == StatusCode::OK => {
                    let body: Value = r.json().await.expect("user json");
                    assert_eq!(Content::of(&body), next);
                    acked += 1;
                    model.lock().await.get_mut(&email).expect("known").acked = Some(next.clone());
                    current = next;
                }
                Ok(r) => panic!("patch of {email}: {}", r.status()),
                Err(_) => {
                    model.lock().await.get_mut(&email).expect("known").unknown = Some(Some(next));
                    return (acked, unknown + 1);
                }
            }
        }
        if n % 3 == 2 {
            let res = client
                .delete(format!("{base}/api/v1/users/{id}"))
                .bearer_auth(token)
                .header("If-Match", format!("\"{}\"", current.version))
                .send()
                .await;
            match res {
                Ok(r) if r.status() == StatusCode::NO_CONTENT => {
                    acked += 1;
                    let mut m = model.lock().await;
                    let k = m.get_mut(&email).expect("known");
                    k.acked = None;
                    k.deleted = true;
                }
                Ok(r) => panic!("delete of {email}: {}", r.status()),
                Err(_) => {
                    model.lock().await.get_mut(&email).expect("known").unknown = Some(None);
                    return (acked, unknown + 1);
                }
            }
        }
    }
    (acked, unknown)
}

/// Checks the restarted server against everything the clients know, then
/// resolves each unknown outcome to what the server kept.
async fn verify(client: &Client, base: &str, token: &str, model: &Model, tally: &mut Tally) {
    let listed = list_all(client, base, token).await;
    let by_email: HashMap<&str, &Value> = listed
        .iter()
        .map(|u| (u["email"].as_str().expect("an email"), u))
        .collect();
    let mut m = model.lock().await;
    for (email, k) in m.iter_mut() {
        tally.checked += 1;
        let found = by_email.get(email.as_str()).copied();
        let now = found.map(Content::of);
        let allowed_after_ack = if k.deleted { None } else { k.acked.clone() };
        let ok = match &k.unknown {
            None => now == allowed_after_ack,
            Some(pending) => now == allowed_after_ack || now == *pending,
        };
        assert!(
            ok,
            "{email}: the server has {now:?}; acknowledged {allowed_after_ack:?}, \
             deleted {}, unknown outcome {:?}",
            k.deleted, k.unknown
        );
        if let (Some(id), Some(u)) = (&k.id, found) {
            assert_eq!(u["id"].as_str(), Some(id.as_str()), "{email}");
        }
        if let Some(id) = &k.id
            && found.is_none()
        {
            let res = client
                .get(format!("{base}/api/v1/users/{id}"))
                .bearer_auth(token)
                .check()
                .await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{email}");
        }
        // What the server kept is now the acknowledged state.
        k.unknown = None;
        k.deleted = found.is_none();
        k.acked = now;
        k.id = found.map(|u| u["id"].as_str().expect("an id").to_owned());
    }

    // Search converges on the store: same total, and every user found by
    // its email.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut missing = Vec::new();
    loop {
        let total = search(client, base, token, "")
            .await
            .map(|r| r["total"].as_u64().unwrap_or(u64::MAX));
        if total == Some(listed.len() as u64) {
            missing.clear();
            for (email, k) in m.iter() {
                let Some(id) = &k.id else { continue };
                let hits = search(client, base, token, email).await;
                let found = hits.as_ref().is_some_and(|r| {
                    r["hits"]
                        .as_array()
                        .is_some_and(|hs| hs.iter().any(|h| h["user"]["id"].as_str() == Some(id)))
                });
                if !found {
                    missing.push(email.clone());
                }
            }
            if missing.is_empty() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "search did not converge within 5 s: total {total:?} for {} listed users; \
             not found by email: {missing:?}",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The search response for `q`, or None while search cannot answer.
async fn search(client: &Client, base: &str, token: &str, q: &str) -> Option<Value> {
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let res = client
        .get(format!("{base}/api/v1/users/search?q={q}&limit=200"))
        .bearer_auth(token)
        .check()
        .await;
    if res.status() != StatusCode::OK {
        return None;
    }
    Some(res.json().await.expect("search json"))
}

/// Every user, through the list endpoint (the store's view).
async fn list_all(client: &Client, base: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let res = client
            .request(
                Method::GET,
                format!("{base}/api/v1/users?limit=200{cursor}"),
            )
            .bearer_auth(token)
            .check()
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.expect("page json");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return items,
        }
    }
}
