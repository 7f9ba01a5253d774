//! roster as an OpenID Connect provider, driven by a relying-party library
//! no one here wrote (the `openidconnect` crate) and by a scripted browser
//! (reqwest keeping its own cookies, following no redirect): discovery,
//! sign-in on roster's page, consent, the code flow with PKCE, ID-token
//! validation, userinfo, refresh, revocation, introspection, and the
//! attacks the provider must refuse.

use std::collections::HashMap;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Checked, TestApp, assert_problem, error_fields, spawn_app};

const ALICE: &str = "alice@example.test";
const ALICE_PASSWORD: &str = "alice-password-1";
const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// The HTTP client the relying party uses: reqwest without redirects.
#[derive(Debug)]
struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

fn rp_http() -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>,
> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    move |req: openidconnect::HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
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
        })
    }
}

/// A browser: keeps cookies, follows nothing by itself.
struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    async fn get(&mut self, url: &str) -> (StatusCode, Option<String>, String) {
        let res = self
            .client
            .get(url)
            .header("cookie", self.cookie_header())
            .check()
            .await;
        self.answer(res).await
    }

    async fn post(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let res = self
            .client
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(body)
            .check()
            .await;
        self.answer(res).await
    }

    async fn answer(&mut self, res: reqwest::Response) -> (StatusCode, Option<String>, String) {
        self.keep_cookies(&res);
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, res.text().await.unwrap())
    }
}

/// The value of hidden input `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
}

/// Every hidden input of the form with id `form_id`, as name/value pairs.
fn hidden_inputs(page: &str, form_id: &str) -> Vec<(String, String)> {
    let start = page.find(&format!("id=\"{form_id}\"")).expect("the form");
    let form = &page[start..start + page[start..].find("</form>").unwrap()];
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = &rest[..rest.find('"').unwrap()];
            (name.to_owned(), hidden(form, name))
        })
        .collect()
}

