//! Passkeys over HTTP: the WebAuthn ceremonies in their JSON forms (what
//! `PublicKeyCredential.parseCreationOptionsFromJSON` reads and
//! `PublicKeyCredential.toJSON()` writes, binary as base64url), and the
//! signed-in user's list of passkeys.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::policy::Caller;
use crate::auth::webauthn::{EDDSA, ES256, MAX_CREDENTIAL_ID, b64url, to_b64url};
use crate::domain::{Field, FieldError, Passkey};
use crate::error::Error;
use crate::service::{CreationOptions, NewPasskey, PasskeyAssertion, RequestOptions};

use super::auth::{no_store, token_response};
use super::caller::{client_ip, user_agent};
use super::extract::{Body, no_other_fields, required_text};
use super::openapi as doc;
use super::params::CredentialPath;
use super::problem::Problem;
use super::state::AppState;

/// Longest name of a passkey.
const NAME_MAX: usize = 64;
/// Longest base64url field of a credential (an attestation with a
/// certificate chain is a few KiB).
const FIELD_MAX: usize = 32 * 1024;

#[derive(Serialize, utoipa::ToSchema)]
pub struct RpEntity {
    id: String,
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user handle, base64url.
    id: String,
    name: String,
    display_name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialParam {
    #[serde(rename = "type")]
    kind: &'static str,
    alg: i64,
}

/// A credential by id, base64url.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialDescriptor {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    transports: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    resident_key: &'static str,
    require_resident_key: bool,
    user_verification: &'static str,
}

/// `PublicKeyCredentialCreationOptionsJSON` (WebAuthn Level 3).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptionsDto {
    rp: RpEntity,
    user: UserEntity,
    /// Base64url; good for one answer within `timeout` ms.
    challenge: String,
    pub_key_cred_params: Vec<CredentialParam>,
    timeout: u64,
    exclude_credentials: Vec<CredentialDescriptor>,
    authenticator_selection: AuthenticatorSelection,
    attestation: &'static str,
}

/// `PublicKeyCredentialRequestOptionsJSON` (WebAuthn Level 3).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptionsDto {
    /// Base64url; good for one answer within `timeout` ms.
    challenge: String,
    rp_id: String,
    timeout: u64,
    /// Empty: any passkey of this site.
    allow_credentials: Vec<CredentialDescriptor>,
    user_verification: &'static str,
}

/// What to pass to `navigator.credentials.create({publicKey})`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreationOptionsBody {
    #[serde(rename = "publicKey")]
    public_key: CreationOptionsDto,
}

/// What to pass to `navigator.credentials.get({publicKey})`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestOptionsBody {
    #[serde(rename = "publicKey")]
    public_key: RequestOptionsDto,
}

fn descriptors(list: Vec<(Vec<u8>, Vec<String>)>) -> Vec<CredentialDescriptor> {
    list.into_iter()
        .map(|(id, transports)| CredentialDescriptor {
            kind: "public-key",
            id: to_b64url(&id),
            transports,
        })
        .collect()
}

impl From<CreationOptions> for CreationOptionsBody {
    fn from(o: CreationOptions) -> Self {
        let param = |alg| CredentialParam {
            kind: "public-key",
            alg,
        };
        Self {
            public_key: CreationOptionsDto {
                rp: RpEntity {
                    id: o.rp.id,
                    name: o.rp_name,
                },
                user: UserEntity {
                    id: to_b64url(&o.user_handle),
                    name: o.user_name,
                    display_name: o.display_name,
                },
                challenge: to_b64url(&o.challenge),
                pub_key_cred_params: vec![param(EDDSA), param(ES256)],
                timeout: o.timeout_ms,
                exclude_credentials: descriptors(o.exclude),
                authenticator_selection: AuthenticatorSelection {
                    resident_key: "required",
                    require_resident_key: true,
                    user_verification: "preferred",
                },
                attestation: "none",
            },
        }
    }
}

