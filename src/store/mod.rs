//! The store: redb in `<data>/roster.redb`, the source of truth.
//!
//! Every write goes through one writer thread that gathers the writes waiting
//! at that moment into one transaction and commits it with immediate
//! durability (group commit): a caller is answered only after its write is on
//! disk, and concurrent writers share one fsync. Each write also appends to the
//! `changes` table in the same transaction; everything downstream (the search
//! index, event streams) follows that log by sequence number.
//!
//! This module never imports axum or tantivy.

mod auth;
mod backup;
mod check;
mod codec;
mod error;
mod users;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};

use crate::domain::{ApiKey, Session, User, UserId};
use tokio::sync::{mpsc, oneshot, watch};

pub use backup::{BackupSummary, RestoreError, restore};
pub use check::CheckReport;
pub use codec::{Change, from_micros, micros};
#[doc(hidden)]
pub use codec::{decode_user_record, encode_user_record};
pub use error::StoreError;
pub use users::{Order, Position, ReadTx, Scan, ScanPage, Tx};

pub(crate) const USERS: TableDefinition<u128, &[u8]> = TableDefinition::new("users");
pub(crate) const USERS_BY_EMAIL: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_email");
pub(crate) const USERS_BY_USERNAME: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_username");
pub(crate) const USERS_BY_CREATED: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("users_by_created");
pub(crate) const USERS_BY_ROLE: TableDefinition<(u8, u128), ()> =
    TableDefinition::new("users_by_role");
pub(crate) const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// user id → argon2id PHC string. Kept apart from the user record so that a
/// hash can never travel with a user by accident.
pub(crate) const CREDENTIALS: TableDefinition<u128, &str> = TableDefinition::new("credentials");
pub(crate) const SESSIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("sessions");
pub(crate) const SESSIONS_BY_USER: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("sessions_by_user");
/// SHA-256 of a refresh token → (session id, generation it was issued at).
pub(crate) const REFRESH_TOKENS: TableDefinition<&[u8], (u128, u32)> =
    TableDefinition::new("refresh_tokens");
pub(crate) const API_KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("api_keys");
pub(crate) const API_KEYS_BY_HASH: TableDefinition<&[u8], u128> =
    TableDefinition::new("api_keys_by_hash");
/// UUIDv7 (time-ordered) → audit entry.
pub(crate) const AUDIT: TableDefinition<u128, &[u8]> = TableDefinition::new("audit");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// redb's page cache (bytes).
const CACHE_BYTES: usize = 128 * 1024 * 1024;

/// Most writes committed together; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer before senders are made to wait.
const QUEUE: usize = 4096;

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
}

enum Msg {
    Job(Box<dyn Job>),
    Stop,
}

impl Store {
    /// Opens (or creates) `<dir>/roster.redb` and starts the writer thread.
    ///
    /// A file left by a process that did not shut down cleanly is repaired
    /// first (see [`open_database`]); a file that is not a roster store, or is
    /// damaged beyond what repair handles, is an `OpenError` naming the file.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| OpenError(format!("cannot create data dir {}: {e}", dir.display())))?;
        let path = dir.join("roster.redb");
        let db = open_database(&path, true).map_err(|e| match e {
            OpenFailure::Redb(redb::DatabaseError::DatabaseAlreadyOpen) => OpenError(format!(
                "data dir {} is in use by another roster process (stop it first)",
                dir.display()
            )),
            other => OpenError(format!("cannot open {}: {other}", path.display())),
        })?;
        restrict_permissions(dir, &path);
        let last_seq = init_tables(&db).map_err(|e| {
            OpenError(format!(
                "cannot initialise {}: {e} (the file may be damaged; restore it from a backup)",
                path.display()
            ))
        })?;

