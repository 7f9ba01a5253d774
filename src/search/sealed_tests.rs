//! Tests of the index with a data key: sealed on disk, rebuilt when it
//! does not open with the key, re-sealed for a rotation, merging as usual.

use std::path::Path;

use tantivy::{Index, Term};

use super::index::{IndexOp, Opened, SearchIndex};
use super::query::SearchRequest;
use super::tests::user;
use crate::domain::{SearchQuery, User};

/// Words found in one user only, as terms of their fields: in the email,
/// the name and an attribute.
const SECRETS: [(&str, &str); 3] = [
    ("email", "xylophagous"),
    ("name", "quixotrix"),
    ("attributes", "marzipanfactory"),
];
/// The name of that user as the `name_sort` column holds it.
const SECRET_NAME: &str = "zebulon quixotrix";

/// A user with the [`SECRETS`] (id 1000) and two others.
fn secret_users() -> Vec<User> {
    use crate::domain::UserDraft;
    let body = serde_json::json!({
        "email": "xylophagous.wombat@example.com",
        "name": "Zebulon Quixotrix",
        "attributes": {"team": "marzipanfactory"},
    });
    let draft =
        UserDraft::from_json(body.as_object().expect("an object").clone()).expect("a valid user");
    let secret = User::from_draft(user(1000).id, draft, time::OffsetDateTime::UNIX_EPOCH);
    vec![secret, user(1), user(2)]
}

fn upserts(users: &[User]) -> Vec<IndexOp> {
    users
        .iter()
        .map(|u| IndexOp::Upsert(Box::new(u.clone())))
        .collect()
}

/// The ids a search finds, in id order.
fn hits(index: &SearchIndex, q: &str) -> Vec<u128> {
    let req = SearchRequest::new(SearchQuery {
        text: q.to_string(),
        limit: 100,
        ..Default::default()
    });
    let found = index.search(&req).expect("a search");
    let mut ids: Vec<u128> = found.hits.into_iter().map(|(id, _)| id).collect();
    ids.sort_unstable();
    ids
}

/// Each secret is found, for the secret user only.
fn finds_the_secrets(index: &SearchIndex) {
    for (_, word) in SECRETS {
        assert_eq!(hits(index, word), [user(1000).id.as_u128()], "{word}");
    }
}

/// The files of the index in `dir` with their content, but for the
/// schema version file and tantivy's lock files (empty).
fn index_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the index dir") {
        let entry = entry.expect("an entry");
        let name = entry.file_name().into_string().expect("a UTF-8 name");
        let bytes = std::fs::read(entry.path()).expect("a file");
        if name.starts_with(".tantivy-") && name.ends_with(".lock") {
            assert!(bytes.is_empty(), "{name}");
        } else if name != super::index::VERSION_FILE {
            out.push((name, bytes));
        }
    }
    out
}

/// The files of `dir` whose bytes hold `needle` as they are.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    index_files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(name, _)| name)
        .collect()
}

/// Whether tantivy, with no key, reads `word` from the files in `dir` as
/// a term of `field`.
fn holds_term(dir: &Path, field: &str, word: &str) -> bool {
    let Ok(index) = Index::open_in_dir(dir) else {
        return false;
    };
    let field = index.schema().get_field(field).expect("a field");
    let searcher = index.reader().expect("a reader").searcher();
    searcher
        .doc_freq(&Term::from_field_text(field, word))
        .expect("a doc freq")
        > 0
}

/// Every file of the index in `dir` is sealed with `sealer`'s key: the
/// secrets cannot be read from them, raw or by tantivy.
fn assert_sealed(dir: &Path, sealer: &crate::crypt::Sealer) {
    let files = index_files(dir);
    assert!(files.len() > 2, "segment files, meta.json, .managed.json");
    for (name, bytes) in &files {
        assert!(sealer.is_current(bytes), "{name} sealed");
    }
    for (field, word) in SECRETS {
        assert_eq!(files_holding(dir, word), [] as [String; 0]);
        assert!(!holds_term(dir, field, word));
    }
    assert_eq!(files_holding(dir, SECRET_NAME), [] as [String; 0]);
}

