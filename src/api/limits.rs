//! Request limits, per caller. An authenticated request counts against its
//! principal (the user, or the API key) from whatever address it comes, so
//! one busy backend behind one address is one caller, and many people
//! behind one NAT or proxy are many; anything else (no credentials, or
//! credentials that do not authenticate) counts against the client's
//! address. The rates come from settings: `--rate-limit` for addresses,
//! admins and API keys, `--user-rate-limit` for plain users; an API key may
//! carry its own.
//!
//! Each is a GCRA bucket (governor) holding one second of requests and
//! refilled continuously, keyed by a `u128` (an address, a user id or a key
//! id) so a check allocates nothing. Answers on limited routes say where
//! the caller stands with the IETF httpapi `RateLimit-Policy` and
//! `RateLimit` headers (`"user";q=100;w=1` / `"user";r=57;t=1`); a refusal
//! is a 429 problem with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::policy::{Caller, Principal};
use crate::domain::Role;

use super::caller::client_addr;
use super::problem::Problem;
use super::state::AppState;

static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Requests per second for each kind of caller; `None`: not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    /// Per client address, for requests without valid credentials.
    pub address: Option<u32>,
    /// Per user with the `admin` role.
    pub admin: Option<u32>,
    /// Per plain user.
    pub user: Option<u32>,
    /// Per API key.
    pub api_key: Option<u32>,
}

type Limiter =
    RateLimiter<u128, DefaultKeyedStateStore<u128>, DefaultClock, StateInformationMiddleware>;

/// One kind of caller's bucket per key, and how it is described.
struct Bucket {
    policy: &'static str,
    rate: u32,
    limiter: Limiter,
    /// `RateLimit-Policy`, the same on every answer.
    policy_header: HeaderValue,
}

impl Bucket {
    fn new(policy: &'static str, rate: Option<u32>) -> Option<Self> {
        let rate = NonZeroU32::new(rate?)?;
        Some(Self {
            policy,
            rate: rate.get(),
            limiter: RateLimiter::keyed(Quota::per_second(rate)).with_middleware(),
            policy_header: HeaderValue::try_from(format!("\"{policy}\";q={rate};w=1"))
                .expect("a header value"),
        })
    }

    /// Takes one request from `key`'s allowance: the headers to answer
    /// with, or the refusal.
    fn take(&self, key: u128) -> Result<[(HeaderName, HeaderValue); 2], Problem> {
        self.check(key).map_err(|secs| self.refusal(secs))
    }

    /// [`Self::take`], refused as the seconds to wait.
    fn check(&self, key: u128) -> Result<[(HeaderName, HeaderValue); 2], u64> {
        match self.limiter.check_key(&key) {
            Ok(state) => {
                let left = state.remaining_burst_capacity();
                // The bucket is full again within the second.
                let reset = u32::from(left < self.rate);
                let status = format!("\"{}\";r={left};t={reset}", self.policy);
                Ok([
                    (RATELIMIT_POLICY.clone(), self.policy_header.clone()),
                    (
                        RATELIMIT.clone(),
                        HeaderValue::try_from(status).expect("a header value"),
                    ),
                ])
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(secs.max(1))
            }
        }
    }

    /// The 429 for a wait of `secs`.
    fn refusal(&self, secs: u64) -> Problem {
        let mut p = Problem::too_many(secs);
        p.headers
            .push((RATELIMIT_POLICY.clone(), self.policy_header.clone()));
        let status = format!("\"{}\";r=0;t={secs}", self.policy);
        p.headers.push((
            RATELIMIT.clone(),
            HeaderValue::try_from(status).expect("a header value"),
        ));
        p
    }
}

/// Every bucket of the server.
pub struct Limits {
    address: Option<Bucket>,
    admin: Option<Bucket>,
    user: Option<Bucket>,
    api_key: Option<Bucket>,
    /// Buckets of keys with their own limit, one per distinct rate (keys
    /// are few, their rates fewer).
    own: RwLock<HashMap<u32, Arc<Bucket>>>,
    /// Addresses whose failed authentications used up their allowance,
    /// with when they may try again: until then no credential from them is
    /// even checked, so a right guess fares no better than a wrong one.
    blocked: Mutex<HashMap<u128, Instant>>,
    checks: AtomicU64,
}

/// A bucket of the server's, or one of a key's own rate.
enum Chosen<'a> {
    Server(&'a Bucket),
    Own(Arc<Bucket>),
}

