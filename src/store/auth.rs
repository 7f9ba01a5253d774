//! Credentials, sessions, refresh tokens, API keys, the audit log and small
//! metadata (signing keys, the setup token). Secrets never reach this module:
//! only their hashes.

use redb::{ReadOnlyTable, ReadableTable, Table};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::domain::{ApiKey, AuditEntry, EventType, Session, Timestamp, UserId};

use super::StoreError;
use super::sealed::{Sealed, SealedText};
use super::users::{ReadTx, Tx};

pub(crate) struct AuthTables<B, H, R, P, C, M> {
    pub credentials: SealedText<C>,
    pub sessions: Sealed<u128, B>,
    pub sessions_by_user: P,
    pub refresh: R,
    pub api_keys: Sealed<u128, B>,
    pub api_keys_by_hash: H,
    pub audit: Sealed<u128, B>,
    pub meta: Sealed<&'static str, M>,
}

pub(crate) type WriteAuth<'t> = AuthTables<
    Table<'t, u128, &'static [u8]>,
    Table<'t, &'static [u8], u128>,
    Table<'t, &'static [u8], (u128, u32)>,
    Table<'t, (u128, u128), ()>,
    Table<'t, u128, &'static str>,
    Table<'t, &'static str, &'static [u8]>,
>;

pub(crate) type ReadAuth = AuthTables<
    ReadOnlyTable<u128, &'static [u8]>,
    ReadOnlyTable<&'static [u8], u128>,
    ReadOnlyTable<&'static [u8], (u128, u32)>,
    ReadOnlyTable<(u128, u128), ()>,
    ReadOnlyTable<u128, &'static str>,
    ReadOnlyTable<&'static str, &'static [u8]>,
>;

/// Opens the auth tables in a read or a write transaction (the same
/// definitions; the table types differ).
macro_rules! open_auth_tables {
    ($txn:expr, $sealer:expr) => {{
        use $crate::store::sealed::{Sealed, SealedText};
        $crate::store::auth::AuthTables {
            credentials: SealedText::new(
                $txn.open_table($crate::store::CREDENTIALS)?,
                "credentials",
                $sealer,
            ),
            sessions: Sealed::new(
                $txn.open_table($crate::store::SESSIONS)?,
                "sessions",
                $sealer,
            ),
            sessions_by_user: $txn.open_table($crate::store::SESSIONS_BY_USER)?,
            refresh: $txn.open_table($crate::store::REFRESH_TOKENS)?,
            api_keys: Sealed::new(
                $txn.open_table($crate::store::API_KEYS)?,
                "api_keys",
                $sealer,
            ),
            api_keys_by_hash: $txn.open_table($crate::store::API_KEYS_BY_HASH)?,
            audit: Sealed::new($txn.open_table($crate::store::AUDIT)?, "audit", $sealer),
            meta: Sealed::new($txn.open_table($crate::store::META)?, "meta", $sealer),
        }
    }};
}
pub(crate) use open_auth_tables;

const RECORD_V1: u8 = 1;

pub(super) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    postcard::to_io(v, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// An API key record: the key and its secret's hash, then what keys gained
/// later (their own rate limit, when last used) after them, each in turn,
/// so records written before still read, and older binaries read newer
/// records without them.
fn encode_api_key(key: &ApiKey, secret_hash: &[u8]) -> Vec<u8> {
    let mut out = encode(&(key, secret_hash));
    postcard::to_io(&(key.rate_limit, key.last_used_at), &mut out)
        .expect("writing to a Vec cannot fail");
    out
}

/// A session record: the session, then how its sign-in was proven (added
/// later, after the record, so older records still read).
fn encode_session(s: &Session) -> Vec<u8> {
    let mut out = encode(s);
    postcard::to_io(&s.amr, &mut out).expect("writing to a Vec cannot fail");
    out
}

pub(super) fn decode_session(bytes: &[u8]) -> Result<Session, StoreError> {
    let corrupt = |e: postcard::Error| StoreError::Corrupt(format!("session: {e}"));
    let Some((&RECORD_V1, body)) = bytes.split_first() else {
        return Err(StoreError::Corrupt(
            "session: unknown record version".into(),
        ));
    };
    let (mut s, rest) = postcard::take_from_bytes::<Session>(body).map_err(corrupt)?;
    if !rest.is_empty() {
        s.amr = postcard::from_bytes(rest).map_err(corrupt)?;
    }
    Ok(s)
}

pub(super) fn decode_api_key(bytes: &[u8]) -> Result<(ApiKey, Vec<u8>), StoreError> {
    let corrupt = |e: postcard::Error| StoreError::Corrupt(format!("api key: {e}"));
    let Some((&RECORD_V1, body)) = bytes.split_first() else {
        return Err(StoreError::Corrupt(
            "api key: unknown record version".into(),
        ));
    };
    let ((mut key, hash), rest) =
        postcard::take_from_bytes::<(ApiKey, Vec<u8>)>(body).map_err(corrupt)?;
    if !rest.is_empty() {
        let (rate_limit, rest) = postcard::take_from_bytes(rest).map_err(corrupt)?;
        key.rate_limit = rate_limit;
        if !rest.is_empty() {
            key.last_used_at = postcard::from_bytes(rest).map_err(corrupt)?;
        }
    }
    Ok((key, hash))
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_V1, body)) => {
            postcard::from_bytes(body).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        }
        _ => Err(StoreError::Corrupt(format!(
            "{what}: unknown record version"
        ))),
    }
}