fn sealer() -> std::sync::Arc<crate::crypt::Sealer> {
    std::sync::Arc::new(crate::crypt::Sealer::new(crate::crypt::Key::generate()))
}

/// With a key, every file of the index is sealed: no user's words can be
/// read from it, raw or by tantivy (without a key they can), and the
/// index reopens where it was.
#[test]
fn with_a_key_the_index_is_sealed_on_disk() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let sealed = dir.path().join("sealed");
    let sealer = sealer();
    let (index, opened) =
        SearchIndex::open_sealed(&sealed, Some(sealer.clone())).expect("an index");
    assert_eq!(opened, Opened::NeedsRebuild);
    index.apply(upserts(&secret_users())).expect("indexed");
    index.commit(3).expect("committed");
    finds_the_secrets(&index);
    drop(index);

    let (index, opened) =
        SearchIndex::open_sealed(&sealed, Some(sealer.clone())).expect("it reopens");
    assert_eq!(opened, Opened::Resumed(3));
    assert_eq!(index.num_docs(), 3);
    finds_the_secrets(&index);
    drop(index);
    assert_sealed(&sealed, &sealer);

    // Both checks see the words in an index in the clear. (Terms are in
    // finite-state transducers, whose bytes do not spell them: a raw scan
    // finds only whole values, as the `name_sort` column holds them.)
    let plain = dir.path().join("plain");
    let (index, _) = SearchIndex::open(&plain).expect("an index");
    index.apply(upserts(&secret_users())).expect("indexed");
    index.commit(3).expect("committed");
    drop(index);
    assert!(!files_holding(&plain, SECRET_NAME).is_empty());
    for (field, word) in SECRETS {
        assert!(holds_term(&plain, field, word), "{word}");
    }
    for (name, bytes) in index_files(&plain) {
        assert_eq!(crate::crypt::Sealer::sealed_by(&bytes), None, "{name}");
    }
}

/// An index that does not open with the key given (another key, none, or
/// written in the clear) is wiped and rebuilt, never a panic.
#[test]
fn an_index_that_does_not_open_with_the_key_is_rebuilt() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("index");
    let write = |sealer: Option<std::sync::Arc<crate::crypt::Sealer>>| {
        let (index, _) = SearchIndex::open_sealed(&path, sealer).expect("an index");
        index.apply(upserts(&secret_users())).expect("indexed");
        index.commit(3).expect("committed");
    };
    for (written_with, opened_with) in [
        (Some(sealer()), Some(sealer())),
        (Some(sealer()), None),
        (None, Some(sealer())),
    ] {
        write(written_with);
        let (index, opened) = SearchIndex::open_sealed(&path, opened_with.clone()).expect("opens");
        assert_eq!(opened, Opened::NeedsRebuild);
        assert_eq!(index.num_docs(), 0);
        // Rebuilt with the key given: usable, and it reopens.
        index.apply(upserts(&secret_users())).expect("indexed");
        index.commit(4).expect("committed");
        drop(index);
        let (index, opened) = SearchIndex::open_sealed(&path, opened_with).expect("reopens");
        assert_eq!(opened, Opened::Resumed(4));
        finds_the_secrets(&index);
        drop(index);
        std::fs::remove_dir_all(&path).expect("removed");
    }
}

