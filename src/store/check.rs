//! The integrity check: proof, on one snapshot, that the tables agree with
//! each other as the write paths promise (every index entry names its user
//! and every user is in every index; sessions and credentials belong to
//! users; the change log accounts for every user's current version).
//!
//! It reads everything, so it is for tests, start-up diagnostics and
//! operators, never for a request path. It reports; it never repairs.

use std::collections::{BTreeSet, HashMap};

use redb::{ReadableTable, ReadableTableMetadata};

use crate::domain::{Session, User, UserId};

use super::auth::decode;
use super::codec::{self, Change};
use super::users::ReadTx;
use super::{Store, StoreError};

/// Problems listed in full; past this many only their number is reported.
const MAX_LISTED: usize = 100;

/// What `Store::check` found. Healthy if and only if `problems` is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub users: u64,
    pub sessions: u64,
    pub credentials: u64,
    /// The change log's last sequence number.
    pub last_seq: u64,
    /// One line per disagreement found (at most `MAX_LISTED`, then a count).
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    more: usize,
}

impl Problems {
    fn push(&mut self, p: String) {
        if self.listed.len() < MAX_LISTED {
            self.listed.push(p);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed
                .push(format!("… and {} more problems", self.more));
        }
        self.listed
    }
}

impl Store {
    /// Checks, on one consistent snapshot, that the users table, its four
    /// indexes, sessions, credentials and the change log agree. `Err` only
    /// if the store cannot be read at all; disagreements are in the report.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        self.read(check)
    }
}

/// The last change of each user id in the change log: (sequence, change).
type LastChanges = HashMap<u128, (u64, Change)>;

fn id_of(id: u128) -> UserId {
    UserId::from_u128(id)
}

/// Runs every check in turn; problems are listed in the order they are found.
fn check(r: &ReadTx) -> Result<CheckReport, StoreError> {
    let mut p = Problems::default();
    let (last_change, last_seq) = change_log(r, &mut p)?;
    let users = users(r, &last_change, &mut p)?;
    upserted_users_exist(r, &last_change, &mut p)?;
    let decoded = Decoded { r, users };
    index_entries(&decoded, &mut p)?;
    sessions(r, &mut p)?;
    credentials(r, &mut p)?;
    Ok(CheckReport {
        users: r.users.len()?,
        sessions: r.auth.sessions.len()?,
        credentials: r.auth.credentials.raw.len()?,
        last_seq,
        problems: p.finish(),
    })
}

/// The change log: the last change of each id, and that sequence numbers
/// are dense from 1 (the writer numbers them so). Returns the last changes
/// and the last sequence number.
fn change_log(r: &ReadTx, p: &mut Problems) -> Result<(LastChanges, u64), StoreError> {
    let mut last_change = LastChanges::new();
    // Pruning removes the oldest entries: the log is dense after them.
    let pruned = r.changes_pruned_through()?;
    let mut expected_seq = pruned + 1;
    for entry in r.changes.iter()? {
        let Some((k, v)) = reported(entry, p)? else {
            continue;
        };
        let seq = k.value();
        if seq != expected_seq {
            p.push(format!(
                "change log: sequence {seq} follows {}",
                expected_seq - 1
            ));
        }
        expected_seq = seq + 1;
        match codec::decode_change(seq, v.value()) {
            Ok(c) => {
                last_change.insert(c.id, (seq, c));
            }
            Err(e) => p.push(e.to_string()),
        }
    }
    Ok((last_change, expected_seq - 1))
}

