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
use crate::search::dense::Bits;
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

/// A frequency above any a field holds, for one the columns do not tell:
/// fields are bounded well below it by the limits on a user's size.
pub(super) const TF_UNTOLD: u32 = 1 << 24;

/// Of some documents holding a word, in one field: the largest frequency
/// there (0: none holds it there; [`TF_MANY`]: maybe more) and the
/// shortest length (fieldnorm id).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::search) struct Peak {
    tf: u8,
    norm_id: u8,
}

/// A word's peaks in a segment's documents holding it: per text field, in
/// all and per 64 documents (a bitset's machine word).
pub(in crate::search) struct Peaks {
    pub(super) segment: [Peak; SLOTS],
    pub(super) blocks: Box<[[Peak; SLOTS]]>,
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
    pub(super) fn at(&mut self, doc: DocId) -> Score {
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

    /// The most [`at`](Self::at) gives any document whose frequencies and
    /// norms are within `peaks`: the same operations in the same order on
    /// the largest frequency and the shortest field, so it is the score of
    /// a document that has both, and no less than any other's (rounding is
    /// monotonic).
    pub(super) fn bound(&self, peaks: &[Peak; SLOTS]) -> Score {
        let mut score = 0.0;
        for (slot, peak) in peaks.iter().enumerate() {
            if peak.tf > 0 {
                let tf = if u32::from(peak.tf) >= TF_MANY {
                    TF_UNTOLD
                } else {
                    u32::from(peak.tf)
                };
                let norm = self.view.tf_norms[slot][usize::from(peak.norm_id)];
                score += bm25(self.weights[slot], norm, tf);
            }
        }
        score
    }

    /// The peaks of the word's documents in `set` (its bitset in this
    /// segment), per 64 of them and in all.
    pub(super) fn peaks(&self, set: &Bits) -> Peaks {
        let none = [Peak {
            tf: 0,
            norm_id: u8::MAX,
        }; SLOTS];
        let mut blocks = vec![none; set.words().len()].into_boxed_slice();
        let mut segment = none;
        // Where the columns cannot tell, the fields' lists do, through a
        // reader of its own (the scorer's moves forward only): a bound
        // from what the columns cap would be far above any score.
        let mut exact = ExactFreqs {
            reader: self.exact.reader.clone(),
            terms: self.exact.terms.clone(),
            postings: None,
        };
        for doc in set.docs() {
            let block = &mut blocks[(doc / 64) as usize];
            let freqs = match self.told(doc) {
                Some(freqs) if !freqs.contains(&TF_MANY) => freqs,
                told => exact.of(doc).unwrap_or(told.unwrap_or([TF_MANY; SLOTS])),
            };
            for (slot, tf) in freqs.into_iter().enumerate() {
                if tf > 0 {
                    let id = self.norms[slot].fieldnorm_id(doc);
                    for peaks in [&mut *block, &mut segment] {
                        let peak = &mut peaks[slot];
                        peak.tf = peak.tf.max(tf.min(TF_MANY) as u8);
                        peak.norm_id = peak.norm_id.min(id);
                    }
                }
            }
        }
        Peaks { segment, blocks }
    }

    /// The word's frequency in each field of `doc` as far as the columns
    /// tell it ([`TF_MANY`]: maybe more, or a hash shared); `None` if the
    /// word was not kept.
    fn told(&self, doc: DocId) -> Option<[u32; SLOTS]> {
        for column in &self.words {
            let two = column.get_val(doc);
            for value in [two >> 32, two & 0xffff_ffff] {
                if value == 0 {
                    // No more words: this one was not kept.
                    return None;
                }
                if (value >> (TF_BITS * SLOTS as u32)) as u32 == self.hash {
                    return Some(unpack(value).1);
                }
            }
        }
        None
    }

    /// The word's frequency in each field of `doc`, a document holding it.
    fn freqs(&mut self, doc: DocId) -> [u32; SLOTS] {
        match self.told(doc) {
            Some(freqs) if !freqs.contains(&TF_MANY) => freqs,
            Some(freqs) => self.exact_freqs(doc, freqs),
            None => self.exact_freqs(doc, [0; SLOTS]),
        }
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