impl<'a> Chosen<'a> {
    fn server(b: &'a Option<Bucket>) -> Option<Self> {
        b.as_ref().map(Chosen::Server)
    }
}

impl Limits {
    pub fn new(rates: Rates) -> Self {
        Self {
            address: Bucket::new("address", rates.address),
            admin: Bucket::new("admin", rates.admin),
            user: Bucket::new("user", rates.user),
            api_key: Bucket::new("api-key", rates.api_key),
            own: RwLock::default(),
            blocked: Mutex::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// The bucket for keys limited to `rate`, made on first use. Own
    /// limits apply only while the server limits requests at all.
    fn own(&self, rate: u32) -> Option<Arc<Bucket>> {
        self.api_key.as_ref()?;
        if let Some(b) = self.own.read().expect("not poisoned").get(&rate) {
            return Some(b.clone());
        }
        let mut own = self.own.write().expect("not poisoned");
        let b = own
            .entry(rate)
            .or_insert_with(|| Arc::new(Bucket::new("api-key", Some(rate)).expect("rate > 0")));
        Some(b.clone())
    }

    /// The bucket and key a request counts against.
    fn bucket(&self, caller: Option<&Caller>, addr: Option<IpAddr>) -> Option<(Chosen<'_>, u128)> {
        match caller.map(|c| &c.principal) {
            Some(Principal::User { id, roles, .. }) if roles.contains(&Role::Admin) => {
                Some((Chosen::server(&self.admin)?, id.as_u128()))
            }
            Some(Principal::User { id, .. }) => Some((Chosen::server(&self.user)?, id.as_u128())),
            Some(Principal::ApiKey {
                id,
                rate_limit: Some(rate),
                ..
            }) => Some((Chosen::Own(self.own(*rate)?), id.as_u128())),
            Some(Principal::ApiKey { id, .. }) => {
                Some((Chosen::server(&self.api_key)?, id.as_u128()))
            }
            Some(Principal::System) => None,
            None => Some((Chosen::server(&self.address)?, address_key(addr?))),
        }
    }

    /// Takes one request of `caller` (or, without one, of `addr`).
    pub fn take(
        &self,
        caller: Option<&Caller>,
        addr: Option<IpAddr>,
    ) -> Result<Option<[(HeaderName, HeaderValue); 2]>, Problem> {
        match self.bucket(caller, addr) {
            Some((Chosen::Server(bucket), key)) => bucket.take(key).map(Some),
            Some((Chosen::Own(bucket), key)) => bucket.take(key).map(Some),
            None => Ok(None),
        }
    }

    /// Before credentials are checked: refused while `addr` is blocked
    /// for failed authentications.
    pub fn before_auth(&self, addr: Option<IpAddr>) -> Result<(), Problem> {
        let (Some(bucket), Some(addr)) = (&self.address, addr) else {
            return Ok(());
        };
        let blocked = self.blocked.lock().expect("not poisoned");
        match blocked.get(&address_key(addr)) {
            Some(until) if *until > Instant::now() => {
                let left = until.saturating_duration_since(Instant::now());
                Err(bucket.refusal(left.as_secs() + 1))
            }
            _ => Ok(()),
        }
    }

    /// After credentials failed: one request of `addr`'s allowance; once
    /// it is used up, `addr` is blocked until the bucket lets it in again.
    pub fn failed_auth(&self, addr: Option<IpAddr>) -> Result<(), Problem> {
        let (Some(bucket), Some(addr)) = (&self.address, addr) else {
            return Ok(());
        };
        let key = address_key(addr);
        bucket.check(key).map(drop).map_err(|secs| {
            self.blocked
                .lock()
                .expect("not poisoned")
                .insert(key, Instant::now() + std::time::Duration::from_secs(secs));
            bucket.refusal(secs)
        })
    }

    /// Counts a use; every 4096th drops the state of keys not seen lately
    /// (so memory stays bounded however many addresses call) and returns
    /// true, for the caller to sweep its other limiters too.
    pub fn tick(&self) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 != 4095 {
            return false;
        }
        let own: Vec<Arc<Bucket>> = self
            .own
            .read()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect();
        let server = [&self.address, &self.admin, &self.user, &self.api_key];
        for b in server.into_iter().flatten().chain(own.iter().map(|b| &**b)) {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked
            .lock()
            .expect("not poisoned")
            .retain(|_, until| *until > now);
        true
    }
}

/// An address as a key: IPv4 as its IPv6-mapped form.
fn address_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// On the protected routes, after authentication: counts the request
/// against its caller.
pub async fn limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let caller = req.extensions().get::<Caller>();
    let addr = client_addr(req.extensions());
    answer(st.limits().take(caller, addr), req, next).await
}

/// On the public routes (login, registration, account links): by address,
/// whatever bearer comes along, so tokens of many accounts do not add up
/// to more.
pub async fn limit_by_address(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let addr = client_addr(req.extensions());
    answer(st.limits().take(None, addr), req, next).await
}

async fn answer(
    taken: Result<Option<[(HeaderName, HeaderValue); 2]>, Problem>,
    req: Request,
    next: Next,
) -> Response {
    match taken {
        Ok(None) => next.run(req).await,
        Ok(Some(headers)) => {
            let mut res = next.run(req).await;
            res.headers_mut().extend(headers);
            res
        }
        Err(p) => p.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn key(rate_limit: Option<u32>) -> Caller {
        Caller {
            principal: Principal::ApiKey {
                id: uuid::Uuid::now_v7(),
                scopes: vec![],
                rate_limit,
            },
            ip: None,
        }
    }

    fn user(roles: Vec<Role>) -> Caller {
        Caller {
            principal: Principal::User {
                id: UserId::new(),
                roles,
                session: uuid::Uuid::now_v7(),
                must_enrol_mfa: false,
            },
            ip: None,
        }
    }

    #[test]
    fn each_caller_has_its_own_allowance_whatever_its_address() {
        let limits = Limits::new(Rates {
            address: Some(3),
            admin: Some(5),
            user: Some(2),
            api_key: None,
        });
        let addr: IpAddr = "203.0.113.7".parse().unwrap();
        let (ada, bob, root) = (
            user(vec![Role::User]),
            user(vec![Role::User]),
            user(vec![Role::Admin]),
        );
        let allowed = |c: Option<&Caller>| {
            (0..10)
                .take_while(|_| limits.take(c, Some(addr)).is_ok())
                .count()
        };
        assert_eq!(allowed(Some(&ada)), 2);
        assert_eq!(allowed(Some(&bob)), 2, "another user from the same address");
        assert_eq!(allowed(Some(&root)), 5);
        assert_eq!(allowed(None), 3, "anonymous: per address");
        let key = key(None);
        assert_eq!(allowed(Some(&key)), 10, "API keys: off here");

        let refused = limits.take(Some(&ada), Some(addr)).unwrap_err();
        let headers: Vec<String> = refused
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                "retry-after: 1",
                "ratelimit-policy: \"user\";q=2;w=1",
                "ratelimit: \"user\";r=0;t=1"
            ]
        );
    }

