//! The store: redb in `<data>/roster.redb`, the source of truth.
//!
//! Every write goes through one writer thread that gathers the writes waiting
//! at that moment into one transaction and commits it with immediate
//! durability (group commit): a caller is answered only after its write is on
//! disk, and concurrent writers share one fsync. Each write also appends to the
//! `changes` table in the same transaction; everything downstream (the search
//! index, event streams) follows that log by sequence number.
//!
//! This file holds the [`Store`] handle: opening, the write and read entry
//! points, shutdown. The rooms behind it:
//!
//! | module    | what it owns |
//! |-----------|--------------|
//! | `tables`  | table names and key/value types (the on-disk format), their creation |
//! | `db`      | opening and repairing the file; the slot the writer refills after an I/O error |
//! | `writer`  | the writer thread, group commit, retry without a failed write |
//! | `reads`   | point reads that open only the tables they need |
//! | `users`   | the `Tx`/`ReadTx` views: users, their indexes, the change log |
//! | `auth`    | credentials, sessions, refresh tokens, API keys, audit, meta |
//! | `outbox`  | jobs to run after their commit (mail), one-time tokens |
//! | `webhooks`| webhook endpoints, their deliveries, change-log pruning |
//! | `groups`  | groups, memberships both ways, the roles groups grant |
//! | `codec`   | record encoding (schema byte + postcard) |
//! | `sealed`  | tables whose values are sealed with the data key; unique indexes keyed by keyed hashes |
//! | `encryption` | the marker that says whether (and under which key) a file is encrypted; checked before any write |
//! | `rotate`  | changing the data key offline, resumably, by copying into a new file |
//! | `backup`  | backup and restore files |
//! | `check`   | the integrity check |
//! | `error`   | `StoreError` and its one conversion into the service's error |
//!
//! This module never imports axum or tantivy.

mod auth;
mod backup;
mod check;
mod codec;
mod db;
mod encryption;
mod error;
mod groups;
mod journal;
mod lazy;
pub(crate) mod mfa;
mod oauth;
mod outbox;
mod reads;
mod rotate;
pub(crate) mod sealed;
mod tables;
mod users;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{ReadTransaction, ReadableDatabase};

use crate::crypt::{Key, Sealer};
use tokio::sync::{mpsc, oneshot, watch};

use db::{Db, OpenFailure, closed_cleanly, open_database};
use tables::init_tables;
use writer::Msg;

pub use backup::{BackupSummary, RestoreError, restore};
pub use check::CheckReport;
pub use codec::Change;
#[doc(hidden)]
pub use codec::{decode_user_record, encode_user_record};
pub use error::StoreError;
pub use groups::IdPage;
pub use mfa::{Ceremony, CeremonyPurpose, Challenge};
pub use oauth::ReadOAuth;
pub use rotate::{RotateReport, rotate};
pub(crate) use tables::*;
pub use users::{Order, Position, ReadTx, Scan, ScanPage, Tx};

/// Opening the data dir failed; the message is meant for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(String);

