//! Users in the store: the `users` table and its four indexes, kept in step
//! inside each write transaction, plus the change-log entry of every write.

use std::ops::Bound;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};

use crate::domain::{EventType, Role, Timestamp, User, UserId};

use super::auth::{ReadAuth, WriteAuth, open_auth_tables};
use super::codec::{self, Change};
use super::groups::{ReadGroups, open_group_tables};
use super::lazy::Deferred;
use super::mfa::{ReadMfa, open_mfa_tables};
use super::outbox::{ReadOutbox, open_outbox_tables};
use super::sealed::{HashedIndex, Sealed, SealerRef};
use super::webhooks::{ReadWebhooks, open_webhook_tables};
use super::*;

/// `Self` with the user and auth tables opened in `$txn` (a read or a write
/// transaction: the names are the same, the table types differ), plus the
/// `extra` fields (the other groups: opened at once for a read, on first
/// use for a write, see `lazy`).
macro_rules! open_tables {
    ($txn:expr, $sealer:expr, $($extra:tt)*) => {
        Self {
            users: Sealed::new($txn.open_table(USERS)?, "users", $sealer),
            by_email: HashedIndex::new($txn.open_table(USERS_BY_EMAIL)?, $sealer),
            by_username: HashedIndex::new($txn.open_table(USERS_BY_USERNAME)?, $sealer),
            by_created: $txn.open_table(USERS_BY_CREATED)?,
            by_role: $txn.open_table(USERS_BY_ROLE)?,
            by_external_id: HashedIndex::new($txn.open_table(USERS_BY_EXTERNAL_ID)?, $sealer),
            auth: open_auth_tables!($txn, $sealer),
            $($extra)*
        }
    };
}

/// The tables of one write transaction, as the writer thread hands them to a
/// write. Every mutation checks before it changes anything, and records one
/// change.
pub struct Tx<'t> {
    users: Sealed<u128, Table<'t, u128, &'static [u8]>>,
    by_email: HashedIndex<Table<'t, &'static str, u128>>,
    by_username: HashedIndex<Table<'t, &'static str, u128>>,
    by_created: Table<'t, (i64, u128), ()>,
    by_role: Table<'t, (u8, u128), ()>,
    by_external_id: HashedIndex<Table<'t, (&'static str, u128), ()>>,
    pub(super) changes: Sealed<u64, Table<'t, u64, &'static [u8]>>,
    last_seq: u64,
    /// The time recorded with this transaction's changes.
    now: Timestamp,
    pub(super) auth: WriteAuth<'t>,
    pub(super) lazy: Deferred<'t>,
}

impl<'t> Tx<'t> {
    pub(super) fn open(txn: &'t WriteTransaction, sealer: &SealerRef) -> Result<Self, StoreError> {
        let changes = Sealed::new(txn.open_table(CHANGES)?, "changes", sealer);
        let last_seq = changes.raw.last()?.map(|(k, _)| k.value()).unwrap_or(0);
        let now = Timestamp::now();
        let lazy = Deferred::new(txn, sealer);
        Ok(open_tables!(txn, sealer, changes, last_seq, now, lazy))
    }

    /// The sequence number of the last change written so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The time recorded with this transaction's changes.
    pub(super) fn now(&self) -> Timestamp {
        self.now
    }