/// Users, and everything each one implies. Undecodable records are
/// reported and left out of the returned map (and so of the index
/// comparisons that follow).
fn users(
    r: &ReadTx,
    last_change: &LastChanges,
    p: &mut Problems,
) -> Result<HashMap<u128, User>, StoreError> {
    let pruned = r.changes_pruned_through()? > 0;
    let mut users: HashMap<u128, User> = HashMap::new();
    for entry in r.users.iter()? {
        let Some((k, v)) = reported(entry, p)? else {
            continue;
        };
        let id = k.value();
        let u = match codec::decode_user(id, v.value()) {
            Ok(u) => u,
            Err(e) => {
                p.push(e.to_string());
                continue;
            }
        };
        user_index_entries(r, id, &u, p)?;
        user_version_logged(last_change, pruned, id, &u, p);
        users.insert(id, u);
    }
    Ok(users)
}

/// The user's entry in each of the four indexes.
fn user_index_entries(r: &ReadTx, id: u128, u: &User, p: &mut Problems) -> Result<(), StoreError> {
    let email = u.email.folded();
    if r.by_email.get(&email)? != Some(id) {
        p.push(format!(
            "users_by_email: no entry {email:?} for user {}",
            id_of(id)
        ));
    }
    if let Some(name) = u.username.as_ref().map(|n| n.folded())
        && r.by_username.get(&name)? != Some(id)
    {
        p.push(format!(
            "users_by_username: no entry {name:?} for user {}",
            id_of(id)
        ));
    }
    if r.by_created
        .get((codec::micros(u.created_at), id))?
        .is_none()
    {
        p.push(format!("users_by_created: no entry for user {}", id_of(id)));
    }
    for role in &u.roles {
        if r.by_role.get((role.code(), id))?.is_none() {
            p.push(format!(
                "users_by_role: no {role:?} entry for user {}",
                id_of(id)
            ));
        }
    }
    Ok(())
}

/// The user's last change left it at its current version (or was pruned).
fn user_version_logged(
    last_change: &LastChanges,
    pruned: bool,
    id: u128,
    u: &User,
    p: &mut Problems,
) {
    match last_change.get(&id) {
        Some((_, c)) if !c.is_delete() && c.version == u.version => {}
        Some((seq, c)) => p.push(format!(
            "change log: the last change of user {} (#{seq}, {} of version {}) is not its version {}",
            id_of(id),
            c.kind.as_str(),
            c.version,
            u.version
        )),
        None if pruned => {}
        None => p.push(format!(
            "change log: no change for user {} (version {})",
            id_of(id),
            u.version
        )),
    }
}

/// Every user whose last change is an upsert is in the users table.
fn upserted_users_exist(
    r: &ReadTx,
    last_change: &LastChanges,
    p: &mut Problems,
) -> Result<(), StoreError> {
    for (id, (seq, c)) in last_change {
        if !c.is_delete() && r.users.get(*id)?.is_none() {
            p.push(format!(
                "change log: user {} was last written (#{seq}) but is missing",
                id_of(*id)
            ));
        }
    }
    Ok(())
}

/// An entry of a sealed table, or `None` with a problem reported when it
/// does not open (damaged, or sealed under another key); storage errors
/// still end the check.
fn reported<T>(entry: Result<T, StoreError>, p: &mut Problems) -> Result<Option<T>, StoreError> {
    match entry {
        Ok(e) => Ok(Some(e)),
        Err(StoreError::Corrupt(why)) => {
            p.push(why);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The users that decoded, for the checks that go from an index entry back
/// to its user: no entry without its user.
struct Decoded<'r> {
    r: &'r ReadTx,
    users: HashMap<u128, User>,
}

impl Decoded<'_> {
    /// Whether `id`'s record exists but failed to decode: it was reported
    /// already, so its index entries are not reported again.
    fn undecodable(&self, id: u128) -> bool {
        !self.users.contains_key(&id) && self.r.users.raw.get(id).is_ok_and(|v| v.is_some())
    }
}

impl Decoded<'_> {
    /// Reports the index entry `entry` naming user `id` unless that user
    /// `holds` what the entry records; `otherwise` says how it differs.
    fn entry(
        &self,
        p: &mut Problems,
        id: u128,
        holds: impl FnOnce(&User) -> bool,
        entry: &str,
        otherwise: &str,
    ) {
        match self.users.get(&id) {
            Some(u) if holds(u) => {}
            _ if self.undecodable(id) => {}
            Some(_) => p.push(format!("{entry} names user {} {otherwise}", id_of(id))),
            None => p.push(format!("{entry} names missing user {}", id_of(id))),
        }
    }
}