/// Reads shared by write and read transactions.
impl<B, H, R, P, C, M> AuthTables<B, H, R, P, C, M>
where
    B: ReadableTable<u128, &'static [u8]>,
    H: ReadableTable<&'static [u8], u128>,
    R: ReadableTable<&'static [u8], (u128, u32)>,
    P: ReadableTable<(u128, u128), ()>,
    C: ReadableTable<u128, &'static str>,
    M: ReadableTable<&'static str, &'static [u8]>,
{
    fn password_hash(&self, user: UserId) -> Result<Option<String>, StoreError> {
        self.credentials.get(user.as_u128())
    }

    fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        match self.sessions.get(id.as_u128())? {
            Some(v) => decode_session(v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn user_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let u = user.as_u128();
        let mut out = Vec::new();
        for entry in self.sessions_by_user.range((u, 0)..=(u, u128::MAX))? {
            let (k, _) = entry?;
            if let Some(s) = self.session(Uuid::from_u128(k.value().1))? {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn refresh_token(&self, hash: &[u8]) -> Result<Option<(Uuid, u32)>, StoreError> {
        Ok(self.refresh.get(hash)?.map(|v| {
            let (sid, generation) = v.value();
            (Uuid::from_u128(sid), generation)
        }))
    }

    fn api_key(&self, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
        match self.api_keys.get(id.as_u128())? {
            Some(v) => decode_api_key(v.value()).map(|(k, _)| Some(k)),
            None => Ok(None),
        }
    }

    fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
        match self.api_keys_by_hash.get(hash)? {
            Some(id) => self.api_key(Uuid::from_u128(id.value())),
            None => Ok(None),
        }
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut out = Vec::new();
        for entry in self.api_keys.iter()? {
            let (_, v) = entry?;
            out.push(decode_api_key(v.value())?.0);
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key)?.map(|v| v.value().to_vec()))
    }
}

macro_rules! shared_reads {
    ($t:ty) => {
        impl $t {
            /// The PHC string of the user's password, if it has one.
            pub fn password_hash(&self, user: UserId) -> Result<Option<String>, StoreError> {
                self.auth.password_hash(user)
            }
            pub fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
                self.auth.session(id)
            }
            pub fn user_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
                self.auth.user_sessions(user)
            }
            /// The session and generation a refresh token (by its hash) was issued for.
            pub fn refresh_token(&self, hash: &[u8]) -> Result<Option<(Uuid, u32)>, StoreError> {
                self.auth.refresh_token(hash)
            }
            pub fn api_key(&self, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
                self.auth.api_key(id)
            }
            pub fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
                self.auth.api_key_by_hash(hash)
            }
            pub fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
                self.auth.api_keys()
            }
            pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
                self.auth.meta(key)
            }
        }
    };
}
shared_reads!(Tx<'_>);
shared_reads!(ReadTx);

impl ReadTx {
    /// Sessions neither revoked nor expired at `now` (microseconds). Reads
    /// every session record: meant for the dashboard, not for hot paths.
    pub fn count_live_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut n = 0;
        for entry in self.auth.sessions.iter()? {
            let (_, v) = entry?;
            let s: Session = decode("session", v.value())?;
            if !s.revoked && s.expires_at > now {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Audit entries, newest first, starting below `before` (an entry id).
    /// `filter` is applied to each; at most `budget` entries are examined.
    pub fn audit_page(
        &self,
        before: Option<Uuid>,
        limit: usize,
        budget: usize,
        filter: &dyn Fn(&AuditEntry) -> bool,
    ) -> Result<(Vec<AuditEntry>, Option<Uuid>), StoreError> {
        let hi = before.map_or(u128::MAX, |u| u.as_u128());
        let mut items = Vec::new();
        let mut last = None;
        for (scanned, entry) in self.auth.audit.range(..hi)?.rev().enumerate() {
            if items.len() == limit || scanned == budget {
                return Ok((items, last));
            }
            let (k, v) = entry?;
            last = Some(Uuid::from_u128(k.value()));
            let e: AuditEntry = decode("audit entry", v.value())?;
            if filter(&e) {
                items.push(e);
            }
        }
        Ok((items, None))
    }
}

impl Tx<'_> {
    pub fn set_password_hash(&mut self, user: UserId, phc: &str) -> Result<(), StoreError> {
        self.auth.credentials.insert(user.as_u128(), phc)?;
        Ok(())
    }

    /// Stores a new session and the hash of its first refresh token.
    pub fn insert_session(&mut self, s: &Session, refresh_hash: &[u8]) -> Result<(), StoreError> {
        let (sid, uid) = (s.id.as_u128(), s.user_id.as_u128());
        self.auth
            .sessions
            .insert(sid, encode_session(s).as_slice())?;
        self.auth.sessions_by_user.insert((uid, sid), ())?;
        self.auth
            .refresh
            .insert(refresh_hash, (sid, s.generation))?;
        Ok(())
    }

    /// Saves `s` after a rotation, with the hash of the token just issued.
    pub fn rotate_session(&mut self, s: &Session, refresh_hash: &[u8]) -> Result<(), StoreError> {
        self.auth
            .sessions
            .insert(s.id.as_u128(), encode_session(s).as_slice())?;
        self.auth
            .refresh
            .insert(refresh_hash, (s.id.as_u128(), s.generation))?;
        Ok(())
    }

    /// Marks a session revoked. Its refresh tokens stay known, so a later
    /// use is still recognised (and refused).
    pub fn revoke_session(&mut self, id: Uuid) -> Result<bool, StoreError> {
        match self.auth.session(id)? {
            Some(mut s) if !s.revoked => {
                s.revoked = true;
                self.auth
                    .sessions
                    .insert(id.as_u128(), encode_session(&s).as_slice())?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Revokes every live session of the user; returns how many. Revoking
    /// any is a `user.sessions_revoked` event.
    pub fn revoke_user_sessions(&mut self, user: UserId) -> Result<usize, StoreError> {
        let mut n = 0;
        for s in self.auth.user_sessions(user)? {
            if self.revoke_session(s.id)? {
                n += 1;
            }
        }
        if n > 0 {
            self.log_user_event(EventType::UserSessionsRevoked, user)?;
        }
        Ok(n)
    }

    /// Replaces the user's password (a `user.password_changed` event);
    /// [`Tx::set_password_hash`] is for a first password or a re-hash.
    pub fn change_password(&mut self, user: UserId, phc: &str) -> Result<(), StoreError> {
        self.set_password_hash(user, phc)?;
        self.log_user_event(EventType::UserPasswordChanged, user)
    }

    /// Forgets the user's credentials and sessions (the user is being deleted).
    pub(super) fn delete_credentials_and_sessions(
        &mut self,
        user: UserId,
    ) -> Result<(), StoreError> {
        self.auth.credentials.remove(user.as_u128())?;
        for s in self.auth.user_sessions(user)? {
            self.auth.sessions.remove(s.id.as_u128())?;
            self.auth
                .sessions_by_user
                .remove((user.as_u128(), s.id.as_u128()))?;
        }
        // Refresh-token hashes of those sessions now point nowhere and are
        // refused as unknown.
        Ok(())
    }

    pub fn insert_api_key(&mut self, key: &ApiKey, secret_hash: &[u8]) -> Result<(), StoreError> {
        let id = key.id.as_u128();
        self.auth
            .api_keys
            .insert(id, encode_api_key(key, secret_hash).as_slice())?;
        self.auth.api_keys_by_hash.insert(secret_hash, id)?;
        Ok(())
    }

    /// Saves when keys were last used (keys deleted meanwhile are skipped).
    pub fn touch_api_keys(&mut self, used: &[(Uuid, Timestamp)]) -> Result<(), StoreError> {
        for &(id, at) in used {
            let Some(v) = self.auth.api_keys.get(id.as_u128())? else {
                continue;
            };
            let (mut key, hash) = decode_api_key(v.value())?;
            drop(v);
            key.last_used_at = key.last_used_at.max(Some(at));
            self.auth
                .api_keys
                .insert(id.as_u128(), encode_api_key(&key, &hash).as_slice())?;
        }
        Ok(())
    }

    /// Removes up to `limit` of the sessions after `after` (an id) that
    /// expired before `cutoff`; returns how many went and where the next
    /// call goes on (`None`: the end was reached). A refresh with such a
    /// session's token was refused anyway.
    pub fn prune_sessions(
        &mut self,
        cutoff: Timestamp,
        after: u128,
        limit: usize,
    ) -> Result<(usize, Option<u128>), StoreError> {
        let mut expired = Vec::new();
        let mut last = None;
        for entry in self
            .auth
            .sessions
            .range(after.saturating_add(1)..)?
            .take(limit)
        {
            let (k, v) = entry?;
            last = Some(k.value());
            let s: Session = decode("session", v.value())?;
            if s.expires_at < cutoff {
                expired.push((s.id.as_u128(), s.user_id.as_u128()));
            }
        }
        for &(sid, uid) in &expired {
            self.auth.sessions.remove(sid)?;
            self.auth.sessions_by_user.remove((uid, sid))?;
        }
        let next = match last {
            Some(k) if k != u128::MAX => {
                let more = self.auth.sessions.range(k + 1..)?.next().is_some();
                more.then_some(k)
            }
            _ => None,
        };
        Ok((expired.len(), next))
    }

    /// Removes up to `limit` of the refresh-token hashes after `after`
    /// whose session is gone (pruned, or its user deleted); returns how
    /// many went and where the next call goes on (`None`: the end).
    pub fn prune_refresh_tokens(
        &mut self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(usize, Option<Vec<u8>>), StoreError> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut seen = Vec::new();
        for entry in self
            .auth
            .refresh
            .range::<&[u8]>((start, Bound::Unbounded))?
            .take(limit)
        {
            let (k, v) = entry?;
            seen.push((k.value().to_vec(), v.value().0));
        }
        let mut gone = 0;
        for (hash, sid) in &seen {
            if self.auth.sessions.get(*sid)?.is_none() {
                self.auth.refresh.remove(hash.as_slice())?;
                gone += 1;
            }
        }
        let next = (seen.len() == limit)
            .then(|| seen.pop().map(|(h, _)| h))
            .flatten();
        Ok((gone, next))
    }

    /// Deletes an API key; false if there was none.
    pub fn delete_api_key(&mut self, id: Uuid) -> Result<bool, StoreError> {
        let Some(v) = self.auth.api_keys.remove(id.as_u128())? else {
            return Ok(false);
        };
        let (_, hash) = decode_api_key(&v)?;
        self.auth.api_keys_by_hash.remove(hash.as_slice())?;
        Ok(true)
    }

    pub fn append_audit(&mut self, e: &AuditEntry) -> Result<(), StoreError> {
        self.auth
            .audit
            .insert(e.id.as_u128(), encode(e).as_slice())?;
        Ok(())
    }

    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.auth.meta.insert(key, value)?;
        Ok(())
    }

    pub fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.auth.meta.remove(key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_records_from_before_own_limits_still_read() {
        let mut key = ApiKey {
            id: Uuid::now_v7(),
            name: "ci".into(),
            scopes: vec![crate::domain::Scope::UsersRead],
            prefix: "rk_abcdef".into(),
            created_at: Timestamp::now(),
            expires_at: None,
            created_by: None,
            rate_limit: None,
            last_used_at: None,
        };
        let hash = vec![7u8; 32];
        // As written before keys had their own limit: no trailing field.
        let old = encode(&(&key, &hash));
        assert_eq!(decode_api_key(&old).unwrap(), (key.clone(), hash.clone()));
        key.rate_limit = Some(8);
        key.last_used_at = Some(Timestamp::now());
        let new = encode_api_key(&key, &hash);
        assert_eq!(decode_api_key(&new).unwrap(), (key.clone(), hash.clone()));
        // An older binary reading the new record sees the key without it.
        let (seen, _): (ApiKey, Vec<u8>) = decode("api key", &new).unwrap();
        assert_eq!(seen.rate_limit, None);
        assert_eq!(seen.name, key.name);
    }
}