    /// Appends a change of user `u` (already encoded as `record`).
    fn log(
        &mut self,
        kind: EventType,
        u: &User,
        record: &[u8],
        fields: &[&'static str],
    ) -> Result<(), StoreError> {
        self.append_change(kind, u.id.as_u128(), u.version, record, fields)
    }

    /// Appends a change of user or group `id`, whose record after the
    /// change (before it, for a deletion) is `record`.
    pub(super) fn append_change(
        &mut self,
        kind: EventType,
        id: u128,
        version: u64,
        record: &[u8],
        fields: &[&'static str],
    ) -> Result<(), StoreError> {
        self.last_seq += 1;
        let change = codec::ChangeOut {
            kind,
            id,
            version,
            at: self.now.micros(),
            fields,
            snapshot: record,
        };
        self.changes
            .insert(self.last_seq, codec::encode_change(&change).as_slice())?;
        Ok(())
    }

    /// Records an event of user `id` that changed no user field (a new
    /// password, revoked sessions): the change log carries it to the
    /// event stream and webhooks. `NotFound`-free: a missing user logs nothing.
    pub fn log_user_event(&mut self, kind: EventType, id: UserId) -> Result<(), StoreError> {
        self.log_user_event_with(kind, id, &[])
    }

    /// [`log_user_event`](Self::log_user_event) naming what changed around
    /// the user (`groups`, `roles` granted by a group).
    pub(super) fn log_user_event_with(
        &mut self,
        kind: EventType,
        id: UserId,
        fields: &[&'static str],
    ) -> Result<(), StoreError> {
        let Some(bytes) = self.users.get(id.as_u128())?.map(|v| v.value().to_vec()) else {
            return Ok(());
        };
        let u = codec::decode_user(id.as_u128(), &bytes)?;
        self.log(kind, &u, &bytes, fields)
    }

    pub fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        get_user(&self.users, id)
    }

    /// The user whose folded email or folded username is `folded`.
    pub fn find_user_by_login(&self, folded: &str) -> Result<Option<User>, StoreError> {
        find_user_by_login(&self.users, &self.by_email, &self.by_username, folded)
    }

    /// Whether any user has the role `admin`.
    pub fn admin_exists(&self) -> Result<bool, StoreError> {
        role_exists(&self.by_role, Role::Admin)
    }

    /// Inserts a new user. `Conflict` if its id, email or username is taken.
    pub fn insert_user(&mut self, u: &User) -> Result<(), StoreError> {
        let id = u.id.as_u128();
        let email = u.email.folded();
        let username = u.username.as_ref().map(|n| n.folded());
        if self.users.get(id)?.is_some() {
            return Err(StoreError::Conflict { field: "id" });
        }
        if self.by_email.get(&email)?.is_some() {
            return Err(StoreError::Conflict { field: "email" });
        }
        if let Some(name) = &username
            && (self.by_username.get(name)?.is_some() || self.by_email.get(name)?.is_some())
        {
            return Err(StoreError::Conflict { field: "username" });
        }
        // Sign-in names are one namespace: an address may not be another
        // user's username.
        if self.by_username.get(&email)?.is_some() {
            return Err(StoreError::Conflict { field: "email" });
        }
        let record = codec::encode_user(u);
        self.users.insert(id, record.as_slice())?;
        self.by_email.insert(&email, id)?;
        if let Some(name) = &username {
            self.by_username.insert(name, id)?;
        }
        self.by_created
            .insert((codec::micros(u.created_at), id), ())?;
        for r in &u.roles {
            self.by_role.insert((r.code(), id), ())?;
        }
        if let Some(x) = u.external_id() {
            let key = self.by_external_id.key(x).into_owned();
            self.by_external_id.raw.insert((key.as_str(), id), ())?;
        }
        self.log(EventType::UserCreated, u, &record, &[])
    }

    /// Replaces `old` (as read in this transaction) by `new`, moving the
    /// unique keys that changed. `Conflict` if a new key belongs to another user.
    pub fn update_user(&mut self, old: &User, new: &User) -> Result<(), StoreError> {
        let id = new.id.as_u128();
        let (old_email, new_email) = (old.email.folded(), new.email.folded());
        let old_name = old.username.as_ref().map(|n| n.folded());
        let new_name = new.username.as_ref().map(|n| n.folded());
        if old_email != new_email
            && let Some(owner) = self.by_email.get(&new_email)?
            && owner != id
        {
            return Err(StoreError::Conflict { field: "email" });
        }
        if old_name != new_name
            && let Some(name) = &new_name
            && [self.by_username.get(name)?, self.by_email.get(name)?]
                .into_iter()
                .flatten()
                .any(|owner| owner != id)
        {
            return Err(StoreError::Conflict { field: "username" });
        }
        if old_email != new_email
            && let Some(owner) = self.by_username.get(&new_email)?
            && owner != id
        {
            return Err(StoreError::Conflict { field: "email" });
        }
        let record = codec::encode_user(new);
        self.users.insert(id, record.as_slice())?;
        if old_email != new_email {
            self.by_email.remove(&old_email)?;
            self.by_email.insert(&new_email, id)?;
        }
        if old_name != new_name {
            if let Some(name) = &old_name {
                self.by_username.remove(name)?;
            }
            if let Some(name) = &new_name {
                self.by_username.insert(name, id)?;
            }
        }
        if old.roles != new.roles {
            for r in &old.roles {
                self.by_role.remove((r.code(), id))?;
            }
            for r in &new.roles {
                self.by_role.insert((r.code(), id), ())?;
            }
        }
        if old.external_id() != new.external_id() {
            if let Some(x) = old.external_id() {
                let key = self.by_external_id.key(x).into_owned();
                self.by_external_id.raw.remove((key.as_str(), id))?;
            }
            if let Some(x) = new.external_id() {
                let key = self.by_external_id.key(x).into_owned();
                self.by_external_id.raw.insert((key.as_str(), id), ())?;
            }
        }
        if old.created_at != new.created_at {
            self.by_created
                .remove((codec::micros(old.created_at), id))?;
            self.by_created
                .insert((codec::micros(new.created_at), id), ())?;
        }
        self.log(
            EventType::UserUpdated,
            new,
            &record,
            &changed_fields(old, new),
        )
    }

    /// Removes `u` (as read in this transaction) and its index entries.
    pub fn delete_user(&mut self, u: &User) -> Result<(), StoreError> {
        let id = u.id.as_u128();
        let record = self
            .users
            .remove(id)?
            .unwrap_or_else(|| codec::encode_user(u));
        self.by_email.remove(&u.email.folded())?;
        if let Some(name) = &u.username {
            self.by_username.remove(&name.folded())?;
        }
        self.by_created.remove((codec::micros(u.created_at), id))?;
        for r in &u.roles {
            self.by_role.remove((r.code(), id))?;
        }
        if let Some(x) = u.external_id() {
            let key = self.by_external_id.key(x).into_owned();
            self.by_external_id.raw.remove((key.as_str(), id))?;
        }
        self.delete_credentials_and_sessions(u.id)?;
        self.delete_factors(u.id)?;
        self.leave_all_groups(u.id)?;
        self.log(EventType::UserDeleted, u, &record, &[])
    }
}

/// The API names of the fields that differ between two versions of a user.
fn changed_fields(old: &User, new: &User) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            out.push(name);
        }
    };
    check("email", old.email != new.email);
    check("username", old.username != new.username);
    check("name", old.name != new.name);
    check("roles", old.roles != new.roles);
    check("status", old.status != new.status);
    check("email_verified", old.email_verified != new.email_verified);
    check("mfa_enabled", old.mfa_enabled != new.mfa_enabled);
    check("attributes", old.attributes != new.attributes);
    check("created_at", old.created_at != new.created_at);
    out
}

