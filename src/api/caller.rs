//! Who is calling: the middleware that turns `Authorization: Bearer …` into
//! a [`Caller`] for every protected route (the one place that reads
//! credentials), the extractor handlers take it with, and the per-IP rate
//! limit on the whole API.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::policy::Caller;

use super::problem::Problem;
use super::state::AppState;

/// The client's address, when the server knows it.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<String> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
}

/// The caller, as set by [`require_caller`]. A handler that takes a `Caller`
/// on a route without that layer answers 401, never 500.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::unauthorized("Send `Authorization: Bearer <token>`."))
    }
}

/// On the public routes: a handler may take `Option<Caller>` (set by
/// [`optional_caller`] when a valid bearer came).
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
}

/// The public routes: anyone may call, and a caller who sends a valid bearer
/// is known to the handler. An invalid or expired one is ignored, as if
/// none came: these routes (login, refresh) are where a client with a stale
/// token goes.
pub async fn optional_caller(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(token) = bearer(&req)
        && let Ok(caller) = st.auth().authenticate(&token, client_ip(req.extensions()))
    {
        req.extensions_mut().insert(caller);
    }
    next.run(req).await
}

/// Authenticates every request of the protected routes: the one place that
/// reads credentials.
pub async fn require_caller(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req) else {
        return Problem::unauthorized("Send `Authorization: Bearer <token>`.").into_response();
    };
    let ip = client_ip(req.extensions());
    match st.auth().authenticate(&token, ip) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

/// A general per-IP limit on the whole API.
pub async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = st.ip_limiter()
        && let Some(ip) = client_ip(req.extensions())
        && let Err(not_until) = limiter.check_key(&ip)
    {
        use governor::clock::Clock;
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        return Problem::too_many(wait.as_secs() + 1).into_response();
    }
    next.run(req).await
}
