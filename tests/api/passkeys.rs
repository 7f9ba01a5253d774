//! Passkeys over the API: registration, a sign-in with the passkey alone,
//! the passkey as the second step after a password, one-use challenges,
//! refused answers (another origin, a bad signature, a counter going back,
//! a challenge of another ceremony), rename and removal.
//!
//! The authenticator here is a software one (`tests/support/passkey.rs`);
//! the browser suite drives Chromium's virtual authenticator against the
//! same routes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, login, spawn_app, spawn_app_tuned};
use crate::passkey::Authenticator;

const PW: &str = "user-password-1";

fn amr(access_token: &str) -> Vec<String> {
    let part = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(part).unwrap()).unwrap();
    let mut v: Vec<String> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> reqwest::Response {
    let req = match token {
        Some(t) => app.as_token(t, Method::POST, path),
        None => app.anon(Method::POST, path),
    };
    req.json(&body).send().await.unwrap()
}

async fn ok_json(res: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    res.json().await.unwrap()
}

async fn user(app: &TestApp, email: &str) -> (String, String) {
    let u = app
        .create_user(json!({"email": email, "password": PW}))
        .await;
    let t = login(&app.client, &app.base, email, PW).await;
    (
        u["id"].as_str().unwrap().to_owned(),
        t["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Registers `a` for the holder of `token`; returns the answer.
async fn register(app: &TestApp, token: &str, a: &mut Authenticator, name: Value) -> Value {
    let res = post(
        app,
        Some(token),
        "/api/v1/auth/webauthn/register/start",
        json!({"password": PW}),
    )
    .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let options = ok_json(res, StatusCode::OK).await;
    let cred = a.create(&options);
    let mut body = json!({"credential": cred});
    if !name.is_null() {
        body["name"] = name;
    }
    let res = post(
        app,
        Some(token),
        "/api/v1/auth/webauthn/register/finish",
        body,
    )
    .await;
    ok_json(res, StatusCode::CREATED).await
}

async fn passwordless(app: &TestApp, a: &mut Authenticator) -> reqwest::Response {
    let res = post(app, None, "/api/v1/auth/webauthn/login/start", json!({})).await;
    let options = ok_json(res, StatusCode::OK).await;
    let cred = a.get(&options);
    post(
        app,
        None,
        "/api/v1/auth/webauthn/login/finish",
        json!({"credential": cred}),
    )
    .await
}

async fn mfa_token(app: &TestApp, email: &str) -> String {
    let res = post(
        app,
        None,
        "/api/v1/auth/login",
        json!({"login": email, "password": PW}),
    )
    .await;
    let body = ok_json(res, StatusCode::OK).await;
    assert_eq!(body["mfa_required"], true, "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_passkey_registers_then_signs_in_alone_and_as_the_second_step() {
    let app = spawn_app().await;
    let (id, token) = user(&app, "ada@example.com").await;
    let mut a = Authenticator::new(&app.base, 7);

    let res = post(
        &app,
        Some(&token),
        "/api/v1/auth/webauthn/register/start",
        json!({"password": PW}),
    )
    .await;
    let options = ok_json(res, StatusCode::OK).await;
    let o = &options["publicKey"];
    assert_eq!(o["rp"]["id"], "localhost");
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(o["user"]["id"], B64.encode(uuid.as_bytes()));
    assert_eq!(o["user"]["name"], "ada@example.com");
    assert_eq!(o["attestation"], "none");
    assert_eq!(o["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        B64.decode(o["challenge"].as_str().unwrap()).unwrap().len(),
        32
    );
    assert_eq!(o["excludeCredentials"], json!([]));

    // An access token alone may not add a passkey (it signs in alone).
    for (proof, status) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"password": "not-the-password"}),
            StatusCode::UNAUTHORIZED,
        ),
        (json!({"code": "123456"}), StatusCode::UNAUTHORIZED),
    ] {
        let res = post(
            &app,
            Some(&token),
            "/api/v1/auth/webauthn/register/start",
            proof,
        )
        .await;
        assert_problem(res, status).await;
    }
    let created = register(&app, &token, &mut a, json!("Laptop")).await;
    assert_eq!(created["passkey"]["name"], "Laptop");
    assert_eq!(created["passkey"]["id"], B64.encode(&a.id));
    assert_eq!(created["passkey"]["synced"], false);
    assert_eq!(created["passkey"]["last_used_at"], Value::Null);
    assert_eq!(created["recovery_codes"].as_array().unwrap().len(), 10);
    assert!(!created.to_string().contains("public_key"));
    let me = ok_json(
        app.get(&format!("/api/v1/users/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["mfa_enabled"], true);
    let status = ok_json(
        app.as_token(&token, Method::GET, "/api/v1/auth/mfa")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        status,
        json!({"totp": false, "passkeys": 1, "recovery_codes_left": 10, "required": false})
    );
    // The same authenticator again: excluded by the options, refused if sent.
    let res = post(
        &app,
        Some(&token),
        "/api/v1/auth/webauthn/register/start",
        json!({"password": PW}),
    )
    .await;
    let options = ok_json(res, StatusCode::OK).await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        B64.encode(&a.id)
    );
    let again = a.create(&options);
    let res = post(
        &app,
        Some(&token),
        "/api/v1/auth/webauthn/register/finish",
        json!({"credential": again}),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT).await;
    // A challenge answers once.
    let res = post(
        &app,
        Some(&token),
        "/api/v1/auth/webauthn/register/finish",
        json!({"credential": again}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // Alone: any passkey of the site, the user verified.
    let res = post(&app, None, "/api/v1/auth/webauthn/login/start", json!({})).await;
    let options = ok_json(res, StatusCode::OK).await;
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let answer = a.get(&options);
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/finish",
        json!({"credential": answer}),
    )
    .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let signed = ok_json(res, StatusCode::OK).await;
    assert_eq!(signed["user"]["id"], id.as_str());
    assert_eq!(
        amr(signed["access_token"].as_str().unwrap()),
        ["hwk", "mfa"]
    );
    // The same answer again: its challenge is spent.
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/finish",
        json!({"credential": answer}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // Alone, the authenticator must name its user.
    let res = post(&app, None, "/api/v1/auth/webauthn/login/start", json!({})).await;
    let options = ok_json(res, StatusCode::OK).await;
    let mut nameless = a.get(&options);
    nameless["response"]["userHandle"] = Value::Null;
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/finish",
        json!({"credential": nameless}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // Present but not verified is not enough alone.
    let res = post(&app, None, "/api/v1/auth/webauthn/login/start", json!({})).await;
    let options = ok_json(res, StatusCode::OK).await;
    let unverified = a.get_with(&options, 0x01);
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/finish",
        json!({"credential": unverified}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // After a password: the passkey is one of the ways.
    let res = post(
        &app,
        None,
        "/api/v1/auth/login",
        json!({"login": "ada@example.com", "password": PW}),
    )
    .await;
    let first = ok_json(res, StatusCode::OK).await;
    assert_eq!(first["methods"], json!(["webauthn", "recovery"]));
    assert!(first.get("access_token").is_none());
    let mfa = first["mfa_token"].as_str().unwrap();
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/start",
        json!({"mfa_token": mfa}),
    )
    .await;
    let options = ok_json(res, StatusCode::OK).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        B64.encode(&a.id)
    );
    assert_eq!(options["publicKey"]["userVerification"], "preferred");
    // A second-factor challenge cannot sign in alone (nor be retried).
    let answer = a.get(&options);
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/finish",
        json!({"credential": answer}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/start",
        json!({"mfa_token": mfa}),
    )
    .await;
    let options = ok_json(res, StatusCode::OK).await;
    let answer = a.get_with(&options, 0x01);
    let res = post(
        &app,
        None,
        "/api/v1/auth/mfa/verify",
        json!({"mfa_token": mfa, "method": "webauthn", "credential": answer}),
    )
    .await;
    let signed = ok_json(res, StatusCode::OK).await;
    assert_eq!(
        amr(signed["access_token"].as_str().unwrap()),
        ["hwk", "mfa", "pwd"]
    );
    // The mfa_token was spent with it.
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/start",
        json!({"mfa_token": mfa}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // A sign-in-alone challenge cannot finish a second step.
    let mfa = mfa_token(&app, "ada@example.com").await;
    let res = post(&app, None, "/api/v1/auth/webauthn/login/start", json!({})).await;
    let options = ok_json(res, StatusCode::OK).await;
    let answer = a.get(&options);
    let res = post(
        &app,
        None,
        "/api/v1/auth/mfa/verify",
        json!({"mfa_token": mfa, "method": "webauthn", "credential": answer}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // Listed, with its last use; renamed; every step audited.
    let list = ok_json(
        app.as_token(&token, Method::GET, "/api/v1/auth/webauthn/credentials")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0]["last_used_at"].is_string());
    let path = format!("/api/v1/auth/webauthn/credentials/{}", B64.encode(&a.id));
    let res = app
        .as_token(&token, Method::PATCH, &path)
        .json(&json!({"name": "  Work laptop "}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_json(res, StatusCode::OK).await["name"], "Work laptop");
    for bad in [
        json!({"name": ""}),
        json!({"name": "a\u{7}b"}),
        json!({}),
        json!({"name": "x".repeat(65)}),
    ] {
        let res = app
            .as_token(&token, Method::PATCH, &path)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let audit = ok_json(app.get("/api/v1/audit?action=login").await, StatusCode::OK).await;
    let details: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert!(details.contains(&"passkey \"Laptop\""), "{details:?}");
    assert!(
        details.contains(&"second factor: passkey \"Laptop\""),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.starts_with("passkey refused")),
        "{details:?}"
    );

    // Removed: the last factor, so the recovery codes go and the password
    // alone signs in again.
    let res = app
        .as_token(
            &token,
            Method::DELETE,
            "/api/v1/auth/webauthn/credentials/AAAA",
        )
        .json(&json!({"password": PW}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND).await;
    for (proof, status) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"password": "not-the-password"}),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let res = app
            .as_token(&token, Method::DELETE, &path)
            .json(&proof)
            .send()
            .await
            .unwrap();
        assert_problem(res, status).await;
    }
    let res = app
        .as_token(&token, Method::DELETE, &path)
        .json(&json!({"password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let me = ok_json(
        app.get(&format!("/api/v1/users/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["mfa_enabled"], false);
    let t = login(&app.client, &app.base, "ada@example.com", PW).await;
    assert_eq!(amr(t["access_token"].as_str().unwrap()), ["pwd"]);
    let res = passwordless(&app, &mut a).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn answers_that_do_not_hold_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (_, token) = user(&app, "bo@example.com").await;
    let mut a = Authenticator::new(&app.base, 9);
    let created = register(&app, &token, &mut a, Value::Null).await;
    assert_eq!(created["passkey"]["name"], "Passkey 1");

    // Another origin.
    let mut phish = Authenticator::new(&app.base, 9);
    phish.origin = "https://evil.example.com".into();
    phish.user_handle = a.user_handle.clone();
    let res = passwordless(&app, &mut phish).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // Another key under the same credential id: the signature fails.
    let mut forged = Authenticator::new(&app.base, 10);
    forged.id = a.id.clone();
    forged.user_handle = a.user_handle.clone();
    let res = passwordless(&app, &mut forged).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // A counter that goes back (a cloned authenticator).
    assert_eq!(passwordless(&app, &mut a).await.status(), StatusCode::OK);
    a.count = 0;
    let res = passwordless(&app, &mut a).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    a.count = 10;
    assert_eq!(passwordless(&app, &mut a).await.status(), StatusCode::OK);
    // A passkey not registered here.
    let mut stranger = Authenticator::new(&app.base, 11);
    let res = passwordless(&app, &mut stranger).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    // Bodies that are not WebAuthn: 422, nothing registered.
    for body in [
        json!({}),
        json!({"credential": "x"}),
        json!({"credential": {"id": "AQID", "type": "public-key"}}),
        json!({"credential": {"id": "***", "type": "public-key", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}}),
        json!({"credential": {"id": "AQID", "type": "password", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}}),
        json!({"credential": {"id": "AQID", "type": "public-key", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}}),
        json!({"credential": {}, "x": 1}),
    ] {
        let res = post(
            &app,
            Some(&token),
            "/api/v1/auth/webauthn/register/finish",
            body.clone(),
        )
        .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            p.to_string().contains("credential") || p.to_string().contains("\"x\""),
            "{body}: {p}"
        );
    }
    let list = ok_json(
        app.as_token(&token, Method::GET, "/api/v1/auth/webauthn/credentials")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // The second step: a code with webauthn, a credential with totp.
    let mfa = mfa_token(&app, "bo@example.com").await;
    let res = post(
        &app,
        None,
        "/api/v1/auth/mfa/verify",
        json!({"mfa_token": mfa, "method": "webauthn", "code": "123456"}),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = post(
        &app,
        None,
        "/api/v1/auth/mfa/verify",
        json!({"mfa_token": mfa, "method": "webauthn"}),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = post(
        &app,
        None,
        "/api/v1/auth/mfa/verify",
        json!({"mfa_token": mfa, "method": "totp", "code": "1", "credential": {}}),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/start",
        json!({"mfa_token": "nope"}),
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = post(
        &app,
        None,
        "/api/v1/auth/webauthn/login/start",
        json!({"other": 1}),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // An API key is not a user.
    let key = ok_json(
        app.send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "ci", "scopes": ["admin"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let secret = key["secret"].as_str().unwrap();
    let res = post(
        &app,
        Some(secret),
        "/api/v1/auth/webauthn/register/start",
        json!({"password": PW}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;

    // An admin's reset removes passkeys too.
    let me = ok_json(
        app.as_token(&token, Method::GET, "/api/v1/auth/me")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/users/{}/mfa", me["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = passwordless(&app, &mut a).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn adding_and_removing_a_passkey_and_an_admin_reset_are_mailed_to_the_user() {
    let sink = crate::smtp_sink::SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_tuned(|c| c.mail.smtp_url = Some(url)).await;
    let (id, token) = user(&app, "cy@example.com").await;
    let mut a = Authenticator::new(&app.base, 12);
    register(&app, &token, &mut a, json!("Phone")).await;
    let path = format!("/api/v1/auth/webauthn/credentials/{}", B64.encode(&a.id));
    let res = app
        .as_token(&token, Method::DELETE, &path)
        .json(&json!({"password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    register(&app, &token, &mut a, json!("Phone again")).await;
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{id}/mfa"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let mails = sink.next_n_to("cy@example.com", 4).await;
    let texts: Vec<&str> = mails.iter().map(|m| m.text.as_str()).collect();
    // The outbox sends in parallel: each notice once, in any order.
    for change in [
        "A passkey named \"Phone\" was added on the account cy@example.com.",
        "The passkey \"Phone\" was removed",
        "A passkey named \"Phone again\" was added",
        "An administrator removed every second factor",
    ] {
        let n = texts.iter().filter(|t| t.contains(change)).count();
        assert_eq!(n, 1, "{change}: {texts:#?}");
    }
    for m in &mails {
        assert_eq!(m.subject, "A sign-in factor of your roster account changed");
        assert!(
            !m.text.contains(&B64.encode(&a.id)),
            "no credential id in mail"
        );
    }
}