/// The value of query parameter `name` in `url`.
fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn register(app: &TestApp, body: Value) -> Value {
    let res = app
        .send_json(Method::POST, "/api/v1/oauth-clients", &body)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

async fn app_with_alice() -> TestApp {
    let app = spawn_app().await;
    let alice = app
        .create_user(json!({
            "email": ALICE, "password": ALICE_PASSWORD, "name": "Alice Liddell",
            "username": "alice", "email_verified": true
        }))
        .await;
    let group = app
        .send_json(
            Method::POST,
            "/api/v1/groups",
            &json!({"name": "wonderland"}),
        )
        .await;
    assert_eq!(group.status(), StatusCode::CREATED);
    let group: Value = group.json().await.unwrap();
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/v1/groups/{}/members", group["id"].as_str().unwrap()),
            &json!({"user_ids": [alice["id"]]}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    app
}

/// From an app's authorization URL through roster's sign-in page: where
/// the browser is sent once signed in.
async fn through_sign_in(browser: &mut Browser, app: &TestApp, auth_url: &str) -> String {
    let (status, to, _) = browser.get(auth_url).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let login_url = app.url(&to.unwrap());
    assert!(
        login_url.contains("/account/login?return_to="),
        "{login_url}"
    );
    let (status, _, page) = browser.get(&login_url).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden(&page, "csrf");
    let return_to = hidden(&page, "return_to");
    let (status, to, _) = browser
        .post(
            &app.url("/account/login"),
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("login", ALICE),
                ("password", ALICE_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(browser.cookies.contains_key("roster_session"));
    to.unwrap()
}

/// Signs in on roster's page and agrees: the browser's way from the app's
/// authorization URL to the code at the callback.
async fn sign_in_and_consent(browser: &mut Browser, app: &TestApp, auth_url: &str) -> String {
    let to = through_sign_in(browser, app, auth_url).await;
    let (status, _, consent) = browser.get(&app.url(&to)).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert!(consent.contains("data-scope=\"email\""), "{consent}");
    let mut form = hidden_inputs(&consent, "consent-form");
    form.push(("decision".into(), "allow".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, to, _) = browser
        .post(&app.url("/oauth2/authorize/consent"), &pairs)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    to.unwrap()
}

#[tokio::test]
async fn a_relying_party_signs_a_user_in_with_code_and_pkce() {
    let app = app_with_alice().await;
    let created = register(&app, json!({"name": "Wiki", "redirect_uris": [CALLBACK]})).await;
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rcs_"));
    // Shown once: never in a read.
    let read: Value = app
        .get(&format!("/api/v1/oauth-clients/{client_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("client_secret").is_none(), "{read}");

    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new();
    let callback = sign_in_and_consent(&mut browser, &app, auth_url.as_str()).await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(
        param(&callback, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&callback, "iss").as_deref(), Some(app.base.as_str()));
    let code = param(&callback, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some(ALICE),
        "email by scope"
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected_hash);
    assert_eq!(
        format!("{:?}", id_token.signing_alg().unwrap()),
        "RsaSsaPkcs1V15Sha256"
    );
    let sub = claims.subject().as_str().to_owned();

    // userinfo, through the library.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), sub);
    assert_eq!(info.email().map(|e| e.as_str()), Some(ALICE));
    // The groups claim is ours, not the library's: read it raw.
    let raw: Value = app
        .as_token(
            tokens.access_token().secret(),
            Method::GET,
            "/oauth2/userinfo",
        )
        .check()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(raw["groups"], json!(["wonderland"]), "{raw}");
    assert!(
        raw.get("roles").is_none(),
        "roles were not asked for: {raw}"
    );

    // The app's access token is no key to roster's own API.
    let res = app
        .as_token(
            tokens.access_token().secret(),
            Method::GET,
            "/api/v1/auth/me",
        )
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A second sign-in in the same browser asks for nothing: straight back.
    let (auth_url2, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .url();
    let (status, to, _) = browser.get(auth_url2.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.unwrap().starts_with(CALLBACK));

    // An app that asked for ES256 gets ES256 ID tokens, which the library
    // verifies against the P-256 key in the JWKS.
    let es = register(
        &app,
        json!({"name": "Dashboards", "redirect_uris": [CALLBACK], "id_token_alg": "ES256", "skip_consent": true}),
    )
    .await;
    let es_client = CoreClient::from_provider_metadata(
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .unwrap(),
        ClientId::new(es["client_id"].as_str().unwrap().into()),
        Some(ClientSecret::new(
            es["client_secret"].as_str().unwrap().into(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (es_challenge, es_verifier) = PkceCodeChallenge::new_random_sha256();
    let (es_url, _, es_nonce) = es_client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(es_challenge)
        .url();
    let (status, to, _) = browser.get(es_url.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed in, consent skipped");
    let es_tokens = es_client
        .exchange_code(AuthorizationCode::new(param(&to.unwrap(), "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(es_verifier)
        .request_async(&http)
        .await
        .expect("ES256 code exchange");
    let es_id = es_tokens.id_token().unwrap();
    assert_eq!(
        format!("{:?}", es_id.signing_alg().unwrap()),
        "EcdsaP256Sha256"
    );
    es_id
        .claims(&es_client.id_token_verifier(), &es_nonce)
        .expect("a valid ES256 ID token");

    // An app's refresh token is no way into roster's API either, and the
    // refused attempt leaves it usable.
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": refresh.secret()}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Refresh rotates; the spent token then revokes the session.
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let again = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(again.is_err(), "a spent refresh token works once");
    let after_reuse = client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await;
    assert!(after_reuse.is_err(), "reuse revokes the whole session");

    // The code works once, and its second use revokes what it issued.
    let fresh = fresh_tokens(&app, &client_id, &secret, &mut browser).await;
    let basic = (client_id.as_str(), secret.as_str());
    let introspected = form_post(
        &app,
        "/oauth2/introspect",
        Some(basic),
        &[("token", &fresh.access)],
    )
    .await;
    assert_eq!(introspected.0, StatusCode::OK);
    assert_eq!(introspected.1["active"], true, "{}", introspected.1);
    assert_eq!(introspected.1["client_id"], client_id.as_str());
    assert_eq!(introspected.1["sub"], sub.as_str());
    let reuse = form_post(
        &app,
        "/oauth2/token",
        Some(basic),
        &[
            ("grant_type", "authorization_code"),
            ("code", &fresh.code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &fresh.verifier),
        ],
    )
    .await;
    assert_eq!(reuse.0, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.1["error"], "invalid_grant");
    let introspected = form_post(
        &app,
        "/oauth2/introspect",
        Some(basic),
        &[("token", &fresh.access)],
    )
    .await;
    assert_eq!(
        introspected.1,
        json!({"active": false}),
        "the first use's tokens are revoked"
    );

    // Revocation (RFC 7009) ends a session: its tokens stop working.
    let other = fresh_tokens(&app, &client_id, &secret, &mut browser).await;
    let revoked = form_post(
        &app,
        "/oauth2/revoke",
        Some(basic),
        &[("token", &other.refresh)],
    )
    .await;
    assert_eq!(revoked.0, StatusCode::OK);
    let res = app
        .as_token(&other.access, Method::GET, "/oauth2/userinfo")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Every grant, consent and revocation is in the audit log.
    let audit: Value = app
        .get("/api/v1/audit?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "oauth_client.create",
        "oauth.consent",
        "oauth.authorize",
        "oauth.token",
        "oauth.code_reuse",
        "oauth.revoke",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

/// Tokens from a fresh code, exchanged by hand (the browser is signed in
/// and has consented): what the negative checks need.
struct Fresh {
    code: String,
    verifier: String,
    access: String,
    refresh: String,
}

async fn fresh_tokens(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    browser: &mut Browser,
) -> Fresh {
    let verifier = "v".repeat(43) + &uuid_like();
    let challenge = pkce(&verifier);
    let url = authorize_url(app, client_id, &challenge, "openid email");
    let (status, to, page) = browser.get(&url).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let code = param(&to.unwrap(), "code").unwrap();
    let (status, body) = form_post(
        app,
        "/oauth2/token",
        Some((client_id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Fresh {
        code,
        verifier,
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

fn uuid_like() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rand_bytes() -> [u8; 16] {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    t.to_le_bytes()
}

fn pkce(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(app: &TestApp, client_id: &str, challenge: &str, scope: &str) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "s1")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    app.url(&format!("/oauth2/authorize?{q}"))
}

/// A form post to a provider endpoint, with Basic client credentials.
async fn form_post(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = app
        .anon(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.check().await;
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn clients_are_validated_and_only_admins_manage_them() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"redirect_uris": [CALLBACK]}), "name"),
        (
            json!({"name": "x", "redirect_uris": ["http://app.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "x", "redirect_uris": ["https://app.example/cb#frag"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "x", "redirect_uris": [CALLBACK], "kind": "secret"}),
            "kind",
        ),
        (
            json!({"name": "x", "redirect_uris": [CALLBACK], "scopes": ["openid", "admin"]}),
            "scopes",
        ),
        (
            json!({"name": "x", "kind": "public", "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"name": "x", "redirect_uris": [CALLBACK], "id_token_alg": "none"}),
            "id_token_alg",
        ),
        (
            json!({"name": "x", "redirect_uris": [CALLBACK], "colour": "red"}),
            "colour",
        ),
    ] {
        let res = app
            .send_json(Method::POST, "/api/v1/oauth-clients", &body)
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(error_fields(&p).contains(&field.to_owned()), "{body}: {p}");
    }
    let list: Value = app.get("/api/v1/oauth-clients").await.json().await.unwrap();
    assert_eq!(list["items"], json!([]), "nothing was registered");

    let public = register(
        &app,
        json!({"name": "SPA", "kind": "public", "redirect_uris": [CALLBACK]}),
    )
    .await;
    assert!(public.get("client_secret").is_none(), "{public}");
    let id = public["client_id"].as_str().unwrap();
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/oauth-clients/{id}"),
            &json!({"kind": "confidential"}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/oauth-clients/{id}/rotate-secret"),
        )
        .check()
        .await;
    assert_problem(res, StatusCode::CONFLICT).await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/oauth-clients/{id}"),
            &json!({"skip_consent": true, "name": "SPA 2"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["name"], "SPA 2");
    assert_eq!(changed["skip_consent"], true);

    let (_, user_token) = app
        .user_with_token("bob@example.test", "bob-password-1")
        .await;
    let res = app
        .as_token(&user_token, Method::GET, "/api/v1/oauth-clients")
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;

    // The JWKS holds the RS256 key once a client exists.
    let jwks: Value = app
        .anon(Method::GET, "/.well-known/jwks.json")
        .check()
        .await
        .json()
        .await
        .unwrap();
    let ktys: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert!(ktys.contains(&"RSA") && ktys.contains(&"OKP"), "{jwks}");

    let res = app
        .request(Method::DELETE, &format!("/api/v1/oauth-clients/{id}"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get(&format!("/api/v1/oauth-clients/{id}")).await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
}

fn authorize_with(app: &TestApp, pairs: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    app.url(&format!("/oauth2/authorize?{q}"))
}

/// Signs `browser` in on roster's page from an authorization URL; the
/// answer after the sign-in (a redirect with the code when no consent is
/// due).
async fn sign_in(browser: &mut Browser, app: &TestApp, auth_url: &str) -> String {
    let to = through_sign_in(browser, app, auth_url).await;
    let (status, to, page) = browser.get(&app.url(&to)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    to.unwrap()
}

#[tokio::test]
async fn the_provider_refuses_bad_requests_and_forged_tokens() {
    let app = app_with_alice().await;
    let conf = register(&app, json!({"name": "Wiki", "redirect_uris": [CALLBACK]})).await;
    let cid = conf["client_id"].as_str().unwrap().to_owned();
    let secret = conf["client_secret"].as_str().unwrap().to_owned();
    let public = register(
        &app,
        json!({"name": "SPA", "kind": "public", "redirect_uris": [CALLBACK], "skip_consent": true}),
    )
    .await;
    let pid = public["client_id"].as_str().unwrap().to_owned();
    let mut browser = Browser::new();
    let verifier = format!("{}{}", "k".repeat(40), uuid_like());
    let challenge = pkce(&verifier);
    let base = |redirect: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", pid.as_str()),
            ("redirect_uri", redirect),
            ("scope", "openid email"),
            ("state", "s1"),
        ]
    };

    // A redirect URI that is not registered byte for byte is never
    // redirected to (no open redirect): the person sees why.
    for uri in [
        "http://127.0.0.1:9/callback/more",
        "http://127.0.0.1:9/callback?next=https://evil.example",
        "https://evil.example/callback",
        "http://127.0.0.1:9/Callback",
    ] {
        let (status, to, page) = browser.get(&authorize_with(&app, &base(uri))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(to.is_none(), "{uri} was redirected to");
        assert!(page.contains("not registered"), "{page}");
    }
    let mut unknown = base(CALLBACK);
    unknown[1] = ("client_id", "01234567-89ab-7def-8123-456789abcdef");
    let (status, to, _) = browser.get(&authorize_with(&app, &unknown)).await;
    assert_eq!((status, to), (StatusCode::BAD_REQUEST, None));

    // Errors the app may hear of go back to it, with its state.
    let error_of = |to: Option<String>| {
        let to = to.expect("a redirect");
        assert!(to.starts_with(CALLBACK), "{to}");
        assert_eq!(param(&to, "state").as_deref(), Some("s1"));
        param(&to, "error").expect("an error")
    };
    let (_, to, _) = browser.get(&authorize_with(&app, &base(CALLBACK))).await;
    assert_eq!(
        error_of(to),
        "invalid_request",
        "a public client needs PKCE"
    );
    let mut plain = base(CALLBACK);
    plain.extend([
        ("code_challenge", verifier.as_str()),
        ("code_challenge_method", "plain"),
    ]);
    let (_, to, _) = browser.get(&authorize_with(&app, &plain)).await;
    assert_eq!(error_of(to), "invalid_request", "only S256");
    let mut with_pkce = base(CALLBACK);
    with_pkce.extend([
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let mut bad_scope = with_pkce.clone();
    bad_scope[3] = ("scope", "openid admin");
    let (_, to, _) = browser.get(&authorize_with(&app, &bad_scope)).await;
    assert_eq!(error_of(to), "invalid_scope");
    let mut token_flow = with_pkce.clone();
    token_flow[0] = ("response_type", "token");
    let (_, to, _) = browser.get(&authorize_with(&app, &token_flow)).await;
    assert_eq!(error_of(to), "unsupported_response_type");
    let mut silent = with_pkce.clone();
    silent.push(("prompt", "none"));
    let (_, to, _) = browser.get(&authorize_with(&app, &silent)).await;
    assert_eq!(error_of(to), "login_required");

    // CSRF: the sign-in form only works from roster's own page.
    let (_, to, _) = browser.get(&authorize_with(&app, &with_pkce)).await;
    let (_, _, page) = browser.get(&app.url(&to.unwrap())).await;
    let csrf = hidden(&page, "csrf");
    let creds = [("login", ALICE), ("password", ALICE_PASSWORD)];
    let mut stranger = Browser::new();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(creds);
    let (status, _, _) = stranger.post(&app.url("/account/login"), &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a token without its cookie");
    let mut wrong = vec![("csrf", "x".repeat(43))];
    wrong.extend(creds.iter().map(|(k, v)| (*k, v.to_string())));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = browser.post(&app.url("/account/login"), &wrong).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a token that is not the cookie's"
    );
    let cross = browser
        .client
        .post(app.url("/account/login"))
        .header("cookie", browser.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        )
        .check()
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN, "a cross-site post");
    let foreign = browser
        .client
        .post(app.url("/account/login"))
        .header("cookie", browser.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        )
        .check()
        .await;
    assert_eq!(
        foreign.status(),
        StatusCode::FORBIDDEN,
        "a post from another origin"
    );
    assert!(
        !browser.cookies.contains_key("roster_session"),
        "nobody signed in"
    );
    let (status, to, _) = stranger
        .post(
            &app.url("/oauth2/authorize/consent"),
            &[("decision", "allow"), ("client_id", &cid)],
        )
        .await;
    assert_eq!(
        (status, to),
        (StatusCode::FORBIDDEN, None),
        "a consent from elsewhere"
    );

    // The sign-in page returns only to an authorization request.
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/oauth2/authorize\\@evil",
    ] {
        let mut b = Browser::new();
        let (_, _, page) = b.get(&app.url("/account/login")).await;
        let csrf = hidden(&page, "csrf");
        let (status, to, _) = b
            .post(
                &app.url("/account/login"),
                &[
                    ("csrf", &csrf),
                    ("return_to", evil),
                    ("login", ALICE),
                    ("password", ALICE_PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(to.as_deref(), Some("/admin/"), "{evil}");
    }
    // A wrong password: the page again, no session.
    let mut b = Browser::new();
    let (_, _, page) = b.get(&app.url("/account/login")).await;
    let csrf = hidden(&page, "csrf");
    let (status, _, page) = b
        .post(
            &app.url("/account/login"),
            &[
                ("csrf", &csrf),
                ("login", ALICE),
                ("password", "nope-nope-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("id=\"error\""), "{page}");
    assert!(!b.cookies.contains_key("roster_session"));

    // A code, then every way to misuse it.
    let callback = sign_in(&mut browser, &app, &authorize_with(&app, &with_pkce)).await;
    let code = param(&callback, "code").unwrap();
    let exchange = |code: String, verifier: Option<String>, redirect: &'static str, id: String| {
        let app = &app;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", redirect.to_owned()),
                ("client_id", id),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form_post(app, "/oauth2/token", None, &form).await
        }
    };
    let wrong_verifier = format!("{}{}", "w".repeat(40), uuid_like());
    for (verifier, redirect, why) in [
        (None, CALLBACK, "no verifier"),
        (Some(wrong_verifier), CALLBACK, "a wrong verifier"),
        (
            Some(verifier.clone()),
            "http://127.0.0.1:9/other",
            "another redirect URI",
        ),
    ] {
        let (status, body) = exchange(code.clone(), verifier, redirect, pid.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(body["error"], "invalid_grant", "{why}: {body}");
    }
    // Another client cannot redeem it, even with its own valid secret.
    let (status, body) = form_post(
        &app,
        "/oauth2/token",
        Some((&cid, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) =
        exchange(code.clone(), Some(verifier.clone()), CALLBACK, pid.clone()).await;
    assert_eq!(status, StatusCode::OK, "the right verifier: {body}");
    let app_token = body["access_token"].as_str().unwrap().to_owned();

    // Client authentication.
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "whatever"),
    ];
    let (status, body) = form_post(&app, "/oauth2/token", Some((&cid, "rcs_wrong")), &grant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _) = form_post(&app, "/oauth2/token", None, &grant).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no credentials at all");
    let mut both = grant.to_vec();
    both.push(("client_secret", &secret));
    let (status, body) = form_post(&app, "/oauth2/token", Some((&cid, &secret)), &both).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = form_post(
        &app,
        "/oauth2/token",
        Some((&cid, &secret)),
        &[
            ("grant_type", "password"),
            ("username", ALICE),
            ("password", ALICE_PASSWORD),
        ],
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type", "{status}");
    let res = app
        .anon(Method::POST, "/oauth2/token")
        .basic_auth(&cid, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&grant_type=authorization_code")
        .check()
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "a repeated parameter"
    );

    // Forged tokens at userinfo: alg none, HS256 keyed with public key
    // material, a changed payload, the ID token, roster's own API token.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = app_token.split('.').collect();
    let payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let jwks: Value = app
        .anon(Method::GET, "/.well-known/jwks.json")
        .check()
        .await
        .json()
        .await
        .unwrap();
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: rsa["kid"].as_str().map(str::to_owned),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(rsa["n"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    let mut changed = payload.clone();
    changed["scope"] = json!("openid email profile groups roles");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(changed.to_string()),
        parts[2]
    );
    let admin_api_token = app.token.clone();
    for (token, what) in [
        (none.as_str(), "alg none"),
        (hs.as_str(), "HS256 with the RSA modulus"),
        (tampered.as_str(), "a changed payload"),
        (admin_api_token.as_str(), "an API token"),
    ] {
        let res = app
            .as_token(token, Method::GET, "/oauth2/userinfo")
            .check()
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    let res = app
        .as_token(&app_token, Method::GET, "/oauth2/userinfo")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the genuine token");
}

/// Exchanges the code at the end of `callback` for a public client.
async fn exchange_public(app: &TestApp, pid: &str, callback: &str, verifier: &str) -> Value {
    let code = param(callback, "code").expect("a code");
    let (status, body) = form_post(
        app,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", pid),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_sign_in_through_an_app_honours_the_second_factor() {
    let app = app_with_alice().await;
    let (_, alice_token) = {
        let body = crate::helpers::login(&app.client, &app.base, ALICE, ALICE_PASSWORD).await;
        ((), body["access_token"].as_str().unwrap().to_owned())
    };
    let (_, recovery) = crate::mfa::enrol(&app, &alice_token).await;
    let public = register(
        &app,
        json!({"name": "SPA", "kind": "public", "redirect_uris": [CALLBACK], "skip_consent": true, "id_token_alg": "EdDSA"}),
    )
    .await;
    let pid = public["client_id"].as_str().unwrap().to_owned();
    let verifier = format!("{}{}", "m".repeat(40), uuid_like());
    let url = authorize_url(&app, &pid, &pkce(&verifier), "openid email");

    let mut browser = Browser::new();
    let (_, to, _) = browser.get(&url).await;
    let (_, _, page) = browser.get(&app.url(&to.unwrap())).await;
    let csrf = hidden(&page, "csrf");
    let return_to = hidden(&page, "return_to");
    let (status, _, page) = browser
        .post(
            &app.url("/account/login"),
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("login", ALICE),
                ("password", ALICE_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the second-factor step, not a session"
    );
    assert!(!browser.cookies.contains_key("roster_session"));
    let mfa_token = hidden(&page, "mfa_token");
    let step = |code: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("return_to".to_owned(), return_to.clone()),
            ("mfa_token".to_owned(), mfa_token.clone()),
            ("code".to_owned(), code.to_owned()),
        ]
    };
    let wrong = step("000000");
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, page) = browser
        .post(&app.url("/account/login/second-factor"), &wrong)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("id=\"error\""), "{page}");
    let right = step(&recovery[0]);
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, to, _) = browser
        .post(&app.url("/account/login/second-factor"), &right)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(browser.cookies.contains_key("roster_session"));
    let (status, callback, _) = browser.get(&app.url(&to.unwrap())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let tokens = exchange_public(&app, &pid, &callback.unwrap(), &verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jwt_claims(&format!("x.{}", id_token.split('.').next().unwrap()));
    assert_eq!(header["alg"], "EdDSA", "the client asked for EdDSA");
    let claims = jwt_claims(id_token);
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"mfa"), "{amr:?}");
    assert!(claims["auth_time"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn machine_clients_and_signed_in_apps() {
    let app = app_with_alice().await;
    // client_credentials: a token for the client itself, checked by
    // introspection; it is nobody's userinfo and no key to the API.
    let machine = register(
        &app,
        json!({"name": "Billing", "grant_types": ["client_credentials"]}),
    )
    .await;
    let mid = machine["client_id"].as_str().unwrap().to_owned();
    let msecret = machine["client_secret"].as_str().unwrap().to_owned();
    let (status, body) = form_post(
        &app,
        "/oauth2/token",
        Some((&mid, &msecret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "{body}"
    );
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (_, seen) = form_post(
        &app,
        "/oauth2/introspect",
        Some((&mid, &msecret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], mid.as_str());
    for path in ["/oauth2/userinfo", "/api/v1/users"] {
        let res = app.as_token(&token, Method::GET, path).check().await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // A client without the grant may not use it.
    let wiki = register(&app, json!({"name": "Wiki", "redirect_uris": [CALLBACK]})).await;
    let cid = wiki["client_id"].as_str().unwrap().to_owned();
    let secret = wiki["client_secret"].as_str().unwrap().to_owned();
    let (_, body) = form_post(
        &app,
        "/oauth2/token",
        Some((&cid, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(body["error"], "unauthorized_client");
    // Another client's token reads as inactive.
    let (_, seen) = form_post(
        &app,
        "/oauth2/introspect",
        Some((&cid, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(seen, json!({"active": false}));

    // Alice signs in to the wiki; it shows among her apps, and revoking
    // it ends its tokens and asks for consent again next time.
    let mut browser = Browser::new();
    let fresh = {
        let verifier = format!("{}{}", "a".repeat(40), uuid_like());
        let url = authorize_url(&app, &cid, &pkce(&verifier), "openid email");
        let callback = sign_in_and_consent(&mut browser, &app, &url).await;
        let code = param(&callback, "code").unwrap();
        let (status, body) = form_post(
            &app,
            "/oauth2/token",
            Some((&cid, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    // An app's refresh token cannot become a browser's session with
    // roster (which could sign in to other apps).
    let mut other = Browser::new();
    let (_, _, page) = other.get(&app.url("/account/login")).await;
    let csrf = hidden(&page, "csrf");
    let (status, _, _) = other
        .post(
            &app.url("/account/login/session"),
            &[
                ("csrf", &csrf),
                ("session", fresh["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!other.cookies.contains_key("roster_session"));
    let (alice, alice_token) = {
        let body = crate::helpers::login(&app.client, &app.base, ALICE, ALICE_PASSWORD).await;
        (
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["access_token"].as_str().unwrap().to_owned(),
        )
    };
    let apps: Value = app
        .as_token(
            &alice_token,
            Method::GET,
            &format!("/api/v1/users/{alice}/apps"),
        )
        .check()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps["items"].as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(apps["items"][0]["name"], "Wiki");
    assert_eq!(apps["items"][0]["client_id"], cid.as_str());
    // Not someone else's business.
    let (_, bob_token) = app
        .user_with_token("bob@example.test", "bob-password-1")
        .await;
    let res = app
        .as_token(
            &bob_token,
            Method::GET,
            &format!("/api/v1/users/{alice}/apps"),
        )
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    // The admin may revoke it for her.
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{alice}/apps/{cid}"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let access = fresh["access_token"].as_str().unwrap();
    let res = app
        .as_token(access, Method::GET, "/oauth2/userinfo")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "its tokens ended");
    let (_, body) = form_post(
        &app,
        "/oauth2/token",
        Some((&cid, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    let verifier = format!("{}{}", "b".repeat(40), uuid_like());
    let (status, _, page) = browser
        .get(&authorize_url(&app, &cid, &pkce(&verifier), "openid email"))
        .await;
    assert_eq!(status, StatusCode::OK, "consent is asked again");
    assert!(page.contains("consent-form"), "{page}");
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{alice}/apps/{cid}"))
        .check()
        .await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn expired_app_sessions_leave_no_grant_behind() {
    let app = crate::helpers::spawn_app_tuned(|c| {
        // A sweep every second (ten ticks), sessions that live two.
        c.housekeeping_every = std::time::Duration::from_millis(100);
        c.auth.refresh_token_ttl = std::time::Duration::from_secs(2);
    })
    .await;
    app.create_user(json!({"email": ALICE, "password": ALICE_PASSWORD}))
        .await;
    let public = register(
        &app,
        json!({"name": "SPA", "kind": "public", "redirect_uris": [CALLBACK], "skip_consent": true}),
    )
    .await;
    let pid = public["client_id"].as_str().unwrap().to_owned();
    let verifier = format!("{}{}", "e".repeat(40), uuid_like());
    let mut browser = Browser::new();
    let callback = sign_in(
        &mut browser,
        &app,
        &authorize_url(&app, &pid, &pkce(&verifier), "openid"),
    )
    .await;
    exchange_public(&app, &pid, &callback, &verifier).await;
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let (data, _guard) = app.stop().await;
    let store = roster::store::Store::open(&data).unwrap();
    let grants = store.read_oauth(|_, o| o.grants()).unwrap();
    assert!(grants.is_empty(), "{grants:?}");
    store.close().await;
}

#[tokio::test]
async fn max_age_and_prompt_login_ask_for_a_fresh_sign_in_once() {
    let app = app_with_alice().await;
    let public = register(
        &app,
        json!({"name": "SPA", "kind": "public", "redirect_uris": [CALLBACK], "skip_consent": true}),
    )
    .await;
    let pid = public["client_id"].as_str().unwrap().to_owned();
    let verifier = format!("{}{}", "f".repeat(40), uuid_like());
    let challenge = pkce(&verifier);
    let mut browser = Browser::new();
    let first = sign_in(
        &mut browser,
        &app,
        &authorize_url(&app, &pid, &challenge, "openid"),
    )
    .await;
    assert!(param(&first, "code").is_some(), "{first}");
    for extra in [("max_age", "0"), ("prompt", "login")] {
        let url = format!(
            "{}&{}={}",
            authorize_url(&app, &pid, &challenge, "openid"),
            extra.0,
            extra.1
        );
        // Signed in, but not freshly enough: the sign-in page, then the code.
        let back = sign_in(&mut browser, &app, &url).await;
        assert!(param(&back, "code").is_some(), "{extra:?}: {back}");
    }
}
