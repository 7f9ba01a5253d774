use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{Checked, assert_problem, error_fields, spawn_app};

#[tokio::test]
async fn seed_examples_work_as_written() {
    let app = spawn_app().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"name": "John", "email": "john@example.com"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["etag"], "\"1\"");
    let user: Value = res.json().await.unwrap();
    let id = user["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/users/{id}"));
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(user["name"], "John");
    assert_eq!(user["email"], "john@example.com");
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["status"], "active");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["attributes"], json!({}));
    assert_eq!(user["version"], 1);
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    let res = app.get(&location).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), user);

    let res = app
        .get("/api/v1/users/0192f5b3-7c1e-7a4b-8c3d-1e2f3a4b5c6d")
        .await;
    let p = assert_problem(res, StatusCode::NOT_FOUND).await;
    assert_eq!(p["title"], "Not found");
    assert_problem(
        app.get("/api/v1/users/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn validation_errors_name_every_bad_field() {
    let app = spawn_app().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "not an email", "name": "x".repeat(201), "username": "bad name",
                    "roles": ["wizard"], "status": "asleep", "email_verified": "yes",
                    "attributes": {"big": "y".repeat(17 * 1024)}, "version": 9, "colour": "red"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(
        fields,
        [
            "attributes",
            "colour",
            "email",
            "email_verified",
            "name",
            "roles",
            "status",
            "username",
            "version"
        ]
    );
    for e in p["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let p = assert_problem(
        app.send_json(Method::POST, "/api/v1/users", &json!({"name": "No Email"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&p), ["email"]);

    // Nothing was created by any of that: only the bootstrap admin exists.
    let list: Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_bodies_and_routes_are_problems() {
    let app = spawn_app().await;
    let post = |body: &'static [u8], ct: &'static str| {
        app.request(Method::POST, "/api/v1/users")
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        post(b"{\"email\": ", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        post(b"\xff\xfe{}", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        post(b"[1, 2]", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        post(b"{}", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let nested = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let res = app
        .request(Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body(nested)
        .check()
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;

    let huge = json!({"email": "big@example.com", "name": "x".repeat(2 * 1024 * 1024)});
    assert_problem(
        app.send_json(Method::POST, "/api/v1/users", &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;

    assert_problem(app.get("/api/v1/nothing-here").await, StatusCode::NOT_FOUND).await;
    assert_problem(app.get("/nope").await, StatusCode::NOT_FOUND).await;
    let res = app.request(Method::DELETE, "/api/v1/users").check().await;
    assert!(res.headers().contains_key("allow"));
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED).await;

    // The server is still fine.
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn emails_and_usernames_are_unique_ignoring_case_and_normalisation() {
    let app = spawn_app().await;
    app.create_user(json!({"email": "Ada@Example.com", "username": "Ada"}))
        .await;
    app.create_user(json!({"email": "jos\u{e9}@example.com"}))
        .await;
    for body in [
        json!({"email": "ada@example.com"}),
        json!({"email": "ADA@EXAMPLE.COM"}),
        json!({"email": "other@example.com", "username": "ada"}),
        json!({"email": "jose\u{301}@example.com"}),
    ] {
        let res = app.send_json(Method::POST, "/api/v1/users", &body).await;
        let p = assert_problem(res, StatusCode::CONFLICT).await;
        assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    }
    // A look-alike (Cyrillic 'а') is a different address, not the same user.
    app.create_user(json!({"email": "\u{430}da@example.com"}))
        .await;
}

#[tokio::test]
async fn patch_is_a_merge_patch_with_if_match() {
    let app = spawn_app().await;
    let u = app
        .create_user(
            json!({"email": "ada@example.com", "username": "ada", "name": "Ada",
                            "attributes": {"team": "engines", "floor": 3}}),
        )
        .await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());

    let res = app
        .request(Method::PATCH, &path)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"name": "Ada Lovelace", "username": null, "attributes": {"floor": null, "lang": "en"}}"#)
        .check().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], "\"2\"");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["name"], "Ada Lovelace");
    assert_eq!(v["username"], Value::Null);
    assert_eq!(v["attributes"], json!({"team": "engines", "lang": "en"}));
    assert_eq!(v["version"], 2);
    assert_eq!(v["created_at"], u["created_at"]);
    assert_ne!(v["updated_at"], u["updated_at"]);

    // If-Match with a stale version: 412, nothing changes.
    let res = app
        .request(Method::PATCH, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Stale"}))
        .check()
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED).await;
    let res = app
        .request(Method::PATCH, &path)
        .header("if-match", "W/\"2\"")
        .json(&json!({"name": "Weak"}))
        .check()
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED).await;
    let res = app
        .request(Method::PATCH, &path)
        .header("if-match", "\"2\"")
        .json(&json!({"status": "disabled"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["name"], "Ada Lovelace");
    assert_eq!(current["status"], "disabled");
    assert_eq!(current["version"], 3);

    // Read-only and unknown fields, and bad values, change nothing.
    for (body, field) in [
        (json!({"id": "0192f5b3-7c1e-7a4b-8c3d-1e2f3a4b5c6d"}), "id"),
        (json!({"version": 99}), "version"),
        (json!({"created_at": "2020-01-01T00:00:00Z"}), "created_at"),
        (json!({"password_hash": "x"}), "password_hash"),
        (json!({"email": null}), "email"),
        (json!({"roles": ["root"]}), "roles"),
    ] {
        let p = assert_problem(
            app.send_json(Method::PATCH, &path, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&p), [field], "{body}");
    }
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(after, current);

    // Taking another user's email is a conflict and changes nothing.
    app.create_user(json!({"email": "grace@example.com"})).await;
    let res = app
        .send_json(Method::PATCH, &path, &json!({"email": "GRACE@example.com"}))
        .await;
    assert_problem(res, StatusCode::CONFLICT).await;
    assert_eq!(app.get(&path).await.json::<Value>().await.unwrap(), current);

    let missing = "/api/v1/users/0192f5b3-7c1e-7a4b-8c3d-1e2f3a4b5c6d";
    assert_problem(
        app.send_json(Method::PATCH, missing, &json!({"name": "x"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn put_replaces_writable_fields() {
    let app = spawn_app().await;
    let u = app
        .create_user(
            json!({"email": "ada@example.com", "username": "ada", "name": "Ada",
                            "roles": ["admin", "user"], "attributes": {"a": 1}}),
        )
        .await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let res = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"email": "lovelace@example.com"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["email"], "lovelace@example.com");
    assert_eq!(v["username"], Value::Null);
    assert_eq!(v["name"], Value::Null);
    assert_eq!(v["roles"], json!(["user"]));
    assert_eq!(v["attributes"], json!({}));
    assert_eq!(v["version"], 2);
    assert_eq!(v["id"], u["id"]);

    // The old email and username are free again; the new email is taken.
    app.create_user(json!({"email": "ada@example.com", "username": "ada"}))
        .await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "Lovelace@example.com"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT).await;

    let res = app
        .request(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"email": "x@example.com"}))
        .check()
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED).await;
    let res = app
        .send_json(Method::PUT, &path, &json!({"name": "no email"}))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let missing = "/api/v1/users/0192f5b3-7c1e-7a4b-8c3d-1e2f3a4b5c6d";
    assert_problem(
        app.send_json(Method::PUT, missing, &json!({"email": "m@example.com"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn delete_removes_the_user_and_frees_its_email() {
    let app = spawn_app().await;
    let u = app
        .create_user(json!({"email": "ada@example.com", "username": "ada"}))
        .await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());

    let res = app
        .request(Method::DELETE, &path)
        .header("if-match", "\"7\"")
        .check()
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);

    let res = app
        .request(Method::DELETE, &path)
        .header("if-match", "\"1\"")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.request(Method::DELETE, &path).check().await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.create_user(json!({"email": "ADA@example.com", "username": "ADA"}))
        .await;
}

#[tokio::test]
async fn conditional_get_and_response_headers() {
    let app = spawn_app().await;
    let u = app.create_user(json!({"email": "ada@example.com"})).await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let res = app
        .request(Method::GET, &path)
        .header("if-none-match", "\"1\"")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let res = app
        .request(Method::GET, &path)
        .header("if-none-match", "\"0\"")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Request ids: echoed when sent, generated otherwise.
    let res = app
        .request(Method::GET, "/livez")
        .header("x-request-id", "abc-123")
        .check()
        .await;
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    for bad in ["x".repeat(500), "a b c".to_string()] {
        let res = app
            .request(Method::GET, "/livez")
            .header("x-request-id", bad.as_str())
            .check()
            .await;
        let echoed = res.headers()["x-request-id"].to_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(echoed).is_ok(),
            "{bad:?} replaced by a generated id"
        );
    }
    let res = app.get("/livez").await;
    let generated = res.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok());
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");

    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
}

/// A panicking handler behind the server's real layers answers a 500
/// problem, and the same service keeps answering.
#[tokio::test]
async fn a_panic_is_a_500_problem_and_serving_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = roster::Config::for_data_dir(dir.path());
    let routes = axum::Router::new()
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("kaboom");
                }
                "unreachable"
            }),
        )
        .route("/fine", get(|| async { "fine" }));
    let svc = roster::api::with_layers(routes, &config);

    let res = svc
        .clone()
        .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["status"], 500);
    assert!(
        !body.to_string().contains("kaboom"),
        "the panic message must not leak: {body}"
    );

    let res = svc
        .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
