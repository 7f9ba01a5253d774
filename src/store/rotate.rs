//! Changing the data key offline: from none to a key (encrypting a store),
//! from one key to another, or from a key to none.
//!
//! Every table is copied into a new file, `roster.redb.rotating`, its
//! values opened with the old key and sealed with the new one, in
//! transactions of [`BATCH`] entries that record how far each table got.
//! The unique indexes are rebuilt from the copied users (their keys are
//! keyed hashes, which only the plaintext can recompute). The new file
//! replaces the old one by a rename once it is complete and durable, so
//! the store is at every moment either wholly under the old key or wholly
//! under the new one; a rotation killed at any point resumes from its last
//! batch when run again with the same keys, and the server refuses to
//! start while one is unfinished.
//!
//! A copy rather than re-sealing in place: redb keeps freed pages in the
//! file, and those would keep the old ciphertext (or plaintext) around.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, Key, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle, Value,
};

use crate::crypt::Sealer;

use super::db::open_database;
use super::encryption::{self, Found};
use super::sealed::{HashedIndex, Sealed, SealerRef};
use super::tables::*;
use super::{OpenError, StoreError, codec, rotation_path};

/// Entries copied per transaction.
const BATCH: usize = 2_000;
/// In the new file only: how far the copy got, and with which keys.
const PROGRESS: TableDefinition<&str, &[u8]> = TableDefinition::new("rotation_progress");
const KEYS: &str = "keys";
const FINISHED: &str = "finished";
/// What the store being copied looked like (see [`fingerprint`]).
const SOURCE: &str = "source";

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateReport {
    /// Entries written to the new file by this run.
    pub entries: u64,
    /// It went on from an interrupted run.
    pub resumed: bool,
    /// The store was already under the new key: nothing to do.
    pub already: bool,
}

fn fail(what: &str, e: impl std::fmt::Display) -> OpenError {
    OpenError(format!("key rotation: {what}: {e}"))
}

fn ids(old: Option<&Sealer>, new: Option<&Sealer>) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    for s in [old, new] {
        match s {
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&s.key_id());
            }
            None => out.push(0),
        }
    }
    out
}

/// Rotates the store in `dir` from `old` to `new` (either may be `None`:
/// not encrypted). The server must be stopped (the store's file lock
/// makes sure of it). `before_copy` runs once the store is locked and
/// known to be under `old` (or already under `new`), before anything is
/// written: the caller re-seals the search index there.
pub fn rotate(
    dir: &Path,
    old: Option<crate::crypt::Key>,
    new: Option<crate::crypt::Key>,
    mut before_copy: impl FnMut() -> Result<(), String>,
) -> Result<RotateReport, OpenError> {
    let path = dir.join("roster.redb");
    let next = rotation_path(dir);
    if !path.exists() {
        return Err(OpenError(format!("no store in {}", dir.display())));
    }
    let (old_ref, new_ref): (SealerRef, SealerRef) = (
        old.map(|k| Arc::new(Sealer::new(k))),
        new.map(|k| Arc::new(Sealer::new(k))),
    );
    let (old, new) = (old_ref.as_deref(), new_ref.as_deref());
    // Read-only first, so that a wrong key changes nothing (a read-write
    // open rewrites the file's header).
    let mut done = old.is_none() && new.is_none();
    if let Some(Err(e)) = encryption::peek(&path, old) {
        // Already under the new key (an earlier run finished)?
        done = match encryption::peek(&path, new) {
            Some(Ok(Found::Sealed)) => new.is_some(),
            Some(Ok(Found::Plain | Found::Empty)) => new.is_none(),
            _ => false,
        };
        if !done {
            return Err(e);
        }
    }
    let src = open_database(&path, false).map_err(|e| match e {
        super::db::OpenFailure::Redb(redb::DatabaseError::DatabaseAlreadyOpen) => OpenError(
            format!("{} is in use: stop the server first", dir.display()),
        ),
        other => fail(&format!("cannot open {}", path.display()), other),
    })?;
    if done {
        before_copy().map_err(|e| fail("re-sealing the search index", e))?;
        return Ok(RotateReport {
            entries: 0,
            resumed: false,
            already: true,
        });
    }
    encryption::check(&src, old, &path)?;
    before_copy().map_err(|e| fail("re-sealing the search index", e))?;
    let source = fingerprint(&src).map_err(|e| fail("reading the store", e))?;
    let (dst, resumed) = open_next(&next, old, new, &source)?;
    let mut entries = 0;
    let finished = progress(&dst, FINISHED).map_err(|e| fail("reading progress", e))?;
    if finished.is_none() {
        entries = copy_all(&src, &dst, old, new).map_err(|e| fail("copying", e))?;
        finish(&dst, &new_ref).map_err(|e| fail("finishing", e))?;
    }
    drop(dst);
    drop(src);
    std::fs::File::open(&next)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail("syncing the new file", e))?;
    std::fs::rename(&next, &path).map_err(|e| fail("replacing the store", e))?;
    // Both files were closed cleanly: neither journal holds a commit.
    for p in [&path, &next] {
        super::journal::remove(p).map_err(|e| fail("removing a journal", e))?;
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("syncing the data dir", e))?;
    // The progress table has done its work (left behind if this fails: it
    // is ignored by everything else).
    if let Ok(db) = open_database(&path, false)
        && let Ok(txn) = db.begin_write()
    {
        let _ = txn.delete_table(PROGRESS);
        let _ = txn.commit();
    }
    Ok(RotateReport {
        entries,
        resumed,
        already: false,
    })
}

