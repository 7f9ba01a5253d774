//! The tantivy `Query` and `Weight` of a query's exact words matched
//! together: weighing takes each word's BM25 statistics per field, and a
//! segment's scorer pairs the documents holding every word ([`Matches`])
//! with what scores each word in them ([`WordScore`]).

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::SegmentPostings;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, EmptyScorer, EnableScoring, Explanation, Occur, Query,
    Scorer, TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentReader, Term};

use super::SLOTS;
use super::bm25::bm25_weight;
use super::columns::word_hash;
use super::matches::Matches;
use super::scorer::{ExactFreqs, ExactWordsScorer, WordScore};
use crate::search::any_of::explain_by_scoring;
use crate::search::dense::{self, Bits};
use crate::search::view::View;

#[derive(Clone)]
pub(in crate::search) struct ExactWord {
    /// The word in `all`.
    pub all: Term,
    /// The word in each text field, with the boost of its exact clause,
    /// in slot order.
    pub fields: [(Term, Score); SLOTS],
}

impl std::fmt::Debug for ExactWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactWord")
            .field("all", &self.all)
            .field("fields", &self.fields)
            .finish()
    }
}

/// The exact words of a query, matched together: the documents holding
/// every one of them in `all` (through the bitsets of the segment's
/// frequent words, see [`dense`], and the posting lists of the
/// others), each scored as its exact term queries would score it; the
/// words' scores add up in query order.
#[derive(Clone)]
pub(in crate::search) struct ExactWords {
    pub words: Vec<ExactWord>,
    /// The generation searched, for its columns and bitsets.
    pub view: std::sync::Arc<View>,
}

impl std::fmt::Debug for ExactWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.words).finish()
    }
}

impl Query for ExactWords {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let EnableScoring::Enabled {
            statistics_provider,
            ..
        } = scoring
        else {
            // Without scores (counting), the words are their posting lists.
            let lists = self.words.iter().map(|w| {
                let list: Box<dyn Query> =
                    Box::new(TermQuery::new(w.all.clone(), IndexRecordOption::Basic));
                (Occur::Must, list)
            });
            return BooleanQuery::new(lists.collect()).weight(scoring);
        };
        Ok(Box::new(self.weigh(statistics_provider)?))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (term, _) in self.words.iter().flat_map(|w| &w.fields) {
            visitor(term, false);
        }
    }
}

impl ExactWords {
    /// The words with their BM25 statistics from `statistics`.
    pub(super) fn weigh(
        &self,
        statistics: &dyn Bm25StatisticsProvider,
    ) -> tantivy::Result<ExactWordsWeight> {
        let total_num_docs = statistics.total_num_docs()?;
        let mut words = Vec::with_capacity(self.words.len());
        for word in &self.words {
            let mut weights = [0.0; SLOTS];
            for (weight, (term, _)) in weights.iter_mut().zip(&word.fields) {
                *weight = bm25_weight(statistics.doc_freq(term)?, total_num_docs);
            }
            words.push(ExactWordWeight {
                all: word.all.clone(),
                hash: word_hash(word.all.value().as_str().unwrap_or_default()),
                terms: std::sync::Arc::new(word.fields.each_ref().map(|(term, _)| term.clone())),
                weights,
                boosts: word.fields.each_ref().map(|(_, boost)| *boost),
            });
        }
        Ok(ExactWordsWeight {
            words,
            view: self.view.clone(),
        })
    }
}

struct ExactWordWeight {
    all: Term,
    hash: u32,
    /// The word in each text field, in slot order.
    terms: std::sync::Arc<[Term; SLOTS]>,
    /// Per slot: the word's BM25 weight in the field, and its clause's boost.
    weights: [Score; SLOTS],
    boosts: [Score; SLOTS],
}

pub(super) struct ExactWordsWeight {
    words: Vec<ExactWordWeight>,
    view: std::sync::Arc<View>,
}

/// The words in one segment: the posting lists of those that have no
/// bitset, the bitsets of the others, and what scores each (in query order).
pub(super) struct SegmentWords {
    pub(super) lists: Vec<SegmentPostings>,
    pub(super) sets: Vec<std::sync::Arc<Bits>>,
    pub(super) scores: Vec<WordScore>,
}

impl ExactWordWeight {
    /// What scores the word in the documents of `reader`.
    fn score(
        &self,
        reader: &SegmentReader,
        boost: Score,
        view: &std::sync::Arc<View>,
    ) -> tantivy::Result<WordScore> {
        // As `BoostWeight` then `TermWeight` compute it (tantivy's
        // `Bm25Weight::boost_by`).
        let weights = std::array::from_fn(|slot| self.weights[slot] * (boost * self.boosts[slot]));
        let mut norms = Vec::with_capacity(SLOTS);
        for term in self.terms.iter() {
            norms.push(match reader.fieldnorms_readers().get_field(term.field())? {
                Some(norms) => norms,
                None => FieldNormReader::constant(reader.max_doc(), 1),
            });
        }
        Ok(WordScore {
            weights,
            norms,
            hash: self.hash,
            words: view.of(reader).words.clone(),
            view: view.clone(),
            exact: ExactFreqs {
                reader: reader.clone(),
                terms: self.terms.clone(),
                postings: None,
            },
        })
    }
}

impl ExactWordsWeight {
    /// The words in the segment of `reader`; `None` if one is not in it.
    pub(super) fn segment(
        &self,
        reader: &SegmentReader,
        boost: Score,
    ) -> tantivy::Result<Option<SegmentWords>> {
        let max_doc = reader.max_doc();
        let columns = self.view.of(reader);
        let mut lists = Vec::new();
        let mut sets = Vec::new();
        let mut scores = Vec::with_capacity(self.words.len());
        // Every word is a term of `all`.
        let Some(first) = self.words.first() else {
            return Ok(None);
        };
        let inverted = reader.inverted_index(first.all.field())?;
        for word in &self.words {
            let Some(info) = inverted.get_term_info(&word.all)? else {
                return Ok(None);
            };
            if dense::is_dense(info.doc_freq, max_doc) {
                sets.push(
                    columns
                        .dense
                        .get_or_build(word.all.serialized_value_bytes(), || {
                            let list = inverted
                                .read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
                            Ok::<_, tantivy::TantivyError>(Bits::of(list, max_doc))
                        })?,
                );
            } else {
                lists.push(inverted.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?);
            }
            scores.push(word.score(reader, boost, &self.view)?);
        }
        Ok(Some(SegmentWords {
            lists,
            sets,
            scores,
        }))
    }
}

impl Weight for ExactWordsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.segment(reader, boost)? {
            None => Box::new(EmptyScorer),
            Some(SegmentWords {
                lists,
                sets,
                scores,
            }) => Box::new(ExactWordsScorer {
                docs: Matches::new(lists, sets),
                scores,
            }),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain_by_scoring(
            self.scorer(reader, 1.0)?,
            doc,
            "the words' BM25 in each field",
        )
    }
}