        let db = Arc::new(Db {
            path: path.clone(),
            slot: RwLock::new(Some(db)),
        });
        let (jobs, rx) = mpsc::channel(QUEUE);
        let (seq_tx, committed) = watch::channel(last_seq);
        let writer_db = db.clone();
        let writer = std::thread::Builder::new()
            .name("roster-writer".into())
            .spawn(move || writer_loop(&writer_db, rx, &seq_tx))
            .map_err(|e| OpenError(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                jobs,
                writer: Mutex::new(Some(writer)),
                committed,
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
        let job = Box::new(TypedJob {
            f,
            out: None,
            reply,
        });
        self.inner
            .jobs
            .send(Msg::Job(job))
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
        self.snapshot(|txn| f(&ReadTx::open(txn)?))
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
        f(&txn)
    }

    /// Users by id from one snapshot, opening only the users table. `read`
    /// opens every table, which costs more than the lookups themselves; the
    /// hot paths (`GET /users/{id}`, search hits) use this instead.
    pub fn get_users(&self, ids: &[UserId]) -> Result<Vec<Option<User>>, StoreError> {
        self.snapshot(|txn| {
            let table = txn.open_table(USERS)?;
            ids.iter().map(|&id| users::get_user(&table, id)).collect()
        })
    }

    /// Users in creation order (newest first with `newest_first`), skipping
    /// `offset`, from one snapshot and only the two tables read.
    pub fn users_by_creation(
        &self,
        newest_first: bool,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        self.snapshot(|txn| {
            let users = txn.open_table(USERS)?;
            let by_created = txn.open_table(USERS_BY_CREATED)?;
            let range = by_created.range::<(i64, u128)>(..)?;
            let keys: Box<dyn Iterator<Item = _>> = if newest_first {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            let mut out = Vec::with_capacity(limit);
            for entry in keys.skip(offset).take(limit) {
                let (key, _) = entry?;
                let (_, id) = key.value();
                if let Some(u) = users::get_user(&users, UserId::from_u128(id))? {
                    out.push(u);
                }
            }
            Ok(out)
        })
    }

    pub fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.get_users(&[id])?.pop().flatten())
    }

    /// The user and the session an access token names, from one snapshot
    /// and only their two tables (every request with a token asks).
    pub fn user_and_session(
        &self,
        user: UserId,
        session: uuid::Uuid,
    ) -> Result<(Option<User>, Option<Session>), StoreError> {
        self.snapshot(|txn| {
            let u = users::get_user(&txn.open_table(USERS)?, user)?;
            let s = match txn.open_table(SESSIONS)?.get(session.as_u128())? {
                Some(v) => Some(auth::decode::<Session>("session", v.value())?),
                None => None,
            };
            Ok((u, s))
        })
    }

    /// The API key whose secret hashes to `hash`, reading only its two tables.
    pub fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
        self.snapshot(|txn| {
            let Some(id) = txn
                .open_table(API_KEYS_BY_HASH)?
                .get(hash)?
                .map(|v| v.value())
            else {
                return Ok(None);
            };
            match txn.open_table(API_KEYS)?.get(id)? {
                Some(v) => Ok(Some(
                    auth::decode::<(ApiKey, Vec<u8>)>("api key", v.value())?.0,
                )),
                None => Ok(None),
            }
        })
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

/// Creates missing tables; returns the last change sequence.
fn init_tables(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(USERS)?;
        txn.open_table(USERS_BY_EMAIL)?;
        txn.open_table(USERS_BY_USERNAME)?;
        txn.open_table(USERS_BY_CREATED)?;
        txn.open_table(USERS_BY_ROLE)?;
        txn.open_table(CHANGES)?;
        txn.open_table(CREDENTIALS)?;
        txn.open_table(SESSIONS)?;
        txn.open_table(SESSIONS_BY_USER)?;
        txn.open_table(REFRESH_TOKENS)?;
        txn.open_table(API_KEYS)?;
        txn.open_table(API_KEYS_BY_HASH)?;
        txn.open_table(AUDIT)?;
        txn.open_table(META)?;
    }
    txn.commit()?;
    let read = db.begin_read()?;
    let changes = read.open_table(CHANGES)?;
    let last = changes.last()?.map(|(k, _)| k.value()).unwrap_or(0);
    Ok(last)
}

