//! Tables whose values are sealed when the store is encrypted, and the
//! unique indexes whose keys are then keyed hashes.
//!
//! [`Sealed`] wraps a redb table of byte values with the same read and
//! write calls the rest of the store makes on a plain table (`get`,
//! `range`, `iter`, `insert`, `remove`, guards with `value()`), so record
//! code reads the same with or without a key. Each value is sealed bound to
//! its table's name and its key's bytes: a record copied under another key
//! or into another table does not open. Without a key the wrapper passes
//! redb's guards through untouched (no copy).
//!
//! [`HashedIndex`] is a unique index (`users_by_email`, `users_by_username`)
//! whose keys are the plaintext without a key and [`Sealer::index_key`]
//! with one: lookups still work, the disk holds no address. It cannot be
//! walked in the plaintext's order then, so listing by email is refused on
//! an encrypted store (see `ReadTx::scan`).

use std::borrow::{Borrow, Cow};
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::sync::Arc;

use redb::{AccessGuard, Key, ReadableTable, Table};

use crate::crypt::{OpenError, Sealer};

use super::StoreError;

/// The key, if the store is encrypted.
pub(crate) type SealerRef = Option<Arc<Sealer>>;

/// A value as read: redb's own guard when nothing was sealed, else the
/// opened bytes.
pub(crate) enum Plain<'a> {
    Stored(AccessGuard<'a, &'static [u8]>),
    Opened(Vec<u8>),
}

impl Plain<'_> {
    pub fn value(&self) -> &[u8] {
        match self {
            Plain::Stored(g) => g.value(),
            Plain::Opened(v) => v,
        }
    }
}

fn broken(table: &str, e: OpenError) -> StoreError {
    match e {
        OpenError::OtherKey(id) => StoreError::Corrupt(format!(
            "a record of {table} is sealed with another key (id {id})"
        )),
        OpenError::NotSealed => StoreError::Corrupt(format!(
            "a record of {table} is not sealed although the store is encrypted"
        )),
        OpenError::Forged => StoreError::Corrupt(format!(
            "a record of {table} does not verify (damaged, or moved from another key or table)"
        )),
    }
}

/// A table of byte values, sealed when the store has a key.
pub(crate) struct Sealed<K: Key + 'static, T> {
    pub(super) raw: T,
    name: &'static str,
    sealer: SealerRef,
    key: PhantomData<K>,
}

impl<K: Key + 'static, T> Sealed<K, T> {
    pub(super) fn new(raw: T, name: &'static str, sealer: &SealerRef) -> Self {
        Self {
            raw,
            name,
            sealer: sealer.clone(),
            key: PhantomData,
        }
    }

    fn open<'a>(
        &self,
        key: &K::SelfType<'_>,
        guard: AccessGuard<'a, &'static [u8]>,
    ) -> Result<Plain<'a>, StoreError> {
        match &self.sealer {
            None => Ok(Plain::Stored(guard)),
            Some(s) => {
                let kb = K::as_bytes(key);
                s.open(&[self.name.as_bytes(), kb.as_ref()], guard.value())
                    .map(Plain::Opened)
                    .map_err(|e| broken(self.name, e))
            }
        }
    }

    /// A stored value (from `raw`) opened.
    pub(super) fn open_stored(
        &self,
        key: &K::SelfType<'_>,
        stored: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        match &self.sealer {
            None => Ok(stored.to_vec()),
            Some(s) => {
                let kb = K::as_bytes(key);
                s.open(&[self.name.as_bytes(), kb.as_ref()], stored)
                    .map_err(|e| broken(self.name, e))
            }
        }
    }

    /// `value` as it is to be stored under `key`.
    pub(super) fn seal<'v>(&self, key: &K::SelfType<'_>, value: &'v [u8]) -> Cow<'v, [u8]> {
        match &self.sealer {
            None => Cow::Borrowed(value),
            Some(s) => {
                let kb = K::as_bytes(key);
                Cow::Owned(s.seal(&[self.name.as_bytes(), kb.as_ref()], value))
            }
        }
    }
}

impl<K: Key + 'static, T: ReadableTable<K, &'static [u8]>> Sealed<K, T> {
    pub fn get<'k>(
        &self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<Plain<'_>>, StoreError> {
        let key = key.borrow();
        match self.raw.get(key)? {
            Some(g) => self.open(key, g).map(Some),
            None => Ok(None),
        }
    }

    pub fn range<'k, KR>(
        &self,
        range: impl RangeBounds<KR> + 'k,
    ) -> Result<Entries<'_, K, T>, StoreError>
    where
        KR: Borrow<K::SelfType<'k>> + 'k,
    {
        Ok(Entries {
            inner: self.raw.range(range)?,
            table: self,
        })
    }

    pub fn iter(&self) -> Result<Entries<'_, K, T>, StoreError> {
        Ok(Entries {
            inner: self.raw.iter()?,
            table: self,
        })
    }

    pub fn len(&self) -> Result<u64, StoreError> {
        Ok(self.raw.len()?)
    }
}

