//! Tables a write transaction opens on first use.
//!
//! Why: every table a write transaction opens costs a lookup in redb's
//! table tree when it is opened and a pass over its root when the
//! transaction commits, whether or not it was written. A user's create or
//! patch touches the user tables, the change log and the audit; the
//! outbox, webhooks, second factors, groups and OAuth tables are opened
//! only by the writes that use them (the first to ask opens them for the
//! rest of its batch).

use redb::WriteTransaction;

use super::StoreError;
use super::groups::WriteGroups;
use super::mfa::WriteMfa;
use super::oauth::WriteOAuth;
use super::outbox::WriteOutbox;
use super::sealed::SealerRef;
use super::webhooks::WriteWebhooks;

/// The groups of tables a write transaction opens on first use.
pub(crate) struct Deferred<'t> {
    pub outbox: Lazy<'t, WriteOutbox<'t>>,
    pub webhooks: Lazy<'t, WriteWebhooks<'t>>,
    pub mfa: Lazy<'t, WriteMfa<'t>>,
    pub groups: Lazy<'t, WriteGroups<'t>>,
    pub oauth: Lazy<'t, WriteOAuth<'t>>,
}

impl<'t> Deferred<'t> {
    pub(super) fn new(txn: &'t WriteTransaction, sealer: &SealerRef) -> Self {
        Self {
            outbox: Lazy::new(txn, sealer, super::outbox::open_write),
            webhooks: Lazy::new(txn, sealer, super::webhooks::open_write),
            mfa: Lazy::new(txn, sealer, super::mfa::open_write),
            groups: Lazy::new(txn, sealer, super::groups::open_write),
            oauth: Lazy::new(txn, sealer, super::oauth::open_write),
        }
    }
}

/// One group of tables of a write transaction, opened by its first use.
pub(crate) struct Lazy<'t, T> {
    txn: &'t WriteTransaction,
    sealer: SealerRef,
    open: fn(&'t WriteTransaction, &SealerRef) -> Result<T, StoreError>,
    tables: Option<T>,
}

impl<'t, T> Lazy<'t, T> {
    fn new(
        txn: &'t WriteTransaction,
        sealer: &SealerRef,
        open: fn(&'t WriteTransaction, &SealerRef) -> Result<T, StoreError>,
    ) -> Self {
        Self {
            txn,
            sealer: sealer.clone(),
            open,
            tables: None,
        }
    }

    /// The tables, opened now if this transaction has not used them yet.
    pub(super) fn get(&mut self) -> Result<&mut T, StoreError> {
        if self.tables.is_none() {
            self.tables = Some((self.open)(self.txn, &self.sealer)?);
        }
        Ok(self.tables.as_mut().expect("just opened"))
    }
}
