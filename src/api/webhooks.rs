//! `/api/v1/webhooks`: endpoints (the signing secret shown once, at
//! creation and at rotation), their deliveries, a retry, a test send.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::policy::Caller;
use crate::domain::{
    Delivery, DeliveryStatus, EventType, Field, FieldError, NewWebhook, Timestamp, Webhook,
    WebhookPatch,
};
use crate::error::Error;
use crate::service::webhooks::{MAX_OVERLAP, WebhookCreated};

use super::extract::{Body, QueryPairs};
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::state::AppState;

/// A new webhook endpoint.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct WebhookCreate {
    /// `https://…` (`http://` only with `--webhook-allow-insecure`); not a
    /// loopback, private or link-local address unless `--webhook-allow-private`.
    #[serde(default)]
    #[schema(value_type = String, required = true, max_length = 2048)]
    url: Field<String>,
    /// The event types to send; empty or absent: all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<EventType>>)]
    event_types: Field<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 500)]
    description: Field<String>,
    /// Default true.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    enabled: Field<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Changes to a webhook endpoint; absent fields stay as they are.
/// Enabling a disabled endpoint resumes its deliveries where they stopped.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct WebhookUpdate {
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2048)]
    url: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<EventType>>)]
    event_types: Field<Vec<Value>>,
    /// An empty string clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 500)]
    description: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    enabled: Field<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// A secret rotation.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SecretRotation {
    /// How long the old secret still signs too (a second signature), in
    /// seconds; default one day.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 604800)]
    overlap_seconds: Field<u64>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Every field's error at once, unknown fields last.
fn with_unknown<T>(
    parsed: Result<T, Vec<FieldError>>,
    other: &Map<String, Value>,
) -> Result<T, Error> {
    let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
    errors.extend(
        other
            .keys()
            .map(|k| FieldError::new(k.as_str(), "is not a known field")),
    );
    match parsed {
        Ok(v) if errors.is_empty() => Ok(v),
        _ => Err(Error::Validation(errors)),
    }
}

impl TryFrom<WebhookCreate> for NewWebhook {
    type Error = Error;

    fn try_from(b: WebhookCreate) -> Result<Self, Error> {
        let parsed = NewWebhook::parse(b.url, b.description, b.event_types, b.enabled);
        with_unknown(parsed, &b.other)
    }
}

impl TryFrom<WebhookUpdate> for WebhookPatch {
    type Error = Error;

    fn try_from(b: WebhookUpdate) -> Result<Self, Error> {
        let parsed = WebhookPatch::parse(b.url, b.description, b.event_types, b.enabled);
        with_unknown(parsed, &b.other)
    }
}

impl SecretRotation {
    fn overlap(self) -> Result<Duration, Error> {
        let max = MAX_OVERLAP.as_secs();
        let parsed = self
            .overlap_seconds
            .parse(
                || Ok(86_400),
                |n| match n <= max {
                    true => Ok(n),
                    false => Err(format!("must be from 0 to {max}")),
                },
                &format!("must be a whole number from 0 to {max}"),
            )
            .map(Duration::from_secs)
            .map_err(|m| vec![FieldError::new("overlap_seconds", m)]);
        with_unknown(parsed, &self.other)
    }
}

/// A webhook endpoint. Its `secret` is shown only when it is created or
/// rotated.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = String)]
    url: &'a str,
    #[schema(value_type = Option<String>, required = true)]
    description: Option<&'a str>,
    /// Empty: every type.
    #[schema(value_type = Vec<EventType>)]
    event_types: Vec<&'static str>,
    enabled: bool,
    /// `failing` when roster disabled it after a day of failed deliveries.
    #[schema(value_type = Option<String>, required = true)]
    disabled_reason: Option<&'a str>,
    /// Since when the oldest undelivered event keeps failing.
    #[schema(value_type = Option<time::OffsetDateTime>, required = true)]
    failing_since: Option<String>,
    /// The last event id delivered (or not wanted by the filter).
    delivered_through: u64,
    /// Change-log entries after `delivered_through` (of every type).
    pending: u64,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    updated_at: String,
    /// `whsec_…`: in the answers to creation and rotation only. The HMAC
    /// key is the base64-decoded part after `whsec_`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^whsec_")]
    secret: Option<&'a str>,
}