pub(super) fn get_user(
    users: &Sealed<u128, impl ReadableTable<u128, &'static [u8]>>,
    id: UserId,
) -> Result<Option<User>, StoreError> {
    let key = id.as_u128();
    match users.get(key)? {
        Some(bytes) => codec::decode_user(key, bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn find_user_by_login(
    users: &Sealed<u128, impl ReadableTable<u128, &'static [u8]>>,
    by_email: &HashedIndex<impl ReadableTable<&'static str, u128>>,
    by_username: &HashedIndex<impl ReadableTable<&'static str, u128>>,
    folded: &str,
) -> Result<Option<User>, StoreError> {
    let id = match by_email.get(folded)? {
        Some(id) => Some(id),
        None => by_username.get(folded)?,
    };
    match id {
        Some(id) => get_user(users, UserId::from_u128(id)),
        None => Ok(None),
    }
}

fn role_exists(
    by_role: &impl ReadableTable<(u8, u128), ()>,
    role: Role,
) -> Result<bool, StoreError> {
    let c = role.code();
    Ok(by_role.range((c, 0)..=(c, u128::MAX))?.next().is_some())
}

/// Sort orders the store can page through by an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    CreatedAsc,
    CreatedDesc,
    EmailAsc,
}

/// Where a page ended, in the order's own index: the next page starts after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Position {
    Created { micros: i64, id: u128 },
    Email { folded: String },
}

impl Position {
    /// Where `u` stands in `order`: a page after it starts with the next user.
    pub fn of(order: Order, u: &User) -> Self {
        match order {
            Order::EmailAsc => Position::Email {
                folded: u.email.folded(),
            },
            Order::CreatedAsc | Order::CreatedDesc => Position::Created {
                micros: codec::micros(u.created_at),
                id: u.id.as_u128(),
            },
        }
    }
}

/// A page request. `filter` is applied to each user met in index order.
pub struct Scan<'a> {
    pub order: Order,
    pub after: Option<Position>,
    /// Exclusive bounds on `created_at`, in microseconds since the epoch.
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub limit: usize,
    /// Most index entries examined for one page, so a filter that matches
    /// little cannot make one request read the whole table.
    pub budget: usize,
    pub filter: &'a (dyn Fn(&User) -> bool + Sync),
}