/// The new file: the unfinished one if its keys are these, else a new one.
fn open_next(
    next: &Path,
    old: Option<&Sealer>,
    new: Option<&Sealer>,
    source: &[u8],
) -> Result<(Database, bool), OpenError> {
    let want = ids(old, new);
    if next.exists() {
        let found = open_database(next, false)
            .ok()
            .and_then(|db| progress(&db, KEYS).ok().flatten().map(|k| (db, k)));
        match found {
            Some((db, keys)) if keys == want => {
                // The store may have been replaced (restored) since.
                let same = progress(&db, SOURCE).ok().flatten();
                if same.as_deref() == Some(source) {
                    return Ok((db, true));
                }
                return Err(OpenError(format!(
                    "an unfinished rotation in {} was of the store as it was then, and the \
                     store has changed since: delete that file and run the rotation again",
                    next.display()
                )));
            }
            Some(_) => {
                return Err(OpenError(format!(
                    "an unfinished rotation in {} was started with other keys: run it again \
                     with those, or delete that file to start over",
                    next.display()
                )));
            }
            // Not even its first transaction committed: start over.
            None => std::fs::remove_file(next).map_err(|e| fail("removing a stale file", e))?,
        }
    }
    let db = open_database(next, false).map_err(|e| fail("creating the new file", e))?;
    init_tables(&db).map_err(|e| fail("creating the new file", e))?;
    let start = || -> Result<(), StoreError> {
        let txn = db.begin_write()?;
        let mut p = txn.open_table(PROGRESS)?;
        p.insert(KEYS, want.as_slice())?;
        p.insert(SOURCE, source)?;
        drop(p);
        txn.commit()?;
        Ok(())
    };
    start().map_err(|e| fail("creating the new file", e))?;
    Ok((db, false))
}

/// Enough of the store's state to tell it from another (a restored
/// backup) when a rotation resumes: the last change, the last audit entry,
/// how many users and metadata entries. The server cannot write in
/// between: the rotation runs while it is stopped.
fn fingerprint(db: &Database) -> Result<Vec<u8>, StoreError> {
    let txn = db.begin_read()?;
    let mut out = Vec::with_capacity(48);
    let last_change = txn
        .open_table(CHANGES)?
        .last()?
        .map_or(0, |(k, _)| k.value());
    out.extend_from_slice(&last_change.to_le_bytes());
    let last_audit = txn.open_table(AUDIT)?.last()?.map_or(0, |(k, _)| k.value());
    out.extend_from_slice(&last_audit.to_le_bytes());
    out.extend_from_slice(&txn.open_table(USERS)?.len()?.to_le_bytes());
    out.extend_from_slice(&txn.open_table(META)?.len()?.to_le_bytes());
    Ok(out)
}

