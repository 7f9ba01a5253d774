//! Tests of the index as a whole: query planning reads live documents
//! only, matching exact words through `all` changes no result, the cost
//! that decides where a search runs, and updates after a reopen surviving
//! merges. Each part's own tests sit beside it.

use std::path::Path;

use tantivy::collector::Count;
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexWriter, Term};

use super::exact;
use super::fuzz::fuzz_users;
use super::index::{IndexOp, Opened, SearchIndex};
use super::lexicon::Lexicon;
use super::query::{self, QueryWord, SearchRequest, analyze};
use super::run::HIT_COST;
use super::schema::{ALL_TOKENIZER, TOKENIZER, all_analyzer, analyzer, document, schema};
use crate::domain::{SearchQuery, Status, Timestamp, User, UserId};

/// A user of [`fuzz_users`] under id `n`.
pub(super) fn user(n: u128) -> User {
    let mut u = fuzz_users().swap_remove(0);
    u.id = UserId::from_u128((7 << 120) + n);
    u
}

fn docs_of(dir: &Path, u: &User) -> usize {
    let index = Index::open_in_dir(dir).expect("the index opens");
    let searcher = index.reader().expect("a reader").searcher();
    let id = Term::from_field_bytes(
        index.schema().get_field("id").expect("an id field"),
        &u.id.as_u128().to_be_bytes(),
    );
    searcher
        .search(
            &tantivy::query::TermQuery::new(id, IndexRecordOption::Basic),
            &Count,
        )
        .expect("a count")
}

/// Query planning reads live documents only: a deleted user's words
/// count for nothing, as after a rebuild.
#[test]
fn the_lexicon_counts_live_documents_only() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
    let name = index.fields.name;
    index
        .apply(
            (0..12)
                .map(|n| IndexOp::Upsert(Box::new(user(n))))
                .collect(),
        )
        .expect("indexed");
    index.commit(1).expect("committed");
    let check = |live: usize| {
        let searcher = index.reader.searcher();
        let lex = Lexicon(&searcher);
        assert_eq!(lex.live_docs(name, "lovelace", false, 100).unwrap(), live);
        assert_eq!(lex.live_docs(name, "lovel", true, 100).unwrap(), live);
        assert_eq!(lex.live_docs(name, "lovel", false, 100).unwrap(), 0);
        assert_eq!(
            lex.live_docs(name, "lovelace", false, 5).unwrap(),
            live.min(5)
        );
        assert_eq!(lex.extends(name, "lovel").unwrap(), live > 0);
        assert!(!lex.extends(name, "lovelace").unwrap());
        // `all` answers alike for the words of every field.
        let all = index.fields.all;
        assert_eq!(lex.live_docs(all, "lovelace", false, 100).unwrap(), live);
        assert_eq!(lex.extends(all, "lovel").unwrap(), live > 0);
        assert!(!lex.extends(all, "lovelace").unwrap());
    };
    check(12);
    let ids = (0..12).map(|n| user(n).id.as_u128());
    index
        .apply(ids.clone().take(9).map(IndexOp::Delete).collect())
        .expect("deleted");
    index.commit(2).expect("committed");
    check(3);
    index
        .apply(ids.skip(9).map(IndexOp::Delete).collect())
        .expect("deleted");
    index.commit(3).expect("committed");
    check(0);
}

