//! The store file's journal: a durable commit costs one sequential write and
//! one sync of a log beside the file, instead of a sync of the file itself.
//!
//! Why: a commit of one user rewrites some twenty pages scattered over
//! `roster.redb` (each table's path from leaf to root, the table tree,
//! redb's records of freed pages). Syncing the file makes the disk write
//! each of them where it lies; the same bytes appended to a log are one
//! write, and the file's own sync can then wait and gather many commits'
//! pages (a page rewritten by each of them is written once).
//!
//! How: [`Journaled`] is the store's redb storage backend. Every write goes
//! to the file at once (so reads see it) and is also kept; when redb syncs
//! (the end of each durable commit) what it wrote since its last sync is
//! appended to `roster.redb.journal` as one checksummed record, and only
//! the journal is synced. The journal has two regions: records go to one
//! until it is full, then to the other, while a background thread syncs
//! the file (which makes the full region's records redundant) and voids
//! that region with a new epoch in its header. Commits wait only if a region
//! fills before the other is void. A commit too large to log (an import's)
//! and the close sync the file itself.
//!
//! After a crash, before redb opens the file, the complete records of both
//! regions are written into the file, the older epoch's first, each in
//! order ([`replay`]): that gives it back every commit redb saw synced. A
//! record torn by the crash fails its checksum and ends its region's
//! replay, as redb ignores a commit whose sync never returned; redb's own
//! recovery then runs as on any file.
//!
//! The journal is zeroed when created: overwriting written blocks needs no
//! change to the file's metadata, so a record's sync is one write too.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use redb::StorageBackend;
use redb::backends::FileBackend;

#[cfg(test)]
mod tests;

/// A region's header block; its records follow it.
const BLOCK: u64 = 4096;
/// Each of the two regions, header included.
const REGION: u64 = 2 << 20;
/// A sync with more than this written (an import's commit) syncs the file
/// instead of logging: its own sync is cheaper than writing it all twice.
const LARGEST_RECORD: usize = 1 << 20;

const JOURNAL_MAGIC: &[u8; 8] = b"RSTRJNL2";
const RECORD_MAGIC: u32 = 0x4C4E_4A52;
/// magic, op count, epoch, sequence, payload length, checksum.
const RECORD_HEAD: usize = 4 + 4 + 8 + 8 + 4 + 4;
const OP_WRITE: u8 = 1;
const OP_SET_LEN: u8 = 2;

/// Where the journal of the store file at `path` lives: beside it, its
/// name with `.journal` added.
pub(super) fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// Removes the journal of `path`, once `path` was replaced by another file
/// (a restore, a rotation). A journal names its file's inode and is never
/// replayed onto another, but an inode can be reused.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(journal_path(path)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `buf`, emptied, with room for a record's head.
fn empty_record(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    buf.resize(RECORD_HEAD, 0);
    buf
}

fn start(region: usize) -> u64 {
    region as u64 * REGION
}

/// redb's file backend with a journal (see the module docs).
#[derive(Debug)]
pub(super) struct Journaled {
    shared: Arc<Shared>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    file: FileBackend,
    journal: File,
    /// The main file's inode, which the regions' headers name: a journal
    /// left beside another file (a restored backup) is never replayed.
    inode: u64,
    state: Mutex<State>,
    /// Signalled when `retiring` or `stop` changes.
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// The last epoch handed to a region (voiding one takes a new epoch
    /// too).
    epoch: u64,
    /// The region records go to, its epoch (which its records carry), the
    /// next record's number there and where it goes.
    active: usize,
    active_epoch: u64,
    seq: u64,
    at: u64,
    /// The other region still holds records the file may lack: the
    /// checkpointer is syncing the file.
    retiring: bool,
    /// Why the checkpointer failed: every later sync fails with it (the
    /// store then reopens the file, which replays the journal).
    failed: Option<String>,
    stop: bool,
    /// What redb wrote since its last sync, as a record: room for its head
    /// (filled in at the sync), then the payload. None once that passed
    /// `LARGEST_RECORD` (the sync then syncs the file).
    pending: Option<Vec<u8>>,
    ops: u32,
    /// Tests hold the checkpointer back to see both regions in use.
    #[cfg(test)]
    hold: bool,
}

