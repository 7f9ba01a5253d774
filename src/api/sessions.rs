//! A user's password and sessions over HTTP: change or reset the password,
//! list and revoke sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::policy::Caller;
use crate::domain::{Field, FieldError};
use crate::error::Error;
use crate::service::SessionView;

use super::extract::{Body, no_other_fields, required_text};
use super::openapi as doc;
use super::params::UserPath;
use super::problem::{Kind, Problem};
use super::state::AppState;

/// A new password; users changing their own also give the current one.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    #[serde(default)]
    #[schema(value_type = String, required = true, write_only, min_length = 8, max_length = 1024)]
    new_password: Field<String>,
    /// Required when users change their own password.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    current_password: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// Set a user's password. Users changing their own give `current_password`.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/password", operation_id = "changePassword", tag = "users",
    params(UserPath),
    request_body(content = PasswordChange, content_type = "application/json"),
    responses((status = 204, description = "Changed; the user's other sessions are revoked."), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    Body(body): Body<PasswordChange>,
) -> Result<StatusCode, Problem> {
    let new = required_text(body.new_password, "new_password", 4096)?;
    let current = match body.current_password {
        Field::Absent => None,
        Field::Given(s) => Some(s),
        Field::WrongType => {
            return Err(Error::Validation(vec![FieldError::new(
                "current_password",
                "must be a string",
            )])
            .into());
        }
    };
    no_other_fields(&body.other)?;
    st.auth()
        .change_password(&caller, id, current, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A login session (one refresh-token family).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub struct SessionDto {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    last_used_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    expires_at: String,
    #[schema(required = true)]
    ip: Option<String>,
    #[schema(required = true)]
    user_agent: Option<String>,
    /// Whether this is the session of the token making the request.
    current: bool,
}

/// A user's live sessions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    items: Vec<SessionDto>,
}

impl From<&SessionView> for SessionDto {
    fn from(v: &SessionView) -> Self {
        let s = &v.session;
        Self {
            id: s.id.to_string(),
            created_at: s.created_at.rfc3339(),
            last_used_at: s.last_used_at.rfc3339(),
            expires_at: s.expires_at.rfc3339(),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            current: v.current,
        }
    }
}

/// A user's live sessions.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/sessions", operation_id = "listSessions", tag = "sessions",
    params(UserPath),
    responses((status = 200, description = "The sessions.", body = SessionList), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn list_sessions(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
) -> Result<Response, Problem> {
    let sessions = st.auth().sessions(&caller, id)?;
    let items: Vec<SessionDto> = sessions.iter().map(SessionDto::from).collect();
    Ok(Json(SessionList { items }).into_response())
}

/// Revoke every session of a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/sessions", operation_id = "revokeSessions", tag = "sessions",
    params(UserPath),
    responses((status = 204, description = "Revoked."), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn revoke_sessions(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
) -> Result<StatusCode, Problem> {
    st.auth().revoke_sessions(&caller, id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke one session of a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/sessions/{sid}", operation_id = "revokeSession", tag = "sessions",
    params(UserPath, ("sid" = uuid::Uuid, Path, description = "The session's id.")),
    responses((status = 204, description = "Revoked."), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn revoke_session(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    Path((_, sid)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let sid =
        Uuid::try_parse(&sid).map_err(|_| Problem::new(Kind::NotFound, "No such session."))?;
    st.auth().revoke_sessions(&caller, id, Some(sid)).await?;
    Ok(StatusCode::NO_CONTENT)
}
