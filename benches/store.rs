//! Micro-benchmarks of the costs every request pays: reading a user from
//! redb, a durable write (one user per commit), a batch commit (1 000 users
//! in one transaction) — each on a plain and on an encrypted store — sealing
//! and opening one record, and verifying an Ed25519 access token.
//!
//!     cargo bench --bench store

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use roster::auth::tokens::{Claims, StoredKey, Tokens};
use roster::crypt::{Key, Sealer};
use roster::domain::{User, UserDraft, UserId};
use roster::store::{Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;

/// The allocator the `roster` binary runs with (`src/main.rs`), so that the
/// figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn user(i: u64) -> User {
    let body = json!({
        "email": format!("bench{i}-{}@example.com", std::process::id()),
        "name": format!("Bench User {i}"),
        "attributes": {"team": "engines", "n": i},
    });
    let draft = UserDraft::from_json(body.as_object().expect("object").clone()).expect("valid");
    User::from_draft(UserId::new(), draft, OffsetDateTime::now_utc())
}

fn store_benches(c: &mut Criterion) {
    store_group(c, "store", None);
    store_group(c, "store (encrypted)", Some(Key::generate()));
}

fn crypt_benches(c: &mut Criterion) {
    let sealer = Sealer::new(Key::generate());
    let record = vec![7u8; 300];
    let sealed = sealer.seal(&[b"users", &[1u8; 16]], &record);
    let mut g = c.benchmark_group("crypt");
    g.bench_function("seal a 300-byte record", |b| {
        b.iter(|| sealer.seal(&[b"users", &[1u8; 16]], &record))
    });
    g.bench_function("open a 300-byte record", |b| {
        b.iter(|| {
            sealer
                .open(&[b"users", &[1u8; 16]], &sealed)
                .expect("opens")
        })
    });
    g.bench_function("keyed hash of an email", |b| {
        b.iter(|| sealer.index_key("someone.long@example.com"))
    });
    g.finish();
}

fn store_group(c: &mut Criterion, group: &str, key: Option<Key>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(dir.path(), key).expect("store");
    // 100 000 users to read from.
    let ids: Vec<UserId> = rt.block_on(async {
        let mut ids = Vec::new();
        for chunk in 0..10u64 {
            let users: Vec<User> = (chunk * 10_000..(chunk + 1) * 10_000).map(user).collect();
            ids.extend(users.iter().map(|u| u.id));
            store
                .write(move |tx| {
                    for u in &users {
                        tx.insert_user(u)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await
                .expect("seed");
        }
        ids
    });

    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(5));
    let mut n = 0usize;
    g.bench_function("get user (read txn + decode), 100k users", |b| {
        b.iter(|| {
            n = (n + 7919) % ids.len();
            store
                .read(|r| r.get_user(ids[n]))
                .expect("read")
                .expect("present")
        })
    });
    let mut next = 1_000_000u64;
    g.bench_function("put user, one durable commit", |b| {
        b.iter_batched(
            || {
                next += 1;
                user(next)
            },
            |u| {
                rt.block_on(store.write(move |tx| tx.insert_user(&u)))
                    .expect("insert")
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("batch commit, 1 000 users in one transaction", |b| {
        b.iter_batched(
            || {
                (0..1_000)
                    .map(|_| {
                        next += 1;
                        user(next)
                    })
                    .collect::<Vec<_>>()
            },
            |users| {
                rt.block_on(store.write(move |tx| {
                    for u in &users {
                        tx.insert_user(u)?;
                    }
                    Ok::<_, StoreError>(())
                }))
                .expect("batch")
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    rt.block_on(store.close());
}

fn jwt_benches(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let tokens = Tokens::new(&[StoredKey::generate(now)], "roster", "roster").expect("keys");
    let claims = Claims {
        amr: vec!["pwd".into()],
        sub: UserId::new().to_string(),
        iat: now,
        exp: now + 900,
        iss: "roster".into(),
        aud: "roster".into(),
        roles: vec!["user".into()],
        sid: UserId::new().to_string(),
    };
    let token = tokens.sign(&claims).expect("sign");
    let mut g = c.benchmark_group("jwt");
    g.bench_function("verify Ed25519 access token", |b| {
        b.iter(|| tokens.verify(&token).expect("valid"))
    });
    g.bench_function("sign Ed25519 access token", |b| {
        b.iter(|| tokens.sign(&claims).expect("sign"))
    });
    g.finish();
}

criterion_group!(benches, store_benches, crypt_benches, jwt_benches);
criterion_main!(benches);
