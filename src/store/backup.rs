//! Backups: every table of one read transaction (a consistent snapshot,
//! taken while the server keeps writing) streamed to one file, and the
//! restore that checks that file completely before it replaces anything.
//!
//! Format (version 1): `ROSTERBK` + version byte, then per table a start
//! record (`T`, name) followed by its entries (`E`, key, value; lengths are
//! u32 little-endian, bytes as redb stores them), then `Z` and the SHA-256 of
//! everything before it. Tables are copied as redb's own key/value bytes, so
//! the format follows the store's tables, not the record codecs.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use redb::{Database, Durability, Key, ReadableTable, TableDefinition, TableHandle, Value};
use sha2::{Digest, Sha256};

use super::{
    API_KEYS, API_KEYS_BY_HASH, AUDIT, CHANGES, CREDENTIALS, GROUP_MEMBERS, GROUPS, GROUPS_BY_NAME,
    META, MFA, OAUTH_CLIENTS, OAUTH_CONSENTS, OAUTH_GRANTS, PASSKEYS, PASSKEYS_BY_ID,
    REFRESH_TOKENS, SESSIONS, SESSIONS_BY_USER, Store, StoreError, USER_GROUPS, USERS,
    USERS_BY_CREATED, USERS_BY_EMAIL, USERS_BY_EXTERNAL_ID, USERS_BY_ROLE, USERS_BY_USERNAME,
};

const MAGIC: &[u8; 8] = b"ROSTERBK";
const VERSION: u8 = 1;
/// Entries written per transaction while restoring into the new file.
const RESTORE_BATCH: usize = 50_000;
/// No key or value of ours is near this; a larger length means a bad file.
const MAX_FIELD: u32 = 64 * 1024 * 1024;

/// Calls `$m!(DEF)` for every table, in backup order.
macro_rules! for_each_table {
    ($m:ident) => {
        $m!(USERS);
        $m!(USERS_BY_EMAIL);
        $m!(USERS_BY_USERNAME);
        $m!(USERS_BY_CREATED);
        $m!(USERS_BY_ROLE);
        $m!(CHANGES);
        $m!(CREDENTIALS);
        $m!(SESSIONS);
        $m!(SESSIONS_BY_USER);
        $m!(REFRESH_TOKENS);
        $m!(API_KEYS);
        $m!(API_KEYS_BY_HASH);
        $m!(AUDIT);
        $m!(META);
        $m!(MFA);
        $m!(PASSKEYS);
        $m!(PASSKEYS_BY_ID);
        $m!(GROUPS);
        $m!(GROUPS_BY_NAME);
        $m!(GROUP_MEMBERS);
        $m!(USER_GROUPS);
        $m!(USERS_BY_EXTERNAL_ID);
        $m!(OAUTH_CLIENTS);
        $m!(OAUTH_GRANTS);
        $m!(OAUTH_CONSENTS);
    };
}

/// Tables a backup from an older release does not list.
const ADDED_LATER: [&str; 11] = [
    "mfa",
    "passkeys",
    "passkeys_by_id",
    "groups",
    "groups_by_name",
    "group_members",
    "user_groups",
    "users_by_external_id",
    "oauth_clients",
    "oauth_grants",
    "oauth_consents",
];

/// What a backup held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    pub entries: u64,
    pub bytes: u64,
}

/// Writes everything it is given and hashes it.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.inner.write_all(data)
    }

    fn field(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.put(&(data.len() as u32).to_le_bytes())?;
        self.put(data)
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Job(format!("backup stream: {e}"))
}

impl Store {
    /// Streams a consistent snapshot of the whole store to `out`.
    pub fn backup(&self, out: impl Write) -> Result<BackupSummary, StoreError> {
        let txn = self.inner.db.begin_read()?;
        let mut w = Hashing {
            inner: BufWriter::with_capacity(256 * 1024, out),
            hash: Sha256::new(),
            bytes: 0,
        };
        w.put(MAGIC).map_err(io)?;
        w.put(&[VERSION]).map_err(io)?;
        let mut entries = 0u64;
        macro_rules! dump {
            ($def:ident) => {
                entries += dump_table(&txn, $def, &mut w)?;
            };
        }
        for_each_table!(dump);
        w.put(b"Z").map_err(io)?;
        let digest = w.hash.clone().finalize();
        w.inner.write_all(&digest).map_err(io)?;
        w.inner.flush().map_err(io)?;
        Ok(BackupSummary {
            entries,
            bytes: w.bytes + digest.len() as u64,
        })
    }
}