/// Matching the exact words of a query of several through `all` changes
/// neither its hits, nor their scores, nor the total and facets: on two
/// segments with deletes, for words found in one field or several (and
/// more than once in one), in attributes, as prefixes and typos beside
/// exact words, and absent.
/// 600 users with famous first and last names (some twice in a name),
/// on two segments with deletes.
fn famous() -> (tempfile::TempDir, SearchIndex) {
    use crate::domain::UserDraft;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
    let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara"];
    let last = ["Lovelace", "Hopper", "Turing", "Dijkstra"];
    let team = ["engines", "compilers", "hopper"];
    let users: Vec<User> = (0..600u128)
        .map(|i| {
            let (f, l) = (first[i as usize % 5], last[i as usize / 5 % 4]);
            let body = serde_json::json!({
                "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
                "username": format!("{}{i}", f.to_lowercase()),
                // Some names hold a word twice (frequencies above 1),
                // some eight times (more than the `words` column tells).
                "name": match i {
                    _ if i % 29 == 0 => format!("{l} {}", [f; 8].join(" ")),
                    _ if i % 13 == 0 => format!("{f} {l} {f}"),
                    _ => format!("{f} {l}"),
                },
                "status": if i % 7 == 0 { "disabled" } else { "active" },
                "attributes": {"team": team[i as usize % 3]},
            });
            let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
                .expect("a valid user");
            User::from_draft(
                UserId::from_u128((9 << 120) + i),
                draft,
                time::OffsetDateTime::UNIX_EPOCH,
            )
        })
        .collect();
    let upserts = |us: &[User]| {
        us.iter()
            .map(|u| IndexOp::Upsert(Box::new(u.clone())))
            .collect()
    };
    index.apply(upserts(&users[..350])).expect("indexed");
    index.commit(1).expect("committed");
    index.apply(upserts(&users[350..])).expect("indexed");
    let deleted = (0..600)
        .step_by(11)
        .map(|i| IndexOp::Delete(users[i].id.as_u128()));
    index.apply(deleted.collect()).expect("deleted");
    index.commit(2).expect("committed");
    assert!(
        index.view().searcher.segment_readers().len() >= 2,
        "two segments"
    );
    (dir, index)
}

/// Where two words of a document share a hash in the `words` column,
/// each is scored from its fields' posting lists, as it would be
/// without the column.
#[test]
fn words_sharing_a_hash_are_scored_as_without_the_column() {
    use crate::domain::UserDraft;
    let (a, b) = exact::colliding_numbers();
    let bodies = [
        serde_json::json!({"name": format!("Grace {a} {b} {b}"), "username": format!("u{b}"),
                           "email": format!("{a}.grace@example.com")}),
        serde_json::json!({"name": format!("Grace {a}"), "email": "grace@example.com"}),
        serde_json::json!({"name": format!("{b} Grace"), "email": format!("{b}@example.com")}),
    ];
    let dir = tempfile::tempdir().expect("a temp dir");
    let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
    let ops = bodies.iter().enumerate().map(|(i, body)| {
        let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
            .expect("a valid user");
        let id = UserId::from_u128((5 << 120) + i as u128);
        let user = User::from_draft(id, draft, time::OffsetDateTime::UNIX_EPOCH);
        IndexOp::Upsert(Box::new(user))
    });
    index.apply(ops.collect()).expect("indexed");
    index.commit(1).expect("committed");
    for q in [
        format!("{a} grace"),
        format!("grace {b}"),
        format!("{b} {a} grace"),
    ] {
        let req = SearchRequest::new(SearchQuery {
            text: q.to_string(),
            limit: 10,
            ..Default::default()
        });
        let narrowed = index.search_with(&req, true).expect("a search");
        let plain = index.search_with(&req, false).expect("a search");
        assert!(!plain.hits.is_empty(), "{q}");
        assert_eq!(narrowed.hits.len(), plain.hits.len(), "{q}");
        for (x, y) in narrowed.hits.iter().zip(&plain.hits) {
            assert_eq!(x.0, y.0, "{q}");
            assert!((x.1 - y.1).abs() <= 1e-5 * y.1, "{q}: {} vs {}", x.1, y.1);
        }
    }
}

