//! `/api/v1/oauth-clients`: the apps that sign their users in through
//! roster (OpenID Connect relying parties). A confidential client's secret
//! is shown once, at creation and at rotation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::policy::Caller;
use crate::domain::{
    ClientFields, ClientKind, Field, FieldError, GrantType, IdTokenAlg, NewOAuthClient,
    OAuthClient, OAuthClientPatch,
};
use crate::error::Error;
use crate::service::oauth::ClientCreated;

use super::super::extract::Body;
use super::super::openapi as doc;
use super::super::problem::{Kind, Problem};
use super::super::state::AppState;

/// A client to register, or changes to one (absent fields stay as they are).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct OAuthClientBody {
    /// Shown to users on the consent page. Required at creation.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    name: Field<String>,
    /// `confidential` (default: a server that keeps a secret) or `public`
    /// (a browser or native app: PKCE instead of a secret). Fixed at creation.
    #[serde(default)]
    #[schema(value_type = Option<ClientKind>)]
    kind: Field<String>,
    /// Exact URIs the browser may be sent back to: `https`, or `http` on a
    /// loopback host.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    redirect_uris: Field<Vec<Value>>,
    /// Where RP-initiated logout may send the browser afterwards.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    post_logout_redirect_uris: Field<Vec<Value>>,
    /// Scopes it may ask for (default: all): `openid profile email groups
    /// roles offline_access`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    scopes: Field<Vec<Value>>,
    /// Default `authorization_code` and `refresh_token`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<GrantType>>)]
    grant_types: Field<Vec<Value>>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    #[serde(default)]
    #[schema(value_type = Option<IdTokenAlg>)]
    id_token_alg: Field<String>,
    /// A first-party app: users are not asked to consent.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    skip_consent: Field<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

impl OAuthClientBody {
    /// The fields, with every unknown field an error.
    fn fields(self) -> (ClientFields, Vec<FieldError>) {
        let unknown = self
            .other
            .keys()
            .map(|k| FieldError::new(k.as_str(), "is not a known field"))
            .collect();
        (
            ClientFields {
                name: self.name,
                kind: self.kind,
                redirect_uris: self.redirect_uris,
                post_logout_redirect_uris: self.post_logout_redirect_uris,
                scopes: self.scopes,
                grant_types: self.grant_types,
                id_token_alg: self.id_token_alg,
                skip_consent: self.skip_consent,
            },
            unknown,
        )
    }
}

fn with_unknown<T>(
    parsed: Result<T, Vec<FieldError>>,
    unknown: Vec<FieldError>,
) -> Result<T, Error> {
    let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
    errors.extend(unknown);
    match parsed {
        Ok(v) if errors.is_empty() => Ok(v),
        _ => Err(Error::Validation(errors)),
    }
}

impl TryFrom<OAuthClientBody> for NewOAuthClient {
    type Error = Error;

    fn try_from(b: OAuthClientBody) -> Result<Self, Error> {
        let (fields, unknown) = b.fields();
        with_unknown(NewOAuthClient::parse(fields), unknown)
    }
}

impl TryFrom<OAuthClientBody> for OAuthClientPatch {
    type Error = Error;

    fn try_from(b: OAuthClientBody) -> Result<Self, Error> {
        let (fields, unknown) = b.fields();
        with_unknown(OAuthClientPatch::parse(fields), unknown)
    }
}

/// An OAuth / OpenID Connect client. `client_secret` only in the answers
/// to creation and rotation.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OAuthClient)]
pub struct ClientDto<'a> {
    client_id: String,
    #[schema(value_type = String)]
    name: &'a str,
    kind: ClientKind,
    #[schema(value_type = Vec<String>)]
    redirect_uris: &'a [String],
    #[schema(value_type = Vec<String>)]
    post_logout_redirect_uris: &'a [String],
    scopes: Vec<&'static str>,
    grant_types: Vec<GrantType>,
    id_token_alg: IdTokenAlg,
    skip_consent: bool,
    /// The secret's first characters, to recognise it.
    #[schema(value_type = Option<String>, required = true)]
    secret_prefix: Option<&'a str>,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^rcs_")]
    client_secret: Option<&'a str>,
}

