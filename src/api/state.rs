//! What every handler shares: the services and the per-IP limiter, behind
//! one `Arc` so cloning per request is cheap. It lives in the api layer,
//! beside the handlers that take it as `State`; `app` only builds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use governor::DefaultKeyedRateLimiter;

use crate::service::{Auth, Events, Search, Users, Webhooks};

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    users: Users,
    auth: Auth,
    search: Search,
    webhooks: Webhooks,
    events: Events,
    ip_limiter: Option<DefaultKeyedRateLimiter<String>>,
    limiter_checks: AtomicU64,
    started: Instant,
    started_at: time::OffsetDateTime,
}

impl AppState {
    pub fn new(
        users: Users,
        auth: Auth,
        search: Search,
        (webhooks, events): (Webhooks, Events),
        ip_limiter: Option<DefaultKeyedRateLimiter<String>>,
    ) -> Self {
        Self(Arc::new(Inner {
            users,
            auth,
            search,
            webhooks,
            events,
            ip_limiter,
            limiter_checks: AtomicU64::new(0),
            started: Instant::now(),
            started_at: time::OffsetDateTime::now_utc(),
        }))
    }

    pub fn users(&self) -> &Users {
        &self.0.users
    }

    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }

    pub fn search(&self) -> &Search {
        &self.0.search
    }

    pub fn webhooks(&self) -> &Webhooks {
        &self.0.webhooks
    }

    pub fn events(&self) -> &Events {
        &self.0.events
    }

    /// When the server started: monotonic (for uptime) and wall clock.
    pub fn started(&self) -> (Instant, time::OffsetDateTime) {
        (self.0.started, self.0.started_at)
    }

    /// The general per-IP limiter, if on. Now and then it also drops the
    /// state of addresses not seen lately, so memory stays bounded.
    pub fn ip_limiter(&self) -> Option<&DefaultKeyedRateLimiter<String>> {
        let l = self.0.ip_limiter.as_ref()?;
        if self.0.limiter_checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            l.retain_recent();
            self.0.auth.forget_idle_limits();
        }
        Some(l)
    }
}