impl State {
    /// Whether the checkpointer has nothing to do.
    fn idle(&self) -> bool {
        #[cfg(test)]
        if self.hold && !self.stop {
            return true;
        }
        !self.retiring && !self.stop
    }
}

impl Journaled {
    /// Opens (or creates) the store file at `path` and its journal, and
    /// replays what the journal holds for it.
    pub(super) fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let journal = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(journal_path(path))?;
        // One process at a time: replaying or voiding the journal of a
        // store another process has open would lose its commits.
        journal.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
            std::fs::TryLockError::Error(e) => e,
        })?;
        let inode = file.metadata()?.ino();
        let replayed = replay(&file, &journal, inode)?;
        if replayed.records > 0 {
            tracing::info!(path = %path.display(), records = replayed.records,
                "store journal replayed after an unclean shutdown");
        }
        let len = journal.metadata()?.len();
        if len < 2 * REGION {
            let zeros = vec![0u8; (2 * REGION - len) as usize];
            journal.write_all_at(&zeros, len)?;
        }
        // Above every epoch this journal used, for any file: records left
        // from an earlier one must never pass for this epoch's.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut epoch = replayed.epoch.max(now);
        for region in [1, 0] {
            epoch += 1;
            write_header(&journal, region, epoch, inode)?;
        }
        // Both names must survive a power loss before a commit relies on the
        // journal: a file created here, or a journal without its file.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
        let shared = Arc::new(Shared {
            file: FileBackend::new(file).map_err(io::Error::other)?,
            journal,
            inode,
            state: Mutex::new(State {
                epoch,
                active: 0,
                active_epoch: epoch,
                seq: 0,
                at: BLOCK,
                retiring: false,
                failed: None,
                stop: false,
                pending: Some(empty_record(Vec::new())),
                ops: 0,
                #[cfg(test)]
                hold: false,
            }),
            changed: Condvar::new(),
        });
        let worker = shared.clone();
        let checkpointer = std::thread::Builder::new()
            .name("roster-journal".into())
            .spawn(move || worker.checkpoints())?;
        Ok(Self {
            shared,
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }
}

impl Drop for Journaled {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.changed.notify_all();
    }
}