/// A search of a few exact words runs where it is asked (no thread
/// hop); one with a prefix or typo expansion, a date range, or a long
/// page does not, and a walk of every document only in a small index.
#[test]
fn only_short_searches_are_cheap() {
    let (_dir, index) = famous();
    let prepared = |q: &str, limit: usize, status: Option<Status>| {
        let req = SearchRequest::new(SearchQuery {
            text: q.to_string(),
            limit,
            status,
            ..Default::default()
        });
        index.prepare(req).expect("a query")
    };
    let cheap = prepared("grace hopper", 20, None);
    assert!(cheap.cheap(), "cost {}", cheap.cost);
    // Each word's documents in `all`, plus the page.
    // Grace: 1 in 5; hopper: a last name for 1 in 4 blocks of 5, a team
    // for 1 in 3 (deleted documents count until merged).
    let (grace, hopper) = (120, 150 + 200 - 50);
    let words = analyze("grace hopper");
    let view = index.view();
    let df = |w: &QueryWord| {
        view.searcher
            .doc_freq(&Term::from_field_text(index.fields.all, &w.text))
            .expect("a doc freq")
    };
    assert_eq!(df(&words[0]), grace);
    assert_eq!(df(&words[1]), hopper);
    assert_eq!(cheap.cost, grace + hopper + 20 * HIT_COST);
    assert!(prepared("ada", 100, None).cost > prepared("ada", 1, None).cost);
    assert!(!prepared("ada", 1000, None).cheap(), "a long page");
    // "lovel" extends to "lovelace"; "hoper" is a typo of "hopper".
    assert!(!prepared("ada lovel", 20, None).cheap(), "a prefix");
    assert!(!prepared("grace hoper", 20, None).cheap(), "a typo");
    let range = index
        .prepare(SearchRequest::new(SearchQuery {
            text: "grace hopper".to_string(),
            limit: 20,
            created_after: Some(Timestamp::from_micros(0)),
            ..Default::default()
        }))
        .expect("a query");
    assert!(!range.cheap(), "a date range");
    // Without words every document is walked: 545 live ones here, so
    // cheap, but not beyond the threshold.
    let browse = prepared("", 20, Some(Status::Active));
    assert!(browse.cheap());
    assert!(browse.cost >= 545 + 20 * HIT_COST, "cost {}", browse.cost);
    // Cheap or not, a prepared search runs to the same result.
    let found = index.run(cheap).expect("a search");
    // The live Graces with hopper for a last name or team.
    let expected = (0..600)
        .filter(|i| i % 11 != 0 && i % 5 == 1 && (i / 5 % 4 == 1 || i % 3 == 2))
        .count();
    assert_eq!(found.total, expected, "grace hopper");
}

#[test]
fn narrowing_by_all_changes_no_result() {
    let (_dir, index) = famous();
    for q in [
        "ada lovelace",
        "grace hopper",
        "hopper compilers",
        "lovelace ada engines",
        "ada lovel",
        "grace hoper",
        "alan 42",
        "ada nobody",
        "example com hopper",
        "ada ada",
        "turing 130 ada",
        // Numbers are rare (posting lists), names frequent (bitsets):
        // lists alone, lists checked against bitsets, none in common.
        "130 130",
        "130 turing ada",
        "42 130 ada",
        "hopper 131 hopper",
        "130 grace",
        "grace 131 compilers",
    ] {
        let req = SearchRequest::new(SearchQuery {
            text: q.to_string(),
            limit: 200,
            facet_status: true,
            facet_roles: true,
            ..Default::default()
        });
        let narrowed = index.search_with(&req, true).expect("a search");
        let plain = index.search_with(&req, false).expect("a search");
        // Scores are equal but for the order in which several words'
        // scores add up, so hits whose scores all but tie may swap places
        // (or swap across the page's end). Hence: the same scores rank by
        // rank, and each hit scored alike by both or tied at the cut.
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * b.abs().max(a.abs());
        assert_eq!(narrowed.hits.len(), plain.hits.len(), "{q}");
        for (a, b) in narrowed.hits.iter().zip(&plain.hits) {
            assert!(close(a.1, b.1), "{q}: {} vs {}", a.1, b.1);
        }
        let scored: std::collections::HashMap<_, _> =
            plain.hits.iter().map(|h| (h.0, h.1)).collect();
        let cut = plain.hits.last().map_or(0.0, |h| h.1);
        for (id, score) in &narrowed.hits {
            match scored.get(id) {
                Some(&s) => assert!(close(*score, s), "{q}: {id} {score} vs {s}"),
                None => assert!(close(*score, cut), "{q}: {id} only when narrowed"),
            }
        }
        assert_eq!(narrowed.total, plain.total, "{q}");
        assert_eq!(narrowed.facets, plain.facets, "{q}");
        assert_eq!(narrowed.words, plain.words, "{q}");
    }
    // Counted without scores, exact words are their posting lists.
    let view = index.view();
    for q in ["grace hopper", "ada ada", "hopper compilers"] {
        let req = SearchRequest::new(SearchQuery {
            text: q.to_string(),
            limit: 1,
            ..Default::default()
        });
        let built = query::build(&index.fields, &req, &view, true).expect("a query");
        let counted = view.searcher.search(&built.query, &Count).expect("a count");
        assert_eq!(counted, index.search(&req).expect("a search").total, "{q}");
    }
    // Frequent words were matched through bitsets, kept per segment.
    assert!(view.columns.iter().all(|c| c.dense.bytes() > 0));
    // The test is not vacuous: these queries find something.
    let req = |q: &str| {
        SearchRequest::new(SearchQuery {
            text: q.to_string(),
            limit: 5,
            ..Default::default()
        })
    };
    assert!(index.search(&req("grace hopper")).expect("a search").total > 10);
    assert!(
        index
            .search(&req("hopper compilers"))
            .expect("a search")
            .total
            > 10
    );
}

