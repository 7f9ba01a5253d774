//! Delivery: one task per enabled endpoint, following the change log from
//! the endpoint's cursor (`delivered_through`).
//!
//! The change log is the queue. An event is delivered to an endpoint if it
//! committed and the endpoint wants its type; the endpoint's task reads the
//! log in order and does not move past an event until the receiver has
//! accepted it, so deliveries arrive in order per endpoint, and an event
//! stuck in retries holds back the ones after it (as Standard Webhooks
//! receivers expect of an ordered stream). The cursor and the delivery
//! records are saved every few dozen deliveries and before every wait:
//! after a crash (even SIGKILL) the task resumes from the saved cursor and
//! sends again what it had sent since, with the same `webhook-id` — at
//! least once, never lost.
//!
//! A failing event is retried after 1 s, doubling up to 10 min (±20 %),
//! for [`RETRY_FOR`]; then the endpoint is disabled, with an audit entry,
//! until an admin enables it again.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::{Delivery, DeliveryStatus, Event, Timestamp, Webhook};
use crate::error::Error;
use crate::service::Audit;
use crate::service::events::read_events;

use super::send::Attempt;
use super::{Command, Inner};

/// How long an event is retried before its endpoint is disabled.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Log entries read per pass.
const READ_BATCH: usize = 256;
/// Deliveries recorded per write (and so re-sent at most after a crash).
const SAVE_EVERY: usize = 64;
/// Without a wake-up, a task or the supervisor looks again this often.
const IDLE_POLL: Duration = Duration::from_secs(10);

