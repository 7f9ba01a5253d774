//! The HTTP surface: routes, the layers every request passes through, and
//! the health endpoints. Handlers are thin: parse, call the service, render.
//!
//! Authorization will be enforced in one place: a layer on the `protected`
//! router below. Nothing else decides who may call what.

mod account;
mod admin;
mod audit;
mod auth;
mod caller;
mod console;
mod events;
mod extract;
mod graphql;
mod groups;
mod health;
mod json;
mod keys;
mod limits;
mod metrics;
mod mfa;
mod oauth;
mod openapi;
mod params;
mod passkeys;
pub mod problem;
mod scim;
mod search;
mod sessions;
mod state;
mod transfer;
mod users;
mod webhooks;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{OnResponse, TraceLayer};

use crate::config::{AccessLog, AccessLogMode, Config};
pub use events::render_event;
pub use graphql::sdl as graphql_sdl;
pub use limits::{Limits, Rates};
pub use state::AppState;

use problem::{Kind, Problem};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the server, with its layers. The API's routes come from
/// `openapi::routes`, where each is registered with its documentation,
/// so what is served and what is documented are the same list.
pub fn router(state: AppState, config: &Config) -> Router {
    let openapi::Routes {
        protected,
        public,
        outside,
        oidc,
    } = openapi::routes();
    let (oidc, _) = oidc.split_for_parts();
    let oidc = oidc.route_layer(middleware::from_fn_with_state(
        state.clone(),
        limits::limit_by_address,
    ));
    let (protected, _) = protected.split_for_parts();
    let (public, _) = public.split_for_parts();
    let (outside_api, _) = outside.split_for_parts();
    // Layers run outside in: the caller is known before it is counted.
    let limit = middleware::from_fn_with_state(state.clone(), limits::limit);
    let protected =
        protected
            .route_layer(limit.clone())
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                caller::require_caller,
            ));
    let public = public
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_by_address,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            caller::optional_caller,
        ));
    let api = protected.merge(public);

    let routes = api
        .merge(outside_api)
        .merge(oidc)
        .merge(oauth::pages(state.clone()))
        .merge(scim::router(state.clone()))
        .merge(graphql::router(state.clone(), &config.graphql))
        .route("/", get(console::to_console))
        .route("/admin", get(console::to_console))
        .route("/admin/", get(console::index))
        .route("/admin/{*path}", get(console::file))
        .route("/account/{*path}", get(console::account))
        .fallback(not_found)
        .with_state(state);
    let routes = with_layers(routes, config);
    match cors(config) {
        Some(layer) => routes.layer(layer),
        None => routes,
    }
}

/// CORS is off unless origins are configured; then only those may call,
/// with the `Authorization` header and the API's methods.
fn cors(config: &Config) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if config.cors_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
            ])
            .expose_headers([header::ETAG, header::LOCATION, REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
}

/// The layers every response passes through, outermost first: request id,
/// one log line per request, metrics, security headers, bare error statuses
/// → problems, load shedding, panic → 500, timeout, compression, body limit.
pub fn with_layers(routes: Router, config: &Config) -> Router {
    // Installed before the first request, so no figure is lost.
    metrics::handle();
    let slots = Arc::new(Semaphore::new(config.max_concurrent_requests));
    let trusted = Arc::new(caller::Proxies {
        trusted: config.trusted_proxies.clone(),
        own_scheme: if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
    });
    routes.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(
                trusted,
                caller::resolve_client,
            ))
            .layer(middleware::map_request(drop_unusable_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let route = req
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("<unmatched>", |p| p.as_str());
                        let request_id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        let client = req
                            .extensions()
                            .get::<caller::ClientAddr>()
                            .map(|caller::ClientAddr(ip)| ip.to_string())
                            .unwrap_or_default();
                        let scheme = req
                            .extensions()
                            .get::<caller::ClientScheme>()
                            .map_or("", |caller::ClientScheme(s)| s);
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            route,
                            request_id,
                            client,
                            scheme,
                            principal = tracing::field::Empty,
                        )
                    })
                    .on_request(())
                    .on_response(AccessLogger::new(config.access_log))
                    .on_failure(()),
            )
            .layer(middleware::from_fn(metrics::track))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            .layer(middleware::from_fn(problems_for_bare_errors))
            .layer(middleware::from_fn_with_state(slots, shed_load))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                config.request_timeout,
            ))
            .layer(CompressionLayer::new())
            .layer(DefaultBodyLimit::max(config.body_limit)),
    )
}

/// The request log: one line per answer (`--access-log`), or only errors,
/// or one success in N (`--access-log-sample`) on a busy server. The line
/// is an event of the request's span, so it carries the method, route
/// template, request id, client address and principal with the status and
/// latency.
#[derive(Clone)]
struct AccessLogger {
    config: AccessLog,
    successes: Arc<std::sync::atomic::AtomicU64>,
}

impl AccessLogger {
    fn new(config: AccessLog) -> Self {
        Self {
            config,
            successes: Arc::default(),
        }
    }
}

impl<B> OnResponse<B> for AccessLogger {
    fn on_response(self, res: &axum::http::Response<B>, latency: Duration, _: &tracing::Span) {
        let status = res.status().as_u16();
        let error = status >= 400;
        let logged = match self.config.mode {
            AccessLogMode::Off => false,
            AccessLogMode::Errors => error,
            AccessLogMode::On => {
                error
                    || self.config.sample <= 1
                    || self
                        .successes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        .is_multiple_of(u64::from(self.config.sample))
            }
        };
        if !logged {
            return;
        }
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if status >= 500 {
            tracing::warn!(status, latency_us, "request failed");
        } else {
            tracing::info!(status, latency_us, "request");
        }
    }
}

/// Bounds the requests in progress: past `max_concurrent_requests` the
/// answer is 503 with `Retry-After` at once, so overload costs the server
/// little and clients hear about it quickly instead of queueing without
/// bound. (tower's `ConcurrencyLimit` + `LoadShed` would do the same but
/// cannot let the health checks through.) The slot is held until the
/// response head is ready; a streamed body does not keep it.
async fn shed_load(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/livez" | "/readyz") {
        // An orchestrator must see "alive, busy", not "dead", under load.
        return next.run(req).await;
    }
    match slots.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            let mut p = Problem::new(
                Kind::Unavailable,
                "The server is at its limit of requests in progress; try again shortly.",
            );
            p.headers
                .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
            p.into_response()
        }
    }
}

/// A client's `x-request-id` is kept only if it is short, visible ASCII;
/// otherwise the server makes its own (it ends up in every log line).
async fn drop_unusable_request_id(mut req: Request) -> Request {
    let usable = req.headers().get(REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
    });
    if !usable {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// Turns any bare error response (a 405 from the router, a 503 from the
/// timeout, a framework's text/plain rejection, …) into a problem, keeping
/// its headers. Typed error bodies (problems, SCIM errors) are left alone.
async fn problems_for_bare_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let bare = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !bare {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "This resource does not support that method; see the Allow header."
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            "The request took too long or the server is busy; try again later."
        }
        _ => "The request could not be handled.",
    };
    let fresh = Problem::new(Kind::from_status(status), detail).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    // The new body is not the one a compression layer encoded.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        fresh_parts.headers[header::CONTENT_TYPE].clone(),
    );
    Response::from_parts(parts, body)
}

fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = msg, "handler panicked");
    Problem::new(
        Kind::Internal,
        "Something went wrong on our side; it has been logged.",
    )
    .into_response()
}

async fn not_found() -> Problem {
    Problem::new(Kind::NotFound, "There is nothing at this address.")
}
