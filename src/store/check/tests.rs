use redb::TableDefinition;
use serde_json::json;
use time::OffsetDateTime;

use super::*;
use crate::domain::{Timestamp, UserDraft};
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
            "change log: user {} was last written (#1) but is missing",
            ada.id
        )]
    );
    store.close().await;
}

#[tokio::test]
async fn pruning_keeps_the_sequence_going_and_the_store_healthy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("opens");
    for i in 0..3 {
        let u = user(&format!("u{i}@example.com"), &format!("u{i}"));
        store
            .write(move |tx| tx.insert_user(&u))
            .await
            .expect("insert");
    }
    // Everything is old enough and applied: all but the newest go.
    let now = Timestamp::now();
    let pruned = store
        .write(move |tx| tx.prune_changes(u64::MAX, now, 100))
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    let span = store
        .read(|r| Ok((r.changes_pruned_through()?, r.last_seq()?)))
        .expect("read");
    assert_eq!(span, (2, 3));
    store.close().await;
    drop(store);

    let store = Store::open(dir.path()).expect("reopens");
    let u = user("next@example.com", "next");
    let seq = store
        .write(move |tx| {
            tx.insert_user(&u)?;
            Ok::<_, StoreError>(tx.last_seq())
        })
        .await
        .expect("insert");
    assert_eq!(seq, 4, "no id is handed out twice");
    let report = store.check().expect("check runs");
    assert!(report.is_healthy(), "{:?}", report.problems);
    store.close().await;
}
