//! Turning a search request into a tantivy query. The query text is data:
//! it is split into words by the index's own analyzer and each word becomes
//! term queries, so no character in it is syntax and nothing can fail to parse.

use std::ops::Bound;
use std::sync::Arc;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;

use crate::domain::SearchQuery;

use super::SearchError;
use super::any_of::AnyOf;
use super::exact::{ExactWord, ExactWords, SLOTS};
use super::lexicon::Lexicon;
use super::schema::{Fields, analyzer, status_code};
use super::view::View;

/// Most words of a query that are used; the rest are ignored.
pub const MAX_WORDS: usize = 10;

/// A word that at least this many users match as typed (exactly, or as a
/// prefix for the last word) is not a typo: it is not also matched within
/// its typo allowance. Below it, it is, and typo matches rank below the
/// others. Typo expansions are a walk of the term dictionaries and a union
/// of postings, the dearest part of a query, and for a common word they
/// only add results ranked below hundreds of exact ones.
pub const TYPO_THRESHOLD: usize = 10;

/// One analysed query word and how loosely it may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    pub text: String,
    /// The last word of the query: also matches as a prefix (as you type).
    pub prefix: bool,
    /// Edits tolerated, as Meilisearch does: 0 below 5 characters, 1 for 5–8, 2 from 9.
    pub typos: u8,
}

/// Splits query text into words as the index does.
pub fn analyze(q: &str) -> Vec<QueryWord> {
    let mut a = analyzer();
    let mut stream = a.token_stream(q);
    let mut words: Vec<QueryWord> = Vec::new();
    while stream.advance() {
        let text = stream.token().text.clone();
        if words.len() == MAX_WORDS {
            break;
        }
        let n = text.chars().count();
        // Numbers are matched as written.
        let typos = match n {
            _ if text.chars().all(|c| c.is_numeric()) => 0,
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        words.push(QueryWord {
            text,
            prefix: false,
            typos,
        });
    }
    if let Some(last) = words.last_mut() {
        last.prefix = true;
    }
    words
}

/// The order of hits: the domain's, as a search is asked for.
pub use crate::domain::SearchSort as Sort;

/// A search as the index runs it: the words of the text as the index cut
/// the users' fields, and the rest of the query as it was asked.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub words: Vec<QueryWord>,
    pub asked: SearchQuery,
    /// Members of any of these groups (their keys; `asked.groups` as the
    /// service resolved them).
    pub groups: Vec<u64>,
    /// With `asked.facet_groups`: the groups to count, as (label, key).
    pub group_labels: Vec<(String, u64)>,
}

impl SearchRequest {
    /// `asked`, with its text cut into words.
    pub fn new(asked: SearchQuery) -> Self {
        Self {
            words: analyze(&asked.text),
            asked,
            groups: Vec::new(),
            group_labels: Vec::new(),
        }
    }

    /// No words and no filters: every user matches.
    pub fn browses_everything(&self) -> bool {
        let a = &self.asked;
        self.words.is_empty()
            && a.status.is_none()
            && a.roles.is_empty()
            && a.groups.is_empty()
            && self.groups.is_empty()
            && a.email_verified.is_none()
            && a.mfa_enabled.is_none()
            && a.created_after.is_none()
            && a.created_before.is_none()
    }
}

/// How a field matches a word. Exact matches everywhere; as-you-type
/// prefixes on what people type (name, username, email); typos only where
/// people misspell (name, username): an email's words are the name's again,
/// and attribute values are codes rather than words. Each looser form is a
/// walk of the field's term dictionary per segment and a union of postings,
/// so this is most of a search's cost.
struct FieldPlan {
    field: Field,
    boost: f32,
    prefix: bool,
    typos: bool,
}

/// Field boosts: name and username above email above attributes. The order
/// is that of the slots of `all` (see `exact`).
fn text_fields(f: &Fields) -> [FieldPlan; SLOTS] {
    let plan = |field, boost, prefix, typos| FieldPlan {
        field,
        boost,
        prefix,
        typos,
    };
    let [name, username, email, attributes] = f.text();
    [
        plan(name, 3.0, true, true),
        plan(username, 3.0, true, true),
        plan(email, 2.0, true, false),
        plan(attributes, 1.0, false, false),
    ]
}