fn dto<'a>(w: &'a Webhook, last_seq: u64, secret: Option<&'a str>) -> WebhookDto<'a> {
    WebhookDto {
        id: w.id.to_string(),
        url: &w.url,
        description: w.description.as_deref(),
        event_types: w.event_types.iter().map(|t| t.as_str()).collect(),
        enabled: w.enabled,
        disabled_reason: w.disabled_reason.as_deref(),
        failing_since: w.failing_since.map(Timestamp::rfc3339),
        delivered_through: w.delivered_through,
        pending: last_seq.saturating_sub(w.delivered_through),
        created_at: w.created_at.rfc3339(),
        updated_at: w.updated_at.rfc3339(),
        secret,
    }
}

/// Every webhook endpoint (without secrets).
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList<'a> {
    items: Vec<WebhookDto<'a>>,
}

/// One event's delivery to one endpoint (written at its first attempt).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryDto<'a> {
    event_id: u64,
    #[schema(value_type = EventType)]
    event_type: &'static str,
    status: DeliveryStatus,
    attempts: u32,
    #[schema(value_type = Option<time::OffsetDateTime>, required = true)]
    last_attempt_at: Option<String>,
    #[schema(value_type = Option<u16>, required = true)]
    last_status_code: Option<u16>,
    #[schema(value_type = Option<String>, required = true)]
    last_error: Option<&'a str>,
    #[schema(value_type = Option<time::OffsetDateTime>, required = true)]
    next_attempt_at: Option<String>,
}

impl<'a> From<&'a Delivery> for DeliveryDto<'a> {
    fn from(d: &'a Delivery) -> Self {
        Self {
            event_id: d.event_id,
            event_type: d.event_type.as_str(),
            status: d.status,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at.map(Timestamp::rfc3339),
            last_status_code: d.last_status_code,
            last_error: d.last_error.as_deref(),
            next_attempt_at: d.next_attempt_at.map(Timestamp::rfc3339),
        }
    }
}

/// Deliveries, newest first; pass `next_before` as `before` for older ones.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryPage<'a> {
    items: Vec<DeliveryDto<'a>>,
    #[schema(value_type = Option<u64>, required = true)]
    next_before: Option<u64>,
}

/// What a test delivery came to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestDelivery {
    delivered: bool,
    #[schema(value_type = Option<u16>, required = true)]
    status_code: Option<u16>,
    #[schema(value_type = Option<String>, required = true)]
    error: Option<String>,
    duration_ms: u64,
}

fn hook_id(id: &str) -> Result<Uuid, Problem> {
    Uuid::try_parse(id).map_err(|_| Problem::new(Kind::NotFound, "No such webhook."))
}

fn with_secret(created: &WebhookCreated, status: StatusCode) -> Response {
    let body = dto(&created.webhook, created.last_seq, Some(&created.secret));
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Register a webhook endpoint. The answer holds its signing secret, once.
/// It is sent the events committed from now on.
#[utoipa::path(
    post, path = "/api/v1/webhooks", operation_id = "createWebhook", tag = "webhooks",
    request_body(content = WebhookCreate, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only now.", body = WebhookDto, headers(("Cache-Control" = String, description = "`no-store`."))), doc::Authorized, doc::JsonBody, (status = 503, response = doc::Unavailable)),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<WebhookCreate>,
) -> Result<Response, Problem> {
    let created = st.webhooks().create(&caller, body.try_into()?).await?;
    Ok(with_secret(&created, StatusCode::CREATED))
}

/// Every webhook endpoint, without secrets.
#[utoipa::path(
    get, path = "/api/v1/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    responses((status = 200, description = "The endpoints, oldest first.", body = WebhookList), doc::Authorized),
)]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let hooks = st.webhooks().list(&caller)?;
    let last = st.webhooks().last_seq();
    let items = hooks.iter().map(|w| dto(w, last, None)).collect();
    Ok(Json(WebhookList { items }).into_response())
}

