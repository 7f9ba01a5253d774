//! Authentication over HTTP: the middleware that turns `Authorization:
//! Bearer …` into a [`Caller`] for every protected route, the per-IP rate
//! limit, and the `/auth`, password, session, API-key, audit and JWKS routes.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::state::AppState;
use crate::auth::policy::Caller;
use crate::domain::{ApiKey, AuditEntry, FieldError, Timestamp};
use crate::error::Error;
use crate::service::{LoginResult, SessionView};

use super::extract::{JsonObject, QueryPairs};
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::users::{UserDto, rfc3339, user_id, user_response};

/// The client's address, when the server knows it.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<String> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
}

/// The caller, as set by [`require_caller`]. A handler that takes a `Caller`
/// on a route without that layer answers 401, never 500.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::unauthorized("Send `Authorization: Bearer <token>`."))
    }
}

/// Authenticates every request of the protected routes: the one place that
/// reads credentials.
pub async fn require_caller(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let Some(token) = bearer else {
        return Problem::unauthorized("Send `Authorization: Bearer <token>`.").into_response();
    };
    let ip = client_ip(req.extensions());
    match st.auth().authenticate(&token, ip) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

/// A general per-IP limit on the whole API.
pub async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = st.ip_limiter()
        && let Some(ip) = client_ip(req.extensions())
        && let Err(not_until) = limiter.check_key(&ip)
    {
        use governor::clock::Clock;
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        return Problem::too_many(wait.as_secs() + 1).into_response();
    }
    next.run(req).await
}

/// A signed-in session: a short-lived access token and the refresh token
/// that renews it (single use; each refresh returns a new one).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenResponse)]
pub struct TokenBody<'a> {
    /// An Ed25519-signed JWT; send it as `Authorization: Bearer …`.
    #[schema(value_type = String)]
    access_token: &'a str,
    #[schema(value_type = String, pattern = "^Bearer$")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    #[schema(value_type = String)]
    refresh_token: &'a str,
    user: UserDto<'a>,
}

fn token_response(r: &LoginResult) -> Response {
    let mut res = Json(TokenBody {
        access_token: &r.access_token,
        token_type: "Bearer",
        expires_in: r.expires_in,
        refresh_token: &r.refresh_token,
        user: UserDto::from(&r.user),
    })
    .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// A required string field of a small JSON body, with a length bound.
fn string_field(
    body: &mut serde_json::Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<String, Error> {
    match body.remove(field) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        Some(Value::String(_)) => Err(Error::Validation(vec![FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        )])),
        None | Some(Value::Null) => Err(Error::Validation(vec![FieldError::new(
            field,
            "is required",
        )])),
        Some(_) => Err(Error::Validation(vec![FieldError::new(
            field,
            "must be a string",
        )])),
    }
}

fn no_other_fields(body: &serde_json::Map<String, Value>) -> Result<(), Error> {
    match body.keys().next() {
        Some(k) => Err(Error::Validation(vec![FieldError::new(
            k.as_str(),
            "is not a known field",
        )])),
        None => Ok(()),
    }
}

/// Sign in with an email or username and a password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth",
    request_body(content = doc::LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in.", body = TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized),
        (status = 400, response = doc::BadRequest),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
    )
)]
pub async fn login(
    State(st): State<AppState>,
    req_headers: HeaderMap,
    parts: axum::http::Extensions,
    JsonObject(mut body): JsonObject,
) -> Result<Response, Problem> {
    let login = string_field(&mut body, "login", 320)?;
    let password = string_field(&mut body, "password", 1024)?;
    no_other_fields(&body)?;
    let ua = req_headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let r = st
        .auth()
        .login(&login, &password, client_ip(&parts), ua)
        .await?;
    Ok(token_response(&r))
}

/// Trade a refresh token for new tokens (the old refresh token is spent).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", operation_id = "refresh", tag = "auth",
    request_body(content = doc::RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "New tokens.", body = TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized),
        (status = 400, response = doc::BadRequest),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
    )
)]
pub async fn refresh(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    JsonObject(mut body): JsonObject,
) -> Result<Response, Problem> {
    let token = string_field(&mut body, "refresh_token", 256)?;
    no_other_fields(&body)?;
    let r = st.auth().refresh(&token, client_ip(&parts)).await?;
    Ok(token_response(&r))
}