/// Writes region `region`'s header (a new epoch: its records are void) and
/// syncs it.
fn write_header(journal: &File, region: usize, epoch: u64, inode: u64) -> io::Result<()> {
    let mut head = Vec::with_capacity(28);
    head.extend_from_slice(JOURNAL_MAGIC);
    head.extend_from_slice(&epoch.to_le_bytes());
    head.extend_from_slice(&inode.to_le_bytes());
    let sum = crc32fast::hash(&head);
    head.extend_from_slice(&sum.to_le_bytes());
    journal.write_all_at(&head, start(region))?;
    journal.sync_data()
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the other region is void (or the checkpointer failed).
    fn settled<'a>(&self, state: MutexGuard<'a, State>) -> io::Result<MutexGuard<'a, State>> {
        let state = self
            .changed
            .wait_while(state, |s| s.retiring && s.failed.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        match &state.failed {
            Some(why) => Err(io::Error::other(why.clone())),
            None => Ok(state),
        }
    }

    /// Once the other region is void, syncs the file and voids the active
    /// region: nothing in the journal is needed any more.
    fn sync_file(&self, state: MutexGuard<'_, State>) -> io::Result<()> {
        let mut state = self.settled(state)?;
        self.file.sync_data()?;
        state.epoch += 1;
        write_header(&self.journal, state.active, state.epoch, self.inode)?;
        state.active_epoch = state.epoch;
        state.seq = 0;
        state.at = start(state.active) + BLOCK;
        state.pending = Some(empty_record(Vec::new()));
        state.ops = 0;
        Ok(())
    }

    /// The background thread: each time a region is full, syncs the file
    /// and voids that region.
    fn checkpoints(&self) {
        loop {
            let state = self
                .changed
                .wait_while(self.state(), |s| s.idle())
                .unwrap_or_else(PoisonError::into_inner);
            if !state.retiring {
                return;
            }
            drop(state);
            let synced = self.file.sync_data();
            let mut state = self.state();
            let voided = synced.and_then(|()| {
                state.epoch += 1;
                write_header(&self.journal, 1 - state.active, state.epoch, self.inode)
            });
            let failed = voided.is_err();
            match voided {
                Ok(()) => state.retiring = false,
                Err(e) => {
                    tracing::error!(error = %e, "store journal checkpoint failed");
                    state.failed = Some(format!("store journal checkpoint: {e}"));
                }
            }
            drop(state);
            self.changed.notify_all();
            if failed {
                return;
            }
        }
    }

    fn note(state: &mut State, op: u8, offset: u64, data: &[u8]) {
        let Some(p) = state.pending.as_mut() else {
            return;
        };
        if p.len() - RECORD_HEAD + data.len() > LARGEST_RECORD {
            state.pending = None;
            return;
        }
        p.push(op);
        p.extend_from_slice(&offset.to_le_bytes());
        p.extend_from_slice(&(data.len() as u32).to_le_bytes());
        p.extend_from_slice(data);
        state.ops += 1;
    }

    fn sync(&self) -> io::Result<()> {
        let mut state = self.state();
        if let Some(why) = &state.failed {
            return Err(io::Error::other(why.clone()));
        }
        let Some(len) = state.pending.as_ref().map(Vec::len) else {
            // Too much for one record: the file's own sync.
            return self.sync_file(state);
        };
        if state.ops == 0 {
            return Ok(());
        }
        if state.at + len as u64 > start(state.active) + REGION {
            // This region is full: on to the other, once it is void; the
            // checkpointer retires this one.
            state = self.settled(state)?;
            state.epoch += 1;
            let next = 1 - state.active;
            write_header(&self.journal, next, state.epoch, self.inode)?;
            state.active = next;
            state.active_epoch = state.epoch;
            state.seq = 0;
            state.at = start(next) + BLOCK;
            state.retiring = true;
            self.changed.notify_all();
        }
        let Some(mut record) = state.pending.take() else {
            // Written to past `LARGEST_RECORD` while this waited.
            return self.sync_file(state);
        };
        // The head goes in the room left for it: the payload is not copied.
        let payload = (record.len() - RECORD_HEAD) as u32;
        let head = &mut record[..RECORD_HEAD];
        head[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        head[4..8].copy_from_slice(&state.ops.to_le_bytes());
        head[8..16].copy_from_slice(&state.active_epoch.to_le_bytes());
        head[16..24].copy_from_slice(&state.seq.to_le_bytes());
        head[24..28].copy_from_slice(&payload.to_le_bytes());
        let mut sum = crc32fast::Hasher::new();
        sum.update(&record[..RECORD_HEAD - 4]);
        sum.update(&record[RECORD_HEAD..]);
        record[RECORD_HEAD - 4..RECORD_HEAD].copy_from_slice(&sum.finalize().to_le_bytes());
        self.journal.write_all_at(&record, state.at)?;
        self.journal.sync_data()?;
        state.at += record.len() as u64;
        state.seq += 1;
        state.ops = 0;
        // A group commit's large buffer is not kept for the small ones.
        if record.capacity() > 256 << 10 {
            record = Vec::new();
        }
        state.pending = Some(empty_record(record));
        Ok(())
    }
}

impl StorageBackend for Journaled {
    fn len(&self) -> Result<u64, io::Error> {
        self.shared.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.shared.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.shared.state();
        self.shared.file.set_len(len)?;
        Shared::note(&mut state, OP_SET_LEN, len, &[]);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.shared.state();
        self.shared.file.write(offset, data)?;
        Shared::note(&mut state, OP_WRITE, offset, data);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.shared.sync()
    }

    fn close(&self) -> Result<(), io::Error> {
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let synced = self.shared.sync_file(self.shared.state());
        self.shared.state().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = checkpointer {
            let _ = t.join();
        }
        let closed = self.shared.file.close();
        synced.and(closed)
    }

