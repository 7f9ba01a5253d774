//! The running server: wiring of the state handlers share, the listener (plain HTTP,
//! or HTTPS through `tls`), the accept loop that serves each connection, and
//! the graceful shutdown that drains requests and commits before the store
//! closes.
//!
//! The accept loop is ours rather than `axum::serve` because that has no
//! header-read timeout: without one, a client sending its headers a byte at a
//! time (slowloris), or holding idle keep-alive connections, keeps a task and
//! a file descriptor for ever.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::{Listener, ListenerExt};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::{AppState, Limits, Rates};
use crate::auth::passwords::Hasher;
use crate::config::Config;
use crate::service::mail::{Mail, Outbox};
use crate::service::{Auth, Events, Groups, OAuth, Search, Users, Webhooks};
use crate::store::Store;
use crate::tls::TlsListener;

/// A server bound to its address, not yet serving. Tests build it exactly as
/// `main` does, on port 0.
pub struct App {
    listener: TcpListener,
    /// Set when serving HTTPS: every connection on `listener` is TLS.
    tls: Option<TlsAcceptor>,
    router: Router,
    header_read_timeout: Duration,
    store: Store,
    search: Search,
    mail: Mail,
    webhooks: Webhooks,
    change_retention: Duration,
    auth: Auth,
    housekeeping_every: Duration,
    /// Set when the server stops: event streams end, so connections drain.
    closing: tokio::sync::watch::Sender<bool>,
}

