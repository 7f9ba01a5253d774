//! The running server: state shared by handlers, the listener, and the
//! graceful shutdown that drains requests and commits before the store closes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::service::Users;
use crate::store::Store;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    users: Users,
    #[allow(dead_code)] // read by the dashboard and metrics (later issues)
    started: Instant,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Inner {
            users: Users::new(store),
            started: Instant::now(),
        }))
    }

    pub fn users(&self) -> &Users {
        &self.0.users
    }
}

/// A server bound to its address, not yet serving. Tests build it exactly as
/// `main` does, on port 0.
pub struct App {
    listener: TcpListener,
    router: Router,
    store: Store,
}

impl App {
    /// Opens the store and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::open(&config.data_dir)?;
        let state = AppState::new(store.clone());
        let router = crate::api::router(state, &config);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Ok(Self {
            listener,
            router,
            store,
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
        tracing::info!(address = %self.local_addr(), "roster listening");
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await;
        self.store.close().await;
        tracing::info!("roster stopped");
        served.context("the server failed")
    }
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
