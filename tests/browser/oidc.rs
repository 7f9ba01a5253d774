//! Single sign-on through roster in a real Chromium: an app (the
//! `openidconnect` crate, a relying party no one here wrote) sends the
//! browser to roster; the person signs in on roster's page, agrees on the
//! consent page, and lands on the app's loopback callback with a code,
//! which the app exchanges (PKCE) and checks (the ID token, userinfo).

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app};
use super::{Browser, log_in};

#[derive(Debug)]
struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// The relying party's HTTP client: reqwest, never following redirects.
async fn rp_http(
    client: reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let res = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut out = http::Response::builder().status(res.status());
    for (k, v) in res.headers() {
        out = out.header(k, v);
    }
    let bytes = res.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(bytes.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

/// The app's callback: answers one request on loopback and hands over its
/// path and query.
async fn callback_server() -> (String, tokio::sync::oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        let n = conn.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let page = "<!doctype html><title>Signed in</title><p id=done>Signed in to the app.</p>";
        let res = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = conn.write_all(res.as_bytes()).await;
        let _ = tx.send(target);
    });
    (url, rx)
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn an_app_signs_a_person_in_through_roster() {
    let app = spawn_app().await;
    let (redirect, called_back) = callback_server().await;
    let b = Browser::start(1280, 860).await;

    // The admin registers the app in the console; the secret shows once.
    log_in(&b, &app).await;
    b.goto(&app.url("/admin/#/apps")).await;
    b.type_into("#client-name", "Wiki").await;
    b.type_into("#client-redirect-uris", &redirect).await;
    b.click("#client-form button[type=submit]").await;
    let secret = b
        .until(
            "the client secret, once",
            "const c = document.querySelector('#client-secret code'); return c && c.textContent",
        )
        .await;
    let client_id = b
        .until(
            "the new app in the list",
            "const r = document.querySelector('#client-list .webhook-row'); return r && r.dataset.id",
        )
        .await;
    b.save_screenshot("oidc-apps").await;
    // Renamed in the console; the consent page and the Security page
    // show the new name.
    b.click("#client-list button[data-action=edit]").await;
    b.js("document.getElementById('client-name').value = ''")
        .await;
    b.type_into("#client-name", "Team wiki").await;
    b.click("#client-form button[type=submit]").await;
    b.until(
        "the renamed app in the list",
        "return document.querySelector('#client-list .webhook-row strong')?.textContent === 'Team wiki'",
    )
    .await;

    let http_client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let http = move |req| rp_http(http_client.clone(), req);
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.as_str().unwrap().into()),
        Some(ClientSecret::new(secret.as_str().unwrap().into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The app sends the browser to roster: sign in, consent, back to the app.
    b.goto(auth_url.as_str()).await;
    b.type_into("#login-form input[name=login]", ADMIN_EMAIL)
        .await;
    b.type_into("#login-form input[name=password]", ADMIN_PASSWORD)
        .await;
    b.click("#login-form button[type=submit]").await;
    b.find("#consent-form #allow").await;
    let shared = b
        .js("return [...document.querySelectorAll('#scopes li')].map(li => li.dataset.scope)")
        .await;
    assert_eq!(shared, json!(["openid", "profile", "email"]));
    b.save_screenshot("oidc-consent").await;
    b.click("#consent-form #allow").await;
    let target = tokio::time::timeout(Duration::from_secs(10), called_back)
        .await
        .expect("the browser reached the app's callback")
        .unwrap();
    b.find("#done").await;

    let back = url::Url::parse(&format!("http://app{target}")).unwrap();
    let q = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("state").as_deref(), Some(state.secret().as_str()));
    let tokens = client
        .exchange_code(AuthorizationCode::new(q("code").expect("a code")))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(ADMIN_EMAIL));
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());

    // The person sees the app on the Security page and signs out of it.
    b.goto(&app.url("/admin/#/security")).await;
    let listed = b
        .until(
            "the app among the signed-in apps",
            "const r = document.querySelector('#app-list li'); return r && r.textContent",
        )
        .await;
    assert!(listed.as_str().unwrap().contains("Team wiki"), "{listed}");
    b.click("#app-list button[data-action=sign-out]").await;
    b.until(
        "the app gone from the list",
        "return !document.querySelector('#app-list li')",
    )
    .await;
    b.assert_clean_console().await;
    b.close().await;
    let res = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "signed out of the app"
    );
}

/// The `code` and `state` of the request the app's callback received.
fn code_of(target: &str) -> (String, String) {
    let back = url::Url::parse(&format!("http://app{target}")).unwrap();
    let q = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    (q("code"), q("state"))
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn a_passkey_signs_in_on_roster_s_page() {
    let app = spawn_app().await;
    // A relying party id is a domain: the pages are opened as localhost.
    let base = app.base.replace("127.0.0.1", "localhost");
    let b = Browser::start(1280, 900).await;
    b.session_command(
        http::Method::POST,
        "webauthn/authenticator",
        Some(json!({
            "protocol": "ctap2", "transport": "internal",
            "hasResidentKey": true, "hasUserVerification": true,
            "isUserVerified": true, "automaticPresenceSimulation": true,
        })),
    )
    .await;
    // The admin adds a passkey in the console.
    b.goto(&format!("{base}/admin/")).await;
    super::mfa::sign_in_with_password(&b).await;
    b.find("#users-table").await;
    b.js("location.hash = '#/security'").await;
    b.type_into("#passkey-name", "Laptop").await;
    b.type_into("#passkey-password", ADMIN_PASSWORD).await;
    b.click("#passkey-add").await;
    b.click("#recovery-done").await;
    b.until(
        "the passkey listed",
        "return document.querySelector('#passkey-list .passkey-name')?.textContent === 'Laptop'",
    )
    .await;

    let (redirect, called_back) = callback_server().await;
    let created: serde_json::Value = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/oauth-clients",
            &json!({"name": "Team wiki", "redirect_uris": [redirect], "skip_consent": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let verifier = "p".repeat(50);
    use base64::Engine;
    use sha2::Digest;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid email")
        .append_pair("state", "st-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();

    // Roster's page: the passkey alone signs in, and the app gets its code.
    b.goto(&format!("{base}/oauth2/authorize?{q}")).await;
    b.click("#passkey-signin").await;
    let target = tokio::time::timeout(Duration::from_secs(10), called_back)
        .await
        .expect("the browser reached the app's callback")
        .unwrap();
    b.find("#done").await;
    b.assert_clean_console().await;
    b.close().await;
    let (code, state) = code_of(&target);
    assert_eq!(state, "st-1");
    let res = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", &code)
                .append_pair("redirect_uri", &redirect)
                .append_pair("code_verifier", &verifier)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: serde_json::Value = res.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let amr = claims["amr"].to_string();
    assert!(
        amr.contains("hwk") || amr.contains("swk"),
        "a passkey: {amr}"
    );
    assert_eq!(claims["email"], ADMIN_EMAIL);
}
