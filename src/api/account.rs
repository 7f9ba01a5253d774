//! The account flows over HTTP: requests that mail a link (verification,
//! password reset, sign-in link, email change) and the confirmations that
//! spend the link's token. Every request answers 202 with no body, whether
//! or not the address has an account.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::policy::Caller;
use crate::domain::{Field, TokenPurpose};
use crate::error::Error;

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

fn email_of(body: LinkRequest) -> Result<String, Error> {
    let email = required_text(body.email, "email", MAX_EMAIL)?;
    no_other_fields(&body.other)?;
    Ok(email)
}

/// A `POST` handler of the account flows, declared with its documentation
/// (doc comment, path, operation id, responses) and its JSON body type; its
/// code gets the state, the client's address and the body, and any extra
/// extractor named.
macro_rules! account_route {
    (
        $(#[doc = $doc:literal])*
        $name:ident($st:ident, $ip:ident, $body:ident: $Body:ident $(, $extra:ident: $Extra:ty)?) -> $Ret:ident,
        path = $path:literal, id = $id:literal,
        responses($($responses:tt)*),
        $code:block
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            post, path = $path, operation_id = $id, tag = "account",
            request_body(content = $Body, content_type = "application/json"),
            responses($($responses)*),
        )]
        pub async fn $name(
            State($st): State<AppState>,
            $($extra: $Extra,)?
            parts: axum::http::Extensions,
            Body($body): Body<$Body>,
        ) -> Result<$Ret, Problem> {
            let $ip = client_ip(&parts);
            $code
        }
    };
}

account_route! {
    /// Mail a verification link: to the caller's own address when signed in
    /// and no `email` is given, else to `email` if it has an unverified
    /// account.
    request_verification(st, ip, body: VerificationRequest, caller: Option<Caller>) -> StatusCode,
    path = "/api/v1/auth/verify-email/request", id = "requestEmailVerification",
    responses((status = 202, description = "Accepted: a link is mailed if the address has an account that needs one."), doc::JsonBody, (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable)),
    {
        no_other_fields(&body.other)?;
        match (caller, body.email.is_given()) {
            (Some(caller), false) => st.auth().request_own_verification(&caller).await?,
            (_, _) => {
                let email = required_text(body.email, "email", MAX_EMAIL)?;
                st.auth().request_link(TokenPurpose::VerifyEmail, &email, ip).await?;
            }
        }
        Ok(StatusCode::ACCEPTED)
    }
}

account_route! {
    /// Spend a verification link: the address is verified.
    confirm_verification(st, ip, body: TokenConfirm) -> Response,
    path = "/api/v1/auth/verify-email/confirm", id = "confirmEmailVerification",
    responses((status = 200, description = "Verified.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), (status = 400, response = doc::BadRequest), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
    {
        let user = st.auth().confirm_email(&token_of(body)?, ip).await?;
        Ok(user_response(StatusCode::OK, &user))
    }
}

account_route! {
    /// Mail a password reset link to `email`, if it has an active account.
    request_reset(st, ip, body: LinkRequest) -> StatusCode,
    path = "/api/v1/auth/password-reset/request", id = "requestPasswordReset",
    responses((status = 202, description = "Accepted: a link is mailed if the address has an account."), doc::JsonBody, (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable)),
    {
        let email = email_of(body)?;
        st.auth().request_link(TokenPurpose::ResetPassword, &email, ip).await?;
        Ok(StatusCode::ACCEPTED)
    }
}

account_route! {
    /// Spend a reset link: the new password is set and every session ends.
    confirm_reset(st, ip, body: ResetConfirm) -> StatusCode,
    path = "/api/v1/auth/password-reset/confirm", id = "confirmPasswordReset",
    responses((status = 204, description = "The password is set; every session of the user was revoked."), (status = 400, response = doc::BadRequest), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
    {
        let token = required_text(body.token, "token", MAX_TOKEN)?;
        let password = required_text(body.password, "password", 1024)?;
        no_other_fields(&body.other)?;
        st.auth().confirm_password_reset(&token, &password, ip).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

account_route! {
    /// Mail a sign-in link to `email` (when the server allows sign-in links).
    request_magic_link(st, ip, body: LinkRequest) -> StatusCode,
    path = "/api/v1/auth/magic-link/request", id = "requestMagicLink",
    responses((status = 202, description = "Accepted: a link is mailed if the address has an active account."), (status = 403, response = doc::Forbidden), doc::JsonBody, (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable)),
    {
        let email = email_of(body)?;
        st.auth().request_link(TokenPurpose::MagicLink, &email, ip).await?;
        Ok(StatusCode::ACCEPTED)
    }
}

account_route! {
    /// Spend a sign-in link: the same answer as a login (tokens, or a
    /// second factor due).
    confirm_magic_link(st, ip, body: TokenConfirm, headers: HeaderMap) -> Response,
    path = "/api/v1/auth/magic-link/confirm", id = "confirmMagicLink",
    responses((status = 200, description = "Signed in, or a second factor is due.", body = super::mfa::SignInBody, headers(("Cache-Control" = String, description = "`no-store`."))), (status = 400, response = doc::BadRequest), (status = 403, response = doc::Forbidden), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
    {
        let r = st
            .auth()
            .confirm_magic_link(&token_of(body)?, ip, super::caller::user_agent(&headers))
            .await?;
        Ok(super::mfa::sign_in_response(&r))
    }
}

account_route! {
    /// Ask to change one's address: a link goes to the new address; the old
    /// one stays until it is opened.
    request_email_change(st, _ip, body: EmailChangeRequest, caller: Caller) -> StatusCode,
    path = "/api/v1/auth/email-change/request", id = "requestEmailChange",
    responses((status = 202, description = "Accepted: a link is mailed to the new address."), (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody, (status = 503, response = doc::Unavailable)),
    {
        let new_email = required_text(body.new_email, "new_email", MAX_EMAIL)?;
        no_other_fields(&body.other)?;
        st.auth().request_email_change(&caller, &new_email).await?;
        Ok(StatusCode::ACCEPTED)
    }
}

account_route! {
    /// Spend an email change link: the new address replaces the old (checked
    /// to be free now) and is verified; the old address gets a notice.
    confirm_email_change(st, ip, body: TokenConfirm) -> Response,
    path = "/api/v1/auth/email-change/confirm", id = "confirmEmailChange",
    responses((status = 200, description = "Changed.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), (status = 400, response = doc::BadRequest), (status = 409, response = doc::Conflict), doc::JsonBody, (status = 429, response = doc::TooManyRequests)),
    {
        let user = st.auth().confirm_email_change(&token_of(body)?, ip).await?;
        Ok(user_response(StatusCode::OK, &user))
    }
}
