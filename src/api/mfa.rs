//! Second factors over HTTP: TOTP set-up, confirmation and removal for the
//! signed-in user, the second step of a sign-in, and an admin's reset.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::policy::Caller;
use crate::domain::{Field, FieldError};
use crate::error::Error;
use crate::service::{Proof, SecondFactorDue, SecondStep, SignIn};

use super::auth::{no_store, token_response};
use super::caller::{client_ip, user_agent};
use super::extract::{Body, no_other_fields, required_text};
use super::openapi as doc;
use super::params::UserPath;
use super::problem::Problem;
use super::state::AppState;

/// A sign-in whose first step was right and whose second factor is due:
/// no tokens yet. Send `mfa_token` with a code to `/api/v1/auth/mfa/verify`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MfaChallenge)]
pub struct ChallengeBody<'a> {
    #[schema(value_type = bool)]
    mfa_required: bool,
    /// Good for one sign-in, for `expires_in` seconds.
    #[schema(value_type = String)]
    mfa_token: &'a str,
    /// The ways the second step may be taken: `totp`, `webauthn`, `recovery`.
    #[schema(value_type = Vec<String>)]
    methods: &'a [&'static str],
    expires_in: u64,
}

/// The answer to a sign-in's first step, as the document shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = SignInResponse)]
#[allow(dead_code)] // Only its schema is used.
pub enum SignInBody<'a> {
    Tokens(super::auth::TokenBody<'a>),
    SecondFactorDue(ChallengeBody<'a>),
}

/// The answer to a sign-in's first step: tokens, or a second factor due.
pub(super) fn sign_in_response(r: &SignIn) -> Response {
    match r {
        SignIn::Done(r) => token_response(r),
        SignIn::SecondFactorDue(SecondFactorDue {
            mfa_token,
            methods,
            expires_in,
        }) => no_store(ChallengeBody {
            mfa_required: true,
            mfa_token,
            methods,
            expires_in: *expires_in,
        }),
    }
}

/// The second step of a sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MfaVerify {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256)]
    mfa_token: Field<String>,
    /// `totp` (a code from the app), `recovery` (a recovery code) or
    /// `webauthn` (a passkey: `credential` answers the challenge of
    /// `/api/v1/auth/webauthn/login/start` with this `mfa_token`).
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^(totp|recovery|webauthn)$")]
    method: Field<String>,
    /// With `totp` and `recovery`.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, min_length = 1, max_length = 64)]
    code: Field<String>,
    /// With `webauthn`.
    #[serde(default)]
    #[schema(value_type = Option<super::passkeys::AssertionCredential>)]
    credential: Field<super::passkeys::AssertionCredential>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// A code from the authenticator app.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TotpCode {
    #[serde(default)]
    #[schema(value_type = String, required = true, write_only, min_length = 1, max_length = 64)]
    code: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Proof that it is the user: the password, or a current code.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = IdentityProof)]
pub struct TotpRemoval {
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, min_length = 1, max_length = 1024)]
    password: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, min_length = 1, max_length = 64)]
    code: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// A TOTP secret, shown this once: scan the QR code or type the secret
/// into an authenticator app, then confirm with a code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpSetupBody {
    /// Base32.
    secret: String,
    otpauth_url: String,
    /// The `otpauth_url` as a QR code (an SVG document).
    qr_svg: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes for when the app is lost; shown this once.
    recovery_codes: Vec<String>,
}

/// The caller's second factors, without secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MfaStatusBody {
    totp: bool,
    /// How many passkeys.
    passkeys: usize,
    recovery_codes_left: usize,
    /// The caller's roles require a second factor.
    required: bool,
}

