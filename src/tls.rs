//! HTTPS without a proxy in front: the certificate and key loaded at start,
//! and a listener that hands axum only connections whose TLS handshake is done.
//!
//! Handshakes run off the accept loop, each in its own task with a deadline,
//! so a slow or silent client can hold up nobody but itself. This module owns
//! TLS only; what is served over it, and shutdown, belong to `app`.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

use crate::config::TlsFiles;

/// Longest a client may take to complete its handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Completed handshakes waiting for axum to pick them up.
const READY_QUEUE: usize = 128;

/// Reads the PEM certificate chain and private key and builds the server
/// configuration: ring, TLS 1.2 and 1.3, ALPN `http/1.1`.
///
/// Fails with one sentence naming the file and what is wrong with it.
pub(crate) fn load(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let certs = read_certs(&files.cert).map_err(|problem| {
        anyhow::anyhow!(
            "cannot read TLS certificate {}: {problem}",
            files.cert.display()
        )
    })?;
    let key = read_key(&files.key).map_err(|problem| {
        anyhow::anyhow!(
            "cannot read TLS private key {}: {problem}",
            files.key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS 1.2 and 1.3 are not supported by the crypto provider")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "cannot use TLS certificate {} with private key {}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    // Only HTTP/1.1: roster's axum is built without its `http2` feature, so
    // offering `h2` would let a client pick a protocol the server cannot speak.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_problem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_problem)?;
    if certs.is_empty() {
        return Err("no certificate found (expected a PEM `BEGIN CERTIFICATE` block)".into());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            "no private key found (expected a PEM PKCS#8, PKCS#1 or SEC1 private key block)".into()
        }
        other => pem_problem(other),
    })
}

fn pem_problem(e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => e.to_string(),
        other => format!("not valid PEM: {other}"),
    }
}

/// A listener (axum's `Listener`, as `app` serves from) that yields TLS streams whose handshake has
/// completed. Dropping it stops accepting and abandons pending handshakes.
pub(crate) struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor_task: JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` at once; must be called within a Tokio runtime.
    pub(crate) fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        let local_addr = tcp
            .local_addr()
            .expect("a bound TCP listener has a local address");
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor_task = tokio::spawn(accept_loop(tcp, acceptor, tx));
        Self {
            local_addr,
            ready,
            acceptor_task,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Closes the socket; the loop's JoinSet aborts handshakes in flight.
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // `recv` is cancel-safe, as axum needs when shutdown races an accept.
        match self.ready.recv().await {
            Some(conn) => conn,
            None => {
                // Only if the accept loop panicked; it has no other way out.
                tracing::error!("the TLS accept loop stopped; no new connections are taken");
                std::future::pending().await
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    // Owned here so that aborting this task aborts every handshake too.
    let mut handshakes = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            // Reap finished handshakes so the set does not grow.
            Some(_) = handshakes.join_next() => continue,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server is stopping: the stream is dropped.
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// As axum does for plain TCP: per-connection errors are skipped; others
/// (such as running out of file descriptors) are logged and retried after a
/// pause, rather than spinning.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
