//! What every handler shares: the services and the request limits, behind
//! one `Arc` so cloning per request is cheap. It lives in the api layer,
//! beside the handlers that take it as `State`; `app` only builds it.

use std::sync::Arc;
use std::time::Instant;

use crate::service::{Auth, Events, Groups, OAuth, Search, Users, Webhooks};

use super::limits::Limits;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    users: Users,
    groups: Groups,
    auth: Auth,
    oauth: OAuth,
    search: Search,
    webhooks: Webhooks,
    events: Events,
    limits: Limits,
    started: Instant,
    started_at: time::OffsetDateTime,
}

impl AppState {
    pub fn new(
        (users, groups): (Users, Groups),
        (auth, oauth): (Auth, OAuth),
        search: Search,
        (webhooks, events): (Webhooks, Events),
        limits: Limits,
    ) -> Self {
        Self(Arc::new(Inner {
            users,
            groups,
            auth,
            oauth,
            search,
            webhooks,
            events,
            limits,
            started: Instant::now(),
            started_at: time::OffsetDateTime::now_utc(),
        }))
    }

    pub fn users(&self) -> &Users {
        &self.0.users
    }

    pub fn groups(&self) -> &Groups {
        &self.0.groups
    }

    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }

    pub fn oauth(&self) -> &OAuth {
        &self.0.oauth
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

    /// The request limits. Now and then this also lets the login throttle
    /// forget accounts and addresses not seen lately.
    pub fn limits(&self) -> &Limits {
        if self.0.limits.tick() {
            self.0.auth.forget_idle_limits();
        }
        &self.0.limits
    }
}