/// Keeps one task per enabled endpoint until `stop`, then waits for them
/// (each saves its cursor first).
pub(super) async fn supervise(ctx: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut running: std::collections::HashMap<Uuid, JoinHandle<()>> = Default::default();
    let mut changed = ctx.changed.subscribe();
    loop {
        running.retain(|_, h| !h.is_finished());
        match ctx.store.read(|r| r.webhooks()) {
            Ok(hooks) => {
                for hook in hooks.iter().filter(|h| h.enabled) {
                    if running.contains_key(&hook.id) {
                        continue;
                    }
                    let (mailbox, inbox) = mpsc::channel(16);
                    ctx.tasks
                        .lock()
                        .expect("tasks lock")
                        .insert(hook.id, mailbox);
                    let task = Endpoint::new(ctx.clone(), hook, inbox, stop.clone());
                    running.insert(hook.id, tokio::spawn(task.run()));
                }
                gauges(&ctx, &hooks);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the webhooks"),
        }
        ctx.tasks
            .lock()
            .expect("tasks lock")
            .retain(|id, _| running.contains_key(id));
        tokio::select! {
            _ = changed.changed() => {}
            () = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

/// Events waiting and the age of the oldest, over enabled endpoints.
fn gauges(ctx: &Inner, hooks: &[Webhook]) {
    let last = ctx.store.committed_seq();
    let now = Timestamp::now();
    let mut pending = 0;
    let mut oldest = Duration::ZERO;
    for hook in hooks.iter().filter(|h| h.enabled) {
        pending += last.saturating_sub(hook.delivered_through);
        let first = ctx
            .store
            .read(|r| r.changes_since(hook.delivered_through, 1));
        if let Ok(first) = first
            && let Some((_, c)) = first.first()
            && let Some(at) = c.at
        {
            oldest = oldest.max(now.duration_since(at));
        }
    }
    metrics::gauge!("roster_webhook_pending").set(pending as f64);
    metrics::gauge!("roster_webhook_oldest_pending_seconds").set(oldest.as_secs_f64());
}

/// What to do after an event's delivery ended.
enum Flow {
    Next,
    Stop,
}

/// What ended a wait between attempts.
enum Wake {
    Again,
    Stop,
    Command(Command),
}

/// One endpoint's delivery task.
struct Endpoint {
    ctx: Arc<Inner>,
    id: Uuid,
    inbox: Option<mpsc::Receiver<Command>>,
    stop: watch::Receiver<bool>,
    changed: watch::Receiver<u64>,
    commits: watch::Receiver<u64>,
    /// Delivered since the last save.
    done: Vec<Delivery>,
    /// Every event up to here is delivered (or not wanted).
    through: u64,
    saved_through: u64,
}

impl Endpoint {
    fn new(
        ctx: Arc<Inner>,
        hook: &Webhook,
        inbox: mpsc::Receiver<Command>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            changed: ctx.changed.subscribe(),
            commits: ctx.store.subscribe(),
            id: hook.id,
            inbox: Some(inbox),
            stop,
            done: Vec::new(),
            through: hook.delivered_through,
            saved_through: hook.delivered_through,
            ctx,
        }
    }

    /// The endpoint as stored now, if it is still enabled.
    fn hook(&self) -> Option<Webhook> {
        match self.ctx.store.read(|r| r.webhook(self.id)) {
            Ok(Some(h)) if h.enabled => Some(h),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(webhook = %self.id, error = %e, "cannot read the webhook");
                None
            }
        }
    }

    async fn run(mut self) {
        while !*self.stop.borrow()
            && let Some(hook) = self.hook()
        {
            let after = self.through;
            let read = self
                .ctx
                .store
                .read(|r| read_events(r, after, READ_BATCH, &hook.event_types));
            let (events, next) = match read {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(webhook = %self.id, error = %e, "cannot read the change log");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if events.is_empty() && next == after {
                self.save(None).await;
                self.idle().await;
                continue;
            }
            let mut stopped = false;
            for event in &events {
                if let Flow::Stop = self.deliver(hook.clone(), event).await {
                    stopped = true;
                    break;
                }
                self.through = event.id;
                if self.done.len() >= SAVE_EVERY {
                    self.save(None).await;
                }
            }
            if stopped {
                break;
            }
            self.through = next;
        }
        self.save(None).await;
    }

    /// Waits for a commit, a change to the endpoint, a command or `stop`.
    async fn idle(&mut self) {
        let cmd = tokio::select! {
            _ = self.commits.changed() => None,
            _ = self.changed.changed() => None,
            cmd = recv(&mut self.inbox) => cmd,
            _ = self.stop.wait_for(|s| *s) => None,
            () = tokio::time::sleep(IDLE_POLL) => None,
        };
        if let Some(cmd) = cmd {
            self.one_off(cmd).await;
        }
    }

    /// Delivers `event` until it is accepted, or the endpoint is disabled,
    /// deleted, given up on, or the server stops.
    async fn deliver(&mut self, mut hook: Webhook, event: &Event) -> Flow {
        let body = (self.ctx.render)(event);
        let msg_id = event.id.to_string();
        let mut d = match self.ctx.store.read(|r| r.delivery(self.id, event.id)) {
            Ok(Some(d)) if d.status == DeliveryStatus::Pending => d,
            _ => new_delivery(event),
        };
        let mut asked = None;
        loop {
            let now = Timestamp::now();
            let attempt = self
                .ctx
                .sender
                .send(&hook.url, hook.signing_keys(now), &msg_id, &body)
                .await;
            record(&mut d, &attempt, now);
            if attempt.delivered() {
                self.done.push(d.clone());
                if let Some(reply) = asked.take() {
                    self.through = event.id;
                    self.save(None).await;
                    let _ = reply_to(reply, Ok(d));
                }
                return Flow::Next;
            }
            let since = hook.failing_since.unwrap_or(now);
            if now.duration_since(since) >= RETRY_FOR {
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
                self.give_up(&d).await;
                if let Some(reply) = asked.take() {
                    let _ = reply_to(reply, Ok(d));
                }
                return Flow::Stop;
            }
            let wait = backoff(d.attempts);
            d.next_attempt_at = Some(now.after(wait));
            self.save(Some((since, &d))).await;
            if let Some(reply) = asked.take() {
                let _ = reply_to(reply, Ok(d.clone()));
            }
            // Until the backoff ends, a retry of this event asks for it,
            // or the endpoint changes (a fixed URL is tried at once).
            let until = tokio::time::Instant::now() + wait;
            loop {
                let woken = tokio::select! {
                    () = tokio::time::sleep_until(until) => Wake::Again,
                    _ = self.changed.changed() => Wake::Again,
                    _ = self.stop.wait_for(|s| *s) => Wake::Stop,
                    cmd = recv(&mut self.inbox) => cmd.map_or(Wake::Again, Wake::Command),
                };
                match woken {
                    Wake::Again => break,
                    Wake::Stop => return Flow::Stop,
                    Wake::Command(Command::Retry { event: e, reply }) if e == event.id => {
                        asked = Some(reply);
                        break;
                    }
                    Wake::Command(other) => self.one_off(other).await,
                }
            }
            match self.hook() {
                Some(h) => hook = h,
                None => return Flow::Stop,
            }
        }
    }

    /// Answers a command about an event other than the one in delivery:
    /// one more attempt, out of order, recorded on its delivery.
    async fn one_off(&mut self, cmd: Command) {
        let Command::Retry { event, reply } = cmd;
        let result = self.attempt_again(event).await;
        let _ = reply_to(reply, result);
    }

    async fn attempt_again(&mut self, event_id: u64) -> Result<Delivery, Error> {
        let hook = self.hook().ok_or(Error::NotFound)?;
        let id = self.id;
        let (d, events) = self.ctx.store.read(|r| {
            Ok((
                r.delivery(id, event_id)?,
                read_events(r, event_id - 1, 1, &[])?.0,
            ))
        })?;
        let mut d = d.ok_or(Error::NotFound)?;
        let event = events
            .into_iter()
            .find(|e| e.id == event_id)
            .ok_or(Error::StateConflict(
                "This event is no longer in the change log.",
            ))?;
        let now = Timestamp::now();
        let body = (self.ctx.render)(&event);
        let attempt = self
            .ctx
            .sender
            .send(
                &hook.url,
                hook.signing_keys(now),
                &event_id.to_string(),
                &body,
            )
            .await;
        let was = d.status;
        record(&mut d, &attempt, now);
        if !attempt.delivered() {
            d.status = was;
        }
        let saved = d.clone();
        self.ctx
            .store
            .write(move |tx| tx.put_delivery(id, &saved))
            .await?;
        Ok(d)
    }

    /// Saves the deliveries made, the cursor, and (while an event keeps
    /// failing) its pending delivery and since when it fails.
    async fn save(&mut self, failing: Option<(Timestamp, &Delivery)>) {
        if self.done.is_empty() && failing.is_none() && self.through == self.saved_through {
            return;
        }
        let done = std::mem::take(&mut self.done);
        let (id, through) = (self.id, self.through);
        let failing = failing.map(|(since, d)| (since, d.clone()));
        let kept = done.clone();
        let saved = self
            .ctx
            .store
            .write(move |tx| {
                let Some(mut hook) = tx.webhook(id)? else {
                    return Ok::<_, Error>(());
                };
                for d in &done {
                    tx.put_delivery(id, d)?;
                }
                hook.delivered_through = hook.delivered_through.max(through);
                hook.failing_since = match &failing {
                    Some((since, d)) => {
                        tx.put_delivery(id, d)?;
                        Some(*since)
                    }
                    None => None,
                };
                tx.put_webhook(&hook)?;
                Ok(())
            })
            .await;
        match saved {
            Ok(()) => self.saved_through = through,
            Err(e) => {
                // Kept for the next save; at worst re-sent after a crash.
                tracing::warn!(webhook = %id, error = %e, "cannot save webhook deliveries");
                self.done = kept;
            }
        }
    }

    /// Disables the endpoint after [`RETRY_FOR`] of failures, audited.
    async fn give_up(&mut self, d: &Delivery) {
        self.save(None).await;
        let (id, d) = (self.id, d.clone());
        let at = crate::service::now();
        let audit = Audit {
            action: "webhook.disabled",
            actor: Some("system".into()),
            target: Some(id.to_string()),
            ip: None,
            success: false,
            detail: Some(format!(
                "event {} not accepted in {} h: {}",
                d.event_id,
                RETRY_FOR.as_secs() / 3600,
                d.last_error.as_deref().unwrap_or("failed")
            )),
        };
        let done = self
            .ctx
            .store
            .write(move |tx| {
                tx.put_delivery(id, &d)?;
                if let Some(mut hook) = tx.webhook(id)? {
                    hook.enabled = false;
                    hook.disabled_reason = Some("failing".into());
                    tx.put_webhook(&hook)?;
                }
                audit.write(tx, at)
            })
            .await;
        match done {
            Ok(()) => tracing::warn!(webhook = %id, "webhook disabled after a day of failures"),
            Err(e) => tracing::error!(webhook = %id, error = %e, "cannot disable the webhook"),
        }
        self.ctx.changed.send_modify(|n| *n += 1);
    }
}

/// The next command, or never once the mailbox is closed.
async fn recv(inbox: &mut Option<mpsc::Receiver<Command>>) -> Option<Command> {
    match inbox {
        Some(rx) => match rx.recv().await {
            Some(cmd) => Some(cmd),
            None => {
                *inbox = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

fn reply_to(
    reply: tokio::sync::oneshot::Sender<Result<Delivery, Error>>,
    result: Result<Delivery, Error>,
) -> Result<(), ()> {
    reply.send(result).map_err(|_| ())
}

fn new_delivery(event: &Event) -> Delivery {
    Delivery {
        event_id: event.id,
        event_type: event.kind,
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_attempt_at: None,
        last_status_code: None,
        last_error: None,
        next_attempt_at: None,
    }
}

/// Writes an attempt's outcome into its delivery.
fn record(d: &mut Delivery, a: &Attempt, at: Timestamp) {
    d.attempts += 1;
    d.last_attempt_at = Some(at);
    d.last_status_code = a.status;
    d.last_error = a.error.clone();
    let outcome = if a.delivered() {
        d.status = DeliveryStatus::Delivered;
        d.next_attempt_at = None;
        "delivered"
    } else {
        "failed"
    };
    metrics::counter!("roster_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// The wait after the `attempts`-th failure: doubling from one second,
/// capped, with ±20 % jitter so endpoints failing together spread out.
fn backoff(attempts: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF);
    base.mul_f64(rand::rng().random_range(0.8..1.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        for (attempts, secs) in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 512.0), (40, 600.0)] {
            let d = backoff(attempts).as_secs_f64();
            assert!(
                (secs * 0.8..=secs * 1.2).contains(&d),
                "attempt {attempts}: {d} s"
            );
        }
    }
}
