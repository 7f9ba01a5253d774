//! Housekeeping in a running server: expired sessions leave the store while
//! writers go on, and API keys show when they were last used.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Checked, assert_problem, login, spawn_app_tuned};

#[tokio::test]
async fn expired_sessions_are_swept_while_writers_run_and_key_use_is_saved() {
    let app = spawn_app_tuned(|c| {
        // A sweep every second (ten ticks), sessions that live two.
        c.housekeeping_every = Duration::from_millis(100);
        c.auth.refresh_token_ttl = Duration::from_secs(2);
    })
    .await;
    // The admin's own session expires too: an admin key does the rest.
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "ops", "scopes": ["admin"]}),
        )
        .await;
    let key: Value = res.json().await.unwrap();
    let key = key["secret"].as_str().unwrap().to_owned();
    let as_key = |method: Method, path: &str| app.as_token(&key, method, path);
    let res = as_key(Method::POST, "/api/v1/users")
        .json(&json!({"email": "ada@example.com", "password": "correct horse 1"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ada: Value = res.json().await.unwrap();
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let mut old_refresh = Vec::new();
    for _ in 0..20 {
        let t = login(&app.client, &app.base, "ada@example.com", "correct horse 1").await;
        old_refresh.push(t["refresh_token"].as_str().unwrap().to_owned());
    }

    // Writers run while sessions expire and sweeps go by.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, key) = (app.client.clone(), app.url("/api/v1/users"), key.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let mut n = 0;
                while started.elapsed() < Duration::from_millis(3500) {
                    let res = client
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"email": format!("w{w}-{n}@example.com")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::CREATED);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    assert!(written > 0);
    // Sweeps go on for a moment (a slow machine stretches the ticks).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = login(&app.client, &app.base, "ada@example.com", "correct horse 1").await;

    // An expired session's token is refused (it was anyway).
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": old_refresh[0]}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // The key's use was saved by a tick, to the minute.
    let keys: Value = as_key(Method::GET, "/api/v1/api-keys")
        .check()
        .await
        .json()
        .await
        .unwrap();
    let used = keys["items"][0]["last_used_at"]
        .as_str()
        .unwrap_or_else(|| panic!("{keys}"));
    let used =
        time::OffsetDateTime::parse(used, &time::format_description::well_known::Rfc3339).unwrap();
    let age = time::OffsetDateTime::now_utc() - used;
    assert!(
        age < time::Duration::minutes(1) && age >= time::Duration::ZERO,
        "{age}"
    );
    assert!(fresh["refresh_token"].is_string());

    // In the store: the twenty expired sessions are gone, the fresh one
    // stays, and the users written meanwhile are all there.
    let (data, _guard) = app.stop().await;
    let store = roster::store::Store::open(&data).unwrap();
    let uid = roster::domain::UserId::parse(&ada_id).unwrap();
    let (sessions, users) = store
        .read(|r| Ok((r.user_sessions(uid)?, r.count_users()?)))
        .unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(
        users,
        2 + written as u64,
        "the admin, ada and the writers' users"
    );
    store.close().await;
}