pub struct ScanPage {
    pub items: Vec<User>,
    /// Set when more entries may follow (the page may then hold fewer than
    /// `limit` items if the budget ran out).
    pub next: Option<Position>,
}

/// The tables of one read snapshot.
pub struct ReadTx {
    pub(super) users: Sealed<u128, ReadOnlyTable<u128, &'static [u8]>>,
    pub(super) by_email: HashedIndex<ReadOnlyTable<&'static str, u128>>,
    pub(super) by_username: HashedIndex<ReadOnlyTable<&'static str, u128>>,
    pub(super) by_created: ReadOnlyTable<(i64, u128), ()>,
    pub(super) by_role: ReadOnlyTable<(u8, u128), ()>,
    pub(super) by_external_id: HashedIndex<ReadOnlyTable<(&'static str, u128), ()>>,
    pub(super) changes: Sealed<u64, ReadOnlyTable<u64, &'static [u8]>>,
    pub(super) auth: ReadAuth,
    pub(super) outbox: ReadOutbox,
    pub(super) webhooks: ReadWebhooks,
    pub(super) mfa: ReadMfa,
    pub(super) groups: ReadGroups,
}

impl ReadTx {
    pub(super) fn open(txn: &ReadTransaction, sealer: &SealerRef) -> Result<Self, StoreError> {
        Ok(open_tables!(
            txn,
            sealer,
            changes: Sealed::new(txn.open_table(CHANGES)?, "changes", sealer),
            outbox: open_outbox_tables!(txn, sealer),
            webhooks: open_webhook_tables!(txn, sealer),
            mfa: open_mfa_tables!(txn, sealer),
            groups: open_group_tables!(txn, sealer),
        ))
    }

    pub fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        get_user(&self.users, id)
    }