/// Exact matches score their BM25 (times 4) on top of what the looser forms
/// add, prefix matches a constant 2, typo matches a constant 1: exact >
/// prefix > typo, each scaled by the field's boost. Returns the word as it
/// is matched (its typo allowance dropped if it is common as typed).
///
/// With other words beside it, the word's clauses are an [`AnyOf`], which
/// the intersection can move to the few documents every word matches; alone,
/// every matching document is visited anyway, and tantivy's buffered union
/// does that faster. Both score the same. With `via_all`, a word that has
/// only exact clauses (no prefix or typo form) is an [`ExactWord`] instead,
/// matched with the query's other exact words as one [`ExactWords`], which
/// scores as its clauses would from one posting list (see `exact`).
fn word_query(
    f: &Fields,
    lex: &Lexicon<'_>,
    w: &QueryWord,
    alone: bool,
    via_all: bool,
) -> Result<WordQuery, SearchError> {
    // `all` holds every word of every text field, so it answers the two
    // questions below (is the word common as typed, is it extended) for all
    // fields at once, with one dictionary lookup, most of the time: a
    // document holding the word in a field holds it in `all`, and a word
    // extended in no field is extended nowhere in it.
    let w = as_matched(f, lex, w)?;
    // The looser forms each field adds (prefix, typo). A prefix that
    // nothing extends would only repeat the exact query.
    let plans = text_fields(f);
    let extended = w.prefix && lex.extends(f.all, &w.text)?;
    let mut looser = [(false, false); SLOTS];
    for (plan, forms) in plans.iter().zip(&mut looser) {
        *forms = (
            extended && plan.prefix && lex.extends(plan.field, &w.text)?,
            w.typos > 0 && plan.typos,
        );
    }
    let exact_only = looser.iter().all(|&(prefix, typo)| !prefix && !typo);
    // An exact word walks at most its documents in each field, which `all`
    // counts; a looser form walks an expansion not known before the walk.
    let postings = if exact_only {
        lex.doc_freq(&Term::from_field_text(f.all, &w.text))?
    } else {
        u64::MAX
    };
    if via_all && exact_only {
        return Ok(WordQuery {
            matcher: Matcher::Exact(exact_word(f, &w.text)),
            word: w,
            postings,
        });
    }
    let clauses = clauses(&plans, looser, &w);
    let query: Box<dyn Query> = if alone {
        let should = clauses.into_iter().map(|q| (Occur::Should, q)).collect();
        Box::new(BooleanQuery::new(should))
    } else {
        Box::new(AnyOf(clauses))
    };
    Ok(WordQuery {
        word: w,
        matcher: Matcher::Query(query),
        postings,
    })
}

/// `w` with its typo allowance dropped if at least [`TYPO_THRESHOLD`]
/// users match it as typed (see `word_query` for why `all` is asked first).
fn as_matched(f: &Fields, lex: &Lexicon<'_>, w: &QueryWord) -> Result<QueryWord, SearchError> {
    let mut w = w.clone();
    if w.typos > 0 && lex.live_docs(f.all, &w.text, false, TYPO_THRESHOLD)? >= TYPO_THRESHOLD {
        w.typos = 0;
    }
    if w.typos > 0 {
        let mut as_typed = 0;
        for plan in text_fields(f) {
            let left = TYPO_THRESHOLD - as_typed;
            as_typed += lex.live_docs(plan.field, &w.text, w.prefix && plan.prefix, left)?;
            if as_typed >= TYPO_THRESHOLD {
                w.typos = 0;
                break;
            }
        }
    }
    Ok(w)
}

/// A word's clauses, field by field: exact, then the prefix and typo forms
/// `looser` allows there, boosted as `word_query` describes.
fn clauses(
    plans: &[FieldPlan; SLOTS],
    looser: [(bool, bool); SLOTS],
    w: &QueryWord,
) -> Vec<Box<dyn Query>> {
    let mut clauses: Vec<Box<dyn Query>> = Vec::new();
    for (plan, (prefix, typo)) in plans.iter().zip(looser) {
        let term = Term::from_field_text(plan.field, &w.text);
        clauses.push(Box::new(BoostQuery::new(
            Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
            4.0 * plan.boost,
        )));
        if prefix {
            clauses.push(Box::new(BoostQuery::new(
                Box::new(FuzzyTermQuery::new_prefix(term.clone(), 0, true)),
                2.0 * plan.boost,
            )));
        }
        if typo {
            clauses.push(Box::new(BoostQuery::new(
                Box::new(FuzzyTermQuery::new(term, w.typos, true)),
                plan.boost,
            )));
        }
    }
    clauses
}

/// A word's exact clauses as one [`ExactWord`]: each field's term with the
/// boost `word_query` gives its exact clause.
fn exact_word(f: &Fields, text: &str) -> ExactWord {
    let fields =
        text_fields(f).map(|plan| (Term::from_field_text(plan.field, text), 4.0 * plan.boost));
    ExactWord {
        all: Term::from_field_text(f.all, text),
        fields,
    }
}

/// How a word is matched: its own query, or as one of the query's
/// [`ExactWords`].
enum Matcher {
    Exact(ExactWord),
    Query(Box<dyn Query>),
}

/// A word's matcher, the word as it is matched, and at most how many
/// postings its query walks (`u64::MAX`: not known before the walk).
struct WordQuery {
    word: QueryWord,
    matcher: Matcher,
    postings: u64,
}

/// The tantivy query of a request.
pub(super) struct Built {
    pub query: Box<dyn Query>,
    /// The request's words as they are matched.
    pub words: Vec<QueryWord>,
    /// About how many postings the query walks at most: a word's documents
    /// in each field, a filter's, or every document without words;
    /// `u64::MAX` when a word's prefix or typo expansion is to be walked.
    pub postings: u64,
}

