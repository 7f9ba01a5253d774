//! The running server: state shared by handlers, the listener (plain HTTP,
//! or HTTPS through `tls`), and the graceful shutdown that drains requests and
//! commits before the store closes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::passwords::Hasher;
use crate::config::Config;
use crate::service::{Auth, Search, Users};
use crate::store::Store;
use crate::tls::TlsListener;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    users: Users,
    auth: Auth,
    search: Search,
    ip_limiter: Option<DefaultKeyedRateLimiter<String>>,
    limiter_checks: AtomicU64,
    started: Instant,
    started_at: time::OffsetDateTime,
}

impl AppState {
    pub fn users(&self) -> &Users {
        &self.0.users
    }

    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }

    pub fn search(&self) -> &Search {
        &self.0.search
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

/// A server bound to its address, not yet serving. Tests build it exactly as
/// `main` does, on port 0.
pub struct App {
    listener: TcpListener,
    /// Set when serving HTTPS: every connection on `listener` is TLS.
    tls: Option<TlsAcceptor>,
    router: Router,
    store: Store,
    search: Search,
}

impl App {
    /// Loads the TLS certificate and key (if set), opens the store and binds
    /// the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // First, so that a bad certificate fails before anything is opened.
        let tls = config.tls.as_ref().map(crate::tls::load).transpose()?;
        let store = Store::open(&config.data_dir)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hasher = Hasher::new(config.auth.argon2, workers, workers * 64)?;
        let auth = Auth::init(store.clone(), config.auth.clone(), hasher.clone()).await?;
        let setup_token = auth.bootstrap().await?;
        let ip_limiter = config.rate_limit.map(|per_second| {
            let rate = NonZeroU32::new(per_second).expect("rates are positive");
            let burst = NonZeroU32::new(per_second.saturating_mul(2)).expect("rates are positive");
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let search = Search::start(store.clone(), &config.data_dir.join("index"))?;
        let state = AppState(Arc::new(Inner {
            users: Users::new(store.clone(), hasher),
            auth,
            search: search.clone(),
            ip_limiter,
            limiter_checks: AtomicU64::new(0),
            started: Instant::now(),
            started_at: time::OffsetDateTime::now_utc(),
        }));
        let router = crate::api::router(state, &config);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        if let Some(token) = setup_token {
            // Printed, not logged: it is a one-time secret for the operator.
            let addr = listener.local_addr().unwrap_or(config.listen);
            let scheme = scheme(tls.is_some());
            eprintln!(
                "roster: no admin exists yet. Create the first one at {scheme}://{addr}/admin/setup?token={token} (single use; a new link is printed at each start until then)"
            );
        }
        Ok(Self {
            listener,
            tls,
            router,
            store,
            search,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until SIGTERM or Ctrl-C, then drains and closes.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes; then stops accepting, lets in-flight
    /// requests finish, commits queued writes and closes the store.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let scheme = scheme(self.tls.is_some());
        tracing::info!(address = %self.local_addr(), scheme, "roster listening");
        // Handlers read the client address as `ConnectInfo<SocketAddr>`.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = match self.tls {
            None => {
                axum::serve(self.listener, service)
                    .with_graceful_shutdown(stop)
                    .await
            }
            Some(acceptor) => {
                // The no-op `tap_io` is there for `ConnectInfo`: axum provides
                // `SocketAddr: Connected<_>` for `TapIo<L, _>` with any
                // listener `L`, but the orphan rule forbids us to write that
                // impl for `TlsListener` itself.
                let listener = TlsListener::new(self.listener, acceptor).tap_io(|_| {});
                axum::serve(listener, service)
                    .with_graceful_shutdown(stop)
                    .await
            }
        };
        self.search.close().await;
        self.store.close().await;
        tracing::info!("roster stopped");
        served.context("the server failed")
    }
}

fn scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: draining in-flight requests");
}
