use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Checked, TestApp, assert_no_secrets, assert_problem, login,
    spawn_app, spawn_app_tuned,
};

const PW: &str = "user-password-1";

/// Creates a plain user with a password; returns (id, access token, refresh token).
async fn user_with_login(app: &TestApp, email: &str) -> (String, String, String) {
    let u = app
        .create_user(json!({"email": email, "password": PW}))
        .await;
    assert_no_secrets(&u);
    let t = login(&app.client, &app.base, email, PW).await;
    (
        u["id"].as_str().unwrap().to_owned(),
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn status_as(app: &TestApp, token: &str, method: Method, path: &str) -> StatusCode {
    app.as_token(token, method, path).check().await.status()
}

#[tokio::test]
async fn login_issues_an_eddsa_jwt_verifiable_with_the_jwks() {
    let app = spawn_app().await;
    let t = login(&app.client, &app.base, "ADMIN@example.test", ADMIN_PASSWORD).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(
        t["refresh_token"].as_str().unwrap().len() >= 43,
        "≥ 256 bits"
    );
    assert_eq!(t["user"]["email"], ADMIN_EMAIL);
    let token = t["access_token"].as_str().unwrap();
    let header = jwt_part(token, 0);
    assert_eq!(header["alg"], "EdDSA");
    let claims = jwt_part(token, 1);
    for claim in ["sub", "iat", "exp", "iss", "aud", "roles", "sid"] {
        assert!(!claims[claim].is_null(), "claim {claim} in {claims}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["sub"], t["user"]["id"]);

    let jwks: Value = app
        .anon(Method::GET, "/.well-known/jwks.json")
        .check()
        .await
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid in jwks");
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert!(key.get("d").is_none(), "no private part");
    let dk = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["roster"]);
    v.set_issuer(&["roster"]);
    jsonwebtoken::decode::<Value>(token, &dk, &v).expect("verifies with the published key");

    // The token works.
    let me = app
        .as_token(token, Method::GET, "/api/v1/auth/me")
        .check()
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    // By username too.
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
        &json!({"username": "root"}),
    )
    .await;
    login(&app.client, &app.base, "Root", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn failed_logins_all_look_the_same() {
    let app = spawn_app().await;
    let (id, _, _) = user_with_login(&app, "ada@example.com").await;
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &json!({"status": "disabled"}),
    )
    .await;
    let mut bodies = Vec::new();
    for (login, pw) in [
        ("ada@example.com", PW),                  // disabled
        ("admin@example.test", "wrong-password"), // wrong password
        ("nobody@example.com", PW),               // unknown
    ] {
        let res = app
            .anon(Method::POST, "/api/v1/auth/login")
            .json(&json!({"login": login, "password": pw}))
            .check()
            .await;
        let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
        bodies.push(p);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let res = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": "x"}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_401() {
    let app = spawn_app().await;
    let res = app.anon(Method::GET, "/api/v1/users").check().await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    let good = app.token.clone();
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = jwt_part(&good, 1);
    claims["roles"] = json!(["admin", "user"]);
    claims["exp"] = json!(4_000_000_000i64);
    let forged_claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut header = jwt_part(&good, 0);
    header["alg"] = json!("none");
    let none_header = URL_SAFE_NO_PAD.encode(header.to_string());
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let mut expired = jwt_part(&good, 1);
    expired["exp"] = json!(1);
    for token in [
        format!("{}.{forged_claims}.{}", parts[0], parts[2]),
        format!("{none_header}.{}.", parts[1]),
        format!("{none_header}.{forged_claims}."),
        hs,
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(expired.to_string()),
            parts[2]
        ),
        "garbage".into(),
        "rk_not-a-key".into(),
        "x".repeat(10_000),
    ] {
        let res = app
            .as_token(&token, Method::GET, "/api/v1/users")
            .check()
            .await;
        assert_problem(res, StatusCode::UNAUTHORIZED).await;
    }
    let res = app
        .anon(Method::GET, "/api/v1/users")
        .header("authorization", "Basic YTpi")
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let app =
        spawn_app_tuned(|c| c.auth.access_token_ttl = std::time::Duration::from_secs(1)).await;
    let token = app.token.clone();
    assert_eq!(
        status_as(&app, &token, Method::GET, "/api/v1/users").await,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(7_200)).await; // past exp and the 5 s leeway
    assert_eq!(
        status_as(&app, &token, Method::GET, "/api/v1/users").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let app = spawn_app().await;
    let (_, access, refresh) = user_with_login(&app, "ada@example.com").await;
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": refresh}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_no_secrets(&t);
    let (access2, refresh2) = (
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(refresh2, refresh);
    assert_eq!(
        jwt_part(&access2, 1)["sid"],
        jwt_part(&access, 1)["sid"],
        "same session"
    );
    assert_eq!(
        status_as(&app, &access2, Method::GET, "/api/v1/auth/me").await,
        StatusCode::OK
    );

    // Reuse of the spent token: 401, and the whole session is gone.
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": refresh}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": refresh2}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        status_as(&app, &access2, Method::GET, "/api/v1/auth/me").await,
        StatusCode::UNAUTHORIZED
    );

    let audit: Value = app
        .get("/api/v1/audit?action=refresh.reuse")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": "made-up"}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_have_at_most_one_winner() {
    let app = spawn_app().await;
    let (_, _, refresh) = user_with_login(&app, "ada@example.com").await;
    let tries = (0..8).map(|_| {
        let (app, refresh) = (&app, &refresh);
        async move {
            app.anon(Method::POST, "/api/v1/auth/refresh")
                .json(&json!({"refresh_token": refresh}))
                .check()
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    let results = join_all(tries).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("access_token").is_some())
        .collect();
    assert!(winners.len() <= 1, "{results:?}");
    // Reuse happened, so even the winner's session is revoked.
    if let Some(w) = winners.first() {
        let token = w["access_token"].as_str().unwrap();
        assert_eq!(
            status_as(&app, token, Method::GET, "/api/v1/auth/me").await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn logout_and_disabling_end_sessions() {
    let app = spawn_app().await;
    let (id, access, refresh) = user_with_login(&app, "ada@example.com").await;
    let res = app
        .as_token(&access, Method::POST, "/api/v1/auth/logout")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_as(&app, &access, Method::GET, "/api/v1/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": refresh}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    let t = login(&app.client, &app.base, "ada@example.com", PW).await;
    let access = t["access_token"].as_str().unwrap().to_owned();
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        status_as(&app, &access, Method::GET, "/api/v1/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": t["refresh_token"]}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_plain_user_manages_only_itself_and_cannot_escalate() {
    let app = spawn_app().await;
    let (me, token, _) = user_with_login(&app, "ada@example.com").await;
    let other = app.create_user(json!({"email": "grace@example.com"})).await;
    let other_path = format!("/api/v1/users/{}", other["id"].as_str().unwrap());
    let my_path = format!("/api/v1/users/{me}");

    assert_eq!(
        status_as(&app, &token, Method::GET, &my_path).await,
        StatusCode::OK
    );
    for body in [
        json!({"roles": ["admin", "user"]}),
        json!({"status": "disabled"}),
        json!({"email_verified": true}),
    ] {
        let res = app
            .as_token(&token, Method::PATCH, &my_path)
            .json(&body)
            .check()
            .await;
        assert_problem(res, StatusCode::FORBIDDEN).await;
    }
    let res = app
        .as_token(&token, Method::PATCH, &my_path)
        .json(&json!({"name": "Ada"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["roles"], json!(["user"]));
    assert_no_secrets(&v);
    // Mass assignment of server fields is refused.
    let res = app
        .as_token(&token, Method::PATCH, &my_path)
        .json(&json!({"version": 1, "id": "x"}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Other users, known or not, are equally forbidden.
    let unknown = "/api/v1/users/0192f5b3-7c1e-7a4b-8c3d-1e2f3a4b5c6d";
    for (method, path) in [
        (Method::GET, other_path.as_str()),
        (Method::GET, unknown),
        (Method::PATCH, other_path.as_str()),
        (Method::DELETE, other_path.as_str()),
        (Method::DELETE, my_path.as_str()),
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/users"),
        (Method::GET, "/api/v1/api-keys"),
        (Method::GET, "/api/v1/audit"),
    ] {
        let res = app
            .as_token(&token, method.clone(), path)
            .json(&json!({"name": "x", "email": "z@example.com"}))
            .check()
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(
        app.get(&other_path).await.json::<Value>().await.unwrap(),
        other,
        "unchanged"
    );
}

#[tokio::test]
async fn password_changes_need_the_current_one_and_end_sessions() {
    let app = spawn_app().await;
    let (id, token, _) = user_with_login(&app, "ada@example.com").await;
    let path = format!("/api/v1/users/{id}/password");
    let res = app
        .as_token(&token, Method::POST, &path)
        .json(&json!({"new_password": "brand-new-pass"}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .as_token(&token, Method::POST, &path)
        .json(&json!({"new_password": "brand-new-pass", "current_password": "nope"}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .as_token(&token, Method::POST, &path)
        .json(&json!({"new_password": "short", "current_password": PW}))
        .check()
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .as_token(&token, Method::POST, &path)
        .json(&json!({"new_password": "brand-new-pass", "current_password": PW}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_as(&app, &token, Method::GET, "/api/v1/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
    login(&app.client, &app.base, "ada@example.com", "brand-new-pass").await;

    // An admin resets without the current password.
    let res = app
        .send_json(
            Method::POST,
            &path,
            &json!({"new_password": "admin-chosen-1"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    login(&app.client, &app.base, "ada@example.com", "admin-chosen-1").await;
}

#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    let app = spawn_app().await;
    let (id, t1, _) = user_with_login(&app, "ada@example.com").await;
    let t2 = login(&app.client, &app.base, "ada@example.com", PW).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/users/{id}/sessions");
    let list: Value = app
        .as_token(&t1, Method::GET, &path)
        .check()
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let other_sid = jwt_part(&t2, 1)["sid"].as_str().unwrap().to_owned();
    let res = app
        .as_token(&t1, Method::DELETE, &format!("{path}/{other_sid}"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_as(&app, &t2, Method::GET, "/api/v1/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_as(&app, &t1, Method::GET, "/api/v1/auth/me").await,
        StatusCode::OK
    );
    let res = app.request(Method::DELETE, &path).check().await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_as(&app, &t1, Method::GET, "/api/v1/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_keys_carry_scopes_and_die_when_revoked() {
    let app = spawn_app().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "reporting", "scopes": ["users:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rk_") && secret.len() > 40);

    let list: Value = app.get("/api/v1/api-keys").await.json().await.unwrap();
    assert!(
        !list.to_string().contains(&secret),
        "secret shown once only"
    );
    assert_eq!(list["items"][0]["scopes"], json!(["users:read"]));

    assert_eq!(
        status_as(&app, &secret, Method::GET, "/api/v1/users").await,
        StatusCode::OK
    );
    let res = app
        .as_token(&secret, Method::POST, "/api/v1/users")
        .json(&json!({"email": "k@example.com"}))
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(
        status_as(&app, &secret, Method::GET, "/api/v1/api-keys").await,
        StatusCode::FORBIDDEN
    );

    let writer: Value = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "sync", "scopes": ["users:write"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let w = writer["secret"].as_str().unwrap();
    let res = app
        .as_token(w, Method::POST, "/api/v1/users")
        .json(&json!({"email": "k@example.com"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", created["id"].as_str().unwrap()),
        )
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_as(&app, &secret, Method::GET, "/api/v1/users").await,
        StatusCode::UNAUTHORIZED
    );

    for bad in [
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "", "scopes": ["admin"]}),
        json!({"scopes": []}),
        json!({"name": "x", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"}),
    ] {
        assert_problem(
            app.send_json(Method::POST, "/api/v1/api-keys", &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn logins_are_throttled_per_account_with_retry_after() {
    let app = spawn_app_tuned(|c| {
        c.auth.login_rate_limit = Some(10);
        c.auth.login_burst = 5;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let res = app
            .anon(Method::POST, "/api/v1/auth/login")
            .json(&json!({"login": "victim@example.com", "password": "guess-guess"}))
            .check()
            .await;
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry));
            assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
        }
    }
    assert_eq!(
        &statuses[..5],
        &[StatusCode::UNAUTHORIZED; 5],
        "{statuses:?}"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

/// Sends `n` requests one after another from `from` (a forwarded address;
/// the test's proxy is trusted); returns each status with its `RateLimit`.
async fn burst(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    from: &[&str],
    n: usize,
) -> Vec<(StatusCode, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let req = match token {
            Some(t) => app.as_token(t, Method::GET, path),
            None => app.anon(Method::GET, path),
        };
        let res = req
            .header("x-forwarded-for", from[i % from.len()])
            .check()
            .await;
        let limit = res
            .headers()
            .get("ratelimit")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
            out.push((StatusCode::TOO_MANY_REQUESTS, limit));
        } else {
            out.push((res.status(), limit));
        }
    }
    out
}

/// How many of `statuses` came before the first 429, checked against an
/// allowance of `q`: at least `q` (the bucket starts full), and a refusal
/// did come. More than `q` may pass: the bucket refills while they run.
fn allowed(statuses: &[(StatusCode, String)], q: usize) -> usize {
    let n = statuses
        .iter()
        .take_while(|(s, _)| *s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(n >= q && n < statuses.len(), "allowance {q}: {statuses:?}");
    n
}

#[tokio::test]
async fn requests_are_limited_per_caller_not_per_address() {
    let app = spawn_app_tuned(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.rate_limit = Some(5);
        c.user_rate_limit = Some(3);
    })
    .await;
    let (_, ada, _) = user_with_login(&app, "ada@example.com").await;
    let (_, bob, _) = user_with_login(&app, "bob@example.com").await;
    // Let the admin's bucket refill after the set-up.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // One admin from two addresses: one allowance of 5 a second.
    let admin = burst(
        &app,
        Some(&app.token),
        "/api/v1/users?limit=1",
        &["203.0.113.1", "203.0.113.2"],
        15,
    )
    .await;
    allowed(&admin, 5);
    assert_eq!(admin[0], (StatusCode::OK, "\"admin\";r=4;t=1".to_owned()));

    // Plain users: 3 each, from the same address as each other and as the
    // admin, neither held back by the other.
    let me = "/api/v1/auth/me";
    let a = burst(&app, Some(&ada), me, &["203.0.113.1"], 10).await;
    let b = burst(&app, Some(&bob), me, &["203.0.113.1"], 10).await;
    allowed(&a, 3);
    allowed(&b, 3);
    assert_eq!(a[0].1, "\"user\";r=2;t=1");

    // Anonymous requests count against the address, apart from everyone's
    // tokens; so do tokens that do not authenticate (401 until 429).
    let doc = "/api/v1/openapi.json";
    let anon = burst(&app, None, doc, &["203.0.113.1"], 15).await;
    allowed(&anon, 5);
    assert_eq!(anon[0].1, "\"address\";r=4;t=1");
    // Public routes count by address whatever bearer comes along.
    let with_token = burst(&app, Some(&ada), doc, &["203.0.113.1"], 1).await;
    assert_eq!(
        with_token[0].0,
        StatusCode::TOO_MANY_REQUESTS,
        "{with_token:?}"
    );
    let forged = burst(
        &app,
        Some("not-a-token"),
        "/api/v1/users",
        &["198.51.100.9"],
        15,
    )
    .await;
    let n = allowed(&forged, 5);
    assert!(
        forged[..n]
            .iter()
            .all(|(s, _)| *s == StatusCode::UNAUTHORIZED)
    );
    // From then on nothing from that address is even authenticated, a
    // right token included, until the allowance refills.
    let right = burst(
        &app,
        Some(&app.token),
        "/api/v1/users",
        &["198.51.100.9"],
        1,
    )
    .await;
    assert_eq!(right[0].0, StatusCode::TOO_MANY_REQUESTS, "{right:?}");
    // Another address is not affected.
    let other = burst(&app, None, doc, &["198.51.100.10"], 1).await;
    assert_eq!(other[0].0, StatusCode::OK);

    // An API key may carry its own limit; out of range is refused.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "x", "scopes": ["users:read"], "rate_limit": 0}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "rate_limit", "{p}");
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "batch job", "scopes": ["users:read"], "rate_limit": 8}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let key: Value = res.json().await.unwrap();
    assert_eq!(key["rate_limit"], 8);
    let secret = key["secret"].as_str().unwrap();
    let used = burst(
        &app,
        Some(secret),
        "/api/v1/users?limit=1",
        &["203.0.113.1"],
        24,
    )
    .await;
    allowed(&used, 8);
    assert_eq!(used[0].1, "\"api-key\";r=7;t=1");
    let listed: Value = app.get("/api/v1/api-keys").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["rate_limit"], 8, "kept in the store");
}

#[tokio::test]
async fn security_events_are_audited_newest_first() {
    let app = spawn_app().await;
    let (id, _, _) = user_with_login(&app, "ada@example.com").await;
    let _ = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": "ada@example.com", "password": "wrong-pass"}))
        .check()
        .await;
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &json!({"roles": ["admin", "user"]}),
    )
    .await;
    app.send_json(
        Method::POST,
        "/api/v1/api-keys",
        &json!({"name": "k", "scopes": ["admin"]}),
    )
    .await;
    app.request(Method::DELETE, &format!("/api/v1/users/{id}"))
        .check()
        .await;

    let page: Value = app.get("/api/v1/audit?limit=3").await.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["action"], "user.delete");
    let ats: Vec<&str> = items.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!("/api/v1/audit?limit=500&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = items
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "user.delete",
        "api_key.create",
        "user.roles",
        "login",
        "user.create",
        "admin.create",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let failures: Value = app
        .get("/api/v1/audit?action=login")
        .await
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = failures["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"failure") && outcomes.contains(&"success"),
        "{outcomes:?}"
    );
    assert_no_secrets(&rest);
}

#[tokio::test]
async fn registration_is_off_by_default_and_safe_when_on() {
    let app = spawn_app().await;
    let body = json!({"email": "new@example.com", "password": "new-user-pass"});
    assert_problem(
        app.anon(Method::POST, "/api/v1/auth/register")
            .json(&body)
            .check()
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let app = spawn_app_tuned(|c| c.auth.allow_registration = true).await;
    let res = app
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&body)
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let u: Value = res.json().await.unwrap();
    assert_eq!(u["roles"], json!(["user"]));
    assert_no_secrets(&u);
    login(&app.client, &app.base, "new@example.com", "new-user-pass").await;
    let sneaky =
        json!({"email": "sneaky@example.com", "password": "new-user-pass", "roles": ["admin"]});
    assert_problem(
        app.anon(Method::POST, "/api/v1/auth/register")
            .json(&sneaky)
            .check()
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // What an identity provider writes cannot be claimed at sign-up.
    let provisioned = json!({"email": "idp@example.com", "password": "new-user-pass",
        "attributes": {"scim": {"externalId": "00u-someone"}}});
    let p = assert_problem(
        app.anon(Method::POST, "/api/v1/auth/register")
            .json(&provisioned)
            .check()
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "attributes", "{p}");
    let weak = json!({"email": "weak@example.com", "password": "short"});
    assert_problem(
        app.anon(Method::POST, "/api/v1/auth/register")
            .json(&weak)
            .check()
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn cors_is_off_by_default_and_follows_the_allow_list() {
    let preflight = |app: &TestApp, origin: &'static str| {
        app.anon(Method::OPTIONS, "/api/v1/users")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let app = spawn_app().await;
    let res = preflight(&app, "https://app.example.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let app = spawn_app_tuned(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let res = preflight(&app, "https://app.example.com").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let res = preflight(&app, "https://evil.example.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[cfg(unix)]
#[tokio::test]
async fn only_the_owner_can_read_the_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&app.data_dir), 0o700);
    assert_eq!(mode(&app.data_dir.join("roster.redb")), 0o600);
}
