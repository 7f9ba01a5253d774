//! Webhook endpoints, their deliveries, and the pruning of the change log
//! they follow. An endpoint's cursor (`delivered_through`) lives in its
//! record; a delivery row is written at its first attempt, keyed by
//! (endpoint, event id) so an endpoint's deliveries read in event order.

use redb::{ReadOnlyTable, ReadableTable, Table};
use uuid::Uuid;

use crate::domain::{Delivery, Timestamp, Webhook};

use super::StoreError;
use super::auth::{decode, encode};
use super::codec;
use super::sealed::Sealed;
use super::users::{ReadTx, Tx};

/// META key: the highest change sequence pruned from the log (0: none).
const PRUNED_THROUGH: &str = "changes_pruned_through";

pub(crate) struct WebhookTables<W, D> {
    pub hooks: Sealed<u128, W>,
    pub deliveries: Sealed<(u128, u64), D>,
}

pub(crate) type WriteWebhooks<'t> =
    WebhookTables<Table<'t, u128, &'static [u8]>, Table<'t, (u128, u64), &'static [u8]>>;

pub(crate) type ReadWebhooks =
    WebhookTables<ReadOnlyTable<u128, &'static [u8]>, ReadOnlyTable<(u128, u64), &'static [u8]>>;

/// Opens the webhook tables in a read or a write transaction.
macro_rules! open_webhook_tables {
    ($txn:expr, $sealer:expr) => {
        $crate::store::webhooks::WebhookTables {
            hooks: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::WEBHOOKS)?,
                "webhooks",
                $sealer,
            ),
            deliveries: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::WEBHOOK_DELIVERIES)?,
                "webhook_deliveries",
                $sealer,
            ),
        }
    };
}
pub(crate) use open_webhook_tables;

/// Opens the tables in a write transaction (on first use: see `lazy`).
pub(super) fn open_write<'t>(
    txn: &'t redb::WriteTransaction,
    sealer: &super::sealed::SealerRef,
) -> Result<WriteWebhooks<'t>, StoreError> {
    Ok(open_webhook_tables!(txn, sealer))
}

impl<W, D> WebhookTables<W, D>
where
    W: ReadableTable<u128, &'static [u8]>,
    D: ReadableTable<(u128, u64), &'static [u8]>,
{
    fn get(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        match self.hooks.get(id.as_u128())? {
            Some(v) => decode("webhook", v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn all(&self) -> Result<Vec<Webhook>, StoreError> {
        let mut out = Vec::new();
        for entry in self.hooks.iter()? {
            out.push(decode("webhook", entry?.1.value())?);
        }
        Ok(out)
    }

    fn delivery(&self, hook: Uuid, event: u64) -> Result<Option<Delivery>, StoreError> {
        match self.deliveries.get((hook.as_u128(), event))? {
            Some(v) => decode("delivery", v.value()).map(Some),
            None => Ok(None),
        }
    }
}

macro_rules! webhook_reads {
    () => {
        pub fn webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
            self.webhooks.get(id)
        }

        /// Every endpoint, oldest first (ids are UUIDv7).
        pub fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
            self.webhooks.all()
        }

        pub fn delivery(&self, hook: Uuid, event: u64) -> Result<Option<Delivery>, StoreError> {
            self.webhooks.delivery(hook, event)
        }
    };
}

impl ReadTx {
    webhook_reads!();

    /// The highest sequence pruned from the change log; the log holds every
    /// change after it.
    pub fn changes_pruned_through(&self) -> Result<u64, StoreError> {
        pruned_through(self.meta(PRUNED_THROUGH)?)
    }

    /// Up to `limit` deliveries of `hook` before event `before`, newest first.
    pub fn deliveries(
        &self,
        hook: Uuid,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let h = hook.as_u128();
        let end = before.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for entry in self
            .webhooks
            .deliveries
            .range((h, 0)..(h, end))?
            .rev()
            .take(limit)
        {
            out.push(decode("delivery", entry?.1.value())?);
        }
        Ok(out)
    }
}

fn pruned_through(meta: Option<Vec<u8>>) -> Result<u64, StoreError> {
    Ok(meta
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes))
}

impl Tx<'_> {
    pub fn webhook(&mut self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        self.lazy.webhooks.get()?.get(id)
    }

    /// Every endpoint, oldest first (ids are UUIDv7).
    pub fn webhooks(&mut self) -> Result<Vec<Webhook>, StoreError> {
        self.lazy.webhooks.get()?.all()
    }

    pub fn delivery(&mut self, hook: Uuid, event: u64) -> Result<Option<Delivery>, StoreError> {
        self.lazy.webhooks.get()?.delivery(hook, event)
    }

    pub fn changes_pruned_through(&self) -> Result<u64, StoreError> {
        pruned_through(self.meta(PRUNED_THROUGH)?)
    }

    pub fn put_webhook(&mut self, w: &Webhook) -> Result<(), StoreError> {
        self.lazy
            .webhooks
            .get()?
            .hooks
            .insert(w.id.as_u128(), encode(w).as_slice())?;
        Ok(())
    }

    /// Removes an endpoint and its deliveries; false if it was gone.
    pub fn delete_webhook(&mut self, id: Uuid) -> Result<bool, StoreError> {
        let h = id.as_u128();
        let t = self.lazy.webhooks.get()?;
        t.deliveries
            .raw
            .retain_in((h, 0)..=(h, u64::MAX), |_, _| false)?;
        Ok(t.hooks.remove(h)?.is_some())
    }

    pub fn put_delivery(&mut self, hook: Uuid, d: &Delivery) -> Result<(), StoreError> {
        self.lazy
            .webhooks
            .get()?
            .deliveries
            .insert((hook.as_u128(), d.event_id), encode(d).as_slice())?;
        Ok(())
    }

    /// Removes up to `limit` of the oldest changes that are at most
    /// `through` and older than `cutoff`, with the deliveries of those
    /// events; returns how many changes went. The newest change always
    /// stays: the log's last key is where the sequence goes on from (at
    /// open and in every write transaction), so an emptied log would hand
    /// out used ids again.
    pub fn prune_changes(
        &mut self,
        through: u64,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let newest = self.changes.raw.last()?.map_or(0, |(k, _)| k.value());
        let through = through.min(newest.saturating_sub(1));
        let mut last = None;
        let mut n = 0;
        for entry in self.changes.range(..=through)?.take(limit) {
            let (k, v) = entry?;
            let seq = k.value();
            let change = codec::decode_change(seq, v.value())?;
            if change.at.is_some_and(|at| at >= cutoff) {
                break;
            }
            last = Some(seq);
            n += 1;
        }
        let Some(last) = last else { return Ok(0) };
        self.changes.raw.retain_in(..=last, |_, _| false)?;
        let t = self.lazy.webhooks.get()?;
        for hook in t.all()? {
            let h = hook.id.as_u128();
            t.deliveries
                .raw
                .retain_in((h, 0)..=(h, last), |_, _| false)?;
        }
        self.set_meta(PRUNED_THROUGH, &last.to_le_bytes())?;
        Ok(n)
    }
}