/// End the caller's session: its refresh token stops working.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out."),
        (status = 401, response = doc::Unauthorized),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn logout(State(st): State<AppState>, caller: Caller) -> Result<StatusCode, Problem> {
    st.auth().logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", operation_id = "getMe", tag = "auth",
    responses(
        (status = 200, description = "The caller.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn me(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let crate::auth::policy::Principal::User { id, .. } = &caller.principal else {
        return Err(Problem::new(
            Kind::BadRequest,
            "An API key is not a user; /auth/me needs a user's access token.",
        ));
    };
    let user = st.users().get(&caller, *id)?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Create one's own account, when the server allows registration.
#[utoipa::path(
    post, path = "/api/v1/auth/register", operation_id = "register", tag = "auth",
    request_body(content = doc::Registration, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 400, response = doc::BadRequest),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn register(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    JsonObject(body): JsonObject,
) -> Result<Response, Problem> {
    let user = st.auth().register(body, client_ip(&parts)).await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

/// Create the first admin with the one-time setup token.
///
/// The token is printed at first start (and in the `/admin/setup?token=…` link).
#[utoipa::path(
    post, path = "/api/v1/setup", operation_id = "setup", tag = "auth",
    request_body(content = doc::SetupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The admin.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 400, response = doc::BadRequest),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn setup(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    JsonObject(mut body): JsonObject,
) -> Result<Response, Problem> {
    let token = string_field(&mut body, "token", 256)?;
    let password = string_field(&mut body, "password", 1024)?;
    let caller = Caller {
        principal: crate::auth::policy::Principal::System,
        ip: client_ip(&parts),
    };
    let user = st
        .auth()
        .create_admin(body, &password, &caller, Some(&token))
        .await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

/// Set a user's password. Users changing their own give `current_password`.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/password", operation_id = "changePassword", tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404).")),
    request_body(content = doc::PasswordChange, content_type = "application/json"),
    responses(
        (status = 204, description = "Changed; the user's other sessions are revoked."),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 400, response = doc::BadRequest),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonObject(mut body): JsonObject,
) -> Result<StatusCode, Problem> {
    let id = user_id(&id)?;
    let new = string_field(&mut body, "new_password", 4096)?;
    let current = match body.remove("current_password") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(Error::Validation(vec![FieldError::new(
                "current_password",
                "must be a string",
            )])
            .into());
        }
    };
    no_other_fields(&body)?;
    st.auth()
        .change_password(&caller, id, current, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A login session (one refresh-token family).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub struct SessionDto {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    last_used_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    expires_at: String,
    #[schema(required = true)]
    ip: Option<String>,
    #[schema(required = true)]
    user_agent: Option<String>,
    /// Whether this is the session of the token making the request.
    current: bool,
}

/// A user's live sessions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    items: Vec<SessionDto>,
}

fn micros_rfc3339(t: Timestamp) -> String {
    t.to_datetime().map(rfc3339).unwrap_or_default()
}

impl From<&SessionView> for SessionDto {
    fn from(v: &SessionView) -> Self {
        let s = &v.session;
        Self {
            id: s.id.to_string(),
            created_at: micros_rfc3339(s.created_at),
            last_used_at: micros_rfc3339(s.last_used_at),
            expires_at: micros_rfc3339(s.expires_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            current: v.current,
        }
    }
}

/// A user's live sessions.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/sessions", operation_id = "listSessions", tag = "sessions",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The sessions.", body = SessionList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn list_sessions(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let sessions = st.auth().sessions(&caller, user_id(&id)?)?;
    let items: Vec<SessionDto> = sessions.iter().map(SessionDto::from).collect();
    Ok(Json(SessionList { items }).into_response())
}

/// Revoke every session of a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/sessions", operation_id = "revokeSessions", tag = "sessions",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404).")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_sessions(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    st.auth()
        .revoke_sessions(&caller, user_id(&id)?, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke one session of a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/sessions/{sid}", operation_id = "revokeSession", tag = "sessions",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404)."), ("sid" = uuid::Uuid, Path, description = "The session's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_session(
    State(st): State<AppState>,
    caller: Caller,
    Path((id, sid)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let sid =
        Uuid::try_parse(&sid).map_err(|_| Problem::new(Kind::NotFound, "No such session."))?;
    st.auth()
        .revoke_sessions(&caller, user_id(&id)?, Some(sid))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API key. Its `secret` is shown once, in the answer to its creation.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = String)]
    name: &'a str,
    #[schema(value_type = Vec<doc::ScopeName>)]
    scopes: Vec<&'static str>,
    /// The first characters of the secret, to recognise the key.
    #[schema(value_type = String)]
    prefix: &'a str,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = Option<time::OffsetDateTime>, required = true)]
    expires_at: Option<String>,
    /// Who made it: `user:<id>`, `key:<id>` or `system`.
    #[schema(value_type = Option<String>, required = true)]
    created_by: Option<&'a str>,
    /// The key itself (`rk_…`): only in the answer to its creation, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^rk_")]
    secret: Option<&'a str>,
}

/// Every API key (without secrets).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyList<'a> {
    items: Vec<ApiKeyDto<'a>>,
}

