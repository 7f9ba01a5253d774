//! Health: `/livez` (the process answers) and `/readyz` (the store takes
//! writes; the search index's state is reported beside it), and the index
//! health the dashboard shows too.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::IndexStatus;

use super::problem::{Kind, Problem};
use super::state::AppState;

/// `GET /livez`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// `GET /readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    #[schema(value_type = String, pattern = "^ready$")]
    status: &'static str,
    checks: ReadinessChecks,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    #[schema(value_type = String, pattern = "^ok$")]
    store: &'static str,
    index: IndexHealth,
    /// Mails waiting to be sent (a growing number: the mail server is
    /// unreachable or refusing).
    outbox_pending: u64,
}

/// The search index's state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IndexHealth {
    state: IndexState,
    /// Whether this process found the index unusable and rebuilt it.
    rebuilt_at_start: bool,
    /// Changes the index has yet to take in.
    lag: u64,
    indexed_seq: u64,
    docs: u64,
    size_bytes: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IndexState {
    Ready,
    Rebuilding,
}

impl From<IndexStatus> for IndexHealth {
    fn from(index: IndexStatus) -> Self {
        Self {
            state: match index.ready {
                true => IndexState::Ready,
                false => IndexState::Rebuilding,
            },
            rebuilt_at_start: index.rebuilt_at_start,
            lag: index.store_seq.saturating_sub(index.indexed_seq),
            indexed_seq: index.indexed_seq,
            docs: index.docs,
            size_bytes: index.size_bytes,
        }
    }
}

/// The process is up and answering.
#[utoipa::path(
    get, path = "/livez", operation_id = "livez", tag = "meta",
    responses((status = 200, description = "Alive.", body = Liveness))
)]
pub async fn livez() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// The store takes writes: the server can take traffic.
///
/// Also reports the search index, which may still be rebuilding (then only
/// search is down).
#[utoipa::path(
    get, path = "/readyz", operation_id = "readyz", tag = "meta",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let check = tokio::time::timeout(Duration::from_secs(5), st.users().ready()).await;
    let index = IndexHealth::from(st.search().status());
    match check {
        Ok(Ok(())) => Json(Readiness {
            status: "ready",
            checks: ReadinessChecks {
                store: "ok",
                index,
                outbox_pending: st.auth().outbox_pending().unwrap_or(0),
            },
        })
        .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Problem::new(Kind::Unavailable, "The store is not writable.").into_response()
        }
        Err(_) => {
            Problem::new(Kind::Unavailable, "The store did not answer in time.").into_response()
        }
    }
}