impl From<RequestOptions> for RequestOptionsBody {
    fn from(o: RequestOptions) -> Self {
        Self {
            public_key: RequestOptionsDto {
                challenge: to_b64url(&o.challenge),
                rp_id: o.rp_id,
                timeout: o.timeout_ms,
                allow_credentials: descriptors(o.allow),
                user_verification: o.user_verification,
            },
        }
    }
}

/// The response of a registration, base64url.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AttestationResponse {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "attestationObject")]
    attestation_object: String,
    #[serde(default)]
    transports: Vec<String>,
}

/// `RegistrationResponseJSON`: what `PublicKeyCredential.toJSON()` gives
/// after `navigator.credentials.create` (other members are ignored).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegistrationCredential {
    /// The credential id, base64url.
    id: String,
    #[serde(rename = "rawId", default)]
    raw_id: Option<String>,
    /// `public-key`.
    #[serde(rename = "type")]
    kind: String,
    response: AttestationResponse,
}

/// The response of an authentication, base64url.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AssertionResponse {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "authenticatorData")]
    authenticator_data: String,
    signature: String,
    #[serde(rename = "userHandle", default)]
    user_handle: Option<String>,
}

/// `AuthenticationResponseJSON`: what `PublicKeyCredential.toJSON()` gives
/// after `navigator.credentials.get` (other members are ignored).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AssertionCredential {
    id: String,
    #[serde(rename = "rawId", default)]
    raw_id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    response: AssertionResponse,
}

fn bad(m: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new("credential", m)])
}

/// `field` of a credential, decoded.
fn bytes(text: &str, field: &str, max: usize) -> Result<Vec<u8>, Error> {
    if text.len() > max {
        return Err(bad(format!("{field} is too long")));
    }
    b64url(text).ok_or_else(|| bad(format!("{field} is not base64url")))
}

/// The credential id, checked against `rawId` and `type`.
fn credential_id(id: &str, raw_id: Option<&str>, kind: &str) -> Result<Vec<u8>, Error> {
    if kind != "public-key" {
        return Err(bad("type must be public-key"));
    }
    if raw_id.is_some_and(|r| r != id) {
        return Err(bad("rawId differs from id"));
    }
    let id = bytes(id, "id", 2 * MAX_CREDENTIAL_ID)?;
    if id.is_empty() || id.len() > MAX_CREDENTIAL_ID {
        return Err(bad("id must be 1 to 1023 bytes"));
    }
    Ok(id)
}

fn required<T>(f: Field<T>) -> Result<T, Error> {
    match f {
        Field::Given(c) => Ok(c),
        Field::Absent => Err(bad("is required")),
        Field::WrongType => Err(bad(
            "must be a PublicKeyCredential in its JSON form (PublicKeyCredential.toJSON())",
        )),
    }
}

impl TryFrom<RegistrationCredential> for NewPasskey {
    type Error = Error;
    fn try_from(c: RegistrationCredential) -> Result<Self, Error> {
        let r = c.response;
        Ok(NewPasskey {
            id: credential_id(&c.id, c.raw_id.as_deref(), &c.kind)?,
            client_data_json: bytes(&r.client_data_json, "clientDataJSON", FIELD_MAX)?,
            attestation_object: bytes(&r.attestation_object, "attestationObject", FIELD_MAX)?,
            transports: r
                .transports
                .into_iter()
                .filter(|t| !t.is_empty() && t.len() <= 32 && t.is_ascii())
                .take(8)
                .collect(),
        })
    }
}

impl TryFrom<AssertionCredential> for PasskeyAssertion {
    type Error = Error;
    fn try_from(c: AssertionCredential) -> Result<Self, Error> {
        let r = c.response;
        Ok(PasskeyAssertion {
            id: credential_id(&c.id, c.raw_id.as_deref(), &c.kind)?,
            client_data_json: bytes(&r.client_data_json, "clientDataJSON", FIELD_MAX)?,
            authenticator_data: bytes(&r.authenticator_data, "authenticatorData", FIELD_MAX)?,
            signature: bytes(&r.signature, "signature", 1024)?,
            user_handle: match r.user_handle.as_deref() {
                None | Some("") => None,
                Some(h) => Some(bytes(h, "userHandle", 128)?),
            },
        })
    }
}

