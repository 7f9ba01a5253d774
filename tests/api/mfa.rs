//! Second factors: TOTP enrolment, the two-step sign-in, replay and skew,
//! recovery codes, throttling, removal, an admin's reset, the policy that
//! requires a factor, and the `amr` claim. Codes are computed here from the
//! `otpauth://` URL the server hands out, by `totp-rs` as an app would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::TOTP;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Checked, TestApp, assert_no_secrets, assert_problem, login,
    spawn_app, spawn_app_tuned,
};

const PW: &str = "user-password-1";

pub(crate) fn unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until at least 8 s of the current 30 s step remain, so that a
/// code computed now for a step is judged in the same step.
async fn steady_step() {
    let into = unix() % 30;
    if into > 22 {
        tokio::time::sleep(Duration::from_secs(30 - into)).await;
    }
}

fn amr(access_token: &str) -> Vec<String> {
    let part = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    let mut v: Vec<String> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.as_token(token, Method::POST, path)
        .json(&body)
        .check()
        .await
}

async fn first_step(app: &TestApp, email: &str, password: &str) -> Value {
    let res = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": email, "password": password}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

async fn second_step(
    app: &TestApp,
    mfa_token: &str,
    method: &str,
    code: &str,
) -> reqwest::Response {
    app.anon(Method::POST, "/api/v1/auth/mfa/verify")
        .json(&json!({"mfa_token": mfa_token, "method": method, "code": code}))
        .check()
        .await
}

/// Enrols TOTP for the holder of `token`: returns the app's TOTP and the
/// recovery codes.
pub(crate) async fn enrol(app: &TestApp, token: &str) -> (TOTP, Vec<String>) {
    let res = post(app, token, "/api/v1/auth/mfa/totp/setup", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let setup: Value = res.json().await.unwrap();
    let url = setup["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    let totp = TOTP::from_url(url).unwrap();
    assert_eq!(totp.get_secret_base32(), setup["secret"].as_str().unwrap());
    assert_eq!((totp.digits, totp.step), (6, 30));
    steady_step().await;
    let res = post(
        app,
        token,
        "/api/v1/auth/mfa/totp/confirm",
        json!({"code": totp.generate(unix())}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (totp, codes)
}

/// The holder of `token`'s second factors, as `GET /api/v1/auth/mfa` says.
async fn mfa_status(app: &TestApp, token: &str) -> Value {
    let res = app
        .as_token(token, Method::GET, "/api/v1/auth/mfa")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The `mfa_token` of a password sign-in of `email`.
async fn challenge_of(app: &TestApp, email: &str) -> String {
    first_step(app, email, PW).await["mfa_token"]
        .as_str()
        .expect("a second factor is due")
        .to_owned()
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

#[tokio::test]
async fn totp_enrolment_then_sign_in_in_two_steps_with_replay_and_skew_refused() {
    let app = spawn_app().await;
    let (id, token) = user(&app, "ada@example.com").await;
    assert_eq!(amr(&token), ["pwd"]);
    let status: Value = mfa_status(&app, &token).await;
    assert_eq!(
        status,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0, "required": false})
    );

    // A wrong first code turns nothing on.
    post(&app, &token, "/api/v1/auth/mfa/totp/setup", json!({})).await;
    let wrong = post(
        &app,
        &token,
        "/api/v1/auth/mfa/totp/confirm",
        json!({"code": "000000"}),
    )
    .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED).await;
    let me: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["mfa_enabled"], false);

    let (totp, recovery) = enrol(&app, &token).await;
    let me: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["mfa_enabled"], true);
    assert_no_secrets(&me);
    assert!(!me.to_string().contains(&totp.get_secret_base32()));
    let again = post(&app, &token, "/api/v1/auth/mfa/totp/setup", json!({})).await;
    assert_problem(again, StatusCode::CONFLICT).await;
    let status: Value = mfa_status(&app, &token).await;
    assert_eq!(
        status,
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10, "required": false})
    );
    // mfa_enabled is the server's: a body may not set it.
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &json!({"mfa_enabled": false}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // The password alone gives a challenge, not tokens.
    let first = first_step(&app, "ada@example.com", PW).await;
    assert_eq!(first["mfa_required"], true);
    assert_eq!(first["methods"], json!(["totp", "recovery"]));
    assert_eq!(first["expires_in"], 300);
    assert!(first.get("access_token").is_none() && first.get("refresh_token").is_none());
    let challenge = first["mfa_token"].as_str().unwrap().to_owned();

    steady_step().await;
    let now = unix();
    // The code that confirmed enrolment (this step or the one before) is spent.
    for spent in [totp.generate(now), totp.generate(now - 30)] {
        assert_problem(
            second_step(&app, &challenge, "totp", &spent).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Two steps ahead is beyond the skew allowed.
    let far = totp.generate(now + 60);
    assert_problem(
        second_step(&app, &challenge, "totp", &far).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        second_step(&app, &challenge, "sms", "123456").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // One step ahead (a phone's clock a little fast) is accepted.
    let ahead = totp.generate(now + 30);
    let res = second_step(&app, &challenge, "totp", &ahead).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["user"]["mfa_enabled"], true);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(amr(access), ["mfa", "otp", "pwd"]);
    assert_eq!(
        app.as_token(access, Method::GET, "/api/v1/auth/me")
            .check()
            .await
            .status(),
        StatusCode::OK
    );
    // The challenge was good for one sign-in.
    let later = totp.generate(now + 30);
    assert_problem(
        second_step(&app, &challenge, "totp", &later).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A refresh keeps how the session was proven.
    let refreshed: Value = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .check()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        amr(refreshed["access_token"].as_str().unwrap()),
        ["mfa", "otp", "pwd"]
    );

    // The code just used is spent for the next sign-in too.
    let next = challenge_of(&app, "ada@example.com").await;
    assert_problem(
        second_step(&app, &next, "totp", &ahead).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A recovery code works once, typed loosely.
    let loose = recovery[3].to_uppercase().replace('-', " ");
    let res = second_step(&app, &next, "recovery", &loose).await;
    assert_eq!(res.status(), StatusCode::OK);
    let third = challenge_of(&app, "ada@example.com").await;
    assert_problem(
        second_step(&app, &third, "recovery", &recovery[3]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        second_step(&app, &third, "recovery", &recovery[4])
            .await
            .status(),
        StatusCode::OK
    );

    // Every step is in the audit log, the failures too.
    let audit: Value = app
        .get("/api/v1/audit?action=login")
        .await
        .json()
        .await
        .unwrap();
    let details: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert!(details.contains(&"second factor: totp"), "{details:?}");
    assert!(
        details.contains(&"second factor: recovery code"),
        "{details:?}"
    );
    assert!(
        details.contains(&"wrong second factor (totp)"),
        "{details:?}"
    );
    assert!(
        details.contains(&"password right; second factor due"),
        "{details:?}"
    );
    assert!(!audit.to_string().contains(&recovery[5]));

    // Search filters and counts users by second factor, browsing or with words.
    for (q, with, without) in [("", 1, 1), ("q=ada&", 1, 0)] {
        let found: Value = app
            .get(&format!(
                "/api/v1/users/search?{q}facets=mfa_enabled,status&consistent=true"
            ))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            found["facets"]["mfa_enabled"],
            json!({"true": with, "false": without}),
            "{q}"
        );
        let only: Value = app
            .get(&format!(
                "/api/v1/users/search?{q}mfa_enabled=true&consistent=true"
            ))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(only["total"], 1, "{q}");
        assert_eq!(only["hits"][0]["user"]["id"], id.as_str());
        assert_eq!(only["hits"][0]["user"]["mfa_enabled"], true);
    }
    let none: Value = app
        .get("/api/v1/users/search?q=admin&mfa_enabled=true&consistent=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_account() {
    let app = spawn_app_tuned(|c| {
        c.auth.login_rate_limit = Some(3);
        c.auth.login_burst = 3;
    })
    .await;
    let (_, token) = user(&app, "bob@example.com").await;
    let (totp, _) = enrol(&app, &token).await;
    let challenge = challenge_of(&app, "bob@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            second_step(&app, &challenge, "totp", "999999")
                .await
                .status(),
        );
    }
    assert!(
        statuses[..2].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Even the right code waits now: the account is over its allowance.
    let res = second_step(&app, &challenge, "totp", &totp.generate(unix() + 30)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn removing_totp_needs_proof_and_an_admin_reset_ends_every_session() {
    let app = spawn_app().await;
    let (id, token) = user(&app, "cy@example.com").await;
    let (totp, _) = enrol(&app, &token).await;

    let both = app
        .as_token(&token, Method::DELETE, "/api/v1/auth/mfa/totp")
        .json(&json!({"password": PW, "code": "123456"}))
        .check()
        .await;
    assert_problem(both, StatusCode::UNPROCESSABLE_ENTITY).await;
    let wrong = app
        .as_token(&token, Method::DELETE, "/api/v1/auth/mfa/totp")
        .json(&json!({"password": "not-the-password"}))
        .check()
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED).await;
    steady_step().await;
    let res = app
        .as_token(&token, Method::DELETE, "/api/v1/auth/mfa/totp")
        .json(&json!({"code": totp.generate(unix() + 30)}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let u: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["mfa_enabled"], false);
    let t = first_step(&app, "cy@example.com", PW).await;
    assert!(t["access_token"].is_string(), "{t}");

    // Enrolled again, then reset by an admin: every session ends.
    let (_, _) = enrol(&app, &token).await;
    let other = user(&app, "dee@example.com").await.1;
    let plain = app
        .as_token(&other, Method::DELETE, &format!("/api/v1/users/{id}/mfa"))
        .check()
        .await;
    assert_problem(plain, StatusCode::FORBIDDEN).await;
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{id}/mfa"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let gone = app
        .as_token(&token, Method::GET, "/api/v1/auth/me")
        .check()
        .await;
    assert_problem(gone, StatusCode::UNAUTHORIZED).await;
    let u: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["mfa_enabled"], false);
    let t = first_step(&app, "cy@example.com", PW).await;
    assert_eq!(amr(t["access_token"].as_str().unwrap()), ["pwd"]);
    let audit: Value = app
        .get("/api/v1/audit?action=mfa.reset")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"][0]["target"], id.as_str());
    let missing = app
        .request(
            Method::DELETE,
            "/api/v1/users/01900000-0000-7000-8000-000000000000/mfa",
        )
        .check()
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_role_that_requires_a_factor_must_enrol_before_anything_else() {
    let app = spawn_app_tuned(|c| c.auth.require_mfa_for = vec![roster::domain::Role::Admin]).await;
    // The admin's token (from a password only) is good for enrolment only.
    let first = first_step(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(first["mfa_enrollment_required"], true);
    let token = first["access_token"].as_str().unwrap().to_owned();
    let res = app
        .as_token(&token, Method::GET, "/api/v1/users")
        .check()
        .await;
    let p = assert_problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], "urn:roster:problem:mfa-enrollment-required");
    let me = app
        .as_token(&token, Method::GET, "/api/v1/auth/me")
        .check()
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let status: Value = mfa_status(&app, &token).await;
    assert_eq!(status["required"], true);

    // Once enrolled, the same token works, and sign-in takes two steps.
    let (totp, _) = enrol(&app, &token).await;
    let res = app
        .as_token(&token, Method::GET, "/api/v1/users")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A plain user (created now that the admin may) is not concerned.
    let (_, plain) = user(&app, "eve@example.com").await;
    let t = first_step(&app, "eve@example.com", PW).await;
    assert!(t.get("mfa_enrollment_required").is_none(), "{t}");
    assert_eq!(
        app.as_token(&plain, Method::GET, "/api/v1/auth/me")
            .check()
            .await
            .status(),
        StatusCode::OK
    );

    let first = first_step(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(first["mfa_required"], true);
    steady_step().await;
    let res = second_step(
        &app,
        first["mfa_token"].as_str().unwrap(),
        "totp",
        &totp.generate(unix() + 30),
    )
    .await;
    let t: Value = res.json().await.unwrap();
    assert!(t.get("mfa_enrollment_required").is_none(), "{t}");
    assert_eq!(
        amr(t["access_token"].as_str().unwrap()),
        ["mfa", "otp", "pwd"]
    );
}

#[tokio::test]
async fn api_keys_have_no_factors_and_bad_bodies_change_nothing() {
    let app = spawn_app().await;
    let key: Value = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "ci", "scopes": ["admin"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().unwrap();
    let res = post(&app, secret, "/api/v1/auth/mfa/totp/setup", json!({})).await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    let (_, token) = user(&app, "fay@example.com").await;
    for body in [
        json!({}),
        json!({"code": 123456}),
        json!({"code": "123456", "x": 1}),
    ] {
        let res = post(&app, &token, "/api/v1/auth/mfa/totp/confirm", body).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    // Confirm with nothing set up: 409, nothing turned on.
    let res = post(
        &app,
        &token,
        "/api/v1/auth/mfa/totp/confirm",
        json!({"code": "123456"}),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT).await;
    for body in [json!({}), json!({"mfa_token": "x", "method": "totp"})] {
        let res = app
            .anon(Method::POST, "/api/v1/auth/mfa/verify")
            .json(&body)
            .check()
            .await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let res = second_step(&app, "not-a-token", "totp", "123456").await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_mailed_sign_in_link_also_asks_for_the_second_factor() {
    let sink = crate::smtp_sink::SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_tuned(|c| {
        c.mail.smtp_url = Some(url);
        c.mail.allow_magic_link = true;
    })
    .await;
    let (_, token) = user(&app, "gus@example.com").await;
    let (totp, _) = enrol(&app, &token).await;
    let res = app
        .anon(Method::POST, "/api/v1/auth/magic-link/request")
        .json(&json!({"email": "gus@example.com"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // The notice that the app was set up, and the link (sent in parallel).
    let mails = sink.next_n_to("gus@example.com", 2).await;
    let (notices, links): (Vec<_>, Vec<_>) = mails
        .into_iter()
        .partition(|m| m.subject.contains("sign-in factor"));
    assert!(
        notices[0].text.contains("An authenticator app was set up"),
        "{notices:?}"
    );
    let mail = &links[0];
    let res = app
        .anon(Method::POST, "/api/v1/auth/magic-link/confirm")
        .json(&json!({"token": mail.token()}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["mfa_required"], true, "{first}");
    assert!(first.get("access_token").is_none());
    steady_step().await;
    let code = totp.generate(unix() + 30);
    let res = second_step(&app, first["mfa_token"].as_str().unwrap(), "totp", &code).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(
        amr(t["access_token"].as_str().unwrap()),
        ["email", "mfa", "otp"]
    );
}

#[tokio::test]
async fn recovery_codes_are_made_anew_with_the_password_or_a_code() {
    let app = spawn_app().await;
    let (_, token) = user(&app, "hal@example.com").await;
    let path = "/api/v1/auth/mfa/recovery-codes";
    // No factor yet: nothing to recover.
    let res = post(&app, &token, path, json!({"password": PW})).await;
    assert_problem(res, StatusCode::CONFLICT).await;
    let (totp, old) = enrol(&app, &token).await;
    for bad in [
        json!({}),
        json!({"password": PW, "code": "123456"}),
        json!({"password": PW, "x": 1}),
    ] {
        let res = post(&app, &token, path, bad).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let res = post(&app, &token, path, json!({"password": "wrong-password"})).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = post(&app, &token, path, json!({"code": "000000"})).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // Nothing changed by those: an old code still works.
    let res = second_step(
        &app,
        &challenge_of(&app, "hal@example.com").await,
        "recovery",
        &old[0],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = post(&app, &token, path, json!({"password": PW})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let new: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    assert_eq!(mfa_status(&app, &token).await["recovery_codes_left"], 10);
    // The earlier codes are void, the new ones work.
    let res = second_step(
        &app,
        &challenge_of(&app, "hal@example.com").await,
        "recovery",
        &old[1],
    )
    .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = second_step(
        &app,
        &challenge_of(&app, "hal@example.com").await,
        "recovery",
        &new[0],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // With a current code instead of the password (one step ahead: the
    // enrolment's step is spent).
    steady_step().await;
    let res = post(
        &app,
        &token,
        path,
        json!({"code": totp.generate(unix() + 30)}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}