fn dto<'a>(c: &'a OAuthClient, secret: Option<&'a str>) -> ClientDto<'a> {
    ClientDto {
        client_id: c.client_id(),
        name: &c.name,
        kind: c.kind,
        redirect_uris: &c.redirect_uris,
        post_logout_redirect_uris: &c.post_logout_redirect_uris,
        scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
        grant_types: c.grant_types.clone(),
        id_token_alg: c.id_token_alg,
        skip_consent: c.skip_consent,
        secret_prefix: c.secret_prefix.as_deref(),
        created_at: c.created_at.rfc3339(),
        updated_at: c.updated_at.rfc3339(),
        client_secret: secret,
    }
}

/// Every client, without secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientList<'a> {
    items: Vec<ClientDto<'a>>,
}

fn client_id(id: &str) -> Result<Uuid, Problem> {
    Uuid::try_parse(id).map_err(|_| Problem::new(Kind::NotFound, "No such client."))
}

fn with_secret(created: &ClientCreated, status: StatusCode) -> Response {
    let body = dto(&created.client, created.secret.as_deref());
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Register a client. A confidential client's `client_secret` is in this
/// answer only.
#[utoipa::path(
    post, path = "/api/v1/oauth-clients", operation_id = "createOAuthClient", tag = "oauth",
    request_body(content = OAuthClientBody, content_type = "application/json"),
    responses((status = 201, description = "Registered; `client_secret` is shown only now.", body = ClientDto, headers(("Cache-Control" = String, description = "`no-store`."))), doc::Authorized, doc::JsonBody, (status = 503, response = doc::Unavailable)),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<OAuthClientBody>,
) -> Result<Response, Problem> {
    let created = st.oauth().create_client(&caller, body.try_into()?).await?;
    Ok(with_secret(&created, StatusCode::CREATED))
}

/// Every client, oldest first, without secrets.
#[utoipa::path(
    get, path = "/api/v1/oauth-clients", operation_id = "listOAuthClients", tag = "oauth",
    responses((status = 200, description = "The clients.", body = ClientList), doc::Authorized),
)]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let clients = st.oauth().clients(&caller)?;
    let items = clients.iter().map(|c| dto(c, None)).collect();
    Ok(Json(ClientList { items }).into_response())
}

/// One client.
#[utoipa::path(
    get, path = "/api/v1/oauth-clients/{id}", operation_id = "getOAuthClient", tag = "oauth",
    params(("id" = uuid::Uuid, Path, description = "The `client_id`.")),
    responses((status = 200, description = "The client.", body = ClientDto), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let c = st.oauth().client(&caller, client_id(&id)?)?;
    Ok(Json(dto(&c, None)).into_response())
}

/// Change a client (its kind is fixed).
#[utoipa::path(
    patch, path = "/api/v1/oauth-clients/{id}", operation_id = "updateOAuthClient", tag = "oauth",
    params(("id" = uuid::Uuid, Path, description = "The `client_id`.")),
    request_body(content = OAuthClientBody, content_type = "application/json"),
    responses((status = 200, description = "The client as changed.", body = ClientDto), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<OAuthClientBody>,
) -> Result<Response, Problem> {
    let id = client_id(&id)?;
    let c = st
        .oauth()
        .update_client(&caller, id, body.try_into()?)
        .await?;
    Ok(Json(dto(&c, None)).into_response())
}

/// Remove a client: its users' sessions with it are revoked.
#[utoipa::path(
    delete, path = "/api/v1/oauth-clients/{id}", operation_id = "deleteOAuthClient", tag = "oauth",
    params(("id" = uuid::Uuid, Path, description = "The `client_id`.")),
    responses((status = 204, description = "Removed."), doc::Authorized, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    st.oauth().delete_client(&caller, client_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a confidential client's secret; the old one stops working now.
#[utoipa::path(
    post, path = "/api/v1/oauth-clients/{id}/rotate-secret", operation_id = "rotateOAuthClientSecret", tag = "oauth",
    params(("id" = uuid::Uuid, Path, description = "The `client_id`.")),
    responses((status = 200, description = "Rotated; the new `client_secret` is shown only now.", body = ClientDto, headers(("Cache-Control" = String, description = "`no-store`."))), doc::Authorized, (status = 404, response = doc::NotFound), (status = 409, description = "A public client has no secret.", body = super::super::problem::Body, content_type = "application/problem+json"), (status = 503, response = doc::Unavailable)),
)]
pub async fn rotate_secret(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let rotated = st.oauth().rotate_secret(&caller, client_id(&id)?).await?;
    Ok(with_secret(&rotated, StatusCode::OK))
}
