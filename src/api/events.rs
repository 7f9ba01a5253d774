//! `GET /api/v1/events`: the change stream as Server-Sent Events, and the
//! one JSON form of an event (also the body of every webhook delivery).
//!
//! A subscriber says where it stands with `Last-Event-ID` (what browsers
//! send on reconnecting) or `?after=`; it is sent every change-log entry
//! after that, in order, then each new one as it commits. Everything is
//! read from the change log, so a resume has no gap and no duplicate. If
//! the log no longer holds that position (pruned, or from another store),
//! the stream says `reset` first and goes on from the newest entry: the
//! client should re-list what it mirrors. An idle subscriber is a parked
//! task and a watch receiver: no thread, no buffer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;

use crate::auth::policy::Caller;
use crate::domain::{Event, EventType, Subject};
use crate::service::Events;

use super::extract::QueryPairs;
use super::groups::GroupDto;
use super::json::{Out, WriteJson};
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::state::AppState;
use super::users::UserDto;

/// Log entries read per pass.
const READ_BATCH: usize = 256;
/// A comment line this often keeps proxies from closing an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// An event as JSON: `id`, `type`, `occurred_at`, `data` (the user as
/// `GET /api/v1/users/{id}` shows it, or the group as
/// `GET /api/v1/groups/{id}` does; as it was, for a deletion) and, for
/// `user.updated` and `group.updated`, `changed_fields`.
pub fn render_event(e: &Event) -> String {
    let mut out = Out::with_capacity(512);
    out.raw("{\"id\":").u64(e.id);
    out.raw(",\"type\":").str(e.kind.as_str());
    let at = e.occurred_at.map(|t| t.rfc3339());
    out.raw(",\"occurred_at\":").opt_str(at.as_deref());
    out.raw(",\"data\":");
    match &e.subject {
        Subject::User(_, Some(u)) => UserDto::from(u).write_json(&mut out),
        Subject::Group(_, Some(g)) => out.serde(&GroupDto::from(g)),
        Subject::User(id, None) => {
            out.raw("{\"id\":").str(&id.to_string());
            out.raw("}");
        }
        Subject::Group(id, None) => {
            out.raw("{\"id\":").str(&id.to_string());
            out.raw("}");
        }
    }
    if matches!(e.kind, EventType::UserUpdated | EventType::GroupUpdated) {
        out.raw(",\"changed_fields\":").serde(&e.changed_fields);
    }
    out.raw("}");
    out.into_string()
}

/// One event of the stream as an SSE client hands it over (the `id:`,
/// `event:` and `data:` lines of one message; heartbeats are comment
/// lines, which clients do not report).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the wire format; never built
pub struct StreamEvent {
    /// The event id: the change sequence (`reset`: the newest id).
    id: String,
    /// The event type (see `EventType`), or `reset`.
    event: String,
    /// The event as JSON (see `Event`); for `reset`, `{"reason","last_id"}`.
    data: String,
}

