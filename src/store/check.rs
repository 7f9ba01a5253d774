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

fn check(r: &ReadTx) -> Result<CheckReport, StoreError> {
    let mut p = Problems::default();
    let id_of = |id: u128| UserId::from_u128(id);

    // The change log: the last change of each id, and that sequence numbers
    // are dense from 1 (the writer numbers them so).
    let mut last_change: HashMap<u128, (u64, Change)> = HashMap::new();
    let mut expected_seq = 1;
    for entry in r.changes.iter()? {
        let (k, v) = entry?;
        let seq = k.value();
        if seq != expected_seq {
            p.push(format!(
                "change log: sequence {seq} follows {}",
                expected_seq - 1
            ));
        }
        expected_seq = seq + 1;
        match codec::decode_change(seq, v.value()) {
            Ok(c @ (Change::UserUpsert { id, .. } | Change::UserDelete { id })) => {
                last_change.insert(id, (seq, c));
            }
            Err(e) => p.push(e.to_string()),
        }
    }
    let last_seq = expected_seq - 1;

    // Users, and everything each one implies. Undecodable records are
    // reported and left out of the index comparisons below.
    let mut users: HashMap<u128, User> = HashMap::new();
    for entry in r.users.iter()? {
        let (k, v) = entry?;
        let id = k.value();
        let u = match codec::decode_user(id, v.value()) {
            Ok(u) => u,
            Err(e) => {
                p.push(e.to_string());
                continue;
            }
        };
        let email = u.email.folded();
        if r.by_email.get(email.as_str())?.map(|v| v.value()) != Some(id) {
            p.push(format!(
                "users_by_email: no entry {email:?} for user {}",
                id_of(id)
            ));
        }
        if let Some(name) = u.username.as_ref().map(|n| n.folded())
            && r.by_username.get(name.as_str())?.map(|v| v.value()) != Some(id)
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
        match last_change.get(&id) {
            Some((_, Change::UserUpsert { version, .. })) if *version == u.version => {}
            Some((seq, c)) => p.push(format!(
                "change log: the last change of user {} (#{seq}, {c:?}) is not its version {}",
                id_of(id),
                u.version
            )),
            None => p.push(format!(
                "change log: no change for user {} (version {})",
                id_of(id),
                u.version
            )),
        }
        users.insert(id, u);
    }
    for (id, (seq, c)) in &last_change {
        if matches!(c, Change::UserUpsert { .. }) && r.users.get(*id)?.is_none() {
            p.push(format!(
                "change log: user {} was last upserted (#{seq}) but is missing",
                id_of(*id)
            ));
        }
    }

    // Each index, the other way round: no entry without its user. A record
    // that failed to decode is absent from `users` and was reported above.
    let undecodable =
        |id: u128| !users.contains_key(&id) && r.users.get(id).is_ok_and(|v| v.is_some());
    for entry in r.by_email.iter()? {
        let (k, v) = entry?;
        let (key, id) = (k.value(), v.value());
        match users.get(&id) {
            Some(u) if u.email.folded() == key => {}
            _ if undecodable(id) => {}
            Some(_) => p.push(format!(
                "users_by_email: {key:?} names user {} with another email",
                id_of(id)
            )),
            None => p.push(format!(
                "users_by_email: {key:?} names missing user {}",
                id_of(id)
            )),
        }
    }
    for entry in r.by_username.iter()? {
        let (k, v) = entry?;
        let (key, id) = (k.value(), v.value());
        match users.get(&id) {
            Some(u) if u.username.as_ref().map(|n| n.folded()).as_deref() == Some(key) => {}
            _ if undecodable(id) => {}
            Some(_) => p.push(format!(
                "users_by_username: {key:?} names user {} with another username",
                id_of(id)
            )),
            None => p.push(format!(
                "users_by_username: {key:?} names missing user {}",
                id_of(id)
            )),
        }
    }
    for entry in r.by_created.iter()? {
        let (k, _) = entry?;
        let (micros, id) = k.value();
        match users.get(&id) {
            Some(u) if codec::micros(u.created_at) == micros => {}
            _ if undecodable(id) => {}
            Some(_) => p.push(format!(
                "users_by_created: entry at {micros} for user {} created at another time",
                id_of(id)
            )),
            None => p.push(format!(
                "users_by_created: entry names missing user {}",
                id_of(id)
            )),
        }
    }
    for entry in r.by_role.iter()? {
        let (k, _) = entry?;
        let (code, id) = k.value();
        match users.get(&id) {
            Some(u) if u.roles.iter().any(|role| role.code() == code) => {}
            _ if undecodable(id) => {}
            Some(_) => p.push(format!(
                "users_by_role: role {code} entry for user {} without it",
                id_of(id)
            )),
            None => p.push(format!(
                "users_by_role: role {code} entry names missing user {}",
                id_of(id)
            )),
        }
    }

    // Sessions and their per-user index, both ways; credentials.
    let exists = |id: u128| -> Result<bool, StoreError> { Ok(r.users.get(id)?.is_some()) };
    let mut session_keys = BTreeSet::new();
    for entry in r.auth.sessions.iter()? {
        let (k, v) = entry?;
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
        if !exists(user)? {
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
    for entry in r.auth.credentials.iter()? {
        let (k, _) = entry?;
        if !exists(k.value())? {
            p.push(format!("credentials for missing user {}", id_of(k.value())));
        }
    }

    Ok(CheckReport {
        users: r.users.len()?,
        sessions: r.auth.sessions.len()?,
        credentials: r.auth.credentials.len()?,
        last_seq,
        problems: p.finish(),
    })
}

#[cfg(test)]
mod tests {
    use redb::TableDefinition;
    use serde_json::json;
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::UserDraft;
    use crate::store::{CREDENTIALS, USERS, USERS_BY_EMAIL, USERS_BY_USERNAME};

    fn user(email: &str, username: &str) -> User {
        let draft = UserDraft::from_json(
            json!({"email": email, "username": username, "roles": ["admin"]})
                .as_object()
                .expect("an object")
                .clone(),
        )
        .expect("a valid draft");
        let now = codec::from_micros(codec::micros(OffsetDateTime::now_utc())).expect("now");
        User::from_draft(UserId::new(), draft, now)
    }

    /// Changes tables behind the writer's back: the corruption the check
    /// exists to find cannot be made through `Tx`.
    fn tamper(store: &Store, f: impl FnOnce(&redb::WriteTransaction)) {
        let guard = store.inner.db.guard();
        let txn = guard.as_ref().expect("open").begin_write().expect("write");
        f(&txn);
        txn.commit().expect("commit");
    }

    #[tokio::test]
    async fn a_healthy_store_passes_and_each_corruption_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("opens");
        let (ada, bob) = (
            user("ada@example.com", "ada"),
            user("bob@example.com", "bob"),
        );
        for u in [&ada, &bob] {
            let u = u.clone();
            store
                .write(move |tx| tx.insert_user(&u))
                .await
                .expect("insert");
        }
        let bob2 = User {
            name: None,
            version: bob.version + 1,
            ..bob.clone()
        };
        let b = bob.clone();
        store
            .write(move |tx| tx.update_user(&b, &bob2))
            .await
            .expect("update");
        let report = store.check().expect("check runs");
        assert!(report.is_healthy(), "{:?}", report.problems);
        assert_eq!((report.users, report.last_seq), (2, 3));

        let (a, b) = (ada.id.as_u128(), bob.id.as_u128());
        tamper(&store, |txn| {
            let mut by_email = txn.open_table(USERS_BY_EMAIL).expect("table");
            by_email.remove("ada@example.com").expect("remove");
            by_email
                .insert("ghost@example.com", 42u128)
                .expect("insert");
            let mut by_username = txn.open_table(USERS_BY_USERNAME).expect("table");
            by_username.insert("bobby", b).expect("insert");
            let mut creds = txn.open_table(CREDENTIALS).expect("table");
            creds.insert(7u128, "not-a-hash").expect("insert");
        });
        let problems = store.check().expect("check runs").problems;
        let expect = [
            format!(
                "users_by_email: no entry \"ada@example.com\" for user {}",
                ada.id
            ),
            format!(
                "users_by_email: \"ghost@example.com\" names missing user {}",
                UserId::from_u128(42)
            ),
            format!(
                "users_by_username: \"bobby\" names user {} with another username",
                bob.id
            ),
            format!("credentials for missing user {}", UserId::from_u128(7)),
        ];
        for e in &expect {
            assert!(problems.contains(e), "{e} not in {problems:#?}");
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");

        // A record that does not decode, and a user the change log never saw.
        tamper(&store, |txn| {
            let mut users = txn.open_table(USERS).expect("table");
            users.insert(a, &[9u8, 9][..]).expect("insert");
            let rogue = user("eve@example.com", "eve");
            users
                .insert(rogue.id.as_u128(), codec::encode_user(&rogue).as_slice())
                .expect("insert");
        });
        let problems = store.check().expect("check runs").problems;
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&format!("user {}: unknown record version", ada.id))),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("change log: no change for user")),
            "{problems:#?}"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn the_change_log_must_account_for_deletes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("opens");
        let ada = user("ada@example.com", "ada");
        let u = ada.clone();
        store
            .write(move |tx| tx.insert_user(&u))
            .await
            .expect("insert");
        // Remove the user and its index entries but log nothing.
        const BY_CREATED: TableDefinition<(i64, u128), ()> = crate::store::USERS_BY_CREATED;
        tamper(&store, |txn| {
            let id = ada.id.as_u128();
            txn.open_table(USERS).expect("t").remove(id).expect("rm");
            txn.open_table(USERS_BY_EMAIL)
                .expect("t")
                .remove("ada@example.com")
                .expect("rm");
            txn.open_table(USERS_BY_USERNAME)
                .expect("t")
                .remove("ada")
                .expect("rm");
            txn.open_table(BY_CREATED)
                .expect("t")
                .remove((codec::micros(ada.created_at), id))
                .expect("rm");
            txn.open_table(crate::store::USERS_BY_ROLE)
                .expect("t")
                .remove((crate::domain::Role::Admin.code(), id))
                .expect("rm");
        });
        let problems = store.check().expect("check runs").problems;
        assert_eq!(
            problems,
            vec![format!(
                "change log: user {} was last upserted (#1) but is missing",
                ada.id
            )]
        );
        store.close().await;
    }
}
