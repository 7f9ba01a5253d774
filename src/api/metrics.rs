//! Prometheus metrics: `GET /metrics` in the text format, and the layer that
//! counts and times every request by its route *template* (never the raw
//! path, so ids in paths cannot blow up the number of series).
//!
//! The `metrics` facade records into one process-wide Prometheus recorder;
//! services record their own figures (logins by outcome, search latency).
//! Gauges of state (users, sessions, index, store size) are read at scrape.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::state::AppState;
use crate::auth::policy::Caller;

use super::problem::Problem;

/// Request and search durations: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then this
        // handle renders nothing, which the metrics test would catch.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        metrics::gauge!("roster_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// Counts every request by route template, method and status, and records
/// its duration.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!(
        "roster_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "roster_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status,
    )
    .increment(1);
    res
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", operation_id = "metrics", tag = "meta",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4.",
            content_type = "text/plain; version=0.0.4", body = String),
    )
)]
pub async fn render(State(st): State<AppState>) -> Result<Response, Problem> {
    let handle = handle();
    // The scrape is the server reading its own state, not a caller's
    // request for user data: it acts as the system.
    let system = Caller::system();
    let users = st.users().count(&system)?;
    let sessions = st.auth().live_session_count(&system).await?;
    let index = st.search().status();
    metrics::gauge!("roster_users").set(users as f64);
    metrics::gauge!("roster_sessions_active").set(sessions as f64);
    metrics::gauge!("roster_index_lag")
        .set(index.store_seq.saturating_sub(index.indexed_seq) as f64);
    metrics::gauge!("roster_index_docs").set(index.docs as f64);
    metrics::gauge!("roster_index_size_bytes").set(index.size_bytes as f64);
    metrics::gauge!("roster_index_ready").set(if index.ready { 1.0 } else { 0.0 });
    metrics::gauge!("roster_store_size_bytes").set(st.users().store_size_bytes() as f64);
    metrics::gauge!("roster_uptime_seconds").set(st.started().0.elapsed().as_secs_f64());
    let mut res = handle.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}