fn key_dto<'a>(k: &'a ApiKey, secret: Option<&'a str>) -> ApiKeyDto<'a> {
    ApiKeyDto {
        id: k.id.to_string(),
        name: &k.name,
        scopes: k.scopes.iter().map(|s| s.as_str()).collect(),
        prefix: &k.prefix,
        created_at: micros_rfc3339(k.created_at),
        expires_at: k.expires_at.map(micros_rfc3339),
        created_by: k.created_by.as_deref(),
        secret,
    }
}

/// Create an API key. The answer holds its secret, once.
#[utoipa::path(
    post, path = "/api/v1/api-keys", operation_id = "createApiKey", tag = "api-keys",
    request_body(content = doc::ApiKeyCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `secret` is shown only now.", body = ApiKeyDto, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 400, response = doc::BadRequest),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::ValidationFailed),
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(st): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, Problem> {
    let created = st.auth().create_api_key(&caller, body).await?;
    let mut res = (
        StatusCode::CREATED,
        Json(key_dto(&created.key, Some(&created.secret))),
    )
        .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// Every API key, without secrets.
#[utoipa::path(
    get, path = "/api/v1/api-keys", operation_id = "listApiKeys", tag = "api-keys",
    responses(
        (status = 200, description = "The keys.", body = ApiKeyList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn list_keys(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let keys = st.auth().api_keys(&caller)?;
    let items: Vec<ApiKeyDto> = keys.iter().map(|k| key_dto(k, None)).collect();
    Ok(Json(ApiKeyList { items }).into_response())
}

/// Revoke an API key.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", operation_id = "revokeApiKey", tag = "api-keys",
    params(("id" = uuid::Uuid, Path, description = "The key's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = Uuid::try_parse(&id).map_err(|_| Problem::new(Kind::NotFound, "No such API key."))?;
    st.auth().revoke_api_key(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One security or administrative event.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = time::OffsetDateTime)]
    at: String,
    /// Such as `login`, `user.create`, `api_key.revoke`.
    #[schema(value_type = String)]
    action: &'a str,
    /// Who did it: `user:<id>`, `key:<id>`, `system`, or the login name tried.
    #[schema(value_type = Option<String>, required = true)]
    actor: Option<&'a str>,
    #[schema(value_type = Option<String>, required = true)]
    target: Option<&'a str>,
    #[schema(value_type = Option<String>, required = true)]
    ip: Option<&'a str>,
    #[schema(value_type = String)]
    outcome: &'static str,
    #[schema(value_type = Option<String>, required = true)]
    detail: Option<&'a str>,
}

/// One page of the audit log, newest first; `next_cursor` is null on the last page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage<'a> {
    items: Vec<AuditDto<'a>>,
    #[schema(value_type = Option<uuid::Uuid>, required = true)]
    next_cursor: Option<String>,
}

impl<'a> From<&'a AuditEntry> for AuditDto<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: micros_rfc3339(e.at),
            action: &e.action,
            actor: e.actor.as_deref(),
            target: e.target.as_deref(),
            ip: e.ip.as_deref(),
            outcome: e.outcome.as_str(),
            detail: e.detail.as_deref(),
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", operation_id = "listAudit", tag = "audit",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<uuid::Uuid>, Query, description = "`next_cursor` of the previous page."),
        ("actor" = Option<String>, Query, description = "Only entries by this actor, such as `user:<id>`."),
        ("action" = Option<String>, Query, description = "Only entries of this action, such as `login`."),
    ),
    responses(
        (status = 200, description = "One page of entries.", body = AuditPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 429, response = doc::TooManyRequests),
    ),
    security(("bearer" = []))
)]
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    query.only(&["limit", "cursor", "actor", "action"])?;
    let limit = match query.one("limit")? {
        None => 50,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Err(Problem::new(
                    Kind::BadRequest,
                    "limit must be between 1 and 500",
                ));
            }
        },
    };
    let cursor = query
        .one("cursor")?
        .map(|c| {
            Uuid::try_parse(c)
                .map_err(|_| Problem::new(Kind::BadRequest, "cursor is not one this server issued"))
        })
        .transpose()?;
    let (items, next) = st
        .auth()
        .audit(
            &caller,
            limit,
            cursor,
            query.one("actor")?.map(str::to_owned),
            query.one("action")?.map(str::to_owned),
        )
        .await?;
    let items: Vec<AuditDto> = items.iter().map(AuditDto::from).collect();
    Ok(Json(AuditPage {
        items,
        next_cursor: next.map(|u| u.to_string()),
    })
    .into_response())
}

/// The public keys that verify access tokens (JWKS, RFC 7517).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = "auth",
    responses(
        (status = 200, description = "The key set.", body = doc::Jwks,
            headers(("Cache-Control" = String, description = "`public, max-age=300`."))),
    )
)]
pub async fn jwks(State(st): State<AppState>) -> Response {
    let mut res = Json(st.auth().jwks()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=300"),
    );
    res
}