/// One webhook endpoint.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", operation_id = "getWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    responses((status = 200, description = "The endpoint.", body = WebhookDto), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let hook = st.webhooks().get(&caller, hook_id(&id)?)?;
    Ok(Json(dto(&hook, st.webhooks().last_seq(), None)).into_response())
}

/// Change a webhook endpoint (URL, event types, description, enabled).
#[utoipa::path(
    patch, path = "/api/v1/webhooks/{id}", operation_id = "updateWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    request_body(content = WebhookUpdate, content_type = "application/json"),
    responses((status = 200, description = "The endpoint as changed.", body = WebhookDto), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<WebhookUpdate>,
) -> Result<Response, Problem> {
    let id = hook_id(&id)?;
    let hook = st.webhooks().update(&caller, id, body.try_into()?).await?;
    Ok(Json(dto(&hook, st.webhooks().last_seq(), None)).into_response())
}

/// Remove a webhook endpoint and its delivery records.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    responses((status = 204, description = "Removed."), doc::Authorized, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    st.webhooks().delete(&caller, hook_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret. The old one keeps signing (a second
/// signature in `webhook-signature`) for `overlap_seconds`.
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    request_body(content = SecretRotation, content_type = "application/json"),
    responses((status = 200, description = "Rotated; the new `secret` is shown only now.", body = WebhookDto, headers(("Cache-Control" = String, description = "`no-store`."))), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn rotate_secret(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<SecretRotation>,
) -> Result<Response, Problem> {
    let id = hook_id(&id)?;
    let rotated = st
        .webhooks()
        .rotate_secret(&caller, id, body.overlap()?)
        .await?;
    Ok(with_secret(&rotated, StatusCode::OK))
}

/// Send a `webhook.test` event now and say how it went (not recorded as a delivery).
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/test", operation_id = "testWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id.")),
    responses((status = 200, description = "What the endpoint answered.", body = TestDelivery), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn test(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let result = st.webhooks().test(&caller, hook_id(&id)?).await?;
    let a = result.attempt;
    Ok(Json(TestDelivery {
        delivered: a.delivered(),
        status_code: a.status,
        error: a.error,
        duration_ms: a.duration.as_millis().try_into().unwrap_or(u64::MAX),
    })
    .into_response())
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks",
    params(
        ("id" = uuid::Uuid, Path, description = "The endpoint's id."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)."),
        ("before" = Option<u64>, Query, description = "Only deliveries of events before this id (`next_before` of the previous page)."),
    ),
    responses((status = 200, description = "One page of deliveries.", body = DeliveryPage), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn deliveries(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Response, Problem> {
    let id = hook_id(&id)?;
    query.only(&["limit", "before"])?;
    let limit = query.number("limit", 50, 1..=200)?;
    let before = query.parsed("before", |v| v.parse::<u64>().ok(), "an event id")?;
    let (items, next) = st.webhooks().deliveries(&caller, id, before, limit)?;
    Ok(Json(DeliveryPage {
        items: items.iter().map(DeliveryDto::from).collect(),
        next_before: next,
    })
    .into_response())
}

/// Attempt one event's delivery again, now; the answer is its record after
/// the attempt. (For the event an endpoint is retrying, this cuts the
/// backoff short; for another, it is one more delivery, out of order.)
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/deliveries/{event_id}/retry", operation_id = "retryWebhookDelivery", tag = "webhooks",
    params(
        ("id" = uuid::Uuid, Path, description = "The endpoint's id."),
        ("event_id" = u64, Path, description = "The event's id."),
    ),
    responses((status = 200, description = "The delivery after this attempt.", body = DeliveryDto), doc::Authorized, (status = 404, response = doc::NotFound), (status = 409, description = "The endpoint is disabled, or the event was pruned from the change log.", body = super::problem::Body, content_type = "application/problem+json"), (status = 503, response = doc::Unavailable)),
)]
pub async fn retry(
    State(st): State<AppState>,
    caller: Caller,
    Path((id, event)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = hook_id(&id)?;
    let event: u64 = event
        .parse()
        .map_err(|_| Problem::new(Kind::NotFound, "No such delivery."))?;
    let d = st.webhooks().retry(&caller, id, event).await?;
    Ok(Json(DeliveryDto::from(&d)).into_response())
}
