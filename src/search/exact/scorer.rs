//! Scoring the exact words in a segment's matching documents: each word's
//! per-field frequencies read from the `words` columns (the fields' posting
//! lists only where the columns cannot tell), turned into the BM25 its
//! per-field term queries would give, and summed in query order.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::Scorer;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

use super::SLOTS;
use super::bm25::bm25;
use super::columns::{TF_BITS, TF_MANY, WORD_COLUMNS, unpack};
use super::matches::Matches;
use crate::search::view::{U64Col, View};

/// A segment's scorer of the exact words: the documents holding them all,
/// each scored by every word.
pub(super) struct ExactWordsScorer {
    pub(super) docs: Matches,
    /// Per word, in query order.
    pub(super) scores: Vec<WordScore>,
}

impl DocSet for ExactWordsScorer {
    fn advance(&mut self) -> DocId {
        self.docs.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.docs.seek(target)
    }

    fn doc(&self) -> DocId {
        self.docs.doc()
    }

    fn size_hint(&self) -> u32 {
        self.docs.size_hint()
    }
}

impl Scorer for ExactWordsScorer {
    fn score(&mut self) -> Score {
        let doc = self.docs.doc();
        self.scores.iter_mut().map(|w| w.at(doc)).sum()
    }
}

/// What scores one word in a segment's documents.
pub(super) struct WordScore {
    /// Per slot: the boosted BM25 weight and the field's norms.
    pub(super) weights: [Score; SLOTS],
    pub(super) norms: Vec<FieldNormReader>,
    pub(super) hash: u32,
    pub(super) words: [U64Col; WORD_COLUMNS],
    /// For the fields' length normalisations.
    pub(super) view: std::sync::Arc<View>,
    pub(super) exact: ExactFreqs,
}

/// The word's frequency in each field from the fields' posting lists, for
/// the documents the `words` column cannot tell it of. Opened on first use.
pub(super) struct ExactFreqs {
    pub(super) reader: SegmentReader,
    pub(super) terms: std::sync::Arc<[Term; SLOTS]>,
    /// Per slot, the word's postings (None: not in it); all opened on first
    /// use. Boxed: a posting list holds its decoded block (over a KiB), and
    /// the scorer is moved into a box of its own, mostly without using these.
    pub(super) postings: Option<Box<[Option<SegmentPostings>; SLOTS]>>,
}

impl ExactFreqs {
    fn of(&mut self, doc: DocId) -> tantivy::Result<[u32; SLOTS]> {
        if self.postings.is_none() {
            let mut opened: [Option<SegmentPostings>; SLOTS] = Default::default();
            for (slot, term) in opened.iter_mut().zip(self.terms.iter()) {
                let inverted = self.reader.inverted_index(term.field())?;
                *slot = inverted.read_postings(term, IndexRecordOption::WithFreqs)?;
            }
            self.postings = Some(Box::new(opened));
        }
        let mut freqs = [0; SLOTS];
        let lists = self.postings.as_deref_mut().into_iter().flatten();
        for (tf, list) in freqs.iter_mut().zip(lists) {
            // Documents are scored in order: each list only moves forward.
            if let Some(p) = list
                && p.doc() <= doc
                && p.seek(doc) == doc
            {
                *tf = p.term_freq();
            }
        }
        Ok(freqs)
    }
}

impl WordScore {
    /// The word's BM25 in `doc`, a document holding it: its fields in slot
    /// order, as the word's clauses add up.
    fn at(&mut self, doc: DocId) -> Score {
        let freqs = self.freqs(doc);
        let mut score = 0.0;
        for (slot, &tf) in freqs.iter().enumerate() {
            if tf > 0 {
                let id = self.norms[slot].fieldnorm_id(doc);
                let norm = self.view.tf_norms[slot][usize::from(id)];
                score += bm25(self.weights[slot], norm, tf);
            }
        }
        score
    }

    /// The word's frequency in each field of `doc`, a document holding it.
    fn freqs(&mut self, doc: DocId) -> [u32; SLOTS] {
        for column in &self.words {
            let two = column.get_val(doc);
            for value in [two >> 32, two & 0xffff_ffff] {
                if value == 0 {
                    // No more words: this one was not kept.
                    return self.exact_freqs(doc, [0; SLOTS]);
                }
                if (value >> (TF_BITS * SLOTS as u32)) as u32 == self.hash {
                    let freqs = unpack(value).1;
                    if freqs.iter().all(|&tf| tf < TF_MANY) {
                        return freqs;
                    }
                    // A frequency not told, or a hash shared.
                    return self.exact_freqs(doc, freqs);
                }
            }
        }
        self.exact_freqs(doc, [0; SLOTS])
    }

    /// The frequencies from the fields' posting lists; `told`, the
    /// columns' (capped) figures, if they cannot be read.
    fn exact_freqs(&mut self, doc: DocId, told: [u32; SLOTS]) -> [u32; SLOTS] {
        self.exact.of(doc).unwrap_or_else(|e| {
            // An unreadable posting list: the column's figures score the
            // document rather than failing the search.
            tracing::warn!(error = %e, "cannot read a field's postings to score");
            told
        })
    }
}
