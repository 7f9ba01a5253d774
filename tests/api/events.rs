//! The change stream (`GET /api/v1/events`) read by an SSE client written
//! here from the HTML specification (`tests/support/sse.rs`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Checked, TestApp, assert_problem, login, spawn_app_tuned};
use crate::sse::{SseClient, SseEvent};

const WAIT: Duration = Duration::from_secs(30);

fn stream_url(app: &TestApp, query: &str) -> String {
    app.url(&format!("/api/v1/events{query}"))
}

fn id_of(e: &SseEvent) -> u64 {
    e.id.as_deref().unwrap().parse().unwrap()
}

/// Reads events until one whose data has `email`; returns all read.
async fn until_email(s: &mut crate::sse::SseStream, email: &str) -> Vec<SseEvent> {
    let mut out = Vec::new();
    loop {
        let e = s
            .next_event(WAIT)
            .await
            .expect("an event before the timeout");
        let done = e.json()["data"]["email"] == email;
        out.push(e);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn a_resume_with_last_event_id_gets_exactly_the_missed_events_under_concurrent_writes() {
    let app = spawn_app_tuned(|_| {}).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, token) = (
                app.client.clone(),
                app.url("/api/v1/users"),
                app.token.clone(),
            );
            tokio::spawn(async move {
                for i in 0..60 {
                    let res = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"email": format!("w{w}-{i}@example.com")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    let mut first =
        SseClient::connect(&app.client, &stream_url(&app, "?after=0"), &app.token, None).await;
    let mut seen: Vec<u64> = Vec::new();
    while seen.len() < 40 {
        let e = first.next_event(WAIT).await.expect("an event");
        assert_eq!(e.event, "user.created");
        seen.push(id_of(&e));
    }
    drop(first);
    // Writes go on while no one listens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = *seen.last().unwrap();
    let mut second =
        SseClient::connect(&app.client, &stream_url(&app, ""), &app.token, Some(last)).await;
    for w in writers {
        w.await.unwrap();
    }
    app.create_user(json!({"email": "marker@example.com"}))
        .await;
    let rest = until_email(&mut second, "marker@example.com").await;
    seen.extend(rest.iter().map(id_of));
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(seen, expected, "every event once, in order, none missing");
    assert_eq!(
        seen.len(),
        1 + 4 * 60 + 1,
        "the admin, the writers' users, the marker"
    );
}

#[tokio::test]
async fn filters_types_checks_callers_and_says_reset_when_the_position_is_gone() {
    // Retention zero: a restart prunes what the index has applied.
    let app = spawn_app_tuned(|c| c.change_retention = Duration::ZERO).await;
    let u = app
        .create_user(json!({"email": "ada@example.com", "password": "correct horse 1"}))
        .await;
    // Callers: none, a plain user, a users:read key.
    let res = app.anon(Method::GET, "/api/v1/events").check().await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let ada = login(&app.client, &app.base, "ada@example.com", "correct horse 1").await;
    let res = app
        .as_token(
            ada["access_token"].as_str().unwrap(),
            Method::GET,
            "/api/v1/events",
        )
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    for q in ["?types=user.exploded", "?after=x", "?since=1"] {
        let res = app.get(&format!("/api/v1/events{q}")).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    let res = app
        .request(Method::GET, "/api/v1/events")
        .header("last-event-id", "yesterday")
        .check()
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "follower", "scopes": ["users:read"]}),
        )
        .await;
    let key: Value = res.json().await.unwrap();
    let key = key["secret"].as_str().unwrap().to_owned();

    // A filter: only deletions, from now on.
    let mut deletions = SseClient::connect(
        &app.client,
        &stream_url(&app, "?types=user.deleted"),
        &key,
        None,
    )
    .await;
    let id = u["id"].as_str().unwrap();
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &json!({"name": "A"}),
    )
    .await;
    app.request(Method::DELETE, &format!("/api/v1/users/{id}"))
        .check()
        .await;
    let e = deletions.next_event(WAIT).await.expect("the deletion");
    assert_eq!(e.event, "user.deleted");
    assert_eq!(e.json()["data"]["name"], "A", "as it was");
    drop(deletions);

    // Past the newest id (another store, a restore): reset.
    let mut s = SseClient::connect(
        &app.client,
        &stream_url(&app, "?after=999999"),
        &app.token,
        None,
    )
    .await;
    let e = s.next_event(WAIT).await.expect("reset");
    assert_eq!(e.event, "reset");
    let last = e.json()["last_id"].as_u64().unwrap();
    assert_eq!(id_of(&e), last);
    drop(s);

    // Pruned: a restart runs the retention pass.
    let (data, guard) = app.stop().await;
    let mut config = crate::helpers::test_config(&data);
    config.change_retention = Duration::ZERO;
    let app = crate::helpers::spawn_app_with(config).await;
    let _guard = guard;
    let (mut s, last) = loop {
        let mut s =
            SseClient::connect(&app.client, &stream_url(&app, "?after=0"), &app.token, None).await;
        let e = s.next_event(WAIT).await.expect("an event");
        if e.event == "reset" {
            break (s, id_of(&e));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // …and goes on live after it, with the next id (a pruned log never
    // hands out an id twice).
    app.create_user(json!({"email": "new@example.com"})).await;
    let e = s.next_event(WAIT).await.expect("the new user");
    assert_eq!(e.event, "user.created");
    assert_eq!(e.json()["data"]["email"], "new@example.com");
    assert_eq!(id_of(&e), last + 1);
}
