//! Property: whatever sequence of creates, updates and deletes the store
//! commits, the search index converges to exactly the store's users.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use roster::auth::policy::Caller;
use roster::domain::{SearchQuery, User, UserDraft, UserId};
use roster::service::Search;
use roster::store::{Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
enum Op {
    Create(u8),
    Rename(usize, u8),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Create),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, n)| Op::Rename(i, n)),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

fn draft(n: u8, serial: usize) -> UserDraft {
    let body = json!({"email": format!("p{serial}@example.com"), "name": format!("Person {n}")});
    UserDraft::from_json(body.as_object().unwrap().clone()).unwrap()
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let search = Search::start(store.clone(), &dir.path().join("index")).unwrap();
    let mut live: Vec<UserId> = Vec::new();
    for (serial, op) in ops.into_iter().enumerate() {
        let now = OffsetDateTime::now_utc();
        match op {
            Op::Create(n) => {
                let user = User::from_draft(UserId::new(), draft(n, serial), now);
                let id = user.id;
                store
                    .write(move |tx| tx.insert_user(&user).map(|_| ()))
                    .await
                    .unwrap();
                live.push(id);
            }
            Op::Rename(i, n) if !live.is_empty() => {
                let id = live[i % live.len()];
                store
                    .write(move |tx| {
                        let cur = tx.get_user(id)?.ok_or(StoreError::Job("gone".into()))?;
                        let mut d = draft(n, 0);
                        d.email = cur.email.clone();
                        let next = cur.replaced(d, now);
                        tx.update_user(&cur, &next)
                    })
                    .await
                    .unwrap();
            }
            Op::Delete(i) if !live.is_empty() => {
                let id = live.remove(i % live.len());
                store
                    .write(move |tx| {
                        let cur = tx.get_user(id)?.ok_or(StoreError::Job("gone".into()))?;
                        tx.delete_user(&cur)
                    })
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    assert!(
        search.wait_caught_up(Duration::from_secs(10)).await,
        "the index caught up"
    );
    let found = search
        .search(
            &Caller::system(),
            SearchQuery {
                limit: 200,
                consistent: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let in_search: BTreeSet<UserId> = found.hits.iter().map(|h| h.user.id).collect();
    let mut in_store = BTreeSet::new();
    store
        .read(|r| {
            r.for_each_user(|u| {
                in_store.insert(u.id);
                Ok(())
            })
        })
        .unwrap();
    assert_eq!(found.total, in_store.len());
    assert_eq!(in_search, in_store);
    assert_eq!(in_store, live.iter().copied().collect::<BTreeSet<_>>());
    // Exactly one live document per user: no duplicate left by an update.
    let indexed = search.indexed_ids().unwrap();
    assert_eq!(indexed.len(), in_store.len(), "one document per user");
    let indexed: BTreeSet<u128> = indexed.into_iter().collect();
    assert_eq!(indexed, in_store.iter().map(|id| id.as_u128()).collect());
    search.close().await;
    store.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn search_converges_to_the_store(ops in proptest::collection::vec(op(), 1..80)) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
