//! The change log seen from outside: events read back by id for the
//! stream (`GET /api/v1/events`) and the webhooks, and the retention that
//! prunes the log once nothing needs its oldest entries.
//!
//! Every event is read from the log, never from a side channel, so a
//! reader that resumes after id N gets exactly the entries after N: no
//! gap, no duplicate, whether it was connected while they were written or
//! not. Commits wake readers through the store's sequence watch.

use std::time::Duration;

use tokio::sync::watch;

use crate::auth::policy::{Action, Caller};
use crate::domain::{Event, EventType, GroupId, Subject, Timestamp, UserId, type_wanted};
use crate::error::Error;
use crate::store::{Change, ReadTx, Store, StoreError};

use super::Search;
use super::allow;

/// How often the retention pass runs.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Changes removed per transaction, so pruning never holds the writer long.
const PRUNE_CHUNK: usize = 2_000;

/// Where a reader may resume: any id from `pruned_through` to `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSpan {
    pub pruned_through: u64,
    pub last: u64,
}

impl LogSpan {
    /// Whether the entries after `after` are all still in the log.
    pub fn can_resume(&self, after: u64) -> bool {
        after >= self.pruned_through && after <= self.last
    }
}

#[derive(Clone)]
pub struct Events {
    store: Store,
    /// True once the server is stopping: streams end so it can.
    closing: watch::Receiver<bool>,
}

impl Events {
    pub fn new(store: Store, closing: watch::Receiver<bool>) -> Self {
        Self { store, closing }
    }

    /// May `caller` follow the stream? (Asked once, at connection.)
    pub fn authorize(&self, caller: &Caller) -> Result<(), Error> {
        allow(caller, Action::ReadEvents)
    }

    pub fn span(&self) -> Result<LogSpan, Error> {
        Ok(self.store.read(|r| {
            Ok(LogSpan {
                pruned_through: r.changes_pruned_through()?,
                last: r.last_seq()?,
            })
        })?)
    }

    /// Up to `limit` log entries after `after`, the events among them that
    /// pass `types`, and the id the next read starts after.
    pub fn read(
        &self,
        after: u64,
        limit: usize,
        types: &[EventType],
    ) -> Result<(Vec<Event>, u64), Error> {
        Ok(self.store.read(|r| read_events(r, after, limit, types))?)
    }

    /// Sees every commit's last sequence number.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.store.subscribe()
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.clone()
    }
}

/// [`Events::read`] on a snapshot.
pub(crate) fn read_events(
    r: &ReadTx,
    after: u64,
    limit: usize,
    types: &[EventType],
) -> Result<(Vec<Event>, u64), StoreError> {
    let changes = r.changes_since(after, limit)?;
    let next = changes.last().map_or(after, |(seq, _)| *seq);
    let mut out = Vec::new();
    for (seq, c) in changes {
        if type_wanted(types, c.kind) {
            out.push(event(r, seq, c)?);
        }
    }
    Ok((out, next))
}

fn event(r: &ReadTx, seq: u64, c: Change) -> Result<Event, StoreError> {
    let subject = if c.kind.is_group() {
        Subject::Group(GroupId::from_u128(c.id), c.group()?)
    } else {
        let user_id = UserId::from_u128(c.id);
        // Entries from before snapshots were kept show the user as it is now.
        let user = match c.user()? {
            Some(u) => Some(u),
            None => r.get_user(user_id)?,
        };
        Subject::User(user_id, user)
    };
    Ok(Event {
        id: seq,
        kind: c.kind,
        occurred_at: c.at,
        subject,
        changed_fields: c.fields,
    })
}

/// Prunes the change log every minute until `stop`: entries older than
/// `retention` that the index has applied and every enabled webhook has
/// delivered. A disabled endpoint does not hold the log back (it could
/// for ever); re-enabled, it resumes from the oldest entry still kept.
pub async fn retain(
    store: Store,
    search: Search,
    retention: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = prune(&store, &search, retention).await {
            tracing::warn!(error = %e, "change log pruning failed; retried later");
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One retention pass, in chunks; returns how many entries went.
pub async fn prune(store: &Store, search: &Search, retention: Duration) -> Result<usize, Error> {
    let cutoff = Timestamp::now().before(retention);
    let indexed = search.status().indexed_seq;
    let webhooks = store.read(|r| {
        Ok(r.webhooks()?
            .into_iter()
            .filter(|w| w.enabled)
            .map(|w| w.delivered_through)
            .min())
    })?;
    let through = webhooks.map_or(indexed, |w| w.min(indexed));
    let mut total = 0;
    loop {
        let n = store
            .write(move |tx| tx.prune_changes(through, cutoff, PRUNE_CHUNK))
            .await?;
        total += n;
        if n < PRUNE_CHUNK {
            break;
        }
    }
    if total > 0 {
        tracing::info!(pruned = total, through, "change log pruned");
    }
    Ok(total)
}