    /// Up to `limit` change-log entries with a sequence number above `after`,
    /// in order.
    pub fn changes_since(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Change)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.changes.range(after.saturating_add(1)..)?.take(limit) {
            let (k, v) = entry?;
            out.push((k.value(), codec::decode_change(k.value(), v.value())?));
        }
        Ok(out)
    }

    /// The user whose folded email or folded username is `folded`.
    pub fn find_user_by_login(&self, folded: &str) -> Result<Option<User>, StoreError> {
        find_user_by_login(&self.users, &self.by_email, &self.by_username, folded)
    }

    pub fn admin_exists(&self) -> Result<bool, StoreError> {
        role_exists(&self.by_role, Role::Admin)
    }

    /// The users whose `externalId` is `external_id` (exactly).
    pub fn users_by_external_id(&self, external_id: &str) -> Result<Vec<User>, StoreError> {
        let key = self.by_external_id.key(external_id).into_owned();
        let mut out = Vec::new();
        for entry in self
            .by_external_id
            .raw
            .range((key.as_str(), 0)..=(key.as_str(), u128::MAX))?
        {
            let id = entry?.0.value().1;
            out.extend(self.get_user(UserId::from_u128(id))?);
        }
        Ok(out)
    }

    /// The sequence number of the last change in this snapshot.
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self
            .changes
            .raw
            .last()?
            .map(|(k, _)| k.value())
            .unwrap_or(0))
    }

    /// Calls `f` with every user of this snapshot, in id order.
    pub fn for_each_user(
        &self,
        mut f: impl FnMut(User) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for entry in self.users.iter()? {
            let (k, v) = entry?;
            f(codec::decode_user(k.value(), v.value())?)?;
        }
        Ok(())
    }

    pub fn count_users(&self) -> Result<u64, StoreError> {
        self.users.len()
    }

    pub fn scan(&self, scan: &Scan<'_>) -> Result<ScanPage, StoreError> {
        let mut items = Vec::new();
        let mut last: Option<Position> = None;
        let mut scanned = 0;
        let mut visit = |pos: Position, id: u128| -> Result<bool, StoreError> {
            if items.len() == scan.limit || scanned == scan.budget {
                return Ok(false);
            }
            scanned += 1;
            last = Some(pos);
            if let Some(u) = self.get_user(UserId::from_u128(id))?
                && (scan.filter)(&u)
            {
                items.push(u);
            }
            Ok(true)
        };

        let mut exhausted = true;
        match scan.order {
            Order::CreatedAsc | Order::CreatedDesc => {
                let mut lo = match scan.created_after {
                    Some(t) => Bound::Excluded((t.micros(), u128::MAX)),
                    None => Bound::Unbounded,
                };
                let mut hi = match scan.created_before {
                    Some(t) => Bound::Excluded((t.micros(), 0)),
                    None => Bound::Unbounded,
                };
                if let Some(Position::Created { micros, id }) = scan.after {
                    let at = (micros, id);
                    if scan.order == Order::CreatedAsc {
                        lo = tighter_lower(lo, at);
                    } else {
                        hi = tighter_upper(hi, at);
                    }
                }
                if bounds_empty(&lo, &hi) {
                    return Ok(ScanPage { items, next: None });
                }
                let range = self.by_created.range::<(i64, u128)>((lo, hi))?;
                let iter: Box<dyn Iterator<Item = _>> = if scan.order == Order::CreatedAsc {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                for entry in iter {
                    let (k, _) = entry?;
                    let (micros, id) = k.value();
                    if !visit(Position::Created { micros, id }, id)? {
                        exhausted = false;
                        break;
                    }
                }
            }
            Order::EmailAsc => {
                if !self.by_email.ordered() {
                    return Err(StoreError::Unsupported(
                        "listing by email: an encrypted store keeps no email in order on disk",
                    ));
                }
                let start = match &scan.after {
                    Some(Position::Email { folded }) => Bound::Excluded(folded.as_str()),
                    _ => Bound::Unbounded,
                };
                for entry in self.by_email.raw.range::<&str>((start, Bound::Unbounded))? {
                    let (k, v) = entry?;
                    let pos = Position::Email {
                        folded: k.value().to_owned(),
                    };
                    if !visit(pos, v.value())? {
                        exhausted = false;
                        break;
                    }
                }
            }
        }
        Ok(ScanPage {
            items,
            next: if exhausted { None } else { last },
        })
    }
}

type Key = (i64, u128);

fn tighter_lower(b: Bound<Key>, at: Key) -> Bound<Key> {
    match b {
        Bound::Excluded(k) | Bound::Included(k) if k > at => b,
        _ => Bound::Excluded(at),
    }
}

fn tighter_upper(b: Bound<Key>, at: Key) -> Bound<Key> {
    match b {
        Bound::Excluded(k) | Bound::Included(k) if k < at => b,
        _ => Bound::Excluded(at),
    }
}

/// redb panics on a range whose start is past its end; catch that first.
fn bounds_empty(lo: &Bound<Key>, hi: &Bound<Key>) -> bool {
    match (lo, hi) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
    }
}
