//! One exact word of a query of several, matched through the `all` field and
//! scored as its exact term queries on each text field would score it.
//!
//! `all` holds every word of name, username, email and attributes, at
//! positions that say which field each occurrence is in (see
//! [`AllTokenizer`](super::tokenizer::AllTokenizer)). One posting list then
//! does what four did: it finds the documents, and for the few that every
//! word of the query holds, its positions give the word's frequency in each
//! field, which with each field's norms and statistics is each field's
//! BM25. The four per-field posting lists, each walked and decoded only to
//! score, were most of a two-word search.
//!
//! Scores are those of [`AnyOf`](super::any_of::AnyOf) over the word's
//! per-field exact `TermQuery`s, boosted alike, bit for bit: the same BM25
//! weights, boosts multiplied in the same order, fields summed in the same
//! order. `search::tests::narrowing_by_all_changes_no_result` checks it.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    Bm25Weight, EmptyScorer, EnableScoring, Explanation, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

use super::any_of::explain_by_scoring;
use super::tokenizer::SLOT_BITS;
pub(super) use super::tokenizer::SLOTS;

fn slot_of(position: u32) -> usize {
    ((position >> SLOT_BITS) as usize).min(SLOTS - 1)
}

#[derive(Debug, Clone)]
pub(super) struct ExactWord {
    /// The word in `all`.
    pub all: Term,
    /// The word in each text field, with the boost of its exact clause,
    /// in slot order.
    pub fields: [(Term, Score); SLOTS],
}

impl Query for ExactWord {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let EnableScoring::Enabled {
            statistics_provider,
            ..
        } = scoring
        else {
            // Without scores (counting), the word is its posting list.
            return TermQuery::new(self.all.clone(), IndexRecordOption::Basic).weight(scoring);
        };
        let mut fields = Vec::with_capacity(SLOTS);
        for (term, boost) in &self.fields {
            fields.push((
                term.field(),
                Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(term))?,
                *boost,
            ));
        }
        Ok(Box::new(ExactWordWeight {
            all: self.all.clone(),
            fields,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (term, _) in &self.fields {
            visitor(term, false);
        }
    }
}

struct ExactWordWeight {
    all: Term,
    /// Per slot: the field, its BM25 weight for the word, the clause's boost.
    fields: Vec<(Field, Bm25Weight, Score)>,
}

impl Weight for ExactWordWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inverted = reader.inverted_index(self.all.field())?;
        let Some(postings) =
            inverted.read_postings(&self.all, IndexRecordOption::WithFreqsAndPositions)?
        else {
            return Ok(Box::new(EmptyScorer));
        };
        let mut fields = Vec::with_capacity(SLOTS);
        for (field, bm25, clause_boost) in &self.fields {
            // As `BoostWeight` then `TermWeight` compute it.
            let weight = bm25.boost_by(boost * *clause_boost);
            let norms = match reader.fieldnorms_readers().get_field(*field)? {
                Some(norms) => norms,
                None => FieldNormReader::constant(reader.max_doc(), 1),
            };
            fields.push((weight, norms));
        }
        Ok(Box::new(ExactWordScorer {
            postings,
            fields,
            positions: Vec::new(),
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain_by_scoring(
            self.scorer(reader, 1.0)?,
            doc,
            "the word's BM25 in each field",
        )
    }
}

struct ExactWordScorer {
    postings: SegmentPostings,
    /// Per slot: the boosted BM25 weight and the field's norms.
    fields: Vec<(Bm25Weight, FieldNormReader)>,
    positions: Vec<u32>,
}

impl DocSet for ExactWordScorer {
    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }

    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn size_hint(&self) -> u32 {
        self.postings.size_hint()
    }
}

impl Scorer for ExactWordScorer {
    fn score(&mut self) -> Score {
        let doc = self.postings.doc();
        self.positions.clear();
        self.postings.positions(&mut self.positions);
        let mut freqs = [0u32; SLOTS];
        for &p in &self.positions {
            freqs[slot_of(p)] += 1;
        }
        // Fields in slot order, as the word's clauses add up.
        freqs
            .iter()
            .zip(&self.fields)
            .filter(|(tf, _)| **tf > 0)
            .map(|(tf, (weight, norms))| weight.score(norms.fieldnorm_id(doc), *tf))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_tell_the_slot() {
        assert_eq!(slot_of(0), 0);
        assert_eq!(slot_of((1 << SLOT_BITS) - 1), 0);
        assert_eq!(slot_of(2 << SLOT_BITS | 5), 2);
        // Attributes run past their slot's start without leaving it.
        assert_eq!(slot_of(u32::MAX), SLOTS - 1);
    }
}
