//! Webhooks against a real receiver on loopback that checks every
//! signature with its own implementation of Standard Webhooks
//! (`tests/support/webhook_receiver.rs`), and the real binary killed with
//! SIGKILL in the middle of 10 000 deliveries.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crash::start_roster_with;
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Checked, TestApp, assert_problem, error_fields, http_client,
    login, spawn_app_tuned,
};
use crate::webhook_receiver::WebhookReceiver;

const WAIT: Duration = Duration::from_secs(60);

async fn app_allowing_loopback() -> TestApp {
    spawn_app_tuned(|c| {
        c.webhooks.allow_insecure = true;
        c.webhooks.allow_private = true;
    })
    .await
}

/// Registers `url` for `types` (all when empty); returns (id, secret).
async fn register(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/webhooks",
            &json!({"url": url, "event_types": types}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{body}");
    (body["id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn endpoints_are_validated_and_their_secret_is_shown_once() {
    // Default settings: https only, public addresses only.
    let strict = spawn_app_tuned(|_| {}).await;
    for (url, why) in [
        ("http://example.com/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://10.0.0.8/hook", "private"),
        ("https://localhost:9/hook", "a name for loopback"),
        ("ftp://example.com/hook", "scheme"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("not a url", "syntax"),
    ] {
        let res = strict
            .send_json(Method::POST, "/api/v1/webhooks", &json!({"url": url}))
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&p), ["url"], "{url} ({why}): {p}");
    }
    let res = strict
        .send_json(
            Method::POST,
            "/api/v1/webhooks",
            &json!({"url": "https://example.com/hook", "event_types": ["user.exploded"], "colour": 1}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&p), ["event_types", "colour"], "{p}");
    let listed: Value = strict.get("/api/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "refusals change nothing");

    let app = app_allowing_loopback().await;
    // Even then, plain http only to loopback.
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/webhooks",
            &json!({"url": "http://93.184.216.34/hook"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&p), ["url"], "{p}");
    let (id, secret) = register(&app, "http://127.0.0.1:9/hook", &["user.created"]).await;
    let one: Value = app
        .get(&format!("/api/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(one.get("secret").is_none(), "{one}");
    assert_eq!(one["event_types"], json!(["user.created"]));
    assert_eq!(one["enabled"], true);
    let listed: Value = app.get("/api/v1/webhooks").await.json().await.unwrap();
    assert!(!listed.to_string().contains(&secret));

    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            &json!({"enabled": false, "description": "billing"}),
        )
        .await;
    let patched: Value = res.json().await.unwrap();
    assert_eq!(
        (patched["enabled"].clone(), patched["description"].clone()),
        (json!(false), json!("billing"))
    );
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &json!({"overlap_seconds": 60}),
        )
        .await;
    let rotated: Value = res.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &json!({"overlap_seconds": 10_000_000}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Only admins manage webhooks; a users:read key may follow the stream.
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "reader", "scopes": ["users:read"]}),
        )
        .await;
    let key: Value = res.json().await.unwrap();
    let key = key["secret"].as_str().unwrap();
    let res = app
        .as_token(key, Method::GET, "/api/v1/webhooks")
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;

    let res = app
        .request(Method::DELETE, &format!("/api/v1/webhooks/{id}"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let audit: Value = app
        .get("/api/v1/audit?action=webhook.create")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert!(!audit.to_string().contains(&secret));
}

#[tokio::test]
async fn deliveries_are_signed_in_order_and_retried_after_errors() {
    let receiver = WebhookReceiver::start().await;
    let app = app_allowing_loopback().await;
    let (id, secret) = register(&app, &receiver.url(), &[]).await;
    receiver.set_secrets(vec![secret]);
    // The first three attempts fail: the first event is retried (1 s, 2 s,
    // 4 s) and nothing after it goes first.
    receiver.fail_next(3);
    let ada = app
        .create_user(json!({"email": "ada@example.com", "password": "correct horse 1"}))
        .await;
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let ada_path = format!("/api/v1/users/{ada_id}");
    for i in 0..5 {
        app.create_user(json!({"email": format!("u{i}@example.com")}))
            .await;
    }
    app.send_json(Method::PATCH, &ada_path, &json!({"name": "Ada L."}))
        .await;
    let res = app
        .send_json(
            Method::POST,
            &format!("{ada_path}/password"),
            &json!({"new_password": "another horse 22"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    login(
        &app.client,
        &app.base,
        "ada@example.com",
        "another horse 22",
    )
    .await;
    let res = app
        .request(Method::DELETE, &format!("{ada_path}/sessions"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.request(Method::DELETE, &ada_path).check().await;

    let got = receiver.wait_for(10, WAIT).await;
    assert_eq!(receiver.bad_signatures(), 0);
    assert!(
        receiver.attempts() >= 13,
        "three failed attempts came first"
    );
    let types: Vec<&str> = got.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.created",
            "user.created",
            "user.created",
            "user.created",
            "user.created",
            "user.updated",
            "user.password_changed",
            "user.sessions_revoked",
            "user.deleted",
        ]
    );
    let ids: Vec<u64> = got.iter().map(|d| d.event_id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    for d in &got {
        assert_eq!(d.webhook_id, d.event_id.unwrap().to_string());
        let data = d.body["data"].as_object().unwrap();
        assert!(
            data.keys()
                .all(|k| !k.contains("password") && !k.contains("hash"))
        );
    }
    let updated = &got[6].body;
    assert_eq!(updated["changed_fields"], json!(["name"]), "{updated}");
    assert_eq!(updated["data"]["name"], "Ada L.");
    // The deletion carries the user as it was.
    assert_eq!(got[9].body["data"]["email"], "ada@example.com");
    assert!(got[9].body["occurred_at"].as_str().is_some());

    // The records are saved in batches once the receiver has answered:
    // the list catches up within moments.
    let first = loop {
        let page: Value = app
            .get(&format!("/api/v1/webhooks/{id}/deliveries?limit=100"))
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        let first = items.last().unwrap().clone();
        if items.len() == 10 && first["status"] == "delivered" {
            break first;
        }
        assert!(items.len() <= 10 && first["status"] == "pending", "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(first["event_id"], ids[0]);
    assert_eq!(first["attempts"], 4, "{first}");
    assert_eq!(first["last_status_code"], 200);
    let hook: Value = app
        .get(&format!("/api/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hook["failing_since"], Value::Null);

    // A retry of a delivered event sends it again, same id; a test send
    // is signed too.
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/{}/retry", ids[1]),
        )
        .check()
        .await;
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["attempts"], 2, "{again}");
    let res = app
        .request(Method::POST, &format!("/api/v1/webhooks/{id}/test"))
        .check()
        .await;
    let test: Value = res.json().await.unwrap();
    assert_eq!(test["delivered"], true, "{test}");
    let all = receiver.wait_for(12, WAIT).await;
    assert_eq!(all[10].webhook_id, ids[1].to_string());
    assert_eq!(all[11].event_type, "webhook.test");
    assert_eq!(receiver.bad_signatures(), 0);

    // After a rotation both secrets sign; a receiver with only the new one
    // still accepts.
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    let rotated: Value = res.json().await.unwrap();
    receiver.set_secrets(vec![rotated["secret"].as_str().unwrap().to_owned()]);
    app.create_user(json!({"email": "after@example.com"})).await;
    receiver.wait_for(13, WAIT).await;
    assert_eq!(receiver.bad_signatures(), 0);
}

#[tokio::test]
async fn a_filter_sends_only_its_types_and_a_failing_endpoint_waits_in_order() {
    let receiver = WebhookReceiver::start().await;
    let app = app_allowing_loopback().await;
    let (id, secret) = register(&app, &receiver.url(), &["user.deleted"]).await;
    receiver.set_secrets(vec![secret]);
    let u = app.create_user(json!({"email": "gone@example.com"})).await;
    receiver.set_down(true);
    app.request(
        Method::DELETE,
        &format!("/api/v1/users/{}", u["id"].as_str().unwrap()),
    )
    .check()
    .await;
    // The delivery is pending with its error recorded.
    let pending = loop {
        let page: Value = app
            .get(&format!("/api/v1/webhooks/{id}/deliveries"))
            .await
            .json()
            .await
            .unwrap();
        if let Some(d) = page["items"].as_array().unwrap().first()
            && d["attempts"].as_u64() >= Some(1)
        {
            break d.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["last_status_code"], 503);
    assert!(pending["next_attempt_at"].as_str().is_some());
    let hook: Value = app
        .get(&format!("/api/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(hook["failing_since"].as_str().is_some(), "{hook}");
    receiver.set_down(false);
    // Retry now instead of after the backoff: the answer is the record.
    let res = app
        .request(
            Method::POST,
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/retry",
                pending["event_id"]
            ),
        )
        .check()
        .await;
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["status"], "delivered", "{done}");
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].event_type, "user.deleted");
    assert_eq!(got.len(), 1, "the creation was filtered out");
}

/// 10 000 changes, the server killed with SIGKILL while it delivers them and
/// started again: every event arrives, in order of first arrival, and any
/// event sent twice carries the same id and body.
#[tokio::test]
async fn none_lost_among_10000_changes_across_a_sigkill() {
    const N: usize = 10_000;
    let receiver = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROSTER_WEBHOOK_ALLOW_INSECURE", "true"),
        ("ROSTER_WEBHOOK_ALLOW_PRIVATE", "true"),
    ];
    let (roster, base) = start_roster_with(dir.path(), None, &env);
    let client = http_client();
    let token = login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": receiver.url(), "event_types": ["user.created"]}))
        .send()
        .await
        .unwrap();
    let hook: Value = res.json().await.unwrap();
    receiver.set_secrets(vec![hook["secret"].as_str().unwrap().to_owned()]);
    let body: String = (0..N)
        .map(|i| format!("{{\"email\":\"p{i}@example.com\",\"name\":\"Person {i}\"}}\n"))
        .collect();
    let res = client
        .post(format!("{base}/api/v1/users/import"))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Kill it once a part has been delivered.
    receiver.wait_for(N / 5, WAIT).await;
    drop(roster);
    let before = receiver.deliveries().len();
    assert!(before < N, "the kill came before the end ({before})");
    let (_roster, _) = start_roster_with(dir.path(), None, &env);
    let got = receiver.wait_unique(N, Duration::from_secs(300)).await;
    assert_eq!(receiver.bad_signatures(), 0);

    let mut first_seen: HashMap<String, Value> = HashMap::new();
    let mut order = Vec::new();
    for d in &got {
        match first_seen.get(&d.webhook_id) {
            Some(body) => assert_eq!(body, &d.body, "a re-sent event is the same event"),
            None => {
                first_seen.insert(d.webhook_id.clone(), d.body.clone());
                order.push(d.event_id.unwrap());
            }
        }
    }
    assert_eq!(order.len(), N, "every event arrived");
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "first arrivals in order"
    );
    let emails: std::collections::HashSet<&str> = first_seen
        .values()
        .map(|b| b["data"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), N);
    let resent = got.len() - N;
    eprintln!("{N} events; {before} delivered before the kill; {resent} sent again after it");
}
