//! Counting what the index holds of a word from its term dictionaries,
//! for query planning (typo thresholds, prefix expansion, costs) and for
//! facet counts without words. Live documents only: a rebuilt index, with
//! no deletes, must plan every query the way the index it replaces did.

use tantivy::Term;
use tantivy::schema::{Field, IndexRecordOption};

use super::SearchError;

/// Live documents among one term's, counted up to `cap`: the term's document
/// frequency in a segment without deletes (no postings read), a walk of its
/// postings elsewhere.
fn live_of_term(
    inverted: &tantivy::InvertedIndexReader,
    info: &tantivy::postings::TermInfo,
    alive: Option<&tantivy::fastfield::AliveBitSet>,
    cap: usize,
) -> Result<usize, SearchError> {
    use tantivy::{DocSet, TERMINATED};
    let Some(alive) = alive else {
        return Ok((info.doc_freq as usize).min(cap));
    };
    let mut postings = inverted.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
    let mut n = 0;
    let mut doc = postings.doc();
    while doc != TERMINATED && n < cap {
        if alive.is_alive(doc) {
            n += 1;
        }
        doc = postings.advance();
    }
    Ok(n)
}

/// Live documents holding `term`.
pub(super) fn live_docs_with(
    searcher: &tantivy::Searcher,
    term: &Term,
) -> Result<usize, SearchError> {
    let mut n = 0usize;
    for seg in searcher.segment_readers() {
        let inverted = seg.inverted_index(term.field())?;
        if let Some(info) = inverted.get_term_info(term)? {
            n += live_of_term(&inverted, &info, seg.alive_bitset(), usize::MAX)?;
        }
    }
    Ok(n)
}

/// What the index holds of a word, read from its term dictionaries (live
/// documents only, so a rebuilt index plans every query the same way).
pub(super) struct Lexicon<'a>(pub(super) &'a tantivy::Searcher);

impl Lexicon<'_> {
    /// Live documents of `field` holding `word` (or, with `prefix`, a term
    /// starting with it), one per document and term, counted up to `cap`.
    pub(super) fn live_docs(
        &self,
        field: Field,
        word: &str,
        prefix: bool,
        cap: usize,
    ) -> Result<usize, SearchError> {
        let mut n = 0usize;
        for seg in self.0.segment_readers() {
            if n >= cap {
                break;
            }
            let inverted = seg.inverted_index(field)?;
            if !prefix {
                // One term: a lookup, far cheaper than opening a stream.
                if let Some(info) = inverted.terms().get(word.as_bytes())? {
                    n += live_of_term(&inverted, &info, seg.alive_bitset(), cap - n)?;
                }
                continue;
            }
            let mut terms = inverted.terms().range().ge(word.as_bytes()).into_stream()?;
            while n < cap && terms.advance() {
                let key = terms.key();
                if key != word.as_bytes() && !(prefix && key.starts_with(word.as_bytes())) {
                    break;
                }
                n += live_of_term(&inverted, terms.value(), seg.alive_bitset(), cap - n)?;
            }
        }
        Ok(n)
    }

    /// Documents holding `term`, deleted ones included (an estimate).
    pub(super) fn doc_freq(&self, term: &Term) -> Result<u64, SearchError> {
        Ok(self.0.doc_freq(term)?)
    }

    /// Live documents.
    pub(super) fn num_docs(&self) -> u64 {
        self.0.num_docs()
    }

    /// Whether `field` holds a live term that is `word` extended: if not, a
    /// prefix query of `word` would only repeat its exact query.
    pub(super) fn extends(&self, field: Field, word: &str) -> Result<bool, SearchError> {
        // The first key after `word` itself.
        let longer = format!("{word}\0");
        for seg in self.0.segment_readers() {
            let inverted = seg.inverted_index(field)?;
            let mut terms = inverted
                .terms()
                .range()
                .ge(longer.as_bytes())
                .into_stream()?;
            while terms.advance() && terms.key().starts_with(word.as_bytes()) {
                if live_of_term(&inverted, terms.value(), seg.alive_bitset(), 1)? > 0 {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}
