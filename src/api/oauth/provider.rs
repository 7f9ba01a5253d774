//! The OpenID Provider's JSON endpoints: discovery, token, userinfo,
//! revocation and introspection. Their errors are OAuth's (`{"error",
//! "error_description"}`, RFC 6749 §5.2), not problem+json: that is what
//! relying-party libraries parse.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::domain::OidcScope;
use crate::service::oauth::{Introspection, OAuthError, TokenRequest, TokenResponse, UserInfo};

use super::super::caller::client_ip;
use super::super::openapi as doc;
use super::super::problem::Problem;
use super::super::state::AppState;

/// An OAuth error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`.
    error: &'static str,
    error_description: String,
}

fn oauth_error(e: OAuthError, basic: bool) -> Response {
    let status = match e.code {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = (
        status,
        Json(OAuthErrorBody {
            error: e.code,
            error_description: e.description,
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && basic {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"roster\""),
        );
    }
    no_store(res)
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// A form body's parameters; a repeated or undecodable one is an error
/// (RFC 6749 §3.2: parameters must not be included more than once).
pub(super) fn form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(OAuthError::new(
                "invalid_request",
                format!("{k} is given more than once"),
            ));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

pub(super) fn take(params: &[(String, String)], key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// `Authorization: Basic` client credentials (each part form-encoded,
/// RFC 6749 §2.3.1).
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::new("invalid_client", "malformed Basic credentials");
    let v = v.to_str().map_err(|_| bad())?;
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Err(bad());
    };
    let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// The client credentials and parameters of a token-endpoint-style request.
fn token_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let p = form(headers, body)?;
    Ok(TokenRequest {
        grant_type: take(&p, "grant_type"),
        code: take(&p, "code"),
        redirect_uri: take(&p, "redirect_uri"),
        code_verifier: take(&p, "code_verifier"),
        refresh_token: take(&p, "refresh_token"),
        scope: take(&p, "scope"),
        client_id: take(&p, "client_id"),
        client_secret: take(&p, "client_secret"),
        basic: basic(headers)?,
    })
}

/// The OpenID Provider's metadata (OpenID Connect Discovery 1.0, RFC 8414).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    end_session_endpoint: String,
    scopes_supported: Vec<&'static str>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 3],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    code_challenge_methods_supported: [&'static str; 1],
    claims_supported: [&'static str; 16],
    prompt_values_supported: [&'static str; 4],
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
}

/// The provider's metadata, for relying parties to configure themselves.
#[utoipa::path(
    get, path = "/.well-known/openid-configuration", operation_id = "getOpenIdConfiguration", tag = "oauth",
    responses((status = 200, description = "The metadata.", body = Discovery, headers(("Cache-Control" = String, description = "`public, max-age=300`."))), (status = 429, response = doc::TooManyRequests)),
)]
pub async fn discovery(State(st): State<AppState>) -> Response {
    let iss = st.oauth().issuer();
    let at = |p: &str| format!("{iss}{p}");
    let doc = Discovery {
        authorization_endpoint: at("/oauth2/authorize"),
        token_endpoint: at("/oauth2/token"),
        userinfo_endpoint: at("/oauth2/userinfo"),
        jwks_uri: at("/.well-known/jwks.json"),
        revocation_endpoint: at("/oauth2/revoke"),
        introspection_endpoint: at("/oauth2/introspect"),
        end_session_endpoint: at("/oauth2/logout"),
        issuer: iss.clone(),
        scopes_supported: OidcScope::ALL.iter().map(|s| s.as_str()).collect(),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256", "ES256", "EdDSA"],
        token_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        revocation_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
        ],
        code_challenge_methods_supported: ["S256"],
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "at_hash",
            "azp",
            "email",
            "email_verified",
            "name",
            "preferred_username",
            "groups",
            "roles",
        ],
        prompt_values_supported: ["none", "login", "consent", "select_account"],
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    };
    let mut res = Json(doc).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// Parameters of a token request (form-encoded; client credentials in
/// `Authorization: Basic` or as `client_id` + `client_secret`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    /// PKCE (S256).
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    /// On refresh: the same scopes or fewer.
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenBody {
    access_token: String,
    /// `Bearer`.
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    scope: String,
}

impl From<TokenResponse> for TokenBody {
    fn from(t: TokenResponse) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            scope: t.scope,
        }
    }
}