/// A handle on the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Db>,
    path: PathBuf,
    jobs: mpsc::Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
    committed: watch::Receiver<u64>,
    /// Read transactions begun through [`Store::read`].
    reads: Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens (or creates) `<dir>/roster.redb` and starts the writer thread.
    ///
    /// A file left by a process that did not shut down cleanly is repaired
    /// first (see [`open_database`]); a file that is not a roster store, or is
    /// damaged beyond what repair handles, is an `OpenError` naming the file.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        Self::open_with(dir, None)
    }

    /// [`open`](Self::open) with the data key of an encrypted store (or of
    /// a new one to encrypt). A key that does not fit the file, or none for
    /// an encrypted file, is an `OpenError` before anything is written.
    pub fn open_with(dir: &Path, key: Option<Key>) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| OpenError(format!("cannot create data dir {}: {e}", dir.display())))?;
        let path = dir.join("roster.redb");
        if rotation_path(dir).exists() {
            return Err(OpenError(format!(
                "an encryption key rotation of {} did not finish: run `roster keys \
                 rotate-encryption-key` again with the same keys to complete it",
                dir.display()
            )));
        }
        let sealer = key.map(|k| Arc::new(Sealer::new(k)));
        encryption::precheck(&path, sealer.as_deref())?;
        let verify = !closed_cleanly(&path);
        let db = open_database(&path, verify).map_err(|e| match e {
            OpenFailure::Redb(redb::DatabaseError::DatabaseAlreadyOpen) => OpenError(format!(
                "data dir {} is in use by another roster process (stop it first)",
                dir.display()
            )),
            other => OpenError(format!("cannot open {}: {other}", path.display())),
        })?;
        restrict_permissions(dir, &path);
        // Before anything is written: a wrong or missing key changes nothing.
        let found = encryption::check(&db, sealer.as_deref(), &path)?;
        let last_seq = init_tables(&db).map_err(|e| {
            OpenError(format!(
                "cannot initialise {}: {e} (the file may be damaged; restore it from a backup)",
                path.display()
            ))
        })?;

        if found == encryption::Found::Empty
            && let Some(s) = &sealer
        {
            encryption::mark(&db, s)
                .map_err(|e| OpenError(format!("cannot write {}: {e}", path.display())))?;
        }
        let db = Arc::new(Db::new(path.clone(), db, sealer));
        let writer = writer::start(db.clone(), last_seq)
            .map_err(|e| OpenError(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                jobs: writer.jobs,
                writer: Mutex::new(Some(writer.thread)),
                committed: writer.committed,
                reads: Default::default(),
            }),
        })
    }

    /// Runs `f` in one write transaction shared with other concurrent writes,
    /// and returns its result once that transaction is durably committed.
    ///
    /// `f` may run more than once (when another write in the same batch fails,
    /// the batch is retried without it), so it must be deterministic given the
    /// store's content: take ids and timestamps from outside. If `f` returns an
    /// error, none of its changes are kept.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.inner
            .jobs
            .send(Msg::job(f, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a consistent snapshot. Blocking: for big scans call it
    /// from `spawn_blocking`.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&ReadTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.snapshot(|txn| f(&ReadTx::open(txn, &self.inner.db.sealer)?))
    }

    /// Runs `f` on a read transaction with the OAuth tables open too.
    pub fn read_oauth<T>(
        &self,
        f: impl FnOnce(&ReadTx, &ReadOAuth) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.snapshot(|txn| {
            let r = ReadTx::open(txn, &self.inner.db.sealer)?;
            let o = oauth::open_read(txn, &self.inner.db.sealer)?;
            f(&r, &o)
        })
    }

    /// How many reads this store has begun: what a request costs, measured
    /// (GraphQL's data loaders are tested with it).
    pub fn reads(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.inner.reads.clone()
    }

    /// Runs `f` on a read transaction. The guard is held for the whole read
    /// so that the writer cannot swap the database (after an I/O error)
    /// under a running read.
    fn snapshot<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.inner.db.guard();
        let txn = guard.as_ref().ok_or_else(Db::gone)?.begin_read()?;
        self.inner
            .reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f(&txn)
    }

    /// Whether the store is encrypted (its records sealed with a data key).
    pub fn is_encrypted(&self) -> bool {
        self.inner.db.sealer.is_some()
    }

    /// The data key's sealer, for the search index.
    pub fn sealer(&self) -> Option<Arc<Sealer>> {
        self.inner.db.sealer.clone()
    }

    /// Bytes the store's file takes on disk (0 if it cannot be read).
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.inner.path).map_or(0, |m| m.len())
    }

    /// The sequence number of the last committed change.
    pub fn committed_seq(&self) -> u64 {
        *self.inner.committed.borrow()
    }

    /// A receiver that sees every new committed sequence number.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.committed.clone()
    }

    /// Passes a no-op through the writer: proves that it is alive and the
    /// file writable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.write(|_tx| Ok::<(), StoreError>(())).await
    }

    /// Commits every write already queued, refuses new ones, and waits for the
    /// writer thread to end. Idempotent.
    pub async fn close(&self) {
        let _ = self.inner.jobs.send(Msg::Stop).await;
        let handle = self.inner.writer.lock().expect("writer lock").take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.jobs.try_send(Msg::Stop);
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

/// The store holds password hashes and the token signing keys: only the
/// owner may read the data dir and the database file.
fn restrict_permissions(dir: &Path, db: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for (p, mode) in [(dir, 0o700), (db, 0o600)] {
            if let Err(e) = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!(path = %p.display(), error = %e, "cannot restrict permissions");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, db);
}

/// The new file an encryption key rotation writes before it replaces the
/// store's (see `rotate`).
pub(crate) fn rotation_path(dir: &Path) -> PathBuf {
    dir.join("roster.redb.rotating")
}
