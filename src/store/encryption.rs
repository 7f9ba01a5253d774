//! Whether a store file is encrypted, and with which key: the marker in
//! `meta`, checked at every open before anything else reads or writes.
//!
//! The marker (`meta["encryption"]`) is the one value of an encrypted store
//! that is not sealed through [`Sealed`](super::sealed::Sealed): it is a
//! known text sealed with the data key, so it names the key's id to anyone
//! and opens only under that key. It travels in backups with the records
//! it vouches for.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableHandle};

use crate::crypt::Sealer;

use super::{META, OpenError, StoreError, USERS};

/// The `meta` key of the marker.
pub(super) const MARKER: &str = "encryption";
const MARKER_TEXT: &[u8] = b"roster encrypted store v1";

/// What a file says about its encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Encrypted with the key at hand.
    Sealed,
    /// Not encrypted, and holding data.
    Plain,
    /// Holding nothing yet: it becomes whatever it is opened as.
    Empty,
}

/// The marker for `sealer`'s key.
pub(super) fn marker(sealer: &Sealer) -> Vec<u8> {
    sealer.seal(&[META.name().as_bytes(), MARKER.as_bytes()], MARKER_TEXT)
}

/// Reads the marker of `db` and checks it against `sealer`; `Err` (for
/// the operator) when the file cannot be opened as asked.
pub(super) fn check(
    db: &impl ReadableDatabase,
    sealer: Option<&Sealer>,
    path: &Path,
) -> Result<Found, OpenError> {
    let read = |e: StoreError| OpenError(format!("cannot read {}: {e}", path.display()));
    let txn = db.begin_read().map_err(|e| read(e.into()))?;
    let (marker, empty) = match txn.open_table(META) {
        Ok(meta) => {
            let marker = meta
                .get(MARKER)
                .map_err(|e| read(e.into()))?
                .map(|v| v.value().to_vec());
            let users = match txn.open_table(USERS) {
                Ok(t) => t.len().map_err(|e| read(e.into()))?,
                Err(redb::TableError::TableDoesNotExist(_)) => 0,
                Err(e) => return Err(read(e.into())),
            };
            (
                marker,
                meta.is_empty().map_err(|e| read(e.into()))? && users == 0,
            )
        }
        Err(redb::TableError::TableDoesNotExist(_)) => (None, true),
        Err(e) => return Err(read(e.into())),
    };
    let shown = path.display();
    match (marker, sealer) {
        (None, _) if empty => Ok(Found::Empty),
        (None, None) => Ok(Found::Plain),
        (None, Some(_)) => Err(OpenError(format!(
            "{shown} is not encrypted, but an encryption key was given: to encrypt it, stop \
             roster and run `roster keys rotate-encryption-key --new-key-file FILE` without a \
             key set; to use it as it is, give no key"
        ))),
        (Some(m), None) => Err(OpenError(format!(
            "{shown} is encrypted (key id {}): give its key with --encryption-key-file or \
             ROSTER_ENCRYPTION_KEY",
            Sealer::sealed_by(&m).map_or_else(|| "unknown".into(), hex)
        ))),
        (Some(m), Some(s)) => match s.open(&[META.name().as_bytes(), MARKER.as_bytes()], &m) {
            Ok(text) if text == MARKER_TEXT => Ok(Found::Sealed),
            _ => Err(OpenError(format!(
                "the encryption key (id {}) is not the key of {shown} (key id {}): nothing \
                     was changed",
                s.key_id_hex(),
                Sealer::sealed_by(&m).map_or_else(|| "unknown".into(), hex)
            ))),
        },
    }
}

fn hex(id: [u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the marker into a new store opened with a key.
pub(super) fn mark(db: &Database, sealer: &Sealer) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    txn.open_table(META)?
        .insert(MARKER, marker(sealer).as_slice())?;
    txn.commit()?;
    Ok(())
}

/// Checks the file at `path` without opening it for writing, so a wrong or
/// missing key changes nothing. `Ok` too when it cannot be opened read-only
/// (in use, or in need of repair): the open that follows reports that, and
/// checks the key again.
pub(super) fn precheck(path: &Path, sealer: Option<&Sealer>) -> Result<(), OpenError> {
    if !path.exists() {
        return Ok(());
    }
    // redb may panic on a damaged file (it trusts a file opened read-only
    // without the integrity check); the open that follows reports the
    // damage, so the panic is caught here and kept off the terminal.
    match peek(path, sealer) {
        Some(result) => result.map(drop),
        None => Ok(()),
    }
}

/// [`check`] on the file opened read-only; `None` when it cannot be (in
/// use, in need of repair, damaged).
pub(super) fn peek(path: &Path, sealer: Option<&Sealer>) -> Option<Result<Found, OpenError>> {
    quietly(|| {
        let db = redb::ReadOnlyDatabase::open(path).ok()?;
        Some(check(&db, sealer, path))
    })
    .flatten()
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic without printing it (on this thread only:
/// the hook installed once defers to the previous one everywhere else).
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    out
}
