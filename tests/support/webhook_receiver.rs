//! A webhook receiver on a loopback port, as an application would run one:
//! an axum server that checks every request's signature with the Standard
//! Webhooks project's own Rust library (`standardwebhooks`, which no one
//! here wrote), answers 200 to what it accepts, and records it. It can be
//! told to fail (500 for the next N requests, or 503 while "down") so the
//! sender's retries can be watched.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::Notify;

/// One accepted request.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The `webhook-id` header: the same on every attempt of one event.
    pub webhook_id: String,
    /// The body's `type`.
    pub event_type: String,
    /// The body's `id` when it is a number (a change-log event).
    pub event_id: Option<u64>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    fail_next: usize,
    down: bool,
    attempts: usize,
    bad_signatures: usize,
    accepted: Vec<Delivery>,
}

#[derive(Clone, Default)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut inner = s.inner.lock().unwrap();
    inner.attempts += 1;
    if inner.down {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if inner.fail_next > 0 {
        inner.fail_next -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if inner.secrets.is_empty() {
        // Not configured yet: a real receiver could not check anything.
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let signed = inner.secrets.iter().any(|secret| {
        standardwebhooks::Webhook::new(secret)
            .expect("a whsec_ secret")
            .verify(&body, &headers)
            .is_ok()
    });
    if !signed {
        inner.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return StatusCode::BAD_REQUEST,
    };
    let delivery = Delivery {
        webhook_id: headers["webhook-id"].to_str().unwrap().to_owned(),
        event_type: body["type"].as_str().unwrap_or_default().to_owned(),
        event_id: body["id"].as_u64(),
        body,
    };
    inner.accepted.push(delivery);
    s.arrived.notify_waiters();
    StatusCode::OK
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let shared = Shared::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the receiver runs");
        });
        WebhookReceiver {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The secrets a request may be signed with (any one suffices).
    pub fn set_secrets(&self, secrets: Vec<String>) {
        self.shared.inner.lock().unwrap().secrets = secrets;
    }

    /// Answer 500 to the next `n` requests.
    pub fn fail_next(&self, n: usize) {
        self.shared.inner.lock().unwrap().fail_next = n;
    }

    /// Answer 503 to everything while down.
    pub fn set_down(&self, down: bool) {
        self.shared.inner.lock().unwrap().down = down;
    }

    /// Every request received, accepted or not.
    pub fn attempts(&self) -> usize {
        self.shared.inner.lock().unwrap().attempts
    }

    /// Requests whose signature matched none of the secrets.
    pub fn bad_signatures(&self) -> usize {
        self.shared.inner.lock().unwrap().bad_signatures
    }

    /// The accepted requests, in order of arrival.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.inner.lock().unwrap().accepted.clone()
    }

    /// Waits until `done` holds for the accepted requests; returns them.
    async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            {
                let inner = self.shared.inner.lock().unwrap();
                if done(&inner.accepted) {
                    return inner.accepted.clone();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let inner = self.shared.inner.lock().unwrap();
                panic!(
                    "the receiver never got {what}: {} accepted, {} requests, {} bad signatures",
                    inner.accepted.len(),
                    inner.attempts,
                    inner.bad_signatures
                );
            }
            // Woken by an arrival, or re-checked every 100 ms.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), arrived).await;
        }
    }

    /// Waits for at least `n` accepted requests.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.wait_until(&format!("{n} requests"), timeout, |d| d.len() >= n)
            .await
    }

    /// Waits for at least `n` distinct `webhook-id`s (re-sends count once).
    pub async fn wait_unique(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.wait_until(&format!("{n} distinct events"), timeout, |d| {
            d.len() >= n
                && d.iter()
                    .map(|x| x.webhook_id.as_str())
                    .collect::<std::collections::HashSet<_>>()
                    .len()
                    >= n
        })
        .await
    }
}