fn progress(db: &Database, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let txn = db.begin_read()?;
    let t = match txn.open_table(PROGRESS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(t.get(key)?.map(|v| v.value().to_vec()))
}

/// How a table's values change.
#[derive(Clone, Copy)]
enum Values {
    /// Bytes sealed under the table's name and the entry's key.
    Sealed,
    /// Text sealed the same way, as base64 (password hashes).
    Text,
    /// Nothing secret: copied as they are.
    Plain,
}

/// Calls `$m!(DEF, how its values change)` for every table a rotation
/// copies; `users_by_email` and `users_by_username` are rebuilt by
/// [`finish`] instead. A table missing here would be dropped by a rotation:
/// the test below compares this list with the tables a new store has.
macro_rules! for_each_copied_table {
    ($m:ident) => {
        $m!(USERS, Values::Sealed);
        $m!(USERS_BY_CREATED, Values::Plain);
        $m!(USERS_BY_ROLE, Values::Plain);
        $m!(CHANGES, Values::Sealed);
        $m!(CREDENTIALS, Values::Text);
        $m!(SESSIONS, Values::Sealed);
        $m!(SESSIONS_BY_USER, Values::Plain);
        $m!(REFRESH_TOKENS, Values::Plain);
        $m!(API_KEYS, Values::Sealed);
        $m!(API_KEYS_BY_HASH, Values::Plain);
        $m!(AUDIT, Values::Sealed);
        $m!(META, Values::Sealed);
        $m!(JOBS, Values::Sealed);
        $m!(ONE_TIME_TOKENS, Values::Sealed);
        $m!(WEBHOOKS, Values::Sealed);
        $m!(WEBHOOK_DELIVERIES, Values::Sealed);
        $m!(MFA, Values::Sealed);
        $m!(MFA_CHALLENGES, Values::Sealed);
        $m!(PASSKEYS, Values::Sealed);
        $m!(PASSKEYS_BY_ID, Values::Plain);
        $m!(WEBAUTHN_CHALLENGES, Values::Sealed);
        $m!(GROUPS, Values::Sealed);
        $m!(GROUP_MEMBERS, Values::Plain);
        $m!(USER_GROUPS, Values::Plain);
        $m!(OAUTH_CLIENTS, Values::Sealed);
        $m!(OAUTH_CODES, Values::Sealed);
        $m!(OAUTH_GRANTS, Values::Sealed);
        $m!(OAUTH_CONSENTS, Values::Sealed);
    };
}

fn copy_all(
    src: &Database,
    dst: &Database,
    old: Option<&Sealer>,
    new: Option<&Sealer>,
) -> Result<u64, StoreError> {
    let mut n = 0;
    macro_rules! copy {
        ($def:ident, $how:expr) => {
            n += copy_table(src, dst, $def, $how, old, new)?;
        };
    }
    for_each_copied_table!(copy);
    Ok(n)
}

/// A value re-sealed from `old` to `new`; `None` to leave the entry out.
fn convert(
    table: &str,
    key: &[u8],
    value: &[u8],
    how: Values,
    old: Option<&Sealer>,
    new: Option<&Sealer>,
) -> Result<Option<Vec<u8>>, StoreError> {
    if table == META.name() && key == encryption::MARKER.as_bytes() {
        return Ok(None);
    }
    let ctx: [&[u8]; 2] = [table.as_bytes(), key];
    let bad = |e: crate::crypt::OpenError| StoreError::Corrupt(format!("{table}: {e}"));
    Ok(Some(match how {
        Values::Plain => value.to_vec(),
        Values::Sealed => {
            let plain = match old {
                Some(s) => s.open(&ctx, value).map_err(bad)?,
                None => value.to_vec(),
            };
            match new {
                Some(s) => s.seal(&ctx, &plain),
                None => plain,
            }
        }
        Values::Text => {
            let text = std::str::from_utf8(value)
                .map_err(|_| StoreError::Corrupt(format!("{table}: not text")))?;
            let plain = match old {
                Some(s) => s.open_text(&ctx, text).map_err(bad)?,
                None => text.to_owned(),
            };
            match new {
                Some(s) => s.seal_text(&ctx, &plain).into_bytes(),
                None => plain.into_bytes(),
            }
        }
    }))
}

/// Copies what is left of one table, a batch per transaction.
fn copy_table<K: Key + 'static, V: Value + 'static>(
    src: &Database,
    dst: &Database,
    def: TableDefinition<K, V>,
    how: Values,
    old: Option<&Sealer>,
    new: Option<&Sealer>,
) -> Result<u64, StoreError> {
    let name = def.name();
    let done_key = format!("done:{name}");
    let after_key = format!("after:{name}");
    let read = src.begin_read()?;
    let table = read.open_table(def)?;
    let mut n = 0;
    loop {
        if progress(dst, &done_key)?.is_some() {
            return Ok(n);
        }
        let after = progress(dst, &after_key)?;
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(BATCH);
        {
            let range = match &after {
                None => table.range::<K::SelfType<'_>>(..)?,
                Some(k) => table.range::<K::SelfType<'_>>((
                    Bound::Excluded(K::from_bytes(k)),
                    Bound::Unbounded,
                ))?,
            };
            for entry in range.take(BATCH) {
                let (k, v) = entry?;
                batch.push((
                    K::as_bytes(&k.value()).as_ref().to_vec(),
                    V::as_bytes(&v.value()).as_ref().to_vec(),
                ));
            }
        }
        let txn = dst.begin_write()?;
        {
            let mut out = txn.open_table(def)?;
            for (k, v) in &batch {
                if let Some(v) = convert(name, k, v, how, old, new)? {
                    out.insert(K::from_bytes(k), V::from_bytes(&v))?;
                }
            }
            let mut p = txn.open_table(PROGRESS)?;
            if let Some((last, _)) = batch.last() {
                p.insert(after_key.as_str(), last.as_slice())?;
            }
            if batch.len() < BATCH {
                p.insert(done_key.as_str(), [].as_slice())?;
            }
        }
        txn.commit()?;
        n += batch.len() as u64;
    }
}