trait Job: Send {
    /// Runs the write; false if it failed (its error is kept for `finish`).
    fn run(&mut self, tx: &mut Tx<'_>) -> bool;
    /// Answers the caller: with its own result, or with the commit's error.
    fn finish(self: Box<Self>, commit_error: Option<&Arc<redb::Error>>);
}

struct TypedJob<F, T, E> {
    f: F,
    out: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for TypedJob<F, T, E>
where
    F: FnMut(&mut Tx<'_>) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) -> bool {
        // A panicking write must not take the writer thread (and so every
        // later write) down with it.
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| (self.f)(tx)))
            .unwrap_or_else(|_| Err(StoreError::Job("the write panicked".into()).into()));
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, commit_error: Option<&Arc<redb::Error>>) {
        let out = match (commit_error, self.out) {
            (Some(e), _) => Err(StoreError::Storage(e.clone()).into()),
            (None, Some(out)) => out,
            (None, None) => Err(StoreError::Job("the write never ran".into()).into()),
        };
        let _ = self.reply.send(out);
    }
}

/// The open database. Only the writer thread replaces it: after an I/O
/// error redb refuses every later operation on that handle (`PreviousIo`,
/// reads included), so the writer drops it and opens the file again, which
/// recovers from the last durable commit. Reads hold the read lock for their
/// whole snapshot, so a swap never pulls a database from under one.
pub(crate) struct Db {
    path: PathBuf,
    /// None between a failed reopen and the next successful one.
    slot: RwLock<Option<Database>>,
}

