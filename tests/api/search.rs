use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, Checked, TestApp, assert_problem, spawn_app, spawn_app_with, test_config,
};

const FIRST: [&str; 12] = [
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Oliver",
    "Charlotte",
    "Elijah",
    "Amelia",
    "James",
    "Sophia",
    "William",
    "Mia",
];
const LAST: [&str; 10] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
];

/// A few hundred generated users plus some with known names.
async fn seed(app: &TestApp) -> Vec<Value> {
    let mut bodies = Vec::new();
    for i in 0..240 {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len()) % LAST.len()];
        bodies.push(json!({
            "email": format!("{}.{}{i}@example.com", first.to_lowercase(), last.to_lowercase()),
            "name": format!("{first} {last}"),
            "roles": if i % 7 == 0 { json!(["admin", "user"]) } else { json!(["user"]) },
            "status": if i % 4 == 0 { "disabled" } else { "active" },
            "email_verified": i % 2 == 0,
            "attributes": {"team": if i % 3 == 0 { "billing" } else { "support" }, "n": i},
        }));
    }
    for (name, email, username, attrs) in [
        (
            "Grace Hopper",
            "grace@navy.example",
            Some("amazing_grace"),
            json!({}),
        ),
        ("Ana Hoppergasse", "ana@example.org", None, json!({})),
        ("Karl Hoppel", "karl@example.org", None, json!({})),
        (
            "Ada Lovelace",
            "ada@analytical.example",
            Some("ada"),
            json!({"team": "quantum engines"}),
        ),
        ("Adam Smithers", "adam@example.org", None, json!({})),
    ] {
        bodies
            .push(json!({"email": email, "name": name, "username": username, "attributes": attrs}));
    }
    let mut out = Vec::new();
    for chunk in bodies.chunks(32) {
        let futs = chunk.iter().map(|b| app.create_user(b.clone()));
        out.extend(futures::future::join_all(futs).await);
    }
    out
}