/// See [`App::read_counter`].
#[derive(Clone)]
pub struct ReadCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl ReadCounter {
    /// Read transactions begun so far.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Most bytes of a request head (request line and headers) a client may
/// send; above it hyper answers 431 (or 414 for a long URI) and closes.
/// Tokens and cookies fit many times over.
const MAX_HEAD_BYTES: usize = 32 * 1024;

impl App {
    /// Loads the TLS certificate and key (if set), opens the store and binds
    /// the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // First, so that a bad certificate fails before anything is opened.
        let tls = config.tls.as_ref().map(crate::tls::load).transpose()?;
        let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hasher = Hasher::new(
            config.auth.argon2,
            workers,
            workers * 64,
            config.auth.argon2_idle_priority,
        )?;
        let mail = Mail::new(&config.mail, &config.auth.issuer).map_err(anyhow::Error::msg)?;
        if mail.logs_only() {
            tracing::warn!(
                "no SMTP server configured (--smtp-url): mail is written to the log instead, links included; not for production"
            );
        }
        let auth = Auth::init(
            store.clone(),
            config.auth.clone(),
            hasher.clone(),
            mail.clone(),
        )
        .await?;
        let setup_token = auth.bootstrap().await?;
        let housekeeping_auth = auth.clone();
        let limits = Limits::new(Rates {
            address: config.rate_limit,
            admin: config.rate_limit,
            api_key: config.rate_limit,
            user: config.rate_limit.and(config.user_rate_limit),
        });
        let search = Search::start(store.clone(), &config.data_dir.join("index"))?;
        let webhooks = Webhooks::new(store.clone(), config.webhooks, crate::api::render_event)?;
        let (closing, closing_rx) = tokio::sync::watch::channel(false);
        let events = Events::new(store.clone(), closing_rx);
        let state = AppState::new(
            (
                Users::new(store.clone(), hasher),
                Groups::new(store.clone()),
            ),
            (auth.clone(), OAuth::new(store.clone(), auth)?),
            search.clone(),
            (webhooks.clone(), events),
            limits,
        );
        let router = crate::api::router(state, &config);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let own = listener.local_addr().unwrap_or(config.listen);
        mail.set_own_url(format!("{}://{own}", scheme(tls.is_some())));
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
            header_read_timeout: config.header_read_timeout,
            store,
            search,
            mail,
            webhooks,
            change_retention: config.change_retention,
            auth: housekeeping_auth,
            housekeeping_every: config.housekeeping_every,
            closing,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Counts the store's reads, for as long as it is open (diagnostics:
    /// what one request costs).
    pub fn read_counter(&self) -> ReadCounter {
        ReadCounter(self.store.reads())
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
        // The outbox worker stops after the last request (which may queue
        // mail) and before the store closes.
        let (stop_outbox, outbox_stopped) = tokio::sync::watch::channel(false);
        let outbox = tokio::spawn(
            Outbox::new(self.store.clone(), self.mail.clone()).run(outbox_stopped.clone()),
        );
        let webhooks = tokio::spawn(self.webhooks.run(outbox_stopped.clone()));
        let retention = tokio::spawn(crate::service::events::retain(
            self.store.clone(),
            self.search.clone(),
            self.change_retention,
            outbox_stopped.clone(),
        ));
        let housekeeping = tokio::spawn(crate::service::housekeeping::run(
            self.store.clone(),
            self.auth,
            self.housekeeping_every,
            outbox_stopped,
        ));
        // Event streams never end on their own: they end when stopping starts.
        let closing = self.closing;
        let stop = async move {
            stop.await;
            let _ = closing.send(true);
        };
        let conns = Connections {
            router: self.router,
            http: http1_builder(self.header_read_timeout),
        };
        match self.tls {
            None => {
                // As in tls.rs: answers go out as soon as they are written.
                let tcp = self.listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                conns.serve(tcp, stop).await;
            }
            Some(acceptor) => {
                conns
                    .serve(TlsListener::new(self.listener, acceptor), stop)
                    .await;
            }
        }
        let _ = stop_outbox.send(true);
        let _ = outbox.await;
        let _ = webhooks.await;
        let _ = retention.await;
        let _ = housekeeping.await;
        self.search.close().await;
        self.store.close().await;
        tracing::info!("roster stopped");
        Ok(())
    }
}

/// HTTP/1.1 only (roster's axum is built without HTTP/2, and TLS offers
/// only `http/1.1`), keep-alive on, with the header-read timeout. hyper
/// starts that timer whenever it waits for a request head, so it also
/// closes keep-alive connections left idle that long.
fn http1_builder(header_read_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    b
}

/// Serves every accepted connection with the router until shutdown.
struct Connections {
    router: Router,
    http: hyper::server::conn::http1::Builder,
}

impl Connections {
    /// Accepts until `stop` completes; then stops accepting, tells each
    /// connection to finish its request in flight (idle ones close at once)
    /// and returns when all have closed.
    async fn serve<L>(self, mut listener: L, stop: impl Future<Output = ()> + Send + 'static)
    where
        L: Listener<Addr = SocketAddr>,
    {
        // Each connection holds a receiver: `true` asks it to finish, and
        // the sender sees every receiver gone once all have closed.
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let mut stop = std::pin::pin!(stop);
        loop {
            // `accept` is cancel-safe for both listeners (axum's contract);
            // it retries failed accepts itself, pausing on fd exhaustion.
            let (io, peer) = tokio::select! {
                conn = listener.accept() => conn,
                () = &mut stop => break,
            };
            let router = self.router.clone();
            // Handlers read the client address as `ConnectInfo<SocketAddr>`.
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                async move {
                    use tower::Service;
                    router.call(req.map(axum::body::Body::new)).await
                }
            });
            // With upgrades: GraphQL subscriptions run over WebSockets (an
            // upgraded socket is its handler's; shutdown ends its stream).
            let conn = self
                .http
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut stop_rx = stopping_rx.clone();
            tokio::spawn(async move {
                let mut conn = std::pin::pin!(conn);
                let ended = tokio::select! {
                    r = conn.as_mut() => r,
                    _ = async { stop_rx.wait_for(|s| *s).await.map(|_| ()) } => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                // Errors here are the client's doing (reset, timed out, bad
                // framing); hyper has already answered what it could.
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(stop_rx);
            });
        }
        drop(listener);
        drop(stopping_rx);
        let _ = stopping.send(true);
        stopping.closed().await;
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
