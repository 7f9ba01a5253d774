//! The admin console's files as HTTP serves them (the console itself is
//! tested in a real browser in `tests/browser`), and the dashboard's figures.

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, LOCATION,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, login, spawn_app};

fn header(res: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn console_is_served_with_csp_etags_and_compression() {
    let app = spawn_app().await;
    let no_redirects = crate::helpers::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for from in ["/", "/admin"] {
        let res = no_redirects.get(app.url(from)).send().await.unwrap();
        assert!(res.status().is_redirection(), "{from}: {}", res.status());
        assert_eq!(header(&res, LOCATION), "/admin/");
    }

    let page = app.anon(Method::GET, "/admin/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&page, CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    let etag = header(&page, ETAG);
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<script type=\"module\""), "a module script");
    assert!(!html.contains("<script>"), "no inline scripts");
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no third-party origins"
    );

    // Revalidation is a 304 without a body; a changed file has a new ETag.
    let again = app
        .anon(Method::GET, "/admin/")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, ETAG), etag);
    let stale = app
        .anon(Method::GET, "/admin/")
        .header(IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    // Page paths the console routes itself get the same page.
    for path in ["/admin/setup?token=abc", "/admin/users", "/admin/keys/"] {
        let res = app.anon(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, ETAG), etag, "{path} is index.html");
    }

    // Every script the page loads is served as JavaScript, compressed on request.
    let js = app
        .anon(Method::GET, "/admin/app.js")
        .header(ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(header(&js, CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(header(&js, CONTENT_ENCODING), "br");
    let gz = app
        .anon(Method::GET, "/admin/app.js")
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&gz, CONTENT_ENCODING), "gzip");
}

#[tokio::test]
async fn console_paths_cannot_reach_other_files() {
    let app = spawn_app().await;
    for path in [
        "/admin/README.md",
        "/admin/screenshots/users-desktop.png",
        "/admin/../Cargo.toml",
        "/admin/%2e%2e/Cargo.toml",
        "/admin/..%2fCargo.toml",
        "/admin/css/..%2f..%2fCargo.toml",
        "/admin/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/admin/..\\..\\Cargo.toml",
        "/admin/nothing.js",
        "/admin/%00.js",
    ] {
        let res = app.anon(Method::GET, path).send().await.unwrap();
        let status = res.status();
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{path}: {status}"
        );
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn dashboard_figures_are_for_admins() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create_user(
            json!({"email": format!("u{i}@example.com"), "password": "a-long-password"}),
        )
        .await;
    }
    login(&app.client, &app.base, "u0@example.com", "a-long-password").await;
    let user = login(&app.client, &app.base, "u1@example.com", "a-long-password").await;

    let stats: Value = app.get("/api/v1/admin/stats").await.json().await.unwrap();
    assert_eq!(stats["users"], 4, "{stats}");
    // The admin's session from spawn_app and the two logins above.
    assert_eq!(stats["active_sessions"], 3, "{stats}");
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        stats["uptime_seconds"].is_u64() && stats["started_at"].is_string(),
        "{stats}"
    );
    assert_eq!(stats["index"]["state"], "ready");
    assert!(stats["index"]["size_bytes"].is_u64());

    let token = user["access_token"].as_str().unwrap();
    let res = app
        .as_token(token, Method::GET, "/api/v1/admin/stats")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = app
        .anon(Method::GET, "/api/v1/admin/stats")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // A logout is counted at once.
    app.as_token(token, Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .unwrap();
    let stats: Value = app.get("/api/v1/admin/stats").await.json().await.unwrap();
    assert_eq!(stats["active_sessions"], 2, "{stats}");
}

#[tokio::test]
async fn account_pages_are_served_under_the_console_policy_without_a_referrer() {
    let app = spawn_app().await;
    for page in ["verify", "reset", "magic", "email"] {
        let res = app
            .anon(Method::GET, &format!("/account/{page}?token=abc"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        assert_eq!(header(&res, CONTENT_TYPE), "text/html; charset=utf-8");
        assert!(header(&res, CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        assert_eq!(
            header(&res, reqwest::header::REFERRER_POLICY),
            "no-referrer"
        );
        let html = res.text().await.unwrap();
        assert!(
            html.contains("name=\"referrer\" content=\"no-referrer\""),
            "{html}"
        );
    }
    for other in ["/account/admin", "/account/reset/x", "/account/reset.html"] {
        let res = app.anon(Method::GET, other).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{other}");
    }
}
