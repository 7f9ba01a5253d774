//! The fuzzing hook of search (`tests/fuzz`, target `search_query`): a
//! small fixed index in RAM, and [`fuzz_build_query`], which searches it
//! for any query text and filters as the search endpoint would and checks
//! the result's invariants. Not an API: `#[doc(hidden)]`.
//!
//! It is compiled into every build rather than behind `cfg(fuzzing)`
//! because the main crate's `tests/api/fuzz_regressions.rs` replays every
//! saved fuzz input during a plain `cargo test`, and an integration test
//! links the library as built without `cfg(test)` or `cfg(fuzzing)`: gated,
//! the replay could not run. (A cargo feature enabled by a dev-dependency
//! of the crate on itself would gate it; that is a `Cargo.toml` decision.)
//! Unused, it costs nothing: the index is built on the first call. It
//! never panics: a broken invariant is a [`FuzzError::Broken`], which the
//! fuzz target and the regression test (`roster_fuzz::check_search_query`)
//! turn into a crash with `expect`, so both fail exactly as before.

use std::path::Path;
use std::sync::LazyLock;

use tantivy::Index;

use super::SearchError;
use super::highlight::Highlighter;
use super::index::{IndexOp, SearchIndex};
use super::query::{MAX_WORDS, QueryWord, SearchRequest, analyze};
use super::run::Found;
use super::schema::schema;
use crate::domain::{SearchQuery, User};

/// Why [`fuzz_build_query`] found no result to return.
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    /// The search failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The fixed index could not be built.
    #[error("the fuzzing index: {0}")]
    Fixture(String),
    /// The result broke an invariant, told in words.
    #[error("broken invariant: {0}")]
    Broken(String),
}

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
            let at =
                crate::domain::Timestamp::from_micros(1_700_000_000_000_000 + i as i64 * 1_000)
                    .to_datetime()
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
static FUZZ_INDEX: LazyLock<Result<(SearchIndex, Vec<User>), SearchError>> =
    LazyLock::new(fuzz_index);

fn fuzz_index() -> Result<(SearchIndex, Vec<User>), SearchError> {
    let (schema, fields) = schema();
    let index = SearchIndex::with_index(Index::create_in_ram(schema), fields, Path::new(""))?;
    let mut users = fuzz_users();
    let deleted = users.pop().expect("fuzz_users holds seven users");
    let upsert = |u: &User| IndexOp::Upsert(Box::new(u.clone()));
    let mut first: Vec<IndexOp> = users[..4].iter().map(upsert).collect();
    first.push(upsert(&deleted));
    index.apply(first)?;
    index.commit(1)?;
    let mut second: Vec<IndexOp> = users[4..].iter().map(upsert).collect();
    users[1].version += 1;
    second.push(upsert(&users[1]));
    second.push(IndexOp::Delete(deleted.id.as_u128()));
    index.apply(second)?;
    index.commit(2)?;
    Ok((index, users))
}

/// Fuzzing hook (`tests/fuzz`, target `search_query`) and its regression
/// tests; not an API. Analyses `q` into words as the search endpoint does
/// (the rest of the search as `asked`), builds the query and runs it against a small fixed in-RAM index,
/// then highlights the hits as the service does. Returns
/// [`FuzzError::Broken`] if the words or the result break an invariant: a
/// hit that is not a live user or comes twice, a page of the wrong length,
/// a facet count above the total.
#[doc(hidden)]
pub fn fuzz_build_query(q: &str, asked: SearchQuery) -> Result<Found, FuzzError> {
    let (index, users) = FUZZ_INDEX
        .as_ref()
        .map_err(|e| FuzzError::Fixture(e.to_string()))?;
    let req = SearchRequest {
        words: analyze(q),
        asked,
        ..Default::default()
    };
    check_words(&req.words)?;
    let found = index.search(&req)?;
    check_found(&req, &found, users)?;
    Ok(found)
}

/// `Ok` if `holds`; otherwise the invariant `what` tells is broken.
fn ensure(holds: bool, what: impl FnOnce() -> String) -> Result<(), FuzzError> {
    if holds {
        Ok(())
    } else {
        Err(FuzzError::Broken(what()))
    }
}

/// A query's analysed words: at most [`MAX_WORDS`], none empty, only the
/// last one a prefix.
fn check_words(words: &[QueryWord]) -> Result<(), FuzzError> {
    ensure(words.len() <= MAX_WORDS, || "too many words".into())?;
    ensure(words.iter().all(|w| !w.text.is_empty()), || {
        "an empty word".into()
    })?;
    let n = words.len();
    ensure(
        words
            .iter()
            .enumerate()
            .all(|(i, w)| w.prefix == (i + 1 == n)),
        || "only the last word is a prefix".into(),
    )
}

/// A search's result against the users the index holds: a full page of
/// distinct live users with finite scores (each highlighted as the service
/// would), a total and facet counts no larger than possible.
fn check_found(req: &SearchRequest, found: &Found, users: &[User]) -> Result<(), FuzzError> {
    ensure(found.total <= users.len(), || {
        format!("total {} > users", found.total)
    })?;
    let page = req
        .asked
        .limit
        .max(1)
        .min(found.total.saturating_sub(req.asked.offset));
    ensure(found.hits.len() == page, || {
        format!(
            "page length {} instead of {page} (total {})",
            found.hits.len(),
            found.total
        )
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut highlighter = Highlighter::new(&found.words);
    for &(id, score) in &found.hits {
        ensure(seen.insert(id), || format!("hit {id:x} twice"))?;
        ensure(score.is_finite(), || format!("score {score}"))?;
        let user = users
            .iter()
            .find(|u| u.id.as_u128() == id)
            .ok_or_else(|| FuzzError::Broken(format!("hit {id:x} is not a live user")))?;
        highlighter.of(user);
    }
    for (facet, counts) in &found.facets {
        for (value, count) in counts {
            ensure(*count <= found.total, || {
                format!("{facet}={value}: {count} > total {}", found.total)
            })?;
        }
    }
    Ok(())
}
