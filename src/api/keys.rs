//! `/api/v1/api-keys`: create (the secret shown once), list, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::policy::Caller;
use crate::domain::{ApiKey, Field, FieldError, NewApiKey, Timestamp};
use crate::error::Error;

use super::extract::Body;
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::state::AppState;

/// A new API key.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ApiKeyCreate {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100)]
    name: Field<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::Scope>, required = true, min_items = 1)]
    scopes: Field<Vec<Value>>,
    /// When the key stops working (in the future); none for never.
    #[serde(default)]
    #[schema(value_type = Option<time::OffsetDateTime>)]
    expires_at: Field<String>,
    /// Requests per second this key may make, instead of the server's
    /// `--rate-limit`.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1000000)]
    rate_limit: Field<u64>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

impl TryFrom<ApiKeyCreate> for NewApiKey {
    type Error = Error;

    /// Every field's error at once, unknown fields last.
    fn try_from(b: ApiKeyCreate) -> Result<Self, Error> {
        let parsed = NewApiKey::parse(
            b.name,
            b.scopes,
            b.expires_at,
            b.rate_limit,
            Timestamp::now(),
        );
        let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
        errors.extend(
            b.other
                .keys()
                .map(|k| FieldError::new(k.as_str(), "is not a known field")),
        );
        match parsed {
            Ok(key) if errors.is_empty() => Ok(key),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// An API key. Its `secret` is shown once, in the answer to its creation.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = String)]
    name: &'a str,
    #[schema(value_type = Vec<crate::domain::Scope>)]
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
    /// Its own request limit per second; none: the server's.
    #[schema(value_type = Option<u64>, required = true)]
    rate_limit: Option<u32>,
    /// When it was last used, to the minute (saved once a minute).
    #[schema(value_type = Option<time::OffsetDateTime>, required = true)]
    last_used_at: Option<String>,
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
        created_at: k.created_at.rfc3339(),
        expires_at: k.expires_at.map(Timestamp::rfc3339),
        created_by: k.created_by.as_deref(),
        rate_limit: k.rate_limit,
        last_used_at: k.last_used_at.map(Timestamp::rfc3339),
        secret,
    }
}

/// Create an API key. The answer holds its secret, once.
#[utoipa::path(
    post, path = "/api/v1/api-keys", operation_id = "createApiKey", tag = "api-keys",
    request_body(content = ApiKeyCreate, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only now.", body = ApiKeyDto, headers(("Cache-Control" = String, description = "`no-store`."))), doc::Authorized, doc::JsonBody, (status = 503, response = doc::Unavailable)),
)]
pub async fn create_key(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<ApiKeyCreate>,
) -> Result<Response, Problem> {
    let created = st.auth().create_api_key(&caller, body.try_into()?).await?;
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
    responses((status = 200, description = "The keys.", body = ApiKeyList), doc::Authorized),
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
    responses((status = 204, description = "Revoked."), doc::Authorized, (status = 404, response = doc::NotFound)),
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
