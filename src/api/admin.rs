//! Operator endpoints under `/api/v1/admin`: the dashboard's figures.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::app::AppState;
use crate::auth::policy::Caller;

use super::problem::Problem;

/// `GET /api/v1/admin/stats`: counts, index health, version and uptime.
pub async fn stats(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let users = st.users().count(&caller)?;
    let sessions = st.auth().live_session_count(&caller).await?;
    let (started, started_at) = st.started();
    Ok(Json(json!({
        "users": users,
        "active_sessions": sessions,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": started.elapsed().as_secs(),
        "started_at": started_at.format(&Rfc3339).unwrap_or_default(),
        "index": super::index_json(&st.search().status()),
    }))
    .into_response())
}
