//! Searching the index: a request becomes a query on the current
//! generation ([`SearchIndex::prepare`], cheap, so the caller can decide
//! where to run it), then [`SearchIndex::run`] walks it once for the page,
//! the total and, where words make matches few, the facets.

use std::borrow::Cow;
use std::sync::Arc;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::Query;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Order, Term};

use super::SearchError;
use super::exact::{self, ExactWords};
use super::index::SearchIndex;
use super::lexicon::live_docs_with;
use super::query::{self, QueryWord, SearchRequest, Sort};
use super::schema::{Fields, status_code};
use super::tally;
use super::view::{View, join_id};
use crate::domain::{Role, Status};

/// A search's result: user ids in order with scores, exact total, facets.
pub struct Found {
    /// The query's words as they were matched (typos only where a word
    /// matched too few users as typed), for highlighting.
    pub words: Vec<QueryWord>,
    pub hits: Vec<(u128, f32)>,
    pub total: usize,
    pub facets: Facets,
}

/// What a hit costs beyond the postings walked (hydrating it from the store,
/// highlighting and writing it), in postings: roughly their ratio in
/// instructions.
pub(super) const HIT_COST: u64 = 250;

/// Searches costing at most this are [`Prepared::cheap`]: well under a
/// millisecond on one core (a two-word search at 100 000 users is about
/// 14 000).
const CHEAP_COST: u64 = 32_768;

/// A request with its query built, to be [`run`](SearchIndex::run).
pub struct Prepared {
    view: Arc<View>,
    query: Box<dyn Query>,
    words: Vec<QueryWord>,
    req: SearchRequest,
    /// Postings the query walks at most, plus [`HIT_COST`] per hit asked for.
    pub(super) cost: u64,
    /// Whether a search of exact words alone may skip scoring the matches
    /// that cannot enter its page (see `exact`'s top pages); false only in
    /// the test that checks this changes no result.
    pub(super) prune: bool,
}

impl Prepared {
    /// Whether the search is so short that handing it to another thread
    /// would cost a good part of it: one with exact words only, of which
    /// few users hold each, and a page of a few dozen hits. Searches with a
    /// prefix or typo expansion, a date range, or no words are never cheap.
    pub fn cheap(&self) -> bool {
        self.cost <= CHEAP_COST
    }
}

impl SearchIndex {
    /// Prepares and runs `req` where it is called.
    pub fn search(&self, req: &SearchRequest) -> Result<Found, SearchError> {
        self.run(self.prepare(req.clone())?)
    }

    /// Builds the request's query on the current generation: term lookups
    /// only, so cheap; [`run`](Self::run) walks it.
    pub fn prepare(&self, req: SearchRequest) -> Result<Prepared, SearchError> {
        self.prepare_with(req, true)
    }

    fn prepare_with(&self, req: SearchRequest, narrow: bool) -> Result<Prepared, SearchError> {
        let view = self.view();
        let built = query::build(&self.fields, &req, &view, narrow)?;
        Ok(Prepared {
            view,
            query: built.query,
            words: built.words,
            cost: built
                .postings
                .saturating_add(HIT_COST.saturating_mul(req.asked.limit as u64)),
            req,
            prune: true,
        })
    }

    #[cfg(test)]
    pub(super) fn search_with(
        &self,
        req: &SearchRequest,
        narrow: bool,
    ) -> Result<Found, SearchError> {
        self.run(self.prepare_with(req.clone(), narrow)?)
    }

    /// Runs `req` scoring every match, as tantivy's top-docs collector does.
    #[cfg(test)]
    pub(super) fn search_unpruned(&self, req: &SearchRequest) -> Result<Found, SearchError> {
        let mut prepared = self.prepare(req.clone())?;
        prepared.prune = false;
        self.run(prepared)
    }

    /// Walks a prepared query once: the page of hits in the request's
    /// order, the exact total, and the facets asked for.
    pub fn run(&self, prepared: Prepared) -> Result<Found, SearchError> {
        let Prepared {
            view,
            query,
            words,
            req,
            prune,
            ..
        } = prepared;
        let (hits, counts_pass) = top_hits(&view, query.as_ref(), &req, prune)?;
        let facets = facets(&self.fields, &view, query.as_ref(), &req, &counts_pass)?;
        Ok(Found {
            words,
            hits,
            total: counts_pass.total,
            facets,
        })
    }
}

