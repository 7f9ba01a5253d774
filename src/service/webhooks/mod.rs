//! Webhooks: endpoints an admin registers, and the deliveries that follow
//! the change log to them (see `dispatch`). This module holds the use
//! cases (create, change, rotate the secret, test, retry), each checked by
//! the policy and audited; `send` makes one signed, SSRF-guarded attempt.

mod dispatch;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::auth::policy::{Action, Caller};
use crate::config::WebhookConfig;
use crate::domain::{
    Delivery, Event, FieldError, MAX_WEBHOOKS, NewWebhook, SigningKey, Timestamp, Webhook,
    WebhookPatch,
};
use crate::error::Error;
use crate::store::Store;

use super::{Audit, allow, now};

pub use dispatch::RETRY_FOR;
pub use send::{Attempt, TIMEOUT, public};

/// How an event's JSON is written: the API's user representation, passed
/// in by whoever builds the service (the API layer owns that format).
pub type RenderEvent = fn(&Event) -> String;

/// Longest overlap allowed for an old secret after a rotation.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);
/// Prefix of a secret as shown (Standard Webhooks' convention).
const SECRET_PREFIX: &str = "whsec_";

/// A webhook with its secret, in the answer to its creation or rotation.
pub struct WebhookCreated {
    pub webhook: Webhook,
    pub secret: String,
    pub last_seq: u64,
}

/// The answer to a test delivery.
pub struct TestResult {
    pub attempt: Attempt,
}

/// A message from the API to an endpoint's delivery task.
pub(crate) enum Command {
    /// Attempt this event's delivery now; answer with its record after.
    Retry {
        event: u64,
        reply: oneshot::Sender<Result<Delivery, Error>>,
    },
}

#[derive(Clone)]
pub struct Webhooks(Arc<Inner>);

pub(crate) struct Inner {
    store: Store,
    sender: send::Sender,
    render: RenderEvent,
    /// Bumped by every change to an endpoint: tasks and their supervisor
    /// look again.
    changed: watch::Sender<u64>,
    /// The running delivery tasks' mailboxes.
    tasks: Mutex<HashMap<Uuid, mpsc::Sender<Command>>>,
}

impl Webhooks {
    pub fn new(store: Store, cfg: WebhookConfig, render: RenderEvent) -> anyhow::Result<Self> {
        Ok(Self(Arc::new(Inner {
            store,
            sender: send::Sender::new(cfg)?,
            render,
            changed: watch::channel(0).0,
            tasks: Mutex::new(HashMap::new()),
        })))
    }