    fn try_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.shared.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.shared.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.shared.file.lock_range(start, end)
    }

    fn lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.shared.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.shared.file.unlock_range(start, end)
    }

    fn query_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.shared.file.query_lock_range(start, end)
    }
}

struct Replayed {
    /// The highest epoch in a region's header (of this file or another).
    epoch: u64,
    records: usize,
}

/// Writes the journal's complete records for `file` into it, the region of
/// the older epoch first, and syncs it. A region's replay stops at the
/// first record that is torn, of another epoch or out of sequence:
/// everything before it is what redb saw synced.
fn replay(file: &File, journal: &File, inode: u64) -> io::Result<Replayed> {
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let mut regions = Vec::new();
    let mut highest = 0;
    for region in 0..2 {
        let mut head = [0u8; 28];
        if journal.read_exact_at(&mut head, start(region)).is_err()
            || &head[..8] != JOURNAL_MAGIC
            || crc32fast::hash(&head[..24]) != u32::from_le_bytes(head[24..].try_into().expect("4"))
        {
            continue;
        }
        highest = highest.max(word(&head, 8));
        if word(&head, 16) == inode {
            regions.push((word(&head, 8), region));
        }
    }
    regions.sort_unstable();
    let mut records = 0usize;
    for &(epoch, region) in &regions {
        let mut at = start(region) + BLOCK;
        let end = start(region) + REGION;
        let mut seq = 0u64;
        let mut rec = [0u8; RECORD_HEAD];
        while at + RECORD_HEAD as u64 <= end && journal.read_exact_at(&mut rec, at).is_ok() {
            let ops = u32::from_le_bytes(rec[4..8].try_into().expect("4 bytes"));
            let len = u32::from_le_bytes(rec[24..28].try_into().expect("4 bytes")) as usize;
            let sum = u32::from_le_bytes(rec[28..32].try_into().expect("4 bytes"));
            if u32::from_le_bytes(rec[..4].try_into().expect("4 bytes")) != RECORD_MAGIC
                || word(&rec, 8) != epoch
                || word(&rec, 16) != seq
                || at + (RECORD_HEAD + len) as u64 > end
            {
                break;
            }
            let mut payload = vec![0u8; len];
            if journal
                .read_exact_at(&mut payload, at + RECORD_HEAD as u64)
                .is_err()
            {
                break;
            }
            let mut h = crc32fast::Hasher::new();
            h.update(&rec[..28]);
            h.update(&payload);
            if h.finalize() != sum || !well_formed(&payload, ops) {
                break;
            }
            apply(file, &payload)?;
            records += 1;
            seq += 1;
            at += (RECORD_HEAD + len) as u64;
        }
    }
    if records > 0 {
        file.sync_all()?;
    }
    Ok(Replayed {
        epoch: highest,
        records,
    })
}

/// The ops of a payload, as (kind, offset, data).
fn ops(payload: &[u8]) -> impl Iterator<Item = Option<(u8, u64, &[u8])>> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at == payload.len() {
            return None;
        }
        let head = payload.get(at..at + 13);
        let op = head.and_then(|h| {
            let offset = u64::from_le_bytes(h[1..9].try_into().expect("8 bytes"));
            let n = u32::from_le_bytes(h[9..13].try_into().expect("4 bytes")) as usize;
            let data = payload.get(at + 13..at + 13 + n)?;
            at += 13 + n;
            Some((h[0], offset, data))
        });
        if op.is_none() {
            at = payload.len();
        }
        Some(op)
    })
}

fn well_formed(payload: &[u8], count: u32) -> bool {
    let mut n = 0u32;
    for op in ops(payload) {
        match op {
            Some((OP_WRITE | OP_SET_LEN, _, _)) => n += 1,
            _ => return false,
        }
    }
    n == count
}

fn apply(file: &File, payload: &[u8]) -> io::Result<()> {
    for (kind, offset, data) in ops(payload).flatten() {
        match kind {
            OP_WRITE => file.write_all_at(data, offset)?,
            _ => file.set_len(offset)?,
        }
    }
    Ok(())
}
