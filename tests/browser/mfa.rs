//! Second factors in the console: an admin whose role requires one is kept
//! on the Security page until it sets up an authenticator app (QR code and
//! key shown, a first code, recovery codes once), then signs in in two
//! steps; and an admin resets another user's factor from the user panel.
//! Codes come from `totp-rs` reading the key the page shows, as an app would.

use std::time::{SystemTime, UNIX_EPOCH};

use totp_rs::{Algorithm, Secret, TOTP};

use super::*;

fn app_totp(base32: &str) -> TOTP {
    let secret = Secret::Encoded(base32.to_owned())
        .to_bytes()
        .expect("a base32 key");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new())
}

/// A code one step ahead: never the step a previous code used, and within
/// the one step of skew the server allows.
fn next_code(totp: &TOTP) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + 30)
}

/// Enrols TOTP for `email` over the API; returns the user's id.
async fn enrolled_user(app: &TestApp, email: &str) -> String {
    let u = app
        .create_user(json!({"email": email, "password": "their-password-1"}))
        .await;
    let t = helpers::login(&app.client, &app.base, email, "their-password-1").await;
    let token = t["access_token"].as_str().unwrap();
    let setup: Value = app
        .as_token(token, Method::POST, "/api/v1/auth/mfa/totp/setup")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp = app_totp(setup["secret"].as_str().unwrap());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let res = app
        .as_token(token, Method::POST, "/api/v1/auth/mfa/totp/confirm")
        .json(&json!({"code": totp.generate(now)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    u["id"].as_str().unwrap().to_owned()
}

/// The first step of the admin's sign-in on the form shown.
pub(super) async fn sign_in_with_password(b: &Browser) {
    b.type_into("#login-form input[name=login]", ADMIN_EMAIL)
        .await;
    b.type_into("#login-form input[name=password]", ADMIN_PASSWORD)
        .await;
    b.click("#login-form button[type=submit]").await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn an_admin_sets_up_an_authenticator_then_signs_in_in_two_steps() {
    let app = helpers::spawn_app_tuned(|c| {
        c.auth.require_mfa_for = vec![roster::domain::Role::Admin];
    })
    .await;
    let b = Browser::start(1280, 900).await;
    b.goto(&app.url("/admin/")).await;
    sign_in_with_password(&b).await;
    // Kept on the Security page, told why.
    b.find("#mfa-required").await;
    b.until(
        "the security route",
        "return location.hash === '#/security'",
    )
    .await;
    b.js("location.hash = '#/users'").await;
    b.until(
        "still the security route",
        "return location.hash === '#/security' && !!document.querySelector('#totp-start')",
    )
    .await;

    b.click("#totp-start").await;
    let key = b.find("#totp-secret").await.text().await.unwrap();
    // The QR code is an image the page's CSP lets through.
    b.until(
        "the QR code drawn",
        "const i = document.querySelector('#totp-qr'); return i && i.complete && i.naturalWidth > 0",
    )
    .await;
    let totp = app_totp(&key);
    b.type_into("#totp-code", "12345").await;
    b.click("#totp-confirm").await;
    b.until(
        "a local error for five digits",
        "return document.querySelector('#totp-confirm-form .alert:not([hidden])')?.textContent",
    )
    .await;
    b.find("#totp-code").await.clear().await.unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    b.type_into("#totp-code", &totp.generate(now)).await;
    b.click("#totp-confirm").await;
    let codes = b
        .until(
            "ten recovery codes",
            "const c = [...document.querySelectorAll('#recovery-codes li')].map(l => l.textContent); return c.length === 10 && c",
        )
        .await;
    let recovery = codes[0].as_str().unwrap().to_owned();
    b.save_screenshot("security-recovery-codes").await;
    b.click("#recovery-done").await;
    b.until(
        "the app shown as on",
        "return document.querySelector('#recovery-left')?.textContent.startsWith('10 of 10')",
    )
    .await;
    // Now the rest of the console opens.
    b.js("location.hash = '#/users'").await;
    b.until(
        "the users table",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;

    // Signed out, the password alone is not enough any more.
    b.click("#logout").await;
    sign_in_with_password(&b).await;
    b.find("#mfa-form").await;
    b.type_into("#mfa-code", "000000").await;
    b.click("#mfa-form button[type=submit]").await;
    b.until(
        "a wrong code refused",
        "return document.querySelector('#mfa-form .alert:not([hidden])')?.textContent",
    )
    .await;
    b.type_into("#mfa-code", &next_code(&totp)).await;
    b.click("#mfa-form button[type=submit]").await;
    b.until(
        "the users table after two steps",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;

    // And with a recovery code, once.
    b.click("#logout").await;
    sign_in_with_password(&b).await;
    b.click("#mfa-switch").await;
    b.type_into("#mfa-code", &recovery).await;
    b.click("#mfa-form button[type=submit]").await;
    b.until(
        "the users table after a recovery code",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;
    b.assert_clean_console().await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn an_admin_resets_a_users_second_factor_from_the_panel() {
    let app = helpers::spawn_app().await;
    let id = enrolled_user(&app, "lost.phone@example.com").await;
    let b = Browser::start(1280, 900).await;
    log_in(&b, &app).await;
    b.goto(&app.url(&format!("/admin/#/users/{id}"))).await;
    b.until(
        "the second factor shown as on",
        "return document.querySelector('#user-mfa-state')?.textContent === 'On'",
    )
    .await;
    b.click("#reset-mfa").await;
    b.click("#confirm-ok").await;
    b.until(
        "the second factor shown as off",
        "return document.querySelector('#user-mfa-state')?.textContent === 'Off'",
    )
    .await;
    let u: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["mfa_enabled"], false);
    let t = helpers::login(
        &app.client,
        &app.base,
        "lost.phone@example.com",
        "their-password-1",
    )
    .await;
    assert!(t["access_token"].is_string(), "{t}");
    b.assert_clean_console().await;
    b.close().await;
}
