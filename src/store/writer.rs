//! The single writer thread and its group commit: every write of the store
//! passes through here, is gathered with the writes waiting at that moment
//! into one transaction, and is answered only once that transaction is
//! durably committed (or has failed).
//!
//! A write that fails is dropped from its batch and the others are retried
//! without it, so one bad write never costs the others theirs. After an I/O
//! error the writer reopens the database (see [`Db::reopen`]) before it
//! takes the next batch.

use super::sealed::SealerRef;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::Database;
use tokio::sync::{mpsc, oneshot, watch};

use super::db::Db;
use super::{StoreError, Tx};

/// Most writes committed together; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer before senders are made to wait.
const QUEUE: usize = 4096;

/// What the store sends its writer.
pub(super) enum Msg {
    Job(Box<dyn Job>),
    Stop,
}

impl Msg {
    /// A write running `f`; its result (or the commit's error) goes to `reply`.
    pub(super) fn job<F, T, E>(f: F, reply: oneshot::Sender<Result<T, E>>) -> Self
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        Msg::Job(Box::new(TypedJob {
            f,
            out: None,
            reply,
        }))
    }
}

/// The running writer, as the store holds it.
pub(super) struct Writer {
    pub jobs: mpsc::Sender<Msg>,
    /// The last committed change sequence, published after each commit.
    pub committed: watch::Receiver<u64>,
    pub thread: JoinHandle<()>,
}

/// Starts the writer thread on `db`, whose change log ends at `last_seq`.
pub(super) fn start(db: Arc<Db>, last_seq: u64) -> std::io::Result<Writer> {
    let (jobs, rx) = mpsc::channel(QUEUE);
    let (seq_tx, committed) = watch::channel(last_seq);
    let thread = std::thread::Builder::new()
        .name("roster-writer".into())
        .spawn(move || writer_loop(&db, rx, &seq_tx))?;
    Ok(Writer {
        jobs,
        committed,
        thread,
    })
}

pub(super) trait Job: Send {
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
            Some(d) => commit_batch(d, &db.sealer, batch, &publish),
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
fn commit_batch(
    db: &Database,
    sealer: &SealerRef,
    mut batch: Vec<Box<dyn Job>>,
    publish: &impl Fn(u64),
) -> bool {
    loop {
        let txn = match db.begin_write() {
            Ok(t) => t,
            Err(e) => return fail_all(batch, e.into()),
        };
        let run = Tx::open(&txn, sealer).map(|mut tx| {
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
