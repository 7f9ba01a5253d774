use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::Checked;
use crate::helpers::spawn_app;

#[tokio::test]
async fn racing_creates_with_one_email_have_exactly_one_winner() {
    let app = spawn_app().await;
    for round in 0..5 {
        let requests = (0..24).map(|i| {
            // The same address in different cases.
            let email = if i % 2 == 0 {
                format!("race{round}@example.com")
            } else {
                format!("RACE{round}@Example.COM")
            };
            let app = &app;
            async move {
                app.send_json(Method::POST, "/api/v1/users", &json!({"email": email}))
                    .await
                    .status()
            }
        });
        let statuses = join_all(requests).await;
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        let conflicts = statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count();
        assert_eq!((created, conflicts), (1, 23), "round {round}: {statuses:?}");
    }
    let page: Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        5 + 1,
        "five winners and the admin"
    );
}

#[tokio::test]
async fn racing_patches_with_one_if_match_have_exactly_one_winner() {
    let app = spawn_app().await;
    let u = app.create_user(json!({"email": "ada@example.com"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let requests = (0..24).map(|i| {
        let (app, path) = (&app, &path);
        async move {
            let res = app
                .request(Method::PATCH, path)
                .header("if-match", "\"1\"")
                .json(&json!({"name": format!("writer {i}")}))
                .check()
                .await;
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }
    });
    let results = join_all(requests).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED)
    );
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["version"], 2);
    assert_eq!(&current, winners[0], "the stored user is the winner's");
}

#[tokio::test]
async fn racing_delete_and_updates_leave_a_consistent_store() {
    let app = spawn_app().await;
    let u = app
        .create_user(json!({"email": "ada@example.com", "username": "ada"}))
        .await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let patches = (0..10).map(|i| {
        let (app, path) = (&app, &path);
        async move {
            app.send_json(Method::PATCH, path, &json!({"name": format!("n{i}")}))
                .await
                .status()
        }
    });
    let delete = async { app.request(Method::DELETE, &path).check().await.status() };
    let (statuses, deleted) = tokio::join!(join_all(patches), delete);
    assert_eq!(deleted, StatusCode::NO_CONTENT);
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    // Its unique keys were released with it.
    app.create_user(json!({"email": "ada@example.com", "username": "ada"}))
        .await;
}

#[tokio::test]
async fn concurrent_creates_are_all_acknowledged_and_stored() {
    let app = spawn_app().await;
    let requests = (0..200).map(|i| {
        let app = &app;
        async move {
            let res = app
                .send_json(
                    Method::POST,
                    "/api/v1/users",
                    &json!({"email": format!("u{i}@example.com")}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let mut acked = join_all(requests).await;
    acked.sort();
    let page: Value = app
        .get("/api/v1/users?limit=500")
        .await
        .json()
        .await
        .unwrap();
    let mut stored: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"] != crate::helpers::ADMIN_EMAIL)
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    assert_eq!(acked, stored);
}