impl<K: Key + 'static> Sealed<K, Table<'_, K, &'static [u8]>> {
    pub fn insert<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let key = key.borrow();
        let stored = self.seal(key, value);
        self.raw.insert(key, stored.as_ref())?;
        Ok(())
    }

    /// Removes `key`; its value, opened.
    pub fn remove<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.borrow();
        let old = self.raw.remove(key)?.map(|g| g.value().to_vec());
        match (old, &self.sealer) {
            (None, _) => Ok(None),
            (Some(v), None) => Ok(Some(v)),
            (Some(v), Some(s)) => {
                let kb = K::as_bytes(key);
                s.open(&[self.name.as_bytes(), kb.as_ref()], &v)
                    .map(Some)
                    .map_err(|e| broken(self.name, e))
            }
        }
    }
}

/// The entries of a range of a [`Sealed`] table, opened one by one.
pub(crate) struct Entries<'a, K: Key + 'static, T> {
    inner: redb::Range<'a, K, &'static [u8]>,
    table: &'a Sealed<K, T>,
}

type Entry<'a, K> = Result<(AccessGuard<'a, K>, Plain<'a>), StoreError>;

impl<'a, K: Key + 'static, T> Entries<'a, K, T> {
    fn opened(
        &self,
        e: Result<(AccessGuard<'a, K>, AccessGuard<'a, &'static [u8]>), redb::StorageError>,
    ) -> Entry<'a, K> {
        let (k, v) = e?;
        let plain = self.table.open(&k.value(), v)?;
        Ok((k, plain))
    }
}

impl<'a, K: Key + 'static, T> Iterator for Entries<'a, K, T> {
    type Item = Entry<'a, K>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.inner.next()?;
        Some(self.opened(e))
    }
}

impl<K: Key + 'static, T> DoubleEndedIterator for Entries<'_, K, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let e = self.inner.next_back()?;
        Some(self.opened(e))
    }
}

/// A unique index from a folded text (an email, a username) to a user id,
/// keyed by a keyed hash of the text when the store is encrypted.
pub(crate) struct HashedIndex<T> {
    pub(super) raw: T,
    sealer: SealerRef,
}

impl<T> HashedIndex<T> {
    pub(super) fn new(raw: T, sealer: &SealerRef) -> Self {
        Self {
            raw,
            sealer: sealer.clone(),
        }
    }

    /// The key `folded` is stored under.
    pub(super) fn key<'a>(&self, folded: &'a str) -> Cow<'a, str> {
        match &self.sealer {
            None => Cow::Borrowed(folded),
            Some(s) => Cow::Owned(s.index_key(folded)),
        }
    }

    /// Whether the keys are the plaintext (and so in its order).
    pub(super) fn ordered(&self) -> bool {
        self.sealer.is_none()
    }
}

impl<T: ReadableTable<&'static str, u128>> HashedIndex<T> {
    pub fn get(&self, folded: &str) -> Result<Option<u128>, StoreError> {
        Ok(self.raw.get(self.key(folded).as_ref())?.map(|g| g.value()))
    }
}

impl HashedIndex<Table<'_, &'static str, u128>> {
    pub fn insert(&mut self, folded: &str, id: u128) -> Result<(), StoreError> {
        self.raw.insert(self.key(folded).as_ref(), id)?;
        Ok(())
    }

    pub fn remove(&mut self, folded: &str) -> Result<(), StoreError> {
        self.raw.remove(self.key(folded).as_ref())?;
        Ok(())
    }
}

/// A table of text values (password hashes), sealed as base64 text when
/// the store has a key.
pub(crate) struct SealedText<T> {
    pub(super) raw: T,
    name: &'static str,
    sealer: SealerRef,
}

impl<T> SealedText<T> {
    pub(super) fn new(raw: T, name: &'static str, sealer: &SealerRef) -> Self {
        Self {
            raw,
            name,
            sealer: sealer.clone(),
        }
    }

    pub(super) fn seal(&self, key: u128, value: &str) -> String {
        match &self.sealer {
            None => value.to_owned(),
            Some(s) => s.seal_text(&[self.name.as_bytes(), &key.to_le_bytes()], value),
        }
    }
}

impl<T: ReadableTable<u128, &'static str>> SealedText<T> {
    pub fn get(&self, key: u128) -> Result<Option<String>, StoreError> {
        let Some(g) = self.raw.get(key)? else {
            return Ok(None);
        };
        match &self.sealer {
            None => Ok(Some(g.value().to_owned())),
            Some(s) => s
                .open_text(&[self.name.as_bytes(), &key.to_le_bytes()], g.value())
                .map(Some)
                .map_err(|e| broken(self.name, e)),
        }
    }
}

impl SealedText<Table<'_, u128, &'static str>> {
    pub fn insert(&mut self, key: u128, value: &str) -> Result<(), StoreError> {
        let stored = self.seal(key, value);
        self.raw.insert(key, stored.as_str())?;
        Ok(())
    }

    pub fn remove(&mut self, key: u128) -> Result<(), StoreError> {
        self.raw.remove(key)?;
        Ok(())
    }
}
