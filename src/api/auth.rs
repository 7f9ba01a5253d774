//! Signing in over HTTP: login, refresh, logout, the caller's own account,
//! self-registration, first-admin setup and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::policy::{Caller, Principal};
use crate::domain::{Field, FieldError, Password, Signup};
use crate::error::Error;
use crate::service::LoginResult;

use super::caller::{client_ip, user_agent};
use super::extract::{Body, no_other_fields, required_text};
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::state::AppState;
use super::users::{UserDto, UserReplace, composed, password, user_response};

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
    /// The user's roles require a second factor it has not enrolled: until
    /// it does (`/api/v1/auth/mfa/totp/setup`), the token is good for that,
    /// its own account and its sessions only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    mfa_enrollment_required: bool,
}

pub(super) fn token_response(r: &LoginResult) -> Response {
    no_store(TokenBody {
        access_token: &r.access_token,
        token_type: "Bearer",
        expires_in: r.expires_in,
        refresh_token: &r.refresh_token,
        user: UserDto::from(&r.user),
        mfa_enrollment_required: r.mfa_enrollment_required,
    })
}

/// A JSON answer that holds a secret (tokens, a TOTP secret): never cached.
pub(super) fn no_store(body: impl Serialize) -> Response {
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// Sign-in with an email or username and a password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// An email address or a username.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 320)]
    login: Field<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, write_only, min_length = 1, max_length = 1024)]
    password: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256)]
    refresh_token: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Self-registration: profile fields ([`UserReplace`]'s email, username,
/// name and attributes) and a password; nothing the server decides.
#[derive(Deserialize)]
pub struct Registration {
    #[serde(default)]
    password: Field<String>,
    #[serde(flatten)]
    fields: UserReplace,
}

/// Fields a user may not set on its own account: roles, status and
/// verification are the server's.
const SERVER_SET: [&str; 3] = ["roles", "status", "email_verified"];

impl Registration {
    /// The first of [`SERVER_SET`] that the body gives.
    fn server_set_field(&self) -> Option<&'static str> {
        let f = &self.fields;
        let given = [
            f.roles.is_given(),
            f.status.is_given(),
            f.email_verified.is_given(),
        ];
        SERVER_SET
            .into_iter()
            .zip(given)
            .find(|(_, g)| *g)
            .map(|(name, _)| name)
    }
}

impl TryFrom<Registration> for Signup {
    type Error = Error;

    /// The password first, then fields only the server sets, then every
    /// profile field at once.
    fn try_from(r: Registration) -> Result<Self, Error> {
        let server_set = r.server_set_field();
        let password = Password::from_field(r.password, true)
            .map_err(|e| Error::Validation(vec![e]))?
            .expect("a required password is present");
        if let Some(field) = server_set {
            return Err(Error::Validation(vec![FieldError::new(
                field,
                "may not be set when registering",
            )]));
        }
        let draft = r.fields.try_into()?;
        Ok(Signup { draft, password })
    }
}

impl PartialSchema for Registration {
    fn schema() -> RefOr<Schema> {
        composed::<UserReplace>("Self-registration: profile fields only.", profile)
    }
}

impl ToSchema for Registration {}

/// Edits [`UserReplace`]'s schema into a sign-up's: the profile fields and
/// a required password.
fn profile(o: &mut Object) {
    o.properties
        .retain(|k, _| !SERVER_SET.contains(&k.as_str()));
    o.properties
        .insert("password".into(), password(true, "The account's password."));
    o.required.push("password".into());
}

/// The first admin, with the one-time token printed at first start.
#[derive(Deserialize)]
pub struct SetupRequest {
    #[serde(default)]
    token: Field<String>,
    #[serde(flatten)]
    signup: Registration,
}