/// Take the second step of a sign-in.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/verify", operation_id = "verifySecondFactor", tag = "mfa",
    request_body(content = MfaVerify, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in.", body = super::auth::TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized),
        doc::JsonBody,
        (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn verify(
    State(st): State<AppState>,
    req_headers: HeaderMap,
    parts: axum::http::Extensions,
    Body(body): Body<MfaVerify>,
) -> Result<Response, Problem> {
    let token = required_text(body.mfa_token, "mfa_token", 256)?;
    let method = required_text(body.method, "method", 16)?;
    no_other_fields(&body.other)?;
    let unexpected = |name: &'static str, method: &str| {
        Error::Validation(vec![FieldError::new(
            name,
            format!("is not taken with method {method}"),
        )])
    };
    let step = match method.as_str() {
        "totp" | "recovery" => {
            if body.credential.is_given() {
                return Err(unexpected("credential", &method).into());
            }
            let code = required_text(body.code, "code", 64)?;
            match method.as_str() {
                "totp" => SecondStep::Totp(code),
                _ => SecondStep::Recovery(code),
            }
        }
        "webauthn" => {
            if body.code.is_given() {
                return Err(unexpected("code", &method).into());
            }
            SecondStep::Passkey(super::passkeys::assertion(body.credential)?)
        }
        _ => {
            return Err(Error::Validation(vec![FieldError::new(
                "method",
                "must be totp, recovery or webauthn",
            )])
            .into());
        }
    };
    let r = st
        .auth()
        .verify_second_factor(&token, step, client_ip(&parts), user_agent(&req_headers))
        .await?;
    Ok(token_response(&r))
}

/// The caller's second factors.
#[utoipa::path(
    get, path = "/api/v1/auth/mfa", operation_id = "getMfa", tag = "mfa",
    responses((status = 200, description = "What is enrolled.", body = MfaStatusBody), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn status(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let s = st.auth().mfa_status(&caller)?;
    Ok(Json(MfaStatusBody {
        totp: s.totp,
        passkeys: s.passkeys,
        recovery_codes_left: s.recovery_codes_left,
        required: s.required,
    })
    .into_response())
}

/// Start TOTP set-up: a new secret, waiting for its first code.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/setup", operation_id = "setupTotp", tag = "mfa",
    responses(
        (status = 200, description = "The secret, shown this once.", body = TotpSetupBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, response = doc::BadRequest), doc::Authorized,
        (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn totp_setup(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let s = st.auth().totp_setup(&caller).await?;
    Ok(no_store(TotpSetupBody {
        secret: s.secret,
        otpauth_url: s.otpauth_url,
        qr_svg: s.qr_svg,
    }))
}

/// Turn TOTP on with a first code; returns the recovery codes, once.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/confirm", operation_id = "confirmTotp", tag = "mfa",
    request_body(content = TotpCode, content_type = "application/json"),
    responses(
        (status = 200, description = "TOTP is on.", body = RecoveryCodes, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn totp_confirm(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<TotpCode>,
) -> Result<Response, Problem> {
    let code = required_text(body.code, "code", 64)?;
    no_other_fields(&body.other)?;
    let recovery_codes = st.auth().totp_confirm(&caller, &code).await?;
    Ok(no_store(RecoveryCodes { recovery_codes }))
}

/// Turn TOTP off, with the password or a current code.
#[utoipa::path(
    delete, path = "/api/v1/auth/mfa/totp", operation_id = "removeTotp", tag = "mfa",
    request_body(content = TotpRemoval, content_type = "application/json"),
    responses(
        (status = 204, description = "TOTP and its recovery codes are gone."),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn totp_remove(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<TotpRemoval>,
) -> Result<StatusCode, Problem> {
    let proof = proof_of(body)?;
    st.auth().totp_remove(&caller, proof).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The password or the code of a proof body (one of them).
pub(super) fn proof_of(body: TotpRemoval) -> Result<Proof, Error> {
    no_other_fields(&body.other)?;
    let text = |f: Field<String>, name: &'static str, max: usize| match f {
        Field::Absent => Ok(None),
        f => required_text(f, name, max).map(Some),
    };
    let password = text(body.password, "password", 1024)?;
    let code = text(body.code, "code", 64)?;
    match (password, code) {
        (Some(p), None) => Ok(Proof::Password(p)),
        (None, Some(c)) => Ok(Proof::Code(c)),
        _ => Err(Error::Validation(vec![FieldError::new(
            "password",
            "give either the password or a current code (`code`), not both",
        )])),
    }
}

/// Make ten new recovery codes (the earlier ones stop working).
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/recovery-codes", operation_id = "regenerateRecoveryCodes", tag = "mfa",
    request_body(content = TotpRemoval, content_type = "application/json"),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = RecoveryCodes, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn regenerate_recovery_codes(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<TotpRemoval>,
) -> Result<Response, Problem> {
    let proof = proof_of(body)?;
    let recovery_codes = st.auth().regenerate_recovery_codes(&caller, proof).await?;
    Ok(no_store(RecoveryCodes { recovery_codes }))
}

/// Remove every second factor of a user and end its sessions (admins).
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/mfa", operation_id = "resetMfa", tag = "mfa",
    params(UserPath),
    responses((status = 204, description = "Factors removed; the user's sessions are revoked."), doc::Authorized, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn reset(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
) -> Result<StatusCode, Problem> {
    st.auth().reset_mfa(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
