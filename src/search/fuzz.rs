//! The fuzzing hook of search (`tests/fuzz`, target `search_query`): a
//! small fixed index in RAM, and [`fuzz_build_query`], which searches it
//! for any query text and filters as the search endpoint would and checks
//! the result's invariants. Not an API: `#[doc(hidden)]`.

use std::path::Path;

use tantivy::Index;

use super::SearchError;
use super::highlight::Highlighter;
use super::index::{IndexOp, SearchIndex};
use super::query::{self, SearchRequest, analyze};
use super::run::Found;
use super::schema::schema;
use crate::domain::User;

/// The fixed users of [`fuzz_build_query`]'s index: several scripts, no
/// name, no roles, both statuses, nested attributes. Fixed and valid, so
/// building them cannot fail.
pub(super) fn fuzz_users() -> Vec<User> {
    use crate::domain::{UserDraft, UserId};
    use serde_json::json;
    let bodies = [
        json!({"email": "ada@analytical.example", "username": "ada", "name": "Ada Lovelace",
               "roles": ["admin", "user"], "email_verified": true,
               "attributes": {"team": "quantum engines", "n": [1, {"x": "nested"}]}}),
        json!({"email": "grace@navy.example", "username": "amazing_grace",
               "name": "Grace Hopper", "status": "disabled"}),
        json!({"email": "jose@example.org", "name": "José García",
               "attributes": {"city": "São Paulo"}}),
        json!({"email": "noname@example.org"}),
        json!({"email": "zoe@example.org", "username": "zoe42", "name": "Zoë Ælfgifu 李小龍",
               "roles": []}),
        json!({"email": "x@example.org", "name": "x y z", "email_verified": true,
               "attributes": {"tags": ["x", "y", "z"], "emoji": "🦀 crab <b>&"}}),
        json!({"email": "deleted@example.org", "name": "Ada Deleted"}),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
                .expect("a valid user");
            let at = crate::store::from_micros(1_700_000_000_000_000 + i as i64 * 1_000)
                .expect("a valid time");
            User::from_draft(
                UserId::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128),
                draft,
                at,
            )
        })
        .collect()
}

/// An in-RAM index of [`fuzz_users`] in two segments, the first with deletes;
/// with the users it holds.
static FUZZ_INDEX: std::sync::LazyLock<(SearchIndex, Vec<User>)> = std::sync::LazyLock::new(|| {
    let (schema, fields) = schema();
    let index = SearchIndex::with_index(Index::create_in_ram(schema), fields, Path::new(""))
        .expect("an in-RAM index");
    let mut users = fuzz_users();
    let deleted = users.pop().expect("a user to delete");
    let upsert = |u: &User| IndexOp::Upsert(Box::new(u.clone()));
    let mut first: Vec<IndexOp> = users[..4].iter().map(upsert).collect();
    first.push(upsert(&deleted));
    index.apply(first).expect("indexing");
    index.commit(1).expect("a commit");
    let mut second: Vec<IndexOp> = users[4..].iter().map(upsert).collect();
    users[1].version += 1;
    second.push(upsert(&users[1]));
    second.push(IndexOp::Delete(deleted.id.as_u128()));
    index.apply(second).expect("indexing");
    index.commit(2).expect("a commit");
    (index, users)
});

/// Fuzzing hook (`tests/fuzz`, target `search_query`) and its regression
/// tests; not an API. Analyses `q` into `req.words` as the search endpoint
/// does, builds the query and runs it against a small fixed in-RAM index,
/// then highlights the hits as the service does. Panics if the result breaks
/// an invariant: a hit that is not a live user or comes twice, a page of the
/// wrong length, a facet count above the total.
#[doc(hidden)]
pub fn fuzz_build_query(q: &str, mut req: SearchRequest) -> Result<Found, SearchError> {
    let (index, users) = &*FUZZ_INDEX;
    req.words = analyze(q);
    assert!(req.words.len() <= query::MAX_WORDS, "too many words");
    assert!(
        req.words.iter().all(|w| !w.text.is_empty()),
        "an empty word"
    );
    let n = req.words.len();
    assert!(
        req.words
            .iter()
            .enumerate()
            .all(|(i, w)| w.prefix == (i + 1 == n)),
        "only the last word is a prefix"
    );
    let found = index.search(&req)?;
    assert!(found.total <= users.len(), "total {} > users", found.total);
    let page = req.limit.max(1).min(found.total.saturating_sub(req.offset));
    assert_eq!(
        found.hits.len(),
        page,
        "page length (total {})",
        found.total
    );
    let mut seen = std::collections::HashSet::new();
    let mut highlighter = Highlighter::new(&found.words);
    for &(id, score) in &found.hits {
        assert!(seen.insert(id), "hit {id:x} twice");
        assert!(score.is_finite(), "score {score}");
        let user = users
            .iter()
            .find(|u| u.id.as_u128() == id)
            .unwrap_or_else(|| panic!("hit {id:x} is not a live user"));
        highlighter.of(user);
    }
    for (facet, counts) in &found.facets {
        for (value, count) in counts {
            assert!(
                *count <= found.total,
                "{facet}={value}: {count} > total {}",
                found.total
            );
        }
    }
    Ok(found)
}