async fn search(app: &TestApp, query: &str) -> Value {
    let res = app.get(&format!("/api/v1/users/search?{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn names(r: &Value) -> Vec<String> {
    r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["user"]["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn hit_ids(r: &Value) -> Vec<String> {
    r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["user"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every user through the list endpoint (the store's view).
/// A user's creation time as a string that sorts as the time does. RFC 3339
/// times drop trailing zeros of the fraction ("…:12.1Z" is later than
/// "…:12.09Z" but sorts before it): the fraction is padded.
fn created(u: &Value) -> String {
    let t = u["created_at"].as_str().unwrap().trim_end_matches('Z');
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    format!("{whole}.{fraction:0<9}")
}

async fn all_users(app: &TestApp) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = app
            .get(&format!("/api/v1/users?limit=500{cursor}"))
            .await
            .json()
            .await
            .unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return items,
        }
    }
}

#[tokio::test]
async fn ranking_exact_then_prefix_then_typo() {
    let app = spawn_app().await;
    seed(&app).await;
    let r = search(&app, "q=hopper&consistent=true").await;
    assert_eq!(
        names(&r),
        ["Grace Hopper", "Ana Hoppergasse", "Karl Hoppel"],
        "{r}"
    );
    assert_eq!(r["total"], 3);
    let scores: Vec<f64> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[1] && scores[1] > scores[2], "{scores:?}");
    assert_eq!(
        r["hits"][0]["highlights"]["name"],
        "Grace <mark>Hopper</mark>"
    );

    // As you type, misspelt: a prefix, then a typo.
    assert_eq!(names(&search(&app, "q=lovel").await)[0], "Ada Lovelace");
    assert_eq!(names(&search(&app, "q=lovelase").await), ["Ada Lovelace"]);
    assert_eq!(names(&search(&app, "q=LOVELACE").await), ["Ada Lovelace"]);
    // Short words tolerate no typo.
    assert!(names(&search(&app, "q=adx%20lovelace").await).is_empty());
    // Name and username rank above email.
    let r = search(&app, "q=ada").await;
    assert_eq!(names(&r)[0], "Ada Lovelace");
    assert!(r["took_ms"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn a_word_common_as_typed_is_not_taken_for_a_typo() {
    let app = spawn_app().await;
    seed(&app).await;
    app.create_user(json!({"email": "tom@example.org", "name": "Tom Garcis"}))
        .await;
    // 24 users are called Garcia: "garcia" is no typo of "garcis", and the
    // one user one letter away is not among its results.
    let r = search(&app, "q=garcia&limit=50&consistent=true").await;
    assert_eq!(r["total"], 24, "{r}");
    assert!(!names(&r).contains(&"Tom Garcis".to_owned()), "{r}");
    // One user is called Garcis: few match it as typed, so it may be a
    // typo; the exact match ranks first, the 24 within one letter follow.
    let r = search(&app, "q=garcis&limit=50").await;
    assert_eq!(r["total"], 25, "{r}");
    assert_eq!(names(&r)[0], "Tom Garcis");
    assert!(names(&r)[1..].iter().all(|n| n.ends_with(" Garcia")), "{r}");
    assert_eq!(
        r["hits"][1]["highlights"]["name"]
            .as_str()
            .map(|h| h.contains("<mark>Garcia</mark>")),
        Some(true),
        "{r}"
    );
}

#[tokio::test]
async fn browsing_everyone_pages_by_creation_time() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut users = all_users(&app).await;
    users.sort_by_key(|u| (created(u), u["id"].as_str().unwrap().to_owned()));
    let oldest: Vec<String> = users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    let newest: Vec<String> = oldest.iter().rev().cloned().collect();
    for (sort, expected) in [
        ("created_at", &oldest),
        ("-created_at", &newest),
        ("relevance", &newest),
    ] {
        let mut got = Vec::new();
        for offset in (0..expected.len()).step_by(40) {
            let r = search(
                &app,
                &format!("sort={sort}&limit=40&offset={offset}&facets=status&consistent=true"),
            )
            .await;
            assert_eq!(r["total"], expected.len(), "{r}");
            let active = users.iter().filter(|u| u["status"] == "active").count();
            assert_eq!(r["facets"]["status"]["active"], active, "{r}");
            got.extend(hit_ids(&r));
        }
        assert_eq!(&got, expected, "sort={sort}");
    }
}

#[tokio::test]
async fn all_words_must_match_across_fields() {
    let app = spawn_app().await;
    seed(&app).await;
    let r = search(&app, "q=grace%20hopper&consistent=true").await;
    assert_eq!(names(&r), ["Grace Hopper"]);
    // One word in the name, one in the username.
    assert_eq!(
        names(&search(&app, "q=hopper%20amazing").await),
        ["Grace Hopper"]
    );
    // Email parts.
    assert_eq!(names(&search(&app, "q=navy").await), ["Grace Hopper"]);
    assert_eq!(
        names(&search(&app, "q=grace%40navy.example").await),
        ["Grace Hopper"]
    );
    // Attribute text, highlighted under its key.
    let r = search(&app, "q=quantum").await;
    assert_eq!(names(&r), ["Ada Lovelace"]);
    assert_eq!(
        r["hits"][0]["highlights"]["attributes.team"],
        "<mark>quantum</mark> engines"
    );
    // AND: a word no one has empties the result.
    assert_eq!(search(&app, "q=grace%20zzzzqqq").await["total"], 0);
    let both = search(&app, "q=olivia%20smith&limit=200").await;
    assert!(names(&both).iter().all(|n| n == "Olivia Smith"), "{both}");
    assert_eq!(both["total"], 2);
}

#[tokio::test]
async fn filters_and_facets_agree_with_the_store() {
    let app = spawn_app().await;
    seed(&app).await;
    let users = all_users(&app).await;
    let count = |pred: &dyn Fn(&Value) -> bool| users.iter().filter(|u| pred(u)).count();
    let has_role = |u: &Value, r: &str| u["roles"].as_array().unwrap().contains(&json!(r));

    let r = search(&app, "facets=status,roles&limit=1&consistent=true").await;
    assert_eq!(r["total"], users.len());
    assert_eq!(
        r["facets"]["status"]["active"],
        count(&|u| u["status"] == "active")
    );
    assert_eq!(
        r["facets"]["status"]["disabled"],
        count(&|u| u["status"] == "disabled")
    );
    assert_eq!(
        r["facets"]["roles"]["admin"],
        count(&|u| has_role(u, "admin"))
    );
    assert_eq!(
        r["facets"]["roles"]["user"],
        count(&|u| has_role(u, "user"))
    );

    // Facets count the filtered set.
    // After updates and deletes (deleted documents in the index's segments)
    // the counts still agree.
    // (Not the admin making the requests.)
    for u in users
        .iter()
        .filter(|u| u["email"] != ADMIN_EMAIL)
        .step_by(7)
    {
        let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
        if u["email"].as_str().unwrap().contains('3') {
            app.request(Method::DELETE, &path).check().await;
        } else {
            let flipped = if u["status"] == "active" {
                "disabled"
            } else {
                "active"
            };
            app.send_json(Method::PATCH, &path, &json!({"status": flipped}))
                .await;
        }
    }
    let now = all_users(&app).await;
    let r = search(&app, "facets=status,roles&limit=1&consistent=true").await;
    assert_eq!(r["total"], now.len());
    for (facet, value, n) in [
        (
            "status",
            "active",
            now.iter().filter(|u| u["status"] == "active").count(),
        ),
        (
            "status",
            "disabled",
            now.iter().filter(|u| u["status"] == "disabled").count(),
        ),
        (
            "roles",
            "admin",
            now.iter().filter(|u| has_role(u, "admin")).count(),
        ),
    ] {
        assert_eq!(
            r["facets"][facet][value], n,
            "{facet}={value} after changes"
        );
    }
    let users = now;
    let count = |pred: &dyn Fn(&Value) -> bool| users.iter().filter(|u| pred(u)).count();

    let r = search(&app, "status=active&facets=roles&limit=1").await;
    assert_eq!(r["total"], count(&|u| u["status"] == "active"));
    assert_eq!(
        r["facets"]["roles"]["admin"],
        count(&|u| u["status"] == "active" && has_role(u, "admin"))
    );
    assert!(r["facets"].get("status").is_none());

    let r = search(&app, "role=admin&email_verified=true&limit=1").await;
    assert_eq!(
        r["total"],
        count(&|u| has_role(u, "admin") && u["email_verified"] == true)
    );
    let r = search(&app, "q=smith&status=disabled&limit=200").await;
    assert!(
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["user"]["status"] == "disabled")
    );
    assert_eq!(
        r["total"],
        count(&|u| u["status"] == "disabled" && u["name"].as_str().unwrap_or("").contains("Smith"))
    );

    let mut by_time: Vec<&Value> = users.iter().collect();
    by_time.sort_by_key(|u| created(u));
    let (t1, t2) = (
        by_time[50]["created_at"].as_str().unwrap(),
        by_time[150]["created_at"].as_str().unwrap(),
    );
    let r = search(
        &app,
        &format!("created_after={t1}&created_before={t2}&limit=1"),
    )
    .await;
    let (k1, k2) = (created(by_time[50]), created(by_time[150]));
    assert_eq!(
        r["total"],
        count(&|u| {
            let t = created(u);
            t > k1 && t < k2
        })
    );
    // Sort by creation, both ways.
    let r = search(&app, "sort=-created_at&limit=3").await;
    assert_eq!(r["hits"][0]["user"]["id"], by_time.last().unwrap()["id"]);
    let r = search(&app, "sort=created_at&limit=3").await;
    assert_eq!(r["hits"][0]["user"]["id"], by_time[0]["id"]);
    let r = search(&app, "sort=name&limit=200&q=hopper").await;
    assert_eq!(
        names(&r),
        ["Ana Hoppergasse", "Grace Hopper", "Karl Hoppel"]
    );
}

#[tokio::test]
async fn pages_do_not_overlap() {
    let app = spawn_app().await;
    seed(&app).await;
    let total = search(&app, "limit=1&consistent=true").await["total"]
        .as_u64()
        .unwrap() as usize;
    let mut seen = Vec::new();
    for offset in (0..total).step_by(40) {
        seen.extend(hit_ids(
            &search(&app, &format!("limit=40&offset={offset}&sort=created_at")).await,
        ));
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (total, total));
    let mut seen = Vec::new();
    for offset in (0..100).step_by(25) {
        seen.extend(hit_ids(
            &search(&app, &format!("q=smith&limit=25&offset={offset}")).await,
        ));
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

async fn within_a_second(app: &TestApp, query: &str, pred: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if pred(&search(app, query).await) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not reflected within 1 s: {query}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn writes_show_in_search_within_a_second() {
    let app = spawn_app().await;
    let u = app
        .create_user(json!({"email": "zed@example.com", "name": "Zebedee Quixote"}))
        .await;
    within_a_second(&app, "q=zebedee", |r| r["total"] == 1).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    app.send_json(Method::PATCH, &path, &json!({"name": "Xanthippe Quixote"}))
        .await;
    within_a_second(&app, "q=xanthippe", |r| r["total"] == 1).await;
    assert_eq!(search(&app, "q=zebedee").await["total"], 0);
    app.request(Method::DELETE, &path).check().await;
    within_a_second(&app, "q=quixote", |r| r["total"] == 0).await;

    // consistent=true sees a write at once.
    app.create_user(json!({"email": "yves@example.com", "name": "Yvonne Ystad"}))
        .await;
    assert_eq!(search(&app, "q=ystad&consistent=true").await["total"], 1);
}

#[tokio::test]
async fn garbage_queries_are_answered_never_500() {
    let app = spawn_app().await;
    seed(&app).await;
    let long = "a".repeat(600);
    let cases = [
        "q=%22",
        "q=%22unterminated",
        "q=a:b",
        "q=(((",
        "q=)))",
        "q=AND",
        "q=OR%20NOT",
        "q=*",
        "q=%3F",
        "q=name:ada",
        "q=%5C",
        "q=%2B-%21%28%29%7B%7D%5B%5D%5E%22~*%3F:%5C/",
        "q=%F0%9F%A6%80",
        "q=%00",
        "q=a%20b%20c%20d%20e%20f%20g%20h%20i%20j%20k%20l%20m",
        "q=%E2%80%8B",
        "q=ab..cd",
        "q=%25%25",
    ];
    for q in cases {
        let res = app.get(&format!("/api/v1/users/search?{q}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{q}");
    }
    for q in [
        format!("q={long}"),
        "limit=0".into(),
        "limit=201".into(),
        "offset=10001".into(),
        "sort=score".into(),
        "facets=colour".into(),
        "status=gone".into(),
        "role=root".into(),
        "created_after=yesterday".into(),
        "email_verified=maybe".into(),
        "consistent=1".into(),
        "bogus=1".into(),
    ] {
        let res = app.get(&format!("/api/v1/users/search?{q}")).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn search_is_for_admins_and_readers_only() {
    let app = spawn_app().await;
    app.create_user(json!({"email": "plain@example.com", "password": "plain-password"}))
        .await;
    let t = crate::helpers::login(
        &app.client,
        &app.base,
        "plain@example.com",
        "plain-password",
    )
    .await;
    let res = app
        .as_token(
            t["access_token"].as_str().unwrap(),
            Method::GET,
            "/api/v1/users/search?q=x",
        )
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let key: Value = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "r", "scopes": ["users:read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .as_token(
            key["secret"].as_str().unwrap(),
            Method::GET,
            "/api/v1/users/search?q=x",
        )
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .anon(Method::GET, "/api/v1/users/search?q=x")
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

/// A fixed set of queries and their results, to compare an index with another.
async fn snapshot(app: &TestApp) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    for q in [
        "q=hopper",
        "q=smith&limit=50",
        "q=lovelase",
        "q=olivia%20jon",
        "facets=status,roles&limit=200&sort=created_at",
        "q=billing&status=active&limit=200",
    ] {
        let mut r = search(app, q).await;
        r.as_object_mut().unwrap().remove("took_ms");
        out.insert(q, r);
    }
    out
}

/// Compares two snapshots query by query, naming the first that differs.
fn same(a: &BTreeMap<&'static str, Value>, b: &BTreeMap<&'static str, Value>) {
    for (q, va) in a {
        let vb = &b[q];
        if va != vb {
            let (na, nb) = (hit_ids(va), hit_ids(vb));
            panic!(
                "query {q} differs: totals {} vs {}, facets {} vs {}, ids equal as sets: {}, same order: {}",
                va["total"],
                vb["total"],
                va["facets"],
                vb["facets"],
                na.iter().collect::<HashSet<_>>() == nb.iter().collect::<HashSet<_>>(),
                na == nb
            );
        }
    }
}

async fn index_state(app: &TestApp) -> Value {
    app.get("/readyz").await.json::<Value>().await.unwrap()["checks"]["index"].clone()
}

async fn wait_ready(app: &TestApp) {
    let start = Instant::now();
    while index_state(app).await["state"] != "ready" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "index never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.get("/api/v1/users/search?consistent=true")
            .await
            .status()
            .is_success()
    );
}

#[tokio::test]
async fn restart_resumes_and_a_lost_or_damaged_index_is_rebuilt_identically() {
    let app = spawn_app().await;
    seed(&app).await;
    search(&app, "consistent=true").await;
    let before = snapshot(&app).await;
    let state = index_state(&app).await;
    assert_eq!(
        state["rebuilt_at_start"], true,
        "a new data dir starts with an empty index"
    );
    assert_eq!(state["lag"], 0);
    let (dir, guard) = app.stop().await;

    // Restart: resumes from the commit payload, no rebuild.
    let app = spawn_app_with(test_config(&dir)).await;
    let state = index_state(&app).await;
    assert_eq!(state["rebuilt_at_start"], false, "{state}");
    assert_eq!(state["state"], "ready");
    same(&snapshot(&app).await, &before);
    app.stop().await;

    // Index deleted while stopped: rebuilt, same answers.
    std::fs::remove_dir_all(dir.join("index")).unwrap();
    let app = spawn_app_with(test_config(&dir)).await;
    wait_ready(&app).await;
    assert_eq!(index_state(&app).await["rebuilt_at_start"], true);
    same(&snapshot(&app).await, &before);
    app.stop().await;

    // Files truncated while stopped: detected, rebuilt, same answers.
    for entry in std::fs::read_dir(dir.join("index")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "idx" || e == "term" || e == "fast")
        {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(3)
                .unwrap();
        }
    }
    let app = spawn_app_with(test_config(&dir)).await;
    wait_ready(&app).await;
    assert_eq!(index_state(&app).await["rebuilt_at_start"], true);
    same(&snapshot(&app).await, &before);
    app.stop().await;

    // Another schema version: rebuilt.
    std::fs::write(dir.join("index").join("roster-index-version"), "0").unwrap();
    let app = spawn_app_with(test_config(&dir)).await;
    wait_ready(&app).await;
    assert_eq!(index_state(&app).await["rebuilt_at_start"], true);
    same(&snapshot(&app).await, &before);
    app.stop().await;
    drop(guard);
}

#[tokio::test]
async fn offline_reindex_rebuilds_the_index() {
    let app = spawn_app().await;
    seed(&app).await;
    search(&app, "consistent=true").await;
    let before = snapshot(&app).await;
    let (dir, guard) = app.stop().await;
    let out = std::process::Command::new(crate::helpers::roster_bin())
        .args(["reindex", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("indexed 246 users"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let app = spawn_app_with(test_config(&dir)).await;
    assert_eq!(
        index_state(&app).await["rebuilt_at_start"],
        false,
        "reindex left a complete index"
    );
    same(&snapshot(&app).await, &before);
    assert_eq!(
        search(&app, "limit=1").await["total"].as_u64().unwrap() as usize,
        all_users(&app).await.len()
    );
    assert!(
        all_users(&app)
            .await
            .iter()
            .any(|u| u["email"] == ADMIN_EMAIL)
    );
    app.stop().await;
    drop(guard);
}
