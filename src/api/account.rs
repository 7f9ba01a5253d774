//! The account flows over HTTP: requests that mail a link (verification,
//! password reset, sign-in link, email change) and the confirmations that
//! spend the link's token. Every request answers 202 with no body, whether
//! or not the address has an account.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::policy::Caller;
use crate::domain::{Field, TokenPurpose};
use crate::error::Error;

use super::auth::token_response;
use super::caller::client_ip;
use super::extract::{Body, no_other_fields, required_text};
use super::openapi as doc;
use super::problem::Problem;
use super::state::AppState;
use super::users::{UserDto, user_response};

/// An address to mail a link to.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LinkRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 320, format = "email")]
    email: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// For oneself (signed in), or for an address.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerificationRequest {
    /// Required unless the request is signed in (then the caller's own
    /// address is meant).
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 320, format = "email")]
    email: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EmailChangeRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 320, format = "email")]
    new_email: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// The token from a mailed link.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenConfirm {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256)]
    token: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetConfirm {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256)]
    token: Field<String>,
    /// The new password.
    #[serde(default)]
    #[schema(value_type = String, required = true, write_only, min_length = 1, max_length = 1024)]
    password: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

const MAX_EMAIL: usize = 320;
const MAX_TOKEN: usize = 256;

fn token_of(body: TokenConfirm) -> Result<String, Error> {
    let token = required_text(body.token, "token", MAX_TOKEN)?;
    no_other_fields(&body.other)?;
    Ok(token)
}

async fn request_link(
    st: &AppState,
    purpose: TokenPurpose,
    parts: &axum::http::Extensions,
    body: LinkRequest,
) -> Result<StatusCode, Problem> {
    let email = required_text(body.email, "email", MAX_EMAIL)?;
    no_other_fields(&body.other)?;
    st.auth()
        .request_link(purpose, &email, client_ip(parts))
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Mail a verification link: to the caller's own address when signed in
/// and no `email` is given, else to `email` if it has an unverified account.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email/request", operation_id = "requestEmailVerification", tag = "account",
    request_body(content = VerificationRequest, content_type = "application/json"),
    responses((status = 202, description = "Accepted: a link is mailed if the address has an account that needs one."), doc::JsonBody, (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable)),
)]
pub async fn request_verification(
    State(st): State<AppState>,
    caller: Option<Caller>,
    parts: axum::http::Extensions,
    Body(body): Body<VerificationRequest>,
) -> Result<StatusCode, Problem> {
    no_other_fields(&body.other)?;
    match (caller, body.email.is_given()) {
        (Some(caller), false) => st.auth().request_own_verification(&caller).await?,
        (_, _) => {
            let email = required_text(body.email, "email", MAX_EMAIL)?;
            st.auth()
                .request_link(TokenPurpose::VerifyEmail, &email, client_ip(&parts))
                .await?;
        }
    }
    Ok(StatusCode::ACCEPTED)
}

/// Spend a verification link: the address is verified.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email/confirm", operation_id = "confirmEmailVerification", tag = "account",
    request_body(content = TokenConfirm, content_type = "application/json"),
    responses((status = 200, description = "Verified.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), (status = 400, response = doc::BadRequest), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
)]
pub async fn confirm_verification(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<TokenConfirm>,
) -> Result<Response, Problem> {
    let user = st
        .auth()
        .confirm_email(&token_of(body)?, client_ip(&parts))
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Mail a password reset link to `email`, if it has an active account.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset/request", operation_id = "requestPasswordReset", tag = "account",
    request_body(content = LinkRequest, content_type = "application/json"),
    responses((status = 202, description = "Accepted: a link is mailed if the address has an account."), doc::JsonBody, (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable)),
)]
pub async fn request_reset(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<LinkRequest>,
) -> Result<StatusCode, Problem> {
    request_link(&st, TokenPurpose::ResetPassword, &parts, body).await
}

/// Spend a reset link: the new password is set and every session ends.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset/confirm", operation_id = "confirmPasswordReset", tag = "account",
    request_body(content = ResetConfirm, content_type = "application/json"),
    responses((status = 204, description = "The password is set; every session of the user was revoked."), (status = 400, response = doc::BadRequest), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
)]
pub async fn confirm_reset(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<ResetConfirm>,
) -> Result<StatusCode, Problem> {
    let token = required_text(body.token, "token", MAX_TOKEN)?;
    let password = required_text(body.password, "password", 1024)?;
    no_other_fields(&body.other)?;
    st.auth()
        .confirm_password_reset(&token, &password, client_ip(&parts))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a sign-in link to `email` (when the server allows sign-in links).
#[utoipa::path(
    post, path = "/api/v1/auth/magic-link/request", operation_id = "requestMagicLink", tag = "account",
    request_body(content = LinkRequest, content_type = "application/json"),
    responses((status = 202, description = "Accepted: a link is mailed if the address has an active account."), (status = 403, response = doc::Forbidden), doc::JsonBody, (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable)),
)]
pub async fn request_magic_link(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<LinkRequest>,
) -> Result<StatusCode, Problem> {
    request_link(&st, TokenPurpose::MagicLink, &parts, body).await
}

/// Spend a sign-in link: the same answer as a login.
#[utoipa::path(
    post, path = "/api/v1/auth/magic-link/confirm", operation_id = "confirmMagicLink", tag = "account",
    request_body(content = TokenConfirm, content_type = "application/json"),
    responses((status = 200, description = "Signed in.", body = super::auth::TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))), (status = 400, response = doc::BadRequest), (status = 403, response = doc::Forbidden), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
)]
pub async fn confirm_magic_link(
    State(st): State<AppState>,
    headers: HeaderMap,
    parts: axum::http::Extensions,
    Body(body): Body<TokenConfirm>,
) -> Result<Response, Problem> {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let r = st
        .auth()
        .confirm_magic_link(&token_of(body)?, client_ip(&parts), ua)
        .await?;
    Ok(token_response(&r))
}

/// Ask to change one's address: a link goes to the new address; the old one
/// stays until it is opened.
#[utoipa::path(
    post, path = "/api/v1/auth/email-change/request", operation_id = "requestEmailChange", tag = "account",
    request_body(content = EmailChangeRequest, content_type = "application/json"),
    responses((status = 202, description = "Accepted: a link is mailed to the new address."), (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody, (status = 503, response = doc::Unavailable)),
)]
pub async fn request_email_change(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<EmailChangeRequest>,
) -> Result<StatusCode, Problem> {
    let new_email = required_text(body.new_email, "new_email", MAX_EMAIL)?;
    no_other_fields(&body.other)?;
    st.auth().request_email_change(&caller, &new_email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Spend an email change link: the new address replaces the old (checked
/// to be free now) and is verified; the old address gets a notice.
#[utoipa::path(
    post, path = "/api/v1/auth/email-change/confirm", operation_id = "confirmEmailChange", tag = "account",
    request_body(content = TokenConfirm, content_type = "application/json"),
    responses((status = 200, description = "Changed.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), (status = 400, response = doc::BadRequest), (status = 409, response = doc::Conflict), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
)]
pub async fn confirm_email_change(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<TokenConfirm>,
) -> Result<Response, Problem> {
    let user = st
        .auth()
        .confirm_email_change(&token_of(body)?, client_ip(&parts))
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}