    #[test]
    fn a_key_with_its_own_limit_has_its_own_allowance() {
        let limits = Limits::new(Rates {
            api_key: Some(2),
            ..Rates::default()
        });
        let allowed = |c: &Caller| {
            (0..10)
                .take_while(|_| limits.take(Some(c), None).is_ok())
                .count()
        };
        let (fast, slow, also_fast) = (key(Some(6)), key(None), key(Some(6)));
        assert_eq!(
            (allowed(&fast), allowed(&slow), allowed(&also_fast)),
            (6, 2, 6)
        );
        let [(_, policy), _] = limits.take(Some(&key(Some(6))), None).unwrap().unwrap();
        assert_eq!(policy, "\"api-key\";q=6;w=1");
        // With limits off, so are the keys' own.
        let off = Limits::new(Rates::default());
        assert_eq!(off.take(Some(&fast), None).unwrap(), None);
    }

    #[test]
    fn the_headers_count_down() {
        let limits = Limits::new(Rates {
            api_key: Some(3),
            ..Rates::default()
        });
        let key = key(None);
        let left: Vec<String> = (0..3)
            .map(|_| {
                let [(_, policy), (_, status)] = limits.take(Some(&key), None).unwrap().unwrap();
                assert_eq!(policy, "\"api-key\";q=3;w=1");
                status.to_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            left,
            [
                "\"api-key\";r=2;t=1",
                "\"api-key\";r=1;t=1",
                "\"api-key\";r=0;t=1"
            ]
        );
    }
}