/// Trade an authorization code (with its PKCE verifier) or a refresh token
/// for tokens. A code works once: a second use revokes what the first
/// issued; a refresh token works once: a reuse revokes its session.
#[utoipa::path(
    post, path = "/oauth2/token", operation_id = "oauthToken", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens.", body = TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, description = "An OAuth error.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 429, response = doc::TooManyRequests),
    ),
)]
pub async fn token(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let req = match token_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return Ok(oauth_error(e, false)),
    };
    let basic = req.basic.is_some();
    Ok(match st.oauth().token(req, client_ip(&ext)).await? {
        Ok(t) => no_store(Json(TokenBody::from(t)).into_response()),
        Err(e) => oauth_error(e, basic),
    })
}

fn bearer_error(description: &'static str) -> Response {
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(OAuthErrorBody {
            error: "invalid_token",
            error_description: description.into(),
        }),
    )
        .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    no_store(res)
}

/// The signed-in user's claims, as the access token's scopes allow.
#[utoipa::path(
    get, path = "/oauth2/userinfo", operation_id = "oauthUserinfo", tag = "oauth",
    responses(
        (status = 200, description = "The claims (`sub`, then by scope: `email`, `email_verified`, `name`, `preferred_username`, `groups`, `roles`).", body = Object),
        (status = 401, description = "No valid access token of an app.", body = OAuthErrorBody),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = [])),
)]
pub async fn userinfo(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return Ok(bearer_error("an access token is required"));
    };
    Ok(match st.oauth().userinfo(token)? {
        Some(info) => no_store(Json::<UserInfo>(info).into_response()),
        None => bearer_error("the access token is not valid"),
    })
}

/// Parameters of a revocation or introspection request.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenParam {
    token: String,
    /// `access_token` or `refresh_token` (a hint; both are tried).
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009: end the session behind one of the client's tokens. Unknown
/// tokens answer 200 too.
#[utoipa::path(
    post, path = "/oauth2/revoke", operation_id = "oauthRevoke", tag = "oauth",
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or it was not valid)."),
        (status = 400, description = "An OAuth error.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 429, response = doc::TooManyRequests),
    ),
)]
pub async fn revoke(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let (client, token, basic) = match client_and_token(&st, &headers, &body) {
        Ok(v) => v,
        Err((e, basic)) => return Ok(oauth_error(e, basic)),
    };
    let _ = basic;
    st.oauth().revoke(&client, &token, client_ip(&ext)).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

type Authenticated = (crate::domain::OAuthClient, String, bool);

fn client_and_token(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Authenticated, (OAuthError, bool)> {
    let p = form(headers, body).map_err(|e| (e, false))?;
    let req = TokenRequest {
        client_id: take(&p, "client_id"),
        client_secret: take(&p, "client_secret"),
        basic: basic(headers).map_err(|e| (e, false))?,
        ..TokenRequest::default()
    };
    let is_basic = req.basic.is_some();
    let client = st
        .oauth()
        .authenticate_client(&req)
        .map_err(|e| (e, is_basic))?;
    let token = take(&p, "token").ok_or_else(|| {
        (
            OAuthError::new("invalid_request", "token is required"),
            is_basic,
        )
    })?;
    Ok((client, token, is_basic))
}

/// What introspection answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IntrospectionBody {
    active: bool,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    details: Option<Introspection>,
}

/// RFC 7662: whether one of the (confidential) client's tokens is active.
#[utoipa::path(
    post, path = "/oauth2/introspect", operation_id = "oauthIntrospect", tag = "oauth",
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{\"active\": false}`, or the token's details.", body = IntrospectionBody),
        (status = 400, description = "An OAuth error.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 429, response = doc::TooManyRequests),
    ),
)]
pub async fn introspect(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let (client, token, basic) = match client_and_token(&st, &headers, &body) {
        Ok(v) => v,
        Err((e, basic)) => return Ok(oauth_error(e, basic)),
    };
    if client.kind != crate::domain::ClientKind::Confidential {
        return Ok(oauth_error(
            OAuthError::new(
                "invalid_client",
                "introspection is for confidential clients",
            ),
            basic,
        ));
    }
    let details = st.oauth().introspect(&client, &token)?;
    Ok(no_store(
        match details {
            Some(d) => Json(serde_json::to_value(&d).unwrap_or_default()),
            None => Json(serde_json::json!({"active": false})),
        }
        .into_response(),
    ))
}
