//! The account flows over mail, against a real SMTP server on loopback
//! (`tests/support/smtp_sink.rs`): each flow from the request to the mail
//! to the confirmation and its effect; single use, expiry, the same answer
//! for unknown addresses, throttling; and the outbox's durability (the mail
//! server down, then back; roster killed between the request and the send).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crash::start_roster;
use crate::helpers::{
    ADMIN_PASSWORD, Checked, TestApp, assert_problem, error_fields, http_client, login,
    spawn_app_tuned,
};
use crate::smtp_sink::SmtpSink;

const PASSWORD: &str = "correct horse battery";

async fn app_with_sink(tune: impl FnOnce(&mut roster::Config)) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_tuned(|c| {
        c.mail.smtp_url = Some(url);
        tune(c);
    })
    .await;
    (app, sink)
}

async fn user(app: &TestApp, email: &str) -> Value {
    app.create_user(json!({"email": email, "name": "Ada Lovelace", "password": PASSWORD}))
        .await
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.anon(Method::POST, path).json(&body).check().await
}

async fn pending(app: &TestApp) -> u64 {
    let r: Value = app
        .anon(Method::GET, "/readyz")
        .check()
        .await
        .json()
        .await
        .unwrap();
    r["checks"]["outbox_pending"]
        .as_u64()
        .expect("outbox_pending")
}