/// An offline key rotation reseals every file; it opens with the new
/// key alone, and a second run has nothing to do. An index written in
/// the clear is sealed the same way.
#[test]
fn resealing_rotates_the_key_or_encrypts_a_plain_index() {
    use crate::crypt::{Key, Sealer};
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("index");
    let (old, new) = (Key::generate(), Key::generate());
    let (index, _) =
        SearchIndex::open_sealed(&path, Some(Arc::new(Sealer::new(old.clone())))).expect("index");
    index.apply(upserts(&secret_users())).expect("indexed");
    index.commit(3).expect("committed");
    let before = hits(&index, "ada");
    assert_eq!(before.len(), 2);
    drop(index);

    let rotating = Sealer::rotating(new.clone(), old);
    let resealed = super::reseal_index(&path, &rotating).expect("resealed");
    assert!(resealed > 2, "every file: {resealed}");
    assert_eq!(super::reseal_index(&path, &rotating).expect("resealed"), 0);
    let new = Arc::new(Sealer::new(new));
    assert_eq!(super::reseal_index(&path, &new).expect("resealed"), 0);
    assert_sealed(&path, &new);
    let (index, opened) = SearchIndex::open_sealed(&path, Some(new)).expect("it opens");
    assert_eq!(opened, Opened::Resumed(3));
    assert_eq!(hits(&index, "ada"), before);
    finds_the_secrets(&index);
    drop(index);

    let plain = dir.path().join("plain");
    let (index, _) = SearchIndex::open(&plain).expect("an index");
    index.apply(upserts(&secret_users())).expect("indexed");
    index.commit(5).expect("committed");
    drop(index);
    let key = Arc::new(Sealer::new(Key::generate()));
    assert!(super::reseal_index(&plain, &key).expect("resealed") > 2);
    assert_eq!(super::reseal_index(&plain, &key).expect("resealed"), 0);
    assert_sealed(&plain, &key);
    let (index, opened) = SearchIndex::open_sealed(&plain, Some(key)).expect("it opens");
    assert_eq!(opened, Opened::Resumed(5));
    assert_eq!(hits(&index, "ada"), before);
    finds_the_secrets(&index);
}

/// Many commits, background merges, updates and deletes, then a merge
/// into one segment: the sealed index stays right, and sealed.
#[test]
fn a_sealed_index_merges() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("index");
    let sealer = sealer();
    let (index, _) = SearchIndex::open_sealed(&path, Some(sealer.clone())).expect("an index");
    let secrets = secret_users();
    index.apply(upserts(&secrets)).expect("indexed");
    index.commit(1).expect("committed");
    // Twelve more one-segment commits (the default policy merges eight),
    // each replacing the secret user and deleting another.
    for seq in 2..14u64 {
        let n = u128::from(seq) * 10;
        let mut ops = upserts(&(n..n + 5).map(user).collect::<Vec<_>>());
        ops.push(IndexOp::Delete(user(n - 10).id.as_u128()));
        ops.extend(upserts(&secrets[..1]));
        index.apply(ops).expect("indexed");
        index.commit(seq).expect("committed");
    }
    let SearchIndex { writer, .. } = index;
    writer
        .into_inner()
        .expect("writer lock")
        .wait_merging_threads()
        .expect("merges end");

    // 3 + 12 × 5 users, less the 11 deleted (the first batch's n - 10 is 10,
    // never indexed).
    let live = 3 + 12 * 5 - 11;
    let (index, opened) = SearchIndex::open_sealed(&path, Some(sealer.clone())).expect("opens");
    assert_eq!(opened, Opened::Resumed(13));
    let segments = index.view().searcher.segment_readers().len();
    assert!(
        segments < 13,
        "merged in the background: {segments} segments"
    );
    let check = |index: &SearchIndex| {
        assert_eq!(index.num_docs(), live);
        let mut ids = index.all_ids().expect("ids");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len() as u64, live, "each user once");
        finds_the_secrets(index);
        assert_eq!(hits(index, "ada").len() as u64, live - 1);
    };
    check(&index);
    index.optimize().expect("merged");
    assert_eq!(index.view().searcher.segment_readers().len(), 1);
    check(&index);
    drop(index);
    let (index, opened) = SearchIndex::open_sealed(&path, Some(sealer.clone())).expect("opens");
    assert_eq!(opened, Opened::Resumed(13));
    check(&index);
    drop(index);
    assert_sealed(&path, &sealer);
}
