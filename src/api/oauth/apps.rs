//! `/api/v1/users/{id}/apps`: the apps a user is signed in to through
//! roster, and signing the user out of one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::policy::Caller;
use crate::service::oauth::SignedInApp;

use super::super::openapi as doc;
use super::super::params::UserPath;
use super::super::problem::{Kind, Problem};
use super::super::state::AppState;

/// An app holding live sessions of the user.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SignedInApp)]
pub struct AppDto {
    #[schema(value_type = uuid::Uuid)]
    client_id: String,
    name: String,
    /// What the user shares with it.
    scopes: Vec<&'static str>,
    /// When its oldest live session began.
    #[schema(value_type = time::OffsetDateTime)]
    since: String,
    #[schema(value_type = time::OffsetDateTime)]
    last_used_at: String,
    sessions: usize,
}

impl From<SignedInApp> for AppDto {
    fn from(a: SignedInApp) -> Self {
        Self {
            client_id: a.client_id.to_string(),
            name: a.name,
            scopes: a.scopes.iter().map(|s| s.as_str()).collect(),
            since: a.since.rfc3339(),
            last_used_at: a.last_used_at.rfc3339(),
            sessions: a.sessions,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AppList {
    items: Vec<AppDto>,
}

/// The apps the user is signed in to through roster (OpenID Connect).
#[utoipa::path(
    get, path = "/api/v1/users/{id}/apps", operation_id = "listSignedInApps", tag = "sessions",
    params(UserPath),
    responses((status = 200, description = "The apps.", body = AppList), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
) -> Result<Response, Problem> {
    let apps = st.oauth().apps(&caller, id)?;
    Ok(Json(AppList {
        items: apps.into_iter().map(AppDto::from).collect(),
    })
    .into_response())
}

/// Sign the user out of an app: its sessions end and the user's consent
/// is forgotten (the next sign-in asks again).
#[utoipa::path(
    delete, path = "/api/v1/users/{id}/apps/{client_id}", operation_id = "revokeSignedInApp", tag = "sessions",
    params(UserPath, ("client_id" = uuid::Uuid, Path, description = "The app's `client_id`.")),
    responses((status = 204, description = "Signed out of the app."), doc::Authorized, (status = 404, response = doc::NotFound), (status = 503, response = doc::Unavailable)),
)]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
    Path((_, client)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let client =
        Uuid::try_parse(&client).map_err(|_| Problem::new(Kind::NotFound, "No such app."))?;
    st.oauth().revoke_app(&caller, id, client).await?;
    Ok(StatusCode::NO_CONTENT)
}