fn dump_table<K: Key + 'static, V: Value + 'static, W: Write>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
    w: &mut Hashing<W>,
) -> Result<u64, StoreError> {
    let table = txn.open_table(def)?;
    w.put(b"T").map_err(io)?;
    w.field(def.name().as_bytes()).map_err(io)?;
    let mut n = 0;
    for entry in table.iter()? {
        let (k, v) = entry?;
        w.put(b"E").map_err(io)?;
        w.field(K::as_bytes(&k.value()).as_ref()).map_err(io)?;
        w.field(V::as_bytes(&v.value()).as_ref()).map_err(io)?;
        n += 1;
    }
    Ok(n)
}

/// Why a restore stopped; nothing was replaced.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    BadFile(String),
    #[error("data dir {0} already holds data (use --force to replace it)")]
    NotEmpty(PathBuf),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn bad(msg: impl Into<String>) -> RestoreError {
    RestoreError::BadFile(format!("not a usable roster backup: {}", msg.into()))
}

/// Reads the backup, hashing what it reads.
struct Reading<R: Read> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Reading<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), RestoreError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad("it ends early (truncated?)"),
            _ => RestoreError::Io(e),
        })?;
        self.hash.update(&*buf);
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, RestoreError> {
        let mut b = [0u8];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn field(&mut self) -> Result<Vec<u8>, RestoreError> {
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_le_bytes(len);
        if len > MAX_FIELD {
            return Err(bad("a record is impossibly large"));
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf)?;
        Ok(buf)
    }
}

/// Restores `input` into the data dir `dir`: the backup is loaded into a new
/// store file next to it and checked to its last byte (checksum included);
/// only then is it moved into place. `force` allows replacing a data dir
/// that holds a store; its old index is removed (rebuild it afterwards).
/// The data dir must not be in use (redb's lock is taken on the old file).
pub fn restore(
    dir: &Path,
    input: impl Read,
    force: bool,
    key: Option<crate::crypt::Key>,
) -> Result<BackupSummary, RestoreError> {
    let target = dir.join("roster.redb");
    let sealer = key.clone().map(crate::crypt::Sealer::new);
    if target.exists() && !force {
        let empty = Store::open_with(dir, key)
            .map_err(|e| RestoreError::BadFile(e.to_string()))
            .and_then(|s| {
                let n = s.read(|r| r.count_users())?;
                let seq = s.committed_seq();
                drop(s);
                Ok(n == 0 && seq == 0)
            })?;
        if !empty {
            return Err(RestoreError::NotEmpty(dir.to_owned()));
        }
    }
    // Hold the old store's lock while restoring, so that no server starts on it.
    let _guard = if target.exists() {
        Some(
            super::db::open_database(&target, false).map_err(|e| match e {
                super::db::OpenFailure::Redb(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    RestoreError::BadFile(format!(
                        "data dir {} is in use by another roster process (stop it first)",
                        dir.display()
                    ))
                }
                super::db::OpenFailure::Redb(other) => RestoreError::Store(StoreError::from(other)),
                other => RestoreError::BadFile(other.to_string()),
            })?,
        )
    } else {
        None
    };
    std::fs::create_dir_all(dir)?;
    let staging = dir.join("roster.redb.restoring");
    let _ = std::fs::remove_file(&staging);
    // The backup must open under the key the data dir is used with, or
    // the store would be replaced by one that no longer opens.
    let loaded = load(&staging, input).and_then(|summary| {
        let db = Database::open(&staging).map_err(StoreError::from)?;
        super::encryption::check(&db, sealer.as_ref(), &staging)
            .map_err(|e| RestoreError::BadFile(format!("the backup does not fit the key: {e}")))?;
        Ok(summary)
    });
    let summary = match loaded {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
    };
    drop(_guard);
    std::fs::rename(&staging, &target)?;
    super::journal::remove(&target)?;
    // A rotation left unfinished was of the store just replaced.
    let rotating = super::rotation_path(dir);
    if rotating.exists() {
        std::fs::remove_file(&rotating)?;
    }
    let index = dir.join("index");
    if index.exists() {
        std::fs::remove_dir_all(&index)?;
    }
    Ok(summary)
}

