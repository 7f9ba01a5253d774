//! `/scim/v2`: SCIM 2.0 provisioning (RFC 7643, RFC 7644), for identity
//! providers (Okta, Microsoft Entra ID, …) that keep users and groups in
//! sync. A façade over the same use cases as the REST API: every write is
//! a `Users` or `Groups` command, so audit, the change log, search, events
//! and webhooks follow as they do for REST.
//!
//! | module      | what it owns |
//! |-------------|--------------|
//! | `discovery` | `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: what is supported, exactly |
//! | `filter`    | filter expressions: parsing, evaluation, the exact lookups a filter reduces to |
//! | `patch`     | PATCH operations on a resource's SCIM JSON |
//! | `list`      | list and search requests: filter, sort, pages, `attributes` |
//! | `users`     | the User resource: its mapping onto a roster user, its routes |
//! | `groups`    | the Group resource and its members, its routes |
//!
//! Authentication is the API's (a bearer API key with scope `scim`, or an
//! admin); errors are SCIM error bodies (`application/scim+json`), those of
//! the shared layers (401, 429, 413…) converted on the way out.

mod discovery;
mod filter;
mod groups;
mod list;
mod patch;
mod users;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::policy::Caller;
use crate::error::Error;

use super::caller;
use super::limits;
use super::state::AppState;

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const CONTENT_TYPE: &str = "application/scim+json";
/// Largest SCIM request body.
const BODY_MAX: usize = 1024 * 1024;

/// The SCIM routes, behind authentication and the API's rate limits.
pub fn router(state: AppState) -> Router<AppState> {
    let limit = middleware::from_fn_with_state(state.clone(), limits::limit);
    let auth = middleware::from_fn_with_state(state.clone(), caller::require_caller);
    Router::new()
        .route("/scim/v2/ServiceProviderConfig", get(discovery::config))
        .route("/scim/v2/ResourceTypes", get(discovery::resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/scim/v2/Schemas", get(discovery::schemas))
        .route("/scim/v2/Schemas/{id}", get(discovery::schema))
        .route("/scim/v2/Users", get(users::list).post(users::create))
        .route("/scim/v2/Users/.search", post(users::search))
        .route(
            "/scim/v2/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/scim/v2/Groups", get(groups::list).post(groups::create))
        .route("/scim/v2/Groups/.search", post(groups::search))
        .route(
            "/scim/v2/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/scim/v2/.search", post(list::search_all))
        .route("/scim/v2/{*rest}", axum::routing::any(unknown))
        .route("/scim/v2", axum::routing::any(unknown))
        .route_layer(middleware::from_fn_with_state(state, may_provision))
        .route_layer(limit)
        .route_layer(auth)
        .layer(middleware::from_fn(scim_errors))
}

/// Only callers allowed to provision get past this (one policy question).
async fn may_provision(
    State(st): State<AppState>,
    caller: Caller,
    req: Request,
    next: Next,
) -> Response {
    match st.users().may_provision(&caller) {
        Ok(()) => next.run(req).await,
        Err(e) => ScimError::from(e).into_response(),
    }
}

/// A SCIM error (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// A 400 of SCIM type `scim_type`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("No such {what}."))
    }
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => {
                let why: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect();
                Self::bad("invalidValue", why.join("; "))
            }
            Error::Conflict { field } => Self::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                format!("Another resource already has this {}.", scim_name(field)),
            ),
            Error::NotFound => Self::new(StatusCode::NOT_FOUND, None, "No such resource."),
            Error::BadRequest(detail) => Self::bad("invalidValue", detail),
            other => {
                let p = super::problem::Problem::from(other);
                let status = p.into_response().status();
                let detail = match status {
                    StatusCode::PRECONDITION_FAILED => {
                        "The resource changed since that version (If-Match)."
                    }
                    StatusCode::FORBIDDEN => "You are not allowed to do this.",
                    StatusCode::UNAUTHORIZED => {
                        "Send `Authorization: Bearer <API key with scope scim>`."
                    }
                    StatusCode::TOO_MANY_REQUESTS => "Too many requests; try again later.",
                    StatusCode::CONFLICT => "The request conflicts with the resource's state.",
                    StatusCode::SERVICE_UNAVAILABLE => "Busy; try again later.",
                    _ => "Something went wrong on our side; it has been logged.",
                };
                Self::new(status, None, detail)
            }
        }
    }
}

