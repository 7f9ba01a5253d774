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

/// The scheme the client used (`http` or `https`): the server's own, or,
/// behind trusted proxies, the one the proxy that took the client's
/// connection reports. Set with [`ClientAddr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientScheme(pub &'static str);

/// What [`resolve_client`] needs: the trusted proxies, and whether this
/// server itself speaks TLS.
#[derive(Debug, Clone)]
pub struct Proxies {
    pub trusted: Vec<IpNet>,
    pub own_scheme: &'static str,
}

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

/// The client's `User-Agent`, if it is text (kept with a session).
pub fn user_agent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The client's address as text, when the server knows it.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<String> {
    client_addr(parts_ext).map(|a| a.to_string())
}

/// The outermost layer: works out the client's address and scheme (see
/// [`client_origin`]) and records them for the rest of the request.
pub async fn resolve_client(
    State(proxies): State<Arc<Proxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let (client, scheme) = client_origin(
            &proxies.trusted,
            peer.ip(),
            req.headers(),
            proxies.own_scheme,
        );
        req.extensions_mut().insert(ClientAddr(client));
        req.extensions_mut().insert(ClientScheme(scheme));
    }
    next.run(req).await
}

/// The client's address; see [`client_origin`].
#[cfg(test)]
fn client_address(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    client_origin(trusted, peer, headers, "http").0
}

/// `http` or `https` as a forwarding header states it; anything else is
/// not taken.
fn scheme_of(value: &str) -> Option<&'static str> {
    let v = value.trim().trim_matches('"');
    if v.eq_ignore_ascii_case("https") {
        Some("https")
    } else if v.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// The peer, unless it is a trusted proxy: then the hop its forwarding
/// headers name, walking from the right past every trusted proxy to the
/// first address that is not one (the leftmost if all are). `Forwarded`
/// (RFC 7239) is read if present, else `X-Forwarded-For`. A hop that is not
/// an address (`unknown`, an obfuscated name) ends the walk at the proxy
/// that reported it. From an untrusted peer, the headers are ignored: anyone
/// can send them.
///
/// The scheme comes with the address: each `Forwarded` element taken on
/// the walk gives its `proto`, so the scheme is the one of the connection
/// the client made to the first trusted proxy. With `X-Forwarded-For`,
/// `X-Forwarded-Proto` is read at the same position when it lists as many
/// values, else its last value (a proxy that sets the header rather than
/// appending to it).
pub fn client_origin(
    trusted: &[IpNet],
    peer: IpAddr,
    headers: &HeaderMap,
    own_scheme: &'static str,
) -> (IpAddr, &'static str) {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return (peer, own_scheme);
    }
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    // Each hop: the address it names and the scheme it states, if any.
    let hops: Vec<(Option<IpAddr>, Option<&'static str>)> = if !forwarded.is_empty() {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                let pairs = || {
                    element
                        .split(';')
                        .filter_map(|pair| pair.trim().split_once('='))
                };
                let node = pairs()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| forwarded_node(v));
                let proto = pairs()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
                    .and_then(|(_, v)| scheme_of(v));
                (node, proto)
            })
            .collect()
    } else {
        let values = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_owned())
                .collect()
        };
        let nodes = values("x-forwarded-for");
        let protos = values("x-forwarded-proto");
        let aligned = protos.len() == nodes.len();
        let last = protos.last().and_then(|p| scheme_of(p));
        nodes
            .iter()
            .enumerate()
            .map(|(i, hop)| {
                let proto = if aligned { scheme_of(&protos[i]) } else { last };
                (hop.parse().ok(), proto)
            })
            .collect()
    };
    let (mut client, mut scheme) = (peer, own_scheme);
    for (hop, proto) in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(client) => {
                client = *ip;
                scheme = proto.unwrap_or(scheme);
            }
            _ => break,
        }
    }
    (client, scheme)
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

    /// Headers from `name: value` lines.
    fn headers_of(lines: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines.lines().filter_map(|l| l.split_once(": ")) {
            headers.append(
                axum::http::HeaderName::from_static(name),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = ["10.0.0.0/8", "127.0.0.1/32"]
            .map(|n| n.parse().unwrap())
            .to_vec();
        for (peer, lines, expected) in CASES {
            let headers = headers_of(lines);
            let peer_ip: IpAddr = peer.parse().unwrap();
            let got = client_address(&trusted, peer_ip, &headers);
            assert_eq!(
                got,
                expected.parse::<IpAddr>().unwrap(),
                "from {peer}: {lines:?}"
            );
        }
    }

    #[test]
    fn the_scheme_is_the_one_the_client_used_as_trusted_proxies_report_it() {
        let trusted: Vec<IpNet> = ["10.0.0.0/8"].map(|n| n.parse().unwrap()).to_vec();
        let cases = [
            // Untrusted peer: the server's own scheme, whatever it claims.
            ("198.51.100.9", "x-forwarded-proto: https", "http"),
            // A proxy that sets the header.
            (
                "10.0.0.1",
                "x-forwarded-for: 203.0.113.7\nx-forwarded-proto: https",
                "https",
            ),
            // Appended by two proxies: the one that took the client's
            // connection counts.
            (
                "10.0.0.1",
                "x-forwarded-for: 203.0.113.7, 10.2.2.2\nx-forwarded-proto: https, http",
                "https",
            ),
            // Set once by the outer proxy, two hops: its (last) value.
            (
                "10.0.0.1",
                "x-forwarded-for: 203.0.113.7, 10.2.2.2\nx-forwarded-proto: https",
                "https",
            ),
            // `Forwarded`: the element of the client's hop; a client's
            // forged element before it is not reached.
            (
                "10.0.0.1",
                "forwarded: for=1.1.1.1;proto=http, for=203.0.113.7;proto=https, for=10.4.4.4;proto=http",
                "https",
            ),
            // Nonsense is not a scheme; no header: the own scheme.
            (
                "10.0.0.1",
                "x-forwarded-for: 203.0.113.7\nx-forwarded-proto: gopher",
                "http",
            ),
            ("10.0.0.1", "", "http"),
        ];
        for (peer, lines, expected) in cases {
            let headers = headers_of(lines);
            let (_, scheme) = client_origin(&trusted, peer.parse().unwrap(), &headers, "http");
            assert_eq!(scheme, expected, "from {peer}: {lines:?}");
        }
        let (_, own) = client_origin(
            &trusted,
            "198.51.100.9".parse().unwrap(),
            &HeaderMap::new(),
            "https",
        );
        assert_eq!(own, "https");
    }
}