/// Rebuilds the unique indexes from the copied users, writes the new key's
/// marker, and marks the copy finished: one transaction.
fn finish(dst: &Database, sealer: &SealerRef) -> Result<(), StoreError> {
    let txn = dst.begin_write()?;
    {
        let users = Sealed::<u128, _>::new(txn.open_table(USERS)?, "users", sealer);
        let mut by_email = HashedIndex::new(txn.open_table(USERS_BY_EMAIL)?, sealer);
        let mut by_username = HashedIndex::new(txn.open_table(USERS_BY_USERNAME)?, sealer);
        let mut by_external_id = HashedIndex::new(txn.open_table(USERS_BY_EXTERNAL_ID)?, sealer);
        by_email.raw.retain(|_, _| false)?;
        by_username.raw.retain(|_, _| false)?;
        by_external_id.raw.retain(|_, _| false)?;
        for entry in users.iter()? {
            let (k, v) = entry?;
            let u = codec::decode_user(k.value(), v.value())?;
            by_email.insert(&u.email.folded(), k.value())?;
            if let Some(name) = &u.username {
                by_username.insert(&name.folded(), k.value())?;
            }
            if let Some(x) = u.external_id() {
                let key = by_external_id.key(x).into_owned();
                by_external_id.raw.insert((key.as_str(), k.value()), ())?;
            }
        }
        let groups = Sealed::<u128, _>::new(txn.open_table(GROUPS)?, "groups", sealer);
        let mut by_name = HashedIndex::new(txn.open_table(GROUPS_BY_NAME)?, sealer);
        by_name.raw.retain(|_, _| false)?;
        for entry in groups.iter()? {
            let (k, v) = entry?;
            let g = super::groups::decode_group(k.value(), v.value())?;
            by_name.insert(&g.name.folded(), k.value())?;
        }
        let mut meta = txn.open_table(META)?;
        if let Some(s) = sealer {
            meta.insert(encryption::MARKER, encryption::marker(s).as_slice())?;
        }
        txn.open_table(PROGRESS)?.insert(FINISHED, [].as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_rotation_copies_or_rebuilds_every_table_of_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(crate::store::Store::open(dir.path()).expect("a new store"));
        let db = open_database(&dir.path().join("roster.redb"), false).expect("opens");
        let txn = db.begin_read().expect("read");
        let found: BTreeSet<String> = txn
            .list_tables()
            .expect("tables")
            .map(|t| t.name().to_owned())
            .collect();
        let mut handled = BTreeSet::new();
        macro_rules! note {
            ($def:ident, $how:expr) => {
                let _ = $how;
                handled.insert($def.name().to_owned());
            };
        }
        for_each_copied_table!(note);
        handled.insert(USERS_BY_EMAIL.name().to_owned());
        handled.insert(USERS_BY_USERNAME.name().to_owned());
        handled.insert(GROUPS_BY_NAME.name().to_owned());
        handled.insert(USERS_BY_EXTERNAL_ID.name().to_owned());
        assert_eq!(found, handled);
    }
}
