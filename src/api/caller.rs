//! Who is calling: the middleware that turns `Authorization: Bearer …` into
//! a [`Caller`] for every protected route (the one place that reads
//! credentials), the extractor handlers take it with, and the client's
//! address behind trusted proxies.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::auth::policy::Caller;

use super::problem::Problem;
use super::state::AppState;

/// The client's address as every handler, limiter, log line and audit
/// entry sees it: set once per request by [`resolve_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's address, when the server knows it.
pub fn client_addr(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<ClientAddr>()
        .map(|ClientAddr(a)| *a)
        .or_else(|| {
            parts_ext
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip())
        })
}

/// The client's address as text, when the server knows it.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<String> {
    client_addr(parts_ext).map(|a| a.to_string())
}

/// The outermost layer: works out the client's address (see
/// [`client_address`]) and records it for the rest of the request.
pub async fn resolve_client(
    State(trusted): State<Arc<Vec<IpNet>>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = client_address(&trusted, peer.ip(), req.headers());
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}

/// The peer, unless it is a trusted proxy: then the hop its forwarding
/// headers name, walking from the right past every trusted proxy to the
/// first address that is not one (the leftmost if all are). `Forwarded`
/// (RFC 7239) is read if present, else `X-Forwarded-For`. A hop that is not
/// an address (`unknown`, an obfuscated name) ends the walk at the proxy
/// that reported it. From an untrusted peer, the headers are ignored: anyone
/// can send them.
pub fn client_address(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let hops: Vec<Option<IpAddr>> = if !forwarded.is_empty() {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| forwarded_node(v))
            })
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().parse().ok())
            .collect()
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(client) => client = *ip,
            _ => break,
        }
    }
    client
}

/// The address of a `Forwarded` node: `192.0.2.60`, `"192.0.2.60:4711"`,
/// `"[2001:db8::17]:4711"`; `None` for `unknown` or an obfuscated name.
fn forwarded_node(value: &str) -> Option<IpAddr> {
    let v = value.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse()
        .ok()
        .or_else(|| v.rsplit_once(':').and_then(|(ip, _port)| ip.parse().ok()))
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
        record_principal(&caller);
        req.extensions_mut().insert(caller);
    }
    next.run(req).await
}

/// Names the caller in the request's log line, as the audit log does.
fn record_principal(caller: &Caller) {
    tracing::Span::current().record("principal", caller.actor());
}

/// Authenticates every request of the protected routes: the one place that
/// reads credentials. A request that does not authenticate counts against
/// its address's allowance; once that is used up, nothing from the address
/// is authenticated until it refills (429), so guessing tokens is slowed
/// down, right guesses included, and a flood costs no signature checks.
pub async fn require_caller(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let addr = client_addr(req.extensions());
    if let Err(too_many) = st.limits().before_auth(addr) {
        return too_many.into_response();
    }
    let refused = match bearer(&req) {
        None => Problem::unauthorized("Send `Authorization: Bearer <token>`."),
        Some(token) => match st.auth().authenticate(&token, client_ip(req.extensions())) {
            Ok(caller) => {
                record_principal(&caller);
                req.extensions_mut().insert(caller);
                return next.run(req).await;
            }
            Err(e) => Problem::from(e),
        },
    };
    match st.limits().failed_auth(addr) {
        Err(too_many) => too_many.into_response(),
        Ok(()) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (peer, the request's forwarding headers as `name: value` lines, the
    /// client address roster must see), with 10.0.0.0/8 and 127.0.0.1
    /// trusted.
    const CASES: [(&str, &str, &str); 10] = [
        // An untrusted peer is the client, whatever it claims.
        (
            "198.51.100.9",
            "x-forwarded-for: 203.0.113.7, 10.1.2.3",
            "198.51.100.9",
        ),
        // From a trusted one: the rightmost hop that is not a trusted proxy.
        (
            "127.0.0.1",
            "x-forwarded-for: 203.0.113.7, 10.1.2.3",
            "203.0.113.7",
        ),
        // A client prepending a fake hop does not get past the real one.
        (
            "10.0.0.1",
            "x-forwarded-for: 1.2.3.4, 203.0.113.7",
            "203.0.113.7",
        ),
        // Several headers are one list, in order.
        (
            "10.0.0.1",
            "x-forwarded-for: 203.0.113.7\nx-forwarded-for: 10.9.9.9",
            "203.0.113.7",
        ),
        // All hops trusted: the leftmost. No header: the peer.
        (
            "10.0.0.1",
            "x-forwarded-for: 10.3.3.3, 10.2.2.2",
            "10.3.3.3",
        ),
        ("10.0.0.1", "", "10.0.0.1"),
        // Garbage stops the walk at the proxy that reported it.
        (
            "10.0.0.1",
            "x-forwarded-for: 203.0.113.7, not-an-address",
            "10.0.0.1",
        ),
        // `Forwarded` first; quoted, bracketed, with ports; hidden names.
        (
            "10.0.0.1",
            "forwarded: for=\"[2001:db8::17]:4711\";proto=https, for=10.4.4.4\nx-forwarded-for: 192.0.2.1",
            "2001:db8::17",
        ),
        (
            "10.0.0.1",
            "forwarded: for=\"192.0.2.43:47011\"",
            "192.0.2.43",
        ),
        (
            "10.0.0.1",
            "forwarded: for=_hidden, for=10.4.4.4",
            "10.4.4.4",
        ),
    ];

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = ["10.0.0.0/8", "127.0.0.1/32"]
            .map(|n| n.parse().unwrap())
            .to_vec();
        for (peer, lines, expected) in CASES {
            let mut headers = HeaderMap::new();
            for (name, value) in lines.lines().filter_map(|l| l.split_once(": ")) {
                headers.append(
                    axum::http::HeaderName::from_static(name),
                    value.parse().unwrap(),
                );
            }
            let peer_ip: IpAddr = peer.parse().unwrap();
            let got = client_address(&trusted, peer_ip, &headers);
            assert_eq!(
                got,
                expected.parse::<IpAddr>().unwrap(),
                "from {peer}: {lines:?}"
            );
        }
    }
}
