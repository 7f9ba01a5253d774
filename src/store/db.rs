//! The open database file: how it is opened (repaired after an unclean
//! shutdown, verified at start unless it was closed cleanly and not touched
//! since) and the slot that holds it, which only the writer thread may empty
//! and refill after an I/O error.
//!
//! Reads borrow the database through the slot's read lock for their whole
//! snapshot; nothing outside this module tree ever holds a redb handle.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use redb::{Database, ReadTransaction, ReadableDatabase};

use super::StoreError;
use super::sealed::SealerRef;
use super::tables::init_tables;

/// redb's page cache (bytes).
const CACHE_BYTES: usize = 128 * 1024 * 1024;

/// Beside the store file: written after a clean close, it holds the file's
/// size, inode and modification time then.
const CLOSED_NOTE: &str = "redb.closed";

/// The open database. Only the writer thread replaces it: after an I/O
/// error redb refuses every later operation on that handle (`PreviousIo`,
/// reads included), so the writer drops it and opens the file again, which
/// recovers from the last durable commit. Reads hold the read lock for their
/// whole snapshot, so a swap never pulls a database from under one.
pub(crate) struct Db {
    path: PathBuf,
    /// The data key, when the store is encrypted.
    pub(super) sealer: SealerRef,
    /// None between a failed reopen and the next successful one.
    slot: RwLock<Option<Database>>,
}

impl Db {
    /// The slot holding `db`, the file at `path`.
    pub(super) fn new(path: PathBuf, db: Database, sealer: SealerRef) -> Self {
        Self {
            path,
            sealer,
            slot: RwLock::new(Some(db)),
        }
    }

    pub(super) fn guard(&self) -> RwLockReadGuard<'_, Option<Database>> {
        self.slot.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error while no database is open (a reopen after an I/O error
    /// failed; the next write tries again).
    pub(super) fn gone() -> StoreError {
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
    pub(super) fn reopen(&self) -> Option<u64> {
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

impl Drop for Db {
    /// Closes the file and, if that worked, notes it (see [`closed_cleanly`]).
    fn drop(&mut self) {
        let slot = self.slot.get_mut().unwrap_or_else(PoisonError::into_inner);
        let Some(db) = slot.take() else { return };
        match db.close() {
            Ok(()) => {
                if let Some(print) = fingerprint(&self.path)
                    && let Err(e) = std::fs::write(self.path.with_extension(CLOSED_NOTE), print)
                {
                    tracing::warn!(path = %self.path.display(), error = %e,
                        "cannot note the clean close; the next start verifies the file");
                }
            }
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e,
                "the store did not close cleanly; the next start repairs it"),
        }
    }
}

/// What tells one version of the file from another without reading it.
fn fingerprint(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(format!(
            "{} {} {} {}",
            m.len(),
            m.ino(),
            m.mtime(),
            m.mtime_nsec()
        ))
    }
    #[cfg(not(unix))]
    {
        let t = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(format!("{} {}", m.len(), t.as_nanos()))
    }
}

/// Whether the store file at `path` is exactly as this program left it
/// when it last closed it cleanly. Takes the note away either way: from
/// here on the file is open, and only another clean close may vouch for it.
pub(super) fn closed_cleanly(path: &Path) -> bool {
    let note = path.with_extension(CLOSED_NOTE);
    let noted = std::fs::read_to_string(&note).ok();
    if noted.is_some()
        && let Err(e) = std::fs::remove_file(&note)
    {
        tracing::warn!(path = %note.display(), error = %e, "cannot remove the clean-close note");
        return false;
    }
    noted.is_some_and(|n| Some(n) == fingerprint(path))
}

#[derive(Debug, thiserror::Error)]
pub(super) enum OpenFailure {
    #[error("{0}")]
    Redb(#[from] redb::DatabaseError),
    /// redb trusts the header of a file it believes was shut down cleanly
    /// and may panic on one damaged outside it.
    #[error("the file is damaged ({0})")]
    Panicked(String),
}

/// Opens or creates the redb file, through its journal (see
/// [`super::journal`]), which is replayed first if it holds commits the
/// file lacks.
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
/// start. It reads the whole file once (about a second per GB) and fills
/// the page cache, so the store verifies at start only a file it did not
/// close cleanly itself ([`closed_cleanly`]: a copy, a restored backup, a
/// file written by another program since), never when the writer reopens
/// after an I/O error.
pub(super) fn open_database(path: &Path, verify: bool) -> Result<Database, OpenFailure> {
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
    let backend = super::journal::Journaled::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => {
            OpenFailure::Redb(redb::DatabaseError::DatabaseAlreadyOpen)
        }
        _ => OpenFailure::Redb(redb::StorageError::from(e).into()),
    })?;
    std::panic::catch_unwind(AssertUnwindSafe(|| builder.create_with_backend(backend)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn close_cleanly(dir: &Path) -> PathBuf {
        drop(crate::store::Store::open(dir).expect("opens"));
        dir.join("roster.redb")
    }

    #[test]
    fn a_clean_close_vouches_for_the_file_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = close_cleanly(dir.path());
        assert!(path.with_extension(CLOSED_NOTE).exists());
        assert!(closed_cleanly(&path));
        // The note is gone: an open that is never closed leaves none.
        assert!(!path.with_extension(CLOSED_NOTE).exists());
        assert!(!closed_cleanly(&path));
    }

    #[test]
    fn a_file_changed_after_the_clean_close_is_not_vouched_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = close_cleanly(dir.path());
        let bytes = std::fs::read(&path).expect("read");
        // The same bytes written again: only the modification time differs
        // (past a coarse clock's tick, for kernels without fine-grained
        // file timestamps).
        std::thread::sleep(std::time::Duration::from_millis(25));
        std::fs::write(&path, &bytes).expect("write");
        assert!(!closed_cleanly(&path));

        let path = close_cleanly(dir.path());
        let copy = dir.path().join("copy");
        std::fs::copy(&path, &copy).expect("copy");
        std::fs::rename(&copy, &path).expect("rename");
        assert!(!closed_cleanly(&path), "another inode");
    }
}
