//! Passkeys in the console, with Chromium's virtual authenticator (the
//! WebDriver WebAuthn extension, through fantoccini's raw commands): an
//! admin adds a passkey on the Security page, signs out, signs in with the
//! passkey alone, and then uses it as the second step after a password.

use super::mfa::sign_in_with_password;
use super::*;

/// A WebDriver command of the session: `POST|GET /session/{id}/{path}`.
#[derive(Debug)]
struct SessionCommand {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

impl Browser {
    pub(super) async fn session_command(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        self.client
            .issue_cmd(SessionCommand {
                method,
                path: path.to_owned(),
                body,
            })
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// The audit log's `login` details, newest first.
async fn login_details(app: &TestApp) -> Vec<String> {
    let audit: Value = app
        .get("/api/v1/audit?action=login")
        .await
        .json()
        .await
        .unwrap();
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn an_admin_adds_a_passkey_then_signs_in_with_it_alone_and_as_a_second_factor() {
    let app = helpers::spawn_app().await;
    // A relying party id is a domain: the page is opened as localhost.
    let base = app.base.replace("127.0.0.1", "localhost");
    let b = Browser::start(1280, 900).await;
    let auth = b
        .session_command(
            http::Method::POST,
            "webauthn/authenticator",
            Some(json!({
                "protocol": "ctap2", "transport": "internal",
                "hasResidentKey": true, "hasUserVerification": true,
                "isUserVerified": true, "automaticPresenceSimulation": true,
            })),
        )
        .await;
    let auth_id = auth.as_str().expect("an authenticator id").to_owned();

    b.goto(&format!("{base}/admin/")).await;
    sign_in_with_password(&b).await;
    b.until(
        "the users table",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;
    b.js("location.hash = '#/security'").await;
    b.find("#passkey-form").await;
    b.type_into("#passkey-name", "Test key").await;
    b.type_into("#passkey-password", ADMIN_PASSWORD).await;
    b.click("#passkey-add").await;
    // The first factor of the account: recovery codes, once.
    b.until(
        "ten recovery codes",
        "return document.querySelectorAll('#recovery-codes li').length === 10",
    )
    .await;
    b.click("#recovery-done").await;
    b.until(
        "the passkey listed",
        "return document.querySelector('#passkey-list .passkey-name')?.textContent === 'Test key'",
    )
    .await;
    b.save_screenshot("security-passkeys").await;
    let held = b
        .session_command(
            http::Method::GET,
            &format!("webauthn/authenticator/{auth_id}/credentials"),
            None,
        )
        .await;
    let held = held.as_array().expect("credentials");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true);
    assert_eq!(held[0]["rpId"], "localhost");
    let me: Value = app
        .get("/api/v1/users?limit=10")
        .await
        .json()
        .await
        .unwrap();
    let admin = me["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == ADMIN_EMAIL)
        .unwrap();
    assert_eq!(admin["mfa_enabled"], true);

    // Signed out: the passkey alone signs in.
    b.click("#logout").await;
    b.click("#passkey-signin").await;
    b.until(
        "the users table after a passkey",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;
    assert_eq!(login_details(&app).await[0], "passkey \"Test key\"");

    // After a password, the passkey is the second step.
    b.click("#logout").await;
    sign_in_with_password(&b).await;
    b.find("#mfa-form").await;
    b.click("#mfa-passkey").await;
    b.until(
        "the users table after password and passkey",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;
    let details = login_details(&app).await;
    assert_eq!(details[0], "second factor: passkey \"Test key\"");
    assert_eq!(details[1], "password right; second factor due");
    b.assert_clean_console().await;
    b.close().await;
}
