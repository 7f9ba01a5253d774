//! Reads that open only the tables they need, from one snapshot each.
//!
//! [`Store::read`] opens every table, which costs more than a point lookup
//! itself; the hot paths (a user by id, search hits, the caller behind a
//! token or an API key) come here instead.

use crate::domain::{ApiKey, Session, User, UserId, effective_roles};

use super::sealed::Sealed;
use super::{
    API_KEYS, API_KEYS_BY_HASH, GROUPS, SESSIONS, Store, StoreError, USER_GROUPS, USERS,
    USERS_BY_CREATED,
};
use super::{auth, users};

impl Store {
    /// Users by id from one snapshot, opening only the users table. `read`
    /// opens every table, which costs more than the lookups themselves; the
    /// hot paths (`GET /users/{id}`, search hits) use this instead.
    pub fn get_users(&self, ids: &[UserId]) -> Result<Vec<Option<User>>, StoreError> {
        self.snapshot(|txn| {
            let table = self.sealed(txn.open_table(USERS)?, "users");
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
            let users = self.sealed(txn.open_table(USERS)?, "users");
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

    fn sealed<K: redb::Key + 'static, T>(&self, table: T, name: &'static str) -> Sealed<K, T> {
        Sealed::new(table, name, &self.inner.db.sealer)
    }

    pub fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.get_users(&[id])?.pop().flatten())
    }

    /// The user and the session an access token names, from one snapshot
    /// and only their two tables (every request with a token asks).
    ///
    /// The user comes with its effective roles: its own and those its
    /// groups grant (one short range read when it belongs to none).
    pub fn user_and_session(
        &self,
        user: UserId,
        session: uuid::Uuid,
    ) -> Result<(Option<User>, Option<Session>), StoreError> {
        self.snapshot(|txn| {
            let mut u = users::get_user(&self.sealed(txn.open_table(USERS)?, "users"), user)?;
            let sessions = self.sealed(txn.open_table(SESSIONS)?, "sessions");
            let s = match sessions.get(session.as_u128())? {
                Some(v) => Some(auth::decode::<Session>("session", v.value())?),
                None => None,
            };
            if let Some(u) = &mut u {
                let of_user = txn.open_table(USER_GROUPS)?;
                let key = user.as_u128();
                let mut groups = of_user.range((key, 0)..=(key, u128::MAX))?.peekable();
                if groups.peek().is_some() {
                    let table = self.sealed(txn.open_table(GROUPS)?, "groups");
                    let mut granted = Vec::new();
                    for entry in groups {
                        let gid = entry?.0.value().1;
                        if let Some(v) = table.get(gid)? {
                            granted.push(super::groups::decode_group(gid, v.value())?.roles);
                        }
                    }
                    u.roles = effective_roles(&u.roles, granted.iter().map(Vec::as_slice));
                }
            }
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
            match self.sealed(txn.open_table(API_KEYS)?, "api_keys").get(id)? {
                Some(v) => Ok(Some(auth::decode_api_key(v.value())?.0)),
                None => Ok(None),
            }
        })
    }
}