    /// Delivers until `stop`; see `dispatch`.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        dispatch::supervise(self.0, stop).await;
    }

    fn touched(&self) {
        self.0.changed.send_modify(|n| *n += 1);
    }

    pub fn last_seq(&self) -> u64 {
        self.0.store.committed_seq()
    }

    pub async fn create(&self, caller: &Caller, new: NewWebhook) -> Result<WebhookCreated, Error> {
        allow(caller, Action::ManageWebhooks)?;
        self.check_url(&new.url).await?;
        let (secret, key) = new_secret();
        let at = Timestamp::from_datetime(now());
        let audit = Audit::by(caller, "webhook.create");
        let hook = self
            .0
            .store
            .write(move |tx| {
                if tx.webhooks()?.len() >= MAX_WEBHOOKS {
                    return Err(Error::Validation(vec![FieldError::new(
                        "url",
                        format!("is one too many: a server holds at most {MAX_WEBHOOKS} webhooks"),
                    )]));
                }
                let hook = Webhook {
                    id: Uuid::now_v7(),
                    url: new.url.to_string(),
                    description: new.description.clone(),
                    event_types: new.event_types.clone(),
                    enabled: new.enabled,
                    disabled_reason: None,
                    failing_since: None,
                    // From now on: an endpoint is not sent the past.
                    delivered_through: tx.last_seq(),
                    keys: vec![SigningKey {
                        key: key.clone(),
                        expires_at: None,
                    }],
                    created_at: at,
                    updated_at: at,
                };
                tx.put_webhook(&hook)?;
                audit
                    .clone()
                    .target(hook.id)
                    .detail(hook.url.clone())
                    .write(tx, at.to_datetime().unwrap_or_else(now))?;
                Ok::<_, Error>(hook)
            })
            .await?;
        Ok(self.created(hook, secret))
    }

    /// The answer to a write that made a secret: the dispatcher is told.
    fn created(&self, webhook: Webhook, secret: String) -> WebhookCreated {
        self.touched();
        WebhookCreated {
            webhook,
            secret,
            last_seq: self.last_seq(),
        }
    }

    pub fn list(&self, caller: &Caller) -> Result<Vec<Webhook>, Error> {
        allow(caller, Action::ManageWebhooks)?;
        Ok(self.0.store.read(|r| r.webhooks())?)
    }

    pub fn get(&self, caller: &Caller, id: Uuid) -> Result<Webhook, Error> {
        allow(caller, Action::ManageWebhooks)?;
        self.0.store.read(|r| r.webhook(id))?.ok_or(Error::NotFound)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: Uuid,
        patch: WebhookPatch,
    ) -> Result<Webhook, Error> {
        allow(caller, Action::ManageWebhooks)?;
        if let Some(url) = &patch.url {
            self.check_url(url).await?;
        }
        let at = now();
        let audit = Audit::by(caller, "webhook.update").target(id);
        let hook = self
            .0
            .store
            .write(move |tx| {
                let mut hook = tx.webhook(id)?.ok_or(Error::NotFound)?;
                if let Some(url) = &patch.url {
                    hook.url = url.to_string();
                }
                if let Some(d) = &patch.description {
                    hook.description = d.clone();
                }
                if let Some(t) = &patch.event_types {
                    hook.event_types = t.clone();
                }
                if let Some(enabled) = patch.enabled
                    && enabled != hook.enabled
                {
                    hook.enabled = enabled;
                    hook.disabled_reason = None;
                    hook.failing_since = None;
                    // Re-enabled after the log was pruned past its cursor:
                    // it resumes from the oldest entry kept.
                    hook.delivered_through =
                        hook.delivered_through.max(tx.changes_pruned_through()?);
                }
                hook.updated_at = Timestamp::from_datetime(at);
                tx.put_webhook(&hook)?;
                audit.write(tx, at)?;
                Ok::<_, Error>(hook)
            })
            .await?;
        self.touched();
        Ok(hook)
    }

    pub async fn delete(&self, caller: &Caller, id: Uuid) -> Result<(), Error> {
        allow(caller, Action::ManageWebhooks)?;
        let at = now();
        let audit = Audit::by(caller, "webhook.delete").target(id);
        self.0
            .store
            .write(move |tx| {
                if !tx.delete_webhook(id)? {
                    return Err(Error::NotFound);
                }
                audit.write(tx, at)
            })
            .await?;
        self.touched();
        Ok(())
    }

    /// A new signing secret; the old one still signs (a second signature)
    /// for `overlap`, so receivers can switch without losing a delivery.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        id: Uuid,
        overlap: Duration,
    ) -> Result<WebhookCreated, Error> {
        allow(caller, Action::ManageWebhooks)?;
        let (secret, key) = new_secret();
        let at = now();
        let stamp = Timestamp::from_datetime(at);
        let audit = Audit::by(caller, "webhook.rotate_secret").target(id);
        let hook = self
            .0
            .store
            .write(move |tx| {
                let mut hook = tx.webhook(id)?.ok_or(Error::NotFound)?;
                let until = stamp.after(overlap);
                let mut keys = vec![SigningKey {
                    key: key.clone(),
                    expires_at: None,
                }];
                if !overlap.is_zero() {
                    keys.extend(
                        hook.keys
                            .iter()
                            .filter(|k| k.expires_at.is_none_or(|t| t > stamp))
                            .map(|k| SigningKey {
                                key: k.key.clone(),
                                expires_at: Some(k.expires_at.map_or(until, |t| t.min(until))),
                            })
                            .take(2),
                    );
                }
                hook.keys = keys;
                hook.updated_at = stamp;
                tx.put_webhook(&hook)?;
                audit
                    .clone()
                    .detail(format!("old secret valid for {} s", overlap.as_secs()))
                    .write(tx, at)?;
                Ok::<_, Error>(hook)
            })
            .await?;
        Ok(self.created(hook, secret))
    }

    /// Sends a `webhook.test` event now (not recorded as a delivery).
    pub async fn test(&self, caller: &Caller, id: Uuid) -> Result<TestResult, Error> {
        let hook = self.get(caller, id)?;
        let msg_id = format!("test_{}", Uuid::now_v7());
        let body = serde_json::json!({
            "id": msg_id,
            "type": "webhook.test",
            "occurred_at": Timestamp::now().rfc3339(),
            "data": {"webhook_id": hook.id},
        })
        .to_string();
        let attempt = self
            .0
            .sender
            .send(
                &hook.url,
                hook.signing_keys(Timestamp::now()),
                &msg_id,
                &body,
            )
            .await;
        Ok(TestResult { attempt })
    }

    /// Deliveries of endpoint `id`, newest first, before event `before`;
    /// and the `before` of the next page.
    pub fn deliveries(
        &self,
        caller: &Caller,
        id: Uuid,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<u64>), Error> {
        allow(caller, Action::ManageWebhooks)?;
        let (hook, mut items) = self.0.store.read(|r| {
            Ok((
                r.webhook(id)?,
                r.deliveries(id, before, limit.saturating_add(1))?,
            ))
        })?;
        hook.ok_or(Error::NotFound)?;
        let next = match items.len() > limit {
            true => {
                items.truncate(limit);
                items.last().map(|d| d.event_id)
            }
            false => None,
        };
        Ok((items, next))
    }

    /// Attempts event `event`'s delivery to `id` again now, through the
    /// endpoint's own task (so it never races that task's attempt).
    pub async fn retry(&self, caller: &Caller, id: Uuid, event: u64) -> Result<Delivery, Error> {
        allow(caller, Action::ManageWebhooks)?;
        let (hook, delivery) = self
            .0
            .store
            .read(|r| Ok((r.webhook(id)?, r.delivery(id, event)?)))?;
        let hook = hook.ok_or(Error::NotFound)?;
        delivery.ok_or(Error::NotFound)?;
        if !hook.enabled {
            return Err(Error::StateConflict(
                "The webhook is disabled; enable it to retry its deliveries.",
            ));
        }
        let mailbox = self.0.tasks.lock().expect("tasks lock").get(&id).cloned();
        let mailbox = mailbox.ok_or(Error::Unavailable)?;
        let (reply, answer) = oneshot::channel();
        mailbox
            .send(Command::Retry { event, reply })
            .await
            .map_err(|_| Error::Unavailable)?;
        match tokio::time::timeout(TIMEOUT * 3, answer).await {
            Ok(Ok(result)) => result,
            _ => Err(Error::Unavailable),
        }
    }

    async fn check_url(&self, url: &url::Url) -> Result<(), Error> {
        self.0
            .sender
            .check_url(url)
            .await
            .map_err(|m| Error::Validation(vec![FieldError::new("url", m)]))
    }
}

/// A new secret as shown (`whsec_…`) and the key bytes it stands for.
fn new_secret() -> (String, Vec<u8>) {
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    (format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)), key)
}
