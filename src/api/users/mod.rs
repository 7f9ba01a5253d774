//! `/api/v1/users`: parse bodies into domain commands, call the service,
//! render. No rules live here.

mod body;
mod view;

pub use body::{UserCreate, UserPatch, UserReplace};
pub(super) use body::{composed, merge_patch_of, password};
#[cfg(test)]
pub(crate) use view::tests;
pub(super) use view::user_response;
pub use view::{ListBody, UserDto};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::policy::Caller;
use crate::domain::ListOrder;
use crate::service::ListParams;

use super::extract::{Body, QueryPairs, etag, parse_etag};
use super::openapi as doc;
use super::params::{IfMatch, UserPath};
use super::problem::Problem;
use super::state::AppState;

/// Create a user.
///
/// The body may carry a write-only `password`; without one the user cannot
/// sign in until a password is set.
#[utoipa::path(
    post, path = "/api/v1/users", operation_id = "createUser", tag = "users",
    request_body(content = UserCreate, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), doc::Authorized, doc::JsonBody, (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable)),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<UserCreate>,
) -> Result<Response, Problem> {
    let user = st.users().create(&caller, body.try_into()?).await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

/// Read a user.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", operation_id = "getUser", tag = "users",
    params(
        UserPath,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags (or `*`); 304 if one is the current version."),
    ),
    responses((status = 200, description = "The user.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), (status = 304, description = "Not modified: the `If-None-Match` tag is current.", headers(("ETag" = String, description = "The user's version, quoted."))), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let user = st.users().get(&caller, id)?;
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || parse_etag(t.trim_start_matches("W/")) == Some(user.version))
        });
    if not_modified {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&etag(user.version)).expect("a quoted number is a valid header"),
        );
        return Ok(res);
    }
    Ok(user_response(StatusCode::OK, &user))
}

/// Update a user with a JSON merge patch (RFC 7396).
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", operation_id = "patchUser", tag = "users",
    params(UserPath, IfMatch),
    request_body(content(
        (UserPatch = "application/merge-patch+json"),
        (UserPatch = "application/json"),
    )),
    responses((status = 200, description = "The updated user.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 409, response = doc::Conflict), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    IfMatch(pre): IfMatch,
    Body(body): Body<UserPatch>,
) -> Result<Response, Problem> {
    let user = st.users().patch(&caller, id, body.try_into()?, pre).await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Replace every writable field of a user; absent ones take their defaults.
#[utoipa::path(
    put, path = "/api/v1/users/{id}", operation_id = "replaceUser", tag = "users",
    params(UserPath, IfMatch),
    request_body(content = UserReplace, content_type = "application/json"),
    responses((status = 200, description = "The updated user.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 409, response = doc::Conflict), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn replace(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    IfMatch(pre): IfMatch,
    Body(body): Body<UserReplace>,
) -> Result<Response, Problem> {
    let user = st
        .users()
        .replace(&caller, id, body.try_into()?, pre)
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Delete a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", operation_id = "deleteUser", tag = "users",
    params(UserPath, IfMatch),
    responses((status = 204, description = "Deleted."), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    IfMatch(pre): IfMatch,
) -> Result<StatusCode, Problem> {
    st.users().delete(&caller, id, pre).await?;
    Ok(StatusCode::NO_CONTENT)
}

const LIST_KEYS: [&str; 7] = [
    "limit",
    "cursor",
    "sort",
    "role",
    "status",
    "created_after",
    "created_before",
];

/// List users, cursor-paginated.
#[utoipa::path(
    get, path = "/api/v1/users", operation_id = "listUsers", tag = "users",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; only valid with the same `sort`."),
        ("sort" = Option<crate::domain::ListOrder>, Query, description = "Order (default `created_at`)."),
        ("role" = Option<Vec<crate::domain::Role>>, Query, style = Form, explode, description = "Only users with any of these roles; repeat the key for several."),
        ("status" = Option<crate::domain::Status>, Query, description = "Only users with this status."),
        ("created_after" = Option<OffsetDateTime>, Query, description = "Only users created strictly after this RFC 3339 time."),
        ("created_before" = Option<OffsetDateTime>, Query, description = "Only users created strictly before this RFC 3339 time."),
    ),
    responses((status = 200, description = "One page of users.", body = ListBody), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    query.only(&LIST_KEYS)?;
    let params = ListParams {
        limit: query.parsed("limit", |v| v.parse().ok(), "a whole number")?,
        cursor: query.one("cursor")?.map(str::to_owned),
        sort: query
            .parsed("sort", ListOrder::parse, "created_at, -created_at or email")?
            .unwrap_or_default(),
        roles: query.roles()?,
        status: query.status()?,
        created_after: query.time("created_after")?,
        created_before: query.time("created_before")?,
    };
    let page = st.users().list(&caller, params).await?;
    // About 500 bytes per user.
    let size = 256 + page.items.len() * 640;
    Ok(super::json::response(
        &ListBody {
            items: page.items.iter().map(UserDto::from).collect(),
            next_cursor: page.next_cursor,
        },
        size,
    ))
}