/// The SCIM name of a field a conflict names.
fn scim_name(field: &str) -> &str {
    match field {
        "username" => "userName",
        "name" => "displayName",
        "email" => "email address",
        other => other,
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.as_str(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = Value::from(t);
        }
        scim_json(self.status, &body)
    }
}

/// `body` as `application/scim+json` with `status`.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

/// The shared layers answer in problem+json (a 401, a 429, a 413…) and
/// the router with bare statuses (405): SCIM clients get each as a SCIM
/// error, its headers kept.
async fn scim_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_scim = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_scim {
        return res;
    }
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let detail = match (problem["detail"].as_str(), status) {
        (Some(d), _) => d.to_owned(),
        (None, StatusCode::METHOD_NOT_ALLOWED) => {
            "This endpoint does not take that method.".to_owned()
        }
        (None, _) => "The request failed.".to_owned(),
    };
    let mut out = ScimError::new(status, None, detail).into_response();
    for (name, value) in parts.headers.iter() {
        if ![
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
        ]
        .contains(name)
        {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

async fn unknown() -> ScimError {
    ScimError::not_found("endpoint (see /scim/v2/ResourceTypes)")
}

/// A SCIM request body: a JSON object, sent as `application/scim+json` or
/// `application/json`.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ScimError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|ct| ct == CONTENT_TYPE || ct == "application/json");
        if !json {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "Send the body as application/scim+json.",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), BODY_MAX)
            .await
            .map_err(|_| {
                ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    format!("The body is larger than {BODY_MAX} bytes."),
                )
            })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::bad("invalidSyntax", format!("The body is not JSON: {e}.")))?;
        if !value.is_object() {
            return Err(ScimError::bad(
                "invalidSyntax",
                "The body must be a JSON object.",
            ));
        }
        Ok(ScimBody(value))
    }
}

/// The base of resource locations: `--public-url` (else the listen
/// address) and `/scim/v2`.
pub fn base(st: &AppState) -> String {
    format!("{}/scim/v2", st.auth().base_url().trim_end_matches('/'))
}

/// The version a resource's `ETag` shows: `W/"<version>"`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// `If-Match` as a precondition: SCIM's weak tags (`W/"3"`) and strong.
pub fn if_match(headers: &HeaderMap) -> Result<crate::service::Precondition, ScimError> {
    use crate::service::Precondition;
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(Precondition::None);
    };
    let v = v.to_str().unwrap_or("").trim();
    if v == "*" {
        return Ok(Precondition::Exists);
    }
    let tag = v.trim_start_matches("W/").trim_matches('"');
    Ok(tag
        .parse::<u64>()
        .map(Precondition::Version)
        .unwrap_or(Precondition::Never))
}

/// A resource answer: its JSON, `ETag` and `Location`.
pub fn resource_response(status: StatusCode, body: &Value) -> Response {
    let mut res = scim_json(status, body);
    if let Some(v) = body["meta"]["version"].as_str()
        && let Ok(h) = HeaderValue::from_str(v)
    {
        res.headers_mut().insert(header::ETAG, h);
    }
    if let Some(l) = body["meta"]["location"].as_str()
        && let Ok(h) = HeaderValue::from_str(l)
    {
        res.headers_mut().insert(header::LOCATION, h);
    }
    res
}

/// 204 for a deletion.
pub fn no_content() -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .expect("a bare 204 is a valid response")
}