fn load(staging: &Path, input: impl Read) -> Result<BackupSummary, RestoreError> {
    let db = Database::create(staging).map_err(StoreError::from)?;
    let mut r = Reading {
        inner: BufReader::with_capacity(256 * 1024, input),
        hash: Sha256::new(),
    };
    let mut magic = [0u8; 8];
    r.exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("it does not start with the roster backup header"));
    }
    if r.byte()? != VERSION {
        return Err(bad(
            "it was written by a newer roster (unknown format version)",
        ));
    }
    let mut entries = 0u64;
    let mut bytes = 9u64;
    let mut tag = r.byte()?;
    let mut seen = Vec::new();
    while tag == b'T' {
        let name = String::from_utf8(r.field()?).map_err(|_| bad("a table name is not text"))?;
        if seen.contains(&name) {
            return Err(bad(format!("table {name} appears twice")));
        }
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        loop {
            tag = r.byte()?;
            if tag != b'E' {
                break;
            }
            let (k, v) = (r.field()?, r.field()?);
            bytes += 9 + k.len() as u64 + v.len() as u64;
            batch.push((k, v));
            entries += 1;
            if batch.len() == RESTORE_BATCH {
                insert_batch(&db, &name, &mut batch)?;
            }
        }
        insert_batch(&db, &name, &mut batch)?;
        seen.push(name);
    }
    if tag != b'Z' {
        return Err(bad("it holds an unknown record"));
    }
    let expected = r.hash.clone().finalize();
    let mut digest = [0u8; 32];
    r.inner
        .read_exact(&mut digest)
        .map_err(|_| bad("its checksum is missing (truncated?)"))?;
    if digest[..] != expected[..] {
        return Err(bad("its checksum does not match (damaged?)"));
    }
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra)? != 0 {
        return Err(bad("it has data after its end"));
    }
    // Every table must be there (an empty one is still listed), but for
    // those added after backups began: older backups have none.
    let mut missing = Vec::new();
    macro_rules! check {
        ($def:ident) => {
            if !seen.iter().any(|n| n == $def.name()) && !ADDED_LATER.contains(&$def.name()) {
                missing.push($def.name());
            }
        };
    }
    for_each_table!(check);
    if !missing.is_empty() {
        return Err(bad(format!("tables are missing: {}", missing.join(", "))));
    }
    // Make it durable before it is moved into place.
    let mut txn = db.begin_write().map_err(StoreError::from)?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Job(e.to_string()))?;
    txn.commit().map_err(StoreError::from)?;
    Ok(BackupSummary {
        entries,
        bytes: bytes + 33,
    })
}

fn insert_batch(
    db: &Database,
    name: &str,
    batch: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<(), RestoreError> {
    let mut txn = db.begin_write().map_err(StoreError::from)?;
    // The staging file is thrown away on any failure; only the last commit
    // (after the checksum) needs to be durable.
    txn.set_durability(Durability::None)
        .map_err(|e| StoreError::Job(e.to_string()))?;
    let mut known = false;
    macro_rules! put {
        ($def:ident) => {
            if !known && $def.name() == name {
                known = true;
                insert_into(&txn, $def, batch)?;
            }
        };
    }
    for_each_table!(put);
    if !known {
        return Err(bad(format!("unknown table {name}")));
    }
    txn.commit().map_err(StoreError::from)?;
    batch.clear();
    Ok(())
}

fn insert_into<K: Key + 'static, V: Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    batch: &[(Vec<u8>, Vec<u8>)],
) -> Result<(), RestoreError> {
    let mut table = txn.open_table(def).map_err(StoreError::from)?;
    for (k, v) in batch {
        if K::fixed_width().is_some_and(|w| w != k.len())
            || V::fixed_width().is_some_and(|w| w != v.len())
        {
            return Err(bad(format!(
                "an entry of {} has the wrong size",
                def.name()
            )));
        }
        table
            .insert(K::from_bytes(k), V::from_bytes(v))
            .map_err(StoreError::from)?;
    }
    Ok(())
}
