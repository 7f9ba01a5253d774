//! One delivery attempt: the request Standard Webhooks describes, signed
//! with every key valid at the time, sent by a client that refuses to
//! reach addresses an outsider should not be able to make roster call
//! (SSRF): loopback, private, link-local (cloud metadata) and the like.
//!
//! The check is made where the address is chosen — in the client's own DNS
//! resolver, on the addresses it will connect to — so a name that resolves
//! to a public address at creation and to a private one later (DNS
//! rebinding) is still refused. Redirects are not followed, proxies from
//! the environment are not used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;

use crate::config::WebhookConfig;
use crate::domain::Timestamp;

/// A receiver gets this long to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an answer is read (and dropped).
const MAX_ERROR: usize = 200;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub status: Option<u16>,
    /// Why it failed, in words (no body, no secret).
    pub error: Option<String>,
    pub duration: Duration,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    /// For `http://` URLs (with `--webhook-allow-insecure`): its resolver
    /// keeps loopback addresses only, so a name that later resolves
    /// elsewhere is never sent to in plain text.
    plain: reqwest::Client,
    cfg: WebhookConfig,
}

impl Sender {
    pub fn new(cfg: WebhookConfig) -> anyhow::Result<Self> {
        use tokio_rustls::rustls;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let build = |resolver: Guarded| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls.clone())
                .dns_resolver(Arc::new(resolver))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .pool_idle_timeout(Duration::from_secs(60))
                .user_agent(concat!("roster-webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        let client = build(Guarded {
            allow_private: cfg.allow_private,
            loopback_only: false,
        })?;
        let plain = build(Guarded {
            allow_private: cfg.allow_private,
            loopback_only: true,
        })?;
        Ok(Self { client, plain, cfg })
    }

    /// Whether `url` may be called under this server's settings; the
    /// reason if not. Names are resolved (the same check the resolver
    /// makes at each connection), so a refusal comes at creation.
    pub async fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if url.scheme() == "http" && !self.cfg.allow_insecure {
            return Err("must be https:// (http:// needs --webhook-allow-insecure)".into());
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = match literal_ip(url) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| format!("host {host:?} does not resolve"))?
                .collect(),
        };
        // Plain http is for a receiver on the developer's own machine.
        if url.scheme() == "http" && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(
                "must be https:// (http:// only to a loopback address, for local development)"
                    .into(),
            );
        }
        if self.cfg.allow_private || addrs.iter().any(|a| public(a.ip())) {
            Ok(())
        } else {
            Err("must not point at a loopback, private, link-local or metadata address (allowed with --webhook-allow-private)".into())
        }
    }

    /// POSTs `body` to `url` as message `msg_id`, signed with `keys`.
    pub async fn send<'k>(
        &self,
        url: &str,
        keys: impl Iterator<Item = &'k [u8]>,
        msg_id: &str,
        body: &str,
    ) -> Attempt {
        let started = Instant::now();
        let failed = |status: Option<u16>, why: String| Attempt {
            status,
            error: Some(why),
            duration: started.elapsed(),
        };
        let Ok(u) = url::Url::parse(url) else {
            return failed(None, "the URL does not parse".into());
        };
        let plain = u.scheme() == "http";
        if plain && !self.cfg.allow_insecure {
            return failed(None, "plain http:// is not allowed".into());
        }
        // The resolver never sees an address written in the URL itself.
        if let Some(ip) = literal_ip(&u) {
            if plain && !ip.is_loopback() {
                return failed(None, "plain http:// only to loopback".into());
            }
            if !self.cfg.allow_private && !public(ip) {
                return failed(None, "the address is not public".into());
            }
        }
        let client = if plain { &self.plain } else { &self.client };
        let timestamp = Timestamp::now().micros() / 1_000_000;
        let signature = signature(keys, msg_id, timestamp, body);
        let res = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => Attempt {
                status: Some(r.status().as_u16()),
                error: None,
                duration: started.elapsed(),
            },
            Ok(r) => {
                let code = r.status().as_u16();
                failed(Some(code), format!("answered {code}"))
            }
            Err(e) => failed(None, describe(&e)),
        }
    }
}

/// `webhook-signature`: `v1,<base64 HMAC-SHA256>` per key, space-separated,
/// over `{id}.{timestamp}.{body}`.
pub fn signature<'k>(
    keys: impl Iterator<Item = &'k [u8]>,
    msg_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    let mut out = String::new();
    for key in keys {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    out
}

/// An error in words, without the URL (it may carry a token in its query).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    // The innermost cause says most (refused, reset, not public, …).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let mut detail = cause.to_string();
    detail.truncate(MAX_ERROR);
    format!("{what}: {detail}")
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Whether `ip` is an ordinary public address: not loopback, private,
/// shared (CGNAT), link-local (where cloud metadata services live),
/// unspecified, multicast, broadcast or reserved.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The client's resolver: the system's, keeping only addresses it may
/// connect to (only loopback ones for plain http).
struct Guarded {
    allow_private: bool,
    loopback_only: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let (allow_private, loopback_only) = (self.allow_private, self.loopback_only);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| match loopback_only {
                    true => a.ip().is_loopback() && allow_private,
                    false => allow_private || public(a.ip()),
                })
                .collect();
            if found.is_empty() {
                let what = if loopback_only { "loopback" } else { "public" };
                return Err(format!("{host} has no {what} address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_goes_only_to_loopback_whatever_the_settings() {
        let open = Sender::new(WebhookConfig {
            allow_insecure: true,
            allow_private: true,
        })
        .unwrap();
        let sent = open
            .send("http://93.184.216.34/hook", std::iter::empty(), "1", "{}")
            .await;
        assert_eq!(
            sent.error.as_deref(),
            Some("plain http:// only to loopback")
        );
        let strict = Sender::new(WebhookConfig::default()).unwrap();
        let sent = strict
            .send("http://127.0.0.1:9/hook", std::iter::empty(), "1", "{}")
            .await;
        assert_eq!(sent.error.as_deref(), Some("plain http:// is not allowed"));
        // A name is resolved by the plain client's own resolver, which
        // keeps loopback addresses only.
        let r = Guarded {
            allow_private: true,
            loopback_only: true,
        };
        let found: Vec<SocketAddr> = r
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!found.is_empty() && found.iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn public_addresses_only() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(!public(ip.parse().unwrap()), "{ip} is not public");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn signs_as_standard_webhooks_says() {
        // The specification's own example (standard-webhooks, spec/standard-webhooks.md).
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            [key.as_slice()].into_iter(),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = signature([b"a".as_slice(), b"b"].into_iter(), "1", 2, "{}");
        assert_eq!(two.split(' ').count(), 2);
    }
}