/// Calls `f` with each key and value of `table`, in key order.
fn each<K: redb::Key + 'static, V: redb::Value + 'static>(
    table: &impl ReadableTable<K, V>,
    mut f: impl FnMut(K::SelfType<'_>, V::SelfType<'_>),
) -> Result<(), StoreError> {
    for entry in table.iter()? {
        let (k, v) = entry?;
        f(k.value(), v.value());
    }
    Ok(())
}

/// Every entry of the four user indexes names a user that has what the
/// entry records.
fn index_entries(d: &Decoded, p: &mut Problems) -> Result<(), StoreError> {
    let r = d.r;
    each(&r.by_email.raw, |key, id| {
        let holds = |u: &User| r.by_email.key(&u.email.folded()) == key;
        let entry = format!("users_by_email: {key:?}");
        d.entry(p, id, holds, &entry, "with another email");
    })?;
    each(&r.by_username.raw, |key, id| {
        let holds = |u: &User| {
            u.username
                .as_ref()
                .is_some_and(|n| r.by_username.key(&n.folded()) == key)
        };
        let entry = format!("users_by_username: {key:?}");
        d.entry(p, id, holds, &entry, "with another username");
    })?;
    each(&r.by_created, |(micros, id), ()| {
        let holds = |u: &User| codec::micros(u.created_at) == micros;
        let entry = format!("users_by_created: the entry at {micros}");
        d.entry(p, id, holds, &entry, "created at another time");
    })?;
    each(&r.by_role, |(code, id), ()| {
        let holds = |u: &User| u.roles.iter().any(|role| role.code() == code);
        let entry = format!("users_by_role: the role {code} entry");
        d.entry(p, id, holds, &entry, "without that role");
    })
}

fn user_exists(r: &ReadTx, id: u128) -> Result<bool, StoreError> {
    Ok(r.users.get(id)?.is_some())
}

/// Sessions and their per-user index, both ways.
fn sessions(r: &ReadTx, p: &mut Problems) -> Result<(), StoreError> {
    let mut session_keys = BTreeSet::new();
    for entry in r.auth.sessions.iter()? {
        let Some((k, v)) = reported(entry, p)? else {
            continue;
        };
        let sid = k.value();
        let s: Session = match decode("session", v.value()) {
            Ok(s) => s,
            Err(e) => {
                p.push(format!("session {}: {e}", uuid::Uuid::from_u128(sid)));
                continue;
            }
        };
        let user = s.user_id.as_u128();
        session_keys.insert((user, sid));
        if r.auth.sessions_by_user.get((user, sid))?.is_none() {
            p.push(format!("sessions_by_user: no entry for session {}", s.id));
        }
        if !user_exists(r, user)? {
            p.push(format!(
                "session {} belongs to missing user {}",
                s.id, s.user_id
            ));
        }
    }
    for entry in r.auth.sessions_by_user.iter()? {
        let (k, _) = entry?;
        let (user, sid) = k.value();
        if !session_keys.contains(&(user, sid)) && r.auth.sessions.get(sid)?.is_none() {
            p.push(format!(
                "sessions_by_user: entry names missing session {}",
                uuid::Uuid::from_u128(sid)
            ));
        }
    }
    Ok(())
}

/// Credentials belong to users.
fn credentials(r: &ReadTx, p: &mut Problems) -> Result<(), StoreError> {
    for entry in r.auth.credentials.raw.iter()? {
        let (k, _) = entry?;
        if !user_exists(r, k.value())? {
            p.push(format!("credentials for missing user {}", id_of(k.value())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