/// The page of hits, in the request's order, and what the same pass over
/// the matches counted: the total and, with words, the facets.
fn top_hits(
    view: &Arc<View>,
    query: &dyn Query,
    req: &SearchRequest,
    prune: bool,
) -> Result<(Vec<(u128, f32)>, tally::Counts), SearchError> {
    let searcher = &view.searcher;
    // With words, matches are few: count facets in the same pass. Without
    // (browse or filters only), a count per facet value walks posting
    // lists, far cheaper than reading columns for every document.
    let browse = req.words.is_empty();
    let tally = tally::Tally {
        facets: !browse && (req.asked.facet_status || req.asked.facet_roles || req.asked.facet_mfa),
        groups: req.asked.facet_groups && !req.group_labels.is_empty(),
        view,
    };
    let top = TopDocs::with_limit(req.asked.limit.max(1)).and_offset(req.asked.offset);
    let everything = req.browses_everything();
    Ok(match req.asked.sort {
        // No hits asked for, and every live document matches: the total
        // is the index's count, without visiting a document.
        _ if everything && req.asked.limit == 0 => (
            Vec::new(),
            tally::Counts {
                total: usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX),
                ..Default::default()
            },
        ),
        Sort::Relevance if !req.words.is_empty() => match query.downcast_ref::<ExactWords>() {
            // Exact words alone, nothing to count per match but the
            // total: the page without scoring every match.
            Some(words) if prune && !tally.facets && !tally.groups => {
                let page = exact::top(words, req.asked.limit, req.asked.offset)?;
                let counts = tally::Counts {
                    total: page.total,
                    ..Default::default()
                };
                (page.hits, counts)
            }
            _ => by_relevance(view, query, top, tally)?,
        },
        Sort::Relevance | Sort::CreatedDesc | Sort::CreatedAsc => {
            // Creation times are unique in practice (microseconds), so
            // the fast-field order is deterministic without an id key.
            let order = if req.asked.sort == Sort::CreatedAsc {
                Order::Asc
            } else {
                Order::Desc
            };
            let collector = top.order_by_fast_field::<i64>("created_at", order);
            let (found, counts) = searcher.search(query, &(collector, tally))?;
            let hits = found.into_iter().map(|(_, a)| (view.id(a), 0.0)).collect();
            (hits, counts)
        }
        Sort::Name => {
            let collector = top.order_by_string_fast_field("name_sort", Order::Asc);
            let (found, counts) = searcher.search(query, &(collector, tally))?;
            let hits = found.into_iter().map(|(_, a)| (view.id(a), 0.0)).collect();
            (hits, counts)
        }
    })
}

/// The page by relevance. Relevance ends with the id, so that equal scores
/// come out in the same order whatever the index's segments: a rebuilt
/// index answers exactly as the one it replaces. Ties are broken by the
/// low, random half of the id: one column read per match; the high half is
/// read for the page only.
fn by_relevance(
    view: &Arc<View>,
    query: &dyn Query,
    top: TopDocs,
    tally: tally::Tally<'_>,
) -> Result<(Vec<(u128, f32)>, tally::Counts), SearchError> {
    let columns = view.clone();
    let collector = top.tweak_score(move |seg: &tantivy::SegmentReader| {
        let lo = columns.of(seg).id_lo.clone();
        move |doc, score: f32| (score, lo.get_val(doc))
    });
    let (found, counts) = view.searcher.search(query, &(collector, tally))?;
    let out = found
        .into_iter()
        .map(|((score, lo), addr)| {
            let hi = view.segment(addr.segment_ord).id_hi.get_val(addr.doc_id);
            (join_id(hi, lo), score)
        })
        .collect();
    Ok((out, counts))
}

/// Per facet, each value with its count (group names are not static).
pub type Facets = Vec<(&'static str, Vec<(Cow<'static, str>, usize)>)>;
/// Most groups the `groups` facet lists: those with the most matches.
const GROUP_FACET_MAX: usize = 50;

/// The facets asked for, each value with its count: from the one-pass
/// tally when words made matches few, otherwise from posting lists.
fn facets(
    fields: &Fields,
    view: &View,
    query: &dyn Query,
    req: &SearchRequest,
    counts_pass: &tally::Counts,
) -> Result<Facets, SearchError> {
    let searcher = &view.searcher;
    let browse = req.words.is_empty();
    let everything = req.browses_everything();
    let count_with = |t: Term| -> Result<usize, SearchError> {
        let q = tantivy::query::BooleanQuery::new(vec![
            (tantivy::query::Occur::Must, query.box_clone()),
            (
                tantivy::query::Occur::Must,
                Box::new(tantivy::query::TermQuery::new(t, IndexRecordOption::Basic)),
            ),
        ]);
        Ok(searcher.search(&q, &Count)?)
    };
    // No words and no filters: every live document matches, so a facet
    // value's count is its term's document frequency (live documents only).
    // One facet: for each value, its count from the one-pass tally, or
    // (browsing) from a posting-list count.
    let facet = |field: Field,
                 values: &[(&'static str, u64)],
                 tallied: &[usize]|
     -> Result<Vec<(Cow<'static, str>, usize)>, SearchError> {
        values
            .iter()
            .map(|&(label, code)| {
                let n = if everything {
                    live_docs_with(searcher, &Term::from_field_u64(field, code))?
                } else if browse {
                    count_with(Term::from_field_u64(field, code))?
                } else {
                    tallied.get(code as usize).copied().unwrap_or(0)
                };
                Ok((Cow::Borrowed(label), n))
            })
            .collect()
    };
    let mut facets = Vec::new();
    if req.asked.facet_status {
        let values = [Status::Active, Status::Disabled].map(|s| (s.as_str(), status_code(s)));
        facets.push((
            "status",
            facet(fields.status, &values, &counts_pass.status)?,
        ));
    }
    if req.asked.facet_roles {
        let values = Role::ALL.map(|r| (r.as_str(), u64::from(r.code())));
        facets.push(("roles", facet(fields.roles, &values, &counts_pass.roles)?));
    }
    if req.asked.facet_mfa {
        let values = [("false", 0), ("true", 1)];
        facets.push((
            "mfa_enabled",
            facet(fields.mfa_enabled, &values, &counts_pass.mfa)?,
        ));
    }
    if req.asked.facet_groups {
        let mut counts = Vec::new();
        for (label, key) in &req.group_labels {
            let n = if everything {
                live_docs_with(searcher, &Term::from_field_u64(fields.groups, *key))?
            } else {
                counts_pass.groups.get(key).copied().unwrap_or(0)
            };
            if n > 0 {
                counts.push((Cow::<'static, str>::Owned(label.clone()), n));
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(GROUP_FACET_MAX);
        facets.push(("groups", counts));
    }
    Ok(facets)
}