/// A passkey's credential, as an answer to `/auth/mfa/verify`.
pub(super) fn assertion(f: Field<AssertionCredential>) -> Result<PasskeyAssertion, Error> {
    required(f)?.try_into()
}

/// A passkey's name: 1 to 64 characters, no control characters.
fn passkey_name(f: Field<String>) -> Result<Option<String>, Error> {
    if !f.is_given() {
        return Ok(None);
    }
    let name = required_text(f, "name", NAME_MAX)?.trim().to_owned();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(Error::Validation(vec![FieldError::new(
            "name",
            "must have a visible character and no control characters",
        )]));
    }
    Ok(Some(name))
}

/// One of the user's passkeys (no key material).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Passkey)]
pub struct PasskeyDto {
    /// The credential id, base64url.
    id: String,
    name: String,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = Option<time::OffsetDateTime>, required = true)]
    last_used_at: Option<String>,
    /// Synced between devices (its sign-ins carry `amr` `swk`, else `hwk`).
    synced: bool,
    transports: Vec<String>,
}

impl From<&Passkey> for PasskeyDto {
    fn from(p: &Passkey) -> Self {
        Self {
            id: to_b64url(&p.id),
            name: p.name.clone(),
            created_at: p.created_at.rfc3339(),
            last_used_at: p.last_used_at.map(|t| t.rfc3339()),
            synced: p.backup_eligible,
            transports: p.transports.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeyList {
    items: Vec<PasskeyDto>,
}

/// A new passkey; with the account's first factor, its recovery codes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeyCreated {
    passkey: PasskeyDto,
    /// Ten single-use codes, shown this once: only when this is the
    /// account's first factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// The answer to a registration challenge.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterFinish {
    #[serde(default)]
    #[schema(value_type = RegistrationCredential, required = true)]
    credential: Field<RegistrationCredential>,
    /// Defaults to "Passkey N".
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64)]
    name: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Starting a passkey sign-in: alone, or as the second step of the sign-in
/// an `mfa_token` names.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginStart {
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256)]
    mfa_token: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// The answer to a sign-in challenge.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginFinish {
    #[serde(default)]
    #[schema(value_type = AssertionCredential, required = true)]
    credential: Field<AssertionCredential>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// A passkey's new name.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasskeyRename {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64)]
    name: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Start registering a passkey for the signed-in user, with the password