/// A search of exact words alone skips scoring the matches that cannot
/// enter its page (`exact`'s top pages); its pages are those of tantivy's
/// top-docs collector scoring every match, hit for hit and bit for bit,
/// with the same totals. The corpus is a directory's: a few first and last
/// names and teams, so that most matches tie, and some that score higher
/// (a word twice, in the email too, or as the team) and words all matches
/// hold alike (city and plan), on three segments
/// with deletes and updates; ids are random, as v7 ids' low halves are.
#[test]
fn pruned_pages_are_the_full_walk_s() {
    use crate::domain::UserDraft;
    const FIRST: [&str; 6] = ["john", "mary", "robert", "linda", "james", "susan"];
    const LAST: [&str; 6] = ["smith", "brown", "miller", "davis", "wilson", "moore"];
    const TEAM: [&str; 4] = ["sales", "smith", "legal", "robert"];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
    let mut users = Vec::new();
    for batch in 0..3u64 {
        let mut ops = Vec::new();
        for _ in 0..1500 {
            let r = next();
            let pick =
                |words: &[&'static str], shift: u32| words[(r >> shift) as usize % words.len()];
            let (f, l, t) = (pick(&FIRST, 0), pick(&LAST, 8), pick(&TEAM, 16));
            let name = match r >> 24 & 15 {
                0 => format!("{f} {l} {f}"),
                1 => format!("{f} {f} {l} {l} {l}"),
                2 => format!("{f} van {l}"),
                _ => format!("{f} {l}"),
            };
            let email = if r >> 28 & 3 == 0 {
                format!("{f}.{l}{}@example.com", users.len())
            } else {
                format!("u{}@example.com", users.len())
            };
            // City and plan: words that every match holds alike, so that
            // pages end in ties at the most a match can score.
            let (city, plan) = (
                ["oslo", "lima", "rome"][(r >> 32) as usize % 3],
                ["free", "pro"][(r >> 36) as usize % 2],
            );
            let body = serde_json::json!({"name": name, "email": email,
                "attributes": {"team": t, "city": city, "plan": plan}});
            let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
                .expect("a valid user");
            let id = UserId::from_u128(u128::from(next()) << 64 | u128::from(next()));
            let user = User::from_draft(id, draft, time::OffsetDateTime::UNIX_EPOCH);
            ops.push(IndexOp::Upsert(Box::new(user.clone())));
            users.push(user);
        }
        // Deletes and updates reach the earlier segments.
        for u in users.iter().step_by(17 + batch as usize) {
            ops.push(IndexOp::Delete(u.id.as_u128()));
        }
        for u in users.iter_mut().skip(5).step_by(23) {
            let name = format!(
                "{} {}",
                u.name.as_ref().map_or("", |n| n.as_str()),
                FIRST[0]
            );
            u.name = crate::domain::Name::parse(&name).expect("a name");
            ops.push(IndexOp::Upsert(Box::new(u.clone())));
        }
        index.apply(ops).expect("indexed");
        index.commit(batch + 1).expect("committed");
    }
    let mut queries: Vec<String> = Vec::new();
    for f in FIRST {
        for l in LAST {
            queries.push(format!("{f} {l}"));
        }
    }
    queries.extend(
        [
            "smith robert",
            "robert robert",
            "john smith sales",
            "smith smith smith",
            "oslo free",
            "lima pro",
            "rome free sales",
        ]
        .map(String::from),
    );
    let mut compared = 0;
    for q in &queries {
        for (limit, offset) in [
            (20, 0),
            (1, 0),
            (5, 3),
            (50, 0),
            (10, 400),
            (0, 0),
            (100, 2000),
        ] {
            let req = SearchRequest::new(SearchQuery {
                text: q.clone(),
                limit,
                offset,
                ..Default::default()
            });
            let pruned = index.search(&req).expect("a search");
            let walked = index.search_unpruned(&req).expect("a search");
            let bits = |f: &super::Found| -> Vec<(u128, u32)> {
                f.hits.iter().map(|&(id, s)| (id, s.to_bits())).collect()
            };
            assert_eq!(
                bits(&pruned),
                bits(&walked),
                "{q} limit {limit} offset {offset}"
            );
            assert_eq!(pruned.total, walked.total, "{q}");
            compared += usize::from(!walked.hits.is_empty());
        }
    }
    assert!(compared > 100, "pages compared: {compared}");
    // The searches above went through the pruned path: it found the
    // peaks of the words' bitsets.
    let view = index.view();
    assert!(view.columns.iter().all(|c| c.dense.with_peaks() > 0));
    // Ties dominate, and some matches score above them.
    let found = index
        .search_unpruned(&SearchRequest::new(SearchQuery {
            text: "robert smith".into(),
            limit: 1000,
            ..Default::default()
        }))
        .expect("a search");
    let top = found.hits[0].1;
    let tied = found
        .hits
        .iter()
        .filter(|h| h.1 == found.hits[found.hits.len() / 2].1)
        .count();
    assert!(
        found.total > 150 && tied > 50,
        "total {} tied {tied}",
        found.total
    );
    assert!(found.hits.iter().any(|h| h.1 < top), "scores differ");
}

/// tantivy starts a reopened writer's operation stamps at the last
/// commit's opstamp, which segments deleted from in that commit also
/// carry; a merge then takes the first delete after a restart as
/// already applied to them, and a replaced document comes back. The
/// writer burns that stamp at open (see `with_index`).
#[test]
fn the_first_update_after_a_reopen_survives_merges() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("index");
    // Built with one indexing thread and no merges, so that the
    // segments are exactly as described.
    drop(SearchIndex::open(&path).expect("an index"));
    let (u, w) = (user(100), user(101));
    {
        let raw = Index::open_in_dir(&path).expect("the index opens");
        raw.tokenizers().register(TOKENIZER, analyzer());
        raw.tokenizers().register(ALL_TOKENIZER, all_analyzer());
        let (_, fields) = schema();
        let mut writer: IndexWriter = raw
            .writer_with_num_threads(1, 15_000_000)
            .expect("a writer");
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let commit = |w: &mut IndexWriter, seq: u64| {
            let mut prepared = w.prepare_commit().expect("prepare");
            prepared.set_payload(&seq.to_string());
            prepared.commit().expect("commit");
        };
        let upsert = |w: &IndexWriter, u: &User| {
            w.delete_term(fields.id_term(u.id.as_u128()));
            w.add_document(document(&fields, u, &[])).expect("add");
        };
        // Seven one-segment commits (the first one bigger, so that the
        // merge below does not list u's segment first), then u and w
        // (and a third user) in one segment, then w replaced: that last commit deletes
        // from u's segment, stamping it with the commit's opstamp.
        for seq in 1..=7u64 {
            let n = if seq == 1 { 3 } else { 1 };
            for i in 0..n {
                upsert(&writer, &user(u128::from(seq) * 10 + i));
            }
            commit(&mut writer, seq);
        }
        upsert(&writer, &u);
        upsert(&writer, &w);
        upsert(&writer, &user(102));
        commit(&mut writer, 8);
        upsert(&writer, &w);
        commit(&mut writer, 9);
        writer.wait_merging_threads().expect("no merges");
    }
    let metas = Index::open_in_dir(&path)
        .expect("it opens")
        .load_metas()
        .expect("metas");
    let deleted_at: Vec<_> = metas.segments.iter().map(|s| s.delete_opstamp()).collect();
    assert!(
        deleted_at.contains(&Some(metas.opstamp)),
        "a segment deleted from at the last commit: {deleted_at:?} vs {}",
        metas.opstamp
    );

    // Reopened (default merge policy: nine small segments get merged),
    // u is replaced first thing.
    let (index, opened) = SearchIndex::open(&path).expect("it reopens");
    assert_eq!(opened, Opened::Resumed(9));
    index
        .apply(vec![IndexOp::Upsert(Box::new(u.clone()))])
        .expect("apply");
    index.commit(10).expect("commit");
    let SearchIndex { writer, .. } = index;
    writer
        .into_inner()
        .expect("writer lock")
        .wait_merging_threads()
        .expect("merges end");
    let segments = Index::open_in_dir(&path)
        .expect("it opens")
        .searchable_segment_ids()
        .expect("segment ids")
        .len();
    assert!(
        segments < 9,
        "the small segments were merged: {segments} left"
    );
    assert_eq!(docs_of(&path, &u), 1, "u once after the merges");
    assert_eq!(docs_of(&path, &w), 1, "w once");
}
