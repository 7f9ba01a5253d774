//! Search latency on generated users (100 000 and 1 000 000 by default), per
//! query shape, through the real service path: tantivy query, hydration of
//! the hits from redb, highlights. Also prints the bulk index build rate and
//! p50/p99 per shape from 1 000 timed queries.
//!
//!     cargo bench --bench search
//!     ROSTER_BENCH_SEARCH_USERS=100000 cargo bench --bench search
//!     ROSTER_BENCH_SEARCH_WORDS=10 ROSTER_BENCH_SEARCH_USERS=1000000 cargo bench --bench search
//!
//! `ROSTER_BENCH_SEARCH_WORDS` (default 40) is how many first and how many
//! last names the users are drawn from: at 10 each name is held by 10 % of
//! the users, the "john smith" of a real directory (dense words).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use roster::auth::policy::Caller;
use roster::domain::{Role, SearchQuery, Status, User, UserDraft, UserId};
use roster::service::{Search, rebuild_offline};
use roster::store::{Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;

/// The allocator the `roster` binary runs with (`src/main.rs`), so that the
/// figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FIRST: [&str; 40] = [
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Oliver",
    "Charlotte",
    "Elijah",
    "Amelia",
    "James",
    "Sophia",
    "William",
    "Mia",
    "Benjamin",
    "Harper",
    "Lucas",
    "Evelyn",
    "Henry",
    "Abigail",
    "Theodore",
    "Emily",
    "Jack",
    "Ella",
    "Levi",
    "Elizabeth",
    "Alexander",
    "Camila",
    "Jackson",
    "Luna",
    "Mateo",
    "Sofia",
    "Daniel",
    "Avery",
    "Michael",
    "Mila",
    "Mason",
    "Aria",
    "Sebastian",
    "Scarlett",
    "Ethan",
    "Penelope",
];
const LAST: [&str; 40] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
];
const CITIES: [&str; 8] = [
    "Berlin", "Lisbon", "Osaka", "Lagos", "Denver", "Quito", "Perth", "Oslo",
];

fn user(i: usize, words: usize, now: OffsetDateTime) -> User {
    let (f, l) = (FIRST[i % words], LAST[(i / words) % words]);
    let body = json!({
        "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
        "name": format!("{f} {l}"),
        "username": format!("{}{}{i}", f.to_lowercase(), &l[..1].to_lowercase()),
        "roles": if i.is_multiple_of(50) { json!(["admin", "user"]) } else { json!(["user"]) },
        "status": if i.is_multiple_of(10) { "disabled" } else { "active" },
        "attributes": {"city": CITIES[i % 8], "plan": if i.is_multiple_of(3) { "pro" } else { "free" }},
    });
    let draft =
        UserDraft::from_json(body.as_object().expect("object").clone()).expect("valid user");
    User::from_draft(UserId::new(), draft, now)
}

struct Corpus {
    rt: tokio::runtime::Runtime,
    store: Store,
    search: Search,
    _dir: tempfile::TempDir,
}

fn corpus(n: usize, words: usize) -> Corpus {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let started = Instant::now();
    rt.block_on(async {
        let now = OffsetDateTime::now_utc();
        for start in (0..n).step_by(20_000) {
            let users: Vec<User> = (start..(start + 20_000).min(n))
                .map(|i| user(i, words, now))
                .collect();
            store
                .write(move |tx| {
                    for u in &users {
                        tx.insert_user(u)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await
                .expect("bulk insert");
        }
    });
    let stored = started.elapsed();
    let index_dir = dir.path().join("index");
    let started = Instant::now();
    let indexed = rebuild_offline(&store, &index_dir).expect("index build");
    let build = started.elapsed();
    println!(
        "{n} users ({words} × {words} names): store load {:.1} s ({:.0}/s); index build {:.1} s = {:.0} users/s",
        stored.as_secs_f64(),
        n as f64 / stored.as_secs_f64(),
        build.as_secs_f64(),
        indexed as f64 / build.as_secs_f64()
    );
    let search = Search::start(store.clone(), &index_dir).expect("search");
    Corpus {
        rt,
        store,
        search,
        _dir: dir,
    }
}

fn shapes() -> Vec<(&'static str, SearchQuery)> {
    let base = SearchQuery {
        limit: 20,
        ..Default::default()
    };
    vec![
        (
            "word",
            SearchQuery {
                text: "garcia".into(),
                ..base.clone()
            },
        ),
        (
            "two words",
            SearchQuery {
                text: "olivia garcia".into(),
                ..base.clone()
            },
        ),
        (
            "two words, misspelt",
            SearchQuery {
                text: "olivai garcai".into(),
                ..base.clone()
            },
        ),
        (
            "typo",
            SearchQuery {
                text: "willaims".into(),
                ..base.clone()
            },
        ),
        (
            "prefix + filter + facets",
            SearchQuery {
                text: "sebast".into(),
                status: Some(Status::Active),
                roles: vec![Role::User],
                facet_status: true,
                facet_roles: true,
                ..base.clone()
            },
        ),
        (
            "browse + facets",
            SearchQuery {
                facet_status: true,
                facet_roles: true,
                ..base
            },
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("ROSTER_BENCH_SEARCH_USERS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let words = std::env::var("ROSTER_BENCH_SEARCH_WORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
        .clamp(10, 40);
    let caller = Caller::system();
    for n in sizes {
        let corpus = corpus(n, words);
        let mut table = Vec::new();
        for (name, req) in shapes() {
            let mut lat = Vec::with_capacity(1000);
            let mut total = 0;
            for _ in 0..1000 {
                let t = Instant::now();
                let r = corpus
                    .rt
                    .block_on(corpus.search.search(&caller, req.clone()))
                    .expect("search");
                lat.push(t.elapsed());
                total = r.total;
            }
            lat.sort();
            table.push((name, total, lat[500], lat[990]));
        }
        println!("| users | query | matches | p50 ms | p99 ms |");
        println!("|---:|---|---:|---:|---:|");
        for (name, total, p50, p99) in &table {
            println!(
                "| {n} | {name} | {total} | {:.2} | {:.2} |",
                ms(*p50),
                ms(*p99)
            );
        }
        let mut group = c.benchmark_group(format!("search/{n}"));
        group.measurement_time(Duration::from_secs(3));
        for (name, req) in shapes() {
            group.bench_function(name, |b| {
                b.iter(|| {
                    corpus
                        .rt
                        .block_on(corpus.search.search(&caller, req.clone()))
                        .expect("search")
                })
            });
        }
        group.finish();
        corpus.rt.block_on(async {
            corpus.search.close().await;
            corpus.store.close().await;
        });
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

criterion_group!(benches, bench);
criterion_main!(benches);
