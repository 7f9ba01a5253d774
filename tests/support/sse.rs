//! A Server-Sent Events client written from the HTML specification's
//! "event stream interpretation" (§9.2.6), independent of the server's
//! code: lines end with CRLF, LF or CR; a blank line dispatches; `:` starts
//! a comment; one space after the colon is dropped; `data` lines join with
//! LF; `id` sets the last event id (kept for later events, ignored when it
//! holds NUL); `event` names the type (default `message`); an event with no
//! data is not dispatched.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

/// One dispatched event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The last event id at dispatch (the stream's, as `EventSource`
    /// reports it), `None` when empty.
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

pub struct SseClient;

impl SseClient {
    /// Opens the stream with a bearer token and, when given, the
    /// `Last-Event-ID` header; asserts a 200 `text/event-stream` answer.
    pub async fn connect(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<u64>,
    ) -> SseStream {
        let mut req = client
            .get(url)
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = req.send().await.expect("the stream opens");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{url}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseStream {
            res,
            buf: Vec::new(),
            pending_cr: false,
            last_id: String::new(),
            event: String::new(),
            data: String::new(),
            ready: VecDeque::new(),
            comments: 0,
        }
    }
}

pub struct SseStream {
    res: reqwest::Response,
    /// Bytes of the line being read.
    buf: Vec<u8>,
    /// The previous chunk ended with CR: a following LF belongs to it.
    pending_cr: bool,
    last_id: String,
    event: String,
    data: String,
    ready: VecDeque<SseEvent>,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl SseStream {
    /// The next event, or `None` at the timeout or the end of the stream.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.feed(&bytes),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.pending_cr = true;
                    self.line();
                }
                b'\n' => self.line(),
                _ => self.buf.push(b),
            }
        }
    }

    fn line(&mut self) {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            _ => {} // `retry` and unknown fields: nothing to keep here.
        }
    }

    fn dispatch(&mut self) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the last LF
        self.ready.push_back(SseEvent {
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
        });
    }
}