/// or a current TOTP code (a passkey signs in alone: a token is not enough).
#[utoipa::path(
    post, path = "/api/v1/auth/webauthn/register/start", operation_id = "startPasskeyRegistration", tag = "mfa",
    request_body(content = super::mfa::TotpRemoval, content_type = "application/json"),
    responses(
        (status = 200, description = "Options for `navigator.credentials.create`.", body = CreationOptionsBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn register_start(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<super::mfa::TotpRemoval>,
) -> Result<Response, Problem> {
    let proof = super::mfa::proof_of(body)?;
    let o = st.auth().passkey_register_start(&caller, proof).await?;
    Ok(no_store(CreationOptionsBody::from(o)))
}

/// Finish registering a passkey.
#[utoipa::path(
    post, path = "/api/v1/auth/webauthn/register/finish", operation_id = "finishPasskeyRegistration", tag = "mfa",
    request_body(content = RegisterFinish, content_type = "application/json"),
    responses(
        (status = 201, description = "The passkey is registered.", body = PasskeyCreated, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn register_finish(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<RegisterFinish>,
) -> Result<Response, Problem> {
    no_other_fields(&body.other)?;
    let cred: NewPasskey = required(body.credential)?.try_into()?;
    let name = passkey_name(body.name)?;
    let (passkey, recovery_codes) = st
        .auth()
        .passkey_register_finish(&caller, name, cred)
        .await?;
    let mut res = no_store(PasskeyCreated {
        passkey: PasskeyDto::from(&passkey),
        recovery_codes,
    });
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// Start a sign-in with a passkey.
#[utoipa::path(
    post, path = "/api/v1/auth/webauthn/login/start", operation_id = "startPasskeyLogin", tag = "mfa",
    request_body(content = LoginStart, content_type = "application/json"),
    responses(
        (status = 200, description = "Options for `navigator.credentials.get`.", body = RequestOptionsBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized), doc::JsonBody,
        (status = 409, response = doc::Conflict), (status = 429, response = doc::TooManyRequests),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn login_start(
    State(st): State<AppState>,
    parts: axum::http::Extensions,
    Body(body): Body<LoginStart>,
) -> Result<Response, Problem> {
    no_other_fields(&body.other)?;
    let token = match body.mfa_token {
        Field::Absent => None,
        f => Some(required_text(f, "mfa_token", 256)?),
    };
    let o = st
        .auth()
        .passkey_login_start(token.as_deref(), client_ip(&parts))
        .await?;
    Ok(no_store(RequestOptionsBody::from(o)))
}

/// Sign in with a passkey alone.
#[utoipa::path(
    post, path = "/api/v1/auth/webauthn/login/finish", operation_id = "finishPasskeyLogin", tag = "mfa",
    request_body(content = LoginFinish, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in.", body = super::auth::TokenBody, headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 401, response = doc::Unauthorized), (status = 403, response = doc::Forbidden),
        doc::JsonBody, (status = 409, response = doc::Conflict),
        (status = 429, response = doc::TooManyRequests), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn login_finish(
    State(st): State<AppState>,
    req_headers: HeaderMap,
    parts: axum::http::Extensions,
    Body(body): Body<LoginFinish>,
) -> Result<Response, Problem> {
    no_other_fields(&body.other)?;
    let a = assertion(body.credential)?;
    let r = st
        .auth()
        .passkey_login_finish(a, client_ip(&parts), user_agent(&req_headers))
        .await?;
    Ok(token_response(&r))
}

/// The signed-in user's passkeys.
#[utoipa::path(
    get, path = "/api/v1/auth/webauthn/credentials", operation_id = "listPasskeys", tag = "mfa",
    responses((status = 200, description = "The passkeys.", body = PasskeyList), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let keys = st.auth().passkeys(&caller)?;
    Ok(Json(PasskeyList {
        items: keys.iter().map(PasskeyDto::from).collect(),
    })
    .into_response())
}

/// Rename a passkey.
#[utoipa::path(
    patch, path = "/api/v1/auth/webauthn/credentials/{id}", operation_id = "renamePasskey", tag = "mfa",
    params(CredentialPath),
    request_body(content = PasskeyRename, content_type = "application/json"),
    responses(
        (status = 200, description = "Renamed.", body = PasskeyDto),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn rename(
    State(st): State<AppState>,
    caller: Caller,
    CredentialPath(id): CredentialPath,
    Body(body): Body<PasskeyRename>,
) -> Result<Response, Problem> {
    no_other_fields(&body.other)?;
    let name = match body.name {
        Field::Absent => Err(Error::Validation(vec![FieldError::new(
            "name",
            "is required",
        )])),
        f => passkey_name(f).map(|n| n.unwrap_or_default()),
    }?;
    let p = st.auth().rename_passkey(&caller, id, name).await?;
    Ok(Json(PasskeyDto::from(&p)).into_response())
}

/// Remove a passkey, with the password or a current TOTP code (with the
/// last factor, the recovery codes go too).
#[utoipa::path(
    delete, path = "/api/v1/auth/webauthn/credentials/{id}", operation_id = "removePasskey", tag = "mfa",
    params(CredentialPath),
    request_body(content = super::mfa::TotpRemoval, content_type = "application/json"),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, response = doc::BadRequest), doc::Authorized, doc::JsonBody,
        (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable),
    ),
)]
pub async fn remove(
    State(st): State<AppState>,
    caller: Caller,
    CredentialPath(id): CredentialPath,
    Body(body): Body<super::mfa::TotpRemoval>,
) -> Result<StatusCode, Problem> {
    let proof = super::mfa::proof_of(body)?;
    st.auth().remove_passkey(&caller, id, proof).await?;
    Ok(StatusCode::NO_CONTENT)
}
