//! Operator endpoints under `/api/v1/admin`: the dashboard's figures.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::state::AppState;
use crate::auth::policy::Caller;

use super::health::IndexHealth;
use super::openapi as doc;
use super::problem::Problem;

/// The dashboard's figures.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Stats {
    users: u64,
    active_sessions: u64,
    version: &'static str,
    uptime_seconds: u64,
    #[schema(value_type = time::OffsetDateTime)]
    started_at: String,
    index: IndexHealth,
    /// Mails waiting to be sent (including those waiting to be retried).
    outbox_pending: u64,
}

/// `GET /api/v1/admin/stats`: counts, index health, version and uptime.
#[utoipa::path(
    get, path = "/api/v1/admin/stats", operation_id = "getStats", tag = "admin",
    summary = "Counts, index health, version and uptime",
    responses((status = 200, description = "The figures.", body = Stats), doc::Authorized),
)]
pub async fn stats(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let users = st.users().count(&caller)?;
    let sessions = st.auth().live_session_count(&caller).await?;
    let (started, started_at) = st.started();
    Ok(Json(Stats {
        users,
        active_sessions: sessions,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: started.elapsed().as_secs(),
        started_at: started_at.format(&Rfc3339).unwrap_or_default(),
        index: IndexHealth::from(st.search().status()),
        outbox_pending: st.auth().outbox_pending()?,
    })
    .into_response())
}