impl SetupRequest {
    /// The token, and the admin to create: the token, then the password's
    /// presence, then every profile field, then the password's rules.
    fn parse(self) -> Result<(String, Signup), Error> {
        let server_set = self.signup.server_set_field();
        let token = required_text(self.token, "token", 256)?;
        let password = required_text(self.signup.password, "password", 1024)?;
        if let Some(field) = server_set {
            return Err(Error::Validation(vec![FieldError::new(
                field,
                "is not a known field",
            )]));
        }
        let draft = self.signup.fields.try_into()?;
        let password = Password::parse(&password)
            .map_err(|m| Error::Validation(vec![FieldError::new("password", m)]))?;
        Ok((token, Signup { draft, password }))
    }
}

impl PartialSchema for SetupRequest {
    fn schema() -> RefOr<Schema> {
        composed::<UserReplace>(
            "The first admin, with the one-time token printed at first start.",
            |o| {
                profile(o);
                let token = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(256));
                o.properties.insert("token".into(), token.into());
                o.required.push("token".into());
            },
        )
    }
}

impl ToSchema for SetupRequest {}

/// Sign in with an email or username and a password.
///
/// A user with a second factor gets `mfa_required` and an `mfa_token`
/// instead of tokens: the second step is `POST /api/v1/auth/mfa/verify`.
#[utoipa::path(
    post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in, or a second factor is due.", body = super::mfa::SignInBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized),
        doc::JsonBody,
        (status = 429, response = doc::TooManyRequests),
    )
)]
pub async fn login(
    State(st): State<AppState>,
    req_headers: HeaderMap,
    parts: axum::http::Extensions,
    Body(body): Body<LoginRequest>,
) -> Result<Response, Problem> {
    let login = required_text(body.login, "login", 320)?;
    let password = required_text(body.password, "password", 1024)?;
    no_other_fields(&body.other)?;
    let r = st
        .auth()
        .login(
            &login,
            &password,
            client_ip(&parts),
            user_agent(&req_headers),
        )
        .await?;
    Ok(super::mfa::sign_in_response(&r))
}

/// Trade a refresh token for new tokens (the old refresh token is spent).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", operation_id = "refresh", tag = "auth",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "New tokens.", body = TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized),
        doc::JsonBody,
        (status = 429, response = doc::TooManyRequests),
    )
)]
pub async fn refresh(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<RefreshRequest>,
) -> Result<Response, Problem> {
    let token = required_text(body.refresh_token, "refresh_token", 256)?;
    no_other_fields(&body.other)?;
    let r = st.auth().refresh(&token, client_ip(&parts)).await?;
    Ok(token_response(&r))
}

/// End the caller's session: its refresh token stops working.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    responses((status = 204, description = "Signed out."), (status = 401, response = doc::Unauthorized), (status = 429, response = doc::TooManyRequests)),
)]
pub async fn logout(State(st): State<AppState>, caller: Caller) -> Result<StatusCode, Problem> {
    st.auth().logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", operation_id = "getMe", tag = "auth",
    responses((status = 200, description = "The caller.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn me(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let Principal::User { id, .. } = &caller.principal else {
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
    request_body(content = Registration, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn register(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<Registration>,
) -> Result<Response, Problem> {
    let user = st
        .auth()
        .register(body.try_into()?, client_ip(&parts))
        .await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

/// Create the first admin with the one-time setup token.
///
/// The token is printed at first start (and in the `/admin/setup?token=…` link).
#[utoipa::path(
    post, path = "/api/v1/setup", operation_id = "setup", tag = "auth",
    request_body(content = SetupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The admin.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        doc::JsonBody,
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn setup(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<SetupRequest>,
) -> Result<Response, Problem> {
    let (token, signup) = body.parse()?;
    let caller = Caller {
        principal: Principal::System,
        ip: client_ip(&parts),
    };
    let user = st
        .auth()
        .create_admin(signup, &caller, Some(&token))
        .await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

/// The public keys that verify access tokens and ID tokens (JWKS, RFC 7517).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = "auth",
    responses(
        (status = 200, description = "The key set.", body = crate::auth::tokens::JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=300`."))),
    )
)]
pub async fn jwks(State(st): State<AppState>) -> Response {
    let mut res = Json(st.oauth().jwk_set()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=300"),
    );
    res
}
