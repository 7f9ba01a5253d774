//! `/metrics`: Prometheus text that changes with the traffic it measures.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &crate::helpers::TestApp) -> String {
    let res = app.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_report_state() {
    let app = spawn_app().await;
    let user = app
        .create_user(json!({"email": "m@example.com", "name": "Metric Person"}))
        .await;
    let id = user["id"].as_str().unwrap();
    // Several ids, one route template.
    app.get(&format!("/api/v1/users/{id}")).await;
    app.get("/api/v1/users/01929d6e-0000-7000-8000-000000000001")
        .await;
    app.get("/api/v1/users/search?q=metric&consistent=true")
        .await;
    let before = scrape(&app).await;

    let route = "roster_http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\"";
    let ok = format!("{route},status=\"200\"}}");
    let missing = format!("{route},status=\"404\"}}");
    let ok_before = sample(&before, &ok).expect("a counter for GET /users/{id} 200");
    assert!(
        sample(&before, &missing).is_some(),
        "404s are counted: {before}"
    );
    assert!(!before.contains(id), "raw ids never become labels");
    assert!(before.contains("# TYPE roster_http_request_duration_seconds histogram"));
    assert!(before.contains("roster_http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",method=\"GET\",le=\"0.005\"}"));
    assert!(before.contains("# TYPE roster_search_duration_seconds histogram"));
    assert!(sample(&before, "roster_users ").unwrap() >= 2.0);
    assert!(sample(&before, "roster_sessions_active ").unwrap() >= 1.0);
    assert_eq!(sample(&before, "roster_index_lag "), Some(0.0));
    assert!(sample(&before, "roster_index_size_bytes ").unwrap() > 0.0);
    assert!(sample(&before, "roster_store_size_bytes ").unwrap() > 0.0);
    assert!(before.contains(&format!(
        "roster_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(sample(&before, "roster_logins_total{outcome=\"success\"}").unwrap() >= 1.0);

    // Counters move with the traffic.
    for _ in 0..3 {
        app.get(&format!("/api/v1/users/{id}")).await;
    }
    let wrong = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": "m@example.com", "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let after = scrape(&app).await;
    assert!(sample(&after, &ok).unwrap() >= ok_before + 3.0);
    assert!(sample(&after, "roster_logins_total{outcome=\"wrong_password\"}").unwrap() >= 1.0);
    // Unmatched paths share one label.
    app.anon(Method::GET, "/no/such/path/123")
        .send()
        .await
        .unwrap();
    let last = scrape(&app).await;
    assert!(last.contains("route=\"<unmatched>\""));
    assert!(!last.contains("/no/such/path"));
}