impl Db {
    fn guard(&self) -> RwLockReadGuard<'_, Option<Database>> {
        self.slot.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error while no database is open (a reopen after an I/O error
    /// failed; the next write tries again).
    fn gone() -> StoreError {
        StoreError::Storage(Arc::new(redb::Error::PreviousIo))
    }

    /// A read snapshot. It stays valid only while the database is not
    /// swapped: prefer `Store::read`, which holds the lock.
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.guard().as_ref().ok_or_else(Self::gone)?.begin_read()?)
    }

    /// Drops the database and opens the file again; returns the last change
    /// sequence if that worked. Only the writer thread calls this, between
    /// transactions, so no write transaction keeps the old handle (and its
    /// file lock) alive.
    fn reopen(&self) -> Option<u64> {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        // Closing a handle whose I/O failed writes nothing: the file keeps its
        // last durable commit, and the open below recovers it.
        drop(slot.take());
        let reopened = open_database(&self.path, false)
            .map_err(|e| e.to_string())
            .and_then(|db| Ok((init_tables(&db).map_err(|e| e.to_string())?, db)));
        match reopened {
            Ok((last_seq, db)) => {
                tracing::warn!(path = %self.path.display(), "store reopened after an I/O error");
                *slot = Some(db);
                Some(last_seq)
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e,
                    "cannot reopen the store after an I/O error; writes fail until it can");
                None
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum OpenFailure {
    #[error("{0}")]
    Redb(#[from] redb::DatabaseError),
    /// redb trusts the header of a file it believes was shut down cleanly
    /// and may panic on one damaged outside it.
    #[error("the file is damaged ({0})")]
    Panicked(String),
}

/// Opens or creates the redb file.
///
/// A file whose last writer did not shut down cleanly (killed, power loss,
/// I/O error) is marked as needing repair; redb then rebuilds its allocator
/// state by walking every table from the last commit whose checksums verify,
/// so no durable (acknowledged) commit is lost and nothing half-written is
/// kept. The callback only reports progress: aborting would leave the store
/// unusable.
///
/// With `verify`, the checksum of every page is checked as well, even after
/// a clean shutdown: redb trusts a cleanly closed file and may panic later on
/// one damaged outside it, while this turns such damage into an error at
/// start. It reads the whole file once (about a second per GB), so it is
/// done at start only, not when the writer reopens after an I/O error.
fn open_database(path: &Path, verify: bool) -> Result<Database, OpenFailure> {
    let shown = path.display().to_string();
    let mut builder = Database::builder();
    // redb's page cache defaults to 1 GiB, which would make the store alone
    // exceed roster's memory budget with a million users; reads past the
    // cache come from the OS page cache.
    builder.set_cache_size(CACHE_BYTES);
    builder.set_check_integrity_on_open(verify);
    let what = if verify {
        "verifying the store file (and repairing it if it was not shut down cleanly)"
    } else {
        "repairing the store after an unclean shutdown"
    };
    builder.set_repair_callback(move |session| {
        tracing::info!(
            path = %shown,
            progress = format!("{:.0}%", session.progress() * 100.0),
            "{what}"
        );
    });
    std::panic::catch_unwind(AssertUnwindSafe(|| builder.create(path)))
        .map_err(|p| {
            let why = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("redb panicked");
            OpenFailure::Panicked(why.to_owned())
        })?
        .map_err(OpenFailure::from)
}

fn writer_loop(db: &Db, mut rx: mpsc::Receiver<Msg>, committed: &watch::Sender<u64>) {
    let publish = |last_seq: u64| {
        committed.send_if_modified(|s| {
            let changed = *s != last_seq;
            *s = last_seq;
            changed
        });
    };
    // After Stop the channel is closed: what is already queued is still
    // received and committed, then `blocking_recv` returns None.
    while let Some(first) = rx.blocking_recv() {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Job(j) => batch.push(j),
                Msg::Stop => rx.close(),
            }
            next = if batch.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if batch.is_empty() {
            continue;
        }
        // (Not one `if` with the guard inside: its temporary would hold the
        // read lock that `reopen` needs.)
        let closed = db.guard().is_none();
        if closed && let Some(seq) = db.reopen() {
            publish(seq);
        }
        let io_failed = match db.guard().as_ref() {
            Some(d) => commit_batch(d, batch, &publish),
            None => {
                fail_all(batch, redb::Error::PreviousIo);
                false
            }
        };
        // The failed transaction's writes were answered with the error (a
        // 503); reopening now lets the next ones through once the disk
        // allows. A commit whose final sync failed may still have reached the
        // file: the reopened log says what is durable.
        if io_failed && let Some(seq) = db.reopen() {
            publish(seq);
        }
    }
}

fn is_io(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
}

/// Commits `batch`; true if an I/O error broke the database handle.
fn commit_batch(db: &Database, mut batch: Vec<Box<dyn Job>>, publish: &impl Fn(u64)) -> bool {
    loop {
        let txn = match db.begin_write() {
            Ok(t) => t,
            Err(e) => return fail_all(batch, e.into()),
        };
        let run = Tx::open(&txn).map(|mut tx| {
            let failed = batch.iter_mut().position(|job| !job.run(&mut tx));
            (failed, tx.last_seq())
        });
        match run {
            Err(e) => {
                let _ = txn.abort();
                let e = match e {
                    StoreError::Storage(e) => e,
                    other => Arc::new(redb::Error::Corrupted(other.to_string())),
                };
                batch.into_iter().for_each(|j| j.finish(Some(&e)));
                return is_io(&e);
            }
            Ok((Some(i), _)) => {
                // Drop the failed write's partial changes with the whole
                // transaction, answer it, and retry the others without it.
                // Its error may have been an I/O error, which the next
                // `begin_write` reports as `PreviousIo`: probe for that when
                // no retry follows.
                let _ = txn.abort();
                batch.remove(i).finish(None);
                if batch.is_empty() {
                    return db.begin_write().is_err_and(|e| is_io(&e.into()));
                }
            }
            Ok((None, last_seq)) => {
                return match txn.commit() {
                    Ok(()) => {
                        publish(last_seq);
                        batch.into_iter().for_each(|j| j.finish(None));
                        false
                    }
                    Err(e) => fail_all(batch, e.into()),
                };
            }
        }
    }
}

/// Answers every write with `e`; true if it is an I/O error.
fn fail_all(batch: Vec<Box<dyn Job>>, e: redb::Error) -> bool {
    tracing::error!(error = %e, writes = batch.len(), "write transaction failed");
    let io = is_io(&e);
    let e = Arc::new(e);
    batch.into_iter().for_each(|j| j.finish(Some(&e)));
    io
}
