//! Behind a reverse proxy: the client address comes from the forwarding
//! headers only when the peer is a trusted proxy, and it is that address
//! that throttling and the audit log see.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Checked, TestApp, spawn_app_tuned};

async fn failed_login_from(app: &TestApp, forwarded_for: &str) -> StatusCode {
    app.anon(Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"login": "nobody@example.com", "password": "wrong password"}))
        .check()
        .await
        .status()
}

async fn last_login_ip(app: &TestApp) -> String {
    let audit: Value = app
        .get("/api/v1/audit?action=login")
        .await
        .json()
        .await
        .unwrap();
    audit["items"][0]["ip"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // The tests' client is on 127.0.0.1: here it is not a trusted proxy.
    let app = spawn_app_tuned(|c| c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()]).await;
    failed_login_from(&app, "203.0.113.7").await;
    assert_eq!(
        last_login_ip(&app).await,
        "127.0.0.1",
        "a spoofed header is ignored"
    );
    app.stop().await;

    let app = spawn_app_tuned(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    failed_login_from(&app, "203.0.113.7").await;
    assert_eq!(last_login_ip(&app).await, "203.0.113.7");
    let res = app
        .anon(Method::POST, "/api/v1/auth/login")
        .header("forwarded", "for=\"[2001:db8::17]:4711\";proto=https")
        .json(&json!({"login": "nobody@example.com", "password": "wrong password"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(last_login_ip(&app).await, "2001:db8::17");
}

#[tokio::test]
async fn each_forwarded_client_has_its_own_login_allowance() {
    let app = spawn_app_tuned(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.auth.login_rate_limit = Some(1);
        c.auth.login_burst = 1;
    })
    .await;
    // Per address the allowance is five times the per-account one: 5.
    let mut first = Vec::new();
    for i in 0..6 {
        // A different account each time, so only the address limit applies.
        let res = app
            .anon(Method::POST, "/api/v1/auth/login")
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"login": format!("nobody{i}@example.com"), "password": "wrong password"}))
            .check()
            .await;
        first.push(res.status());
    }
    assert_eq!(
        first.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{first:?}"
    );
    // Another client behind the same proxy is not held back.
    assert_eq!(
        failed_login_from(&app, "198.51.100.9").await,
        StatusCode::UNAUTHORIZED
    );
}