/// The tantivy query of a request, its words as they are matched, and its
/// cost. `narrow` matches exact words through `all` as described below; it
/// is false only in the test that checks this changes no result.
pub(super) fn build(
    f: &Fields,
    req: &SearchRequest,
    view: &Arc<View>,
    narrow: bool,
) -> Result<Built, SearchError> {
    let lex = &Lexicon(&view.searcher);
    let mut words = Vec::with_capacity(req.words.len());
    let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut postings = 0u64;
    let alone = req.words.len() == 1;
    let mut exact = Vec::new();
    for w in &req.words {
        // Beside other words, the exact words are matched and scored
        // together through their posting lists in `all` (see `exact`): the
        // same documents and scores as their per-field clauses, read from
        // one list (or bitset) per word instead of four. `narrow` is false
        // only in the test that checks it.
        let wq = word_query(f, lex, w, alone, narrow && !alone)?;
        words.push(wq.word);
        match wq.matcher {
            Matcher::Exact(word) => exact.push(word),
            Matcher::Query(query) => must.push((Occur::Must, query)),
        }
        postings = postings.saturating_add(wq.postings);
    }
    if !exact.is_empty() {
        let words = ExactWords {
            words: exact,
            view: view.clone(),
        };
        must.insert(0, (Occur::Must, Box::new(words)));
    }
    filters(f, req, lex, &mut must, &mut postings)?;
    if req.words.is_empty() {
        // Without words every document is visited (or counted).
        postings = postings.saturating_add(lex.num_docs());
    }
    let built = |query, words, postings| Built {
        query,
        words,
        postings,
    };
    if must.is_empty() {
        return Ok(built(Box::new(AllQuery), words, postings));
    }
    if req.words.is_empty() {
        // Filters only: match everything they allow.
        must.push((Occur::Must, Box::new(AllQuery)));
    }
    if must.len() == 1 {
        // One word and no filter: its own query, without a wrapper.
        let query = must.pop().expect("one clause").1;
        return Ok(built(query, words, postings));
    }
    Ok(built(Box::new(BooleanQuery::new(must)), words, postings))
}

/// The request's filters, pushed onto `must` in order, each adding the
/// postings it walks to `postings` (a date range's are not known before
/// the walk: `u64::MAX`).
fn filters(
    f: &Fields,
    req: &SearchRequest,
    lex: &Lexicon<'_>,
    must: &mut Vec<(Occur, Box<dyn Query>)>,
    postings: &mut u64,
) -> Result<(), SearchError> {
    let mut filter = |field: Field, v: u64| -> Result<Box<dyn Query>, SearchError> {
        *postings = postings.saturating_add(lex.doc_freq(&Term::from_field_u64(field, v))?);
        Ok(term(field, v))
    };
    if let Some(s) = req.asked.status {
        must.push((Occur::Must, filter(f.status, status_code(s))?));
    }
    if !req.asked.roles.is_empty() {
        let any: Vec<(Occur, Box<dyn Query>)> = req
            .asked
            .roles
            .iter()
            .map(|r| Ok((Occur::Should, filter(f.roles, u64::from(r.code()))?)))
            .collect::<Result<_, SearchError>>()?;
        must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    if !req.groups.is_empty() {
        let any: Vec<(Occur, Box<dyn Query>)> = req
            .groups
            .iter()
            .map(|g| Ok((Occur::Should, filter(f.groups, *g)?)))
            .collect::<Result<_, SearchError>>()?;
        must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    if let Some(v) = req.asked.email_verified {
        must.push((Occur::Must, filter(f.email_verified, u64::from(v))?));
    }
    if let Some(v) = req.asked.mfa_enabled {
        must.push((Occur::Must, filter(f.mfa_enabled, u64::from(v))?));
    }
    if req.asked.created_after.is_some() || req.asked.created_before.is_some() {
        // A range's documents are not counted before the walk.
        *postings = u64::MAX;
        let lo = req.asked.created_after.map_or(Bound::Unbounded, |t| {
            Bound::Excluded(Term::from_field_i64(f.created_at, t.micros()))
        });
        let hi = req.asked.created_before.map_or(Bound::Unbounded, |t| {
            Bound::Excluded(Term::from_field_i64(f.created_at, t.micros()))
        });
        must.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
    }
    Ok(())
}

fn term(field: Field, v: u64) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_u64(field, v),
        IndexRecordOption::Basic,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_is_only_words() {
        let w = analyze("  \"Ada\" AND (Lövelace:*) OR -x  ");
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["ada", "and", "lovelace", "or", "x"]);
        assert!(w.last().unwrap().prefix && !w[0].prefix);
        assert_eq!(w[2].typos, 1, "8 characters: one typo");
        assert_eq!(analyze("constantinople")[0].typos, 2);
        assert_eq!(w[0].typos, 0);
        assert!(analyze("::: ))) ***").is_empty());
        assert_eq!(analyze(&"word ".repeat(50)).len(), MAX_WORDS);
    }
}