/// Waits until the outbox is empty: the SMTP server has a message a moment
/// before roster records the send.
async fn until_empty(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pending(app).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox did not empty"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn password_reset_from_request_to_mail_to_new_password() {
    let (app, sink) = app_with_sink(|_| {}).await;
    let ada = user(&app, "ada@example.com").await;
    let old = login(&app.client, &app.base, "ada@example.com", PASSWORD).await;

    let res = post(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": "ADA@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = sink.next_to("ada@example.com").await;
    assert!(mail.subject.contains("Reset"), "{}", mail.subject);
    assert_eq!(
        mail.from, "roster@localhost",
        "the envelope sender is --mail-from"
    );
    assert!(
        mail.link().starts_with(&app.url("/account/reset?token=")),
        "{}",
        mail.link()
    );
    assert!(mail.html.contains("href="), "an HTML part too");
    let token = mail.token();
    assert_eq!(token.len(), 43, "256 bits, base64url");

    // A weak password is refused and spends nothing.
    let res = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "password": "short"}),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&p), ["password"]);

    let new = "a brand new passphrase";
    let res = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "password": new}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Single use.
    let res = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "password": "another passphrase"}),
    )
    .await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["type"], "urn:roster:problem:invalid-token");

    // The new password works, the old does not, and the old session ended.
    login(&app.client, &app.base, "ada@example.com", new).await;
    let res = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": old["refresh_token"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A notice follows, and the address counts as proven.
    let mails = sink.next_n_to("ada@example.com", 2).await;
    assert!(
        mails[1].subject.contains("password was changed"),
        "{}",
        mails[1].subject
    );
    let id = ada["id"].as_str().unwrap();
    let u: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["email_verified"], true);

    // Audited, without the token.
    let audit: Value = app
        .get("/api/v1/audit?action=password.reset")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"][0]["target"], id);
    assert!(!audit.to_string().contains(&token));
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let (app, sink) = app_with_sink(|_| {}).await;
    user(&app, "ada@example.com").await;
    for path in [
        "/api/v1/auth/password-reset/request",
        "/api/v1/auth/verify-email/request",
    ] {
        let known = post(&app, path, json!({"email": "ada@example.com"})).await;
        let unknown = post(&app, path, json!({"email": "nobody@example.com"})).await;
        assert_eq!(known.status(), StatusCode::ACCEPTED);
        assert_eq!(unknown.status(), StatusCode::ACCEPTED);
        assert_eq!(
            known.headers().get("content-length"),
            unknown.headers().get("content-length")
        );
        assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    }
    sink.next_n_to("ada@example.com", 2).await;
    // Both kinds of request were audited (one write each way), and nothing
    // went to the unknown address.
    let audit: Value = app
        .get("/api/v1/audit?action=password.reset.request")
        .await
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2, "{audit}");
    assert!(
        outcomes.contains(&"failure") && outcomes.contains(&"success"),
        "{audit}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.all()
            .iter()
            .all(|m| m.to.iter().all(|t| t != "nobody@example.com"))
    );

    // Bad input is a clear 422 and changes nothing.
    let res = post(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": "not an address"}),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&p), ["email"]);
    let res = post(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": "ada@example.com", "admin": true}),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn email_verification_for_an_address_and_for_oneself() {
    let (app, sink) = app_with_sink(|_| {}).await;
    let ada = user(&app, "ada@example.com").await;
    assert_eq!(ada["email_verified"], false);
    let res = post(
        &app,
        "/api/v1/auth/verify-email/request",
        json!({"email": "ada@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = sink.next_to("ada@example.com").await;
    assert!(mail.link().starts_with(&app.url("/account/verify?token=")));

    // A token is good for its own purpose only (and is not spent by trying).
    let res = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": mail.token(), "password": "a brand new passphrase"}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;

    let res = post(
        &app,
        "/api/v1/auth/verify-email/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let u: Value = res.json().await.unwrap();
    assert_eq!(u["email_verified"], true);
    assert_eq!(u["version"], ada["version"].as_u64().unwrap() + 1);
    let res = post(
        &app,
        "/api/v1/auth/verify-email/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;

    // Signed in, without an address: one's own. Verified already: no mail.
    let grace = user(&app, "grace@example.com").await;
    let t = login(&app.client, &app.base, "grace@example.com", PASSWORD).await;
    let token = t["access_token"].as_str().unwrap();
    let res = app
        .as_token(token, Method::POST, "/api/v1/auth/verify-email/request")
        .json(&json!({}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = sink.next_to("grace@example.com").await;
    let res = post(
        &app,
        "/api/v1/auth/verify-email/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    let u: Value = res.json().await.unwrap();
    assert_eq!(
        (u["id"].clone(), u["email_verified"].clone()),
        (grace["id"].clone(), json!(true))
    );
    // Without a caller, `email` is required.
    let res = post(&app, "/api/v1/auth/verify-email/request", json!({})).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&p), ["email"]);
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let (app, sink) = app_with_sink(|c| c.mail.ttl.verify = Duration::from_secs(1)).await;
    user(&app, "ada@example.com").await;
    post(
        &app,
        "/api/v1/auth/verify-email/request",
        json!({"email": "ada@example.com"}),
    )
    .await;
    let mail = sink.next_to("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let res = post(
        &app,
        "/api/v1/auth/verify-email/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["type"], "urn:roster:problem:invalid-token");
}

#[tokio::test]
async fn magic_links_are_off_by_default_and_sign_in_when_on() {
    let (app, _sink) = app_with_sink(|_| {}).await;
    let res = post(
        &app,
        "/api/v1/auth/magic-link/request",
        json!({"email": "ada@example.com"}),
    )
    .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    app.stop().await;

    let (app, sink) = app_with_sink(|c| c.mail.allow_magic_link = true).await;
    let ada = user(&app, "ada@example.com").await;
    let res = post(
        &app,
        "/api/v1/auth/magic-link/request",
        json!({"email": "ada@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = sink.next_to("ada@example.com").await;
    assert!(mail.link().starts_with(&app.url("/account/magic?token=")));
    let res = post(
        &app,
        "/api/v1/auth/magic-link/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["id"], ada["id"]);
    assert_eq!(body["user"]["email_verified"], true);
    let me = app
        .as_token(
            body["access_token"].as_str().unwrap(),
            Method::GET,
            "/api/v1/auth/me",
        )
        .check()
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let res = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": body["refresh_token"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = post(
        &app,
        "/api/v1/auth/magic-link/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn email_change_goes_through_the_new_address_and_tells_the_old() {
    let (app, sink) = app_with_sink(|c| {
        c.mail.link_templates.email = Some("https://app.example/email?t=1&token={token}".into())
    })
    .await;
    let ada = user(&app, "ada@example.com").await;
    user(&app, "taken@example.com").await;
    let t = login(&app.client, &app.base, "ada@example.com", PASSWORD).await;
    let bearer = t["access_token"].as_str().unwrap().to_owned();
    let change = |to: &str| {
        app.as_token(&bearer, Method::POST, "/api/v1/auth/email-change/request")
            .json(&json!({"new_email": to}))
            .check()
    };
    // Anonymous: 401. Its own address: 422.
    let res = post(
        &app,
        "/api/v1/auth/email-change/request",
        json!({"new_email": "x@example.com"}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        change("ADA@example.com").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    assert_eq!(
        change("ada@example.org").await.status(),
        StatusCode::ACCEPTED
    );
    let mail = sink.next_to("ada@example.org").await;
    assert!(
        mail.link()
            .starts_with("https://app.example/email?t=1&token="),
        "the app's own page: {}",
        mail.link()
    );
    // Until it is opened, nothing changes.
    let id = ada["id"].as_str().unwrap();
    let u: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["email"], "ada@example.com");

    let res = post(
        &app,
        "/api/v1/auth/email-change/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let u: Value = res.json().await.unwrap();
    assert_eq!(
        (u["email"].as_str(), u["email_verified"].as_bool()),
        (Some("ada@example.org"), Some(true))
    );
    let notice = sink.next_to("ada@example.com").await;
    assert!(notice.text.contains("ada@example.org"), "{}", notice.text);
    // The new address signs in; the old one is free.
    login(&app.client, &app.base, "ada@example.org", PASSWORD).await;

    // Uniqueness is checked when the link is opened: taken by then is 409,
    // and the link stays unspent.
    assert_eq!(
        change("grace@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    let mail = sink.next_to("grace@example.com").await;
    user(&app, "grace@example.com").await;
    let res = post(
        &app,
        "/api/v1/auth/email-change/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    let p = assert_problem(res, StatusCode::CONFLICT).await;
    assert_eq!(error_fields(&p), ["email"]);
}

#[tokio::test]
async fn required_verification_blocks_sign_in_until_the_link_is_opened() {
    let (app, sink) = app_with_sink(|c| {
        c.mail.require_email_verification = true;
        c.auth.allow_registration = true;
    })
    .await;
    let res = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    let p = assert_problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], "urn:roster:problem:email-unverified");
    // A wrong password still says only that.
    let res = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "ada@example.com", "password": "wrong password!"}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    let mail = sink.next_to("ada@example.com").await;
    assert!(mail.link().contains("/account/verify?token="));
    let res = post(
        &app,
        "/api/v1/auth/verify-email/confirm",
        json!({"token": mail.token()}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    login(&app.client, &app.base, "ada@example.com", PASSWORD).await;
    // An admin made by the operator counts as verified (or no one could
    // sign in to a new server with the rule on).
    login(
        &app.client,
        &app.base,
        crate::helpers::ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
}

#[tokio::test]
async fn requests_are_throttled_per_address() {
    let (app, sink) = app_with_sink(|c| {
        c.auth.login_rate_limit = Some(3);
        c.auth.login_burst = 2;
    })
    .await;
    user(&app, "ada@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = post(
            &app,
            "/api/v1/auth/password-reset/request",
            json!({"email": "ada@example.com"}),
        )
        .await;
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses[..2], [StatusCode::ACCEPTED, StatusCode::ACCEPTED]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    sink.next_n_to("ada@example.com", accepted).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), accepted, "one mail per accepted request");
}

#[tokio::test]
async fn mail_waits_while_the_server_is_down_and_goes_when_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_tuned(|c| c.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    user(&app, "ada@example.com").await;
    let res = post(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": "ada@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pending(&app).await, 1);
    let metrics = app
        .anon(Method::GET, "/metrics")
        .check()
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("roster_mail_sent_total{outcome=\"retry\"}"),
        "{metrics}"
    );

    let sink = SmtpSink::start_on(port);
    // The first retry comes after about five seconds (with jitter).
    let mails = sink.next_n_to("ada@example.com", 1).await;
    let confirm = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": mails[0].token(), "password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(confirm.status(), StatusCode::NO_CONTENT);
    sink.next_n_to("ada@example.com", 2).await;
    // The sink has the message a moment before roster records the send.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pending(&app).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox did not empty"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = app
        .anon(Method::GET, "/metrics")
        .check()
        .await
        .text()
        .await
        .unwrap();
    // The recorder is the process's, shared by the other tests' servers:
    // at least these two sends, and the gauge is there.
    let sent = metrics
        .lines()
        .find_map(|l| l.strip_prefix("roster_mail_sent_total{outcome=\"sent\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(sent.is_some_and(|n| n >= 2), "{metrics}");
    assert!(metrics.contains("roster_outbox_pending "), "{metrics}");
}

#[tokio::test]
async fn a_queued_mail_survives_sigkill_and_is_sent_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let client = http_client();
    {
        // Nothing listens on the SMTP port: the mail stays queued.
        let (mut roster, base) = start_roster(
            dir.path(),
            Some(&["env", &format!("ROSTER_SMTP_URL={smtp}")]),
        );
        let t = login(&client, &base, crate::helpers::ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let res = client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = client
            .post(format!("{base}/api/v1/auth/password-reset/request"))
            .json(&json!({"email": "ada@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        roster.0.kill().unwrap();
        roster.0.wait().unwrap();
    }
    let sink = SmtpSink::start_on(port);
    let (_roster, base) = start_roster(
        dir.path(),
        Some(&["env", &format!("ROSTER_SMTP_URL={smtp}")]),
    );
    let mails = sink.next_n_to("ada@example.com", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 1, "exactly one message for one request");
    let res = client
        .post(format!("{base}/api/v1/auth/password-reset/confirm"))
        .json(&json!({"token": mails[0].token(), "password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_bad_mail_template_stops_the_start_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("mail");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("verify-email.html"),
        "<p>Hello</p>\n<p>{% if %}</p>\n",
    )
    .unwrap();
    let mut config = crate::helpers::test_config(&dir.path().join("data"));
    config.mail.templates_dir = Some(templates);
    let err = roster::App::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("verify-email.html, line 2"), "{err}");
}

#[tokio::test]
async fn a_permanently_refused_mail_is_given_up_with_an_audit_entry() {
    let sink = SmtpSink::start_refusing(&["gone@example.com"]);
    let url = sink.url();
    let app = spawn_app_tuned(|c| c.mail.smtp_url = Some(url)).await;
    user(&app, "gone@example.com").await;
    user(&app, "ada@example.com").await;
    for email in ["gone@example.com", "ada@example.com"] {
        let res = post(
            &app,
            "/api/v1/auth/password-reset/request",
            json!({"email": email}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // The refused mail does not hold up the next one.
    sink.next_to("ada@example.com").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let entry = loop {
        let audit: Value = app
            .get("/api/v1/audit?action=mail.gave_up")
            .await
            .json()
            .await
            .unwrap();
        if let Some(e) = audit["items"].get(0) {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail.gave_up entry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entry["outcome"], "failure");
    let detail = entry["detail"].as_str().unwrap();
    assert!(
        detail.contains("password-reset to gone@example.com"),
        "{detail}"
    );
    assert!(detail.contains("550"), "the server's reply: {detail}");
    until_empty(&app).await;
    assert!(sink.count() == 1, "nothing reached the refused address");
}