/// The change stream.
#[utoipa::path(
    get, path = "/api/v1/events", operation_id = "streamEvents", tag = "events",
    params(
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event (sent by EventSource on reconnecting); wins over `after`."),
        ("after" = Option<u64>, Query, description = "Resume after this event id. Without it or the header: new events only."),
        ("types" = Option<String>, Query, description = "Comma-separated event types to send (default all), such as `user.created,user.deleted`."),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` the event id, `event:` its type, `data:` its JSON (see `Event`); a comment line every 15 s. `event: reset` (data `{\"reason\",\"last_id\"}`) when the position asked for is no longer in the change log: re-list, then follow from `last_id`.",
            content_type = "text/event-stream", body = StreamEvent),
        (status = 400, response = doc::BadRequest), doc::Authorized,
    ),
)]
pub async fn stream(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, Problem> {
    let events = st.events().clone();
    events.authorize(&caller)?;
    query.only(&["after", "types"])?;
    let types = match query.one("types")? {
        Some(t) => EventType::parse_list(t).map_err(|m| Problem::new(Kind::BadRequest, m))?,
        None => Vec::new(),
    };
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| Problem::new(Kind::BadRequest, "Last-Event-ID must be an event id"))
        })
        .transpose()?;
    let after = match header {
        Some(id) => Some(id),
        None => query.parsed("after", |v| v.parse::<u64>().ok(), "an event id")?,
    };
    let stream = follow(events, types, after)?.map(|f| {
        Ok::<_, Infallible>(match f {
            Followed::Event(e) => SseEvent::default()
                .id(e.id.to_string())
                .event(e.kind.as_str())
                .data(render_event(&e)),
            Followed::Reset { reason, last } => reset(reason, last),
        })
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response();
    // Tell buffering proxies (nginx) to pass events on as they come.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

fn reset(reason: &str, last: u64) -> SseEvent {
    let data = serde_json::json!({"reason": reason, "last_id": last});
    SseEvent::default()
        .id(last.to_string())
        .event("reset")
        .data(data.to_string())
}

/// What a follower of the change log is handed, in order.
pub(super) enum Followed {
    Event(Box<Event>),
    /// The position asked for is not in the log (pruned, or from another
    /// store): the follower should re-list, then go on from `last`.
    Reset {
        reason: &'static str,
        last: u64,
    },
}

/// Every change-log entry of `types` (all if empty) after `after` (new
/// ones only if `None`), then each new one as it commits; a [`Followed::Reset`]
/// first if the log no longer holds that position. Ends when the server
/// stops. The SSE stream and GraphQL subscriptions both follow this.
pub(super) fn follow(
    events: Events,
    types: Vec<EventType>,
    after: Option<u64>,
) -> Result<impl Stream<Item = Followed> + Send + 'static, crate::error::Error> {
    let span = events.span()?;
    let mut start = Subscriber::new(events, types, span.last);
    if let Some(after) = after {
        if span.can_resume(after) {
            start.after = after;
        } else {
            let reason = match after > span.last {
                true => "this id is past the newest event (another store, or a restore)",
                false => "the change log no longer holds the events after this id",
            };
            start.queue.push_back(Followed::Reset {
                reason,
                last: span.last,
            });
        }
    }
    Ok(start.into_stream())
}

/// One connected subscriber: where it stands and what waits to be sent.
struct Subscriber {
    events: Events,
    types: Vec<EventType>,
    after: u64,
    commits: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    queue: VecDeque<Followed>,
    _counted: Connected,
}

impl Subscriber {
    fn new(events: Events, types: Vec<EventType>, after: u64) -> Self {
        Self {
            commits: events.commits(),
            closing: events.closing(),
            events,
            types,
            after,
            queue: VecDeque::new(),
            _counted: Connected::new(),
        }
    }

    fn into_stream(self) -> impl Stream<Item = Followed> + Send + 'static {
        futures_util::stream::unfold(self, |mut s| async move {
            let next = s.next().await?;
            Some((next, s))
        })
    }

    /// The next entry to hand over; `None` ends the stream (server
    /// stopping, or the store failing: the client reconnects and resumes).
    async fn next(&mut self) -> Option<Followed> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if *self.closing.borrow() {
                return None;
            }
            // Seen before reading, so a commit after the read wakes the wait.
            self.commits.borrow_and_update();
            let span = self.events.span().ok()?;
            if !span.can_resume(self.after) {
                self.after = span.last;
                return Some(Followed::Reset {
                    reason: "the change log was pruned past this stream",
                    last: span.last,
                });
            }
            let (found, next) = self.events.read(self.after, READ_BATCH, &self.types).ok()?;
            self.after = next;
            self.queue
                .extend(found.into_iter().map(|e| Followed::Event(Box::new(e))));
            if self.queue.is_empty() && next == span.last {
                tokio::select! {
                    r = self.commits.changed() => r.ok()?,
                    _ = self.closing.wait_for(|c| *c) => return None,
                }
            }
        }
    }
}

/// Counts connected subscribers (`roster_event_stream_clients`).
struct Connected;

impl Connected {
    fn new() -> Self {
        metrics::gauge!("roster_event_stream_clients").increment(1.0);
        Connected
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::gauge!("roster_event_stream_clients").decrement(1.0);
    }
}
